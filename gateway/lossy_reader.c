/* SPDX-License-Identifier: MIT */
/*
 * The lossy reader: one thread that reads the NATS messages of every lossy
 * mirror itself and writes them into the mirrors (docs/gateway.md,
 * "Threads and wake-ups").
 *
 * Why it exists: on a connection of libnats' own, a NATS message reaches a
 * subscription's callback through two threads: libnats' reader thread
 * reads the socket and wakes the subscription's delivery thread, which
 * runs the callback. Each wake-up of a sleeping thread costs tens of
 * microseconds on a small machine (bench/README.md, issue 16), and the
 * callback's write into the mirror wakes the local subscriber after that.
 * Here one thread polls the socket of a NATS connection of its own, in
 * libnats' external event loop mode (natsOptions_SetEventLoop): libnats
 * reads and parses in this thread (natsConnection_ProcessReadEvent), and
 * the same thread takes each mirror's messages from its synchronous
 * subscription (natsSubscription_NextMsg without waiting) and writes them
 * into the mirror. One wake-up (this thread's, by the socket) instead of
 * two. The cost: a second NATS connection and one more thread, in a
 * gateway that imports.
 *
 * Reconnection is this file's, not libnats': libnats 3.4.1 keeps its
 * protocol parser across the reconnections of an event-loop connection
 * (natsParser_Destroy is called only when the connection is freed or by
 * its own reader thread, which this mode has not; nats-io/nats.c issue
 * 1007), so a connection broken in the middle of a message would leave
 * the parser there, misreading the next connection. So this connection
 * never reconnects by itself: when it closes, the thread destroys it and
 * its subscriptions, connects a new one (a new parser) every 100 ms until
 * it can, and subscribes every lossy mirror again. Messages sent while no
 * connection was there are lost, as lossy allows.
 *
 * Threads and locks. libnats calls the event-loop callbacks (ev_*) from
 * any thread with its connection lock held: they only store atomics and
 * wake this thread through an eventfd. @lock guards the mirror list, each
 * listed mirror's subscription (mi->sub) and its spent messages, and is
 * held while this thread takes messages, so a mirror is removed only
 * between two passes; @nc_lock keeps the connection alive while another
 * thread flushes it. This thread changes @nc only holding both (nc_lock
 * first). It never holds nc_lock while it reads the socket, so a flush
 * waiting for the server's answer under nc_lock gets it.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "gw.h"

#define RETRY_NS 100000000LL /* reconnect every 100 ms */
#define FLUSH_MS 2000

struct gw_lossy {
	struct gw *gw;
	natsOptions *opts;
	pthread_t thread;
	int running;
	int efd; /* wakes the thread */
	atomic_int stop;
	/* Set by the event-loop callbacks: the socket to poll (-1: none),
	 * what libnats wants polled, and that the connection closed. */
	atomic_int fd, want_read, want_write, closed;
	pthread_mutex_t nc_lock;
	pthread_mutex_t lock;
	natsConnection *nc; /* NULL while not connected */
	struct gw_mirror **mirrors;
	int n, cap;
	natsStatus last_err; /* the thread's: the last connect failure */
};

/* This thread's callbacks need not wake it: it looks before it polls. */
static _Thread_local int on_loop;

