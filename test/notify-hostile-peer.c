/* shoal-test: label=multiproc timeout=900 */
/*
 * A hostile peer steals wake-ups; honest sleepers must not stall for good.
 *
 * For each pattern an honest pair exchanges messages while every side that
 * waits sleeps in the kernel (SHOAL_WAIT_BLOCK) with no timeout
 * (SHOAL_WAIT_FOREVER, and a reliable publisher with its default infinite
 * send timeout). Meanwhile a hostile process (forked, a separate process
 * with no handle of its own):
 *   - takes every eventfd of the service's owner by pidfd_getfd() (as a
 *     peer with the owner's uid, or root, can) and reads them all in a
 *     loop, so that most wake-ups written to them are consumed before the
 *     sleeper sees them;
 *   - maps the shared segment where the sleepers mark themselves asleep,
 *     through the same path an ordinary peer uses, and clears every mark
 *     in a loop (pub/sub's sleeper bitmap, rpc's and event's per-line
 *     "sleeping" words, a channel's two wait words), so that notifiers
 *     mostly see nobody asleep and write nothing.
 * The attack lasts until the receiving side has phase 1 (N messages), or
 * at most ATTACK_MAX_S; then the hostile process exits, and phase 2 (N
 * more) must flow too. Checked: every message arrives, in order, intact,
 * in both phases - the stream must recover by itself, whatever the peer
 * did, and keep going after it left. Nothing here asserts a timing: a
 * stall makes a child miss CASE_LIMIT_S and the case fail.
 *
 * Cases: pub/sub (a subscriber in take(), and a reliable publisher blocked
 * on a full ring, both attacked), rpc (a client waiting for its response,
 * the server waiting for requests), event (a listener in wait()), channel
 * (receiver on an empty ring, sender on a full one).
 */
#include <dirent.h>
#include <limits.h>
#include <sys/syscall.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"
#include "patterns/pubsub_internal.h"
#include "registry/registry_internal.h"
#include "patterns/rpc_internal.h"
#include "patterns/event_layout.h"
#include "segment/layout.h"
#include "pidfd_util.h"

/* Longest the attack lasts, when the stream does not finish phase 1. */
#define ATTACK_MAX_S 20
/* Longest a case's honest processes may take once the attack is over
 * (-DCASE_LIMIT_S=30 to see a stall fail sooner). */
#ifndef CASE_LIMIT_S
#define CASE_LIMIT_S 240
#endif
#define MAX_LEN 64u
#define PUBSUB_N 1000u
#define CHANNEL_N 1000u
#define RPC_N 40u
#define EVENT_N 40u

/* Shared between the test and its children. */
struct ctl {
	_Atomic int owner_ready;   /* the owner published its service */
	_Atomic int peer_ready;	   /* the honest peers joined */
	_Atomic int hostile_ready; /* 1: attacking; 2: cannot (skip) */
	_Atomic int stop_hostile;
	_Atomic int hostile_gone; /* reaped: phase 2 may run */
	_Atomic int phase1_done;  /* the receiving side has phase 1 */
	_Atomic int all_done;	  /* the receiving side has everything */
	_Atomic int owner_pid;
	_Atomic int clear_marks;     /* the hostile process clears marks too */
	_Atomic uint64_t value, ack; /* event: the value notified, seen */
	_Atomic uint64_t stolen;     /* eventfd reads that took a count */
	_Atomic uint64_t cleared;    /* sleep marks found set and cleared */
	_Atomic uint64_t sleeps;     /* the receiving side's kernel sleeps */
};

static char path[PATH_MAX];
static struct ctl *ctl;
static struct shoal_channel *chan; /* the channel case's, made by the test */
static struct shoal_channel_fds chan_fds;

/* What the hostile process attacks with. */
struct weapons {
	int fds[128];
	int nfds;
	_Atomic uint32_t *marks[256];
	int nmarks;
};

