/* SPDX-License-Identifier: MIT */
/*
 * shoal-gateway: what its files share. See docs/gateway.md for the mapping
 * of shoal services onto NATS, the headers, discovery and what each
 * delivery mode guarantees.
 *
 *   main.c      options, the NATS connection, the main loop (registry watch,
 *               announcements, expiry)
 *   export.c    one thread per exported pub/sub service: a local subscriber
 *               that publishes to NATS (core, or JetStream with a window
 *               in flight on a connection of the export's own)
 *   import.c    mirrors: local publishers fed from NATS
 *   lossy_reader.c  the thread that reads the lossy mirrors' messages on a
 *               NATS connection of its own (libnats' event loop mode)
 *   wire.c      subjects, headers and the JSON descriptor
 *   frame.c     the lossy batch frame (frame.h): several messages to one
 *               NATS message
 *
 * Threads: the main thread owns the export and mirror tables; each export
 * has its thread (a reliable one also a libnats callback thread that notes
 * acks under the export's lock and wakes it through an eventfd); the lossy
 * mirrors are fed by the lossy reader's one thread (lossy_reader.c), a
 * reliable one by its own fetching thread. A mirror's publisher is only
 * touched under its mutex.
 */
#ifndef SHOAL_GW_H
#define SHOAL_GW_H

#include <nats/nats.h>
#include <pthread.h>
#include <shoal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GW_SUBJECT_MAX 1024
#define GW_ID_MAX 64
#define GW_PATTERNS_MAX 32
/* libnats' read and write buffers on each of the gateway's connections
 * (main.c says why 256 KiB). */
#define GW_IO_BUF (256 * 1024)

struct gw;
struct gw_lossy;

/* A service as one gateway announces it (the JSON descriptor). */
struct gw_desc {
	char gw[GW_ID_MAX];   /* the announcing gateway's id */
	char host[GW_ID_MAX]; /* its host name, for people */
	char name[SHOAL_SERVICE_NAME_MAX + 1];
	char type_name[SHOAL_TYPE_NAME_MAX + 1];
	uint32_t pattern; /* SHOAL_PATTERN_* */
	uint32_t type_size, type_align;
	uint32_t reliable; /* pub/sub: 1 reliable (JetStream), 0 lossy */
	/* pub/sub: ring slots; queue: cells; rpc: request ring; event:
	 * the number of ids. */
	uint32_t capacity;
	/* pub/sub: max_payload; queue: max_message; rpc: max_request. */
	uint32_t max_payload;
	uint32_t user_header_size; /* pub/sub */
	uint32_t max_response;	   /* rpc */
	uint64_t epoch; /* the exported publisher's epoch on its host */
	/* Not announced: "type_name;type_size;type_align", the Shoal-Type
	 * header, made once by gw_type_string(). */
	char type_str[SHOAL_TYPE_NAME_MAX + 32];
};

/* An exported local service. */
struct gw_export {
	struct gw *gw;
	struct gw_desc desc;
	char subject[GW_SUBJECT_MAX];
	pthread_t thread;
	int running;		/* thread started */
	atomic_int stop;	/* main -> thread: finish */
	atomic_int done;	/* thread -> main: it ended by itself */
	uint64_t sent, retried; /* written by the thread */
	int announced;		/* main thread: "ann" sent */
	/* Queue, rpc, event: the local service's client and the NATS
	 * subscription whose callback uses it. */
	natsSubscription *sub;
	struct shoal_queue *queue;
	struct shoal_rpc_client *rpc;
	struct shoal_event *event;
};

/* Lossy NATS messages an importing gateway destroys together (import.c):
 * at most this many, holding at most GW_SPENT_BYTES of payload. */
#define GW_SPENT_MAX 32
#define GW_SPENT_BYTES (1024 * 1024)

/* A local mirror of a remote service. */
struct gw_mirror {
	struct gw *gw;
	struct gw_desc desc;
	char subject[GW_SUBJECT_MAX];
	pthread_mutex_t lock; /* guards pub and the counters */
	struct shoal_pub *pub;
	/* Lossy: core NATS, on the lossy reader's connection, guarded by
	 * its lock (lossy_reader.c); reliable: pull. */
	natsSubscription *sub;
	pthread_t thread; /* reliable: the fetching thread */
	int running;
	atomic_int stop;
	/* Reliable, after a bye: main sets 1; the thread sets 2 once a
	 * fetch found nothing left. */
	atomic_int draining;
	int64_t last_seen_ns; /* main thread: last announcement */
	uint64_t received, dropped, mismatched;
	uint64_t last_stream_seq; /* reliable: newest stream seq delivered */
	/* Lossy: NATS messages written into the mirror and not destroyed
	 * yet (import.c, spent_add); under the lossy reader's lock, then,
	 * once the reader has let the mirror go, gw_mirror_stop()'s. */
	natsMsg *spent[GW_SPENT_MAX];
	uint32_t nspent;
	size_t spent_bytes;
	/* Queue, rpc, event: the service the gateway hosts for local users
	 * (the thread forwards what they do). */
	struct shoal_queue *queue;
	struct shoal_rpc_server *rpc;
	struct shoal_event *event;
	/* What the mirror's registry entry says it comes from
	 * (shoal_*_options.origin), made by import.c. */
	char origin[SHOAL_ORIGIN_MAX + 1];
};

