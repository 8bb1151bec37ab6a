/* SPDX-License-Identifier: MIT */
/*
 * The registry subcommands: list (once or --watch), info, clean.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* --- list */

struct list_ctx {
	int json;
	int count;
	int64_t now_ns;
};

/* A pid for a table: "-" for 0, an owner in another PID namespace, whose
 * pid means nothing here. */
static const char *pid_text(int32_t pid, char *buf, size_t cap)
{
	if (pid == 0)
		return "-";
	snprintf(buf, cap, "%d", pid);
	return buf;
}

static void print_one(const struct shoal_service_info *i, struct list_ctx *ctx)
{
	char pid[16];
	double age = (double)(ctx->now_ns - i->created_ns) / 1e9;

	if (ctx->json) {
		printf("%s\n  {\"name\": ", ctx->count ? "," : "");
		cli_json_string(stdout, i->name);
		printf(", \"pattern\": \"%s\", \"pid\": %d, \"uid\": %u, "
		       "\"epoch\": %llu, \"segment_bytes\": %llu, "
		       "\"eventfds\": %u, \"type\": ",
		       cli_pattern_name(i->pattern), i->pid, i->uid,
		       (unsigned long long)i->epoch,
		       (unsigned long long)i->memfd_size, i->eventfd_count);
		cli_json_string(stdout, i->type_name);
		printf(", \"origin\": ");
		cli_json_string(stdout, i->origin);
		printf(", \"age_s\": %.3f}", age);
	} else {
		/* A mirror says where it comes from after the columns, so
		 * the columns stay the same for every line. */
		printf("%-32s %-8s %8s %12llu %8.1fs%s%s\n", i->name,
		       cli_pattern_name(i->pattern),
		       pid_text(i->pid, pid, sizeof(pid)),
		       (unsigned long long)i->memfd_size, age,
		       i->origin[0] ? "  via " : "", i->origin);
	}
	ctx->count++;
}

/* The live services, gathered to be printed sorted by name. */
struct gather {
	struct shoal_service_info *v;
	size_t n, cap;
	int failed;
};

static int gather_one(const struct shoal_service_info *i, void *user_data)
{
	struct gather *g = user_data;

	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		struct shoal_service_info *v = realloc(g->v, cap * sizeof(*v));

		if (!v) {
			g->failed = 1;
			return 1;
		}
		g->v = v;
		g->cap = cap;
	}
	g->v[g->n++] = *i;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct shoal_service_info *)a)->name,
		      ((const struct shoal_service_info *)b)->name);
}

/* What the list did not show, on stderr: stdout stays the table or the
 * JSON array alone. */
static void note_hidden(const struct cli_cmd *cmd,
			const struct shoal_list_report *rep)
{
	if (rep->stale)
		cli_note(cmd,
			 "%u stale entr%s not shown (owner dead); 'shoal "
			 "clean' removes %s",
			 rep->stale, rep->stale == 1 ? "y" : "ies",
			 rep->stale == 1 ? "it" : "them");
	if (rep->invalid)
		cli_note(cmd,
			 "%u entr%s not shown: not a valid service "
			 "descriptor (docs/registry.md)",
			 rep->invalid, rep->invalid == 1 ? "y" : "ies");
}

static void list_header(int json)
{
	if (json)
		printf("[");
	else
		printf("%-32s %-8s %8s %12s %9s\n", "NAME", "PATTERN", "PID",
		       "BYTES", "AGE");
}

static int list_once(const struct cli_cmd *cmd, struct shoal_registry *reg,
		     int json)
{
	struct list_ctx ctx = { .json = json, .now_ns = cli_realtime_ns() };
	struct shoal_list_report rep;
	struct gather g = { 0 };
	int n;

	n = shoal_registry_list_report(reg, gather_one, &g, &rep);
	if (n < 0) {
		free(g.v);
		return cli_fail(cmd, n, "cannot list %s",
				shoal_registry_path(reg));
	}
	if (g.failed) {
		free(g.v);
		return cli_fail_sys(cmd, -ENOMEM, "out of memory");
	}
	if (g.n)
		qsort(g.v, g.n, sizeof(*g.v), by_name);
	list_header(json);
	for (size_t i = 0; i < g.n; i++)
		print_one(&g.v[i], &ctx);
	if (json)
		printf("%s]\n", ctx.count ? "\n" : "");
	free(g.v);
	fflush(stdout);
	note_hidden(cmd, &rep);
	return CLI_EXIT_OK;
}