/* Waits for the hostile process to be in place (or to have given up). */
static int wait_hostile(void)
{
	return PSU_WAIT(atomic_load(&ctl->hostile_ready) != 0, 60);
}

/* Takes every eventfd of process @pid. 0, or -errno of pidfd_open/getfd. */
static int steal_eventfds(pid_t pid, struct weapons *w)
{
	char dir[64], link[PATH_MAX], target[64];
	struct dirent *e;
	int pidfd, err = 0;
	DIR *d;

	pidfd = test_pidfd_open(pid);
	if (pidfd < 0)
		return -errno;
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d) {
		close(pidfd);
		return -errno;
	}
	while ((e = readdir(d)) && w->nfds < 128) {
		ssize_t n;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = 0;
		if (strcmp(target, "anon_inode:[eventfd]"))
			continue;
		fd = test_pidfd_getfd(pidfd, atoi(e->d_name));
		if (fd < 0) {
			err = -errno;
			break;
		}
		w->fds[w->nfds++] = fd;
	}
	closedir(d);
	close(pidfd);
	if (!err && !w->nfds)
		err = -ENOENT;
	return err;
}

/* The hostile process: arms itself with @arm, then attacks until told. */
static int hostile(int (*arm)(struct weapons *))
{
	static struct weapons w;
	uint64_t stolen = 0, cleared = 0;
	int err;

	CHECK(PSU_WAIT(atomic_load(&ctl->owner_ready), 60));
	err = steal_eventfds((pid_t)atomic_load(&ctl->owner_pid), &w);
	if (err == -EPERM || err == -ENOSYS || err == -EACCES) {
		fprintf(stderr, "pidfd_getfd refused (%s): skipped\n",
			strerror(-err));
		atomic_store(&ctl->hostile_ready, 2);
		return TEST_SKIP;
	}
	CHECK_EQ(err, 0);
	CHECK(arm(&w) == TEST_PASS);
	CHECK(w.nmarks > 0);
	atomic_store(&ctl->hostile_ready, 1);
	while (!atomic_load(&ctl->stop_hostile)) {
		for (int k = 0; k < w.nfds; k++) {
			uint64_t v;

			if (read(w.fds[k], &v, sizeof(v)) == (ssize_t)sizeof(v))
				stolen++;
		}
		for (int k = 0; atomic_load_explicit(&ctl->clear_marks,
						     memory_order_relaxed) &&
				k < w.nmarks;
		     k++)
			if (atomic_load_explicit(w.marks[k],
						 memory_order_relaxed) &&
			    atomic_exchange_explicit(w.marks[k], 0,
						     memory_order_relaxed))
				cleared++;
	}
	atomic_store(&ctl->stolen, stolen);
	atomic_store(&ctl->cleared, cleared);
	return TEST_PASS;
}

static int wait_exit(pid_t pid, unsigned seconds, int *status)
{
	int64_t end = psu_now_ns() + (int64_t)seconds * PSU_SEC;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 1;
		if (r < 0 || psu_now_ns() > end)
			break;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return 0;
}

/*
 * Runs one case: @owner (NULL: the test itself owns the service), the
 * honest @peers, and the hostile process armed by @arm.
 */
