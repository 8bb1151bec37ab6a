/* SPDX-License-Identifier: MIT */
/*
 * Request/response between processes that know each other only by a
 * service name.
 *
 * A server creates the service; any number of clients (up to a limit the
 * server sets) open it by name. Each client gets a line of its own: a
 * request ring (client -> server) and a response ring (server -> client)
 * in shared memory, plus an eventfd. A response can only go into the ring
 * of the client that asked, so routing is by construction; the correlation
 * id (chosen by the client at send, copied by the server into every
 * response) says which request a response answers. A server can answer one
 * request with several responses (SHOAL_RPC_MORE on all but the last).
 *
 * Liveness: a client holds an OFD lock on its line; the kernel drops it
 * when the client dies, and the server (woken by the client's pidfd) frees
 * the line and drops its pending requests. A client watches the server's
 * pidfd: when the server dies or withdraws, take() returns what was
 * already answered and then -EPIPE, never a hang.
 *
 * See docs/rpc.md for the protocol and the bytes.
 *
 * Thread safety: one thread at a time per handle.
 *
 * Blocking and system calls:
 *   shoal_rpc_server_options_init, shoal_rpc_client_options_init,
 *     shoal_rpc_server_fd, shoal_rpc_server_epoch,
 *     shoal_rpc_server_get_stats, shoal_rpc_client_fd,
 *     shoal_rpc_client_line, shoal_rpc_client_get_stats: neither.
 *   shoal_rpc_server_create: system calls (memfd_create, mmap, eventfds,
 *     the registry's files and locks, a helper thread that serves fds by
 *     SCM_RIGHTS); never blocks.
 *   shoal_rpc_server_destroy, shoal_rpc_client_close: system calls
 *     (withdraw the name or give the line back, unmap, close); never
 *     block.
 *   shoal_rpc_server_take: no system call while a request is there;
 *     otherwise waits up to @timeout_ns with the server's strategy, and
 *     frees the lines of clients that died (system calls).
 *   shoal_rpc_server_release, shoal_rpc_server_abort,
 *     shoal_rpc_client_abort, shoal_rpc_client_release: neither in the
 *     common case; never block.
 *   shoal_rpc_server_loan, shoal_rpc_server_write: no system call while
 *     the client's response ring has room; when full, wait up to
 *     send_timeout_ns (default 10 ms).
 *   shoal_rpc_server_send, shoal_rpc_client_send, shoal_rpc_client_write:
 *     an eventfd write only when the peer sleeps; never block.
 *   shoal_rpc_client_loan: no system call; never blocks (a full request
 *     ring is -EAGAIN).
 *   shoal_rpc_server_arm, shoal_rpc_client_arm: never block; may make
 *     non-blocking system calls (the server reads its epoll set without
 *     waiting; the client may check the server's liveness).
 *   shoal_rpc_server_disarm, shoal_rpc_client_disarm: a non-blocking read
 *     to drain the eventfd; never block.
 *   shoal_rpc_server_clients: a system call per client line (is its
 *     holder alive?); never blocks.
 *   shoal_rpc_client_open: system calls (the registry, taking the
 *     server's fds, mmap, a line lock, pidfd); waits for the name as
 *     @opts->timeout_ns says, and up to 2 s for the server's fd server.
 *   shoal_rpc_client_take: no system call while a response is there;
 *     otherwise waits up to @timeout_ns with the client's strategy.
 *   shoal_rpc_client_call: send, then take until the final response, as
 *     those two do: blocks up to @timeout_ns.
 *   shoal_rpc_client_connected: may check the server's liveness (a system
 *     call); never blocks.
 *   shoal_rpc_inspect: system calls as shoal_registry_open(), bounded by
 *     its 2 s; it does not join.
 */
#ifndef SHOAL_RPC_H
#define SHOAL_RPC_H

#include "common.h"
#include "notify.h"
#include "registry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds of the server options. */
#define SHOAL_RPC_CLIENTS_MAX 1024u
#define SHOAL_RPC_PAYLOAD_MAX (1u << 24)
#define SHOAL_RPC_CAPACITY_MAX (1u << 16)

/* Response flags (shoal_response.flags, shoal_rpc_server_write()). */
enum {
	/* More responses to the same request follow (a stream). */
	SHOAL_RPC_MORE = 1u << 0,
	/* The application's error marker; shoal only carries it. */
	SHOAL_RPC_ERROR = 1u << 1,
};

/* shoal_rpc_client_options.flags */
enum {
	/* Take fds by SCM_RIGHTS only (see SHOAL_OPEN_NO_PIDFD_GETFD). */
	SHOAL_RPC_CLIENT_NO_PIDFD_GETFD = 1u << 0,
};

