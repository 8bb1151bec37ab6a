/* SPDX-License-Identifier: MIT */
/*
 * shoal-gateway: exports local shoal services to NATS and imports remote
 * ones as local services (docs/gateway.md).
 *
 *   shoal-gateway --server nats://HOST:PORT [--export PATTERN]...
 *                 [--import PATTERN]... [--prefix SITE] [--id ID]
 *                 [--creds FILE] [--tls-ca FILE] [--tls-cert FILE
 *                 --tls-key FILE] [--announce SEC] [--expire SEC]
 *                 [--access owner|group|anyone] [--reliable-window N]
 *                 [--export-spin-us N] [-v]
 *
 * The main thread watches the local registry and starts an export for each
 * pub/sub, queue, rpc or event service whose name matches an --export
 * pattern (shell-style, *
 * and ?, through fnmatch), announces each export on
 * "<prefix>._gw.ann" every --announce seconds, listens to the other
 * gateways' announcements and keeps one mirror per remote service whose
 * name matches an --import pattern. A mirror not announced for --expire
 * seconds (while we are connected) is withdrawn: that is how a gateway that
 * died (no "bye") disappears from the other hosts.
 */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gw.h"

atomic_int gw_stopping;

static pthread_mutex_t stream_lock = PTHREAD_MUTEX_INITIALIZER;
static int stream_ready;
/* Under stream_lock: the last failure gw_ensure_stream() reported. */
static natsStatus said_status = NATS_OK;
static jsErrCode said_jerr;

int64_t gw_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void gw_log(struct gw *gw, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&gw->log_lock);
	va_start(ap, fmt);
	printf("shoal-gateway: ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
	pthread_mutex_unlock(&gw->log_lock);
}

/*
 * The stream of every reliable export under this prefix:
 * "SHOAL_<prefix>" on "<prefix>.r.>", file storage, the server's default
 * duplicate window (2 minutes). Created by whichever gateway needs it
 * first; a concurrent creation by another gateway is fine.
 */
int gw_ensure_stream(struct gw *gw)
{
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	char subj[GW_SUBJECT_MAX];
	const char *subjects[1] = { subj };
	natsStatus s;
	int err = 0;

	pthread_mutex_lock(&stream_lock);
	if (stream_ready)
		goto out;
	s = js_GetStreamInfo(&si, gw->js, gw->stream, NULL, &jerr);
	if (s == NATS_OK) {
		jsStreamInfo_Destroy(si);
		stream_ready = 1;
		goto out;
	}
	snprintf(subj, sizeof(subj), "%s.r.>", gw->cfg.prefix);
	jsStreamConfig_Init(&sc);
	sc.Name = gw->stream;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	s = js_AddStream(&si, gw->js, &sc, NULL, &jerr);
	jsStreamInfo_Destroy(si);
	if (s == NATS_OK || jerr == JSStreamNameExistErr) {
		stream_ready = 1;
	} else {
		/* Said once per reason: a failed export tries again every
		 * --announce seconds (on_appeared). */
		if (s != said_status || jerr != said_jerr)
			gw_log(gw, "cannot create stream %s: %s (%d)",
			       gw->stream, natsStatus_GetText(s), (int)jerr);
		said_status = s;
		said_jerr = jerr;
		err = -EIO;
	}
out:
	pthread_mutex_unlock(&stream_lock);
	return err;
}

static int matches(const char *const *pats, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!fnmatch(pats[i], name, 0))
			return 1;
	return 0;
}

static void on_stop(int sig)
{
	(void)sig;
	atomic_store(&gw_stopping, 1);
}

static const char *pattern_name(const struct gw_desc *d)
{
	switch (d->pattern) {
	case SHOAL_PATTERN_PUBSUB:
		return d->reliable ? "pubsub reliable" : "pubsub lossy";
	case SHOAL_PATTERN_QUEUE:
		return "queue";
	case SHOAL_PATTERN_RPC:
		return "rpc";
	case SHOAL_PATTERN_EVENT:
		return "event";
	}
	return "?";
}

/* --- announcements */

static void send_desc(struct gw *gw, const char *kind, const struct gw_desc *d)
{
	char json[1024], subj[GW_SUBJECT_MAX];

	if (gw_desc_to_json(d, json, sizeof(json)) < 0)
		return;
	snprintf(subj, sizeof(subj), "%s._gw.%s", gw->cfg.prefix, kind);
	natsConnection_PublishString(gw->nc, subj, json);
}

