/* SPDX-License-Identifier: MIT */
/*
 * The pub/sub subcommands: pub, sub, hz.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* --- pub */

struct pub_args {
	int delivery;
	int verbose;
	int trusted;
	uint64_t capacity, max_payload, history, size, count;
	double rate;
	const char *pools;
};

/* A byte count with an optional K or M suffix (binary). */
static int parse_size(const char *s, char **end, uint32_t *out)
{
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoull(s, end, 10);
	if (**end == 'K' || **end == 'k') {
		v <<= 10;
		(*end)++;
	} else if (**end == 'M' || **end == 'm') {
		v <<= 20;
		(*end)++;
	}
	if (v == 0 || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* --pools SIZExCOUNT[,SIZExCOUNT...]: 0, or -1 with nothing set. */
static int parse_pools(const char *spec, struct shoal_pool *pools, uint32_t *n)
{
	const char *s = spec;
	uint32_t k = 0;

	for (;;) {
		char *end;

		if (k == SHOAL_PUB_POOLS_MAX ||
		    parse_size(s, &end, &pools[k].size) || *end != 'x' ||
		    parse_size(end + 1, &end, &pools[k].count))
			return -1;
		k++;
		if (*end == '\0')
			break;
		if (*end != ',')
			return -1;
		s = end + 1;
	}
	*n = k;
	return 0;
}

/*
 * Publishes one message. A reliable send that finds no room gives up after
 * a tick (counted as "failed" by the publisher) and is retried, so that
 * SIGINT is seen. Returns 0, -EINTR when stopped while waiting, or -errno.
 */
static int pub_send(struct shoal_pub *pub, const void *data, uint32_t len)
{
	for (;;) {
		int err = shoal_pub_write(pub, data, len, NULL);

		if (err != -EAGAIN)
			return err;
		if (cli_stop)
			return -EINTR;
	}
}

static int pub_one(const struct cli_cmd *cmd, struct shoal_pub *pub,
		   const struct pub_args *a, const void *data, uint32_t len,
		   uint64_t *sent)
{
	int err = pub_send(pub, data, len);

	if (err == -EINTR)
		return CLI_EXIT_OK;
	if (err)
		return cli_fail(cmd, err, "send failed");
	if (a->verbose)
		printf("sent %llu %u\n", (unsigned long long)*sent, len);
	(*sent)++;
	return CLI_EXIT_OK;
}

/* Fills @buf with "<seq> abcdef..." (printable, so sub shows it as text). */
static void fill_generated(char *buf, uint32_t size, uint64_t seq)
{
	char head[24];
	int n = snprintf(head, sizeof(head), "%llu ", (unsigned long long)seq);

	for (uint32_t i = 0; i < size; i++)
		buf[i] = i < (uint32_t)n ? head[i] :
					   (char)('a' + (i - (uint32_t)n) % 26);
}

static int pub_generated(const struct cli_cmd *cmd, struct shoal_pub *pub,
			 const struct pub_args *a, uint64_t *sent)
{
	int64_t start = cli_now_ns();
	double period = a->rate > 0 ? 1e9 / a->rate : 0;
	char *buf = malloc(a->size ? a->size : 1);
	int rc = CLI_EXIT_OK;

	if (!buf)
		return cli_fail_sys(cmd, -ENOMEM, "out of memory");
	for (uint64_t i = 0; !a->count || i < a->count; i++) {
		if (period > 0)
			cli_sleep_until(start + (int64_t)((double)i * period));
		if (cli_stop)
			break;
		fill_generated(buf, (uint32_t)a->size, i);
		rc = pub_one(cmd, pub, a, buf, (uint32_t)a->size, sent);
		if (rc || cli_stop)
			break;
	}
	free(buf);
	return rc;
}

struct pub_line_ctx {
	const struct cli_cmd *cmd;
	struct shoal_pub *pub;
	const struct pub_args *a;
	uint64_t *sent;
};

static int pub_line(void *user_data, const char *line, uint32_t len)
{
	struct pub_line_ctx *c = user_data;

	return pub_one(c->cmd, c->pub, c->a, line, len, c->sent);
}

/* Publishes each line of stdin until EOF, --count lines or a signal. */
static int pub_lines(const struct cli_cmd *cmd, struct shoal_pub *pub,
		     const struct pub_args *a, uint64_t *sent)
{
	struct pub_line_ctx c = { cmd, pub, a, sent };

	return cli_for_each_line(cmd, a->max_payload, a->count, pub_line, &c);
}

static int cmd_pub(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct pub_args a = { .delivery = SHOAL_DELIVERY_RELIABLE, .size = 64 };
	struct shoal_pub_options o;
	struct shoal_pool pools[SHOAL_PUB_POOLS_MAX];
	struct shoal_pub *pub;
	const char *name;
	uint64_t sent = 0;
	int rc, err;
	struct cli_opt opts[] = {
		CLI_OPT_CHOICE("--reliable", &a.delivery,
			       SHOAL_DELIVERY_RELIABLE),
		CLI_OPT_CHOICE("--lossy", &a.delivery, SHOAL_DELIVERY_LOSSY),
		CLI_OPT_U64("--capacity", &a.capacity, SHOAL_PUB_CAPACITY_MAX),
		CLI_OPT_U64("--max-payload", &a.max_payload,
			    SHOAL_PUB_PAYLOAD_MAX),
		CLI_OPT_U64("--history", &a.history, SHOAL_PUB_CAPACITY_MAX),
		CLI_OPT_STRING("--pools", &a.pools),
		CLI_OPT_DOUBLE("--rate", &a.rate),
		CLI_OPT_U64("--size", &a.size, SHOAL_PUB_PAYLOAD_MAX),
		CLI_OPT_U64("--count", &a.count, 0),
		CLI_OPT_FLAG("--trusted-subscribers", NULL, &a.trusted),
		CLI_OPT_FLAG("--verbose", "-v", &a.verbose),
		CLI_OPT_END,
	};

	rc = cli_parse(cmd, opts, argc, argv, &name, 1);
	if (rc != CLI_CONTINUE)
		return rc;
	if (cli_given(opts, "--size") && !cli_given(opts, "--rate"))
		return cli_usage_error(cmd, "--size needs --rate");
	shoal_pub_options_init(&o);
	o.delivery = (enum shoal_delivery)a.delivery;
	if (a.trusted)
		o.flags |= SHOAL_PUB_TRUSTED_SUBSCRIBERS;
	if (cli_given(opts, "--capacity"))
		o.capacity = (uint32_t)a.capacity;
	if (cli_given(opts, "--history"))
		o.history = (uint32_t)a.history;
	if (a.pools) {
		if (parse_pools(a.pools, pools, &o.npools))
			return cli_usage_error(
				cmd,
				"--pools '%s': want "
				"SIZExCOUNT[,SIZExCOUNT...] "
				"(at most %u, sizes with K or M)",
				a.pools, SHOAL_PUB_POOLS_MAX);
		o.pools = pools;
		/* The largest chunk is the largest message. */
		o.max_payload = pools[o.npools - 1].size;
	}
	if (cli_given(opts, "--max-payload"))
		o.max_payload = (uint32_t)a.max_payload;
	else if (cli_given(opts, "--rate") && a.size > o.max_payload)
		o.max_payload = (uint32_t)a.size;
	if (cli_given(opts, "--rate") && a.size > o.max_payload)
		return cli_usage_error(cmd,
				       "--size %llu is more than "
				       "--max-payload %u",
				       (unsigned long long)a.size,
				       o.max_payload);
	a.max_payload = o.max_payload;
	o.send_timeout_ns = CLI_TICK_NS;

	err = shoal_pub_create(name, &o, &pub);
	if (err == -EINVAL)
		return cli_usage_error(cmd, "cannot publish '%s': %s", name,
				       shoal_last_error());
	if (err)
		return cli_fail(cmd, err, "cannot publish '%s'", name);
	cli_catch_signals();
	if (a.verbose) {
		setvbuf(stdout, NULL, _IOLBF, 0);
		printf("publishing %s, epoch %llu\n", name,
		       (unsigned long long)shoal_pub_epoch(pub));
	}
	if (cli_given(opts, "--rate"))
		rc = pub_generated(cmd, pub, &a, &sent);
	else
		rc = pub_lines(cmd, pub, &a, &sent);
	fflush(stdout);
	shoal_pub_destroy(pub);
	fprintf(stderr, "shoal: %s: sent %llu message%s\n", cmd->name,
		(unsigned long long)sent, sent == 1 ? "" : "s");
	return rc;
}

const struct cli_cmd cli_cmd_pub = {
	.name = "pub",
	.summary = "publish the lines of stdin, or generated messages",
	.synopsis = "pub NAME [--reliable|--lossy] [--capacity N] "
		    "[--max-payload B] [--history H]\n"
		    "                 [--pools SIZExCOUNT,...] [--rate HZ "
		    "[--size B]] [--count N]\n"
		    "                 [--trusted-subscribers] [-v]",
	.help = "Publishes service NAME. Each line of stdin is one message "
		"(without its\n"
		"newline) until EOF; with --rate, generated messages instead "
		"(\"<seq> abc...\",\n"
		"printable) until --count or a signal. Then withdraws the "
		"service: its\n"
		"subscribers get what was sent, then see the publisher gone. "
		"Prints\n"
		"\"sent N messages\" on stderr at the end, nothing on stdout "
		"unless -v.\n"
		"\n"
		"  --reliable        never overwrite an unread message "
		"(default)\n"
		"  --lossy           never wait for subscribers; slow ones "
		"lose messages\n"
		"  --capacity N      slots in the ring, a power of two "
		"(default 1024)\n"
		"  --max-payload B   largest message (default 4096; with "
		"--rate at least --size)\n"
		"  --history H       messages a late subscriber may get "
		"(default 0)\n"
		"  --pools SPEC      payload pools, e.g. 1Kx64,64Kx16,8Mx4: "
		"each message\n"
		"                    takes a chunk of the smallest size that "
		"holds it\n"
		"  --trusted-subscribers\n"
		"                    reliable: no odd stamps (faster streams); "
		"a subscriber\n"
		"                    a peer lies about may read a torn "
		"message unawares\n"
		"  --rate HZ         generate HZ messages per second; 0: as "
		"fast as possible\n"
		"  --size B          bytes per generated message (default "
		"64)\n"
		"  --count N         stop after N messages\n"
		"  -v, --verbose     print \"sent SEQ LEN\" per message on "
		"stdout\n"
		"\n"
		"A reliable send waiting for a subscriber gives up after "
		"0.1 s and is\n"
		"retried, so the publisher's \"failed\" counter counts such "
		"waits.\n"
		"exit status: 0 (EOF, --count or SIGINT/SIGTERM), 1 failure "
		"(a line longer\n"
		"than --max-payload, the name held by a live publisher, ...), "
		"2 usage.\n",
	.run = cmd_pub,
};

/* --- sub */

struct sub_args {
	const char *name;
	uint64_t count, history;
	double timeout;
	int hex, reattach, quiet;
};

/*
 * The next message into *buf (grown as needed), as shoal_sub_read(). With
 * @timeout_ns > 0, a first look that finds nothing flushes stdout before
 * waiting, so that a pipe sees every message promptly.
 */
static ssize_t sub_next(struct shoal_sub *sub, unsigned char **buf, size_t *cap,
			struct shoal_msg *msg, int64_t timeout_ns)
{
	ssize_t n;

	n = shoal_sub_read(sub, *buf, *cap, NULL, msg, 0);
	if (n == -EAGAIN && timeout_ns > 0) {
		fflush(stdout);
		n = shoal_sub_read(sub, *buf, *cap, NULL, msg, timeout_ns);
	}
	while (n == -EMSGSIZE && *cap < SHOAL_PUB_PAYLOAD_MAX) {
		unsigned char *p = realloc(*buf, *cap * 2);

		if (!p)
			return -ENOMEM;
		*buf = p;
		*cap *= 2;
		n = shoal_sub_read(sub, *buf, *cap, NULL, msg, 0);
	}
	return n;
}

/* Opens @name for sub and hz; prints why not and returns the exit code. */
static int sub_open(const struct cli_cmd *cmd, const char *name,
		    uint32_t history, int reattach, struct shoal_sub **sub)
{
	struct shoal_sub_options o;
	int err;

	shoal_sub_options_init(&o);
	o.history = history;
	if (reattach)
		o.flags |= SHOAL_SUB_REATTACH;
	err = shoal_sub_open(name, &o, sub);
	if (!err)
		return CLI_EXIT_OK;
	if (err == -ENOENT)
		return cli_fail(cmd, err, "no such service '%s'", name);
	if (err == -EINVAL)
		return cli_usage_error(cmd, "cannot subscribe to '%s': %s",
				       name, shoal_last_error());
	return cli_fail(cmd, err, "cannot subscribe to '%s'", name);
}

/*
 * Lost messages are reported at most once a second (and at the end): a
 * note per overflow would flood stderr and slow the subscriber into being
 * lapped again.
 */
struct lost_notes {
	uint64_t pending;
	int64_t last_ns;
};

static void note_lost(const struct cli_cmd *cmd, struct lost_notes *l,
		      int force)
{
	if (!l->pending || (!force && cli_now_ns() - l->last_ns < 1000000000))
		return;
	fflush(stdout);
	cli_note(cmd, "lost %llu messages (lapped by the publisher)",
		 (unsigned long long)l->pending);
	l->pending = 0;
	l->last_ns = cli_now_ns();
}

/*
 * With --reattach, says on stderr when the publisher changed: the first
 * one appeared (sub started before it) or a new one replaced the gone one;
 * *@last is the epoch seen last (0: none yet).
 */
static void note_epoch(const struct cli_cmd *cmd, struct shoal_sub *sub,
		       const struct sub_args *a, uint64_t *last)
{
	uint64_t e = shoal_sub_epoch(sub);

	if (!a->reattach || !e || e == *last)
		return;
	fflush(stdout);
	if (*last)
		cli_note(cmd,
			 "reattached to a new publisher of '%s' (epoch %llu)",
			 a->name, (unsigned long long)e);
	else
		cli_note(cmd, "attached to '%s' (epoch %llu)", a->name,
			 (unsigned long long)e);
	*last = e;
}

static int sub_loop(const struct cli_cmd *cmd, struct shoal_sub *sub,
		    const struct sub_args *a)
{
	uint64_t epoch = shoal_sub_epoch(sub);
	int64_t timeout = a->timeout > 0 ? cli_seconds_ns(a->timeout) : -1;
	int64_t last = cli_now_ns();
	struct lost_notes lost = { 0 };
	size_t cap = 65536;
	unsigned char *buf = malloc(cap);
	uint64_t got = 0;
	int rc = CLI_EXIT_OK;

	if (!buf)
		return cli_fail_sys(cmd, -ENOMEM, "out of memory");
	while (!cli_stop && (!a->count || got < a->count)) {
		int64_t wait = CLI_TICK_NS;
		struct shoal_msg m;
		ssize_t n;

		if (timeout >= 0 && last + timeout - cli_now_ns() < wait)
			wait = last + timeout - cli_now_ns();
		n = sub_next(sub, &buf, &cap, &m, wait > 0 ? wait : 1);
		note_epoch(cmd, sub, a, &epoch);
		if (n >= 0) {
			if (!a->quiet)
				cli_print_message(buf, (size_t)n, a->hex);
			if (ferror(stdout)) {
				rc = cli_fail_sys(cmd, errno ? -errno : -EIO,
						  "cannot write to stdout");
				break;
			}
			got++;
			last = cli_now_ns();
			note_lost(cmd, &lost, 0);
			continue;
		}
		if (n == -ETIMEDOUT || n == -EAGAIN) {
			note_lost(cmd, &lost, 0);
			if (timeout >= 0 && cli_now_ns() - last >= timeout) {
				fflush(stdout);
				fprintf(stderr,
					"shoal: %s: no message in %g s\n",
					cmd->name, a->timeout);
				rc = CLI_EXIT_TIMEOUT;
				break;
			}
		} else if (n == -EOVERFLOW) {
			lost.pending += m.lost;
			note_lost(cmd, &lost, 0);
		} else if (n == -EPIPE) {
			note_lost(cmd, &lost, 1);
			fflush(stdout);
			if (!a->reattach) {
				cli_note(cmd, "publisher gone");
				rc = CLI_EXIT_GONE;
				break;
			}
			cli_note(cmd, "publisher gone; waiting for the next "
				      "one");
		} else {
			rc = cli_fail(cmd, (int)n, "cannot receive");
			break;
		}
	}
	note_lost(cmd, &lost, 1);
	if (fflush(stdout) && !rc)
		rc = cli_fail_sys(cmd, -errno, "cannot write to stdout");
	free(buf);
	return rc;
}

static int cmd_sub(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct sub_args a = { 0 };
	struct shoal_sub *sub;
	const char *name;
	int rc;
	struct cli_opt opts[] = {
		CLI_OPT_U64("--count", &a.count, 0),
		CLI_OPT_FLAG("--hex", NULL, &a.hex),
		CLI_OPT_DOUBLE("--timeout", &a.timeout),
		CLI_OPT_U64("--history", &a.history, SHOAL_PUB_CAPACITY_MAX),
		CLI_OPT_FLAG("--reattach", NULL, &a.reattach),
		CLI_OPT_FLAG("--quiet", "-q", &a.quiet),
		CLI_OPT_END,
	};

	rc = cli_parse(cmd, opts, argc, argv, &name, 1);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_check_count_timeout(cmd, opts, a.count, a.timeout);
	if (rc != CLI_CONTINUE)
		return rc;
	a.name = name;
	rc = sub_open(cmd, name, (uint32_t)a.history, a.reattach, &sub);
	if (rc)
		return rc;
	cli_catch_signals();
	rc = sub_loop(cmd, sub, &a);
	shoal_sub_close(sub);
	return rc;
}

const struct cli_cmd cli_cmd_sub = {
	.name = "sub",
	.summary = "print the messages of a publisher",
	.synopsis = "sub NAME [--count N] [--hex] [--timeout SEC] "
		    "[--history H] [--reattach]\n"
		    "                 [--quiet]",
	.help = "Subscribes to publisher NAME and prints each message on "
		"its own line:\n"
		"as text if every byte is printable (or a tab), else in hex. "
		"Notes go to\n"
		"stderr: \"lost N messages\" when a lossy publisher lapped "
		"us (at most once\n"
		"a second), \"publisher gone\" when it withdrew or died "
		"(after its last\n"
		"message).\n"
		"\n"
		"  --count N      exit after N messages\n"
		"  --hex          print every message in hex\n"
		"  --timeout SEC  exit 3 when SEC seconds pass with no "
		"message (since the\n"
		"                 start or the last message)\n"
		"  --history H    also receive up to H messages sent before "
		"joining\n"
		"                 (bounded by the publisher's --history)\n"
		"  --reattach     wait for NAME if it does not exist yet, and "
		"for the next\n"
		"                 publisher of NAME when this one is gone; "
		"says on stderr\n"
		"                 \"attached to NAME (epoch E)\" when a "
		"publisher it waited\n"
		"                 for came, \"reattached to a new publisher "
		"...\" when it\n"
		"                 replaced the gone one\n"
		"  -q, --quiet    print no messages (still counts them for "
		"--count)\n"
		"\n"
		"exit status: 0 (--count reached, or SIGINT/SIGTERM), 1 "
		"failure (\"no such\n"
		"service\" included), 2 usage, 3 timed out, 4 publisher gone "
		"(not with\n"
		"--reattach).\n",
	.run = cmd_sub,
};

/* --- hz */

struct hz_window {
	uint64_t msgs, bytes, lost;
};

/*
 * Takes messages until @end_ns or a signal. Returns CLI_CONTINUE, or an
 * exit code (publisher gone, failure).
 */
static int hz_measure(const struct cli_cmd *cmd, struct shoal_sub *sub,
		      int64_t end_ns, struct hz_window *w)
{
	for (;;) {
		int64_t left = end_ns - cli_now_ns();
		struct shoal_msg m;
		int err;

		if (left <= 0 || cli_stop)
			return CLI_CONTINUE;
		err = shoal_sub_take(sub, &m,
				     left < CLI_TICK_NS ? left : CLI_TICK_NS);
		if (!err) {
			w->msgs++;
			w->bytes += m.len;
			shoal_sub_release(sub, &m);
		} else if (err == -EOVERFLOW) {
			w->lost += m.lost;
		} else if (err == -EPIPE) {
			cli_note(cmd, "publisher gone");
			return CLI_EXIT_GONE;
		} else if (err != -ETIMEDOUT && err != -EAGAIN) {
			return cli_fail(cmd, err, "cannot receive");
		}
	}
}

static int cmd_hz(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct shoal_sub *sub;
	const char *name;
	double window = 1.0;
	uint64_t count = 0;
	int rc;
	struct cli_opt opts[] = {
		CLI_OPT_DOUBLE("--window", &window),
		CLI_OPT_U64("--count", &count, 0),
		CLI_OPT_END,
	};

	rc = cli_parse(cmd, opts, argc, argv, &name, 1);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!(window > 0))
		return cli_usage_error(cmd, "--window must be more than 0");
	if (cli_given(opts, "--count") && !count)
		return cli_usage_error(cmd, "--count must be at least 1");
	rc = sub_open(cmd, name, 0, 0, &sub);
	if (rc)
		return rc;
	cli_catch_signals();
	rc = CLI_CONTINUE;
	for (uint64_t k = 0; rc == CLI_CONTINUE && (!count || k < count); k++) {
		struct hz_window w = { 0 };
		int64_t start = cli_now_ns();
		char bw[32];
		double s;

		rc = hz_measure(cmd, sub, start + cli_seconds_ns(window), &w);
		if (rc != CLI_CONTINUE || cli_stop)
			break;
		s = (double)(cli_now_ns() - start) / 1e9;
		cli_human_rate(bw, sizeof(bw), (double)w.bytes / s);
		printf("%s: %.1f msg/s  %s  lost %llu  (%llu messages in "
		       "%.2f s)\n",
		       name, (double)w.msgs / s, bw, (unsigned long long)w.lost,
		       (unsigned long long)w.msgs, s);
		fflush(stdout);
	}
	shoal_sub_close(sub);
	return rc == CLI_CONTINUE ? CLI_EXIT_OK : rc;
}

const struct cli_cmd cli_cmd_hz = {
	.name = "hz",
	.summary = "message rate and bandwidth of a publisher",
	.synopsis = "hz NAME [--window SEC] [--count K]",
	.help = "Subscribes to publisher NAME and prints, once per window, "
		"the message\n"
		"rate, the bandwidth (payload bytes) and the messages lost:\n"
		"  NAME: 1000.0 msg/s  62.50 KiB/s  lost 0  (1000 messages in "
		"1.00 s)\n"
		"\n"
		"  --window SEC  length of a window (default 1)\n"
		"  --count K     exit after K windows\n"
		"\n"
		"exit status: 0 (--count reached, or SIGINT/SIGTERM), 1 "
		"failure (\"no such\n"
		"service\" included), 2 usage, 4 publisher gone.\n",
	.run = cmd_hz,
};
