/* shoal-test: label=multiproc timeout=180 args=$<TARGET_FILE:shoal-tool> */
/*
 * The shoal tool and the queue, request/response and event patterns, run
 * as a shell user would: child processes create a queue (MPMC and SPSC),
 * an rpc server with a client, and an event service with a listener,
 * using the library, and leave known counters behind; then list, list
 * --json, info and info --json must show each with its pattern, layout,
 * counters and participants. Then push/pop, notify/wait and call, bad
 * usages (exit 2), and bench --quick with its queue and rpc figures.
 * argv[1] is the tool. Checks behaviour, never timings: every wait is for
 * an event, bounded only so that a bug fails instead of hanging.
 */
#include <ctype.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>

#include <shoal.h>

#include "harness.h"
#include "registry_util.h"

#define WAIT_S 20
#include "cli_util.h"
#define BENCH_WAIT_S 70
#define KIDS_MAX 16

static char path[PATH_MAX], top[PATH_MAX];
static struct shoal_registry *reg;

/* What the children say to us: each sets its flag once it is ready. */
struct shared {
	_Atomic int ready[KIDS_MAX];
	_Atomic int failed;
};
static struct shared *sh;
static pid_t kids[KIDS_MAX];

static void kill_kids(void)
{
	for (int i = 0; i < KIDS_MAX; i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = 0;
		}
}