static int run_once(const char *what, int clear, int (*owner)(void),
		    int (*peers[])(void), int npeers,
		    int (*arm)(struct weapons *))
{
	pid_t pids[4], bad;
	int n = 0, st = 0, ok;

	memset(ctl, 0, sizeof(*ctl));
	atomic_store(&ctl->clear_marks, clear);
	if (owner) {
		pids[n] = psu_fork();
		CHECK(pids[n] >= 0);
		if (pids[n] == 0)
			_exit(owner());
		atomic_store(&ctl->owner_pid, (int)pids[n]);
		n++;
	} else {
		atomic_store(&ctl->owner_pid, (int)getpid());
		atomic_store(&ctl->owner_ready, 1);
	}
	for (int k = 0; k < npeers; k++) {
		pids[n] = psu_fork();
		CHECK(pids[n] >= 0);
		if (pids[n] == 0)
			_exit(peers[k]());
		n++;
	}
	bad = psu_fork();
	CHECK(bad >= 0);
	if (bad == 0)
		_exit(hostile(arm));

	/* The attack: until phase 1 is through, or it has lasted long
	 * enough to stall the stream for good. */
	(void)PSU_WAIT(atomic_load(&ctl->phase1_done), ATTACK_MAX_S);
	atomic_store(&ctl->stop_hostile, 1);
	ok = wait_exit(bad, 60, &st);
	atomic_store(&ctl->hostile_gone, 1);
	if (!ok || !WIFEXITED(st) ||
	    (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != TEST_SKIP)) {
		fprintf(stderr, "%s: the hostile process failed\n", what);
		ok = 0;
	}
	/* Then the stream must finish, the hostile process gone. */
	if (!psu_wait_all(pids, n, CASE_LIMIT_S)) {
		fprintf(stderr,
			"%s: the stream stalled (phase 1 %s, everything %s)\n",
			what,
			atomic_load(&ctl->phase1_done) ? "through" :
							 "not through",
			atomic_load(&ctl->all_done) ? "through" :
						      "not through");
		ok = 0;
	}
	fprintf(stderr,
		"%s (%s): %llu wake-ups stolen, %llu sleep marks cleared, "
		"%llu sleeps of the receiver\n",
		what, clear ? "steal and clear" : "steal",
		(unsigned long long)atomic_load(&ctl->stolen),
		(unsigned long long)atomic_load(&ctl->cleared),
		(unsigned long long)atomic_load(&ctl->sleeps));
	CHECK(ok);
	CHECK(atomic_load(&ctl->all_done));
	if (WEXITSTATUS(st) == TEST_SKIP)
		return TEST_SKIP;
	return TEST_PASS;
}

/*
 * Runs the case twice: the hostile process only reading the eventfds,
 * then reading them and clearing the sleep marks as well.
 */
static int run_case(const char *what, int (*owner)(void), int (*peers[])(void),
		    int npeers, int (*arm)(struct weapons *))
{
	int r0 = run_once(what, 0, owner, peers, npeers, arm);
	int r1 = run_once(what, 1, owner, peers, npeers, arm);

	return r0 == TEST_FAIL ? r0 : r1;
}

/* ------------------------------------------------------------------------
 * Pub/sub: a reliable publisher (default send timeout: forever) and a
 * subscriber in take(SHOAL_WAIT_FOREVER); the ring is much smaller than a
 * phase, so the publisher blocks on a full ring too.
 */

#define PUBSUB_NAME "hostile-ps"

