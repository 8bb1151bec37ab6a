/* SPDX-License-Identifier: MIT */
/*
 * The shoal tool's shared helpers: option parsing, messages, signals, time
 * and output formatting. See cli.h.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

volatile sig_atomic_t cli_stop;

static void print_usage(const struct cli_cmd *cmd, FILE *f)
{
	fprintf(f, "usage: shoal %s\n", cmd->synopsis);
}

int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "shoal: %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	print_usage(cmd, stderr);
	fprintf(stderr, "'shoal %s --help' says more.\n", cmd->name);
	return CLI_EXIT_USAGE;
}

static void vreport(const struct cli_cmd *cmd, const char *detail,
		    const char *fmt, va_list ap)
{
	fprintf(stderr, "shoal: %s: ", cmd->name);
	vfprintf(stderr, fmt, ap);
	if (detail && *detail)
		fprintf(stderr, ": %s", detail);
	fputc('\n', stderr);
}

int cli_fail(const struct cli_cmd *cmd, int err, const char *fmt, ...)
{
	const char *detail = shoal_last_error();
	va_list ap;

	if (!*detail && err < 0)
		detail = strerror(-err);
	va_start(ap, fmt);
	vreport(cmd, detail, fmt, ap);
	va_end(ap);
	return CLI_EXIT_FAIL;
}

int cli_fail_sys(const struct cli_cmd *cmd, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(cmd, err < 0 ? strerror(-err) : NULL, fmt, ap);
	va_end(ap);
	return CLI_EXIT_FAIL;
}

void cli_note(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(cmd, NULL, fmt, ap);
	va_end(ap);
}

static struct cli_opt *find_opt(struct cli_opt *opts, const char *arg,
				size_t len)
{
	for (struct cli_opt *o = opts; o && o->name; o++) {
		if (strlen(o->name) == len && !strncmp(o->name, arg, len))
			return o;
		if (o->alias && strlen(o->alias) == len &&
		    !strncmp(o->alias, arg, len))
			return o;
	}
	return NULL;
}

/* Stores @val into @o; 0, or CLI_EXIT_USAGE after a message. */
static int set_value(const struct cli_cmd *cmd, struct cli_opt *o,
		     const char *val)
{
	char *end;

	errno = 0;
	if (o->type == CLI_STRING) {
		if (!*val)
			return cli_usage_error(cmd, "%s: an empty value",
					       o->name);
		*(const char **)o->dst = val;
	} else if (o->type == CLI_U64) {
		unsigned long long v;

		/* strtoull would accept "-1" as a huge number. */
		if (*val < '0' || *val > '9')
			goto bad;
		v = strtoull(val, &end, 10);
		if (errno || *end)
			goto bad;
		if (o->arg && v > o->arg)
			return cli_usage_error(cmd,
					       "%s: %llu is more than %llu",
					       o->name, v,
					       (unsigned long long)o->arg);
		*(uint64_t *)o->dst = v;
	} else {
		double v = strtod(val, &end);

		if (end == val || *end || errno || !isfinite(v) || v < 0)
			goto bad;
		*(double *)o->dst = v;
	}
	return 0;
bad:
	return cli_usage_error(cmd, "%s: '%s' is not a %s", o->name, val,
			       o->type == CLI_U64 ? "whole number >= 0" :
						    "number >= 0");
}

int cli_parse(const struct cli_cmd *cmd, struct cli_opt *opts, int argc,
	      char **argv, const char **pos, int npos)
{
	int n;

	return cli_parse_some(cmd, opts, argc, argv, pos, npos, npos, &n);
}

