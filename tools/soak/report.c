/* SPDX-License-Identifier: MIT */
/*
 * shoal soak: the end of a run. The fd and RSS check of the steady
 * instances and of the coordinator (samples after warm-up and at the end),
 * and the summary, as a table or as JSON: per role its messages, kills,
 * restarts, violations and other counters; the queue's accounting; the
 * samples; what was left in the registry; the violations in all.
 */
#include "soak.h"

#define FD_SLACK 2
#define RSS_SLACK_KIB 4096

/* Under a sanitizer, freed memory sits in a quarantine that grows with
 * every attach and detach: RSS says nothing about leaks there (the
 * sanitizer's own leak check does), so it is reported, not checked. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SOAK_CHECK_RSS 0
#else
#define SOAK_CHECK_RSS 1
#endif

/* Steady processes: flat fd count and RSS (samples after warm-up, end). */
void soak_check_steady(struct soak *s, const int64_t fds[2],
		       const int64_t rss[2])
{
	const uint32_t *cnt = s->b->count;

	for (int r = 0; r < ROLE_N; r++)
		for (uint32_t i = 0; i < cnt[r]; i++) {
			struct inst *in = &s->b->inst[r][i];
			int64_t ev_slack;

			if (!in->steady)
				continue;
			/* A queue participant keeps the eventfd of
				 * each line it woke (taken on first use):
				 * up to QUEUE_LINES more, not a leak. */
			ev_slack =
				FD_SLACK + (r == ROLE_CONS ? QUEUE_LINES : 0);
			if (in->fds[1] - in->evfds[1] >
				    in->fds[0] - in->evfds[0] + FD_SLACK ||
			    in->evfds[1] > in->evfds[0] + ev_slack)
				soak_coord_violation(
					s, r,
					"%s%u: fds %" PRId64 " (%" PRId64
					" eventfds) after warm-up, "
					"%" PRId64 " (%" PRId64 ") at the end",
					soak_role_names[r], i, in->fds[0],
					in->evfds[0], in->fds[1], in->evfds[1]);
			if (SOAK_CHECK_RSS &&
			    in->rss_kib[1] > in->rss_kib[0] + RSS_SLACK_KIB)
				soak_coord_violation(
					s, r,
					"%s%u: VmRSS %" PRId64
					" KiB after warm-up, %" PRId64
					" KiB at the end",
					soak_role_names[r], i, in->rss_kib[0],
					in->rss_kib[1]);
		}
	if (fds[1] > fds[0] + FD_SLACK ||
	    (SOAK_CHECK_RSS && rss[1] > rss[0] + RSS_SLACK_KIB))
		soak_coord_violation(s, -1,
				     "coordinator: fds %" PRId64 " -> %" PRId64
				     ", VmRSS %" PRId64 " -> %" PRId64 " KiB",
				     fds[0], fds[1], rss[0], rss[1]);
}