static void announce_all(struct gw *gw)
{
	for (int i = 0; i < gw->n_exports; i++)
		if (gw->exports[i]->announced)
			send_desc(gw, "ann", &gw->exports[i]->desc);
}

static void send_query(struct gw *gw)
{
	char subj[GW_SUBJECT_MAX];

	snprintf(subj, sizeof(subj), "%s._gw.query", gw->cfg.prefix);
	natsConnection_PublishString(gw->nc, subj, gw->id);
}

/* --- the export table */

static int find_export(struct gw *gw, const char *name)
{
	for (int i = 0; i < gw->n_exports; i++)
		if (!strcmp(gw->exports[i]->desc.name, name))
			return i;
	return -1;
}

static void drop_export(struct gw *gw, int i, const char *why)
{
	struct gw_export *e = gw->exports[i];
	gw_export_stop(e);
	/* The thread has ended: its counters are ours now. */
	if (e->announced)
		send_desc(gw, "bye", &e->desc);
	gw_log(gw, "export %s withdrawn (%s; %" PRIu64 " sent)", e->desc.name,
	       why, e->sent);
	free(e);
	gw->exports[i] = gw->exports[--gw->n_exports];
}

/* Exports @info if it is ours to export: 0 (done, or not ours), or
 * -errno if the export could not start. */
static int export_service(struct gw *gw, const struct shoal_service_info *info)
{
	struct gw_export *e;
	int i, err;

	if (info->pattern < SHOAL_PATTERN_PUBSUB ||
	    info->pattern > SHOAL_PATTERN_EVENT ||
	    info->pid == (int32_t)getpid() || strstr(info->name, "//") ||
	    !matches(gw->cfg.exports, gw->cfg.n_exports, info->name))
		return 0;
	i = find_export(gw, info->name);
	if (i >= 0) {
		if (gw->exports[i]->desc.epoch == info->epoch)
			return 0;
		drop_export(gw, i, "replaced");
	}
	if (gw_array_room(&gw->exports, gw->n_exports, &gw->cap_exports,
			  sizeof(*gw->exports)))
		return -ENOMEM;
	err = gw_export_start(gw, info, &e);
	if (err)
		return err;
	gw->exports[gw->n_exports++] = e;
	return 0;
}

/* --- exports that could not start */

/*
 * The watch reports a service once, when it appears. An export that could
 * not start then (gw_ensure_stream()'s JetStream requests timing out
 * while the server is busy or away, a subscriber that could not open) is
 * not given up: its name and epoch wait in gw->retries, and it is tried
 * again every --announce seconds until it starts or the service goes.
 * Without this, a stream request that timed out once left the service
 * unexported for as long as its publisher lived.
 */
static int find_retry(struct gw *gw, const char *name)
{
	for (int i = 0; i < gw->n_retries; i++)
		if (!strcmp(gw->retries[i].name, name))
			return i;
	return -1;
}

static void retry_remove(struct gw *gw, int i)
{
	gw->retries[i] = gw->retries[--gw->n_retries];
}

/* The export of @name (@epoch) failed with @err: tried again later, and
 * said once when @say. */
static void retry_add(struct gw *gw, const char *name, uint64_t epoch, int err,
		      int say)
{
	int i = find_retry(gw, name);

	if (i >= 0 && gw->retries[i].epoch == epoch) {
		if (gw->cfg.verbose)
			gw_log(gw, "cannot export %s yet: %s", name,
			       strerror(-err));
		return;
	}
	if (i < 0) {
		if (gw_array_room(&gw->retries, gw->n_retries, &gw->cap_retries,
				  sizeof(*gw->retries))) {
			gw_log(gw, "cannot export %s: %s", name,
			       strerror(-err));
			return;
		}
		i = gw->n_retries++;
	}
	snprintf(gw->retries[i].name, sizeof(gw->retries[i].name), "%s", name);
	gw->retries[i].epoch = epoch;
	if (say || gw->cfg.verbose)
		gw_log(gw, "cannot export %s: %s (retrying every %.1f s)", name,
		       strerror(-err), (double)gw->cfg.announce_ns / 1e9);
}

struct retry_find {
	const char *name;
	struct shoal_service_info info;
	int found;
};

