/* SPDX-License-Identifier: MIT */
/*
 * iceoryx 2.0 (Eclipse), through its C binding, for the side-by-side
 * comparison (shoal-bench --compare). The same method as shoal's pub/sub
 * figures (pubsub_figures.c), so the rows compare like with like:
 *
 * - rtt-poll-<size>/iceoryx: each process publishes on one service and
 *   subscribes to the other's. The pinger stamps a private buffer, loans a
 *   chunk (iox_pub_loan_chunk), copies the message in and publishes; the
 *   ponger takes the chunk (iox_sub_take_chunk in a loop until one comes),
 *   checks its length and stamp in place, loans a chunk of its own, copies
 *   the message into it, publishes, then releases what it took; the pinger
 *   takes the answer, copies it out, releases and checks it.
 * - rtt-block-<size>/iceoryx-waitset: the same, but each side sleeps in
 *   iox_ws_wait() on a WaitSet with its subscriber's HAS_DATA state
 *   attached before each take.
 * - tput-<size>/iceoryx: one way, reliable: the publisher waits for a slow
 *   subscriber (WAIT_FOR_CONSUMER) and the subscriber asks for it
 *   (BLOCK_PRODUCER), so nothing is dropped. The producer copies each
 *   message from a private buffer into a loaned chunk and publishes; the
 *   consumer busy-polls take, copies out, releases, checks. The subscriber
 *   queue holds bench_tput_capacity(size) chunks, or iceoryx's maximum if
 *   that is smaller.
 * - idle/iceoryx-waitset: the child sleeps in iox_ws_wait() for one message.
 *
 * Every message carries its sequence number; the receiver checks it and the
 * chunk's payload size (read from the chunk header), so a lost, repeated or
 * torn message fails the figure.
 *
 * The daemon. iceoryx needs its broker, iox-roudi, running before any
 * process can initialise its runtime. The first iceoryx figure of a run
 * starts one, in the bench process, with a configuration written into a
 * private directory (/tmp/shoal-iceoryx-XXXXXX) whose mempools fit the
 * figures' messages, and stops it when the bench exits (atexit, in the
 * process that started it only). It runs with PR_SET_PDEATHSIG, so it
 * also ends when the bench is killed. If an iox-roudi is already running,
 * the figures use it and leave it alone.
 *
 * Runtimes. iox_runtime_init() may be called once per process and leaves
 * threads behind, which fork() does not copy: the bench process never calls
 * it. Each figure runs in a fresh process (bench_run_isolated), whose pair
 * of sides each initialise their own runtime after the fork, named after
 * their pid, and release their ports and WaitSet before they end, so RouDi
 * does not accumulate ports over a long run. The process entry itself goes
 * when RouDi's monitoring sees the process gone (about 1.5 s): iceoryx
 * 2.0 deregisters a process only in its runtime's static destructor, which
 * the harness's _exit() skips (see iox_close). Service names carry the pid
 * of the figure's process.
 */
#include "figures.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef SHOAL_BENCH_ICEORYX

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iceoryx_binding_c/chunk.h>
#include <iceoryx_binding_c/enums.h>
#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/notification_info.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>
#include <iceoryx_binding_c/types.h>
#include <iceoryx_binding_c/wait_set.h>

/* The daemon. */

/* Where iceoryx 2.0 puts RouDi's Unix socket (IOX_UDS_SOCKET_PATH_PREFIX). */
#define ROUDI_SOCKET "/tmp/roudi"
/* How long RouDi may take to come up, and to go down. */
#define ROUDI_START_MS 5000
#define ROUDI_STOP_MS 5000
/*
 * How long after its last client ended RouDi has surely forgotten it: its
 * monitoring drops a process 1.5 s after the last keep-alive (sent every
 * 300 ms). Until then RouDi, told to stop, would send SIGTERM to the
 * client's pid, which may by then belong to another process, and it aborts
 * when the pid is gone (leaving its shared memory behind).
 */
#define ROUDI_FORGET_MS 2500

/*
 * Mempools: a chunk holds iceoryx's 40-byte chunk header and the payload,
 * so each pool's chunks are its largest message (64 B, 1 KiB, 64 KiB,
 * 1 MiB) plus the header, with slack. Counts cover the deepest queue (256
 * chunks of tput-8, tput-64 and tput-1k) and the chunks of a process RouDi
 * has not cleaned up yet. About 19 MiB of chunks, next to the ~64 MiB
 * management segment RouDi always maps.
 */