static void wake(struct gw_lossy *r)
{
	uint64_t one = 1;

	if (!on_loop && write(r->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so a wake-up is pending. */
	}
}

/* --- libnats' event-loop callbacks: any thread, its lock held. */

static natsStatus ev_attach(void **data, void *loop, natsConnection *nc,
			    natsSock sock)
{
	struct gw_lossy *r = loop;

	(void)nc;
	*data = r;
	atomic_store(&r->want_write, 0);
	atomic_store(&r->want_read, 1);
	atomic_store(&r->fd, (int)sock);
	wake(r);
	return NATS_OK;
}

static natsStatus ev_read(void *data, bool add)
{
	struct gw_lossy *r = data;

	atomic_store(&r->want_read, add);
	wake(r);
	return NATS_OK;
}

static natsStatus ev_write(void *data, bool add)
{
	struct gw_lossy *r = data;

	atomic_store(&r->want_write, add);
	wake(r);
	return NATS_OK;
}

/* The connection closed (it never reconnects by itself). */
static natsStatus ev_detach(void *data)
{
	struct gw_lossy *r = data;

	atomic_store(&r->want_read, 0);
	atomic_store(&r->want_write, 0);
	atomic_store(&r->fd, -1);
	atomic_store(&r->closed, 1);
	wake(r);
	return NATS_OK;
}

/* --- the thread's work */

/* Subscribes @mi on @r->nc; @r->lock held. On failure mi->sub stays
 * NULL and the next connection subscribes it. */
static void subscribe(struct gw_lossy *r, struct gw_mirror *mi)
{
	natsStatus s =
		natsConnection_SubscribeSync(&mi->sub, r->nc, mi->subject);

	if (s == NATS_OK)
		/* Never let libnats drop before the ring would; bounded by
		 * memory only. */
		s = natsSubscription_SetPendingLimits(mi->sub, -1, -1);
	if (s != NATS_OK) {
		natsSubscription_Destroy(mi->sub);
		mi->sub = NULL;
		if (r->gw->cfg.verbose)
			gw_log(r->gw, "import %s: subscribe: %s", mi->desc.name,
			       natsStatus_GetText(s));
	}
}

/* What @mi's subscription holds into the mirror; @r->lock held. */
static void take(struct gw_mirror *mi)
{
	natsMsg *m;

	while (mi->sub && natsSubscription_NextMsg(&m, mi->sub, 0) == NATS_OK)
		gw_mirror_lossy_msg(mi, m);
}

static void take_all(struct gw_lossy *r)
{
	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < r->n; i++)
		take(r->mirrors[i]);
	pthread_mutex_unlock(&r->lock);
}

static void try_connect(struct gw_lossy *r)
{
	natsConnection *nc = NULL;
	natsStatus s;

	atomic_store(&r->closed, 0);
	s = natsConnection_Connect(&nc, r->opts);
	if (s != NATS_OK) {
		if (s != r->last_err)
			gw_log(r->gw, "lossy imports: cannot connect: %s%s",
			       natsStatus_GetText(s), " (retrying)");
		r->last_err = s;
		natsConnection_Destroy(nc);
		return;
	}
	if (r->last_err != NATS_OK || r->gw->cfg.verbose)
		gw_log(r->gw, "lossy imports: connected");
	r->last_err = NATS_OK;
	pthread_mutex_lock(&r->nc_lock);
	pthread_mutex_lock(&r->lock);
	r->nc = nc;
	for (int i = 0; i < r->n; i++)
		if (!r->mirrors[i]->sub)
			subscribe(r, r->mirrors[i]);
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_unlock(&r->nc_lock);
}

/* The connection closed: it and its subscriptions go. */
static void teardown(struct gw_lossy *r)
{
	pthread_mutex_lock(&r->nc_lock);
	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < r->n; i++) {
		struct gw_mirror *mi = r->mirrors[i];

		take(mi);
		natsSubscription_Destroy(mi->sub);
		mi->sub = NULL;
	}
	natsConnection_Destroy(r->nc);
	r->nc = NULL;
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_unlock(&r->nc_lock);
	atomic_store(&r->fd, -1);
	atomic_store(&r->want_read, 0);
	atomic_store(&r->want_write, 0);
	if (!atomic_load(&r->stop))
		gw_log(r->gw, "lossy imports: disconnected (reconnecting)");
	r->last_err = NATS_CONNECTION_CLOSED;
}

static void *loop_main(void *arg)
{
	struct gw_lossy *r = arg;
	int64_t next_try = 0;
	int bad_fd = -1; /* a socket poll() called invalid */

	on_loop = 1;
	while (!atomic_load(&r->stop)) {
		struct pollfd p[2] = { { r->efd, POLLIN, 0 }, { -1, 0, 0 } };
		int fd, rd, wr, timeout = 1000;

		if (!r->nc) {
			int64_t now = gw_now_ns();

			if (now >= next_try) {
				next_try = now + RETRY_NS;
				try_connect(r);
			}
			if (!r->nc)
				timeout = (int)((next_try - now) / 1000000) + 1;
		} else if (atomic_load(&r->closed)) {
			teardown(r);
			next_try = gw_now_ns() + RETRY_NS;
			bad_fd = -1;
			continue;
		}
		fd = atomic_load(&r->fd);
		rd = atomic_load(&r->want_read);
		wr = atomic_load(&r->want_write);
		if (r->nc && fd >= 0 && fd != bad_fd && (rd || wr)) {
			p[1].fd = fd;
			p[1].events =
				(short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0));
		}
		if (poll(p, 2, timeout) < 0)
			continue; /* EINTR */
		if (p[0].revents & POLLIN) {
			uint64_t v;

			if (read(r->efd, &v, sizeof(v)) < 0) {
				/* EAGAIN: another read took it */
			}
		}
		if (p[1].revents & POLLNVAL) {
			/* Closed under us (libnats closes its socket before
			 * it calls ev_detach); not polled again. */
			bad_fd = fd;
		} else if (p[1].revents) {
			/* libnats checks under its lock that the
			 * connection still has this socket. */
			if ((p[1].revents & (POLLOUT | POLLERR | POLLHUP)) &&
			    atomic_load(&r->want_write))
				natsConnection_ProcessWriteEvent(r->nc);
			if ((p[1].revents & (POLLIN | POLLERR | POLLHUP)) &&
			    atomic_load(&r->want_read))
				natsConnection_ProcessReadEvent(r->nc);
		}
		take_all(r);
	}
	if (r->nc)
		teardown(r);
	return NULL;
}

