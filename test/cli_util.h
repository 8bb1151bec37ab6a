/* SPDX-License-Identifier: MIT */
/*
 * Running the built shoal tool from a test (test/cli-*.c): start it with
 * arguments and pipes, feed its stdin, collect stdout and stderr, wait for
 * it with a time limit, and check what it printed (a field's number, a
 * string's count, JSON that parses). Processes still running when the test
 * exits are killed (kill_leftovers()). A test sets `tool` from argv and may
 * define WAIT_S (seconds a command may take) before including this.
 */
#ifndef SHOAL_TEST_CLI_UTIL_H
#define SHOAL_TEST_CLI_UTIL_H

#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"
#include "registry_util.h"

#ifndef WAIT_S
#define WAIT_S 20
#endif

#define PROCS_MAX 64
#define OUT_MAX 65536

static const char *tool;
/* Every tool process started, so that a failed check leaves none behind. */
static pid_t started[PROCS_MAX];

struct proc {
	pid_t pid;
	int in;	 /* its stdin, or -1 */
	int out; /* its stdout, -1 once at EOF */
	int err; /* its stderr, -1 once at EOF */
	size_t out_len, err_len;
	char out_buf[OUT_MAX];
	char err_buf[OUT_MAX];
	int status; /* exit status once reaped, else -1 */
};

static inline void kill_leftovers(void)
{
	for (int i = 0; i < PROCS_MAX; i++)
		if (started[i] > 0)
			kill(started[i], SIGKILL);
}

static inline void forget(pid_t pid)
{
	for (int i = 0; i < PROCS_MAX; i++)
		if (started[i] == pid)
			started[i] = 0;
}

/*
 * Starts "tool @args..." (NULL-terminated) with stdout and stderr piped
 * to us, and stdin a pipe from us if @with_stdin, else /dev/null.
 */
static inline int start_v(struct proc *p, int with_stdin, va_list ap)
{
	const char *argv[32];
	int in[2] = { -1, -1 }, out[2], err[2], n = 1;

	argv[0] = tool;
	while (n < 31 && (argv[n] = va_arg(ap, const char *)))
		n++;
	argv[n] = NULL;
	memset(p, 0, sizeof(*p));
	p->status = -1;
	if ((with_stdin && pipe2(in, O_CLOEXEC)) || pipe2(out, O_CLOEXEC) ||
	    pipe2(err, O_CLOEXEC))
		return -1;
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(with_stdin ? in[0] : null, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(tool, (char **)argv);
		_exit(127);
	}
	for (int i = 0; i < PROCS_MAX; i++)
		if (!started[i]) {
			started[i] = p->pid;
			break;
		}
	if (with_stdin)
		close(in[0]);
	close(out[1]);
	close(err[1]);
	p->in = with_stdin ? in[1] : -1;
	p->out = out[0];
	p->err = err[0];
	return 0;
}

static inline int start(struct proc *p, int with_stdin, ...)
{
	va_list ap;
	int r;

	va_start(ap, with_stdin);
	r = start_v(p, with_stdin, ap);
	va_end(ap);
	return r;
}

