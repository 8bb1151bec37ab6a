/* SPDX-License-Identifier: MIT */
/*
 * The shoal demo: publish/subscribe between separate processes that know
 * each other only by service names.
 *
 *   publisher     publishes "demo/frames" (reliable: it never overwrites
 *                 what a live subscriber has not read) and "demo/telemetry"
 *                 (lossy: it never waits for anyone), and streams numbered,
 *                 checksummed 64-byte messages on both;
 *   sub-reliable  subscribes to demo/frames and keeps up;
 *   sub-lossy     subscribes to demo/telemetry and is deliberately slow, so
 *                 it is lapped: -EOVERFLOW, with the count of lost messages.
 *
 * The parent only orchestrates (fork, kill, waitpid). Each child uses the
 * public API alone and finds its peers by name through a private registry
 * directory (SHOAL_DIR, under /tmp). The story: the subscribers start and
 * wait, the publisher appears and they find it, everything streams, the
 * publisher is SIGKILLed, the subscribers notice (-EPIPE), a new publisher
 * starts and they reattach to it by themselves (SHOAL_SUB_REATTACH), it
 * streams again and then withdraws. Then the counters of every process and
 * a verdict: every message the reliable subscriber got was intact and in
 * order, the lossy one never kept a torn message, and the losses it was
 * told about add up to the gaps in what it received.
 *
 * Usage: demo [seconds]   streaming time per phase (default 3)
 */
#include <dirent.h>
#include <fcntl.h>
#include <shoal.h>
#include <shoal/pubsub.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEC 1000000000LL
#define MSG_SIZE 64
#define FRAMES_SLOTS 1024
#define TELEMETRY_SLOTS 64
#define TELEMETRY_EVERY 32 /* one telemetry message per 32 frames */
#define SLOW_US 500	   /* the lossy subscriber's work per message */
#define MAX_EPOCHS 4

/* The two services, and the two subscribers (one per service). */
enum {
	FRAMES,
	TELEMETRY
};
enum {
	RELIABLE,
	LOSSY
};
static const char *const svc_name[] = { "demo/frames", "demo/telemetry" };
static const char *const sub_name[] = { "sub-reliable", "sub-lossy" };

#define GET(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define PUT(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)

/* What the processes tell the parent, in memory shared before fork. Each
 * report starts a cache line: one writer per line, or the writers slow
 * each other down (false sharing). */
struct pub_report { /* one per publisher incarnation */
	_Alignas(64) _Atomic uint64_t streaming;
	uint64_t epoch[2];
	_Atomic uint64_t sent[2], blocked[2], failed[2], wakeups[2];
};

struct epoch_log { /* what a subscriber got from one publisher */
	uint64_t epoch, first, last, count;
	int32_t pid;
};

struct sub_report {
	_Alignas(64) _Atomic uint64_t opened;
	_Atomic uint64_t received; /* intact messages kept */
	_Atomic uint64_t lost;	   /* as -EOVERFLOW reported them */
	_Atomic uint64_t gaps;	   /* holes in the sequence numbers seen */
	_Atomic uint64_t stale;	   /* -ESTALE: overwritten while read */
	_Atomic uint64_t damaged;  /* kept, but the checksum was wrong */
	_Atomic uint64_t pipes;	   /* -EPIPE: publisher gone */
	uint64_t sleeps, reattached, failed;
	uint32_t nepochs;
	struct epoch_log ep[MAX_EPOCHS];
};

struct shared {
	double t0;
	_Atomic int stop;
	struct pub_report pub[2];
	struct sub_report sub[2];
};

static struct shared *sh;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One line of the story, stamped with the time since the demo started,
 * written with one write() so that processes never interleave mid-line. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = snprintf(line, sizeof(line), "[%6.3f s] ", now_s() - sh->t0);

	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDOUT_FILENO, line, (size_t)n) < 0)
		(void)0;
}