int gw_lossy_start(struct gw *gw)
{
	struct gw_lossy *r = calloc(1, sizeof(*r));
	natsStatus s;

	if (!r)
		return -ENOMEM;
	r->gw = gw;
	atomic_init(&r->fd, -1);
	pthread_mutex_init(&r->nc_lock, NULL);
	pthread_mutex_init(&r->lock, NULL);
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->efd < 0)
		goto fail;
	/* URL, name, credentials, TLS: as the gateway's connection. */
	s = gw_nats_options(gw, &r->opts);
	if (s == NATS_OK)
		s = natsOptions_SetAllowReconnect(r->opts, false);
	if (s == NATS_OK)
		/* Each SUB, UNSUB, PING and PONG written at once (no
		 * flusher thread): in this mode "written" means handed to
		 * this thread's poll for the socket. */
		s = natsOptions_SetSendAsap(r->opts, true);
	if (s == NATS_OK)
		s = natsOptions_SetIOBufSize(r->opts, GW_IO_BUF);
	if (s == NATS_OK)
		s = natsOptions_SetEventLoop(r->opts, r, ev_attach, ev_read,
					     ev_write, ev_detach);
	if (s != NATS_OK)
		goto fail;
	if (pthread_create(&r->thread, NULL, loop_main, r))
		goto fail;
	r->running = 1;
	gw->lossy = r;
	return 0;
fail:
	natsOptions_Destroy(r->opts);
	if (r->efd >= 0)
		close(r->efd);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->nc_lock);
	free(r);
	return -ENOMEM;
}

void gw_lossy_stop(struct gw *gw)
{
	struct gw_lossy *r = gw->lossy;

	if (!r)
		return;
	atomic_store(&r->stop, 1);
	wake(r);
	pthread_join(r->thread, NULL);
	natsOptions_Destroy(r->opts);
	close(r->efd);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->nc_lock);
	free(r->mirrors);
	free(r);
	gw->lossy = NULL;
}

int gw_lossy_add(struct gw *gw, struct gw_mirror *mi)
{
	struct gw_lossy *r = gw->lossy;

	if (!r)
		return -ENOTCONN;
	pthread_mutex_lock(&r->lock);
	if (gw_array_room(&r->mirrors, r->n, &r->cap, sizeof(*r->mirrors))) {
		pthread_mutex_unlock(&r->lock);
		return -ENOMEM;
	}
	mi->sub = NULL;
	r->mirrors[r->n++] = mi;
	/* Not connected (or closed, not torn down yet): the next
	 * connection subscribes it. */
	if (r->nc)
		subscribe(r, mi);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/*
 * Removes @mi, delivering first what the server sent before it got our
 * PING (a flush): the exporter's bye came on the other connection, after
 * its last messages were queued to this one, so those arrive before the
 * PONG. When this returns the thread no longer touches @mi.
 */
void gw_lossy_remove(struct gw *gw, struct gw_mirror *mi)
{
	struct gw_lossy *r = gw->lossy;
	natsSubscription *sub;

	pthread_mutex_lock(&r->nc_lock);
	if (r->nc && mi->sub)
		natsConnection_FlushTimeout(r->nc, FLUSH_MS);
	pthread_mutex_unlock(&r->nc_lock);
	pthread_mutex_lock(&r->lock);
	take(mi);
	for (int i = 0; i < r->n; i++)
		if (r->mirrors[i] == mi) {
			r->mirrors[i] = r->mirrors[--r->n];
			break;
		}
	sub = mi->sub;
	mi->sub = NULL;
	pthread_mutex_unlock(&r->lock);
	/* It holds its connection: safe even if that has gone meanwhile. */
	natsSubscription_Destroy(sub);
}