static void print_event(const struct shoal_watch_event *ev, int json)
{
	const struct shoal_service_info *i = &ev->info;
	int up = ev->type == SHOAL_WATCH_APPEARED;
	char pid[16];

	if (json) {
		printf("{\"event\": \"%s\", \"name\": ",
		       up ? "appeared" : "gone");
		cli_json_string(stdout, i->name);
		printf(", \"pattern\": \"%s\", \"pid\": %d, \"epoch\": %llu, "
		       "\"type\": ",
		       cli_pattern_name(i->pattern), i->pid,
		       (unsigned long long)i->epoch);
		cli_json_string(stdout, i->type_name);
		printf(", \"origin\": ");
		cli_json_string(stdout, i->origin);
		printf("}\n");
	} else {
		printf("%-8s %-32s %-8s %8s%s%s\n", up ? "APPEARED" : "GONE",
		       i->name, cli_pattern_name(i->pattern),
		       pid_text(i->pid, pid, sizeof(pid)),
		       i->origin[0] ? "  via " : "", i->origin);
	}
}

static int list_watch(const struct cli_cmd *cmd, struct shoal_registry *reg,
		      int json)
{
	struct shoal_watch_event ev;
	struct shoal_watch *w;
	int err, rc = CLI_EXIT_OK;

	err = shoal_registry_watch(reg, &w);
	if (err)
		return cli_fail(cmd, err, "cannot watch %s",
				shoal_registry_path(reg));
	cli_catch_signals();
	while (!cli_stop) {
		err = shoal_watch_next(w, &ev);
		if (err < 0) {
			rc = cli_fail(cmd, err, "watch failed");
			break;
		}
		if (err == 1) {
			print_event(&ev, json);
			continue;
		}
		fflush(stdout);
		err = cli_wait_readable(shoal_watch_fd(w), -1);
		if (err < 0) {
			rc = cli_fail_sys(cmd, err, "poll");
			break;
		}
	}
	fflush(stdout);
	shoal_watch_close(w);
	return rc;
}

static int cmd_list(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct shoal_registry *reg;
	int json = 0, watch = 0, rc;
	struct cli_opt opts[] = {
		CLI_OPT_FLAG("--json", NULL, &json),
		CLI_OPT_FLAG("--watch", NULL, &watch),
		CLI_OPT_END,
	};

	rc = cli_parse(cmd, opts, argc, argv, NULL, 0);
	if (rc != CLI_CONTINUE)
		return rc;
	/* --watch waits for the first service: it may make the directory
	 * as that service would. A list only reads. */
	rc = watch ? cli_open_registry(cmd, &reg) :
		     cli_open_registry_existing(cmd, &reg);
	if (rc < 0) {
		list_header(json);
		if (json)
			printf("]\n");
		return CLI_EXIT_OK;
	}
	if (rc)
		return CLI_EXIT_FAIL;
	rc = watch ? list_watch(cmd, reg, json) : list_once(cmd, reg, json);
	shoal_registry_destroy(reg);
	return rc;
}

const struct cli_cmd cli_cmd_list = {
	.name = "list",
	.summary = "list the live services (--watch: follow them)",
	.synopsis = "list [--json] [--watch]",
	.help = "Lists the live services, sorted by name: name, pattern, "
		"owner pid, segment\n"
		"bytes, age. Entries it does not show are counted on stderr "
		"(stdout stays\n"
		"the table or the JSON): \"N stale entries not shown (owner "
		"dead); 'shoal\n"
		"clean' removes them\", and files that are not valid "
		"descriptors. A\n"
		"registry directory that does not exist is not created: "
		"\"no registry yet\"\n"
		"on stderr, an empty list, exit 0 (--watch creates it, as the "
		"first\n"
		"service would).\n"
		"An owner in another PID namespace (a container) has pid \"-\" "
		"(0 in JSON):\n"
		"its pid means nothing here.\n"
		"A service that stands in for one elsewhere (a gateway's "
		"mirror) ends its\n"
		"line with \"  via ORIGIN\" after the age (\"origin\" in "
		"JSON, \"\" when local).\n"
		"\n"
		"  --json   a JSON array of objects instead of the table\n"
		"  --watch  keep running: one line per event, \"APPEARED\" or\n"
		"           \"GONE\", name, pattern, owner pid (services "
		"present at\n"
		"           the start are reported as APPEARED first); with "
		"--json,\n"
		"           one JSON object per line. SIGINT/SIGTERM end it "
		"(exit 0).\n",
	.run = cmd_list,
};

