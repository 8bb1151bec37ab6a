/* SPDX-License-Identifier: MIT */
/*
 * The hosting subcommands: queue (create a queue), serve (a request/
 * response server answering with the request, or with what a command
 * prints), events (an event service). Each creates the service, says so on
 * stderr, and keeps it until SIGINT or SIGTERM, then withdraws it: the
 * name leaves 'shoal list', and the peers see the owner gone.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

/* Waits in ticks until SIGINT or SIGTERM. */
static void host_until_signal(void)
{
	while (!cli_stop)
		cli_sleep_until(cli_now_ns() + CLI_TICK_NS);
}

/* The failure of a create call: a usage error for -EINVAL (bad name or
 * options: the detail says which), else a failure. */
static int create_failed(const struct cli_cmd *cmd, int err, const char *name)
{
	if (err == -EINVAL)
		return cli_usage_error(cmd, "cannot create '%s': %s", name,
				       shoal_last_error());
	if (err == -EEXIST)
		return cli_fail(cmd, err,
				"cannot create '%s': a live service has the "
				"name",
				name);
	return cli_fail(cmd, err, "cannot create '%s'", name);
}

/* --- queue */

static int cmd_queue(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct shoal_queue_options o;
	struct shoal_queue *q;
	const char *name;
	uint64_t capacity = 0, slot = 0, parts = 0;
	int rc, err;
	struct cli_opt opts[] = {
		CLI_OPT_U64("--capacity", &capacity, SHOAL_QUEUE_CAPACITY_MAX),
		CLI_OPT_U64("--slot-size", &slot, SHOAL_QUEUE_MESSAGE_MAX),
		CLI_OPT_U64("--max-participants", &parts,
			    SHOAL_QUEUE_PARTICIPANTS_MAX),
		CLI_OPT_END,
	};

	rc = cli_parse(cmd, opts, argc, argv, &name, 1);
	if (rc != CLI_CONTINUE)
		return rc;
	shoal_queue_options_init(&o);
	if (cli_given(opts, "--capacity"))
		o.capacity = (uint32_t)capacity;
	if (cli_given(opts, "--slot-size"))
		o.max_message = (uint32_t)slot;
	if (cli_given(opts, "--max-participants"))
		o.max_participants = (uint32_t)parts;
	/* The host's handle takes a participant line (role BOTH, the
	 * default) but never writes or reads: it only keeps the queue. */
	err = shoal_queue_create(name, &o, &q);
	if (err)
		return create_failed(cmd, err, name);
	cli_catch_signals();
	cli_note(cmd,
		 "hosting queue '%s' (capacity %u, max message %u bytes, "
		 "max participants %u) until SIGINT/SIGTERM",
		 name, o.capacity, o.max_message, o.max_participants);
	host_until_signal();
	shoal_queue_destroy(q);
	cli_note(cmd, "withdrew '%s'", name);
	return CLI_EXIT_OK;
}

const struct cli_cmd cli_cmd_queue = {
	.name = "queue",
	.summary = "host a queue until SIGINT/SIGTERM",
	.synopsis = "queue NAME [--capacity N] [--slot-size B] "
		    "[--max-participants P]",
	.help = "Creates queue NAME (multi-producer, multi-consumer) and "
		"keeps it until\n"
		"SIGINT or SIGTERM, then withdraws it: 'shoal push' and "
		"'shoal pop' work\n"
		"against it meanwhile; messages still queued at the end are "
		"popped first,\n"
		"then pop says \"queue gone\". Prints \"hosting queue ...\" on "
		"stderr once the\n"
		"queue is there, \"withdrew NAME\" at the end; nothing on "
		"stdout.\n"
		"\n"
		"  --capacity N          messages it holds, a power of two "
		"(default 1024)\n"
		"  --slot-size B         largest message in bytes (default "
		"1024)\n"
		"  --max-participants P  handles (push, pop, programs) at once, "
		"the host's\n"
		"                        own included (default 64)\n"
		"\n"
		"exit status: 0 (SIGINT/SIGTERM), 1 failure (the name held by "
		"a live\n"
		"service, ...), 2 usage (a bad name or option included).\n",
	.run = cmd_queue,
};