/* A message: its sequence number, bytes derived from it, then a sum. */
static void fill(unsigned char *m, uint64_t seq)
{
	uint32_t sum = 0;

	memcpy(m, &seq, 8);
	for (int i = 8; i < MSG_SIZE - 4; i++) {
		m[i] = (unsigned char)(seq * 31 + (uint64_t)i);
		sum = sum * 33 + m[i];
	}
	memcpy(m + MSG_SIZE - 4, &sum, 4);
}

static int intact(const struct shoal_msg *msg)
{
	const unsigned char *m = msg->data;
	uint64_t seq;
	uint32_t sum = 0, stored;

	if (msg->len != MSG_SIZE)
		return 0;
	memcpy(&seq, m, 8);
	for (int i = 8; i < MSG_SIZE - 4; i++)
		sum = sum * 33 + m[i];
	memcpy(&stored, m + MSG_SIZE - 4, 4);
	return seq == msg->seq && sum == stored;
}

/* ---- The publisher ---------------------------------------------------- */

static volatile sig_atomic_t terminate;

static void on_sigterm(int sig)
{
	(void)sig;
	terminate = 1;
}

/* Loan a slot, write message @seq into it in place, publish it. */
static int send_one(struct shoal_pub *pub, uint64_t seq)
{
	void *buf;
	int err = shoal_pub_loan(pub, MSG_SIZE, &buf);

	if (err)
		return err; /* reliable, -EAGAIN: nobody made room in 1 s */
	fill(buf, seq);
	return shoal_pub_send(pub, buf, MSG_SIZE);
}

static void snapshot(struct pub_report *r, int i, struct shoal_pub *pub)
{
	struct shoal_pub_stats st;

	shoal_pub_get_stats(pub, &st);
	PUT(r->sent[i], st.sent);
	PUT(r->blocked[i], st.blocked);
	PUT(r->failed[i], st.failed);
	PUT(r->wakeups[i], st.wakeups);
}

static int publisher(int inc)
{
	struct pub_report *r = &sh->pub[inc];
	struct sigaction sa = { .sa_handler = on_sigterm };
	struct shoal_pub_options o;
	struct shoal_pub *pub[2];
	uint64_t seq[2] = { 0, 0 };

	sigaction(SIGTERM, &sa, NULL); /* SIGTERM: withdraw and exit */
	shoal_pub_options_init(&o);
	o.capacity = FRAMES_SLOTS;
	o.max_payload = MSG_SIZE;
	o.send_timeout_ns = SEC;
	for (int i = 0; i < 2; i++) {
		if (i == TELEMETRY) {
			o.delivery = SHOAL_DELIVERY_LOSSY;
			o.capacity = TELEMETRY_SLOTS;
		}
		if (shoal_pub_create(svc_name[i], &o, &pub[i]))
			goto fail;
		r->epoch[i] = shoal_pub_epoch(pub[i]);
		say("publisher: published %s (%s, %u slots), epoch %llu",
		    svc_name[i], i == FRAMES ? "reliable" : "lossy", o.capacity,
		    (unsigned long long)r->epoch[i]);
	}
	/* Subscribers see what is sent after they join: wait (up to 5 s)
	 * until both have, so that they get everything from #0. */
	for (int i = 0; i < 5000 && (shoal_pub_subscribers(pub[FRAMES]) < 1 ||
				     shoal_pub_subscribers(pub[TELEMETRY]) < 1);
	     i++)
		usleep(1000);
	say("publisher: %u subscriber on %s, %u on %s: streaming",
	    shoal_pub_subscribers(pub[FRAMES]), svc_name[FRAMES],
	    shoal_pub_subscribers(pub[TELEMETRY]), svc_name[TELEMETRY]);
	PUT(r->streaming, 1);

	while (!terminate) {
		int err = send_one(pub[FRAMES], seq[FRAMES]);

		if (err == 0)
			seq[FRAMES]++;
		else if (err != -EAGAIN)
			goto fail;
		snapshot(r, FRAMES, pub[FRAMES]);
		if (seq[FRAMES] % TELEMETRY_EVERY == 0) {
			/* Lossy: this never waits, however slow the reader. */
			if (send_one(pub[TELEMETRY], seq[TELEMETRY]++))
				goto fail;
			snapshot(r, TELEMETRY, pub[TELEMETRY]);
		}
	}
	shoal_pub_destroy(pub[FRAMES]);
	shoal_pub_destroy(pub[TELEMETRY]);
	say("publisher: withdrew both services after %llu frames and %llu "
	    "telemetry messages",
	    (unsigned long long)seq[FRAMES],
	    (unsigned long long)seq[TELEMETRY]);
	return 0;
fail:
	say("publisher: %s", shoal_last_error());
	return 1;
}