int cli_parse_some(const struct cli_cmd *cmd, struct cli_opt *opts, int argc,
		   char **argv, const char **pos, int min, int npos, int *got)
{
	int n = 0, options = 1;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq, *val;
		struct cli_opt *o;
		size_t len;

		if (options && (!strcmp(arg, "--help") || !strcmp(arg, "-h"))) {
			print_usage(cmd, stdout);
			fputs(cmd->help, stdout);
			return CLI_EXIT_OK;
		}
		if (options && !strcmp(arg, "--")) {
			options = 0;
			continue;
		}
		if (!options || arg[0] != '-' || !arg[1]) {
			if (n == npos)
				return cli_usage_error(cmd, "unexpected '%s'",
						       arg);
			pos[n++] = arg;
			continue;
		}
		eq = strchr(arg, '=');
		len = eq ? (size_t)(eq - arg) : strlen(arg);
		o = find_opt(opts, arg, len);
		if (!o)
			return cli_usage_error(cmd, "unknown option '%.*s'",
					       (int)len, arg);
		/* Choices sharing a destination exclude each other: the
		 * last one winning silently hides a mistake. */
		for (struct cli_opt *c = opts; o->type == CLI_CHOICE && c->name;
		     c++)
			if (c != o && c->seen && c->type == CLI_CHOICE &&
			    c->dst == o->dst)
				return cli_usage_error(cmd,
						       "%s and %s exclude each "
						       "other",
						       c->name, o->name);
		o->seen = 1;
		if (o->type == CLI_FLAG || o->type == CLI_CHOICE) {
			if (eq)
				return cli_usage_error(cmd, "%s takes no value",
						       o->name);
			*(int *)o->dst = o->type == CLI_FLAG ? 1 : (int)o->arg;
			continue;
		}
		if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			return cli_usage_error(cmd, "%s needs a value",
					       o->name);
		}
		if (set_value(cmd, o, val))
			return CLI_EXIT_USAGE;
	}
	*got = n;
	if (n < min)
		return cli_usage_error(cmd, "missing argument");
	return CLI_CONTINUE;
}

int cli_given(const struct cli_opt *opts, const char *name)
{
	for (const struct cli_opt *o = opts; o && o->name; o++)
		if (!strcmp(o->name, name))
			return o->seen;
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	cli_stop = 1;
}

void cli_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cli_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

int64_t cli_realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

void cli_sleep_until(int64_t deadline_ns)
{
	while (!cli_stop) {
		int64_t left = deadline_ns - cli_now_ns();
		struct timespec ts;

		if (left <= 0)
			return;
		if (left > CLI_TICK_NS)
			left = CLI_TICK_NS;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		nanosleep(&ts, NULL);
	}
}

int cli_wait_readable(int fd, int64_t timeout_ns)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;

	if (timeout_ns < 0 || timeout_ns > CLI_TICK_NS)
		timeout_ns = CLI_TICK_NS;
	n = poll(&p, 1, (int)((timeout_ns + 999999) / 1000000));
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return n > 0;
}

int64_t cli_seconds_ns(double s)
{
	if (s >= 9e9)
		return INT64_MAX;
	return (int64_t)(s * 1e9);
}

int cli_open_registry(const struct cli_cmd *cmd, struct shoal_registry **reg)
{
	int err = shoal_registry_create(NULL, reg);

	if (err)
		return cli_fail(cmd, err, "cannot open the registry");
	return 0;
}

int cli_open_registry_existing(const struct cli_cmd *cmd,
			       struct shoal_registry **reg)
{
	struct shoal_registry_options o;
	int err;

	shoal_registry_options_init(&o);
	o.flags = SHOAL_REGISTRY_NO_CREATE;
	err = shoal_registry_create(&o, reg);
	if (err == -ENOENT) {
		cli_note(cmd,
			 "no registry yet (%s): nothing was published there; "
			 "the first service creates it",
			 shoal_last_error());
		return -1;
	}
	if (err)
		return cli_fail(cmd, err, "cannot open the registry");
	return 0;
}

const char *cli_pattern_name(uint32_t pattern)
{
	switch (pattern) {
	case SHOAL_PATTERN_CHANNEL:
		return "channel";
	case SHOAL_PATTERN_PUBSUB:
		return "pubsub";
	case SHOAL_PATTERN_QUEUE:
		return "queue";
	case SHOAL_PATTERN_RPC:
		return "rpc";
	case SHOAL_PATTERN_EVENT:
		return "event";
	case SHOAL_PATTERN_STORE:
		return "store";
	default:
		return "user";
	}
}

