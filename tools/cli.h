/* SPDX-License-Identifier: MIT */
/*
 * What the shoal tool's subcommands share: the command table entry, option
 * parsing, error messages, signal handling and output helpers (cli.c).
 *
 * Each subcommand is one struct cli_cmd defined next to its code
 * (cmd_registry.c, cmd_pubsub.c, cmd_bench.c); shoal.c lists them.
 *
 * Exit statuses every subcommand keeps to: 0 success (a long-running one
 * stopped by SIGINT/SIGTERM included), 1 runtime failure with
 * "shoal: CMD: <reason>: <detail>" on stderr, 2 usage error, and for sub
 * and hz: 3 timed out, 4 publisher gone.
 */
#ifndef SHOAL_TOOLS_CLI_H
#define SHOAL_TOOLS_CLI_H

#include <shoal.h>
#include <shoal/pubsub.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_TIMEOUT = 3,
	CLI_EXIT_GONE = 4,
};

/* cli_parse(): the options were fine, the command goes on. */
#define CLI_CONTINUE (-1)

struct cli_cmd {
	const char *name;
	const char *synopsis; /* what follows "usage: shoal " */
	const char *summary;  /* one line for 'shoal --help' */
	const char *help;     /* the rest of --help, ending with '\n' */
	int (*run)(const struct cli_cmd *cmd, int argc, char **argv);
	int hidden; /* not in 'shoal --help' */
};

enum cli_opt_type {
	CLI_FLAG,   /* *(int *)dst = 1 */
	CLI_CHOICE, /* *(int *)dst = arg; several options share one dst */
	CLI_U64,    /* *(uint64_t *)dst: decimal, and <= arg if arg > 0 */
	CLI_DOUBLE, /* *(double *)dst: a finite number >= 0 */
};

struct cli_opt {
	const char *name;  /* "--count" */
	const char *alias; /* "-v", or NULL */
	enum cli_opt_type type;
	void *dst;
	uint64_t arg;
	int seen; /* set by cli_parse() when given */
};

#define CLI_OPT_FLAG(n, a, p)                                           \
	{                                                               \
		.name = (n), .alias = (a), .type = CLI_FLAG, .dst = (p) \
	}
#define CLI_OPT_CHOICE(n, p, v)                                         \
	{                                                               \
		.name = (n), .type = CLI_CHOICE, .dst = (p), .arg = (v) \
	}
#define CLI_OPT_U64(n, p, max)                                         \
	{                                                              \
		.name = (n), .type = CLI_U64, .dst = (p), .arg = (max) \
	}
#define CLI_OPT_DOUBLE(n, p)                                \
	{                                                   \
		.name = (n), .type = CLI_DOUBLE, .dst = (p) \
	}
#define CLI_OPT_END          \
	{                    \
		.name = NULL \
	}

/*
 * cli_parse - parse @argv (argv[0] is the command's name) against @opts
 * (ended by CLI_OPT_END; may be NULL) into exactly @npos positional
 * arguments stored in @pos. "--opt value" and "--opt=value" both work;
 * "--" ends the options. --help/-h prints the command's usage to stdout.
 * Returns CLI_CONTINUE, or the exit status to return now: 0 after --help,
 * CLI_EXIT_USAGE after a message on stderr.
 */
int cli_parse(const struct cli_cmd *cmd, struct cli_opt *opts, int argc,
	      char **argv, const char **pos, int npos);
/* Whether option @name was given (after cli_parse()). */
int cli_given(const struct cli_opt *opts, const char *name);

/* Prints "shoal: CMD: <fmt>" and the usage line to stderr; returns 2. */
int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * Prints "shoal: CMD: <fmt>: <detail>" to stderr, the detail being
 * shoal_last_error() (or strerror(-@err) when that is empty); returns 1.
 * Call it right after the failing shoal call.
 */
int cli_fail(const struct cli_cmd *cmd, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* As cli_fail() for a failed system call: the detail is strerror(-@err). */
int cli_fail_sys(const struct cli_cmd *cmd, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "shoal: CMD: <fmt>" to stderr, for notes that do not end the command. */
void cli_note(const struct cli_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Set by SIGINT and SIGTERM once cli_catch_signals() ran. */
extern volatile sig_atomic_t cli_stop;
/*
 * Installs the handler, without SA_RESTART so that blocking reads and
 * sleeps return early. Long-running commands still wait in slices of at
 * most CLI_TICK_NS and check cli_stop between them.
 */
void cli_catch_signals(void);
#define CLI_TICK_NS 100000000LL

int64_t cli_now_ns(void);      /* CLOCK_MONOTONIC */
int64_t cli_realtime_ns(void); /* CLOCK_REALTIME */
/* Sleeps until CLOCK_MONOTONIC @deadline_ns, or until cli_stop is set. */
void cli_sleep_until(int64_t deadline_ns);
/*
 * Waits up to @timeout_ns, at most one tick (negative: one tick), for @fd
 * to be readable; returns 1 readable, 0 not yet (timeout, signal), -errno.
 */
int cli_wait_readable(int fd, int64_t timeout_ns);
/* Seconds as nanoseconds, saturating. */
int64_t cli_seconds_ns(double s);

/* Opens the default registry; prints the failure and returns 1, else 0. */
int cli_open_registry(const struct cli_cmd *cmd, struct shoal_registry **reg);

const char *cli_pattern_name(uint32_t pattern);
/* Prints @s as a JSON string. */
void cli_json_string(FILE *f, const char *s);
/* "12.3 MiB/s" style: @bytes_per_s in binary units, into @buf. */
void cli_human_rate(char *buf, size_t cap, double bytes_per_s);

/* The subcommands. */
extern const struct cli_cmd cli_cmd_list, cli_cmd_info, cli_cmd_clean;
extern const struct cli_cmd cli_cmd_pub, cli_cmd_sub, cli_cmd_hz;
extern const struct cli_cmd cli_cmd_bench, cli_cmd_bench_peer;

#endif