/* ---- The subscribers -------------------------------------------------- */

struct lookup {
	const char *name;
	struct shoal_service_info info;
};

static int match(const struct shoal_service_info *info, void *arg)
{
	struct lookup *l = arg;

	if (strcmp(info->name, l->name))
		return 0;
	l->info = *info;
	return 1;
}

/* Who publishes @name now, as the registry says (0: unknown). */
static int32_t owner_of(const char *name)
{
	struct lookup l = { .name = name };
	struct shoal_registry *reg;

	if (shoal_registry_create(NULL, &reg))
		return 0;
	shoal_registry_list(reg, match, &l);
	shoal_registry_destroy(reg);
	return l.info.pid;
}

/* Waits in the subscriber's fd until it joins a publisher; 0 if told to
 * stop first. While detached, the fd watches the registry directory and
 * shoal_sub_arm() looks for a publisher: 1 means it joined one. */
static int wait_publisher(struct shoal_sub *sub)
{
	while (!GET(sh->stop)) {
		int ready = shoal_sub_arm(sub);

		if (!ready) {
			struct timespec ts = { 0, 50 * 1000 * 1000 };
			fd_set fds;

			FD_ZERO(&fds);
			FD_SET(shoal_sub_fd(sub), &fds);
			pselect(shoal_sub_fd(sub) + 1, &fds, NULL, NULL, &ts,
				NULL);
		}
		shoal_sub_disarm(sub);
		if (shoal_sub_epoch(sub)) /* 0 while detached */
			return 1;
	}
	return 0;
}

/* The publisher we just joined: log it and say so. */
static struct epoch_log *joined(struct sub_report *r, int role,
				struct shoal_sub *sub)
{
	struct epoch_log *e =
		&r->ep[r->nepochs < MAX_EPOCHS ? r->nepochs++ : MAX_EPOCHS - 1];

	memset(e, 0, sizeof(*e));
	e->epoch = shoal_sub_epoch(sub);
	e->pid = owner_of(svc_name[role]);
	say("%s: %s %s via the registry: publisher pid %d, epoch %llu",
	    sub_name[role], r->nepochs == 1 ? "found" : "reattached to",
	    svc_name[role], (int)e->pid, (unsigned long long)e->epoch);
	return e;
}