struct shoal_rpc_server_options {
	uint32_t max_clients;	    /* 1..SHOAL_RPC_CLIENTS_MAX; default 64 */
	uint32_t max_request;	    /* request bytes; default 1024 */
	uint32_t max_response;	    /* response bytes; default 1024 */
	uint32_t request_capacity;  /* per client, power of 2; default 16 */
	uint32_t response_capacity; /* per client, power of 2; default 32 */
	enum shoal_wait_strategy strategy; /* default SHOAL_WAIT_ADAPTIVE */
	/* How long a response waits for room in a client's response ring
	 * (the client is not taking its responses). Negative: forever;
	 * 0: -EAGAIN at once. Default 10 ms. */
	int64_t send_timeout_ns;
	uint32_t access; /* SHOAL_ACCESS_*; default SHOAL_ACCESS_OWNER */
	uint32_t pad;
	/* The request type, recorded in the registry and checked by clients
	 * that name one. NULL/0: untyped. */
	const char *type_name;
	uint32_t type_size;
	uint32_t type_align;
	struct shoal_registry *registry; /* NULL: the default one */
	/* Where the service comes from, for 'shoal list' and 'shoal info'
	 * (shoal_service_spec.origin): printable ASCII, at most
	 * SHOAL_ORIGIN_MAX bytes, else -EINVAL. NULL (default): a local
	 * service. Set by stand-ins such as the NATS gateway's mirrors. */
	const char *origin;
};

struct shoal_rpc_client_options {
	uint32_t flags;			   /* SHOAL_RPC_CLIENT_* */
	enum shoal_wait_strategy strategy; /* default SHOAL_WAIT_ADAPTIVE */
	/* Expected request type; NULL: accept any. A mismatch is -EPROTO. */
	const char *type_name;
	uint32_t type_size;
	uint32_t type_align;
	struct shoal_registry *registry; /* NULL: the default one */
	/* Open only: no service under the name yet: 0 (default) fails with
	 * -ENOENT at once; > 0 waits up to that long for one to appear
	 * (then -ETIMEDOUT); SHOAL_WAIT_FOREVER waits as long as it takes. */
	int64_t timeout_ns;
};

/* A request the server took; data valid until shoal_rpc_server_release(). */
struct shoal_request {
	const void *data;
	uint32_t len;
	uint32_t client; /* the client's line */
	uint64_t id;	 /* correlation id (the client's) */
	int32_t pid;	 /* the client's pid, as it wrote it (untrusted) */
	uint32_t priv_incarnation;
	uint32_t priv_held;
	uint32_t priv_pad;
};

/* A response the client took; data valid until shoal_rpc_client_release(). */
struct shoal_response {
	const void *data;
	uint32_t len;
	uint32_t flags; /* SHOAL_RPC_MORE, SHOAL_RPC_ERROR */
	uint64_t id;	/* the request it answers */
};

struct shoal_rpc_server_stats {
	uint64_t requests;  /* requests taken */
	uint64_t responses; /* responses sent */
	uint64_t joined;    /* clients that joined */
	uint64_t lost;	    /* clients that left or died: lines freed */
	uint64_t dropped;   /* their requests that were never taken */
	uint64_t malformed; /* requests skipped as impossible */
	uint64_t wakeups;   /* eventfd writes to sleeping clients */
	uint64_t full;	    /* responses refused: a client's ring was full */
	uint64_t sleeps;    /* times the server blocked in the kernel */
	uint32_t clients;   /* clients now */
	uint32_t pad;
};

struct shoal_rpc_client_stats {
	uint64_t sent;	    /* requests sent */
	uint64_t received;  /* responses taken */
	uint64_t discarded; /* responses shoal_rpc_client_call() skipped */
	uint64_t sleeps;    /* times the client blocked in the kernel */
	uint64_t wakeups;   /* eventfd writes to the sleeping server */
};

struct shoal_rpc_server;
struct shoal_rpc_client;

/* Fill *opts with the defaults (what a NULL @opts means). Never fails. */
SHOAL_API void
shoal_rpc_server_options_init(struct shoal_rpc_server_options *opts);
SHOAL_API void
shoal_rpc_client_options_init(struct shoal_rpc_client_options *opts);

/*
 * shoal_rpc_server_create - create the service and publish it under @name.
 * @opts NULL: defaults. Returns 0, -EINVAL (bad options or name, with a
 * detail), -EEXIST (a live owner holds the name), -E2BIG, or what segment,
 * eventfd or registry calls return. Does not block.
 */
SHOAL_API int
shoal_rpc_server_create(const char *name,
			const struct shoal_rpc_server_options *opts,
			struct shoal_rpc_server **out);