/* --- info */

struct find_ctx {
	const char *name;
	struct shoal_service_info *info;
	int found;
};

static int find_one(const struct shoal_service_info *i, void *user_data)
{
	struct find_ctx *ctx = user_data;

	if (strcmp(i->name, ctx->name))
		return 0;
	*ctx->info = *i;
	ctx->found = 1;
	return 1;
}

static const char *delivery_name(enum shoal_delivery d)
{
	return d == SHOAL_DELIVERY_LOSSY ? "lossy" : "reliable";
}

/* A ring's SHOAL_PUB_* flags by name ("(none)"; bits we do not know in
 * hex: the header is the publisher's word). */
static const char *pub_flags_text(uint32_t f, char *buf, size_t n)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} known[] = { { SHOAL_PUB_TIMESTAMP, "timestamp" },
		      { SHOAL_PUB_TRUSTED_SUBSCRIBERS,
			"trusted_subscribers" } };
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (f & known[i].bit) {
			len += (size_t)snprintf(buf + len, n - len, "%s%s",
						len ? ", " : "", known[i].name);
			f &= ~known[i].bit;
		}
	if (f)
		snprintf(buf + len, n - len, "%s0x%x", len ? ", " : "", f);
	return buf[0] ? buf : "(none)";
}

static void info_text(const struct shoal_service_info *s, int64_t now_ns,
		      const struct shoal_pubsub_info *ps,
		      const struct shoal_pubsub_sub_info *subs, uint32_t nsubs,
		      const struct cli_pattern_info *pi)
{
	char pid[16], flags[64];

	printf("service:            %s\n", s->name);
	printf("pattern:            %s\n", cli_pattern_name(s->pattern));
	printf("owner pid:          %s\n", pid_text(s->pid, pid, sizeof(pid)));
	printf("owner uid:          %u\n", s->uid);
	printf("epoch:              %llu\n", (unsigned long long)s->epoch);
	printf("origin:             %s\n",
	       s->origin[0] ? s->origin : "(local)");
	if (s->type_name[0])
		printf("type:               %s (%u bytes, align %u)\n",
		       s->type_name, s->type_size, s->type_align);
	else
		printf("type:               (untyped)\n");
	printf("segment bytes:      %llu\n", (unsigned long long)s->memfd_size);
	printf("eventfds:           %u\n", s->eventfd_count);
	printf("extra fds:          %u\n", s->extra_fd_count);
	printf("age:                %.1fs\n",
	       (double)(now_ns - s->created_ns) / 1e9);
	cli_pattern_print_text(pi);
	if (!ps)
		return;

	printf("\nlayout\n");
	printf("  delivery:         %s\n", delivery_name(ps->delivery));
	printf("  capacity:         %u\n", ps->capacity);
	printf("  slot stride:      %u\n", ps->slot_stride);
	printf("  max payload:      %u\n", ps->max_payload);
	printf("  user header:      %u\n", ps->user_header_size);
	printf("  history:          %u\n", ps->history);
	printf("  max subscribers:  %u\n", ps->max_subscribers);
	printf("  flags:            %s\n",
	       pub_flags_text(ps->flags, flags, sizeof(flags)));
	if (ps->max_publishers > 1)
		printf("  publishers:       %u live of %u (this ring: slot "
		       "%u)\n",
		       ps->publishers, ps->max_publishers, ps->pub.slot);
	for (uint32_t c = 0; c < ps->npools; c++)
		printf("  pool %u:           %u chunks of %u bytes\n", c,
		       ps->pools[c].count, ps->pools[c].size);
	printf("  payload bytes:    %llu\n",
	       (unsigned long long)ps->payload_bytes);
	printf("  subscriber bytes: %llu\n",
	       (unsigned long long)ps->subscriber_bytes);

	printf("\npublisher\n");
	printf("  head:             %llu\n", (unsigned long long)ps->head);
	printf("  sent:             %llu\n", (unsigned long long)ps->pub.sent);
	printf("  blocked:          %llu\n",
	       (unsigned long long)ps->pub.blocked);
	printf("  failed:           %llu\n",
	       (unsigned long long)ps->pub.failed);
	printf("  wakeups:          %llu\n",
	       (unsigned long long)ps->pub.wakeups);
	printf("  evicted:          %llu\n",
	       (unsigned long long)ps->pub.evicted);

	printf("\nsubscribers:        %u\n", ps->subscribers);
	if (!nsubs)
		return;
	printf("  %5s %8s %12s %10s %12s %10s %8s %8s %8s\n", "INDEX", "PID",
	       "CURSOR", "LAG", "RECEIVED", "LOST", "STALE", "SLEEPS",
	       "WAKEUPS");
	for (uint32_t i = 0; i < nsubs; i++) {
		const struct shoal_pubsub_sub_info *u = &subs[i];

		printf("  %5u %8d %12llu %10lld %12llu %10llu %8llu %8llu "
		       "%8llu\n",
		       u->index, u->pid, (unsigned long long)u->cursor,
		       (long long)(ps->head - u->cursor),
		       (unsigned long long)u->received,
		       (unsigned long long)u->lost,
		       (unsigned long long)u->stale,
		       (unsigned long long)u->sleeps,
		       (unsigned long long)u->wakeups);
	}
}