static int subscriber(int role)
{
	struct sub_report *r = &sh->sub[role];
	struct shoal_sub_options opts;
	struct shoal_sub_stats st;
	struct epoch_log *e = NULL;
	struct shoal_sub *sub;
	struct shoal_msg msg;
	uint64_t next = 0; /* the sequence number expected next */

	shoal_sub_options_init(&opts);
	/* Open before any publisher exists, and survive its death. */
	opts.flags = SHOAL_SUB_REATTACH;
	if (shoal_sub_open(svc_name[role], &opts, &sub)) {
		say("%s: %s", sub_name[role], shoal_last_error());
		return 1;
	}
	say("%s: subscribed to %s%s%s", sub_name[role], svc_name[role],
	    shoal_sub_epoch(sub) ? "" : "; no publisher yet, waiting for one",
	    role == LOSSY ? " (and slow: 0.5 ms per message)" : "");
	PUT(r->opened, 1);

	while (!GET(sh->stop)) {
		int err, rel, ok;

		/* Detached (at first, and after -EPIPE): wait for one. */
		if (!shoal_sub_epoch(sub)) {
			if (!wait_publisher(sub))
				break;
			e = joined(r, role, sub);
			/* A new publisher, a new sequence. Ours starts at #0:
			 * it sends nothing until both subscribers joined. */
			next = 0;
		}
		err = shoal_sub_take(sub, &msg, SEC / 20);
		if (err == -ETIMEDOUT)
			continue;
		if (err == -EOVERFLOW) { /* lapped: msg.lost are gone */
			PUT(r->lost, GET(r->lost) + msg.lost);
			continue;
		}
		if (err == -EPIPE) {
			say("%s: publisher gone (-EPIPE) after %llu "
			    "messages of epoch %llu",
			    sub_name[role], (unsigned long long)e->count,
			    (unsigned long long)e->epoch);
			PUT(r->pipes, GET(r->pipes) + 1);
			continue;
		}
		if (err) {
			say("%s: take: %s", sub_name[role], shoal_last_error());
			r->failed = 1;
			break;
		}
		/* msg.data points into the publisher's ring: check it in
		 * place, then release. */
		ok = intact(&msg);
		if (msg.seq != next)
			PUT(r->gaps, GET(r->gaps) + (msg.seq - next));
		next = msg.seq + 1;
		rel = shoal_sub_release(sub, &msg);
		if (rel == -ESTALE) {
			/* Lossy: overwritten while we read it. Whatever we
			 * read is discarded, intact-looking or not. */
			PUT(r->stale, GET(r->stale) + 1);
		} else if (rel || !ok) {
			PUT(r->damaged, GET(r->damaged) + 1);
		} else {
			if (e->count++ == 0)
				e->first = msg.seq;
			e->last = msg.seq;
			PUT(r->received, GET(r->received) + 1);
		}
		if (role == LOSSY)
			usleep(SLOW_US); /* "processing" */
	}
	shoal_sub_get_stats(sub, &st);
	r->sleeps = st.sleeps;
	r->reattached = st.reattached;
	shoal_sub_close(sub);
	return 0;
}

/* ---- The parent: start, kill, restart, report ------------------------- */

static pid_t spawn(int (*fn)(int), int arg)
{
	pid_t pid = fork();

	if (pid < 0) {
		perror("demo: fork");
		exit(1); /* the children die with us (PR_SET_PDEATHSIG) */
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the demo */
		_exit(fn(arg));
	}
	return pid;
}

/* Waits up to 5 s for *@flag >= @want (and *@flag2, if not NULL). */
static int wait_for(_Atomic uint64_t *flag, _Atomic uint64_t *flag2,
		    uint64_t want)
{
	for (int i = 0; i < 5000; i++) {
		if (GET(*flag) >= want && (!flag2 || GET(*flag2) >= want))
			return 1;
		usleep(1000);
	}
	say("demo: timed out waiting");
	return 0;
}

static const char *si(double v)
{
	static char buf[8][16];
	static int k;
	char *b = buf[k++ % 8];

	if (v >= 1e6)
		snprintf(b, 16, "%.2f M/s", v / 1e6);
	else if (v >= 1e3)
		snprintf(b, 16, "%.1f k/s", v / 1e3);
	else
		snprintf(b, 16, "%.0f /s", v);
	return b;
}