void cli_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void cli_human_rate(char *buf, size_t cap, double bytes_per_s)
{
	static const char *const units[] = { "B/s", "KiB/s", "MiB/s", "GiB/s",
					     "TiB/s" };
	unsigned u = 0;

	while (bytes_per_s >= 1024 && u + 1 < sizeof(units) / sizeof(*units)) {
		bytes_per_s /= 1024;
		u++;
	}
	snprintf(buf, cap, u ? "%.2f %s" : "%.0f %s", bytes_per_s, units[u]);
}

int cli_for_each_line(const struct cli_cmd *cmd, size_t max, uint64_t count,
		      int (*fn)(void *user_data, const char *line,
				uint32_t len),
		      void *user_data)
{
	size_t cap = 65536, off = 0, len = 0;
	char *buf = malloc(cap), *nl;
	uint64_t lines = 0;
	int rc = CLI_EXIT_OK, eof = 0;
	ssize_t n;

	/* buf[off, len) is what was read and not handed to @fn yet. */
	if (!buf)
		return cli_fail_sys(cmd, -ENOMEM, "out of memory");
	while (!cli_stop && (!count || lines < count)) {
		nl = memchr(buf + off, '\n', len - off);
		if (nl || (eof && len > off)) {
			size_t line = (nl ? (size_t)(nl - buf) : len) - off;

			lines++;
			if (line > max) {
				fprintf(stderr,
					"shoal: %s: line %llu is %zu bytes, "
					"more than the max payload %zu\n",
					cmd->name, (unsigned long long)lines,
					line, max);
				rc = CLI_EXIT_FAIL;
				break;
			}
			rc = fn(user_data, buf + off, (uint32_t)line);
			if (rc)
				break;
			off += line + (nl ? 1 : 0);
			continue;
		}
		if (eof)
			break;
		/* Only part of a line is left: make room for the rest. */
		memmove(buf, buf + off, len - off);
		len -= off;
		off = 0;
		if (len == cap) {
			char *p = cap > max ? NULL : realloc(buf, cap * 2);

			if (!p) {
				fprintf(stderr,
					"shoal: %s: line %llu is more than "
					"the max payload %zu\n",
					cmd->name,
					(unsigned long long)lines + 1, max);
				rc = CLI_EXIT_FAIL;
				break;
			}
			buf = p;
			cap *= 2;
		}
		n = cli_wait_readable(STDIN_FILENO, -1);
		if (n == 0)
			continue;
		if (n < 0) {
			rc = cli_fail_sys(cmd, (int)n, "cannot read stdin");
			break;
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			rc = cli_fail_sys(cmd, -errno, "cannot read stdin");
			break;
		}
		if (n == 0)
			eof = 1;
		len += (size_t)n;
	}
	free(buf);
	return rc;
}

void cli_print_message(const unsigned char *p, size_t len, int hex)
{
	for (size_t i = 0; !hex && i < len; i++)
		if ((p[i] < 0x20 || p[i] > 0x7e) && p[i] != '\t')
			hex = 1;
	if (hex) {
		for (size_t i = 0; i < len; i++)
			printf("%02x", p[i]);
	} else {
		fwrite(p, 1, len, stdout);
	}
	putchar('\n');
}

int cli_check_count_timeout(const struct cli_cmd *cmd,
			    const struct cli_opt *opts, uint64_t count,
			    double timeout_s)
{
	if (cli_given(opts, "--count") && !count)
		return cli_usage_error(cmd, "--count must be at least 1");
	if (cli_given(opts, "--timeout") && !(timeout_s > 0))
		return cli_usage_error(cmd, "--timeout must be more than 0");
	return CLI_CONTINUE;
}