/* --- serve */

struct serve_ctx {
	const struct cli_cmd *cmd;
	struct shoal_rpc_server *srv;
	const char *exec; /* NULL: echo */
	int64_t timeout_ns;
	double timeout_s;
	uint32_t max_response;
	char *out; /* max_response + 1 bytes */
	uint64_t served, errors;
};

/* Sends @len bytes of @data to @req's client with @flags; a client that
 * is gone or does not take its responses loses it (a note). */
static void serve_reply(struct serve_ctx *c, const struct shoal_request *req,
			const void *data, uint32_t len, uint32_t flags)
{
	int err = shoal_rpc_server_write(c->srv, req, data, len, flags);

	if (err == -EPIPE)
		return; /* the client left: nobody to tell */
	if (err)
		cli_fail(c->cmd, err, "cannot answer the client of pid %d",
			 req->pid);
}

/* An error reply: "error: <text>", flagged SHOAL_RPC_ERROR. */
static void serve_error(struct serve_ctx *c, const struct shoal_request *req,
			const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void serve_error(struct serve_ctx *c, const struct shoal_request *req,
			const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	int n = snprintf(msg, sizeof(msg), "error: ");

	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	n = (int)strlen(msg);
	if ((uint32_t)n > c->max_response)
		n = (int)c->max_response;
	c->errors++;
	cli_note(c->cmd, "request from pid %d: %s", req->pid, msg + 7);
	serve_reply(c, req, msg, (uint32_t)n, SHOAL_RPC_ERROR);
}

/* The child: CMD through /bin/sh, its stdin and stdout our pipes, its own
 * process group so that a timeout kills what it started too. */
static void exec_child(const char *command, int in, int out)
{
	setpgid(0, 0);
	signal(SIGPIPE, SIG_DFL);
	dup2(in, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	execl("/bin/sh", "sh", "-c", command, (char *)NULL);
	_exit(127);
}

/*
 * Runs the command with @req's bytes and a newline on its stdin, and
 * answers with its stdout (one trailing newline dropped); an error reply
 * when it cannot run, exits non-zero, dies, prints more than max_response
 * bytes or outlives --timeout.
 */
static void serve_exec(struct serve_ctx *c, const struct shoal_request *req,
		       const unsigned char *data, uint32_t len)
{
	int in[2], out[2], st = 0, too_long = 0, timed_out = 0;
	int64_t deadline = cli_now_ns() + c->timeout_ns;
	size_t got = 0, fed = 0, total = (size_t)len + 1;
	unsigned char *feed = malloc(total);
	pid_t pid;

	if (!feed) {
		serve_error(c, req, "out of memory");
		return;
	}
	memcpy(feed, data, len);
	feed[len] = '\n';
	if (pipe2(in, O_CLOEXEC)) {
		free(feed);
		serve_error(c, req, "pipe: %s", strerror(errno));
		return;
	}
	if (pipe2(out, O_CLOEXEC)) {
		close(in[0]);
		close(in[1]);
		free(feed);
		serve_error(c, req, "pipe: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0)
		exec_child(c->exec, in[0], out[1]);
	if (pid > 0)
		setpgid(pid, pid); /* also here: no window before the child's */
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		free(feed);
		serve_error(c, req, "fork: %s", strerror(errno));
		return;
	}
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	/* Feed stdin and drain stdout together: a command that prints
	 * before reading all its input must not deadlock us. */
	while (out[0] >= 0) {
		struct pollfd p[2] = { { .fd = out[0], .events = POLLIN },
				       { .fd = in[1], .events = POLLOUT } };
		int64_t left = deadline - cli_now_ns();
		ssize_t n;

		if (left <= 0 || cli_stop) {
			timed_out = left <= 0;
			break;
		}
		if (poll(p, in[1] >= 0 ? 2 : 1,
			 (int)((left < CLI_TICK_NS ? left : CLI_TICK_NS) /
			       1000000) +
				 1) < 0 &&
		    errno != EINTR)
			break;
		if (in[1] >= 0 && (p[1].revents & (POLLOUT | POLLERR))) {
			n = write(in[1], feed + fed, total - fed);
			if (n > 0)
				fed += (size_t)n;
			/* EPIPE: the command does not read its input. */
			if ((n < 0 && errno != EAGAIN && errno != EINTR) ||
			    fed == total) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(out[0], c->out + got,
				 c->max_response + 1 - got);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				close(out[0]);
				out[0] = -1;
				break;
			}
			got += (size_t)n;
			if (got > c->max_response) {
				too_long = 1;
				break;
			}
		}
	}
	if (in[1] >= 0)
		close(in[1]);
	if (out[0] >= 0)
		close(out[0]);
	free(feed);
	/* A command may close its stdout and go on running: it still gets
	 * until the deadline, then it and its process group are killed. */
	for (int killed = 0;;) {
		pid_t w;

		if (!killed && (timed_out || too_long || cli_stop)) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			killed = 1;
		}
		w = waitpid(pid, &st, killed ? 0 : WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			break;
		if (w == 0 && cli_now_ns() >= deadline)
			timed_out = 1;
		else if (w == 0)
			cli_sleep_until(cli_now_ns() + 1000000);
	}
	if (timed_out)
		serve_error(c, req, "'%s' ran longer than %g s: killed",
			    c->exec, c->timeout_s);
	else if (too_long)
		serve_error(c, req,
			    "'%s' printed more than the max response, %u "
			    "bytes: killed",
			    c->exec, c->max_response);
	else if (cli_stop)
		serve_error(c, req, "the server is stopping");
	else if (WIFSIGNALED(st))
		serve_error(c, req, "'%s' killed by signal %d", c->exec,
			    WTERMSIG(st));
	else if (WEXITSTATUS(st) == 127)
		serve_error(c, req, "'%s' exit status 127 (not found?)",
			    c->exec);
	else if (WEXITSTATUS(st))
		serve_error(c, req, "'%s' exit status %d", c->exec,
			    WEXITSTATUS(st));
	else
		serve_reply(c, req, c->out,
			    (uint32_t)(got && c->out[got - 1] == '\n' ?
					       got - 1 :
					       got),
			    0);
}

static int serve_loop(struct serve_ctx *c, uint32_t max_request)
{
	unsigned char *copy = malloc(max_request ? max_request : 1);

	if (!copy)
		return cli_fail_sys(c->cmd, -ENOMEM, "out of memory");
	while (!cli_stop) {
		struct shoal_request req;
		uint32_t len;
		int err = shoal_rpc_server_take(c->srv, &req, CLI_TICK_NS);

		if (err == -ETIMEDOUT || err == -EAGAIN)
			continue;
		if (err) {
			free(copy);
			return cli_fail(c->cmd, err, "cannot take a request");
		}
		if (!c->exec) {
			serve_reply(c, &req, req.data, req.len, 0);
			shoal_rpc_server_release(c->srv, &req);
			c->served++;
			continue;
		}
		/* The request's bytes are the client's to reuse once
		 * released: copy them, and hold nothing while CMD runs. */
		len = req.len <= max_request ? req.len : max_request;
		memcpy(copy, req.data, len);
		shoal_rpc_server_release(c->srv, &req);
		serve_exec(c, &req, copy, len);
		c->served++;
	}
	free(copy);
	return CLI_EXIT_OK;
}

static int cmd_serve(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct serve_ctx c = { .cmd = cmd, .timeout_s = 10 };
	struct shoal_rpc_server_options o;
	const char *name;
	uint64_t max_req = 0, max_resp = 0, clients = 0;
	int echo = 0, rc, err;
	struct cli_opt opts[] = {
		CLI_OPT_FLAG("--echo", NULL, &echo),
		CLI_OPT_STRING("--exec", &c.exec),
		CLI_OPT_DOUBLE("--timeout", &c.timeout_s),
		CLI_OPT_U64("--max-request", &max_req, SHOAL_RPC_PAYLOAD_MAX),
		CLI_OPT_U64("--max-response", &max_resp, SHOAL_RPC_PAYLOAD_MAX),
		CLI_OPT_U64("--max-clients", &clients, SHOAL_RPC_CLIENTS_MAX),
		CLI_OPT_END,
	};

	rc = cli_parse(cmd, opts, argc, argv, &name, 1);
	if (rc != CLI_CONTINUE)
		return rc;
	if (echo == !!c.exec)
		return cli_usage_error(cmd, "give one of --echo and --exec");
	if (cli_given(opts, "--timeout") && !c.exec)
		return cli_usage_error(cmd, "--timeout goes with --exec");
	if (!(c.timeout_s > 0))
		return cli_usage_error(cmd, "--timeout must be more than 0");
	c.timeout_ns = cli_seconds_ns(c.timeout_s);
	shoal_rpc_server_options_init(&o);
	if (cli_given(opts, "--max-request"))
		o.max_request = (uint32_t)max_req;
	if (cli_given(opts, "--max-response"))
		o.max_response = (uint32_t)max_resp;
	else if (echo && o.max_response < o.max_request)
		o.max_response = o.max_request;
	if (echo && o.max_response < o.max_request)
		return cli_usage_error(cmd,
				       "--echo needs --max-response (%u) at "
				       "least --max-request (%u)",
				       o.max_response, o.max_request);
	if (cli_given(opts, "--max-clients"))
		o.max_clients = (uint32_t)clients;
	c.max_response = o.max_response;
	c.out = malloc((size_t)o.max_response + 1);
	if (!c.out)
		return cli_fail_sys(cmd, -ENOMEM, "out of memory");
	err = shoal_rpc_server_create(name, &o, &c.srv);
	if (err) {
		free(c.out);
		return create_failed(cmd, err, name);
	}
	cli_catch_signals();
	/* A command that exits before reading its stdin must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (c.exec)
		cli_note(cmd,
			 "serving '%s': each request runs '%s' (max request "
			 "%u, max response %u bytes) until SIGINT/SIGTERM",
			 name, c.exec, o.max_request, o.max_response);
	else
		cli_note(cmd,
			 "serving '%s': echo (max request %u bytes) until "
			 "SIGINT/SIGTERM",
			 name, o.max_request);
	rc = serve_loop(&c, o.max_request);
	shoal_rpc_server_destroy(c.srv);
	free(c.out);
	cli_note(cmd, "withdrew '%s' after %llu request%s (%llu error%s)", name,
		 (unsigned long long)c.served, c.served == 1 ? "" : "s",
		 (unsigned long long)c.errors, c.errors == 1 ? "" : "s");
	return rc;
}

const struct cli_cmd cli_cmd_serve = {
	.name = "serve",
	.summary = "host a request/response server (--echo or --exec CMD)",
	.synopsis = "serve NAME --echo|--exec CMD [--timeout SEC] "
		    "[--max-request B]\n"
		    "                 [--max-response B] [--max-clients N]",
	.help = "Creates request/response service NAME and answers every "
		"request until\n"
		"SIGINT or SIGTERM, then withdraws it ('shoal call' then says "
		"\"server\n"
		"gone\"). Requests are answered one at a time, in turn across "
		"clients.\n"
		"Prints \"serving ...\" on stderr once the service is there; "
		"nothing on\n"
		"stdout.\n"
		"\n"
		"  --echo            answer each request with its own bytes\n"
		"  --exec CMD        run '/bin/sh -c CMD' per request: its "
		"stdin is the\n"
		"                    request and a newline, the answer its "
		"stdout (one\n"
		"                    trailing newline dropped); its stderr is "
		"ours\n"
		"  --timeout SEC     with --exec: kill CMD after SEC seconds "
		"(default 10)\n"
		"  --max-request B   largest request (default 1024)\n"
		"  --max-response B  largest answer (default 1024; --echo: at "
		"least\n"
		"                    --max-request)\n"
		"  --max-clients N   clients at once (default 64)\n"
		"\n"
		"Errors. With --exec, when CMD cannot run, exits with a "
		"status other than\n"
		"0, is killed by a signal, prints more than --max-response "
		"bytes, or runs\n"
		"longer than --timeout (then it and what it started are "
		"killed), the answer\n"
		"is one response flagged SHOAL_RPC_ERROR whose text says why, "
		"e.g.\n"
		"\"error: 'CMD' exit status 2\"; the same line goes to our "
		"stderr. 'shoal\n"
		"call' prints it like any answer and counts it (\"N responses "
		"flagged as\n"
		"errors\" on its stderr). A request never goes unanswered, "
		"unless its client\n"
		"left or does not take its answers.\n"
		"\n"
		"exit status: 0 (SIGINT/SIGTERM), 1 failure (the name held by "
		"a live\n"
		"service, ...), 2 usage (a bad name or option included).\n",
	.run = cmd_serve,
};

/* --- events */

static int cmd_events(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct shoal_event_options o;
	struct shoal_event *ev;
	const char *name;
	uint64_t ids = 0, listeners = 0;
	int rc, err;
	struct cli_opt opts[] = {
		CLI_OPT_U64("--ids", &ids, SHOAL_EVENT_IDS_MAX),
		CLI_OPT_U64("--max-listeners", &listeners,
			    SHOAL_EVENT_LISTENERS_MAX),
		CLI_OPT_END,
	};

	rc = cli_parse(cmd, opts, argc, argv, &name, 1);
	if (rc != CLI_CONTINUE)
		return rc;
	shoal_event_options_init(&o);
	if (cli_given(opts, "--ids"))
		o.ids = (uint32_t)ids;
	if (cli_given(opts, "--max-listeners"))
		o.max_listeners = (uint32_t)listeners;
	err = shoal_event_create(name, &o, &ev);
	if (err)
		return create_failed(cmd, err, name);
	cli_catch_signals();
	cli_note(cmd,
		 "hosting event service '%s' (ids 0..%u, max listeners %u) "
		 "until SIGINT/SIGTERM",
		 name, o.ids - 1, o.max_listeners);
	host_until_signal();
	shoal_event_destroy(ev);
	cli_note(cmd, "withdrew '%s'", name);
	return CLI_EXIT_OK;
}

const struct cli_cmd cli_cmd_events = {
	.name = "events",
	.summary = "host an event service until SIGINT/SIGTERM",
	.synopsis = "events NAME [--ids N] [--max-listeners L]",
	.help = "Creates event service NAME and keeps it until SIGINT or "
		"SIGTERM, then\n"
		"withdraws it: 'shoal notify' and 'shoal wait' work against "
		"it meanwhile;\n"
		"at the end, waiters say \"service gone\". Prints \"hosting "
		"event service\n"
		"...\" on stderr once it is there; nothing on stdout.\n"
		"\n"
		"  --ids N            event ids 0..N-1 (default 256, at most "
		"1024)\n"
		"  --max-listeners L  'shoal wait's and programs listening at "
		"once\n"
		"                     (default 64)\n"
		"\n"
		"exit status: 0 (SIGINT/SIGTERM), 1 failure (the name held by "
		"a live\n"
		"service, ...), 2 usage (a bad name or option included).\n",
	.run = cmd_events,
};