/* Runs @fn in child @slot; it sets ready[slot] and then waits to die. */
static pid_t spawn(int slot, int (*fn)(int slot))
{
	pid_t parent = getpid(), pid = fork();

	if (pid != 0) {
		kids[slot] = pid;
		return pid;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	if (fn(slot)) {
		fprintf(stderr, "child %d: %s\n", slot, shoal_last_error());
		atomic_store(&sh->failed, 1);
		_exit(1);
	}
	for (;;)
		pause();
}

/* Waits until child @slot is ready: 0, or -1 if it failed or WAIT_S. */
static int wait_ready(int slot)
{
	int64_t end = now_ms() + WAIT_S * 1000;

	while (!atomic_load(&sh->ready[slot])) {
		if (atomic_load(&sh->failed) || now_ms() > end) {
			fprintf(stderr, "child %d never got ready\n", slot);
			return -1;
		}
		usleep(1000);
	}
	return 0;
}

/* --- the children: services with known counters */

enum {
	KID_QUEUE,
	KID_SPSC,
	KID_SERVER,
	KID_CLIENT,
	KID_EVENT,
	KID_LISTENER,
	KID_ECHO,
	KID_EV2,
	KID_WORK,
	KID_MUTE,
};

/* Queue t/q: 5 pushed, 2 popped, so depth 3. */
static int queue_owner(int slot)
{
	struct shoal_queue_options o;
	struct shoal_queue *q;
	char buf[128];

	shoal_queue_options_init(&o);
	o.capacity = 64;
	o.max_message = 128;
	o.max_participants = 8;
	if (shoal_queue_create("t/q", &o, &q))
		return -1;
	for (int i = 0; i < 5; i++) {
		snprintf(buf, sizeof(buf), "m%d", i);
		if (shoal_queue_write(q, buf, (uint32_t)strlen(buf)))
			return -1;
	}
	for (int i = 0; i < 2; i++)
		if (shoal_queue_read(q, buf, sizeof(buf), 0) != 2)
			return -1;
	atomic_store(&sh->ready[slot], 1);
	return 0;
}

/* SPSC queue t/qs, its creator the producer: one message waits. */
static int spsc_owner(int slot)
{
	struct shoal_queue_options o;
	struct shoal_queue *q;

	shoal_queue_options_init(&o);
	o.capacity = 16;
	o.max_message = 32;
	o.flags = SHOAL_QUEUE_SPSC;
	o.role = SHOAL_QUEUE_PRODUCER;
	if (shoal_queue_create("t/qs", &o, &q) || shoal_queue_write(q, "x", 1))
		return -1;
	atomic_store(&sh->ready[slot], 1);
	return 0;
}

/* Server @name answering each request with "re:" and the request. */
static int serve(const char *name, int slot)
{
	struct shoal_rpc_server_options o;
	struct shoal_rpc_server *srv;

	shoal_rpc_server_options_init(&o);
	o.max_clients = 4;
	o.max_request = 256;
	o.max_response = 512;
	if (shoal_rpc_server_create(name, &o, &srv))
		return -1;
	atomic_store(&sh->ready[slot], 1);
	for (;;) {
		struct shoal_request req;
		char buf[600];
		uint32_t n;
		int err = shoal_rpc_server_take(srv, &req, 100000000);

		if (err == -ETIMEDOUT || err == -EAGAIN)
			continue;
		if (err)
			return -1;
		n = req.len < 256 ? req.len : 256;
		memcpy(buf, "re:", 3);
		memcpy(buf + 3, req.data, n);
		shoal_rpc_server_release(srv, &req);
		shoal_rpc_server_write(srv, &req, buf, n + 3, 0);
	}
}

static int rpc_server(int slot)
{
	return serve("t/rpc", slot);
}

static int echo_server(int slot)
{
	return serve("t/echo", slot);
}

/* A client of t/rpc that made 3 calls and stays. */
static int rpc_client(int slot)
{
	struct shoal_rpc_client *cli;
	char buf[512];

	if (shoal_rpc_client_open("t/rpc", NULL, &cli))
		return -1;
	for (int i = 0; i < 3; i++)
		if (shoal_rpc_client_call(cli, "ping", 4, buf, sizeof(buf),
					  NULL,
					  (int64_t)WAIT_S * 1000000000) != 7 ||
		    memcmp(buf, "re:ping", 7))
			return -1;
	atomic_store(&sh->ready[slot], 1);
	return 0;
}

/*
 * Event service t/ev, 16 ids. Once its listener (interested in 1, 2, 3)
 * is ready, notifies 2, 2, 3 and 9: 4 notifies, 2 pending bits set (the
 * second 2 coalesces, nobody wants 9).
 */
static int event_owner(int slot)
{
	struct shoal_event_options o;
	struct shoal_event *ev;
	int64_t end;

	shoal_event_options_init(&o);
	o.ids = 16;
	o.max_listeners = 8;
	if (shoal_event_create("t/ev", &o, &ev))
		return -1;
	atomic_store(&sh->ready[slot], 1);
	end = now_ms() + WAIT_S * 1000;
	while (!atomic_load(&sh->ready[KID_LISTENER]))
		if (now_ms() > end)
			return -1;
		else
			usleep(1000);
	if (shoal_event_notify(ev, 2) != 1 || shoal_event_notify(ev, 2) != 1 ||
	    shoal_event_notify(ev, 3) != 1 || shoal_event_notify(ev, 9) != 0)
		return -1;
	atomic_store(&sh->ready[slot], 2);
	return 0;
}

static int event_listener(int slot)
{
	struct shoal_event_set set;
	struct shoal_event *ev;

	if (shoal_event_open("t/ev", NULL, &ev))
		return -1;
	shoal_event_set_clear(&set);
	shoal_event_set_add(&set, 1);
	shoal_event_set_add(&set, 2);
	shoal_event_set_add(&set, 3);
	if (shoal_event_listen(ev, &set))
		return -1;
	atomic_store(&sh->ready[slot], 1);
	return 0;
}

/* Event service t/ev2 for notify/wait, 8 ids, nobody listening. */
static int event2_owner(int slot)
{
	struct shoal_event_options o;
	struct shoal_event *ev;

	shoal_event_options_init(&o);
	o.ids = 8;
	if (shoal_event_create("t/ev2", &o, &ev))
		return -1;
	atomic_store(&sh->ready[slot], 1);
	return 0;
}

/* Queue t/work for push and pop: 8 cells of up to 64 bytes, empty. */
static int work_owner(int slot)
{
	struct shoal_queue_options o;
	struct shoal_queue *q;

	shoal_queue_options_init(&o);
	o.capacity = 8;
	o.max_message = 64;
	if (shoal_queue_create("t/work", &o, &q))
		return -1;
	atomic_store(&sh->ready[slot], 1);
	return 0;
}

/* Server t/mute: takes no request, so calls time out. */
static int mute_server(int slot)
{
	struct shoal_rpc_server *srv;

	if (shoal_rpc_server_create("t/mute", NULL, &srv))
		return -1;
	atomic_store(&sh->ready[slot], 1);
	return 0;
}

/* Waits until @p, a tool process, takes part in queue @name. */
static int wait_queue_participants(const char *name, uint32_t n)
{
	struct shoal_queue_stats st;
	int64_t end = now_ms() + WAIT_S * 1000;

	while (now_ms() < end) {
		if (!shoal_queue_inspect(reg, name, &st) &&
		    st.participants == n)
			return 0;
		usleep(2000);
	}
	fprintf(stderr, "%s never had %u participants\n", name, n);
	return -1;
}

/* Waits until @pid listens to event service @name. */
static int wait_listener(const char *name, pid_t pid)
{
	struct shoal_event_listener_info l[8];
	struct shoal_event_info info;
	int64_t end = now_ms() + WAIT_S * 1000;

	while (now_ms() < end) {
		int n = shoal_event_inspect(reg, name, &info, l, 8);

		for (int i = 0; i < n && i < 8; i++)
			if (l[i].pid == pid)
				return 0;
		usleep(2000);
	}
	fprintf(stderr, "%d never listened to %s\n", (int)pid, name);
	return -1;
}

/* Waits until @pid is a client of rpc service @name. */
static int wait_client(const char *name, pid_t pid)
{
	struct shoal_rpc_client_info c[8];
	struct shoal_rpc_info info;
	int64_t end = now_ms() + WAIT_S * 1000;

	while (now_ms() < end) {
		int n = shoal_rpc_inspect(reg, name, &info, c, 8);

		for (int i = 0; i < n && i < 8; i++)
			if (c[i].pid == pid)
				return 0;
		usleep(2000);
	}
	fprintf(stderr, "%d never joined %s\n", (int)pid, name);
	return -1;
}

/* --- the cases */

static int test_list(void)
{
	static struct proc p;

	CHECK_EQ(run(&p, "list", NULL), 0);
	/* Name column 32 wide, then the pattern. */
	CHECK(has(p.out_buf, "\nt/q                              queue "));
	CHECK(has(p.out_buf, "\nt/qs                             queue "));
	CHECK(has(p.out_buf, "\nt/rpc                            rpc "));
	CHECK(has(p.out_buf, "\nt/ev                             event "));

	CHECK_EQ(run(&p, "list", "--json", NULL), 0);
	CHECK(json_valid(p.out_buf));
	CHECK(has(p.out_buf, "{\"name\": \"t/q\", \"pattern\": \"queue\", "));
	CHECK(has(p.out_buf, "{\"name\": \"t/qs\", \"pattern\": \"queue\", "));
	CHECK(has(p.out_buf, "{\"name\": \"t/rpc\", \"pattern\": \"rpc\", "));
	CHECK(has(p.out_buf, "{\"name\": \"t/ev\", \"pattern\": \"event\", "));
	return TEST_PASS;
}

static int test_info_queue(void)
{
	static struct proc p;

	CHECK_EQ(run(&p, "info", "t/q", NULL), 0);
	CHECK(has(p.out_buf, "pattern:            queue\n"));
	CHECK_EQ(field(p.out_buf, "owner pid:"), kids[KID_QUEUE]);
	CHECK(has(p.out_buf, "ring:             mpmc\n"));
	CHECK_EQ(field(p.out_buf, "capacity:"), 64);
	CHECK_EQ(field(p.out_buf, "max message:"), 128);
	CHECK_EQ(field(p.out_buf, "max participants:"), 8);
	CHECK_EQ(field(p.out_buf, "participants:    "), 1);
	CHECK_EQ(field(p.out_buf, "enqueued:"), 5);
	CHECK_EQ(field(p.out_buf, "dequeued:"), 2);
	CHECK_EQ(field(p.out_buf, "depth:"), 3);
	CHECK_EQ(field(p.out_buf, "skipped:"), 0);
	CHECK_EQ(field(p.out_buf, "abandoned:"), 0);

	CHECK_EQ(run(&p, "info", "t/q", "--json", NULL), 0);
	CHECK(json_valid(p.out_buf));
	CHECK(has(p.out_buf, "\"pattern\": \"queue\""));
	CHECK(has(p.out_buf, "\"layout\": {\"ring\": \"mpmc\", "
			     "\"capacity\": 64, \"max_message\": 128, "
			     "\"max_participants\": 8}"));
	CHECK(has(p.out_buf, "\"queue\": {\"participants\": 1, "
			     "\"enqueued\": 5, \"dequeued\": 2, \"depth\": 3, "
			     "\"skipped\": 0, \"abandoned\": 0}"));

	CHECK_EQ(run(&p, "info", "t/qs", NULL), 0);
	CHECK(has(p.out_buf, "ring:             spsc\n"));
	CHECK_EQ(field(p.out_buf, "capacity:"), 16);
	CHECK_EQ(field(p.out_buf, "max message:"), 32);
	CHECK_EQ(field(p.out_buf, "depth:"), 1);
	CHECK_EQ(run(&p, "info", "t/qs", "--json", NULL), 0);
	CHECK(json_valid(p.out_buf));
	CHECK(has(p.out_buf, "\"ring\": \"spsc\""));
	CHECK(has(p.out_buf, "\"enqueued\": 1, \"dequeued\": 0, \"depth\": 1"));
	return TEST_PASS;
}

static int test_info_rpc(void)
{
	static struct proc p;
	char want[128];
	const char *row;
	unsigned line;
	int pid;
	unsigned long long sent, received;

	CHECK_EQ(run(&p, "info", "t/rpc", NULL), 0);
	CHECK(has(p.out_buf, "pattern:            rpc\n"));
	CHECK_EQ(field(p.out_buf, "owner pid:"), kids[KID_SERVER]);
	CHECK_EQ(field(p.out_buf, "max clients:"), 4);
	CHECK_EQ(field(p.out_buf, "max request:"), 256);
	CHECK_EQ(field(p.out_buf, "max response:"), 512);
	CHECK(field(p.out_buf, "request slots:") > 0);
	CHECK(field(p.out_buf, "response slots:") > 0);
	CHECK(field(p.out_buf, "server bytes:") > 0);
	CHECK(field(p.out_buf, "client bytes:") > 0);
	CHECK_EQ(field(p.out_buf, "requests:"), 3);
	CHECK_EQ(field(p.out_buf, "responses:"), 3);
	CHECK_EQ(field(p.out_buf, "malformed:"), 0);
	CHECK_EQ(field(p.out_buf, "clients:            "), 1);
	row = strstr(p.out_buf, "WAKEUPS\n");
	CHECK(row != NULL);
	CHECK_EQ(sscanf(row + 8, "%u %d %llu %llu", &line, &pid, &sent,
			&received),
		 4);
	CHECK_EQ(pid, kids[KID_CLIENT]);
	CHECK_EQ(sent, 3);
	CHECK_EQ(received, 3);

	CHECK_EQ(run(&p, "info", "t/rpc", "--json", NULL), 0);
	CHECK(json_valid(p.out_buf));
	CHECK(has(p.out_buf, "\"pattern\": \"rpc\""));
	CHECK(has(p.out_buf, "\"layout\": {\"max_clients\": 4, "
			     "\"max_request\": 256, \"max_response\": 512, "
			     "\"request_capacity\": "));
	CHECK(has(p.out_buf, "\"server\": {\"requests\": 3, "
			     "\"responses\": 3, \"joined\": "));
	CHECK(has(p.out_buf, "\"client_count\": 1,"));
	snprintf(want, sizeof(want),
		 "{\"line\": %u, \"pid\": %d, \"sent\": 3, \"received\": 3, ",
		 line, (int)kids[KID_CLIENT]);
	CHECK(has(p.out_buf, want));
	return TEST_PASS;
}

static int test_info_event(void)
{
	static struct proc p;
	char want[160];
	const char *row;
	unsigned idx, interest, pending;
	int pid;
	unsigned long long delivered;

	CHECK_EQ(run(&p, "info", "t/ev", NULL), 0);
	CHECK(has(p.out_buf, "pattern:            event\n"));
	CHECK_EQ(field(p.out_buf, "owner pid:"), kids[KID_EVENT]);
	CHECK_EQ(field(p.out_buf, "ids:"), 16);
	CHECK_EQ(field(p.out_buf, "max listeners:"), 8);
	CHECK(field(p.out_buf, "line stride:") > 0);
	CHECK_EQ(field(p.out_buf, "notifies:"), 4);
	CHECK_EQ(field(p.out_buf, "delivered:"), 2);
	CHECK_EQ(field(p.out_buf, "listeners:          "), 1);
	row = strstr(p.out_buf, "SLEEPS\n");
	CHECK(row != NULL);
	CHECK_EQ(sscanf(row + 7, "%u %d %u %u %llu", &idx, &pid, &interest,
			&pending, &delivered),
		 5);
	CHECK_EQ(pid, kids[KID_LISTENER]);
	CHECK_EQ(interest, 3);
	CHECK_EQ(pending, 2);
	CHECK_EQ(delivered, 2);

	CHECK_EQ(run(&p, "info", "t/ev", "--json", NULL), 0);
	CHECK(json_valid(p.out_buf));
	CHECK(has(p.out_buf, "\"pattern\": \"event\""));
	CHECK(has(p.out_buf, "\"layout\": {\"ids\": 16, \"max_listeners\": 8, "
			     "\"line_stride\": "));
	CHECK(has(p.out_buf, "\"notifiers\": {\"notifies\": 4, "
			     "\"delivered\": 2, \"wakeups\": "));
	CHECK(has(p.out_buf, "\"listener_count\": 1,"));
	snprintf(want, sizeof(want),
		 "{\"index\": %u, \"pid\": %d, \"interest\": 3, "
		 "\"pending\": 2, \"delivered\": 2, ",
		 idx, (int)kids[KID_LISTENER]);
	CHECK(has(p.out_buf, want));
	return TEST_PASS;
}

/* push and pop: FIFO through the queue, timeouts, and the queue gone. */
static int test_push_pop(void)
{
	static struct proc push, pop;
	char big[100];

	CHECK_EQ(start(&push, 1, "push", "t/work", NULL), 0);
	CHECK_EQ(feed(&push, "alpha\nbeta\ngamma\n"), 0);
	CHECK_EQ(finish(&push), 0);
	CHECK(has(push.err_buf, "shoal: push: pushed 3 messages"));
	CHECK_EQ(push.out_len, 0);
	CHECK_EQ(run(&pop, "info", "t/work", NULL), 0);
	CHECK_EQ(field(pop.out_buf, "depth:"), 3);

	CHECK_EQ(run(&pop, "pop", "t/work", "--count", "2", NULL), 0);
	CHECK(!strcmp(pop.out_buf, "alpha\nbeta\n"));
	CHECK_EQ(run(&pop, "pop", "t/work", "--count", "2", "--timeout", "0.3",
		     NULL),
		 3);
	CHECK(!strcmp(pop.out_buf, "gamma\n"));
	CHECK(has(pop.err_buf, "no message in 0.3 s"));

	/* Full (8 cells): the ninth line finds no room. */
	CHECK_EQ(start(&push, 1, "push", "t/work", "--timeout", "0.3", NULL),
		 0);
	CHECK_EQ(feed(&push, "1\n2\n3\n4\n5\n6\n7\n8\n9\n"), 0);
	CHECK_EQ(finish(&push), 3);
	CHECK(has(push.err_buf, "no room in 0.3 s"));
	CHECK(has(push.err_buf, "pushed 8 messages"));
	CHECK_EQ(run(&pop, "pop", "t/work", "--count", "8", NULL), 0);
	CHECK(!strcmp(pop.out_buf, "1\n2\n3\n4\n5\n6\n7\n8\n"));

	/* A line longer than max_message (64): a failure, nothing sent. */
	memset(big, 'x', sizeof(big) - 2);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ(start(&push, 1, "push", "t/work", NULL), 0);
	CHECK_EQ(feed(&push, big), 0);
	CHECK_EQ(finish(&push), 1);
	CHECK(has(push.err_buf, "pushed 0 messages"));

	/* Binary as hex; --count ends push. */
	CHECK_EQ(start(&push, 1, "push", "t/work", "--count", "1", NULL), 0);
	CHECK_EQ(feed(&push, "\x01\xff\n"), 0);
	CHECK_EQ(finish(&push), 0);
	CHECK_EQ(run(&pop, "pop", "t/work", "--count", "1", NULL), 0);
	CHECK(!strcmp(pop.out_buf, "01ff\n"));

	CHECK_EQ(run(&pop, "pop", "t/none", NULL), 1);
	CHECK(has(pop.err_buf, "shoal: pop: no such service 't/none'"));
	CHECK_EQ(run(&pop, "pop", "t/ev", NULL), 1);

	/* The creator dies while pop waits: 4. */
	CHECK_EQ(start(&pop, 0, "pop", "t/work", NULL), 0);
	CHECK_EQ(wait_queue_participants("t/work", 2), 0);
	kill(kids[KID_WORK], SIGKILL);
	waitpid(kids[KID_WORK], NULL, 0);
	kids[KID_WORK] = 0;
	CHECK_EQ(finish(&pop), 4);
	CHECK(has(pop.err_buf, "shoal: pop: queue gone"));
	return TEST_PASS;
}

/* notify and wait: an id reaches its waiter, timeouts, the service gone. */
static int test_notify_wait(void)
{
	static struct proc w, n;

	CHECK_EQ(start(&w, 0, "wait", "t/ev2", "1", "5", NULL), 0);
	CHECK_EQ(wait_listener("t/ev2", w.pid), 0);
	CHECK_EQ(run(&n, "notify", "t/ev2", "5", NULL), 0);
	CHECK(has(n.err_buf, "shoal: notify: id 5: 1 listener signalled"));
	CHECK_EQ(n.out_len, 0);
	CHECK_EQ(finish(&w), 0);
	CHECK(!strcmp(w.out_buf, "5\n"));

	CHECK_EQ(start(&w, 0, "wait", "t/ev2", "1", "2", "--count", "2", NULL),
		 0);
	CHECK_EQ(wait_listener("t/ev2", w.pid), 0);
	CHECK_EQ(run(&n, "notify", "t/ev2", "3", "2", "1", NULL), 0);
	CHECK(has(n.err_buf, "id 3: 0 listeners signalled"));
	CHECK_EQ(finish(&w), 0);
	/* One wait may report both, or each its own, 2 first. */
	CHECK(!strcmp(w.out_buf, "1\n2\n") || !strcmp(w.out_buf, "2\n1\n"));

	CHECK_EQ(run(&w, "wait", "t/ev2", "4", "--timeout", "0.3", NULL), 3);
	CHECK(has(w.err_buf, "nothing in 0.3 s"));
	CHECK_EQ(run(&n, "notify", "t/ev2", "8", NULL), 2);
	CHECK(has(n.err_buf, "id 8: the service has ids 0..7"));
	CHECK_EQ(run(&w, "wait", "t/ev2", "8", NULL), 2);
	CHECK_EQ(run(&n, "notify", "t/none", "1", NULL), 1);
	CHECK_EQ(run(&n, "notify", "t/q", "1", NULL), 1);

	/* The creator dies while wait waits: 4. */
	CHECK_EQ(start(&w, 0, "wait", "t/ev2", "6", NULL), 0);
	CHECK_EQ(wait_listener("t/ev2", w.pid), 0);
	kill(kids[KID_EV2], SIGKILL);
	waitpid(kids[KID_EV2], NULL, 0);
	kids[KID_EV2] = 0;
	CHECK_EQ(finish(&w), 4);
	CHECK(has(w.err_buf, "shoal: wait: service gone"));
	return TEST_PASS;
}

/* call: a response per line, in order; timeout; the server gone. */
static int test_call(void)
{
	static struct proc c;

	CHECK_EQ(start(&c, 1, "call", "t/echo", NULL), 0);
	CHECK_EQ(feed(&c, "one\ntwo\n"), 0);
	CHECK(expect_out(&c, "re:one\nre:two\n"));
	CHECK_EQ(feed(&c, "three"), 0);
	CHECK_EQ(finish(&c), 0);
	CHECK(!strcmp(c.out_buf, "re:one\nre:two\nre:three\n"));

	CHECK_EQ(start(&c, 1, "call", "t/mute", "--timeout", "0.3", NULL), 0);
	CHECK_EQ(feed(&c, "hello\n"), 0);
	CHECK_EQ(finish(&c), 3);
	CHECK(has(c.err_buf, "no response in 0.3 s"));
	CHECK_EQ(c.out_len, 0);

	CHECK_EQ(run(&c, "call", "t/none", NULL), 1);
	CHECK(has(c.err_buf, "shoal: call: no such service 't/none'"));

	/* The server dies while call waits for a line: 4 on the next. */
	CHECK_EQ(start(&c, 1, "call", "t/echo", NULL), 0);
	CHECK_EQ(wait_client("t/echo", c.pid), 0);
	kill(kids[KID_ECHO], SIGKILL);
	waitpid(kids[KID_ECHO], NULL, 0);
	kids[KID_ECHO] = 0;
	CHECK_EQ(feed(&c, "anyone?\n"), 0);
	finish(&c);
	CHECK(exited_with(&c, 4));
	CHECK(has(c.err_buf, "shoal: call: server gone"));
	return TEST_PASS;
}

/* bench --quick: the queue and rpc figures beside pub/sub's. */
static int test_bench(void)
{
	static const char *const names[] = { "queue-rtt", "queue-tput",
					     "rpc-poll", "rpc-block" };
	static struct proc b;
	char want[128];

	/*
	 * Busy-polling peers slow down a lot on a loaded machine (a round
	 * trip may cost a scheduler tick): a bound for hangs only.
	 */
	CHECK_EQ(start(&b, 0, "bench", "--quick", NULL), 0);
	CHECK_EQ(finish_within(&b, BENCH_WAIT_S), 0);
	CHECK(has(b.out_buf, "\nrtt-poll    pubsub "));
	CHECK(has(b.out_buf, "\nqueue-rtt   queue   round trip, 8 B "));
	CHECK(has(b.out_buf, "\nqueue-tput  queue   one way, 64 B "));
	CHECK(has(b.out_buf, "\nrpc-poll    rpc     round trip, 8 B "));
	CHECK(has(b.out_buf, "\nrpc-block   rpc     round trip, 8 B "));
	CHECK_EQ(count_of(b.out_buf, " p50 "), 5);
	CHECK_EQ(count_of(b.out_buf, " msg/s  "), 2);
	CHECK(strstr(b.out_buf, "FAILED") == NULL);

	CHECK_EQ(start(&b, 0, "bench", "--quick", "--json", NULL), 0);
	CHECK_EQ(finish_within(&b, BENCH_WAIT_S), 0);
	CHECK(json_valid(b.out_buf));
	CHECK_EQ(count_of(b.out_buf, "\"ok\": true"), 7);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(want, sizeof(want),
			 "{\"name\": \"%s\", \"pattern\": ", names[i]);
		CHECK(has(b.out_buf, want));
	}
	CHECK(has(b.out_buf, "\"name\": \"rpc-block\", \"pattern\": \"rpc\", "
			     "\"what\": \"round trip, 8 B\", \"wait\": "
			     "\"block\", \"ok\": true, \"p50_ns\": "));
	/* queue-tput: every message arrived intact. */
	{
		const char *q = strstr(b.out_buf, "\"name\": \"queue-tput\"");

		CHECK(q != NULL);
		CHECK(field(q, "\"sent\": ") > 0);
		CHECK_EQ(field(q, "\"sent\": "), field(q, "\"received\": "));
		CHECK_EQ(field(q, "\"bad\": "), 0);
	}
	CHECK_EQ(run(&b, "list", NULL), 0);
	CHECK(strstr(b.out_buf, "shoal-bench/") == NULL);
	return TEST_PASS;
}