static const char roudi_config[] = "[general]\n"
				   "version = 1\n"
				   "\n"
				   "[[segment]]\n"
				   "\n"
				   "[[segment.mempool]]\n"
				   "size = 128\n"
				   "count = 1024\n"
				   "\n"
				   "[[segment.mempool]]\n"
				   "size = 2048\n"
				   "count = 1024\n"
				   "\n"
				   "[[segment.mempool]]\n"
				   "size = 66560\n"
				   "count = 128\n"
				   "\n"
				   "[[segment.mempool]]\n"
				   "size = 1049600\n"
				   "count = 8\n";

static struct {
	/* 0: not tried yet; 1: a RouDi is up; < 0: failed (errno), see note. */
	int state;
	pid_t owner;	      /* the process that started ours */
	pid_t pid;	      /* ours; 0 when we use another one */
	uint64_t last_use_ns; /* when the last iceoryx figure ended */
	char dir[64];
	char note[BENCH_NOTE_MAX];
} roudi;

static void roudi_path(char *out, size_t n, const char *file)
{
	snprintf(out, n, "%s/%s", roudi.dir, file);
}

static void roudi_remove_dir(void)
{
	char path[96];

	if (!roudi.dir[0])
		return;
	roudi_path(path, sizeof(path), "roudi.toml");
	unlink(path);
	roudi_path(path, sizeof(path), "roudi.log");
	unlink(path);
	rmdir(roudi.dir);
	roudi.dir[0] = '\0';
}

/* Reap our RouDi, waiting up to @ms ms; 1 once it is gone. */
static int roudi_reap(int ms, int *wstatus)
{
	int i;

	for (i = 0; i <= ms / 10; i++) {
		pid_t r = waitpid(roudi.pid, wstatus, WNOHANG);

		if (r == roudi.pid || (r < 0 && errno == ECHILD))
			return 1;
		if (i < ms / 10)
			usleep(10000);
	}
	return 0;
}

/* The last non-empty line of RouDi's log, for a note. */
static void roudi_log_tail(char *out, size_t n)
{
	char path[96], line[160];
	FILE *f;

	out[0] = '\0';
	roudi_path(path, sizeof(path), "roudi.log");
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			snprintf(out, n, "%.*s", (int)n - 1, line);
	}
	fclose(f);
}

/*
 * What RouDi leaves when it does not end cleanly: its socket and lock file
 * and its shared memory (management, and the user's payload segment).
 */
static void roudi_remove_leftovers(void)
{
	struct passwd *pw = getpwuid(geteuid());
	char path[160];

	unlink(ROUDI_SOCKET);
	unlink(ROUDI_SOCKET ".lock");
	shm_unlink("iceoryx_mgmt");
	if (pw && strlen(pw->pw_name) < sizeof(path) - 1) {
		snprintf(path, sizeof(path), "/%s", pw->pw_name);
		shm_unlink(path);
	}
}

static void roudi_stop(void)
{
	uint64_t now = bench_now_ns(),
		 forget = roudi.last_use_ns + ROUDI_FORGET_MS * 1000000ull;
	int wstatus = 0;

	/* Forked processes inherit the handler: only the starter stops it. */
	if (getpid() != roudi.owner || roudi.pid <= 0)
		return;
	if (roudi.last_use_ns && now < forget) {
		struct timespec ts = {
			.tv_sec = (time_t)((forget - now) / 1000000000u),
			.tv_nsec = (long)((forget - now) % 1000000000u)
		};

		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
	kill(roudi.pid, SIGTERM);
	if (!roudi_reap(ROUDI_STOP_MS, &wstatus)) {
		kill(roudi.pid, SIGKILL);
		roudi_reap(ROUDI_STOP_MS, &wstatus);
	}
	if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus)) {
		char tail[120];

		roudi_log_tail(tail, sizeof(tail));
		fprintf(stderr,
			"shoal-bench: iox-roudi did not stop cleanly (status "
			"0x%x): %s\n",
			(unsigned int)wstatus, tail);
		roudi_remove_leftovers();
	}
	roudi.pid = 0;
	roudi_remove_dir();
}