/* Lets publisher incarnation @inc stream for @seconds, showing rates. */
static void stream(int inc, double seconds)
{
	struct pub_report *p = &sh->pub[inc];
	_Atomic uint64_t *counter[5] = {
		&p->sent[FRAMES],     &sh->sub[RELIABLE].received,
		&p->sent[TELEMETRY],  &sh->sub[LOSSY].received,
		&sh->sub[LOSSY].lost,
	};
	double period = seconds >= 2 ? 1.0 : seconds / 2, t = now_s();
	uint64_t last[5];

	for (int k = 0; k < 5; k++)
		last[k] = GET(*counter[k]);
	for (double left = seconds; left > 1e-9; left -= period) {
		double dt = left < period ? left : period;
		const char *rate[5];

		usleep((useconds_t)(dt * 1e6));
		dt = now_s() - t;
		t += dt;
		for (int k = 0; k < 5; k++) {
			uint64_t v = GET(*counter[k]);

			rate[k] = si((double)(v - last[k]) / dt);
			last[k] = v;
		}
		say("rates: frames %s sent, %s received | telemetry %s sent, "
		    "%s received, %s lost",
		    rate[0], rate[1], rate[2], rate[3], rate[4]);
	}
}

/* Removes the registry directory and whatever is left in it. */
static void remove_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		closedir(d);
	if (rmdir(path))
		printf("demo: could not remove %s: %s\n", path,
		       strerror(errno));
}

static void print_counters(void)
{
	static const char *const pub_name[] = { "publisher #1",
						"publisher #2" };

	printf("\n%-29s %10s %10s %10s %6s %8s %9s %7s\n", "counters", "sent",
	       "received", "lost", "stale", "blocked", "wake-ups", "sleeps");
	for (int inc = 0; inc < 2; inc++)
		for (int i = 0; i < 2; i++) {
			struct pub_report *p = &sh->pub[inc];

			printf("%-12s %-16s %10llu %10s %10s %6s %8llu %9llu "
			       "%7s\n",
			       pub_name[inc], svc_name[i],
			       (unsigned long long)GET(p->sent[i]), "-", "-",
			       "-", (unsigned long long)GET(p->blocked[i]),
			       (unsigned long long)GET(p->wakeups[i]), "-");
		}
	for (int s = 0; s < 2; s++) {
		struct sub_report *r = &sh->sub[s];

		printf("%-12s %-16s %10s %10llu %10llu %6llu %8s %9s %7llu\n",
		       sub_name[s], svc_name[s], "-",
		       (unsigned long long)GET(r->received),
		       (unsigned long long)GET(r->lost),
		       (unsigned long long)GET(r->stale), "-", "-",
		       (unsigned long long)r->sleeps);
	}
	printf("(publisher #1 was killed: its counters are as it last "
	       "recorded them)\n");
}

