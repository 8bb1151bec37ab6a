/* shoal-test: label=multiproc timeout=300 args=20000 */
/*
 * Several publishers per pub/sub service (max_publishers > 1), between
 * processes. argv[1] (default 20000) messages per publisher.
 *
 * streams: 3 publisher processes and 2 subscriber processes (reliable).
 *   Each subscriber sees every publisher's messages, in that publisher's
 *   order (msg.seq from 0 on, each byte checked against what that message
 *   of that publisher must be), none missing, each publisher always under
 *   the same msg.publisher slot; then -EPIPE once all three are gone, not
 *   before.
 * kill: 3 publishers; publisher 0 streams until SIGKILLed; the others send
 *   half, wait for the kill, send the rest and leave. The subscriber gets
 *   a gapless prefix of publisher 0's stream and all of the others', never
 *   wedges (every take has a timeout), and -EPIPE only after the last is
 *   gone; stats.publishers_gone is 3.
 * late: a subscriber opened while one idle publisher is up finds a second
 *   publisher that joins after it (through its registry watch, while
 *   asleep in take) and receives all its messages.
 * limits: mismatched options are refused with -EINVAL naming the field;
 *   capacity may differ; a max_publishers 1 publisher and a service of
 *   several do not mix; the (max_publishers + 1)th live publisher gets
 *   -EBUSY; a SIGKILLed publisher's slot is taken by the next one; a slot
 *   name is not a name to create or open.
 * one process: lossy rings lapping the subscriber each on its own; the
 *   pollable fd over several rings; REATTACH after every publisher left,
 *   to a new one in slot 1 only.
 * stopped: a publisher SIGSTOPped in full stream; the other's whole
 *   stream arrives meanwhile.
 * race: two publishers race for the last free slot, 20 times: one gets
 *   it, the other -EBUSY.
 * busy newcomer: a publisher joins while the subscriber busy-polls
 *   (timeout 0) a ring another floods: found, all its messages arrive.
 */
#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define SALT 0x6d70756bULL
#define MAX_LEN 96u
#define TAKE_TIMEOUT (60 * PSU_SEC)
#define NPUB 3

static char path[PATH_MAX];
static uint32_t messages;

struct ctl {
	_Atomic int pubs_up;
	_Atomic int subs_done;
	_Atomic int killed;
	_Atomic int go;
	_Atomic int result[2];
	_Atomic uint64_t sent[NPUB];
	_Atomic uint64_t got[NPUB];
};

static struct ctl *ctl;

static void pub_opts(struct shoal_registry *r, struct shoal_pub_options *o)
{
	shoal_pub_options_init(o);
	o->registry = r;
	o->max_publishers = 4;
	o->capacity = 64;
	o->max_payload = MAX_LEN;
	o->user_header_size = 8; /* the publisher's id */
	o->max_subscribers = 4;
}

static int send_range(struct shoal_pub *pub, uint64_t id, uint64_t from,
		      uint64_t to)
{
	unsigned char buf[MAX_LEN];

	for (uint64_t seq = from; seq < to; seq++) {
		uint32_t len = psu_len(seq, SALT + id, PSU_MIN_LEN, MAX_LEN);

		psu_fill(buf, seq, SALT + id, len);
		CHECK_EQ(shoal_pub_write(pub, buf, len, &id), 0);
		atomic_store(&ctl->sent[id], seq + 1);
	}
	return TEST_PASS;
}

/* Publisher @id: joins, waits for @subs subscribers, sends. Mode 0: all
 * and leave. Mode 1 (the victim): forever. Mode 2: half, wait for the
 * kill, the rest, leave. */
