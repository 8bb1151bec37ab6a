/* SPDX-License-Identifier: MIT */
/*
 * The event subcommands: notify (signal ids), wait (until ids fire). Both
 * open an existing event service; its creator owns it.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Most ids one command line names. */
#define IDS_ARGS_MAX 64

/*
 * Parses NAME ID... into @name and @ids (an id that is not a number below
 * SHOAL_EVENT_IDS_MAX is a usage error). CLI_CONTINUE or the exit status.
 */
static int parse_ids(const struct cli_cmd *cmd, struct cli_opt *opts, int argc,
		     char **argv, const char **name, uint32_t *ids, int *nids)
{
	const char *pos[IDS_ARGS_MAX + 1];
	int n, rc;

	rc = cli_parse_some(cmd, opts, argc, argv, pos, 2, IDS_ARGS_MAX + 1,
			    &n);
	if (rc != CLI_CONTINUE)
		return rc;
	*name = pos[0];
	for (int i = 1; i < n; i++) {
		char *end;
		unsigned long v;

		if (*pos[i] < '0' || *pos[i] > '9')
			return cli_usage_error(cmd, "'%s' is not an id",
					       pos[i]);
		errno = 0;
		v = strtoul(pos[i], &end, 10);
		if (errno || *end || v >= SHOAL_EVENT_IDS_MAX)
			return cli_usage_error(cmd,
					       "'%s' is not an id below %u",
					       pos[i], SHOAL_EVENT_IDS_MAX);
		ids[i - 1] = (uint32_t)v;
	}
	*nids = n - 1;
	return CLI_CONTINUE;
}

static int event_open(const struct cli_cmd *cmd, const char *name,
		      struct shoal_event **ev)
{
	int err = shoal_event_open(name, NULL, ev);

	if (!err)
		return CLI_EXIT_OK;
	if (err == -ENOENT)
		return cli_fail(cmd, err, "no such service '%s'", name);
	if (err == -EINVAL)
		return cli_usage_error(cmd, "cannot open '%s': %s", name,
				       shoal_last_error());
	return cli_fail(cmd, err, "cannot open '%s'", name);
}

/* The ids must exist in this service: a usage error otherwise. */
static int check_ids(const struct cli_cmd *cmd, struct shoal_event *ev,
		     const uint32_t *ids, int nids)
{
	uint32_t max = shoal_event_ids(ev);

	for (int i = 0; i < nids; i++)
		if (ids[i] >= max)
			return cli_usage_error(cmd,
					       "id %u: the service has ids "
					       "0..%u",
					       ids[i], max - 1);
	return CLI_CONTINUE;
}

/* --- notify */

static int cmd_notify(const struct cli_cmd *cmd, int argc, char **argv)
{
	uint32_t ids[IDS_ARGS_MAX];
	struct shoal_event *ev;
	const char *name;
	int nids, rc;

	rc = parse_ids(cmd, NULL, argc, argv, &name, ids, &nids);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = event_open(cmd, name, &ev);
	if (rc)
		return rc;
	rc = check_ids(cmd, ev, ids, nids);
	for (int i = 0; rc == CLI_CONTINUE && i < nids; i++) {
		int n = shoal_event_notify(ev, ids[i]);

		if (n == -EPIPE) {
			cli_note(cmd, "service gone");
			rc = CLI_EXIT_GONE;
		} else if (n < 0) {
			rc = cli_fail(cmd, n, "cannot notify %u", ids[i]);
		} else {
			fprintf(stderr,
				"shoal: %s: id %u: %d listener%s signalled\n",
				cmd->name, ids[i], n, n == 1 ? "" : "s");
		}
	}
	shoal_event_close(ev);
	return rc == CLI_CONTINUE ? CLI_EXIT_OK : rc;
}

const struct cli_cmd cli_cmd_notify = {
	.name = "notify",
	.summary = "signal event ids to their listeners",
	.synopsis = "notify NAME ID...",
	.help = "Opens event service NAME and notifies each ID in turn: "
		"every listener\n"
		"interested in it is signalled (and woken if it sleeps). "
		"Prints\n"
		"\"id ID: N listeners signalled\" on stderr per id, nothing on "
		"stdout.\n"
		"Notifications carry no data and coalesce: one a listener has "
		"not taken yet\n"
		"is not signalled twice.\n"
		"\n"
		"exit status: 0, 1 failure (\"no such service\" included), 2 "
		"usage (an id\n"
		"the service does not have included), 4 service gone.\n",
	.run = cmd_notify,
};

