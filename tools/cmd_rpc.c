/* SPDX-License-Identifier: MIT */
/*
 * The request/response subcommand: call (each stdin line a request, its
 * responses printed).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct call_ctx {
	const struct cli_cmd *cmd;
	struct shoal_rpc_client *cli;
	int64_t timeout_ns; /* per request; negative: forever */
	double timeout_s;
	int hex;
	uint64_t calls;
	uint64_t errors; /* responses flagged SHOAL_RPC_ERROR */
};

/* Takes the responses to request @id up to the final one, printing each. */
static int call_responses(struct call_ctx *c, uint64_t id)
{
	int64_t start = cli_now_ns();

	for (;;) {
		struct shoal_response r;
		int64_t wait = CLI_TICK_NS;
		int err, final;

		if (c->timeout_ns >= 0 &&
		    start + c->timeout_ns - cli_now_ns() < wait)
			wait = start + c->timeout_ns - cli_now_ns();
		err = shoal_rpc_client_take(c->cli, &r, wait > 0 ? wait : 0);
		if (err == -ETIMEDOUT || err == -EAGAIN) {
			if (cli_stop)
				return CLI_EXIT_OK;
			if (c->timeout_ns >= 0 &&
			    cli_now_ns() - start >= c->timeout_ns) {
				fprintf(stderr,
					"shoal: %s: no response in %g s\n",
					c->cmd->name, c->timeout_s);
				return CLI_EXIT_TIMEOUT;
			}
			continue;
		}
		if (err == -EPIPE) {
			cli_note(c->cmd, "server gone");
			return CLI_EXIT_GONE;
		}
		if (err == -EBADMSG) {
			cli_note(c->cmd, "skipped an impossible response");
			continue;
		}
		if (err)
			return cli_fail(c->cmd, err, "cannot take a response");
		/* Answers to earlier requests we gave up on. */
		if (r.id != id) {
			shoal_rpc_client_release(c->cli, &r);
			continue;
		}
		cli_print_message(r.data, r.len, c->hex);
		final = !(r.flags & SHOAL_RPC_MORE);
		c->errors += !!(r.flags & SHOAL_RPC_ERROR);
		shoal_rpc_client_release(c->cli, &r);
		if (final)
			return CLI_EXIT_OK;
	}
}

static int call_line(void *user_data, const char *line, uint32_t len)
{
	struct call_ctx *c = user_data;
	uint64_t id;
	int err, rc;

	err = shoal_rpc_client_write(c->cli, line, len, &id);
	if (err == -EPIPE) {
		cli_note(c->cmd, "server gone");
		return CLI_EXIT_GONE;
	}
	if (err)
		return cli_fail(c->cmd, err, "cannot send a request");
	rc = call_responses(c, id);
	if (!rc)
		c->calls++;
	if (fflush(stdout) && !rc)
		rc = cli_fail_sys(c->cmd, -errno, "cannot write to stdout");
	return rc;
}

static int cmd_call(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct call_ctx c = { .cmd = cmd, .timeout_ns = -1 };
	struct shoal_rpc_info info;
	const char *name;
	uint64_t count = 0;
	int rc, err;
	struct cli_opt opts[] = {
		CLI_OPT_U64("--count", &count, 0),
		CLI_OPT_DOUBLE("--timeout", &c.timeout_s),
		CLI_OPT_FLAG("--hex", NULL, &c.hex),
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
	/*
	 * The largest request, for the line length check; read before
	 * joining, so that once a client, call only sends and takes.
	 */
	err = shoal_rpc_inspect(NULL, name, &info, NULL, 0);
	if (err >= 0)
		err = shoal_rpc_client_open(name, NULL, &c.cli);
	if (err == -ENOENT)
		return cli_fail(cmd, err, "no such service '%s'", name);
	if (err == -EINVAL)
		return cli_usage_error(cmd, "cannot open '%s': %s", name,
				       shoal_last_error());
	if (err < 0)
		return cli_fail(cmd, err, "cannot open '%s'", name);
	cli_catch_signals();
	rc = cli_for_each_line(cmd, info.max_request, count, call_line, &c);
	shoal_rpc_client_close(c.cli);
	if (c.errors)
		cli_note(cmd, "%llu response%s flagged as errors",
			 (unsigned long long)c.errors,
			 c.errors == 1 ? "" : "s");
	return rc;
}

const struct cli_cmd cli_cmd_call = {
	.name = "call",
	.summary = "send stdin lines as requests, print the responses",
	.synopsis = "call NAME [--count N] [--timeout SEC] [--hex]",
	.help = "Opens request/response service NAME as a client and sends "
		"each line of\n"
		"stdin (without its newline) as one request; prints every "
		"response to it,\n"
		"one per line (as text if printable, else in hex), before "
		"sending the next.\n"
		"A streamed answer prints each part, up to the final one.\n"
		"\n"
		"  --count N      stop after N requests\n"
		"  --timeout SEC  exit 3 when a request's final response does "
		"not come\n"
		"                 within SEC seconds\n"
		"  --hex          print every response in hex\n"
		"\n"
		"exit status: 0 (EOF, --count or SIGINT/SIGTERM), 1 failure "
		"(\"no such\n"
		"service\", a line longer than the server's max request, ...), "
		"2 usage,\n"
		"3 timed out, 4 server gone.\n",
	.run = cmd_call,
};