static int retry_find_cb(const struct shoal_service_info *i, void *user)
{
	struct retry_find *f = user;

	if (strcmp(i->name, f->name))
		return 0;
	f->info = *i;
	f->found = 1;
	return 1;
}

/* Tries the waiting exports again; forgets those whose service went or
 * was replaced (the watch reports the new one). */
static void retry_exports(struct gw *gw)
{
	for (int i = 0; i < gw->n_retries; i++) {
		struct retry_find f = { .name = gw->retries[i].name };
		int err;

		if (shoal_registry_list(gw->reg, retry_find_cb, &f) < 0)
			return; /* next time */
		if (!f.found || f.info.epoch != gw->retries[i].epoch) {
			retry_remove(gw, i--);
			continue;
		}
		err = export_service(gw, &f.info);
		if (!err)
			retry_remove(gw, i--);
		else if (gw->cfg.verbose)
			gw_log(gw, "cannot export %s yet: %s", f.info.name,
			       strerror(-err));
	}
}

static void on_appeared(struct gw *gw, const struct shoal_service_info *info)
{
	int i = find_retry(gw, info->name);
	int err;

	if (i >= 0)
		retry_remove(gw, i); /* this one replaces it */
	err = export_service(gw, info);
	if (err)
		retry_add(gw, info->name, info->epoch, err, 1);
}

/*
 * A withdrawn or dead publisher: its export thread takes what is left in
 * the ring, then sees -EPIPE and ends, and tend_exports() says "bye"
 * after the last message went out. Nothing to do here but note it.
 */
static void on_gone(struct gw *gw, const struct shoal_service_info *info)
{
	int i = find_retry(gw, info->name);

	if (i >= 0 && gw->retries[i].epoch == info->epoch)
		retry_remove(gw, i);
	i = find_export(gw, info->name);
	if (i < 0 || gw->exports[i]->desc.epoch != info->epoch)
		return;
	if (info->pattern != SHOAL_PATTERN_PUBSUB)
		drop_export(gw, i, "gone");
	else if (gw->cfg.verbose)
		gw_log(gw, "export %s: publisher gone", info->name);
}

/*
 * Announces each export once its subscriber has joined, without waiting
 * for the next round; drops the ones whose thread ended.
 */
static void tend_exports(struct gw *gw)
{
	for (int i = 0; i < gw->n_exports; i++) {
		struct gw_export *e = gw->exports[i];
		int done = atomic_load(&e->done);

		if (done == 2 && !e->announced) {
			e->announced = 1;
			send_desc(gw, "ann", &e->desc);
			gw_log(gw, "export %s as %s (%s, epoch %" PRIu64 ")",
			       e->desc.name, e->subject, pattern_name(&e->desc),
			       e->desc.epoch);
		} else if (done == 1) {
			char name[SHOAL_SERVICE_NAME_MAX + 1];
			uint64_t epoch = e->desc.epoch;
			int announced = e->announced;

			snprintf(name, sizeof(name), "%s", e->desc.name);
			drop_export(gw, i--, "ended");
			/* Ended before it was announced: its subscriber could
			 * not open (the thread said why), or the service went
			 * at once. Tried again while the service lives. */
			if (!announced)
				retry_add(gw, name, epoch, -EIO, 0);
		}
	}
}

/* --- the mirror table */

static int find_mirror(struct gw *gw, const char *name)
{
	for (int i = 0; i < gw->n_mirrors; i++)
		if (!strcmp(gw->mirrors[i]->desc.name, name))
			return i;
	return -1;
}

static void drop_mirror(struct gw *gw, int i, const char *why)
{
	struct gw_mirror *mi = gw->mirrors[i];
	char name[SHOAL_SERVICE_NAME_MAX + 1], host[GW_ID_MAX];
	uint64_t received, mismatched;

	snprintf(name, sizeof(name), "%s", mi->desc.name);
	snprintf(host, sizeof(host), "%s", mi->desc.host);
	gw->mirrors[i] = gw->mirrors[--gw->n_mirrors];
	/* The counters are read once nothing feeds the mirror any more. */
	gw_mirror_stop(mi, &received, &mismatched);
	gw_log(gw,
	       "import %s from %s withdrawn (%s; %" PRIu64 " received, %" PRIu64
	       " refused for their type)",
	       name, host, why, received, mismatched);
}

