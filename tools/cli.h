/* SPDX-License-Identifier: MIT */
/*
 * What the shoal tool's subcommands share: the command table entry, option
 * parsing, error messages, signal handling and output helpers (cli.c).
 *
 * Each subcommand is one struct cli_cmd defined next to its code
 * (cmd_registry.c, cmd_pubsub.c, cmd_queue.c, cmd_event.c, cmd_rpc.c,
 * cmd_host.c, cmd_bench.c); shoal.c lists them.
 *
 * Exit statuses every subcommand keeps to: 0 success (a long-running one
 * stopped by SIGINT/SIGTERM included), 1 runtime failure with
 * "shoal: CMD: <reason>: <detail>" on stderr, 2 usage error, and for the
 * commands that wait on a peer (sub, hz, push, pop, wait, call, notify):
 * 3 timed out, 4 the peer (publisher, queue, service, server) gone.
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
	CLI_CHOICE, /* *(int *)dst = arg; several options share one dst,
		     * and exclude each other (a usage error) */
	CLI_U64,    /* *(uint64_t *)dst: decimal, and <= arg if arg > 0 */
	CLI_DOUBLE, /* *(double *)dst: a finite number >= 0 */
	CLI_STRING, /* *(const char **)dst: the argument itself, not empty */
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
#define CLI_OPT_STRING(n, p)                                \
	{                                                   \
		.name = (n), .type = CLI_STRING, .dst = (p) \
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
/* As cli_parse(), for @min to @npos positional arguments: *@got of them. */
int cli_parse_some(const struct cli_cmd *cmd, struct cli_opt *opts, int argc,
		   char **argv, const char **pos, int min, int npos, int *got);
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
/*
 * The rule every reading command has for its --count (at least 1 when
 * given) and --timeout (more than 0 when given): CLI_CONTINUE, or the
 * usage error's exit status.
 */
int cli_check_count_timeout(const struct cli_cmd *cmd,
			    const struct cli_opt *opts, uint64_t count,
			    double timeout_s);

/* Opens the default registry; prints the failure and returns 1, else 0. */
int cli_open_registry(const struct cli_cmd *cmd, struct shoal_registry **reg);
/*
 * For the commands that only read (list, info, clean): the same, but a
 * missing directory is not created: a note on stderr and -1 (the command
 * then has nothing to show).
 */
int cli_open_registry_existing(const struct cli_cmd *cmd,
			       struct shoal_registry **reg);

const char *cli_pattern_name(uint32_t pattern);
/* Prints @s as a JSON string. */
void cli_json_string(FILE *f, const char *s);
/* "12.3 MiB/s" style: @bytes_per_s in binary units, into @buf. */
void cli_human_rate(char *buf, size_t cap, double bytes_per_s);

/*
 * Calls @fn with each line of stdin (without its '\n'; a last line without
 * one counts too) until EOF, @count lines (0: no limit) or cli_stop. A
 * line longer than @max bytes is a failure (message, 1). Returns 0, or
 * the first non-zero return of @fn, or 1 after a message.
 */
int cli_for_each_line(const struct cli_cmd *cmd, size_t max, uint64_t count,
		      int (*fn)(void *user_data, const char *line,
				uint32_t len),
		      void *user_data);
/*
 * Prints a message and a newline: as text if every byte is printable (or
 * a tab) and !@hex, else in hex.
 */
void cli_print_message(const unsigned char *p, size_t len, int hex);

/*
 * 'shoal info' for the patterns read by their own *_inspect() call (queue,
 * rpc, event; info_patterns.c). cli_pattern_inspect() reads service @s:
 * *out NULL for another pattern; returns 0, or 1 after a message. The
 * printers add the sections after the registry facts: text, or JSON
 * members (",\n \"layout\": ...") before the object's closing brace.
 */
struct cli_pattern_info;
int cli_pattern_inspect(const struct cli_cmd *cmd, struct shoal_registry *reg,
			const struct shoal_service_info *s,
			struct cli_pattern_info **out);
void cli_pattern_print_text(const struct cli_pattern_info *pi);
void cli_pattern_print_json(const struct cli_pattern_info *pi);
void cli_pattern_free(struct cli_pattern_info *pi);

/* The subcommands. */
extern const struct cli_cmd cli_cmd_list, cli_cmd_info, cli_cmd_clean;
extern const struct cli_cmd cli_cmd_pub, cli_cmd_sub, cli_cmd_hz;
extern const struct cli_cmd cli_cmd_push, cli_cmd_pop;
extern const struct cli_cmd cli_cmd_notify, cli_cmd_wait, cli_cmd_call;
extern const struct cli_cmd cli_cmd_queue, cli_cmd_serve, cli_cmd_events;
extern const struct cli_cmd cli_cmd_bench, cli_cmd_bench_peer;
extern const struct cli_cmd cli_cmd_soak, cli_cmd_soak_role;
extern const struct cli_cmd cli_cmd_gateway;
extern const struct cli_cmd cli_cmd_store, cli_cmd_get, cli_cmd_set,
	cli_cmd_watch;

/* 'shoal info' for a store (cmd_store.c): its objects, read-only. */
struct cli_store_info;
int cli_store_inspect(struct shoal_registry *reg, const char *name,
		      struct cli_store_info **out);
void cli_store_print_text(const struct cli_store_info *si);
void cli_store_print_json(const struct cli_store_info *si);
void cli_store_free(struct cli_store_info *si);

#endif
