/* SPDX-License-Identifier: MIT */
/*
 * shoal soak: a role process. The coordinator runs this program again as
 * the hidden "__soak-role FD ROLE INDEX HANG_SECONDS"; run_role() maps the
 * board from FD and runs the role's loop (pubsub.c, queue.c, rpc.c). Here
 * too are the calls every role's loop makes: a violation (counted on the
 * board, said on stderr), whether to stop, the fd/RSS sample of a steady
 * instance, the random holds inside kill windows, the rate limit, and the
 * retry of a create or open while peers are killed and restarted.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "soak.h"

void soak_violation(struct role_ctx *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	atomic_fetch_add_explicit(&c->me->violations, 1, memory_order_relaxed);
	fprintf(stderr,
		"shoal soak: VIOLATION %s%u (pid %d, incarnation %" PRIu64
		"): %s\n",
		soak_role_names[c->role], c->index, (int)getpid(), c->inc, buf);
}

int soak_stopping(struct role_ctx *c)
{
	uint32_t ph = atomic_load_explicit(&c->b->phase, memory_order_acquire);

	if (c->role == ROLE_PROD)
		return ph >= STOP_PRODUCERS;
	return ph >= STOP;
}

/* Steady instances answer sample requests when all their handles are up. */
void soak_maybe_sample(struct role_ctx *c)
{
	uint32_t req, done;

	if (!atomic_load_explicit(&c->me->steady, memory_order_relaxed))
		return;
	req = atomic_load_explicit(&c->b->sample_req, memory_order_acquire);
	done = atomic_load_explicit(&c->me->sampled, memory_order_relaxed);
	if (req == done || req < 1 || req > 2)
		return;
	if ((c->role == ROLE_SUB || c->role == ROLE_CLI) &&
	    !atomic_load_explicit(&c->me->connected, memory_order_relaxed))
		return;
	soak_sample_self(&c->me->fds[req - 1], &c->me->evfds[req - 1],
			 &c->me->rss_kib[req - 1]);
	/* Release: publishes the sample above to the coordinator's acquire
	 * load of sampled. */
	atomic_store_explicit(&c->me->sampled, req, memory_order_release);
}

/*
 * Now and then (one call in HOLD_ODDS) sleeps HOLD_NS: called inside the
 * windows where a kill costs something (a producer's loan, a consumer's
 * taken item, a server's request), so that random kills land there often
 * enough to exercise the recovery, not only once in a long while.
 */
#define HOLD_ODDS 256
#define HOLD_NS MS

void soak_maybe_hold(struct role_ctx *c)
{
	if (rng_next(&c->rng) % HOLD_ODDS == 0)
		sleep_ns(HOLD_NS);
}

/* Waits until the rate limit allows another message; 0 to go on. */
void soak_throttle(struct role_ctx *c)
{
	int64_t allowed;

	if (!c->b->rate)
		return;
	for (;;) {
		allowed = (int64_t)((double)(cli_now_ns() - c->t0) / 1e9 *
				    (double)c->b->rate) +
			  16;
		if ((int64_t)c->sent_here < allowed || soak_stopping(c))
			return;
		beat(c);
		soak_maybe_sample(c);
		sleep_ns(MS);
	}
}

void soak_failed(struct role_ctx *c, const char *what, int err)
{
	soak_violation(c, "%s: %s: %s", what, strerror(-err),
		       shoal_last_error());
	sleep_ns(10 * MS);
}

/*
 * One failed attempt (@err) of a role's @what (the call's name) of service
 * @name. It is a violation unless @how expects it; between attempts the
 * role beats and pauses (100 ms after a create, 10 ms after an open).
 * Returns 1 to try again, 0 to give up: the role is told to stop (checked
 * before the report for a create, after it for an open).
 */
int soak_retry(struct role_ctx *c, int err, const char *what, const char *name,
	       unsigned how)
{
	int expected = ((how & SOAK_BUSY_EXPECTED) && err == -EBUSY) ||
		       ((how & SOAK_ABSENT_EXPECTED) && err == -ENOENT);

	if ((how & SOAK_CREATE) && soak_stopping(c))
		return 0;
	if (!expected)
		soak_violation(c, "%s(%s): %s: %s", what, name, strerror(-err),
			       shoal_last_error());
	if (how & SOAK_CREATE) {
		sleep_ns(100 * MS);
		beat(c);
		return 1;
	}
	if (soak_stopping(c))
		return 0;
	beat(c);
	sleep_ns(10 * MS);
	return 1;
}

static int run_role(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct role_ctx c;
	struct stat st;
	int fd, role = -1;
	int64_t hang_ns;
	void *p;

	if (argc != 5)
		return CLI_EXIT_USAGE;
	fd = atoi(argv[1]);
	for (int r = 0; r < ROLE_N; r++)
		if (!strcmp(argv[2], soak_role_names[r]))
			role = r;
	if (role < 0 || fstat(fd, &st) < 0)
		return CLI_EXIT_USAGE;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	if (p == MAP_FAILED)
		return cli_fail_sys(cmd, -errno, "mmap");
	close(fd);
	memset(&c, 0, sizeof(c));
	c.cmd = cmd;
	c.b = p;
	c.role = role;
	c.index = (uint32_t)atoi(argv[3]);
	hang_ns = (int64_t)atoll(argv[4]) * SEC;
	if (c.index >= INST_MAX)
		return CLI_EXIT_USAGE;
	c.me = &c.b->inst[role][c.index];
	c.inc = atomic_load_explicit(&c.me->incarnation, memory_order_acquire);
	c.rng = c.b->seed ^ ((uint64_t)role << 56) ^ ((uint64_t)c.index << 48) ^
		c.inc * 0x9e3779b97f4a7c15ull;
	c.t0 = cli_now_ns();
	/* SIGTERM from the coordinator means stop now (it only sends it
	 * when a clean stop took too long). */
	switch (role) {
	case ROLE_PUB:
	case ROLE_LPUB:
		return soak_run_pub(&c);
	case ROLE_SUB:
		return soak_run_sub(&c);
	case ROLE_PROD:
		return soak_run_prod(&c);
	case ROLE_CONS:
		return soak_run_cons(&c);
	case ROLE_SRV:
		return soak_run_srv(&c);
	default:
		return soak_run_cli(&c, hang_ns);
	}
}

const struct cli_cmd cli_cmd_soak_role = {
	.name = "__soak-role",
	.synopsis = "__soak-role FD ROLE INDEX HANG_SECONDS",
	.summary = "one process of shoal soak (internal)",
	.help = "",
	.run = run_role,
	.hidden = 1,
};