static void on_announce(struct gw *gw, const struct gw_desc *d)
{
	struct gw_mirror *mi;
	int i, err;

	if (!strcmp(d->gw, gw->id) || d->pattern < SHOAL_PATTERN_PUBSUB ||
	    d->pattern > SHOAL_PATTERN_EVENT ||
	    !matches(gw->cfg.imports, gw->cfg.n_imports, d->name))
		return;
	i = find_mirror(gw, d->name);
	if (i >= 0) {
		mi = gw->mirrors[i];
		if (strcmp(mi->desc.gw, d->gw))
			return; /* another gateway's: the first one wins */
		if (mi->desc.epoch == d->epoch) {
			mi->last_seen_ns = gw_now_ns();
			return;
		}
		/* The remote publisher was replaced: so is the mirror, and
		 * local subscribers see the epoch change. */
		drop_mirror(gw, i, "remote publisher replaced");
	}
	if (gw_array_room(&gw->mirrors, gw->n_mirrors, &gw->cap_mirrors,
			  sizeof(*gw->mirrors)))
		return;
	err = gw_mirror_start(gw, d, &mi);
	if (err) {
		if (gw->cfg.verbose || err != -EEXIST)
			gw_log(gw, "cannot import %s from %s: %s (%s)", d->name,
			       d->host, strerror(-err), shoal_last_error());
		return;
	}
	gw->mirrors[gw->n_mirrors++] = mi;
	gw_log(gw, "import %s from %s (gateway %s, %s, epoch %" PRIu64 ")",
	       d->name, d->host, d->gw, pattern_name(d), d->epoch);
}

/*
 * The exporter withdrew the service after its last message. Lossy: the
 * mirror's subscription is drained before its publisher goes, so what
 * arrived before the bye is delivered. Reliable: the mirror stays until
 * its consumer finds nothing more to fetch (everything the exporter got
 * acknowledged was in the stream before it said bye).
 */
static void on_bye(struct gw *gw, const struct gw_desc *d)
{
	int i = find_mirror(gw, d->name);
	struct gw_mirror *mi;

	if (i < 0)
		return;
	mi = gw->mirrors[i];
	if (strcmp(mi->desc.gw, d->gw) || mi->desc.epoch != d->epoch)
		return;
	if (mi->desc.reliable)
		atomic_store(&mi->draining, 1);
	else
		drop_mirror(gw, i, "withdrawn by its gateway");
}

static void on_control(struct gw *gw, natsMsg *m)
{
	const char *subj = natsMsg_GetSubject(m);
	const char *kind = strrchr(subj, '.');
	struct gw_desc d;

	if (!kind)
		return;
	kind++;
	if (!strcmp(kind, "query")) {
		announce_all(gw);
		return;
	}
	if (gw_desc_from_json(natsMsg_GetData(m), natsMsg_GetDataLength(m), &d))
		return;
	if (!strcmp(kind, "ann"))
		on_announce(gw, &d);
	else if (!strcmp(kind, "bye"))
		on_bye(gw, &d);
}

/* --- setup */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shoal-gateway --server nats://HOST:PORT "
		"[--export PATTERN]... [--import PATTERN]...\n"
		"                     [--prefix SITE] [--id ID] [--creds FILE] "
		"[--tls-ca FILE]\n"
		"                     [--tls-cert FILE --tls-key FILE] "
		"[--announce SEC] [--expire SEC]\n"
		"                     [--access owner|group|anyone] "
		"[--reliable-window N]\n"
		"                     [--export-spin-us N] [-v]\n"
		"\n"
		"Exports the local services (pub/sub, queue, rpc, event) whose "
		"names match an\n"
		"--export pattern to NATS, and makes the services other "
		"gateways export that\n"
		"match an --import pattern appear here as local services of "
		"the same name and\n"
		"type.\n"
		"Patterns are shell-style (* and ?); nothing is exported or "
		"imported unless named.\n"
		"\n"
		"  --server URL     the NATS server (default "
		"nats://127.0.0.1:4222)\n"
		"  --export PAT     export matching local services "
		"(repeatable)\n"
		"  --import PAT     import matching remote services "
		"(repeatable)\n"
		"  --prefix SITE    subject prefix; gateways see each other "
		"only under the same\n"
		"                   prefix (default \"shoal\")\n"
		"  --id ID          this gateway's id (default: host name and "
		"registry); names\n"
		"                   its durable JetStream consumers, so keep it "
		"across restarts\n"
		"  --creds FILE     NATS user credentials (JWT and seed)\n"
		"  --tls-ca FILE    trusted CA certificates (turns TLS on)\n"
		"  --tls-cert FILE, --tls-key FILE  client certificate\n"
		"  --announce SEC   re-announce exports every SEC seconds "
		"(default 1)\n"
		"  --expire SEC     withdraw a mirror not announced for SEC "
		"seconds (default 5)\n"
		"  --access WHO     who may use the mirrors: owner (default), "
		"group or anyone\n"
		"                   (SHOAL_ACCESS_*, bounded by the registry "
		"directory's modes)\n"
		"  --reliable-window N  reliable exports: most messages in "
		"flight to JetStream\n"
		"                   at once, 1 to 64 (default 64)\n"
		"  --export-spin-us N  lossy exports: poll an empty ring N "
		"microseconds before\n"
		"                   sleeping (default 0; costs a core while "
		"messages come)\n"
		"  -v, --verbose    say more\n"
		"\n"
		"The registry is $SHOAL_DIR, else $XDG_RUNTIME_DIR/shoal, "
		"else /dev/shm/shoal-<uid>.\n"
		"See docs/gateway.md. Stops on SIGINT/SIGTERM, withdrawing "
		"what it exported.\n");
}

