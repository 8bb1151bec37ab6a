/* SPDX-License-Identifier: MIT */
/*
 * The queue subcommands: push (stdin lines into a queue), pop (print what
 * a queue holds). Both open an existing queue; its creator owns it.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Opens queue @name as @role; prints why not and returns the exit code. */
static int queue_open(const struct cli_cmd *cmd, const char *name,
		      uint32_t role, struct shoal_queue **q)
{
	struct shoal_queue_options o;
	int err;

	shoal_queue_options_init(&o);
	o.role = role;
	/* A write waits for room one tick at a time, so SIGINT is seen. */
	o.send_timeout_ns = CLI_TICK_NS;
	err = shoal_queue_open(name, &o, q);
	if (!err)
		return CLI_EXIT_OK;
	if (err == -ENOENT)
		return cli_fail(cmd, err, "no such service '%s'", name);
	if (err == -EINVAL)
		return cli_usage_error(cmd, "cannot open '%s': %s", name,
				       shoal_last_error());
	return cli_fail(cmd, err, "cannot open '%s'", name);
}

/* --- push */

struct push_ctx {
	const struct cli_cmd *cmd;
	struct shoal_queue *q;
	int64_t timeout_ns; /* per message; negative: forever */
	double timeout_s;
	uint64_t pushed;
};

/*
 * Writes one line, waiting for room in ticks (the handle's send_timeout_ns)
 * so that SIGINT is seen: --timeout is checked between ticks. A signal
 * while waiting ends the command like EOF (exit 0).
 */
static int push_line(void *user_data, const char *line, uint32_t len)
{
	struct push_ctx *c = user_data;
	int64_t start = cli_now_ns();

	for (;;) {
		int err = shoal_queue_write(c->q, line, len);

		if (!err) {
			c->pushed++;
			return CLI_EXIT_OK;
		}
		if (err == -EPIPE) {
			cli_note(c->cmd, "queue gone");
			return CLI_EXIT_GONE;
		}
		if (err != -EAGAIN)
			return cli_fail(c->cmd, err, "cannot push");
		if (cli_stop)
			return CLI_EXIT_OK;
		if (c->timeout_ns >= 0 &&
		    cli_now_ns() - start >= c->timeout_ns) {
			fprintf(stderr, "shoal: %s: no room in %g s\n",
				c->cmd->name, c->timeout_s);
			return CLI_EXIT_TIMEOUT;
		}
	}
}

static int cmd_push(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct push_ctx c = { .cmd = cmd, .timeout_ns = -1 };
	struct shoal_queue_stats st;
	const char *name;
	uint64_t count = 0;
	int rc;
	struct cli_opt opts[] = {
		CLI_OPT_U64("--count", &count, 0),
		CLI_OPT_DOUBLE("--timeout", &c.timeout_s),
		CLI_OPT_END,
	};

	rc = cli_parse(cmd, opts, argc, argv, &name, 1);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_check_count_timeout(cmd, opts, count, c.timeout_s);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_given(opts, "--timeout"))
		c.timeout_ns = cli_seconds_ns(c.timeout_s);
	rc = queue_open(cmd, name, SHOAL_QUEUE_PRODUCER, &c.q);
	if (rc)
		return rc;
	cli_catch_signals();
	shoal_queue_get_stats(c.q, &st);
	rc = cli_for_each_line(cmd, st.max_message, count, push_line, &c);
	shoal_queue_close(c.q);
	fprintf(stderr, "shoal: %s: pushed %llu message%s\n", cmd->name,
		(unsigned long long)c.pushed, c.pushed == 1 ? "" : "s");
	return rc;
}

const struct cli_cmd cli_cmd_push = {
	.name = "push",
	.summary = "push the lines of stdin into a queue",
	.synopsis = "push NAME [--count N] [--timeout SEC]",
	.help = "Opens queue NAME as a producer and pushes each line of "
		"stdin (without its\n"
		"newline) as one message until EOF. Prints \"pushed N "
		"messages\" on stderr\n"
		"at the end, nothing on stdout. A full queue is waited on.\n"
		"\n"
		"  --count N      stop after N lines\n"
		"  --timeout SEC  exit 3 when a message finds no room for SEC "
		"seconds\n"
		"\n"
		"exit status: 0 (EOF, --count or SIGINT/SIGTERM), 1 failure "
		"(\"no such\n"
		"service\", a line longer than the queue's max message, ...), "
		"2 usage,\n"
		"3 timed out, 4 queue gone (its creator withdrew or died).\n",
	.run = cmd_push,
};