/* 1 if a live (not zombie) process named iox-roudi exists. */
static int roudi_running(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char path[64], stat[128];
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		const char *end;
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/stat", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		/* "pid (comm) state ..." */
		if (fgets(stat, sizeof(stat), f) &&
		    strstr(stat, " (iox-roudi) ") &&
		    (end = strrchr(stat, ')')) && end[1] == ' ')
			found = end[2] != 'Z' && end[2] != 'X';
		fclose(f);
	}
	closedir(d);
	return found;
}

/* 1 once something listens on RouDi's socket. */
static int roudi_listening(void)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ROUDI_SOCKET);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* @name in $PATH, into @out; 0 or -ENOENT. */
static int find_program(const char *name, char *out, size_t n)
{
	const char *p = getenv("PATH");
	const char *end;

	if (!p || !*p)
		p = "/usr/local/bin:/usr/bin:/bin";
	for (; *p; p = *end ? end + 1 : end) {
		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		if (end == p)
			continue;
		snprintf(out, n, "%.*s/%s", (int)(end - p), p, name);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(text);
	ssize_t w;

	if (fd < 0)
		return -errno;
	w = write(fd, text, len);
	close(fd);
	return w == (ssize_t)len ? 0 : -EIO;
}

/* In the forked child: become iox-roudi. */
static void __attribute__((noreturn))
roudi_exec(const struct bench_config *cfg, const char *prog, pid_t parent)
{
	char conf[96], log[96];
	int fd;

	/* Die with the bench, however it ends. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	roudi_path(conf, sizeof(conf), "roudi.toml");
	roudi_path(log, sizeof(log), "roudi.log");
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0)
		dup2(fd, 0);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	/*
	 * A daemon is not pinned to the bench's CPU: let it run on either
	 * CPU of the pair, as the scheduler likes.
	 */
	if (cfg->cpus->pinned) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cfg->cpus->parent_cpu, &set);
		CPU_SET(cfg->cpus->child_cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	execl(prog, "iox-roudi", "-c", conf, "-l", "warning", (char *)NULL);
	_exit(127);
}

static int roudi_start(const struct bench_config *cfg)
{
	char prog[256], path[96], tail[120];
	pid_t parent = getpid(), pid;
	int i, wstatus, rc;

	if (roudi_running()) {
		fprintf(stderr,
			"shoal-bench: iceoryx figures use the iox-roudi "
			"already running\n");
		return 1;
	}
	if (find_program("iox-roudi", prog, sizeof(prog))) {
		snprintf(
			roudi.note, BENCH_NOTE_MAX,
			"iox-roudi not found in PATH: apt-get install iceoryx");
		return 0;
	}
	snprintf(roudi.dir, sizeof(roudi.dir), "/tmp/shoal-iceoryx-XXXXXX");
	if (!mkdtemp(roudi.dir)) {
		rc = -errno;
		roudi.dir[0] = '\0';
		snprintf(roudi.note, BENCH_NOTE_MAX,
			 "mkdtemp for the iox-roudi config: %s", strerror(-rc));
		return rc;
	}
	roudi_path(path, sizeof(path), "roudi.toml");
	rc = write_file(path, roudi_config);
	if (rc) {
		snprintf(roudi.note, BENCH_NOTE_MAX, "writing %s: %s", path,
			 strerror(-rc));
		roudi_remove_dir();
		return rc;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		snprintf(roudi.note, BENCH_NOTE_MAX, "fork for iox-roudi: %s",
			 strerror(-rc));
		roudi_remove_dir();
		return rc;
	}
	if (pid == 0)
		roudi_exec(cfg, prog, parent);
	roudi.pid = pid;
	roudi.owner = parent;
	atexit(roudi_stop);
	for (i = 0; i < ROUDI_START_MS / 10; i++) {
		if (waitpid(pid, &wstatus, WNOHANG) == pid) {
			roudi.pid = 0;
			roudi_log_tail(tail, sizeof(tail));
			snprintf(roudi.note, BENCH_NOTE_MAX,
				 "iox-roudi exited at start (status %d): %s",
				 WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) :
						      128 + WTERMSIG(wstatus),
				 tail[0] ? tail : "no output");
			roudi_remove_dir();
			return 0;
		}
		if (roudi_listening())
			return 1;
		usleep(10000);
	}
	roudi_log_tail(tail, sizeof(tail));
	snprintf(roudi.note, BENCH_NOTE_MAX,
		 "iox-roudi not ready after %d ms: %s", ROUDI_START_MS,
		 tail[0] ? tail : "no output");
	roudi_stop();
	return 0;
}