static void info_json(const struct shoal_service_info *s, int64_t now_ns,
		      const struct shoal_pubsub_info *ps,
		      const struct shoal_pubsub_sub_info *subs, uint32_t nsubs,
		      const struct cli_pattern_info *pi)
{
	printf("{\"name\": ");
	cli_json_string(stdout, s->name);
	printf(", \"pattern\": \"%s\", \"pid\": %d, \"uid\": %u, "
	       "\"epoch\": %llu, \"type\": ",
	       cli_pattern_name(s->pattern), s->pid, s->uid,
	       (unsigned long long)s->epoch);
	cli_json_string(stdout, s->type_name);
	printf(", \"origin\": ");
	cli_json_string(stdout, s->origin);
	printf(", \"type_size\": %u, \"type_align\": %u, "
	       "\"segment_bytes\": %llu, \"eventfds\": %u, "
	       "\"extra_fds\": %u, \"age_s\": %.3f",
	       s->type_size, s->type_align, (unsigned long long)s->memfd_size,
	       s->eventfd_count, s->extra_fd_count,
	       (double)(now_ns - s->created_ns) / 1e9);
	cli_pattern_print_json(pi);
	if (!ps) {
		printf("}\n");
		return;
	}
	printf(",\n \"layout\": {\"delivery\": \"%s\", \"capacity\": %u, "
	       "\"slot_stride\": %u, \"max_payload\": %u, "
	       "\"user_header_size\": %u, \"history\": %u, "
	       "\"max_subscribers\": %u, \"payload_bytes\": %llu, "
	       "\"subscriber_bytes\": %llu, \"flags\": %u, \"pools\": [",
	       delivery_name(ps->delivery), ps->capacity, ps->slot_stride,
	       ps->max_payload, ps->user_header_size, ps->history,
	       ps->max_subscribers, (unsigned long long)ps->payload_bytes,
	       (unsigned long long)ps->subscriber_bytes, ps->flags);
	for (uint32_t c = 0; c < ps->npools; c++)
		printf("%s{\"size\": %u, \"count\": %u}", c ? ", " : "",
		       ps->pools[c].size, ps->pools[c].count);
	printf("]},\n");
	printf(" \"publisher\": {\"head\": %llu, \"sent\": %llu, "
	       "\"blocked\": %llu, \"failed\": %llu, \"wakeups\": %llu, "
	       "\"evicted\": %llu},\n",
	       (unsigned long long)ps->head, (unsigned long long)ps->pub.sent,
	       (unsigned long long)ps->pub.blocked,
	       (unsigned long long)ps->pub.failed,
	       (unsigned long long)ps->pub.wakeups,
	       (unsigned long long)ps->pub.evicted);
	printf(" \"subscriber_count\": %u,\n \"subscribers\": [",
	       ps->subscribers);
	for (uint32_t i = 0; i < nsubs; i++) {
		const struct shoal_pubsub_sub_info *u = &subs[i];

		printf("%s\n  {\"index\": %u, \"pid\": %d, \"cursor\": %llu, "
		       "\"lag\": %lld, \"received\": %llu, \"lost\": %llu, "
		       "\"stale\": %llu, \"sleeps\": %llu, \"wakeups\": %llu}",
		       i ? "," : "", u->index, u->pid,
		       (unsigned long long)u->cursor,
		       (long long)(ps->head - u->cursor),
		       (unsigned long long)u->received,
		       (unsigned long long)u->lost,
		       (unsigned long long)u->stale,
		       (unsigned long long)u->sleeps,
		       (unsigned long long)u->wakeups);
	}
	printf("%s]}\n", nsubs ? "\n " : "");
}

