/* SPDX-License-Identifier: MIT */
/*
 * shoal soak: the coordinator's supervision of its role processes. It
 * starts each (this program again, as "__soak-role"), reaps them and
 * restarts them after a random pause, SIGKILLs a random one that may be
 * killed (never a steady instance), kills one whose heartbeat stood still
 * for the hang bound, takes the fd/RSS samples of the steady instances,
 * waits for all to stop at the end, and reads what the registry directory
 * still holds.
 */
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "soak.h"

void soak_coord_violation(struct soak *s, int role, const char *fmt, ...)
{
	va_list ap;

	if (role >= 0)
		s->cviol[role]++;
	else
		s->own_viol++;
	fprintf(stderr, "shoal soak: VIOLATION %s: ",
		role >= 0 ? soak_role_names[role] : "soak");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int soak_spawn(struct soak *s, int role, uint32_t i)
{
	struct child *ch = &s->ch[role][i];
	struct inst *in = &s->b->inst[role][i];
	char fdbuf[16], ibuf[16], hbuf[32];
	pid_t pid;

	atomic_store_explicit(&in->ready, 0, memory_order_relaxed);
	atomic_store_explicit(&in->connected, 0, memory_order_relaxed);
	atomic_store_explicit(&in->phase, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&in->incarnation, 1, memory_order_release);
	snprintf(fdbuf, sizeof(fdbuf), "%d", s->board_fd);
	snprintf(ibuf, sizeof(ibuf), "%u", i);
	snprintf(hbuf, sizeof(hbuf), "%lld", (long long)(s->hang_ns / SEC));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		char *argv[] = { "shoal", "__soak-role",
				 fdbuf,	  (char *)soak_role_names[role],
				 ibuf,	  hbuf,
				 NULL };

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	ch->pid = pid;
	ch->killed = 0;
	ch->last_beat =
		atomic_load_explicit(&in->heartbeat, memory_order_relaxed);
	ch->last_beat_ns = cli_now_ns();
	atomic_store_explicit(&in->pid, pid, memory_order_relaxed);
	return 0;
}

/* Reaps children; schedules restarts while @restart. */
void soak_reap(struct soak *s, int restart)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int r = 0; r < ROLE_N; r++) {
			for (uint32_t i = 0; i < s->b->count[r]; i++) {
				struct child *ch = &s->ch[r][i];

				if (ch->pid != pid)
					continue;
				ch->pid = 0;
				if (r == ROLE_CONS)
					soak_consumer_died(s, i);
				if (ch->killed && WIFSIGNALED(status) &&
				    WTERMSIG(status) == SIGKILL) {
					/* ours */
				} else if (!(WIFEXITED(status) &&
					     WEXITSTATUS(status) == 0 &&
					     (s->done_mask & (1u << r)))) {
					ch->crashes++;
					soak_coord_violation(
						s, r, "%s%u (pid %d) %s %d",
						soak_role_names[r], i, (int)pid,
						WIFSIGNALED(status) ?
							"died of signal" :
							"exited with status",
						WIFSIGNALED(status) ?
							WTERMSIG(status) :
							WEXITSTATUS(status));
				}
				ch->restart_at = cli_now_ns() +
						 (int64_t)(rng_next(&s->rng) %
							   (50 * MS));
			}
		}
	}
	if (!restart)
		return;
	for (int r = 0; r < ROLE_N; r++)
		for (uint32_t i = 0; i < s->b->count[r]; i++) {
			struct child *ch = &s->ch[r][i];

			if (s->done_mask & (1u << r))
				continue;
			if (!ch->pid && cli_now_ns() >= ch->restart_at) {
				if (soak_spawn(s, r, i) == 0)
					ch->restarts++;
			}
		}
}

/* Hang detection: a running child whose heartbeat stood still. */
void soak_watch_progress(struct soak *s)
{
	int64_t now = cli_now_ns();

	for (int r = 0; r < ROLE_N; r++)
		for (uint32_t i = 0; i < s->b->count[r]; i++) {
			struct child *ch = &s->ch[r][i];
			uint64_t hb = atomic_load_explicit(
				&s->b->inst[r][i].heartbeat,
				memory_order_relaxed);

			if (hb != ch->last_beat || !ch->pid) {
				ch->last_beat = hb;
				ch->last_beat_ns = now;
				continue;
			}
			if (now - ch->last_beat_ns > s->hang_ns) {
				soak_coord_violation(
					s, r,
					"%s%u (pid %d) made no progress "
					"for %.0f s: killed",
					soak_role_names[r], i, (int)ch->pid,
					(double)s->hang_ns / 1e9);
				kill(ch->pid, SIGKILL);
				ch->killed = 1;
				ch->last_beat_ns = now;
			}
		}
}