static int test_usage(void)
{
	static const char *const bad[][6] = {
		{ "info" },
		{ "info", "t/q", "t/rpc" },
		{ "info", "t/q", "--bogus" },
		{ "info", "t/q", "--json=1" },
		{ "list", "t/q" },
		{ "bench", "--quick", "extra" },
		{ "bench", "--json", "--nope" },
		{ "push" },
		{ "push", "t/work", "--count", "0" },
		{ "push", "t/work", "--timeout", "0" },
		{ "pop", "t/work", "--count", "x" },
		{ "pop", "t/work", "--timeout", "-1" },
		{ "pop", "a", "b" },
		{ "notify", "t/ev2" },
		{ "notify", "t/ev2", "x" },
		{ "notify", "t/ev2", "-1" },
		{ "notify", "t/ev2", "1024" },
		{ "wait", "t/ev2" },
		{ "wait", "t/ev2", "1", "--count", "0" },
		{ "wait", "t/ev2", "1", "--bogus" },
		{ "call" },
		{ "call", "t/echo", "--timeout", "never" },
	};
	static const char *const cmds[] = { "push", "pop",  "notify",
					    "wait", "call", "info" };
	char want[64];
	static struct proc p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (run(&p, bad[i][0], bad[i][1], bad[i][2], bad[i][3],
			bad[i][4], NULL) != 2) {
			fprintf(stderr, "'%s %s %s': exit %d, want 2\n",
				bad[i][0], bad[i][1] ? bad[i][1] : "",
				bad[i][2] ? bad[i][2] : "", p.status);
			return TEST_FAIL;
		}
		CHECK(p.out_len == 0);
		CHECK(!strncmp(p.err_buf, "shoal: ", 7));
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		CHECK_EQ(run(&p, cmds[i], "--help", NULL), 0);
		snprintf(want, sizeof(want), "usage: shoal %s ", cmds[i]);
		CHECK(!strncmp(p.out_buf, want, strlen(want)));
		CHECK(has(p.out_buf, "exit status: 0"));
		CHECK_EQ(p.err_len, 0);
		CHECK_EQ(run(&p, "--help", NULL), 0);
		snprintf(want, sizeof(want), "\n  %s ", cmds[i]);
		CHECK(has(p.out_buf, want));
	}
	CHECK_EQ(run(&p, "info", "t/none", NULL), 1);
	CHECK(has(p.err_buf, "shoal: info: no such service 't/none'"));
	CHECK_EQ(run(&p, "info", "--help", NULL), 0);
	CHECK(has(p.out_buf, "\"queue\" {participants, enqueued"));
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return TEST_SKIP;
	tool = argv[1];
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	setenv("SHOAL_DIR", path, 1);
	if (test_registry_open(path, &reg))
		return TEST_FAIL;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return TEST_FAIL;
	signal(SIGPIPE, SIG_IGN);
	atexit(kill_kids);
	atexit(kill_leftovers);

	spawn(KID_QUEUE, queue_owner);
	spawn(KID_SPSC, spsc_owner);
	spawn(KID_SERVER, rpc_server);
	spawn(KID_EVENT, event_owner);
	spawn(KID_ECHO, echo_server);
	spawn(KID_EV2, event2_owner);
	spawn(KID_WORK, work_owner);
	spawn(KID_MUTE, mute_server);
	if (wait_ready(KID_QUEUE) || wait_ready(KID_SPSC) ||
	    wait_ready(KID_SERVER) || wait_ready(KID_EVENT) ||
	    wait_ready(KID_ECHO) || wait_ready(KID_EV2) ||
	    wait_ready(KID_WORK) || wait_ready(KID_MUTE))
		return TEST_FAIL;
	spawn(KID_CLIENT, rpc_client);
	spawn(KID_LISTENER, event_listener);
	if (wait_ready(KID_CLIENT) || wait_ready(KID_LISTENER))
		return TEST_FAIL;
	while (atomic_load(&sh->ready[KID_EVENT]) != 2)
		if (atomic_load(&sh->failed))
			return TEST_FAIL;
		else
			usleep(1000);

	RUN(test_list);
	RUN(test_info_queue);
	RUN(test_info_rpc);
	RUN(test_info_event);
	RUN(test_usage);
	RUN(test_push_pop);
	RUN(test_notify_wait);
	RUN(test_call);
	RUN(test_bench);
	kill_kids();
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