static int parse(int argc, char **argv, struct gw_config *c)
{
	static const struct option longopts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "export", required_argument, NULL, 'e' },
		{ "import", required_argument, NULL, 'i' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "id", required_argument, NULL, 'I' },
		{ "creds", required_argument, NULL, 'c' },
		{ "tls-ca", required_argument, NULL, 'A' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "announce", required_argument, NULL, 'a' },
		{ "expire", required_argument, NULL, 'x' },
		{ "access", required_argument, NULL, 'S' },
		{ "reliable-window", required_argument, NULL, 'W' },
		{ "export-spin-us", required_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	c->server = "nats://127.0.0.1:4222";
	c->prefix = "shoal";
	c->announce_ns = 1000000000LL;
	c->expire_ns = 5000000000LL;
	while ((ch = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		double sec;
		char *end;

		switch (ch) {
		case 's':
			c->server = optarg;
			break;
		case 'e':
		case 'i':
			if ((ch == 'e' ? c->n_exports : c->n_imports) ==
			    GW_PATTERNS_MAX) {
				fprintf(stderr,
					"shoal-gateway: at most %d "
					"patterns each\n",
					GW_PATTERNS_MAX);
				return 2;
			}
			if (ch == 'e')
				c->exports[c->n_exports++] = optarg;
			else
				c->imports[c->n_imports++] = optarg;
			break;
		case 'p':
			c->prefix = optarg;
			break;
		case 'I':
			c->id = optarg;
			break;
		case 'c':
			c->creds = optarg;
			break;
		case 'A':
			c->tls_ca = optarg;
			break;
		case 'C':
			c->tls_cert = optarg;
			break;
		case 'K':
			c->tls_key = optarg;
			break;
		case 'a':
		case 'x':
			sec = strtod(optarg, &end);
			if (*end || !(sec > 0) || sec > 86400) {
				fprintf(stderr,
					"shoal-gateway: bad seconds '%s'\n",
					optarg);
				return 2;
			}
			*(ch == 'a' ? &c->announce_ns : &c->expire_ns) =
				(int64_t)(sec * 1e9);
			break;
		case 'S':
			if (!strcmp(optarg, "owner")) {
				c->access = SHOAL_ACCESS_OWNER;
			} else if (!strcmp(optarg, "group")) {
				c->access = SHOAL_ACCESS_GROUP;
			} else if (!strcmp(optarg, "anyone")) {
				c->access = SHOAL_ACCESS_ANYONE;
			} else {
				fprintf(stderr, "shoal-gateway: --access is "
						"owner, group or anyone\n");
				return 2;
			}
			break;
		case 'W': {
			unsigned long w = strtoul(optarg, &end, 10);

			if (*end || w < 1 || w > SHOAL_SUB_HELD_MAX) {
				fprintf(stderr,
					"shoal-gateway: --reliable-window is "
					"1 to %u\n",
					SHOAL_SUB_HELD_MAX);
				return 2;
			}
			c->reliable_window = (uint32_t)w;
			break;
		}
		case 'P': {
			unsigned long us = strtoul(optarg, &end, 10);

			if (*end || us > 1000000) {
				fprintf(stderr,
					"shoal-gateway: --export-spin-us "
					"is 0 to 1000000\n");
				return 2;
			}
			c->export_spin_ns = (int64_t)us * 1000;
			break;
		}
		case 'v':
			c->verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "shoal-gateway: unexpected '%s'\n",
			argv[optind]);
		return 2;
	}
	if (!c->n_exports && !c->n_imports) {
		fprintf(stderr, "shoal-gateway: nothing to do: give --export "
				"or --import\n");
		return 2;
	}
	if (!c->prefix[0] || strpbrk(c->prefix, " \t*>") ||
	    c->prefix[0] == '.' || c->prefix[strlen(c->prefix) - 1] == '.') {
		fprintf(stderr, "shoal-gateway: bad --prefix '%s'\n",
			c->prefix);
		return 2;
	}
	if (!c->tls_cert != !c->tls_key) {
		fprintf(stderr, "shoal-gateway: --tls-cert and --tls-key go "
				"together\n");
		return 2;
	}
	if (c->expire_ns <= c->announce_ns) {
		fprintf(stderr, "shoal-gateway: --expire must be longer than "
				"--announce\n");
		return 2;
	}
	return -1;
}

/* The default id: host name and a hash of the registry's path. */
static void make_id(struct gw *gw)
{
	const char *path = shoal_registry_path(gw->reg);
	uint32_t h = 2166136261u;

	if (gethostname(gw->host, sizeof(gw->host) - 1))
		snprintf(gw->host, sizeof(gw->host), "unknown");
	if (gw->cfg.id) {
		snprintf(gw->id, sizeof(gw->id), "%s", gw->cfg.id);
	} else {
		for (const char *p = path; *p; p++)
			h = (h ^ (unsigned char)*p) * 16777619u;
		snprintf(gw->id, sizeof(gw->id), "%.40s-%08x", gw->host, h);
	}
	for (char *p = gw->id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			*p = '_';
	snprintf(gw->stream, sizeof(gw->stream), "SHOAL_%s", gw->cfg.prefix);
	for (char *p = gw->stream; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			*p = '_';
}

/*
 * A file named by an option must be there and readable before anything
 * connects: libnats reads --creds only during the connect handshake, where
 * a missing file would be one more failed attempt, retried forever. A
 * credentials file must hold the user's JWT and its NKEY seed (what `nsc`
 * writes, read by natsOptions_SetUserCredentialsFromFiles()). 0, or -1
 * having said why.
 */
static int check_file(const char *opt, const char *path, int creds)
{
	char buf[8192];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "shoal-gateway: %s %s: cannot read: %s\n", opt,
			path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	if (ferror(f)) {
		fprintf(stderr, "shoal-gateway: %s %s: cannot read: %s\n", opt,
			path, strerror(errno));
		fclose(f);
		return -1;
	}
	fclose(f);
	buf[n] = '\0';
	if (!n) {
		fprintf(stderr, "shoal-gateway: %s %s: the file is empty\n",
			opt, path);
		return -1;
	}
	if (creds && (!strstr(buf, "BEGIN NATS USER JWT") ||
		      !strstr(buf, "NKEY SEED"))) {
		fprintf(stderr,
			"shoal-gateway: %s %s: not a NATS credentials file "
			"(no \"BEGIN NATS USER JWT\" and \"NKEY SEED\" "
			"blocks in its first 8 KiB)\n",
			opt, path);
		return -1;
	}
	return 0;
}

/* What a failed first connect means, for people. */
static const char *connect_hint(natsStatus s)
{
	switch (s) {
	case NATS_SSL_ERROR:
		return "the TLS handshake failed (is --tls-ca the CA that "
		       "signed the server's certificate, and does that "
		       "certificate name the host of --server?)";
	case NATS_SECURE_CONNECTION_REQUIRED:
		return "the server requires TLS: give --tls-ca";
	case NATS_SECURE_CONNECTION_WANTED:
		return "TLS was asked for (--tls-ca, --tls-cert) but the "
		       "server does not offer it";
	case NATS_CONNECTION_AUTH_FAILED:
	case NATS_NOT_PERMITTED:
		return "the server refused the credentials";
	default:
		return NULL;
	}
}

/* libnats' connected callback: the server came (after a first failure). */
static void on_connected(natsConnection *nc, void *closure)
{
	(void)nc;
	gw_log(closure, "connected to the NATS server");
}

/*
 * Connects to --server. A first attempt is made at once, without retries,
 * so that what no retry can cure (a TLS handshake that fails, a server
 * that requires TLS, refused credentials) ends the gateway with a clear
 * message and exit status 1. Any other failure (no server listening yet)
 * leaves libnats retrying in the background, every 100 ms, forever, while
 * the gateway runs: it stays responsive to SIGTERM and announces once
 * connected.
 */
static int connect_nats(struct gw *gw)
{
	natsOptions *o = NULL;
	natsStatus s;
	const char *hint;

	if ((gw->cfg.creds && check_file("--creds", gw->cfg.creds, 1)) ||
	    (gw->cfg.tls_ca && check_file("--tls-ca", gw->cfg.tls_ca, 0)) ||
	    (gw->cfg.tls_cert &&
	     check_file("--tls-cert", gw->cfg.tls_cert, 0)) ||
	    (gw->cfg.tls_key && check_file("--tls-key", gw->cfg.tls_key, 0)))
		return -1;
	/* URL, name, credentials, TLS: what the reliable exports' own
	 * connections share (wire.c). */
	s = gw_nats_options(gw, &o);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, 100);
	if (s == NATS_OK)
		/* Keep publishing into the buffer while reconnecting: lossy
		 * messages beyond it are dropped (at most once). */
		s = natsOptions_SetReconnectBufSize(o, 64 * 1024 * 1024);
	if (s == NATS_OK)
		/* Write each publish at once instead of leaving it to
		 * libnats' flusher thread (which waits up to 1 ms to gather
		 * more): lossy messages go in frames of many (export.c), so
		 * this is one write per frame, not per message. */
		s = natsOptions_SetSendAsap(o, true);
	if (s == NATS_OK)
		/* Reads and writes of 256 KiB instead of libnats' 32 KiB: a
		 * message larger than the read buffer (a lossy frame of
		 * 64 KiB messages) is gathered in a buffer of its own and then
		 * copied once more into its natsMsg; with room for several
		 * frames, only those a read cuts in two are. */
		s = natsOptions_SetIOBufSize(o, GW_IO_BUF);

	if (s == NATS_OK) {
		s = natsConnection_Connect(&gw->nc, o);
		hint = connect_hint(s);
		if (s != NATS_OK && !hint) {
			/* Not there yet: keep trying in the background. */
			s = natsOptions_SetRetryOnFailedConnect(
				o, true, on_connected, gw);
			if (s == NATS_OK)
				s = natsConnection_Connect(&gw->nc, o);
			if (s == NATS_NOT_YET_CONNECTED) {
				gw_log(gw,
				       "no NATS server at %s yet: "
				       "retrying",
				       gw->cfg.server);
				s = NATS_OK;
			}
			hint = connect_hint(s);
		}
	} else {
		hint = NULL;
	}
	if (s == NATS_OK)
		s = natsConnection_JetStream(&gw->js, gw->nc, NULL);
	natsOptions_Destroy(o);
	if (s != NATS_OK) {
		fprintf(stderr, "shoal-gateway: cannot connect to %s: %s%s%s\n",
			gw->cfg.server, natsStatus_GetText(s), hint ? ": " : "",
			hint ? hint : "");
		nats_PrintLastErrorStack(stderr);
		return -1;
	}
	return 0;
}

static void run(struct gw *gw, natsSubscription *ctl, struct shoal_watch *w)
{
	int64_t next_announce = 0;
	int was_connected = 0;

	while (!atomic_load(&gw_stopping)) {
		struct shoal_watch_event ev;
		natsMsg *m = NULL;
		int64_t now;
		int connected, r;

		if (natsSubscription_NextMsg(&m, ctl, 50) == NATS_OK) {
			on_control(gw, m);
			natsMsg_Destroy(m);
			/* Take what is queued before looking elsewhere. */
			while (natsSubscription_NextMsg(&m, ctl, 0) ==
			       NATS_OK) {
				on_control(gw, m);
				natsMsg_Destroy(m);
			}
		}
		while ((r = shoal_watch_next(w, &ev)) == 1) {
			if (ev.type == SHOAL_WATCH_APPEARED)
				on_appeared(gw, &ev.info);
			else if (ev.type == SHOAL_WATCH_GONE)
				on_gone(gw, &ev.info);
		}
		if (r < 0)
			gw_log(gw, "registry watch: %s", strerror(-r));
		tend_exports(gw);
		now = gw_now_ns();
		connected = natsConnection_Status(gw->nc) ==
			    NATS_CONN_STATUS_CONNECTED;
		if (connected && !was_connected) {
			/* (Re)connected: ask who is there, say who we are. */
			send_query(gw);
			announce_all(gw);
		}
		was_connected = connected;
		if (now >= next_announce) {
			retry_exports(gw);
			announce_all(gw);
			next_announce = now + gw->cfg.announce_ns;
		}
		for (int i = 0; i < gw->n_mirrors; i++) {
			struct gw_mirror *mi = gw->mirrors[i];

			/* Deaf while disconnected: expiry counts only time
			 * we could have heard the announcements. */
			if (atomic_load(&mi->draining) == 2)
				drop_mirror(gw, i--,
					    "withdrawn by its gateway");
			else if (!connected || atomic_load(&mi->draining))
				mi->last_seen_ns = now;
			else if (now - mi->last_seen_ns > gw->cfg.expire_ns)
				drop_mirror(gw, i--, "no longer announced");
		}
	}
}

int main(int argc, char **argv)
{
	struct shoal_registry_options ro;
	struct gw gw = { 0 };
	struct shoal_watch *w = NULL;
	natsSubscription *ctl = NULL;
	char subj[GW_SUBJECT_MAX];
	struct sigaction sa = { 0 };
	int rc, err;

	rc = parse(argc, argv, &gw.cfg);
	if (rc >= 0)
		return rc;
	setvbuf(stdout, NULL, _IOLBF, 0);
	/*
	 * libnats allocates each message it receives (a lossy frame: 16 KiB
	 * or more) in its reader thread and the callback's thread frees it.
	 * With glibc's defaults the freed top of that thread's heap is given
	 * back (madvise) as soon as it passes the trim threshold and faulted
	 * in (and zeroed) again by the next allocations: perf put a third of
	 * an importing gateway's CPU there at 1 KiB lossy. Keep up to 16 MiB
	 * free per heap instead, and take allocations up to the largest NATS
	 * payload (1 MiB by default) from the heap rather than mmap.
	 * (Setting either also stops glibc adjusting them itself.)
	 */
	mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
	mallopt(M_MMAP_THRESHOLD, 2 * 1024 * 1024);
	pthread_mutex_init(&gw.log_lock, NULL);
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	shoal_registry_options_init(&ro);
	err = shoal_registry_create(&ro, &gw.reg);
	if (err) {
		fprintf(stderr, "shoal-gateway: cannot open the registry: %s\n",
			shoal_last_error());
		return 1;
	}
	make_id(&gw);
	if (connect_nats(&gw))
		return 1;
	if (gw.cfg.n_imports && gw_lossy_start(&gw)) {
		fprintf(stderr, "shoal-gateway: cannot start the lossy "
				"reader\n");
		return 1;
	}
	snprintf(subj, sizeof(subj), "%s._gw.*", gw.cfg.prefix);
	if (natsConnection_SubscribeSync(&ctl, gw.nc, subj) != NATS_OK ||
	    natsSubscription_SetPendingLimits(ctl, -1, -1) != NATS_OK) {
		fprintf(stderr, "shoal-gateway: cannot subscribe to %s\n",
			subj);
		return 1;
	}
	err = shoal_registry_watch(gw.reg, &w);
	if (err) {
		fprintf(stderr, "shoal-gateway: cannot watch %s: %s\n",
			shoal_registry_path(gw.reg), shoal_last_error());
		return 1;
	}
	gw_log(&gw, "gateway %s on %s, registry %s, prefix %s", gw.id,
	       gw.cfg.server, shoal_registry_path(gw.reg), gw.cfg.prefix);
	run(&gw, ctl, w);
	while (gw.n_exports)
		drop_export(&gw, gw.n_exports - 1, "gateway stopping");
	while (gw.n_mirrors)
		drop_mirror(&gw, gw.n_mirrors - 1, "gateway stopping");
	gw_lossy_stop(&gw);
	natsConnection_FlushTimeout(gw.nc, 1000);
	natsSubscription_Destroy(ctl);
	shoal_watch_close(w);
	jsCtx_Destroy(gw.js);
	natsConnection_Destroy(gw.nc);
	shoal_registry_destroy(gw.reg);
	free(gw.exports);
	free(gw.mirrors);
	free(gw.retries);
	nats_Close();
	return 0;
}
