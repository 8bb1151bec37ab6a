/* SPDX-License-Identifier: MIT */
/*
 * What the gateway tests share: a nats-server of their own on 127.0.0.1
 * and a port it picks (skip, 77, when there is none installed), two
 * registries standing for two hosts ("A" and "B"), a shoal-gateway on each, and waits
 * for a service to appear or vanish in a registry. argv[1] is the shoal
 * tool, argv[2] shoal-gateway. Every wait is for an event, bounded only so
 * that a bug fails instead of hanging.
 */
#ifndef SHOAL_GW_TEST_H
#define SHOAL_GW_TEST_H

#include <pthread.h>

#include <shoal.h>

#include "harness.h"
#include "registry_util.h"

#ifndef WAIT_S
#define WAIT_S 60
#endif
#include "cli_util.h"

static const char *shoal_tool, *gateway_tool;
static char dir_a[PATH_MAX], dir_b[PATH_MAX], store[PATH_MAX];
static char nats_url[64];
static int nats_port;
static pid_t nats_pid = -1;
static struct shoal_registry *reg_a, *reg_b;

/* Extra arguments for nats-server (a TLS or auth test sets them before
 * gw_test_start()); NULL-terminated. */
static const char *nats_extra[8];

/* Program @name on PATH (or in /usr/bin, /usr/sbin): 0 and its path. */
static inline int find_program(const char *name, char *out, size_t cap)
{
	const char *path = getenv("PATH");
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s:/usr/bin:/usr/sbin",
		 path ? path : "/usr/bin");
	for (char *save, *d = strtok_r(buf, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(out, cap, "%s/%s", d, name);
		if (!access(out, X_OK))
			return 0;
	}
	return -1;
}

static inline int find_nats_server(char *out, size_t cap)
{
	return find_program("nats-server", out, cap);
}

/*
 * The port nats-server @pid listens on, from the file it writes into
 * @dir once it listens (--ports_file_dir): 0 while there is none yet, -1
 * if it cannot be read.
 */
static inline int nats_ports_file(const char *dir, pid_t pid)
{
	char path[PATH_MAX + 64], buf[512];
	const char *c;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/nats-server_%d.ports", dir, (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0; /* being written */
	buf[n] = 0;
	/* {"nats":["nats://127.0.0.1:PORT"]}, tls:// with TLS */
	c = strstr(buf, "://127.0.0.1:");
	return c ? atoi(c + strlen("://127.0.0.1:")) : 0;
}

/*
 * Starts nats-server (JetStream, its store in @store) on nats_port, or on
 * a port it picks when nats_port is 0 (then nats_port and nats_url say
 * which). Whether it listens is read from the ports file it writes for its
 * own pid, not from a connect to the port: tests run side by side, and
 * another test's server may hold a port this one failed to bind (it then
 * exits, and this returns -1).
 */