/*
 * Before each figure, in the bench process: a RouDi is up (0), or skip (1)
 * or fail (< 0) with the reason in @note.
 */
static int roudi_setup(const struct bench_config *cfg, char *note)
{
	int wstatus;

	if (!roudi.state) {
		int rc = roudi_start(cfg);

		roudi.state = rc == 1 ? 1 : rc < 0 ? rc : -ENOENT;
	}
	if (roudi.state == 1 && roudi.pid > 0 &&
	    waitpid(roudi.pid, &wstatus, WNOHANG) == roudi.pid) {
		roudi.pid = 0;
		snprintf(roudi.note, BENCH_NOTE_MAX,
			 "iox-roudi (ours) exited during the run");
		roudi.state = -EPIPE;
	}
	if (roudi.state == 1 && !roudi.pid && !roudi_listening()) {
		snprintf(roudi.note, BENCH_NOTE_MAX,
			 "the iox-roudi in use no longer answers");
		roudi.state = -EPIPE;
	}
	if (roudi.state == 1)
		return 0;
	snprintf(note, BENCH_NOTE_MAX, "%s", roudi.note);
	/* Not installed or unable to start here: skip; died mid-run: fail. */
	return roudi.state == -EPIPE ? -EPIPE : 1;
}

/* The figures. */

#define SERVICE "shoal-bench"
/* iceoryx 2.0's MAX_SUBSCRIBER_QUEUE_CAPACITY (iceoryx_posh_types.hpp). */
#define IOX_QUEUE_MAX 256u
/* How long the two sides may take to find each other through RouDi. */
#define CONNECT_MS 10000

/* What a side sets for the process running the figure. */
struct iox_shared {
	/* The running RouDi has no mempool for the message: skip. */
	_Atomic int no_mempool;
};

struct iox_arg {
	uint32_t size;
	uint32_t queue; /* subscriber queue capacity */
	int block;	/* wait in a WaitSet before each take */
	uint64_t total; /* round trips the child answers */
	char instance[24];
	struct bench_samples lat;
	struct bench_tput tput;
	struct bench_result *res; /* idle figures */
	struct iox_shared *shared;
	/* Each process's own: */
	struct bench_side *side;
	iox_pub_storage_t pub_mem;
	iox_sub_storage_t sub_mem;
	iox_ws_storage_t ws_mem;
	iox_pub_t pub;
	iox_sub_t sub;
	iox_ws_t ws;
	unsigned char *msg;
};

/*
 * The payload size iceoryx recorded in the chunk's header. The C binding
 * of 2.0 has no accessor, so read it where ChunkHeader version 1 keeps it
 * (iceoryx_posh/mepoo/chunk_header.hpp: the layout is fixed per version for
 * record and replay); UINT32_MAX for another version.
 */
#define CHUNK_HEADER_VERSION_AT 4
#define CHUNK_PAYLOAD_SIZE_AT 28

static inline uint32_t chunk_len(const void *payload)
{
	const unsigned char *h =
		(const void *)iox_chunk_header_from_user_payload_const(payload);
	uint32_t len;

	if (h[CHUNK_HEADER_VERSION_AT] != 1)
		return UINT32_MAX;
	memcpy(&len, h + CHUNK_PAYLOAD_SIZE_AT, sizeof(len));
	return len;
}

static const char *alloc_error(enum iox_AllocationResult r)
{
	switch (r) {
	case AllocationResult_NO_MEMPOOLS_AVAILABLE:
		return "no mempool for this size";
	case AllocationResult_RUNNING_OUT_OF_CHUNKS:
		return "running out of chunks";
	case AllocationResult_TOO_MANY_CHUNKS_ALLOCATED_IN_PARALLEL:
		return "too many chunks allocated in parallel";
	default:
		return "error";
	}
}