/* Withdraw the service; clients see -EPIPE. NULL: no-op. */
SHOAL_API void shoal_rpc_server_destroy(struct shoal_rpc_server *srv);

/*
 * shoal_rpc_server_take - the next request from any client, in place, waiting
 * up to @timeout_ns with the server's strategy. Clients are served round
 * robin, one request each per pass. Returns 0 (*req is held until
 * shoal_rpc_server_release(); several may be held, one per client), -EAGAIN
 * (@timeout_ns 0, nothing pending), -ETIMEDOUT. Frees the lines of clients
 * that died on the way (stats.lost). Never fails because of what a client
 * wrote: impossible requests are skipped and counted (stats.malformed).
 */
SHOAL_API int shoal_rpc_server_take(struct shoal_rpc_server *srv,
				    struct shoal_request *req,
				    int64_t timeout_ns);
/*
 * shoal_rpc_server_release - done with the bytes of @req (it may still be
 * answered after). 0 or -EINVAL (not held).
 */
SHOAL_API int shoal_rpc_server_release(struct shoal_rpc_server *srv,
				       struct shoal_request *req);
/*
 * shoal_rpc_server_loan - a slot in the response ring of @req's client,
 * *ptr pointing at @size writable bytes (<= max_response).
 * shoal_rpc_server_send - send it with @len bytes and @flags
 * (SHOAL_RPC_MORE for all but the last of a stream) and wake the client.
 * shoal_rpc_server_abort - give the loan back unsent.
 * shoal_rpc_server_write - copy @len bytes and send: loan + send.
 *
 * Valid while @req is held or after its release. Returns 0, -EMSGSIZE,
 * -EBUSY (a loan is out), -EINVAL (@ptr not the loan, unknown flags),
 * -EPIPE (the client is gone: the response is dropped), -EAGAIN (the
 * client's ring stayed full for send_timeout_ns), -EBADMSG (the client
 * corrupted its ring; its line is no longer served).
 */
SHOAL_API int shoal_rpc_server_loan(struct shoal_rpc_server *srv,
				    const struct shoal_request *req,
				    uint32_t size, void **ptr);
SHOAL_API int shoal_rpc_server_send(struct shoal_rpc_server *srv, void *ptr,
				    uint32_t len, uint32_t flags);
SHOAL_API int shoal_rpc_server_abort(struct shoal_rpc_server *srv, void *ptr);
SHOAL_API int shoal_rpc_server_write(struct shoal_rpc_server *srv,
				     const struct shoal_request *req,
				     const void *data, uint32_t len,
				     uint32_t flags);

/*
 * For event loops: shoal_rpc_server_fd() becomes readable when take() may have
 * something (a request, a client's death). shoal_rpc_server_arm() first: 1 means
 * something is pending (do not poll), 0 means poll. After the poll,
 * shoal_rpc_server_disarm(), then take with timeout 0 until -EAGAIN.
 * shoal_rpc_server_fd - the server's pollable fd.
 * shoal_rpc_server_arm - get ready to poll: 1 (do not poll) or 0 (poll).
 * shoal_rpc_server_disarm - after the poll, before taking again.
 */
SHOAL_API int shoal_rpc_server_fd(const struct shoal_rpc_server *srv);
SHOAL_API int shoal_rpc_server_arm(struct shoal_rpc_server *srv);
SHOAL_API void shoal_rpc_server_disarm(struct shoal_rpc_server *srv);

/* Live clients, as far as the server knows (checks every line's lock). */
SHOAL_API uint32_t shoal_rpc_server_clients(struct shoal_rpc_server *srv);
/* The server's incarnation of the name. */
SHOAL_API uint64_t shoal_rpc_server_epoch(const struct shoal_rpc_server *srv);
/* The server's counters (struct shoal_rpc_server_stats). */
SHOAL_API void shoal_rpc_server_get_stats(const struct shoal_rpc_server *srv,
					  struct shoal_rpc_server_stats *stats);

/*
 * shoal_rpc_client_open - find server @name and claim a client line. Returns 0,
 * -ENOENT (no live server), -EBUSY (its client limit is reached), -EPROTO
 * (not request/response, another format version, or a type mismatch, naming
 * both), -EBADMSG (corrupt service), or what shoal_registry_open() returns.
 */
SHOAL_API int shoal_rpc_client_open(const char *name,
				    const struct shoal_rpc_client_options *opts,
				    struct shoal_rpc_client **out);
/* Leave the service; responses not taken are dropped. NULL: no-op. */
SHOAL_API void shoal_rpc_client_close(struct shoal_rpc_client *cli);