static inline int nats_start(void)
{
	char bin[PATH_MAX], port[16], ports_dir[PATH_MAX + 8];
	int64_t end = now_ms() + WAIT_S * 1000;
	int got;

	if (find_nats_server(bin, sizeof(bin)))
		return -1;
	snprintf(port, sizeof(port), "%d", nats_port > 0 ? nats_port : -1);
	snprintf(ports_dir, sizeof(ports_dir), "%s.ports", store);
	if (mkdir(ports_dir, 0700) && errno != EEXIST)
		return -1;
	nats_pid = fork();
	if (nats_pid < 0)
		return -1;
	if (nats_pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 1);
		dup2(null, 2);
		execl(bin, bin, "-a", "127.0.0.1", "-p", port,
		      "--ports_file_dir", ports_dir, "-js", "-sd", store,
		      nats_extra[0], nats_extra[1], nats_extra[2],
		      nats_extra[3], nats_extra[4], nats_extra[5],
		      nats_extra[6], (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < PROCS_MAX; i++)
		if (!started[i]) {
			started[i] = nats_pid;
			break;
		}
	while (!(got = nats_ports_file(ports_dir, nats_pid))) {
		if (waitpid(nats_pid, NULL, WNOHANG) == nats_pid) {
			fprintf(stderr, "nats-server exited (port %s taken?)\n",
				port);
			forget(nats_pid);
			nats_pid = -1;
			return -1;
		}
		if (now_ms() > end) {
			fprintf(stderr, "nats-server never listened on %s\n",
				port);
			return -1;
		}
		usleep(20000);
	}
	if (got < 0 || (nats_port > 0 && got != nats_port))
		return -1;
	nats_port = got;
	snprintf(nats_url, sizeof(nats_url), "nats://127.0.0.1:%d", nats_port);
	return 0;
}

/* Stops nats-server: @sig SIGKILL (a crash) or SIGTERM. */
static inline void nats_stop(int sig)
{
	if (nats_pid <= 0)
		return;
	kill(nats_pid, sig);
	waitpid(nats_pid, NULL, 0);
	forget(nats_pid);
	nats_pid = -1;
}

/* The top directory (/tmp/shoal-test-XXXXXX) of a ".../reg" path. */
static inline void remove_top(const char *path)
{
	char top[PATH_MAX];
	char *slash;

	snprintf(top, sizeof(top), "%s", path);
	slash = strrchr(top, '/');
	if (!slash || strncmp(top, "/tmp/shoal-test-", 16))
		return;
	*slash = '\0';
	test_remove_tree(top);
}

/* At exit, after kill_leftovers(): the server reaped, the files gone. */
static inline void gw_test_cleanup(void)
{
	nats_stop(SIGKILL);
	if (dir_a[0])
		remove_top(dir_a);
	if (dir_b[0])
		remove_top(dir_b);
	if (store[0])
		remove_top(store);
}

/*
 * The start of a gateway test: tools from argv, a fresh registry in each
 * of dir_a and dir_b, a store directory and a running nats-server.
 * TEST_PASS to go on, else the exit status (TEST_SKIP without a server).
 */
static inline int gw_test_start(int argc, char **argv)
{
	char bin[PATH_MAX], tmp[PATH_MAX];

	if (argc < 3) {
		fprintf(stderr, "usage: %s SHOAL-TOOL SHOAL-GATEWAY\n",
			argv[0]);
		return TEST_SKIP;
	}
	if (find_nats_server(bin, sizeof(bin))) {
		fprintf(stderr, "nats-server not found: skipped\n");
		return TEST_SKIP;
	}
	shoal_tool = argv[1];
	gateway_tool = argv[2];
	tool = shoal_tool;
	/* Run in reverse: kill_leftovers() first, then the cleanup. */
	atexit(gw_test_cleanup);
	atexit(kill_leftovers);
	signal(SIGPIPE, SIG_IGN);
	if (test_registry_path(dir_a, sizeof(dir_a)) ||
	    test_registry_path(dir_b, sizeof(dir_b)) ||
	    test_registry_path(tmp, sizeof(tmp)))
		return TEST_FAIL;
	/* tmp is ".../reg": its parent holds the server's store. */
	snprintf(store, sizeof(store), "%.*s/js",
		 (int)(strrchr(tmp, '/') - tmp), tmp);
	if (test_registry_open(dir_a, &reg_a) ||
	    test_registry_open(dir_b, &reg_b))
		return TEST_FAIL;
	for (int tries = 0; tries < 5; tries++) {
		nats_port = 0; /* its own pick */
		if (!nats_start())
			return TEST_PASS;
		nats_stop(SIGKILL);
	}
	return TEST_FAIL;
}

/* Runs the shoal tool (start()) with the registry @dir. */
static inline int start_in(const char *dir, struct proc *p, int with_stdin, ...)
{
	va_list ap;
	int r;

	setenv("SHOAL_DIR", dir, 1);
	tool = shoal_tool;
	va_start(ap, with_stdin);
	r = start_v(p, with_stdin, ap);
	va_end(ap);
	return r;
}

/*
 * Starts a gateway on the registry @dir with "--server URL --announce
 * 0.2 --expire 2" and the options given (NULL-terminated).
 */
static inline int gw_start(const char *dir, struct proc *p, ...)
{
	const char *args[24];
	va_list ap;
	int n = 0;

	va_start(ap, p);
	while (n < 20 && (args[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	for (; n < 20; n++)
		args[n] = NULL;
	setenv("SHOAL_DIR", dir, 1);
	tool = gateway_tool;
	n = start(p, 0, "--server", nats_url, "--announce", "0.2", "--expire",
		  "2", args[0], args[1], args[2], args[3], args[4], args[5],
		  args[6], args[7], args[8], args[9], NULL);
	tool = shoal_tool;
	return n;
}

/* Whether service @name is live in @reg now. */
static inline int service_live(struct shoal_registry *reg, const char *name)
{
	struct shoal_service *svc;

	if (shoal_registry_open(reg, name, SHOAL_OPEN_READ_ONLY, &svc))
		return 0;
	shoal_service_close(svc);
	return 1;
}

/* Waits until @name is live (@want 1) or gone (0) in @reg: 0 or -1. */
static inline int wait_service(struct shoal_registry *reg, const char *name,
			       int want, struct proc *gw)
{
	int64_t end = now_ms() + WAIT_S * 1000;

	while (service_live(reg, name) != want) {
		if (now_ms() > end) {
			struct shoal_service *svc = NULL;
			int err = shoal_registry_open(
				reg, name, SHOAL_OPEN_READ_ONLY, &svc);

			shoal_service_close(svc);
			fprintf(stderr, "%s never %s (open: %d %s)\n", name,
				want ? "appeared" : "vanished", err,
				shoal_last_error());
			if (gw) {
				pump(gw, 0);
				fprintf(stderr, "gateway said: %s%s\n",
					gw->out_buf, gw->err_buf);
			}
			return -1;
		}
		if (gw)
			pump(gw, 0);
		usleep(10000);
	}
	return 0;
}

/* Waits until pub/sub service @name in @reg has @n live subscribers. */
static inline int wait_subscribers_in(struct shoal_registry *reg,
				      const char *name, int n)
{
	struct shoal_pubsub_info info;
	int64_t end = now_ms() + WAIT_S * 1000;
	int got = -1;

	while (now_ms() < end) {
		got = shoal_pubsub_inspect(reg, name, &info, NULL, 0);
		if (got == n)
			return 0;
		usleep(5000);
	}
	fprintf(stderr, "%s: never had %d subscribers: %d\n", name, n, got);
	return -1;
}

struct origin_find {
	const char *name;
	char origin[SHOAL_ORIGIN_MAX + 1];
	int found;
};

static inline int origin_cb(const struct shoal_service_info *i, void *user)
{
	struct origin_find *f = user;

	if (strcmp(i->name, f->name))
		return 0;
	memcpy(f->origin, i->origin, sizeof(f->origin));
	f->found = 1;
	return 1;
}

/*
 * @name is live in both registries: its mirror in B says where it comes
 * from ("<nats_url> shoal <gateway id> <name>", docs/gateway.md) in the
 * registry, in `shoal list` ("  via ...") and in `shoal info` ("origin:
 * ..."); the service in A is local (""). 0 or -1, saying why.
 */
static inline int check_origin(const char *name)
{
	struct origin_find fa = { .name = name }, fb = { .name = name };
	char head[128], tail[SHOAL_SERVICE_NAME_MAX + 2], want[256];
	static struct proc p;
	size_t lo, lt;

	snprintf(head, sizeof(head), "%s shoal ", nats_url);
	snprintf(tail, sizeof(tail), " %s", name);
	if (shoal_registry_list(reg_a, origin_cb, &fa) < 0 ||
	    shoal_registry_list(reg_b, origin_cb, &fb) < 0 || !fa.found ||
	    !fb.found) {
		fprintf(stderr, "origin: %s not listed in A and B\n", name);
		return -1;
	}
	lo = strlen(fb.origin);
	lt = strlen(tail);
	if (fa.origin[0] || strncmp(fb.origin, head, strlen(head)) ||
	    lo < strlen(head) + lt || strcmp(fb.origin + lo - lt, tail)) {
		fprintf(stderr, "origin of %s: A '%s', B '%s'\n", name,
			fa.origin, fb.origin);
		return -1;
	}
	setenv("SHOAL_DIR", dir_b, 1);
	snprintf(want, sizeof(want), "s  via %s\n", fb.origin);
	if (run(&p, "list", NULL) || !has(p.out_buf, want)) {
		fprintf(stderr, "shoal list on B:\n%s%s", p.out_buf, p.err_buf);
		return -1;
	}
	snprintf(want, sizeof(want), "\norigin:             %s\n", fb.origin);
	if (run(&p, "info", name, NULL) || !has(p.out_buf, want)) {
		fprintf(stderr, "shoal info %s on B:\n%s%s", name, p.out_buf,
			p.err_buf);
		return -1;
	}
	setenv("SHOAL_DIR", dir_a, 1);
	if (run(&p, "info", name, NULL) ||
	    !has(p.out_buf, "\norigin:             (local)\n")) {
		fprintf(stderr, "shoal info %s on A:\n%s%s", name, p.out_buf,
			p.err_buf);
		return -1;
	}
	return 0;
}

/*
 * `shoal pub NAME @mode` on A, `shoal sub NAME` on B (through the
 * gateways already running, @gw_b B's): @lines lines "<word> <i>" all
 * arrive, in order, the mirror says where it comes from, and it goes
 * when the publisher does. TEST_PASS or TEST_FAIL, saying why.
 */
static inline int lines_across(const char *name, const char *mode,
			       const char *word, int lines, struct proc *gw_b)
{
	static struct proc pub, sub;
	static char want[1 << 16];
	char count[16], line[64];
	size_t n = 0;

	snprintf(count, sizeof(count), "%d", lines);
	CHECK(!start_in(dir_a, &pub, 1, "pub", name, mode, NULL));
	if (wait_service(reg_b, name, 1, gw_b)) {
		describe("publisher", &pub);
		return TEST_FAIL;
	}
	CHECK(!check_origin(name));
	CHECK(!start_in(dir_b, &sub, 0, "sub", name, "--count", count,
			"--timeout", "60", NULL));
	CHECK(!wait_subscribers_in(reg_b, name, 1));
	for (int i = 0; i < lines; i++) {
		snprintf(line, sizeof(line), "%s %d\n", word, i);
		CHECK(n + strlen(line) < sizeof(want));
		CHECK(!feed(&pub, line));
		memcpy(want + n, line, strlen(line));
		n += strlen(line);
	}
	want[n] = '\0';
	CHECK(finish(&pub) == 0);
	finish(&sub);
	CHECK(exited_with(&sub, 0));
	if (strcmp(sub.out_buf, want)) {
		fprintf(stderr, "%s: B received '%.200s'...\n", name,
			sub.out_buf);
		return TEST_FAIL;
	}
	/* The publisher withdrew: so does the mirror. */
	CHECK(!wait_service(reg_b, name, 0, gw_b));
	return TEST_PASS;
}
/*
 * A reliable writer on its own thread: gw_lines_pub gets lines
 * "<gw_lines_word> 0" .. "<gw_lines_word> <gw_lines_n - 1>", each retried
 * while -EAGAIN (send_timeout_ns held it back: the far side is away), and
 * gw_lines_written counts those written. The tests that kill nats-server
 * mid-stream run it beside the kills.
 */
static struct shoal_pub *gw_lines_pub;
static const char *gw_lines_word = "m";
static int gw_lines_n;
static _Atomic int gw_lines_written;

static inline void *gw_write_lines(void *arg)
{
	char line[32];

	(void)arg;
	for (int i = 0; i < gw_lines_n; i++) {
		int n = snprintf(line, sizeof(line), "%s %d", gw_lines_word, i),
		    err;

		while ((err = shoal_pub_write(gw_lines_pub, line, (uint32_t)n,
					      NULL)) == -EAGAIN)
			;
		if (err) {
			fprintf(stderr, "write %d: %d\n", i, err);
			return NULL;
		}
		atomic_store(&gw_lines_written, i + 1);
	}
	return NULL;
}
/*
 * The end of a gw_write_lines() stream: the writer thread @t joined having
 * written every line, and @sub (`shoal sub` on B) exited 0 within @wait_s
 * seconds having printed exactly those lines, in order. TEST_PASS, or
 * TEST_FAIL saying where B's output differs.
 */
static inline int gw_lines_arrived(pthread_t t, struct proc *sub, int wait_s)
{
	static char want[1 << 17];
	size_t n = 0;

	pthread_join(t, NULL);
	CHECK_EQ(atomic_load(&gw_lines_written), gw_lines_n);
	finish_within(sub, wait_s);
	for (int i = 0; i < gw_lines_n; i++) {
		CHECK(n + 32 < sizeof(want));
		n += (size_t)sprintf(want + n, "%s %d\n", gw_lines_word, i);
	}
	if (sub->status != 0 || strcmp(sub->out_buf, want)) {
		int i = 0;

		while (sub->out_buf[i] == want[i])
			i++;
		fprintf(stderr,
			"exit %d; B differs at byte %d: '%.60s' "
			"want '%.60s'\n%s",
			sub->status, i, sub->out_buf + i, want + i,
			sub->err_buf);
		return TEST_FAIL;
	}
	return TEST_PASS;
}

/* Stops a gateway with SIGTERM and reaps it; its exit status. */
static inline int gw_stop(struct proc *p)
{
	kill(p->pid, SIGTERM);
	return finish(p);
}

#endif