static int loan_failed(struct iox_arg *a, enum iox_AllocationResult r)
{
	/* Someone else's RouDi may not be configured for our sizes. */
	int foreign = r == AllocationResult_NO_MEMPOOLS_AVAILABLE && !roudi.pid;

	/*
	 * Relaxed: read by the figure's process after waitpid() or the
	 * pair's barrier, which order it.
	 */
	if (foreign)
		atomic_store_explicit(&a->shared->no_mempool, 1,
				      memory_order_relaxed);
	bench_side_note(a->side, "iox_pub_loan_chunk of %u bytes: %s (%d)%s",
			a->size, alloc_error(r), (int)r,
			foreign ? ", in the running iox-roudi's configuration" :
				  "");
	return -ENOSPC;
}

/* Loan a chunk, copy @src into it, publish it. */
static inline int iox_send(struct iox_arg *a, const void *src)
{
	enum iox_AllocationResult r;
	void *chunk;

	r = iox_pub_loan_chunk(a->pub, &chunk, a->size);
	if (r != AllocationResult_SUCCESS)
		return loan_failed(a, r);
	memcpy(chunk, src, a->size);
	iox_pub_publish_chunk(a->pub, chunk);
	return 0;
}

/*
 * Take the next chunk: with a WaitSet, sleep in iox_ws_wait() first (it
 * returns at once while the subscriber has data); else spin on take.
 */
static inline int iox_take(struct iox_arg *a, const void **chunk)
{
	iox_notification_info_t info[1];
	enum iox_ChunkReceiveResult r;
	uint64_t missed, spins = 0;

	for (;;) {
		if (a->ws)
			iox_ws_wait(a->ws, info, 1, &missed);
		r = iox_sub_take_chunk(a->sub, chunk);
		if (r == ChunkReceiveResult_SUCCESS)
			return 0;
		if (r != ChunkReceiveResult_NO_CHUNK_AVAILABLE) {
			bench_side_note(a->side, "iox_sub_take_chunk: %d",
					(int)r);
			return -EIO;
		}
		if (a->ws)
			continue;
		/* Now and then, on the idle path: has the other side failed? */
		if (++spins % 4096 == 0 && bench_side_cancelled(a->side))
			return -ECANCELED;
		bench_pause();
	}
}

/* This process's runtime name, then @suffix. */
static void runtime_name(char *buf, size_t len, const char *suffix)
{
	snprintf(buf, len, "shoal-bench-%d%s", (int)getpid(), suffix);
}

/*
 * Each side's setup: its own runtime, a publisher on @pub_event and a
 * subscriber to @sub_event (either may be NULL), a WaitSet if the figure
 * blocks; then wait until the subscriber is subscribed and the publisher
 * has one, so no message is sent before the other side listens.
 */
static int iox_open(struct bench_side *s, struct iox_arg *a,
		    const char *pub_event, const char *sub_event)
{
	char name[48];
	uint64_t deadline;

	a->side = s;
	iox_set_loglevel(Iceoryx_LogLevel_Error);
	runtime_name(name, sizeof(name), "");
	iox_runtime_init(name);
	if (pub_event) {
		iox_pub_options_t o;

		iox_pub_options_init(&o);
		o.historyCapacity = 0;
		o.subscriberTooSlowPolicy =
			ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
		a->pub = iox_pub_init(&a->pub_mem, SERVICE, a->instance,
				      pub_event, &o);
		if (!a->pub) {
			bench_side_note(s, "iox_pub_init failed");
			return -EIO;
		}
	}
	if (sub_event) {
		iox_sub_options_t o;

		iox_sub_options_init(&o);
		o.queueCapacity = a->queue;
		o.historyRequest = 0;
		o.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
		a->sub = iox_sub_init(&a->sub_mem, SERVICE, a->instance,
				      sub_event, &o);
		if (!a->sub) {
			bench_side_note(s, "iox_sub_init failed");
			return -EIO;
		}
		if (a->block) {
			enum iox_WaitSetResult r;

			a->ws = iox_ws_init(&a->ws_mem);
			if (!a->ws) {
				bench_side_note(s, "iox_ws_init failed");
				return -EIO;
			}
			r = iox_ws_attach_subscriber_state(
				a->ws, a->sub, SubscriberState_HAS_DATA, 0,
				NULL);
			if (r != WaitSetResult_SUCCESS) {
				bench_side_note(
					s, "iox_ws_attach_subscriber_state: %d",
					(int)r);
				return -EIO;
			}
		}
	}
	deadline = bench_now_ns() + CONNECT_MS * 1000000ull;
	for (;;) {
		int sub_ok = !a->sub ||
			     iox_sub_get_subscription_state(a->sub) ==
				     SubscribeState_SUBSCRIBED;
		int pub_ok = !a->pub || iox_pub_has_subscribers(a->pub);

		if (sub_ok && pub_ok)
			return 0;
		if (bench_side_cancelled(s))
			return -ECANCELED;
		if (bench_now_ns() > deadline) {
			bench_side_note(s,
					"not connected after %d ms "
					"(subscribed %d, publisher has "
					"subscribers %d)",
					CONNECT_MS, sub_ok, pub_ok);
			return -ETIMEDOUT;
		}
		usleep(1000);
	}
}