void soak_kill_one(struct soak *s)
{
	uint32_t n = 0, pick;

	for (int r = 0; r < ROLE_N; r++)
		for (uint32_t i = 0; i < s->b->count[r]; i++)
			if (s->ch[r][i].pid && !s->ch[r][i].killed &&
			    !atomic_load_explicit(&s->b->inst[r][i].steady,
						  memory_order_relaxed))
				n++;
	if (!n)
		return;
	pick = (uint32_t)(rng_next(&s->rng) % n);
	for (int r = 0; r < ROLE_N; r++)
		for (uint32_t i = 0; i < s->b->count[r]; i++) {
			struct child *ch = &s->ch[r][i];

			/* killed: dead already, not yet reaped. */
			if (!ch->pid || ch->killed ||
			    atomic_load_explicit(&s->b->inst[r][i].steady,
						 memory_order_relaxed))
				continue;
			if (pick--)
				continue;
			if (kill(ch->pid, SIGKILL) == 0) {
				ch->killed = 1;
				ch->kills++;
				s->kills_total++;
			}
			return;
		}
}

/*
 * Takes sample @which (0: after warm-up, 1: at the end) of the steady
 * instances, with no kill in between and every role up. Returns 0, or -1
 * if they did not answer within the hang bound (a violation).
 */
int soak_take_samples(struct soak *s, int which, int64_t *fds, int64_t *rss)
{
	int64_t deadline = cli_now_ns() + s->hang_ns;
	int pending;

	/* Every role running and past its setup. */
	for (;;) {
		int up = 1;

		soak_reap(s, 1);
		soak_watch_progress(s);
		for (int r = 0; r < ROLE_N; r++)
			for (uint32_t i = 0; i < s->b->count[r]; i++)
				up &= s->ch[r][i].pid &&
				      atomic_load_explicit(
					      &s->b->inst[r][i].ready,
					      memory_order_acquire);
		if (up)
			break;
		if (cli_now_ns() > deadline || cli_stop) {
			soak_coord_violation(
				s, -1,
				"roles not all up within %.0f s for "
				"sample %d",
				(double)s->hang_ns / 1e9, which);
			return -1;
		}
		sleep_ns(10 * MS);
	}
	atomic_store_explicit(&s->b->sample_req, (uint32_t)which + 1,
			      memory_order_release);
	do {
		pending = 0;
		soak_reap(s, 1);
		soak_watch_progress(s);
		for (int r = 0; r < ROLE_N; r++)
			for (uint32_t i = 0; i < s->b->count[r]; i++) {
				struct inst *in = &s->b->inst[r][i];

				if (atomic_load_explicit(&in->steady,
							 memory_order_relaxed) &&
				    atomic_load_explicit(&in->sampled,
							 memory_order_acquire) !=
					    (uint32_t)which + 1)
					pending = 1;
			}
		if (pending && (cli_now_ns() > deadline || cli_stop)) {
			soak_coord_violation(
				s, -1,
				"steady roles did not sample within "
				"%.0f s",
				(double)s->hang_ns / 1e9);
			return -1;
		}
		if (pending)
			sleep_ns(10 * MS);
	} while (pending);
	int64_t ev;

	soak_sample_self(fds, &ev, rss);
	return 0;
}

/* Waits for every child to exit by itself (or kills it after the bound). */
void soak_wait_exit(struct soak *s, int role_only)
{
	int64_t deadline = cli_now_ns() + s->hang_ns;

	for (;;) {
		int running = 0;

		soak_reap(s, 0);
		for (int r = 0; r < ROLE_N; r++) {
			if (role_only >= 0 && r != role_only)
				continue;
			for (uint32_t i = 0; i < s->b->count[r]; i++)
				running |= s->ch[r][i].pid != 0;
		}
		if (!running)
			return;
		if (cli_now_ns() > deadline) {
			for (int r = 0; r < ROLE_N; r++)
				for (uint32_t i = 0; i < s->b->count[r]; i++)
					if (s->ch[r][i].pid &&
					    (role_only < 0 || r == role_only)) {
						soak_coord_violation(
							s, r,
							"%s%u did not stop "
							"within %.0f s",
							soak_role_names[r], i,
							(double)s->hang_ns /
								1e9);
						s->ch[r][i].killed = 1;
						kill(s->ch[r][i].pid, SIGKILL);
					}
			deadline = cli_now_ns() + s->hang_ns;
		}
		sleep_ns(10 * MS);
	}
}

/*
 * Entries left in the registry directory: every file but ".lock", the
 * registry's own (docs/registry-format.md).
 */
int soak_registry_left(const char *dir, FILE *out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    !strcmp(e->d_name, ".lock"))
			continue;
		if (out)
			fprintf(out, "shoal soak: left in the registry: %s\n",
				e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

void soak_remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}