/* --- wait */

static int wait_loop(const struct cli_cmd *cmd, struct shoal_event *ev,
		     uint64_t count, double timeout_s)
{
	int64_t timeout = timeout_s > 0 ? cli_seconds_ns(timeout_s) : -1;
	int64_t start = cli_now_ns();
	uint64_t got = 0;

	while (!cli_stop && got < count) {
		struct shoal_event_set fired;
		int64_t wait = CLI_TICK_NS;
		int n;

		if (timeout >= 0 && start + timeout - cli_now_ns() < wait)
			wait = start + timeout - cli_now_ns();
		n = shoal_event_wait(ev, NULL, wait > 0 ? wait : 0, &fired);
		if (n > 0) {
			for (int id = shoal_event_set_next(&fired, 0); id >= 0;
			     id = shoal_event_set_next(&fired,
						       (uint32_t)id + 1))
				printf("%d\n", id);
			fflush(stdout);
			got += (uint64_t)n;
		} else if (n == -ETIMEDOUT || n == -EAGAIN) {
			if (timeout >= 0 && cli_now_ns() - start >= timeout) {
				fprintf(stderr, "shoal: %s: nothing in %g s\n",
					cmd->name, timeout_s);
				return CLI_EXIT_TIMEOUT;
			}
		} else if (n == -EPIPE) {
			cli_note(cmd, "service gone");
			return CLI_EXIT_GONE;
		} else {
			return cli_fail(cmd, n, "cannot wait");
		}
	}
	return CLI_EXIT_OK;
}

static int cmd_wait(const struct cli_cmd *cmd, int argc, char **argv)
{
	uint32_t ids[IDS_ARGS_MAX];
	struct shoal_event_set set;
	struct shoal_event *ev;
	const char *name;
	uint64_t count = 1;
	double timeout = 0;
	int nids, rc, err;
	struct cli_opt opts[] = {
		CLI_OPT_U64("--count", &count, 0),
		CLI_OPT_DOUBLE("--timeout", &timeout),
		CLI_OPT_END,
	};

	rc = parse_ids(cmd, opts, argc, argv, &name, ids, &nids);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_check_count_timeout(cmd, opts, count, timeout);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = event_open(cmd, name, &ev);
	if (rc)
		return rc;
	rc = check_ids(cmd, ev, ids, nids);
	if (rc != CLI_CONTINUE) {
		shoal_event_close(ev);
		return rc;
	}
	shoal_event_set_clear(&set);
	for (int i = 0; i < nids; i++)
		shoal_event_set_add(&set, ids[i]);
	err = shoal_event_listen(ev, &set);
	if (err == -EPIPE) {
		cli_note(cmd, "service gone");
		rc = CLI_EXIT_GONE;
	} else if (err) {
		rc = cli_fail(cmd, err, "cannot listen to '%s'", name);
	} else {
		cli_catch_signals();
		rc = wait_loop(cmd, ev, count, timeout);
	}
	shoal_event_close(ev);
	return rc;
}

const struct cli_cmd cli_cmd_wait = {
	.name = "wait",
	.summary = "wait until event ids are notified, and print them",
	.synopsis = "wait NAME ID... [--count N] [--timeout SEC]",
	.help = "Opens event service NAME, listens to the IDs, and waits "
		"until one is\n"
		"notified; prints each id reported on its own line. Ids "
		"notified after\n"
		"wait started listening are never missed; two notifies of one "
		"id before it\n"
		"looks are reported once. While it runs, 'shoal info NAME' "
		"lists it as a\n"
		"listener.\n"
		"\n"
		"  --count N      go on until N ids were reported (default 1)\n"
		"  --timeout SEC  exit 3 when SEC seconds pass before that\n"
		"\n"
		"exit status: 0 (done, or SIGINT/SIGTERM), 1 failure (\"no "
		"such service\"\n"
		"included), 2 usage (an id the service does not have "
		"included), 3 timed\n"
		"out, 4 service gone (its creator withdrew or died).\n",
	.run = cmd_wait,
};