static int ps_publisher(void)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	unsigned char buf[MAX_LEN];

	CHECK_EQ(psu_pub_options(path, &reg, &o), 0);
	o.delivery = SHOAL_DELIVERY_RELIABLE;
	o.capacity = 32;
	o.max_payload = MAX_LEN;
	o.max_subscribers = 4;
	CHECK(o.send_timeout_ns < 0);
	CHECK_EQ(shoal_pub_create(PUBSUB_NAME, &o, &pub), 0);
	atomic_store(&ctl->owner_ready, 1);
	CHECK(PSU_WAIT(atomic_load(&ctl->peer_ready), 60));
	CHECK(wait_hostile());
	CHECK(PSU_WAIT(shoal_pub_subscribers(pub) == 1, 60));
	for (uint64_t seq = 0; seq < 2 * PUBSUB_N; seq++) {
		uint32_t len = psu_len(seq, 1, PSU_MIN_LEN, MAX_LEN);

		if (seq == PUBSUB_N)
			CHECK(PSU_WAIT(atomic_load(&ctl->hostile_gone),
				       CASE_LIMIT_S));
		psu_fill(buf, seq, 1, len);
		CHECK_EQ(shoal_pub_write(pub, buf, len, NULL), 0);
	}
	CHECK(PSU_WAIT(atomic_load(&ctl->all_done), CASE_LIMIT_S));
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int ps_subscriber(void)
{
	struct shoal_registry *reg;
	struct shoal_sub_options o;
	struct shoal_sub_stats st;
	struct shoal_sub *sub;
	unsigned char buf[MAX_LEN];
	struct shoal_msg m;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK(PSU_WAIT(atomic_load(&ctl->owner_ready), 60));
	shoal_sub_options_init(&o);
	o.registry = reg;
	o.strategy = SHOAL_WAIT_BLOCK;
	CHECK_EQ(shoal_sub_open(PUBSUB_NAME, &o, &sub), 0);
	atomic_store(&ctl->peer_ready, 1);
	for (uint64_t seq = 0; seq < 2 * PUBSUB_N; seq++) {
		ssize_t n = shoal_sub_read(sub, buf, sizeof(buf), NULL, &m,
					   SHOAL_WAIT_FOREVER);

		CHECK(n >= 0);
		CHECK_EQ(m.seq, seq);
		CHECK(psu_verify(buf, (uint32_t)n, seq, 1));
		if (seq + 1 == PUBSUB_N)
			atomic_store(&ctl->phase1_done, 1);
	}
	shoal_sub_get_stats(sub, &st);
	atomic_store(&ctl->sleeps, st.sleeps);
	atomic_store(&ctl->all_done, 1);
	shoal_sub_close(sub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* The sleeper bitmap, reached as any subscriber reaches it. */
static int ps_arm(struct weapons *w)
{
	struct shoal__pubsub_subs_header *sh;
	struct shoal_segment *subs_seg;
	struct shoal_registry *reg;
	struct shoal_service *svc;
	struct pubsub_geometry g;
	_Atomic uint32_t *bitmap;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(shoal_registry_open(reg, PUBSUB_NAME, SHOAL_OPEN_READ_ONLY,
				     &svc),
		 0);
	CHECK_EQ(shoal__pubsub_read_geometry(shoal_service_segment(svc), &g),
		 0);
	CHECK_EQ(shoal__pubsub_map_subs(svc, &g, 0, &subs_seg, &sh), 0);
	bitmap = subs_bitmap(sh);
	for (uint32_t k = 0; k < (g.max_subs + 31) / 32; k++)
		w->marks[w->nmarks++] = &bitmap[k];
	return TEST_PASS;
}

static int test_pubsub(void)
{
	int (*peers[])(void) = { ps_subscriber };

	return run_case("pubsub", ps_publisher, peers, 1, ps_arm);
}

/* ------------------------------------------------------------------------
 * rpc: a client calls (request, then take(SHOAL_WAIT_FOREVER)); the
 * server serves with take(SHOAL_WAIT_FOREVER).
 */

#define RPC_NAME "hostile-rpc"

static int rpc_server(void)
{
	struct shoal_registry *reg;
	struct shoal_rpc_server_options o;
	struct shoal_rpc_server *srv;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_rpc_server_options_init(&o);
	o.registry = reg;
	o.max_clients = 4;
	o.strategy = SHOAL_WAIT_BLOCK;
	CHECK_EQ(shoal_rpc_server_create(RPC_NAME, &o, &srv), 0);
	atomic_store(&ctl->owner_ready, 1);
	for (uint64_t k = 0; k < 2 * RPC_N; k++) {
		struct shoal_request req;
		uint64_t v, answer;

		CHECK_EQ(shoal_rpc_server_take(srv, &req, SHOAL_WAIT_FOREVER),
			 0);
		CHECK_EQ(req.len, sizeof(v));
		memcpy(&v, req.data, sizeof(v));
		CHECK_EQ(v, k);
		answer = 3 * v + 1;
		CHECK_EQ(shoal_rpc_server_write(srv, &req, &answer,
						sizeof(answer), 0),
			 0);
		CHECK_EQ(shoal_rpc_server_release(srv, &req), 0);
	}
	CHECK(PSU_WAIT(atomic_load(&ctl->all_done), CASE_LIMIT_S));
	shoal_rpc_server_destroy(srv);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int rpc_client(void)
{
	struct shoal_registry *reg;
	struct shoal_rpc_client_options o;
	struct shoal_rpc_client_stats st;
	struct shoal_rpc_client *cli;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK(PSU_WAIT(atomic_load(&ctl->owner_ready), 60));
	shoal_rpc_client_options_init(&o);
	o.registry = reg;
	o.strategy = SHOAL_WAIT_BLOCK;
	CHECK_EQ(shoal_rpc_client_open(RPC_NAME, &o, &cli), 0);
	atomic_store(&ctl->peer_ready, 1);
	CHECK(wait_hostile());
	for (uint64_t k = 0; k < 2 * RPC_N; k++) {
		struct shoal_response resp;
		uint64_t id, v;

		if (k == RPC_N) {
			atomic_store(&ctl->phase1_done, 1);
			CHECK(PSU_WAIT(atomic_load(&ctl->hostile_gone),
				       CASE_LIMIT_S));
		}
		CHECK_EQ(shoal_rpc_client_write(cli, &k, sizeof(k), &id), 0);
		CHECK_EQ(shoal_rpc_client_take(cli, &resp, SHOAL_WAIT_FOREVER),
			 0);
		CHECK_EQ(resp.id, id);
		CHECK_EQ(resp.len, sizeof(v));
		memcpy(&v, resp.data, sizeof(v));
		CHECK_EQ(v, 3 * k + 1);
		CHECK_EQ(shoal_rpc_client_release(cli, &resp), 0);
	}
	shoal_rpc_client_get_stats(cli, &st);
	atomic_store(&ctl->sleeps, st.sleeps);
	atomic_store(&ctl->all_done, 1);
	shoal_rpc_client_close(cli);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* The server's wait word and every client's, as any client maps them. */
static int rpc_arm(struct weapons *w)
{
	struct rpc_clients_view v;
	struct shoal_registry *reg;
	struct shoal_service *svc;
	struct rpc_geometry g;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(shoal_registry_open(reg, RPC_NAME, SHOAL_OPEN_READ_ONLY, &svc),
		 0);
	CHECK_EQ(shoal__rpc_read_geometry(shoal_service_segment(svc), &g), 0);
	CHECK_EQ(shoal__rpc_map_clients(svc, &g, 0, &v), 0);
	w->marks[w->nmarks++] = &v.lh->server_wait.sleeping;
	for (uint32_t i = 0; i < g.max_clients; i++)
		w->marks[w->nmarks++] = &v.lines[i].wait.sleeping;
	return TEST_PASS;
}

static int test_rpc(void)
{
	int (*peers[])(void) = { rpc_client };

	return run_case("rpc", rpc_server, peers, 1, rpc_arm);
}

/* ------------------------------------------------------------------------
 * Event: the creator notifies value k and waits for the listener to have
 * seen it; the listener waits with SHOAL_WAIT_FOREVER.
 */

#define EVENT_NAME "hostile-ev"
#define EVENT_IDS 64u
#define EVENT_LISTENERS 4u
#define EVENT_ID 5u

static int ev_creator(void)
{
	struct shoal_registry *reg;
	struct shoal_event_options o;
	struct shoal_event *ev;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_event_options_init(&o);
	o.registry = reg;
	o.ids = EVENT_IDS;
	o.max_listeners = EVENT_LISTENERS;
	CHECK_EQ(shoal_event_create(EVENT_NAME, &o, &ev), 0);
	atomic_store(&ctl->owner_ready, 1);
	CHECK(PSU_WAIT(atomic_load(&ctl->peer_ready), 60));
	CHECK(wait_hostile());
	for (uint64_t k = 1; k <= 2 * EVENT_N; k++) {
		if (k == EVENT_N + 1)
			CHECK(PSU_WAIT(atomic_load(&ctl->hostile_gone),
				       CASE_LIMIT_S));
		atomic_store(&ctl->value, k);
		CHECK_EQ(shoal_event_notify(ev, EVENT_ID), 1);
		CHECK(PSU_WAIT(atomic_load(&ctl->ack) == k, CASE_LIMIT_S));
	}
	CHECK(PSU_WAIT(atomic_load(&ctl->all_done), CASE_LIMIT_S));
	shoal_event_destroy(ev);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int ev_listener(void)
{
	struct shoal_registry *reg;
	struct shoal_event_options o;
	struct shoal_event_set set, fired;
	struct shoal_event_stats st;
	struct shoal_event *ev;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK(PSU_WAIT(atomic_load(&ctl->owner_ready), 60));
	shoal_event_options_init(&o);
	o.registry = reg;
	o.strategy = SHOAL_WAIT_BLOCK;
	CHECK_EQ(shoal_event_open(EVENT_NAME, &o, &ev), 0);
	shoal_event_set_clear(&set);
	shoal_event_set_add(&set, EVENT_ID);
	CHECK_EQ(shoal_event_listen(ev, &set), 0);
	atomic_store(&ctl->peer_ready, 1);
	for (uint64_t k = 1; k <= 2 * EVENT_N; k++) {
		CHECK_EQ(shoal_event_wait(ev, NULL, SHOAL_WAIT_FOREVER, &fired),
			 1);
		CHECK(shoal_event_set_has(&fired, EVENT_ID));
		/* The notifier waits for our ack: exactly one per wait. */
		CHECK_EQ(atomic_load(&ctl->value), k);
		if (k == EVENT_N)
			atomic_store(&ctl->phase1_done, 1);
		atomic_store(&ctl->ack, k);
	}
	shoal_event_get_stats(ev, &st);
	atomic_store(&ctl->sleeps, st.sleeps);
	atomic_store(&ctl->all_done, 1);
	shoal_event_close(ev);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Every listener line's sleeping word, as any peer maps them. */
static int ev_arm(struct weapons *w)
{
	const struct shoal__event_header *h;
	struct shoal_segment *seg;
	struct shoal_registry *reg;
	struct shoal_service *svc;
	uint8_t *lines;
	void *p;
	int fd;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(shoal_registry_open(reg, EVENT_NAME, SHOAL_OPEN_READ_ONLY,
				     &svc),
		 0);
	CHECK_EQ(shoal_segment_find(shoal_service_segment(svc),
				    SHOAL__EVENT_HEADER_OBJECT,
				    SHOAL__OBJECT_EVENT_HEADER, &p, NULL),
		 0);
	h = p;
	CHECK_EQ(shoal__service_take_extra_fd(svc, SHOAL__EXTRA_LINES_MEMFD,
					      h->lines_memfd, &fd),
		 0);
	CHECK_EQ(shoal_segment_open(fd, 0, &seg), 0);
	CHECK_EQ(shoal_segment_find(seg, SHOAL__EVENT_LINES_OBJECT,
				    SHOAL__OBJECT_EVENT_HEADER, &p, NULL),
		 0);
	lines = (uint8_t *)p + sizeof(struct shoal__event_lines_header) +
		shoal__event_table_bytes(EVENT_IDS, EVENT_LISTENERS);
	for (uint32_t i = 0; i < EVENT_LISTENERS; i++)
		w->marks[w->nmarks++] =
			&((struct shoal__event_line
				   *)(lines +
				      (uint64_t)i * shoal__event_line_stride(
							    EVENT_IDS)))
				 ->sleeping;
	return TEST_PASS;
}

static int test_event(void)
{
	int (*peers[])(void) = { ev_listener };

	return run_case("event", ev_creator, peers, 1, ev_arm);
}

/* ------------------------------------------------------------------------
 * Channel: the test creates it (and holds its fds: the hostile process
 * takes them from the test); a sender child uses the created handle, a
 * receiver child opens the fds. Both block: the ring is small.
 */

static int ch_sender(void)
{
	unsigned char buf[MAX_LEN];

	CHECK(PSU_WAIT(atomic_load(&ctl->peer_ready), 60));
	CHECK(wait_hostile());
	for (uint64_t seq = 0; seq < 2 * CHANNEL_N; seq++) {
		uint32_t len = psu_len(seq, 2, PSU_MIN_LEN, MAX_LEN);

		if (seq == CHANNEL_N)
			CHECK(PSU_WAIT(atomic_load(&ctl->hostile_gone),
				       CASE_LIMIT_S));
		psu_fill(buf, seq, 2, len);
		CHECK_EQ(shoal_channel_write(chan, buf, len), 0);
	}
	CHECK(PSU_WAIT(atomic_load(&ctl->all_done), CASE_LIMIT_S));
	return TEST_PASS;
}

static int ch_receiver(void)
{
	struct shoal_channel_options o;
	struct shoal_channel *rx;
	unsigned char buf[MAX_LEN];

	shoal_channel_options_init(&o);
	o.strategy = SHOAL_WAIT_BLOCK;
	CHECK_EQ(shoal_channel_open_fds(&chan_fds, &o, &rx), 0);
	atomic_store(&ctl->peer_ready, 1);
	for (uint64_t seq = 0; seq < 2 * CHANNEL_N; seq++) {
		ssize_t n = shoal_channel_read(rx, buf, sizeof(buf),
					       SHOAL_WAIT_FOREVER);

		CHECK(n >= 0);
		CHECK(psu_verify(buf, (uint32_t)n, seq, 2));
		if (seq + 1 == CHANNEL_N)
			atomic_store(&ctl->phase1_done, 1);
	}
	{
		struct shoal_channel_stats st;

		shoal_channel_get_stats(rx, &st);
		atomic_store(&ctl->sleeps, st.sleeps);
	}
	atomic_store(&ctl->all_done, 1);
	shoal_channel_close(rx);
	return TEST_PASS;
}

/* Both wait words, through the memfd any peer of the channel holds. */
static int ch_arm(struct weapons *w)
{
	struct shoal_segment *seg;
	void *p;

	CHECK_EQ(shoal_segment_open(chan_fds.memfd, 0, &seg), 0);
	CHECK_EQ(shoal_segment_find(seg, "data_wait", SHOAL_OBJECT_NOTIFY, &p,
				    NULL),
		 0);
	w->marks[w->nmarks++] = &((struct shoal__notify_word *)p)->sleeping;
	CHECK_EQ(shoal_segment_find(seg, "space_wait", SHOAL_OBJECT_NOTIFY, &p,
				    NULL),
		 0);
	w->marks[w->nmarks++] = &((struct shoal__notify_word *)p)->sleeping;
	return TEST_PASS;
}

static int test_channel(void)
{
	int (*peers[])(void) = { ch_receiver, ch_sender };
	struct shoal_channel_options o;
	int r[2];

	/* A fresh channel each time: the sender child used a copy of the
	 * handle, so ours is behind the ring. */
	for (int clear = 0; clear < 2; clear++) {
		shoal_channel_options_init(&o);
		o.capacity = 16;
		o.slot_size = MAX_LEN;
		o.strategy = SHOAL_WAIT_BLOCK;
		CHECK_EQ(shoal_channel_create(NULL, &o, &chan), 0);
		shoal_channel_get_fds(chan, &chan_fds);
		r[clear] = run_once("channel", clear, NULL, peers, 2, ch_arm);
		shoal_channel_destroy(chan);
	}
	return r[0] == TEST_FAIL ? r[0] : r[1];
}

int main(void)
{
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl || test_registry_path(path, sizeof(path)))
		return TEST_FAIL;
	RUN(test_pubsub);
	RUN(test_rpc);
	RUN(test_event);
	RUN(test_channel);
	return test_result();
}