static int info_service(const struct cli_cmd *cmd, struct shoal_registry *reg,
			const char *name, int json)
{
	struct shoal_pubsub_sub_info *subs = NULL;
	struct shoal_pubsub_info ps, *psp = NULL;
	struct cli_pattern_info *pi;
	struct shoal_service_info s;
	struct find_ctx ctx = { .name = name, .info = &s };
	uint32_t nsubs = 0;
	int n;

	n = shoal_registry_list(reg, find_one, &ctx);
	if (n < 0)
		return cli_fail(cmd, n, "cannot list %s",
				shoal_registry_path(reg));
	if (!ctx.found) {
		fprintf(stderr, "shoal: %s: no such service '%s'\n", cmd->name,
			name);
		return CLI_EXIT_FAIL;
	}
	if (s.pattern == SHOAL_PATTERN_PUBSUB) {
		subs = calloc(SHOAL_PUB_SUBSCRIBERS_MAX, sizeof(*subs));
		if (!subs)
			return cli_fail_sys(cmd, -ENOMEM, "out of memory");
		n = shoal_pubsub_inspect(reg, name, &ps, subs,
					 SHOAL_PUB_SUBSCRIBERS_MAX);
		if (n < 0) {
			free(subs);
			return cli_fail(cmd, n, "cannot inspect '%s'", name);
		}
		nsubs = (uint32_t)n < SHOAL_PUB_SUBSCRIBERS_MAX ?
				(uint32_t)n :
				SHOAL_PUB_SUBSCRIBERS_MAX;
		psp = &ps;
	}
	if (cli_pattern_inspect(cmd, reg, &s, &pi)) {
		free(subs);
		return CLI_EXIT_FAIL;
	}
	if (json)
		info_json(&s, cli_realtime_ns(), psp, subs, nsubs, pi);
	else
		info_text(&s, cli_realtime_ns(), psp, subs, nsubs, pi);
	cli_pattern_free(pi);
	free(subs);
	return CLI_EXIT_OK;
}

static int cmd_info(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct shoal_registry *reg;
	const char *name;
	int json = 0, rc;
	struct cli_opt opts[] = {
		CLI_OPT_FLAG("--json", NULL, &json),
		CLI_OPT_END,
	};

	rc = cli_parse(cmd, opts, argc, argv, &name, 1);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_open_registry_existing(cmd, &reg);
	if (rc < 0)
		fprintf(stderr, "shoal: %s: no such service '%s'\n", cmd->name,
			name);
	if (rc)
		return CLI_EXIT_FAIL;
	rc = info_service(cmd, reg, name, json);
	shoal_registry_destroy(reg);
	return rc;
}