static int publisher(uint64_t id, uint32_t subs, int mode)
{
	struct shoal_registry *r;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	int err;

	CHECK_EQ(test_registry_open(path, &r), 0);
	pub_opts(r, &o);
	err = shoal_pub_create("multi/s", &o, &pub);
	if (err)
		fprintf(stderr, "publisher %llu: %d %s\n",
			(unsigned long long)id, err, shoal_last_error());
	CHECK_EQ(err, 0);
	atomic_fetch_add(&ctl->pubs_up, 1);
	CHECK_EQ(shoal_pub_wait_subscribers(pub, subs, TAKE_TIMEOUT), 0);
	if (mode == 1) {
		CHECK_EQ(send_range(pub, id, 0, UINT64_MAX), TEST_PASS);
	} else if (mode == 2) {
		CHECK_EQ(send_range(pub, id, 0, messages / 2), TEST_PASS);
		CHECK(PSU_WAIT(atomic_load(&ctl->killed), 120));
		CHECK_EQ(send_range(pub, id, messages / 2, messages),
			 TEST_PASS);
	} else {
		CHECK_EQ(send_range(pub, id, 0, messages), TEST_PASS);
	}
	shoal_pub_destroy(pub);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

/*
 * Takes until -EPIPE: every message checked against its publisher's
 * stream. *@got[id] counts each publisher's; the victim (@victim >= 0)
 * may stop anywhere. Returns TEST_PASS once -EPIPE came after all owed.
 */
static int drain(struct shoal_sub *s, int victim, uint64_t *got)
{
	int32_t slot_of[NPUB] = { -1, -1, -1 };
	uint32_t burst = 0;

	for (;;) {
		struct shoal_msg m;
		uint64_t id;
		int err = shoal_sub_take(s, &m, TAKE_TIMEOUT);

		if (err == -EPIPE)
			break;
		if (err)
			fprintf(stderr, "take: %d %s\n", err,
				shoal_last_error());
		CHECK_EQ(err, 0);
		CHECK(m.user_header != NULL);
		memcpy(&id, m.user_header, 8);
		CHECK(id < NPUB);
		CHECK_EQ(m.seq, got[id]);
		CHECK(psu_verify(m.data, m.len, m.seq, SALT + id));
		if (slot_of[id] < 0)
			slot_of[id] = (int32_t)m.publisher;
		CHECK_EQ((int32_t)m.publisher, slot_of[id]);
		got[id]++;
		atomic_store(&ctl->got[id], got[id]);
		/* Now and then, hold on to one while taking another: two
		 * rings' messages held at once (max_held 2). */
		if (++burst % 97 == 0) {
			struct shoal_msg m2;

			err = shoal_sub_take(s, &m2, 0);
			if (err == 0) {
				memcpy(&id, m2.user_header, 8);
				CHECK(id < NPUB);
				CHECK_EQ(m2.seq, got[id]);
				CHECK(psu_verify(m2.data, m2.len, m2.seq,
						 SALT + id));
				got[id]++;
				CHECK_EQ(shoal_sub_release(s, &m2), 0);
			}
		}
		CHECK_EQ(shoal_sub_release(s, &m), 0);
	}
	for (int id = 0; id < NPUB; id++) {
		if (id == victim)
			continue;
		if (got[id] != messages)
			fprintf(stderr, "publisher %d: %llu of %u\n", id,
				(unsigned long long)got[id], messages);
		CHECK_EQ(got[id], messages);
	}
	/* -EPIPE stays. */
	{
		struct shoal_msg m;

		CHECK_EQ(shoal_sub_take(s, &m, 0), -EPIPE);
	}
	return TEST_PASS;
}

static int subscriber(int victim)
{
	struct shoal_registry *r;
	struct shoal_sub_options so;
	struct shoal_sub_stats st;
	struct shoal_sub *s;
	uint64_t got[NPUB] = { 0 };
	int err;

	CHECK_EQ(test_registry_open(path, &r), 0);
	CHECK(PSU_WAIT(atomic_load(&ctl->pubs_up) == NPUB, 120));
	shoal_sub_options_init(&so);
	so.registry = r;
	so.max_held = 2;
	err = shoal_sub_open("multi/s", &so, &s);
	if (err)
		fprintf(stderr, "sub_open: %d %s\n", err, shoal_last_error());
	CHECK_EQ(err, 0);
	shoal_sub_get_stats(s, &st);
	CHECK_EQ(st.publishers, (uint32_t)NPUB);
	CHECK_EQ(drain(s, victim, got), TEST_PASS);
	shoal_sub_get_stats(s, &st);
	CHECK_EQ(st.publishers, 0u);
	CHECK_EQ(st.publishers_joined, (uint64_t)NPUB);
	CHECK_EQ(st.publishers_gone, (uint64_t)NPUB);
	if (victim >= 0)
		CHECK(got[victim] <= atomic_load(&ctl->sent[victim]) + 1);
	shoal_sub_close(s);
	shoal_registry_destroy(r);
	atomic_fetch_add(&ctl->subs_done, 1);
	return TEST_PASS;
}

/* subscriber() for a service of two publishers, 0 the victim. */
static int subscriber2(void)
{
	struct shoal_registry *r;
	struct shoal_sub_options so;
	struct shoal_sub *s;
	uint64_t got[NPUB] = { 0 };

	CHECK_EQ(test_registry_open(path, &r), 0);
	CHECK(PSU_WAIT(atomic_load(&ctl->pubs_up) == NPUB, 120));
	shoal_sub_options_init(&so);
	so.registry = r;
	CHECK_EQ(shoal_sub_open("multi/s", &so, &s), 0);
	got[2] = messages; /* never comes */
	CHECK_EQ(drain(s, 0, got), TEST_PASS);
	shoal_sub_close(s);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

static void reset_ctl(void)
{
	memset(ctl, 0, sizeof(*ctl));
}

static int test_streams(void)
{
	pid_t pids[NPUB + 2];
	int n = 0;

	reset_ctl();
	for (uint64_t id = 0; id < NPUB; id++) {
		pids[n] = psu_fork();
		CHECK(pids[n] >= 0);
		if (pids[n] == 0)
			_exit(publisher(id, 2, 0));
		n++;
	}
	for (int k = 0; k < 2; k++) {
		pids[n] = psu_fork();
		CHECK(pids[n] >= 0);
		if (pids[n] == 0)
			_exit(subscriber(-1));
		n++;
	}
	CHECK(psu_wait_all(pids, n, 240));
	return TEST_PASS;
}

static int test_kill(void)
{
	pid_t pids[NPUB + 1];
	int n = 0;

	reset_ctl();
	for (uint64_t id = 0; id < NPUB; id++) {
		pids[n] = psu_fork();
		CHECK(pids[n] >= 0);
		if (pids[n] == 0)
			_exit(publisher(id, 1, id == 0 ? 1 : 2));
		n++;
	}
	pids[n] = psu_fork();
	CHECK(pids[n] >= 0);
	if (pids[n] == 0)
		_exit(subscriber(0));
	n++;
	/* Kill publisher 0 in full stream, while the others are halfway. */
	CHECK(PSU_WAIT(atomic_load(&ctl->sent[0]) > 200 &&
			       atomic_load(&ctl->sent[1]) >= messages / 2 &&
			       atomic_load(&ctl->sent[2]) >= messages / 2,
		       120));
	kill(pids[0], SIGKILL);
	waitpid(pids[0], NULL, 0);
	atomic_store(&ctl->killed, 1);
	CHECK(psu_wait_all(pids + 1, n - 1, 240));
	return TEST_PASS;
}

/* A second publisher joins after the subscriber opened: found. */
static int test_late(void)
{
	struct shoal_registry *r;
	struct shoal_pub_options o;
	struct shoal_sub_options so;
	struct shoal_sub_stats st;
	struct shoal_pub *first;
	struct shoal_sub *s;
	uint64_t next = 0;
	pid_t pid;

	reset_ctl();
	/* Forked before this process has a publisher or a subscriber: the
	 * child inherits none of their descriptors (or helper threads, which
	 * ThreadSanitizer cannot follow through a fork). It publishes once
	 * the subscriber is open (ctl->go). */
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct shoal_registry *cr;
		struct shoal_pub *pub;

		if (!test_wait_flag(&ctl->go, 1, 120) ||
		    test_registry_open(path, &cr))
			_exit(1);
		pub_opts(cr, &o);
		if (shoal_pub_create("multi/late", &o, &pub))
			_exit(2);
		/* Owed only once the subscriber found us. */
		if (shoal_pub_wait_subscribers(pub, 1, TAKE_TIMEOUT))
			_exit(3);
		if (send_range(pub, 1, 0, messages) != TEST_PASS)
			_exit(4);
		CHECK(PSU_WAIT(atomic_load(&ctl->subs_done), 120));
		shoal_pub_destroy(pub);
		_exit(0);
	}
	CHECK_EQ(test_registry_open(path, &r), 0);
	pub_opts(r, &o);
	CHECK_EQ(shoal_pub_create("multi/late", &o, &first), 0);
	shoal_sub_options_init(&so);
	so.registry = r;
	CHECK_EQ(shoal_sub_open("multi/late", &so, &s), 0);
	atomic_store(&ctl->go, 1);
	while (next < messages) {
		struct shoal_msg m;
		uint64_t id;
		int err = shoal_sub_take(s, &m, TAKE_TIMEOUT);

		if (err)
			fprintf(stderr, "late take: %d %s\n", err,
				shoal_last_error());
		CHECK_EQ(err, 0);
		memcpy(&id, m.user_header, 8);
		CHECK_EQ(id, 1u);
		CHECK_EQ(m.seq, next);
		CHECK_EQ(m.publisher, 1u);
		CHECK(psu_verify(m.data, m.len, m.seq, SALT + 1));
		CHECK_EQ(shoal_sub_release(s, &m), 0);
		next++;
	}
	shoal_sub_get_stats(s, &st);
	CHECK_EQ(st.publishers, 2u);
	CHECK_EQ(st.publishers_joined, 2u);
	atomic_store(&ctl->subs_done, 1);
	CHECK(psu_wait_all(&pid, 1, 120));
	/* The late one left: its ring is dropped, the first still there. */
	{
		struct shoal_msg m;

		CHECK_EQ(shoal_sub_take(s, &m, PSU_SEC / 10), -ETIMEDOUT);
		shoal_sub_get_stats(s, &st);
		CHECK_EQ(st.publishers, 1u);
		CHECK_EQ(st.publishers_gone, 1u);
		CHECK_EQ(shoal_sub_connected(s), 1);
	}
	shoal_pub_destroy(first);
	{
		struct shoal_msg m;

		CHECK_EQ(shoal_sub_take(s, &m, TAKE_TIMEOUT), -EPIPE);
	}
	shoal_sub_close(s);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

/*
 * A publisher stopped (SIGSTOP) in full stream stops only itself: the
 * other's whole stream arrives while it is stopped; after SIGCONT and a
 * SIGKILL, the subscriber still ends with -EPIPE.
 */
static int test_stopped(void)
{
	pid_t pids[3];

	reset_ctl();
	pids[0] = psu_fork();
	CHECK(pids[0] >= 0);
	if (pids[0] == 0)
		_exit(publisher(0, 1, 1));
	pids[1] = psu_fork();
	CHECK(pids[1] >= 0);
	if (pids[1] == 0)
		_exit(publisher(1, 1, 2));
	pids[2] = psu_fork();
	CHECK(pids[2] >= 0);
	if (pids[2] == 0) {
		/* Publisher 2 never comes: the subscriber starts at two. */
		atomic_fetch_add(&ctl->pubs_up, 1);
		_exit(subscriber2());
	}
	CHECK(PSU_WAIT(atomic_load(&ctl->sent[0]) > 200 &&
			       atomic_load(&ctl->sent[1]) >= messages / 2,
		       120));
	kill(pids[0], SIGSTOP);
	/* Publisher 1 sends its second half now; all of it arrives while
	 * publisher 0 sits stopped. */
	atomic_store(&ctl->killed, 1);
	CHECK(PSU_WAIT(atomic_load(&ctl->got[1]) == messages, 120));
	kill(pids[0], SIGCONT);
	kill(pids[0], SIGKILL);
	waitpid(pids[0], NULL, 0);
	CHECK(psu_wait_all(pids + 1, 2, 240));
	return TEST_PASS;
}

/* Two publishers race for the last free slot: one wins, one -EBUSY. */
static int test_race(void)
{
	struct shoal_registry *r;
	struct shoal_pub_options o;
	pid_t hold;

	/* The holder of slot 0 is a process of its own, so that this one,
	 * which forks the racers, has no publisher (nor its descriptors or
	 * helper threads) to hand down. */
	reset_ctl();
	CHECK_EQ(test_registry_open(path, &r), 0);
	pub_opts(r, &o);
	o.max_publishers = 2;
	hold = psu_fork();
	CHECK(hold >= 0);
	if (hold == 0) {
		struct shoal_registry *hr;
		struct shoal_pub *holder;

		if (test_registry_open(path, &hr))
			_exit(1);
		o.registry = hr;
		if (shoal_pub_create("multi/race", &o, &holder))
			_exit(2);
		atomic_store(&ctl->killed, 1); /* the holder is up */
		pause();		       /* until SIGKILLed */
		_exit(0);
	}
	CHECK(test_wait_flag(&ctl->killed, 1, 120));
	for (int round = 0; round < 20; round++) {
		pid_t pids[2];
		int wins = 0, busy = 0;

		reset_ctl();
		for (int k = 0; k < 2; k++) {
			pids[k] = psu_fork();
			CHECK(pids[k] >= 0);
			if (pids[k] == 0) {
				struct shoal_registry *cr;
				struct shoal_pub *p;
				int err;

				if (test_registry_open(path, &cr))
					_exit(1);
				o.registry = cr;
				atomic_fetch_add(&ctl->pubs_up, 1);
				while (!atomic_load(&ctl->go))
					;
				err = shoal_pub_create("multi/race", &o, &p);
				atomic_store(&ctl->result[k], err ? err : 1);
				pause(); /* hold the slot until killed */
				_exit(0);
			}
		}
		CHECK(PSU_WAIT(atomic_load(&ctl->pubs_up) == 2, 60));
		atomic_store(&ctl->go, 1);
		CHECK(PSU_WAIT(atomic_load(&ctl->result[0]) &&
				       atomic_load(&ctl->result[1]),
			       60));
		for (int k = 0; k < 2; k++) {
			int res = atomic_load(&ctl->result[k]);

			wins += res == 1;
			busy += res == -EBUSY;
			kill(pids[k], SIGKILL);
			waitpid(pids[k], NULL, 0);
		}
		if (wins != 1 || busy != 1)
			fprintf(stderr, "round %d: %d, %d\n", round,
				atomic_load(&ctl->result[0]),
				atomic_load(&ctl->result[1]));
		CHECK_EQ(wins, 1);
		CHECK_EQ(busy, 1);
	}
	kill(hold, SIGKILL);
	waitpid(hold, NULL, 0);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

/*
 * A newcomer found while the subscriber busy-polls (timeout 0, never
 * sleeping) a ring that a publisher floods: the periodic look at the
 * registry watch finds it, and all its messages arrive.
 */
static int test_busy_newcomer(void)
{
	struct shoal_registry *r;
	struct shoal_sub_options so;
	struct shoal_sub *s;
	uint64_t got[NPUB] = { 0 };
	pid_t pids[2];

	reset_ctl();
	CHECK_EQ(test_registry_open(path, &r), 0);
	pids[0] = psu_fork();
	CHECK(pids[0] >= 0);
	if (pids[0] == 0)
		_exit(publisher(0, 1, 1)); /* floods until killed */
	CHECK(PSU_WAIT(atomic_load(&ctl->pubs_up) == 1, 60));
	shoal_sub_options_init(&so);
	so.registry = r;
	CHECK_EQ(shoal_sub_open("multi/s", &so, &s), 0);
	pids[1] = psu_fork();
	CHECK(pids[1] >= 0);
	if (pids[1] == 0)
		_exit(publisher(1, 1, 0));
	while (got[1] < messages) {
		struct shoal_msg m;
		uint64_t id;
		int err = shoal_sub_take(s, &m, 0);

		if (err == -EAGAIN)
			continue;
		if (err)
			fprintf(stderr, "busy take: %d %s\n", err,
				shoal_last_error());
		CHECK_EQ(err, 0);
		memcpy(&id, m.user_header, 8);
		CHECK(id < 2);
		CHECK_EQ(m.seq, got[id]);
		CHECK(psu_verify(m.data, m.len, m.seq, SALT + id));
		got[id]++;
		CHECK_EQ(shoal_sub_release(s, &m), 0);
	}
	kill(pids[0], SIGKILL);
	waitpid(pids[0], NULL, 0);
	CHECK(psu_wait_all(pids + 1, 1, 120));
	shoal_sub_close(s);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

static int write_one(struct shoal_pub *p, uint64_t id, uint64_t seq)
{
	unsigned char buf[MAX_LEN];
	uint32_t len = psu_len(seq, SALT + id, PSU_MIN_LEN, MAX_LEN);

	psu_fill(buf, seq, SALT + id, len);
	CHECK_EQ(shoal_pub_write(p, buf, len, &id), 0);
	return TEST_PASS;
}

/*
 * In one process: lossy rings lap the subscriber each on its own
 * (-EOVERFLOW names the ring, each ring's stream stays in order); the
 * pollable fd over several rings (arm, a send to either ring makes it
 * readable); REATTACH across the loss of every publisher, to new ones in
 * other slots.
 */
static int test_one_process(void)
{
	struct shoal_registry *r;
	struct shoal_pub_options o;
	struct shoal_sub_options so;
	struct shoal_sub_stats st;
	struct shoal_pub *a, *b;
	struct shoal_sub *s;
	struct shoal_msg m;
	uint64_t next[2] = { 0, 0 }, lost[2] = { 0, 0 };
	struct pollfd pfd;
	int err, overflows = 0;

	CHECK_EQ(test_registry_open(path, &r), 0);
	pub_opts(r, &o);
	o.delivery = SHOAL_DELIVERY_LOSSY;
	o.capacity = 8;
	CHECK_EQ(shoal_pub_create("multi/lossy", &o, &a), 0);
	o.capacity = 16; /* per ring */
	CHECK_EQ(shoal_pub_create("multi/lossy", &o, &b), 0);
	shoal_sub_options_init(&so);
	so.registry = r;
	so.flags = SHOAL_SUB_REATTACH;
	CHECK_EQ(shoal_sub_open("multi/lossy", &so, &s), 0);
	for (uint64_t seq = 0; seq < 40; seq++) {
		CHECK_EQ(write_one(a, 0, seq), TEST_PASS);
		CHECK_EQ(write_one(b, 1, seq), TEST_PASS);
	}
	for (;;) {
		uint64_t id;

		err = shoal_sub_take(s, &m, 0);
		if (err == -EAGAIN)
			break;
		if (err == -EOVERFLOW) {
			CHECK(m.publisher < 2);
			CHECK(m.lost > 0);
			lost[m.publisher] += m.lost;
			next[m.publisher] += m.lost;
			overflows++;
			continue;
		}
		CHECK_EQ(err, 0);
		memcpy(&id, m.user_header, 8);
		CHECK_EQ(m.publisher, (uint32_t)id);
		CHECK_EQ(m.seq, next[id]);
		CHECK(psu_verify(m.data, m.len, m.seq, SALT + id));
		next[id]++;
		CHECK_EQ(shoal_sub_release(s, &m), 0);
	}
	CHECK_EQ(overflows, 2);
	CHECK_EQ(next[0], 40u);
	CHECK_EQ(next[1], 40u);
	/* 40 sent into 8 and 16 slots: at most a ring's worth kept. */
	CHECK(lost[0] >= 32 && lost[1] >= 24);
	shoal_sub_get_stats(s, &st);
	CHECK_EQ(st.lost, lost[0] + lost[1]);
	CHECK_EQ(st.received, 80 - st.lost);

	/* The fd over both rings. */
	pfd = (struct pollfd){ .fd = shoal_sub_fd(s), .events = POLLIN };
	CHECK_EQ(shoal_sub_arm(s), 0);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	CHECK_EQ(write_one(b, 1, 40), TEST_PASS);
	CHECK_EQ(poll(&pfd, 1, 10000), 1);
	shoal_sub_disarm(s);
	CHECK_EQ(shoal_sub_take(s, &m, 0), 0);
	CHECK_EQ(m.publisher, 1u);
	CHECK_EQ(m.seq, 40u);
	CHECK_EQ(shoal_sub_release(s, &m), 0);
	CHECK_EQ(shoal_sub_arm(s), 0);
	CHECK_EQ(write_one(a, 0, 40), TEST_PASS);
	CHECK_EQ(poll(&pfd, 1, 10000), 1);
	shoal_sub_disarm(s);
	CHECK_EQ(shoal_sub_take(s, &m, 0), 0);
	CHECK_EQ(m.publisher, 0u);
	CHECK_EQ(shoal_sub_release(s, &m), 0);

	/* Every publisher leaves: -EPIPE once, then (REATTACH) the next
	 * ones, whatever their slots, are found. */
	shoal_pub_destroy(a);
	CHECK_EQ(shoal_sub_take(s, &m, 0), -EAGAIN);
	shoal_pub_destroy(b);
	CHECK_EQ(shoal_sub_take(s, &m, TAKE_TIMEOUT), -EPIPE);
	CHECK_EQ(shoal_sub_connected(s), 0);
	CHECK_EQ(shoal_sub_take(s, &m, 0), -EAGAIN);
	o.capacity = 8;
	CHECK_EQ(shoal_pub_create("multi/lossy", &o, &a), 0);
	CHECK_EQ(shoal_pub_create("multi/lossy", &o, &b), 0);
	shoal_pub_destroy(a); /* slot 0 free: only slot 1 is live */
	/* Arming a detached REATTACH subscriber looks for publishers (a
	 * message sent before the join would not be owed). */
	CHECK_EQ(shoal_sub_arm(s), 1);
	shoal_sub_disarm(s);
	CHECK_EQ(write_one(b, 1, 0), TEST_PASS);
	err = shoal_sub_take(s, &m, TAKE_TIMEOUT);
	if (err)
		fprintf(stderr, "reattach: %d %s\n", err, shoal_last_error());
	CHECK_EQ(err, 0);
	CHECK_EQ(m.publisher, 1u);
	CHECK_EQ(m.seq, 0u);
	CHECK_EQ(shoal_sub_release(s, &m), 0);
	shoal_sub_get_stats(s, &st);
	CHECK_EQ(st.publishers, 1u);
	CHECK_EQ(st.reattached, 1u);
	shoal_sub_close(s);
	shoal_pub_destroy(b);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

static int expect_einval(struct shoal_pub_options *o, const char *field)
{
	struct shoal_pub *p = NULL;

	CHECK_EQ(shoal_pub_create("multi/lim", o, &p), -EINVAL);
	CHECK(p == NULL);
	if (!strstr(shoal_last_error(), field)) {
		fprintf(stderr, "detail '%s' does not name %s\n",
			shoal_last_error(), field);
		return TEST_FAIL;
	}
	return TEST_PASS;
}

static int test_limits(void)
{
	struct shoal_registry *r;
	struct shoal_pub_options o;
	struct shoal_pub_stats ps;
	struct shoal_sub_options so;
	struct shoal_pub *a, *b, *c, *d;
	struct shoal_sub *s;
	pid_t pid;
	int st;

	reset_ctl();
	CHECK_EQ(test_registry_open(path, &r), 0);
	pub_opts(r, &o);
	o.max_publishers = 2;
	/* A child takes slot 0, and is killed: its slot is reused. */
	pid = psu_fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct shoal_registry *cr;
		struct shoal_pub *p;

		if (test_registry_open(path, &cr))
			_exit(1);
		o.registry = cr;
		if (shoal_pub_create("multi/lim", &o, &p))
			_exit(2);
		atomic_store(&ctl->pubs_up, 1);
		pause();
		_exit(0);
	}
	CHECK(PSU_WAIT(atomic_load(&ctl->pubs_up) == 1, 60));
	CHECK_EQ(shoal_pub_create("multi/lim", &o, &a), 0);
	shoal_pub_get_stats(a, &ps);
	CHECK_EQ(ps.slot, 1u);
	/* Both slots live: -EBUSY. */
	CHECK_EQ(shoal_pub_create("multi/lim", &o, &b), -EBUSY);
	CHECK(strstr(shoal_last_error(), "max_publishers") != NULL);
	/* Options that must agree. */
	o.delivery = SHOAL_DELIVERY_LOSSY;
	CHECK_EQ(expect_einval(&o, "delivery"), TEST_PASS);
	pub_opts(r, &o);
	o.max_publishers = 2;
	o.max_payload = MAX_LEN * 2;
	CHECK_EQ(expect_einval(&o, "max_payload"), TEST_PASS);
	pub_opts(r, &o);
	o.max_publishers = 2;
	o.user_header_size = 0;
	CHECK_EQ(expect_einval(&o, "user_header_size"), TEST_PASS);
	pub_opts(r, &o);
	o.max_publishers = 2;
	o.flags = SHOAL_PUB_TIMESTAMP;
	CHECK_EQ(expect_einval(&o, "TIMESTAMP"), TEST_PASS);
	pub_opts(r, &o);
	o.max_publishers = 3;
	CHECK_EQ(expect_einval(&o, "max_publishers"), TEST_PASS);
	pub_opts(r, &o);
	o.max_publishers = SHOAL_PUB_PUBLISHERS_MAX + 1;
	CHECK_EQ(shoal_pub_create("multi/lim", &o, &b), -EINVAL);
	/* Slot names are the registry's. */
	pub_opts(r, &o);
	o.max_publishers = 2;
	CHECK_EQ(shoal_pub_create("multi/lim//1", &o, &b), -EINVAL);
	shoal_sub_options_init(&so);
	so.registry = r;
	CHECK_EQ(shoal_sub_open("multi/lim//1", &so, &s), -EINVAL);

	/* The holder of slot 0 dies: the next publisher takes slot 0 (a
	 * new epoch), and the service is full again. */
	kill(pid, SIGKILL);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK_EQ(shoal_pub_create("multi/lim", &o, &b), 0);
	shoal_pub_get_stats(b, &ps);
	CHECK_EQ(ps.slot, 0u);
	CHECK_EQ(shoal_pub_create("multi/lim", &o, &c), -EBUSY);
	/* Capacity is per ring: a publisher with another one joins. */
	shoal_pub_destroy(a);
	o.capacity = 128;
	CHECK_EQ(shoal_pub_create("multi/lim", &o, &c), 0);
	shoal_pub_get_stats(c, &ps);
	CHECK_EQ(ps.slot, 1u);
	/* Inspect: the name is slot 0's ring, "name//1" slot 1's. */
	{
		struct shoal_pubsub_info info;

		CHECK_EQ(shoal_pubsub_inspect(r, "multi/lim", &info, NULL, 0),
			 0);
		CHECK_EQ(info.max_publishers, 2u);
		CHECK_EQ(info.publishers, 2u);
		CHECK_EQ(info.pub.slot, 0u);
		CHECK_EQ(info.capacity, 64u);
		CHECK_EQ(shoal_pubsub_inspect(r, "multi/lim//1", &info, NULL,
					      0),
			 0);
		CHECK_EQ(info.pub.slot, 1u);
		CHECK_EQ(info.publishers, 2u);
		CHECK_EQ(info.capacity, 128u);
	}

	/* One publisher (max_publishers 1) and a service of several do
	 * not mix, either way. */
	pub_opts(r, &o);
	o.max_publishers = 1;
	CHECK_EQ(shoal_pub_create("multi/one", &o, &d), 0);
	o.max_publishers = 2;
	CHECK_EQ(shoal_pub_create("multi/one", &o, &a), -EINVAL);
	CHECK(strstr(shoal_last_error(), "max_publishers") != NULL);
	o.max_publishers = 1;
	CHECK_EQ(shoal_pub_create("multi/lim", &o, &a), -EEXIST);

	shoal_pub_destroy(d);
	shoal_pub_destroy(c);
	shoal_pub_destroy(b);
	shoal_registry_destroy(r);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	char top[PATH_MAX];
	int rc;

	messages = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 20000;
	psu_watchdog(290);
	ctl = psu_shared(sizeof(*ctl));
	if (!ctl ||
	    test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	rc = test_limits();
	if (rc == TEST_PASS)
		rc = test_one_process();
	if (rc == TEST_PASS)
		rc = test_late();
	if (rc == TEST_PASS)
		rc = test_streams();
	if (rc == TEST_PASS)
		rc = test_kill();
	if (rc == TEST_PASS)
		rc = test_stopped();
	if (rc == TEST_PASS)
		rc = test_race();
	if (rc == TEST_PASS)
		rc = test_busy_newcomer();
	test_remove_tree(top);
	return rc;
}