/* One line of the verdict; returns 1 if the check failed. */
__attribute__((format(printf, 2, 3))) static int check(int ok, const char *fmt,
						       ...)
{
	va_list ap;

	printf("  %s ", ok ? "ok  " : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	return !ok;
}

/* The checks; returns the number that failed. */
static int verdict(void)
{
	struct sub_report *rl = &sh->sub[RELIABLE], *ls = &sh->sub[LOSSY];
	uint64_t sent1 = GET(sh->pub[0].sent[FRAMES]);
	uint64_t sent2 = GET(sh->pub[1].sent[FRAMES]);
	struct epoch_log *e1 = &rl->ep[0], *e2 = &rl->ep[1];
	int bad = 0;

	printf("\nverdict\n");
	for (int s = 0; s < 2; s++) {
		struct sub_report *r = &sh->sub[s];

		bad += check(r->nepochs == 2 && GET(r->pipes) == 2 &&
				     r->reattached == 1 && !r->failed,
			     "%s: joined %u publishers, saw -EPIPE %llu times, "
			     "reattached %llu time(s) by itself",
			     sub_name[s], r->nepochs,
			     (unsigned long long)GET(r->pipes),
			     (unsigned long long)r->reattached);
	}
	bad += check(!GET(rl->damaged) && !GET(rl->gaps) && !GET(rl->lost) &&
			     !GET(rl->stale),
		     "sub-reliable: %llu messages, every one intact and in "
		     "order (%llu damaged, %llu gaps)",
		     (unsigned long long)GET(rl->received),
		     (unsigned long long)GET(rl->damaged),
		     (unsigned long long)GET(rl->gaps));
	bad += check(e1->count && e1->first == 0 && e1->last + 1 >= sent1,
		     "sub-reliable, publisher #1: #%llu..#%llu, all it had "
		     "recorded sending (%llu) before the kill",
		     (unsigned long long)e1->first,
		     (unsigned long long)e1->last, (unsigned long long)sent1);
	bad += check(e2->count == sent2 && e2->first == 0 &&
			     e2->last + 1 == sent2,
		     "sub-reliable, publisher #2: #%llu..#%llu, all %llu it "
		     "sent",
		     (unsigned long long)e2->first,
		     (unsigned long long)e2->last, (unsigned long long)sent2);
	bad += check(!GET(ls->damaged) && GET(ls->lost) == GET(ls->gaps),
		     "sub-lossy: %llu messages kept, %llu torn, %llu discarded "
		     "as stale; lost %llu = %llu gaps in the sequence",
		     (unsigned long long)GET(ls->received),
		     (unsigned long long)GET(ls->damaged),
		     (unsigned long long)GET(ls->stale),
		     (unsigned long long)GET(ls->lost),
		     (unsigned long long)GET(ls->gaps));
	bad += check(!GET(sh->pub[0].blocked[TELEMETRY]) &&
			     !GET(sh->pub[1].blocked[TELEMETRY]),
		     "lossy publishing never waited (blocked %llu times)",
		     (unsigned long long)(GET(sh->pub[0].blocked[TELEMETRY]) +
					  GET(sh->pub[1].blocked[TELEMETRY])));
	return bad;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3.0;
	char dir[] = "/tmp/shoal-demo-XXXXXX";
	pid_t sub[2], pub;
	int status, bad = 0;

	if (seconds <= 0) {
		fprintf(stderr, "usage: demo [seconds per phase]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || !mkdtemp(dir))
		return 1;
	setenv("SHOAL_DIR", dir, 1); /* the children's registry */
	sh->t0 = now_s();
	printf("shoal %s demo: a publisher and two subscribers, each a process "
	       "of its own; %.1f s per phase; registry %s\n",
	       shoal_version(), seconds, dir);

	for (int s = 0; s < 2; s++)
		sub[s] = spawn(subscriber, s);
	bad += !wait_for(&sh->sub[RELIABLE].opened, &sh->sub[LOSSY].opened, 1);
	say("demo: starting the publisher");
	pub = spawn(publisher, 0);
	bad += !wait_for(&sh->pub[0].streaming, NULL, 1);
	stream(0, seconds);

	say("demo: SIGKILL publisher (pid %d)", (int)pub);
	kill(pub, SIGKILL);
	waitpid(pub, &status, 0);
	bad += !wait_for(&sh->sub[RELIABLE].pipes, &sh->sub[LOSSY].pipes, 1);
	say("demo: restarting the publisher");
	pub = spawn(publisher, 1);
	bad += !wait_for(&sh->pub[1].streaming, NULL, 1);
	stream(1, seconds);

	say("demo: SIGTERM publisher (pid %d): it withdraws", (int)pub);
	kill(pub, SIGTERM);
	if (waitpid(pub, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		bad++;
	bad += !wait_for(&sh->sub[RELIABLE].pipes, &sh->sub[LOSSY].pipes, 2);
	PUT(sh->stop, 1);
	for (int s = 0; s < 2; s++)
		if (waitpid(sub[s], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			bad++;
	say("demo: all processes done");

	print_counters();
	bad += verdict();
	remove_dir(dir);
	printf("%s\n", bad ? "demo: FAILED" : "demo: all checks passed");
	return bad ? 1 : 0;
}