/* Release every port and the WaitSet, so RouDi frees them at once. */
static void iox_close(struct iox_arg *a)
{
	if (a->ws) {
		iox_ws_detach_subscriber_state(a->ws, a->sub,
					       SubscriberState_HAS_DATA);
		iox_ws_deinit(a->ws);
		a->ws = NULL;
	}
	if (a->sub) {
		iox_sub_deinit(a->sub);
		a->sub = NULL;
	}
	if (a->pub) {
		iox_pub_deinit(a->pub);
		a->pub = NULL;
	}
	/*
	 * No iox_runtime_shutdown(): in 2.0.3 it does not deregister the
	 * process, and after it the runtime's destructor (run by exit())
	 * hangs on RouDi's answer. The harness ends every side with _exit(),
	 * so RouDi's monitoring removes the process entry about 1.5 s later;
	 * its ports and WaitSet are released above, at once.
	 *
	 * That destructor would also remove the runtime's socket and lock
	 * file, /tmp/<name> and /tmp/<name>.lock: without it they stay, two
	 * per process and figure, thousands after a full run. The ports are
	 * gone, so nothing reaches this process through them any more.
	 */
	char path[80];

	snprintf(path, sizeof(path), "/tmp/");
	runtime_name(path + 5, sizeof(path) - 5, "");
	unlink(path);
	runtime_name(path + 5, sizeof(path) - 5, ".lock");
	unlink(path);
}

/*
 * Both sides are done with each other's messages: the last barrier before
 * the ports go away, so no side tears down what the other still reads.
 */
static int iox_finish(struct bench_side *s, int rc)
{
	if (!rc && bench_side_sync(s))
		rc = -ECANCELED;
	return rc;
}

/* Round trips. */

static inline int rtt_round_trip(void *ctx, uint64_t i)
{
	struct iox_arg *a = ctx;
	const void *in;
	uint32_t len;
	int rc;

	bench_stamp(a->msg, i, a->size);
	rc = iox_send(a, a->msg);
	if (rc)
		return rc;
	rc = iox_take(a, &in);
	if (rc)
		return rc;
	len = chunk_len(in);
	memcpy(a->msg, in, len < a->size ? len : a->size);
	iox_sub_release_chunk(a->sub, in);
	return bench_check_msg(a->side, a->msg, len, a->size, i);
}

static int rtt_parent(struct bench_side *s)
{
	struct iox_arg *a = s->arg;
	int rc;

	a->msg = bench_buf_alloc(a->size);
	if (!a->msg)
		return -ENOMEM;
	memset(a->msg, 0xa5, a->size);
	rc = iox_open(s, a, "ping", "pong");
	if (!rc)
		rc = bench_latency_run(s, &a->lat, rtt_round_trip, a);
	rc = iox_finish(s, rc);
	iox_close(a);
	free(a->msg);
	return rc;
}

static int rtt_child(struct bench_side *s)
{
	struct iox_arg *a = s->arg;
	const void *in;
	uint64_t i;
	int rc;

	rc = iox_open(s, a, "pong", "ping");
	if (!rc && bench_side_sync(s))
		rc = -ECANCELED;
	for (i = 1; !rc && i <= a->total; i++) {
		rc = iox_take(a, &in);
		if (rc)
			break;
		rc = bench_check_msg(s, in, chunk_len(in), a->size, i);
		/* Answer from the chunk, then let it go. */
		if (!rc)
			rc = iox_send(a, in);
		iox_sub_release_chunk(a->sub, in);
	}
	rc = iox_finish(s, rc);
	iox_close(a);
	return rc;
}