/* --- pop */

static int pop_loop(const struct cli_cmd *cmd, struct shoal_queue *q,
		    uint64_t count, double timeout_s, int hex)
{
	int64_t timeout = timeout_s > 0 ? cli_seconds_ns(timeout_s) : -1;
	int64_t last = cli_now_ns();
	struct shoal_queue_stats st;
	unsigned char *buf;
	uint64_t got = 0;
	int rc = CLI_EXIT_OK;

	shoal_queue_get_stats(q, &st);
	buf = malloc(st.max_message ? st.max_message : 1);
	if (!buf)
		return cli_fail_sys(cmd, -ENOMEM, "out of memory");
	while (!cli_stop && (!count || got < count)) {
		int64_t wait = CLI_TICK_NS;
		ssize_t n;

		if (timeout >= 0 && last + timeout - cli_now_ns() < wait)
			wait = last + timeout - cli_now_ns();
		n = shoal_queue_read(q, buf, st.max_message, 0);
		if (n == -EAGAIN && wait > 0) {
			/* A pipe reader sees each message before we sleep. */
			fflush(stdout);
			n = shoal_queue_read(q, buf, st.max_message, wait);
		}
		if (n >= 0) {
			cli_print_message(buf, (size_t)n, hex);
			if (ferror(stdout)) {
				rc = cli_fail_sys(cmd, errno ? -errno : -EIO,
						  "cannot write to stdout");
				break;
			}
			got++;
			last = cli_now_ns();
		} else if (n == -ETIMEDOUT || n == -EAGAIN) {
			if (timeout >= 0 && cli_now_ns() - last >= timeout) {
				fflush(stdout);
				fprintf(stderr,
					"shoal: %s: no message in %g s\n",
					cmd->name, timeout_s);
				rc = CLI_EXIT_TIMEOUT;
				break;
			}
		} else if (n == -EPIPE) {
			fflush(stdout);
			cli_note(cmd, "queue gone");
			rc = CLI_EXIT_GONE;
			break;
		} else if (n == -EBADMSG) {
			cli_note(cmd, "dropped a corrupt message");
		} else {
			rc = cli_fail(cmd, (int)n, "cannot pop");
			break;
		}
	}
	if (fflush(stdout) && !rc)
		rc = cli_fail_sys(cmd, -errno, "cannot write to stdout");
	free(buf);
	return rc;
}

static int cmd_pop(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct shoal_queue *q;
	const char *name;
	uint64_t count = 0;
	double timeout = 0;
	int hex = 0, rc;
	struct cli_opt opts[] = {
		CLI_OPT_U64("--count", &count, 0),
		CLI_OPT_DOUBLE("--timeout", &timeout),
		CLI_OPT_FLAG("--hex", NULL, &hex),
		CLI_OPT_END,
	};

	rc = cli_parse(cmd, opts, argc, argv, &name, 1);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_check_count_timeout(cmd, opts, count, timeout);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = queue_open(cmd, name, SHOAL_QUEUE_CONSUMER, &q);
	if (rc)
		return rc;
	cli_catch_signals();
	rc = pop_loop(cmd, q, count, timeout, hex);
	shoal_queue_close(q);
	return rc;
}

const struct cli_cmd cli_cmd_pop = {
	.name = "pop",
	.summary = "take messages from a queue and print them",
	.synopsis = "pop NAME [--count N] [--timeout SEC] [--hex]",
	.help = "Opens queue NAME as a consumer and prints each message it "
		"takes on its own\n"
		"line: as text if every byte is printable (or a tab), else in "
		"hex. Each\n"
		"message goes to one consumer only: what pop prints, no other "
		"consumer gets.\n"
		"\n"
		"  --count N      exit after N messages\n"
		"  --timeout SEC  exit 3 when SEC seconds pass with no message "
		"(since the\n"
		"                 start or the last message)\n"
		"  --hex          print every message in hex\n"
		"\n"
		"exit status: 0 (--count reached, or SIGINT/SIGTERM), 1 "
		"failure (\"no such\n"
		"service\" included), 2 usage, 3 timed out, 4 queue gone (its "
		"creator\n"
		"withdrew or died, and the queue is empty).\n",
	.run = cmd_pop,
};