/* Prints the summary; returns the number of violations in all. */
uint64_t soak_report(const struct soak *s, const struct q_totals *qt,
		     const int64_t fds[2], const int64_t rss[2], int left,
		     int json)
{
	uint64_t cnt[ROLE_N], total_viol = 0;

	for (int r = 0; r < ROLE_N; r++)
		cnt[r] = s->b->count[r];
	for (int r = 0; r < ROLE_N; r++)
		for (uint32_t i = 0; i < cnt[r]; i++)
			total_viol += atomic_load(&s->b->inst[r][i].violations);
	for (int r = 0; r < ROLE_N; r++)
		total_viol += s->cviol[r];
	total_viol += s->own_viol;
	if (json) {
		printf("{\"seed\": %" PRIu64 ", \"duration_s\": %" PRIu64
		       ", \"kill_every_ms\": %" PRIu64 ", \"rate\": %" PRIu64
		       ", \"kills\": %" PRIu64 ",\n \"roles\": {",
		       s->seed, s->duration, s->kill_every, s->rate,
		       s->kills_total);
	} else {
		printf("shoal soak: %" PRIu64 " s, kill every %" PRIu64
		       " ms (mean), seed %" PRIu64 ", rate %" PRIu64
		       "/s per sender\n",
		       s->duration, s->kill_every, s->seed, s->rate);
		printf("%-5s %4s %12s %-9s %6s %8s %10s  %s\n", "role", "n",
		       "messages", "", "kills", "restarts", "violations",
		       "other");
	}
	for (int r = 0; r < ROLE_N; r++) {
		uint64_t msgs = 0, kills = 0, restarts = 0, viol = s->cviol[r];
		uint64_t x[X_N] = { 0 };

		for (uint32_t i = 0; i < cnt[r]; i++) {
			struct inst *in = &s->b->inst[r][i];

			msgs += atomic_load(&in->messages);
			viol += atomic_load(&in->violations);
			kills += s->ch[r][i].kills;
			restarts += s->ch[r][i].restarts;
			for (int k = 0; k < X_N; k++)
				x[k] += atomic_load(&in->x[k]);
		}
		if (json) {
			printf("%s\n  \"%s\": {\"n\": %" PRIu64
			       ", \"messages\": %" PRIu64
			       ", \"kills\": %" PRIu64
			       ", \"restarts\": %" PRIu64
			       ", \"violations\": %" PRIu64,
			       r ? "," : "", soak_role_names[r], cnt[r], msgs,
			       kills, restarts, viol);
			for (int k = 0; k < X_N; k++)
				if (x[k])
					printf(", \"%s\": %" PRIu64,
					       soak_x_names[k], x[k]);
			printf("}");
		} else {
			printf("%-5s %4" PRIu64 " %12" PRIu64 " %-9s %6" PRIu64
			       " %8" PRIu64 " %10" PRIu64 " ",
			       soak_role_names[r], cnt[r], msgs,
			       soak_role_units[r], kills, restarts, viol);
			for (int k = 0; k < X_N; k++)
				if (x[k])
					printf(" %s %" PRIu64, soak_x_names[k],
					       x[k]);
			printf("\n");
		}
	}
	if (json) {
		printf("},\n \"queue\": {\"pushed\": %" PRIu64
		       ", \"in_doubt\": %" PRIu64 ", \"taken\": %" PRIu64
		       ", \"lost\": %" PRIu64 ", \"skipped\": %" PRIu64
		       ", \"abandoned\": %" PRIu64
		       ", \"killed_after_recording\": %" PRIu64 "},\n",
		       qt->pushed, qt->uncertain, qt->taken,
		       qt->missing_confirmed + qt->missing_uncertain,
		       qt->st.skipped, qt->st.abandoned, s->killed_recorded);
		printf(" \"samples\": [");
		for (int r = 0, first = 1; r < ROLE_N; r++)
			for (uint32_t i = 0; i < cnt[r]; i++) {
				struct inst *in = &s->b->inst[r][i];

				if (!in->steady)
					continue;
				printf("%s{\"who\": \"%s%u\", \"fds\": [%" PRId64
				       ", %" PRId64 "], \"eventfds\": [%" PRId64
				       ", %" PRId64 "], \"rss_kib\": [%" PRId64
				       ", %" PRId64 "]}",
				       first ? "" : ", ", soak_role_names[r], i,
				       in->fds[0], in->fds[1], in->evfds[0],
				       in->evfds[1], in->rss_kib[0],
				       in->rss_kib[1]);
				first = 0;
			}
		printf(", {\"who\": \"soak\", \"fds\": [%" PRId64 ", %" PRId64
		       "], \"rss_kib\": [%" PRId64 ", %" PRId64 "]}],\n",
		       fds[0], fds[1], rss[0], rss[1]);
		printf(" \"registry_left\": %d, \"violations\": %" PRIu64 "}\n",
		       left, total_viol);
	} else {
		printf("queue: %" PRIu64 " pushed (%" PRIu64
		       " in doubt: producer killed mid-push), %" PRIu64
		       " taken, %" PRIu64 " lost = skipped %" PRIu64
		       " + abandoned %" PRIu64 " - %" PRIu64
		       " recorded (or being recorded) at the kill\n",
		       qt->pushed, qt->uncertain, qt->taken,
		       qt->missing_confirmed + qt->missing_uncertain,
		       qt->st.skipped, qt->st.abandoned, s->killed_recorded);
		printf("fd/VmRSS (after warm-up -> end):");
		for (int r = 0; r < ROLE_N; r++)
			for (uint32_t i = 0; i < cnt[r]; i++) {
				struct inst *in = &s->b->inst[r][i];

				if (in->steady)
					printf(" %s%u %" PRId64 "->%" PRId64
					       " fds %" PRId64 "->%" PRId64
					       " KiB;",
					       soak_role_names[r], i,
					       in->fds[0], in->fds[1],
					       in->rss_kib[0], in->rss_kib[1]);
			}
		printf(" soak %" PRId64 "->%" PRId64 " fds %" PRId64
		       "->%" PRId64 " KiB\n",
		       fds[0], fds[1], rss[0], rss[1]);
		printf("registry: %d entries left; %s: %" PRIu64
		       " violation(s)\n",
		       left, total_viol ? "FAIL" : "ok", total_viol);
	}
	return total_viol;
}