/* One-way throughput. */

static int tput_parent(struct bench_side *s)
{
	struct iox_arg *a = s->arg;
	unsigned char *src = bench_buf_alloc(a->size);
	uint64_t seq = 1, k;
	int64_t n = 0;
	int rc;

	if (!src)
		return -ENOMEM;
	memset(src, 0xa5, a->size);
	rc = iox_open(s, a, "stream", NULL);
	while (!rc && (n = bench_trial_start(s, &a->tput)) > 0) {
		for (k = 0; !rc && k < (uint64_t)n; k++) {
			bench_stamp(src, seq++, a->size);
			rc = iox_send(a, src);
		}
		if (!rc)
			rc = bench_trial_finish(s, &a->tput);
	}
	if (!rc && n < 0)
		rc = (int)n;
	rc = iox_finish(s, rc);
	iox_close(a);
	free(src);
	return rc;
}

static int tput_child(struct bench_side *s)
{
	struct iox_arg *a = s->arg;
	unsigned char *dst = bench_buf_alloc(a->size);
	uint64_t seq = 1, k;
	const void *in;
	uint32_t len;
	int64_t n = 0;
	int rc;

	if (!dst)
		return -ENOMEM;
	rc = iox_open(s, a, NULL, "stream");
	while (!rc && (n = bench_trial_next(s)) > 0) {
		for (k = 0; !rc && k < (uint64_t)n; k++, seq++) {
			rc = iox_take(a, &in);
			if (rc)
				break;
			len = chunk_len(in);
			memcpy(dst, in, len < a->size ? len : a->size);
			iox_sub_release_chunk(a->sub, in);
			rc = bench_check_msg(s, dst, len, a->size, seq);
		}
		if (!rc)
			rc = bench_trial_end(s);
	}
	if (!rc && n < 0)
		rc = (int)n;
	rc = iox_finish(s, rc);
	iox_close(a);
	free(dst);
	return rc;
}

/* Idle: the child sleeps in its WaitSet until the one message comes. */

static int idle_send(void *ctx)
{
	struct iox_arg *a = ctx;

	bench_stamp(a->msg, 1, a->size);
	return iox_send(a, a->msg);
}

static int idle_wait(void *ctx)
{
	struct iox_arg *a = ctx;
	const void *in;
	int rc = iox_take(a, &in);

	if (rc)
		return rc;
	rc = bench_check_msg(a->side, in, chunk_len(in), a->size, 1);
	iox_sub_release_chunk(a->sub, in);
	return rc;
}

static int idle_parent(struct bench_side *s)
{
	struct iox_arg *a = s->arg;
	int rc;

	a->msg = bench_buf_alloc(a->size);
	if (!a->msg)
		return -ENOMEM;
	rc = iox_open(s, a, "idle", NULL);
	if (!rc)
		rc = bench_idle_parent(s, idle_send, a, a->res);
	rc = iox_finish(s, rc);
	iox_close(a);
	free(a->msg);
	return rc;
}

static int idle_child(struct bench_side *s)
{
	struct iox_arg *a = s->arg;
	int rc;

	rc = iox_open(s, a, NULL, "idle");
	if (!rc)
		rc = bench_idle_child(s, idle_wait, a);
	rc = iox_finish(s, rc);
	iox_close(a);
	return rc;
}