const struct cli_cmd cli_cmd_info = {
	.name = "info",
	.summary = "a service's layout, counters and participants",
	.synopsis = "info NAME [--json]",
	.help = "Describes service NAME: owner, epoch, origin (where a "
		"gateway's mirror\n"
		"comes from; \"(local)\" otherwise), type, sizes; then, read "
		"without joining\n"
		"the service, what its pattern adds:\n"
		"  pubsub  its layout, the publisher's counters and head "
		"sequence, and one\n"
		"          row per live subscriber: line index, pid, cursor, "
		"lag (head -\n"
		"          cursor), received, lost, stale, sleeps, wakeups\n"
		"  queue   its layout (ring spsc or mpmc, capacity, max "
		"message, max\n"
		"          participants) and counters: participants, "
		"enqueued, dequeued,\n"
		"          depth (enqueued - dequeued), skipped (given up by "
		"a dead\n"
		"          producer), abandoned (lost with a dead consumer)\n"
		"  rpc     its layout, the server's counters, and one row per "
		"live client:\n"
		"          line, pid, sent, received, sleeps, wakeups\n"
		"  event   its layout, the notifiers' totals (notifies, "
		"delivered, wakeups),\n"
		"          and one row per live listener: line index, pid, "
		"ids of interest,\n"
		"          ids pending, delivered, wakeups, received, sleeps\n"
		"\n"
		"  --json  one JSON object: name, pattern, pid, uid, epoch, "
		"type, origin,\n"
		"          type_size, type_align, segment_bytes, eventfds, "
		"extra_fds, age_s;\n"
		"          then\n"
		"          pubsub: \"layout\", \"publisher\", "
		"\"subscriber_count\", \"subscribers\"\n"
		"          queue:  \"layout\" {ring, capacity, max_message, "
		"max_participants},\n"
		"                  \"queue\" {participants, enqueued, "
		"dequeued, depth, skipped,\n"
		"                  abandoned}\n"
		"          rpc:    \"layout\" {max_clients, max_request, "
		"max_response,\n"
		"                  request_capacity, response_capacity, "
		"server_bytes,\n"
		"                  client_bytes}, \"server\" {requests, "
		"responses, joined, lost,\n"
		"                  dropped, malformed, full, sleeps, wakeups}, "
		"\"client_count\",\n"
		"                  \"clients\" [{line, pid, sent, received, "
		"sleeps, wakeups}]\n"
		"          event:  \"layout\" {ids, max_listeners, "
		"line_stride, header_bytes,\n"
		"                  lines_bytes}, \"notifiers\" {notifies, "
		"delivered, wakeups},\n"
		"                  \"listener_count\", \"listeners\" [{index, "
		"pid, interest,\n"
		"                  pending, delivered, wakeups, received, "
		"sleeps}]\n"
		"          These keys are stable; new ones may be added.\n"
		"\n"
		"The counters live in shared memory that every participant "
		"writes: they are\n"
		"shown as found. exit status: 0, 1 (no such service, or it "
		"cannot be read),\n"
		"2 usage.\n",
	.run = cmd_info,
};

/* --- clean */

static int cmd_clean(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct shoal_clean_report rep;
	struct shoal_registry *reg;
	int n, rc = CLI_EXIT_OK;

	n = cli_parse(cmd, NULL, argc, argv, NULL, 0);
	if (n != CLI_CONTINUE)
		return n;
	n = cli_open_registry_existing(cmd, &reg);
	if (n < 0) {
		printf("removed 0 stale entries\n");
		return CLI_EXIT_OK;
	}
	if (n)
		return CLI_EXIT_FAIL;
	n = shoal_registry_clean_report(reg, &rep);
	if (n < 0) {
		cli_fail(cmd, n, "cannot clean %s", shoal_registry_path(reg));
		shoal_registry_destroy(reg);
		return CLI_EXIT_FAIL;
	}
	printf("removed %u stale entr%s\n", rep.removed,
	       rep.removed == 1 ? "y" : "ies");
	if (rep.skipped_lock) {
		printf("skipped %u stale entr%s: %s/.lock is held by another "
		       "process\n",
		       rep.skipped_lock, rep.skipped_lock == 1 ? "y" : "ies",
		       shoal_registry_path(reg));
		rc = CLI_EXIT_FAIL;
	}
	if (rep.skipped > rep.skipped_lock) {
		printf("skipped %u stale entr%s: %s\n",
		       rep.skipped - rep.skipped_lock,
		       rep.skipped - rep.skipped_lock == 1 ? "y" : "ies",
		       strerror(-rep.error));
		rc = CLI_EXIT_FAIL;
	}
	shoal_registry_destroy(reg);
	return rc;
}

const struct cli_cmd cli_cmd_clean = {
	.name = "clean",
	.summary = "remove entries left by dead owners",
	.synopsis = "clean",
	.help = "Removes registry entries whose owner has died. Safe while "
		"services run.\n"
		"Removal takes the directory's .lock; while another process "
		"holds it, the\n"
		"pass waits at most 5 s in all, then skips the stale entries "
		"it could not\n"
		"remove and says so. exit status: 0, 1 (something stale was "
		"skipped, or\n"
		"the registry cannot be read), 2 usage.\n",
	.run = cmd_clean,
};