/*
 * shoal_rpc_client_loan - a slot in the request ring, *ptr pointing at @size
 * writable bytes (<= max_request). Does not block. 0, -EMSGSIZE, -EBUSY (a
 * loan is out), -EAGAIN (request_capacity requests are waiting for the
 * server to take them), -EPIPE (the server is gone).
 * shoal_rpc_client_send - send the loan with @len bytes and wake the server;
 * *id (may be NULL) receives the request's correlation id (never 0). 0,
 * -EINVAL (@ptr not the loan, @len too long).
 * shoal_rpc_client_abort - give the loan back unsent.
 * shoal_rpc_client_write - copy @len bytes and send: loan + send.
 */
SHOAL_API int shoal_rpc_client_loan(struct shoal_rpc_client *cli, uint32_t size,
				    void **ptr);
SHOAL_API int shoal_rpc_client_send(struct shoal_rpc_client *cli, void *ptr,
				    uint32_t len, uint64_t *id);
SHOAL_API int shoal_rpc_client_abort(struct shoal_rpc_client *cli, void *ptr);
SHOAL_API int shoal_rpc_client_write(struct shoal_rpc_client *cli,
				     const void *data, uint32_t len,
				     uint64_t *id);

/*
 * shoal_rpc_client_take - the next response to any of this client's requests,
 * in order of sending by the server, waiting up to @timeout_ns. Returns 0
 * (*resp held until shoal_rpc_client_release()), -EAGAIN (@timeout_ns 0,
 * nothing pending), -ETIMEDOUT, -EPIPE (the server is gone and every
 * response it sent was taken), -EBUSY (a response is held), -EBADMSG (an
 * impossible response; it is skipped).
 */
SHOAL_API int shoal_rpc_client_take(struct shoal_rpc_client *cli,
				    struct shoal_response *resp,
				    int64_t timeout_ns);
/* shoal_rpc_client_release - done with @resp. 0, or -EINVAL (none held). */
SHOAL_API int shoal_rpc_client_release(struct shoal_rpc_client *cli,
				       struct shoal_response *resp);

/*
 * shoal_rpc_client_call - send @len bytes, wait up to @timeout_ns for the final
 * response (the first without SHOAL_RPC_MORE) to that request, and copy it
 * into @buf. Responses to other requests, and the non-final ones of this
 * one, are skipped (stats.discarded): use it when nothing else is in
 * flight. Returns the response length, *flags (may be NULL) its flags, or
 * what send and take return; -EMSGSIZE if @cap is too small (the response
 * is dropped).
 */
SHOAL_API ssize_t shoal_rpc_client_call(struct shoal_rpc_client *cli,
					const void *data, uint32_t len,
					void *buf, size_t cap, uint32_t *flags,
					int64_t timeout_ns);

/* As shoal_rpc_server_fd() and friends, for responses and the server's death. */
SHOAL_API int shoal_rpc_client_fd(const struct shoal_rpc_client *cli);
SHOAL_API int shoal_rpc_client_arm(struct shoal_rpc_client *cli);
SHOAL_API void shoal_rpc_client_disarm(struct shoal_rpc_client *cli);

/* 1 while the server is alive and serving. */
SHOAL_API int shoal_rpc_client_connected(struct shoal_rpc_client *cli);
/* The client's line in the service. */
SHOAL_API uint32_t shoal_rpc_client_line(const struct shoal_rpc_client *cli);
/* The client's counters (struct shoal_rpc_client_stats). */
SHOAL_API void shoal_rpc_client_get_stats(const struct shoal_rpc_client *cli,
					  struct shoal_rpc_client_stats *stats);

/* What shoal_rpc_inspect() reports. */
struct shoal_rpc_info {
	uint32_t max_clients;
	uint32_t max_request;
	uint32_t max_response;
	uint32_t request_capacity;
	uint32_t response_capacity;
	uint32_t clients; /* lines held by a live client */
	uint64_t server_bytes;
	uint64_t client_bytes;
	struct shoal_rpc_server_stats server; /* sleeps: the server's */
};

struct shoal_rpc_client_info {
	uint32_t line;
	int32_t pid; /* as the client wrote it (untrusted) */
	uint64_t sent;
	uint64_t received;
	uint64_t sleeps;
	uint64_t wakeups;
};

/*
 * shoal_rpc_inspect - read a live service's layout and counters without
 * joining it. Fills *info and up to @cap entries of @clients (may be NULL);
 * returns how many live clients there are (may exceed @cap), or -errno as
 * shoal_registry_open(), -EPROTO if it is not request/response.
 */
SHOAL_API int shoal_rpc_inspect(struct shoal_registry *reg, const char *name,
				struct shoal_rpc_info *info,
				struct shoal_rpc_client_info *clients,
				uint32_t cap);

#ifdef __cplusplus
}
#endif

#endif