static inline int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads what @p printed, for up to @ms; 0 once both pipes are at EOF. */
static inline int pump(struct proc *p, int ms)
{
	struct pollfd f[2] = { { .fd = p->out, .events = POLLIN },
			       { .fd = p->err, .events = POLLIN } };

	if (p->out < 0 && p->err < 0)
		return 0;
	if (poll(f, 2, ms) <= 0)
		return 1;
	for (int i = 0; i < 2; i++) {
		int *fd = i ? &p->err : &p->out;
		char *buf = i ? p->err_buf : p->out_buf;
		size_t *len = i ? &p->err_len : &p->out_len;
		ssize_t n;

		if (*fd < 0 || !(f[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(*fd, buf + *len, OUT_MAX - 1 - *len);
		if (n <= 0) {
			close(*fd);
			*fd = -1;
			continue;
		}
		*len += (size_t)n;
		buf[*len] = '\0';
	}
	return 1;
}

/* Reads until stdout holds @needle (1), or EOF / WAIT_S pass (0). */
static inline int expect_out(struct proc *p, const char *needle)
{
	int64_t end = now_ms() + WAIT_S * 1000;

	p->out_buf[p->out_len] = '\0';
	while (!strstr(p->out_buf, needle)) {
		if (now_ms() > end || !pump(p, 50)) {
			fprintf(stderr,
				"stdout lacks '%s': '%s' (stderr '%s')\n",
				needle, p->out_buf, p->err_buf);
			return 0;
		}
	}
	return 1;
}

/*
 * Reads everything @p prints and reaps it; returns its exit status, or -1
 * if it had to be killed after WAIT_S seconds (or died by a signal).
 */
static inline int finish_within(struct proc *p, int wait_s)
{
	int64_t end = now_ms() + wait_s * 1000;
	int st;

	if (p->in >= 0) {
		close(p->in);
		p->in = -1;
	}
	while (pump(p, 50) && now_ms() < end)
		;
	while (waitpid(p->pid, &st, WNOHANG) == 0) {
		if (now_ms() > end) {
			fprintf(stderr, "'%s' still running: killed\n",
				p->out_buf);
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			break;
		}
		usleep(2000);
	}
	if (p->out >= 0)
		close(p->out);
	if (p->err >= 0)
		close(p->err);
	p->out = p->err = -1;
	forget(p->pid);
	p->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return p->status;
}

static inline int finish(struct proc *p)
{
	return finish_within(p, WAIT_S);
}

/* Runs "tool @args..." with no stdin to the end; returns its exit status. */
static inline int run(struct proc *p, ...)
{
	va_list ap;
	int r;

	va_start(ap, p);
	r = start_v(p, 0, ap);
	va_end(ap);
	return r ? -1 : finish(p);
}

static inline int feed(struct proc *p, const char *s)
{
	size_t len = strlen(s);

	return write(p->in, s, len) == (ssize_t)len ? 0 : -1;
}

/* Whether @p has exited (not reaped: finish() still collects it). */
static inline int exited(const struct proc *p)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return !waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) &&
	       si.si_pid == p->pid;
}

static inline void describe(const char *what, struct proc *p)
{
	pump(p, 0);
	fprintf(stderr, "%s %d %s; stderr: '%s'\n", what, (int)p->pid,
		exited(p) ? "has exited" : "runs", p->err_buf);
}

/* The number after @key in @s (e.g. "sent:"), or -1. */
static inline long long field(const char *s, const char *key)
{
	const char *p = strstr(s, key);

	return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

static inline int count_of(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* --- a JSON syntax check: enough to say the tool's output parses. */

static inline const char *json_value(const char *s, int depth);

static inline const char *json_ws(const char *s)
{
	while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		s++;
	return s;
}

static inline const char *json_string(const char *s)
{
	if (*s++ != '"')
		return NULL;
	for (; *s != '"'; s++) {
		if ((unsigned char)*s < 0x20)
			return NULL;
		if (*s == '\\') {
			s++;
			if (*s == 'u') {
				for (int i = 0; i < 4; i++)
					if (!isxdigit((unsigned char)*++s))
						return NULL;
			} else if (!strchr("\"\\/bfnrt", *s) || !*s) {
				return NULL;
			}
		}
	}
	return s + 1;
}

static inline const char *json_container(const char *s, int depth, char close)
{
	s = json_ws(s + 1);
	if (*s == close)
		return s + 1;
	for (;;) {
		if (close == '}') {
			s = json_string(json_ws(s));
			if (!s)
				return NULL;
			s = json_ws(s);
			if (*s++ != ':')
				return NULL;
		}
		s = json_value(s, depth + 1);
		if (!s)
			return NULL;
		s = json_ws(s);
		if (*s == close)
			return s + 1;
		if (*s++ != ',')
			return NULL;
	}
}

static inline const char *json_value(const char *s, int depth)
{
	char *end;

	s = json_ws(s);
	if (depth > 32)
		return NULL;
	if (*s == '{')
		return json_container(s, depth, '}');
	if (*s == '[')
		return json_container(s, depth, ']');
	if (*s == '"')
		return json_string(s);
	if (!strncmp(s, "true", 4) || !strncmp(s, "null", 4))
		return s + 4;
	if (!strncmp(s, "false", 5))
		return s + 5;
	if (*s != '-' && !isdigit((unsigned char)*s))
		return NULL;
	strtod(s, &end);
	return end > s ? end : NULL;
}

static inline int json_valid(const char *s)
{
	s = json_value(s, 0);
	return s && !*json_ws(s);
}

/* Whether @p exited with @want; says what it printed if not. */
static inline int exited_with(const struct proc *p, int want)
{
	if (p->status == want)
		return 1;
	fprintf(stderr, "exit %d, want %d; stdout '%s', stderr '%s'\n",
		p->status, want, p->out_buf, p->err_buf);
	return 0;
}

/*
 * The start of a tool test's main(): the tool is argv[1] (none: skip),
 * tool processes still running at exit are killed, and the tool finds a
 * fresh registry directory, @path (PATH_MAX bytes), through SHOAL_DIR.
 * TEST_PASS to go on, else the exit status.
 */
static inline int cli_test_start(int argc, char **argv, char *path)
{
	if (argc < 2)
		return TEST_SKIP;
	tool = argv[1];
	atexit(kill_leftovers);
	if (test_registry_path(path, PATH_MAX))
		return TEST_FAIL;
	setenv("SHOAL_DIR", path, 1);
	return TEST_PASS;
}

/* Whether @p printed @needle, on stdout or on stderr. */
static inline int printed(const struct proc *p, const char *needle)
{
	return strstr(p->out_buf, needle) || strstr(p->err_buf, needle);
}

/* Whether @s holds @needle; says what it holds if not. */
static inline int has(const char *s, const char *needle)
{
	if (strstr(s, needle))
		return 1;
	fprintf(stderr, "output lacks '%s':\n%s\n", needle, s);
	return 0;
}

#endif