struct gw_config {
	const char *server;
	const char *prefix;
	const char *creds;
	const char *tls_ca, *tls_cert, *tls_key;
	const char *id;
	const char *exports[GW_PATTERNS_MAX];
	const char *imports[GW_PATTERNS_MAX];
	int n_exports, n_imports;
	int64_t announce_ns, expire_ns;
	uint32_t access; /* the mirrors' SHOAL_ACCESS_* */
	/* Reliable exports: most messages in flight to JetStream at once,
	 * 1..SHOAL_SUB_HELD_MAX; 0: the default (export.c). */
	uint32_t reliable_window;
	/* Lossy exports: how long the export thread polls an empty ring
	 * before it sleeps; 0 (default): it sleeps at once (adaptively). */
	int64_t export_spin_ns;
	int verbose;
};

/* A local service whose export could not start (main.c): tried again
 * every --announce seconds while it is live with this epoch. */
struct gw_retry {
	char name[SHOAL_SERVICE_NAME_MAX + 1];
	uint64_t epoch;
};

/*
 * Room for one more element in the array *@arrp (a pointer to the array's
 * pointer, of any element type) holding @n of *@cap elements of @size
 * bytes: grown by doubling, from 16, when full. 0, or -ENOMEM with the
 * array as it was. The one growth rule of the gateway's arrays.
 */
static inline int gw_array_room(void *arrp, int n, int *cap, size_t size)
{
	void *old, *p;
	int c;

	if (n < *cap)
		return 0;
	c = *cap ? 2 * *cap : 16;
	memcpy(&old, arrp, sizeof(old));
	p = realloc(old, (size_t)c * size);
	if (!p)
		return -ENOMEM;
	memcpy(arrp, &p, sizeof(p));
	*cap = c;
	return 0;
}

struct gw {
	struct gw_config cfg;
	char id[GW_ID_MAX];
	char host[GW_ID_MAX];
	char stream[GW_SUBJECT_MAX]; /* the JetStream stream's name */
	struct shoal_registry *reg;
	natsConnection *nc;
	jsCtx *js;
	pthread_mutex_t log_lock;
	struct gw_export **exports;
	int n_exports, cap_exports;
	struct gw_mirror **mirrors;
	int n_mirrors, cap_mirrors;
	struct gw_retry *retries; /* main thread */
	int n_retries, cap_retries;
	struct gw_lossy *lossy; /* importing gateways: lossy_reader.c */
};

extern atomic_int gw_stopping;

/* wire.c */
int gw_subject(const struct gw *gw, char *out, size_t cap, const char *kind,
	       const char *name);
int gw_desc_to_json(const struct gw_desc *d, char *out, size_t cap);
int gw_desc_from_json(const char *json, int len, struct gw_desc *d);
int gw_headers_set(natsMsg *m, const struct gw_desc *d,
		   const struct shoal_msg *sm);
/* Reads the shoal headers of @m; 0, or -EBADMSG. */
int gw_headers_get(natsMsg *m, uint64_t *seq, uint64_t *epoch, int64_t *ts,
		   const char **type, void *user_header, uint32_t uh_size);
void gw_type_string(struct gw_desc *d);
/* A new natsOptions with the server, name, credentials and TLS of @gw. */
natsStatus gw_nats_options(const struct gw *gw, natsOptions **out);

/* export.c */
int gw_export_start(struct gw *gw, const struct shoal_service_info *info,
		    struct gw_export **out);
/* Stops and joins the thread; the caller frees @e. */
void gw_export_stop(struct gw_export *e);

/* import.c */
int gw_mirror_start(struct gw *gw, const struct gw_desc *d,
		    struct gw_mirror **out);
/* Stops and frees @m; *@received and *@mismatched get its counters. */
void gw_mirror_stop(struct gw_mirror *m, uint64_t *received,
		    uint64_t *mismatched);

/* A lossy NATS message into @mi (the lossy reader's lock held). */
void gw_mirror_lossy_msg(struct gw_mirror *mi, natsMsg *m);

/* lossy_reader.c: the lossy mirrors' reader thread and its connection.
 * start: 0 or -ENOMEM; add: subscribes @mi (now, or once connected), 0 or
 * -errno; remove: delivers what came before it, then unsubscribes; the
 * reader no longer touches @mi once it returns. stop: after the last
 * remove. */
int gw_lossy_start(struct gw *gw);
void gw_lossy_stop(struct gw *gw);
int gw_lossy_add(struct gw *gw, struct gw_mirror *mi);
void gw_lossy_remove(struct gw *gw, struct gw_mirror *mi);

/* patterns.c: queue, rpc and event */
int gw_export_other_start(struct gw *gw, struct gw_export *e);
void gw_export_other_stop(struct gw_export *e);
int gw_mirror_other_start(struct gw *gw, struct gw_mirror *mi);
void gw_mirror_other_stop(struct gw_mirror *mi);

/* main.c */
void gw_log(struct gw *gw, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int64_t gw_now_ns(void);
int gw_ensure_stream(struct gw *gw);

#endif