/* In the figure's own process (bench_run_isolated). */
static int run_inner(const struct bench_figure *f,
		     const struct bench_config *cfg, struct bench_result *res)
{
	bench_side_fn parent = rtt_parent, child = rtt_child;
	struct iox_arg a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.size = f->size;
	a.block = f->param[0];
	a.total = bench_round_trips(cfg);
	a.queue = BENCH_RTT_CAPACITY;
	a.res = res;
	snprintf(a.instance, sizeof(a.instance), "%d", (int)getpid());
	if (f->kind == BENCH_THROUGHPUT) {
		parent = tput_parent;
		child = tput_child;
		a.queue = bench_tput_capacity(f->size);
		if (a.queue > IOX_QUEUE_MAX)
			a.queue = IOX_QUEUE_MAX;
	} else if (f->kind == BENCH_IDLE) {
		parent = idle_parent;
		child = idle_child;
		a.block = 1;
	}
	a.shared = bench_shm_alloc(sizeof(*a.shared));
	if (!a.shared)
		return -ENOMEM;
	rc = bench_pair_run(cfg, parent, child, &a, res->note);
	if (!rc && f->kind == BENCH_LATENCY)
		bench_samples_stats(&a.lat, res);
	if (!rc && f->kind == BENCH_THROUGHPUT)
		bench_tput_stats(&a.tput, f->size, res);
	if (rc &&
	    atomic_load_explicit(&a.shared->no_mempool, memory_order_relaxed))
		rc = 1;
	bench_samples_fini(&a.lat);
	bench_shm_free(a.shared, sizeof(*a.shared));
	return rc;
}

/* f->param: { 1: wait in a WaitSet (rtt-block) }. */
static int run_iceoryx(const struct bench_figure *f,
		       const struct bench_config *cfg, struct bench_result *res)
{
	int rc = roudi_setup(cfg, res->note);

	if (rc)
		return rc;
	rc = bench_run_isolated(run_inner, f, cfg, res);
	roudi.last_use_ns = bench_now_ns();
	return rc;
}

#else /* !SHOAL_BENCH_ICEORYX */

static int run_iceoryx(const struct bench_figure *f,
		       const struct bench_config *cfg, struct bench_result *res)
{
	(void)f;
	(void)cfg;
	snprintf(res->note, BENCH_NOTE_MAX,
		 "iceoryx not built: apt-get install iceoryx "
		 "libiceoryx-binding-c-dev, then re-run cmake");
	return 1;
}

#endif

#define TITLE "iceoryx 2.0 C binding, "
#define RTT(g, sz, sztext)                                                     \
	{ .name = "rtt-poll-" g "/iceoryx",                                    \
	  .title = TITLE "loan/publish, busy-poll take/release, " sztext,      \
	  .kind = BENCH_LATENCY,                                               \
	  .size = sz,                                                          \
	  .batch = 1,                                                          \
	  .flags = BENCH_SPINS | BENCH_COMPARE | BENCH_COMPARE_ONLY,           \
	  .run = run_iceoryx },                                                \
	{                                                                      \
		.name = "rtt-block-" g "/iceoryx-waitset",                     \
		.title = TITLE "loan/publish, iox_ws_wait then take, " sztext, \
		.kind = BENCH_LATENCY, .size = sz, .batch = 1,                 \
		.flags = BENCH_BLOCKS | BENCH_COMPARE | BENCH_COMPARE_ONLY,    \
		.run = run_iceoryx, .param = {                                 \
			1                                                      \
		}                                                              \
	}
#define TPUT(g, sz, sztext)                                                \
	{                                                                  \
		.name = "tput-" g "/iceoryx",                              \
		.title = TITLE                                             \
			"reliable, queue <= 256, busy-poll take, " sztext, \
		.kind = BENCH_THROUGHPUT, .size = sz, .batch = 1,          \
		.flags = BENCH_SPINS | BENCH_COMPARE | BENCH_COMPARE_ONLY, \
		.run = run_iceoryx                                         \
	}

const struct bench_figure bench_iceoryx_figures[] = {
	RTT("8", 8, "8 B"),
	RTT("1k", 1024, "1 KiB"),
	RTT("64k", 65536, "64 KiB"),
	RTT("1m", 1048576, "1 MiB"),
	TPUT("8", 8, "8 B"),
	TPUT("64", 64, "64 B"),
	TPUT("1k", 1024, "1 KiB"),
	TPUT("64k", 65536, "64 KiB"),
	{ .name = "idle/iceoryx-waitset",
	  .title = TITLE "subscriber asleep in iox_ws_wait",
	  .kind = BENCH_IDLE,
	  .size = 8,
	  .batch = 1,
	  .flags = BENCH_COMPARE | BENCH_COMPARE_ONLY,
	  .run = run_iceoryx },
	{ .name = NULL },
};
