/* shoal-test: label=multiproc timeout=300 */
/* SPDX-License-Identifier: MIT */
/*
 * The fd server against other users, attacking it the way a real one
 * would. An owner (uid 60000, in group 60100) publishes six services, one
 * of each access mode as a plain registry service and as a pub/sub
 * publisher (whose extra fds include the subscriber segment's memfd), in
 * four registries in turn: a private one as created (0700), a private one
 * others may search (0711), a group one as created (2770, group 60100), and
 * a group one others may search too (2775). Two other users attack each:
 * 60001, in group 60100 and in the owner's primary group 60000 (a member),
 * and 60002, in neither (an outsider).
 *
 * An attacker knows nothing it was not able to find itself: it reads the fd
 * servers' abstract socket names in /proc/net/unix (and their epochs in
 * those names), and sends every request the server accepts to every socket
 * with every service name (the right one among them, as a good guess would
 * be): version 1 for the announced set, version 2 for each index and past
 * the last, wrong epochs, wrong and malformed sizes, magics, versions and
 * name lengths. Where its uid is not allowed, every reply must be the same
 * -EACCES with no fds, whatever it sent, so that no name or fd count can be
 * told from the answers. Where it is allowed, each request gets the answer
 * the protocol describes and a grant the fds it announces. What is allowed
 * (src/registry/fdserver_access.c): GROUP the group's members, ANYONE anyone, but never
 * more than the registry's directory (and the path above it) lets search;
 * OWNER nobody else.
 *
 * The real API too: shoal_registry_create / shoal_registry_open /
 * shoal_sub_open as each user, succeeding or failing as documented. And a
 * chmod of the registry or of a directory above it after publication is
 * respected by the next request.
 *
 * Needs root to change uid; skipped otherwise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "harness.h"
#include "registry_util.h"
#include "user_util.h"
#include "fdserver_wire.h"
#include "segment/fdcheck.h"
#include "registry/registry_internal.h"

#include <sys/mman.h>
#include <sys/stat.h>

#define UID_OWNER 60000 /* its primary group is 60000 too */
#define UID_MEMBER 60001
#define UID_OUTSIDER 60002
#define GID_SHARED 60100

#define ROLE_TIMEOUT_S 120
#define FETCH_NS (5LL * 1000000000)
#define REPLY_MS 5000
#define MAX_SUBS 4

static const gid_t owner_groups[] = { GID_SHARED };
/* In the service group and in the owner's primary group: the group of a
 * private registry's GROUP services. */
static const gid_t member_groups[] = { GID_SHARED, UID_OWNER };

enum role {
	MEMBER,
	OUTSIDER,
	NROLES
};

static const struct {
	const char *name;
	uint32_t access;
	int pub; /* a pub/sub publisher (extra fds), else a test service */
} services[] = {
	{ "reg/owner", SHOAL_ACCESS_OWNER, 0 },
	{ "reg/group", SHOAL_ACCESS_GROUP, 0 },
	{ "reg/anyone", SHOAL_ACCESS_ANYONE, 0 },
	{ "pub/owner", SHOAL_ACCESS_OWNER, 1 },
	{ "pub/group", SHOAL_ACCESS_GROUP, 1 },
	{ "pub/anyone", SHOAL_ACCESS_ANYONE, 1 },
};
#define NSVC ((int)(sizeof(services) / sizeof(services[0])))

struct setup {
	const char *what;
	int group;   /* a group registry of GID_SHARED */
	mode_t mode; /* the owner chmods the directory to this */
	/* Whether each role may have the fds of each access mode. */
	int allowed[NROLES][3];
	/* What shoal_registry_create() says to each role. */
	int attach[NROLES];
};

static const struct setup setups[] = {
	{ "private 0700",
	  0,
	  0700,
	  { { 0, 0, 0 }, { 0, 0, 0 } },
	  /* The directory is another user's: the API refuses it. */
	  { -EACCES, -EACCES } },
	{ "private 0711",
	  0,
	  0711,
	  { { 0, 1, 1 }, { 0, 0, 1 } },
	  { -EACCES, -EACCES } },
	{ "group 2770", 1, 02770, { { 0, 1, 1 }, { 0, 0, 0 } }, { 0, -EACCES } },
	{ "group 2775", 1, 02775, { { 0, 1, 1 }, { 0, 0, 1 } }, { 0, 0 } },
};

/* What the owner learnt from its own descriptors, for the test's oracle
 * (the attackers find the sockets themselves). */
struct svc_info {
	char sock[SHOAL__DESC_SOCKET_BYTES];
	uint64_t epoch;
	uint32_t nfds;	 /* the announced set: memfd and eventfds */
	uint32_t nextra; /* extra fds */
};

struct shared {
	pid_t owner_pid;
	struct svc_info svc[NSVC];
};

static struct shared *sh; /* MAP_SHARED: written by the owner */
static char path[256], top[256];

/* What the next role runs against; set by the parent before it forks. */
static const struct setup *cur;
static enum role cur_role;
static int cur_allowed[3]; /* by access mode */
static int cur_full;	   /* every request, and the API; else a few */

/* ---- the owner -------------------------------------------------------- */

static int owner_main(int ready, int go)
{
	struct test_service ts[NSVC];
	struct shoal_pub *pubs[NSVC];
	struct shoal_registry_options ro;
	struct shoal_registry *reg;
	char c = 'k';

	shoal_registry_options_init(&ro);
	ro.dir = path;
	ro.group = (uint32_t)cur->group;
	ro.gid = cur->group ? GID_SHARED : 0;
	CHECK_EQ(shoal_registry_create(&ro, &reg), 0);
	CHECK_EQ(chmod(path, cur->mode), 0);
	for (int i = 0; i < NSVC; i++) {
		char file[SHOAL_SERVICE_NAME_MAX + 1];
		struct shoal_service_info info;
		struct shoal__descriptor d;

		if (services[i].pub) {
			struct shoal_pub_options po;

			shoal_pub_options_init(&po);
			po.capacity = 8;
			po.max_payload = 64;
			po.max_subscribers = MAX_SUBS;
			po.access = services[i].access;
			po.registry = reg;
			CHECK_EQ(shoal_pub_create(services[i].name, &po,
						  &pubs[i]),
				 0);
		} else {
			CHECK_EQ(test_publish(reg, services[i].name,
					      services[i].access,
					      SHOAL_PUBLISH_SERVER_THREAD,
					      &ts[i]),
				 0);
		}
		CHECK_EQ(shoal__name_to_file(services[i].name, file), 0);
		CHECK_EQ(shoal__registry_probe(reg, file, &d, &info), 0);
		CHECK(d.flags & SHOAL__DESC_FLAG_FD_SERVER);
		memcpy(sh->svc[i].sock, d.socket_name, sizeof(d.socket_name));
		sh->svc[i].epoch = d.epoch;
		sh->svc[i].nfds = 1 + d.eventfd_count;
		sh->svc[i].nextra = d.extra_fd_count;
	}
	CHECK_EQ(write(ready, &c, 1), 1);
	while (read(go, &c, 1) > 0)
		;
	for (int i = 0; i < NSVC; i++) {
		if (services[i].pub)
			shoal_pub_destroy(pubs[i]);
		else
			test_unpublish(&ts[i]);
	}
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int owner_role(void *arg, int ready, int go)
{
	(void)arg;
	return owner_main(ready, go);
}

/* Forks the owner as UID_OWNER and waits until it has published. */
static int start_owner(struct test_role *o)
{
	CHECK_EQ(test_role_start(o, UID_OWNER, UID_OWNER, owner_groups, 1,
				 owner_role, NULL, ROLE_TIMEOUT_S),
		 TEST_PASS);
	sh->owner_pid = o->pid;
	return TEST_PASS;
}

static int stop_owner(struct test_role *o)
{
	return test_role_stop(o, ROLE_TIMEOUT_S);
}

/* ---- what an attacker finds ------------------------------------------- */

#define FOUND_MAX 32

/*
 * The abstract names of the fd servers of process @pid, as anyone reads
 * them in /proc/net/unix (an accepted connection shows its listener's name
 * too, so each is taken once). How many, or -1.
 */
static int find_sockets(pid_t pid, char found[][SHOAL__DESC_SOCKET_BYTES])
{
	char prefix[64], line[512];
	int n = 0;
	FILE *f = fopen("/proc/net/unix", "r");

	if (!f)
		return -1;
	snprintf(prefix, sizeof(prefix), "@shoal-fd/%d/", (int)pid);
	while (fgets(line, sizeof(line), f)) {
		char *at = strstr(line, prefix);
		size_t len;
		int dup = 0;

		if (!at)
			continue;
		at++; /* '@' stands for the leading NUL */
		len = strcspn(at, " \n");
		if (len == 0 || len >= SHOAL__DESC_SOCKET_BYTES)
			continue;
		at[len] = '\0';
		for (int i = 0; i < n; i++)
			dup |= !strcmp(found[i], at);
		if (!dup && n < FOUND_MAX)
			memcpy(found[n++], at, len + 1);
	}
	fclose(f);
	return n;
}

/* The epoch in a socket name "shoal-fd/<pid>/<epoch>/<random>". */
static uint64_t name_epoch(const char *sock)
{
	unsigned long long epoch = 0;
	int pid;

	if (sscanf(sock, "shoal-fd/%d/%16llx/", &pid, &epoch) != 2)
		return 0;
	return epoch;
}

/* ---- one request, and what must answer it ----------------------------- */

struct probe {
	unsigned char buf[1000];
	size_t len;
};

static void probe_req(struct probe *p, uint16_t version, const char *name,
		      uint64_t epoch, uint32_t index)
{
	struct test_wire_request req;

	test_wire_init(&req, version, name, epoch, index);
	memset(p->buf, 0, sizeof(p->buf));
	memcpy(p->buf, &req, sizeof(req));
	p->len = version == 2 ? TEST_WIRE_V2_SIZE : TEST_WIRE_V1_SIZE;
}

/*
 * Every request a client can send the server for @name at @epoch, of a
 * service with @nextra extra fds: @out gets them, returns how many.
 */
static int all_probes(struct probe *out, const char *name, uint64_t epoch,
		      uint32_t nextra)
{
	struct test_wire_request *req;
	int n = 0;

	probe_req(&out[n++], 1, name, epoch, 0);
	probe_req(&out[n++], 1, name, epoch + 1, 0);
	probe_req(&out[n++], 1, name, epoch - 1, 0);
	/* Each index, one past the last, the largest that is not the
	 * liveness fd, and that one. */
	for (uint32_t i = 0; i <= nextra + 1; i++)
		probe_req(&out[n++], 2, name, epoch, i);
	probe_req(&out[n++], 2, name, epoch, TEST_WIRE_INDEX_LIVENESS - 1);
	probe_req(&out[n++], 2, name, epoch, TEST_WIRE_INDEX_LIVENESS);
	probe_req(&out[n++], 2, name, epoch + 1, 1);
	/* Wrong sizes and magics. */
	for (size_t len = 0; len < 4; len++) {
		static const size_t lens[] = { 10, 271, 273, 1000 };

		memset(out[n].buf, 0x5a, sizeof(out[n].buf));
		out[n++].len = lens[len];
	}
	memset(out[n].buf, 0x5a, sizeof(out[n].buf));
	out[n++].len = TEST_WIRE_V1_SIZE;
	memset(out[n].buf, 0x5a, sizeof(out[n].buf));
	out[n++].len = TEST_WIRE_V2_SIZE;
	/* Versions that are not their size's; an unknown one. */
	probe_req(&out[n], 2, name, epoch, 0);
	out[n++].len = TEST_WIRE_V1_SIZE;
	probe_req(&out[n], 1, name, epoch, 1);
	out[n++].len = TEST_WIRE_V2_SIZE;
	probe_req(&out[n], 3, name, epoch, 0);
	out[n++].len = TEST_WIRE_V2_SIZE;
	/* A reserved field set; name lengths that cannot be right. */
	probe_req(&out[n], 2, name, epoch, 1);
	req = (struct test_wire_request *)out[n++].buf;
	req->reserved = 1;
	probe_req(&out[n], 1, name, epoch, 0);
	req = (struct test_wire_request *)out[n++].buf;
	req->name_len = 0;
	probe_req(&out[n], 1, name, epoch, 0);
	req = (struct test_wire_request *)out[n++].buf;
	req->name_len = 300;
	/* A right request with a byte of the name cut off. */
	probe_req(&out[n], 1, name, epoch, 0);
	req = (struct test_wire_request *)out[n++].buf;
	req->name_len--;
	return n;
}

#define PROBES_MAX 64

/* The version of the reply to @p: 2 for a well-formed version 2 request. */
static uint16_t reply_version(const struct probe *p)
{
	const struct test_wire_request *req = (const void *)p->buf;

	return p->len == TEST_WIRE_V2_SIZE &&
			       req->magic == TEST_WIRE_REQ_MAGIC &&
			       req->version == 2 ?
		       2 :
		       1;
}

/*
 * The status an allowed peer gets for @p, asked of service @s (named
 * @svc_name) per the protocol, and in *nfds the fds a grant carries.
 */
static int32_t allowed_status(const struct probe *p, const char *svc_name,
			      const struct svc_info *s, uint32_t *nfds)
{
	const struct test_wire_request *req = (const void *)p->buf;
	size_t len = strlen(svc_name);

	*nfds = 0;
	if ((p->len != TEST_WIRE_V1_SIZE && p->len != TEST_WIRE_V2_SIZE) ||
	    req->magic != TEST_WIRE_REQ_MAGIC)
		return -EBADMSG;
	if (req->version != (p->len == TEST_WIRE_V1_SIZE ? 1 : 2))
		return -EPROTO;
	if (req->version == 2 && req->reserved)
		return -EBADMSG;
	if (req->epoch != s->epoch || req->name_len != len ||
	    memcmp(req->name, svc_name, len))
		return -EBADMSG;
	if (req->version == 2 && req->index == TEST_WIRE_INDEX_LIVENESS) {
		*nfds = 1;
		return 0;
	}
	if (req->version == 2 && req->index > s->nextra)
		return -EINVAL;
	*nfds = req->version == 2 && req->index ? 1 : s->nfds;
	return 0;
}

static void close_all(const int *fds, int n)
{
	for (int i = 0; i < n && i < TEST_WIRE_FDS_MAX; i++)
		close(fds[i]);
}

/* The granted fds are what was announced: the memfd, then eventfds; an
 * extra fd of a publisher is its subscriber memfd (0) or an eventfd. */
static int check_grant(const struct probe *p, const int *fds, int n)
{
	const struct test_wire_request *req = (const void *)p->buf;

	if (req->version == 2 && req->index == TEST_WIRE_INDEX_LIVENESS) {
		struct stat st;

		CHECK(fstat(fds[0], &st) == 0 && S_ISFIFO(st.st_mode));
		return TEST_PASS;
	}
	if (req->version == 2 && req->index) {
		CHECK_EQ(req->index == 1 ? shoal__fd_is_memfd(fds[0]) :
					   shoal__fd_is_eventfd(fds[0]),
			 1);
		return TEST_PASS;
	}
	CHECK_EQ(shoal__fd_is_memfd(fds[0]), 1);
	for (int i = 1; i < n; i++)
		CHECK_EQ(shoal__fd_is_eventfd(fds[i]), 1);
	return TEST_PASS;
}

/*
 * Sends @p to socket @sock, the fd server of service @j, naming @name.
 * Refused: exactly the one refusal, no fds. Allowed: what the protocol
 * says, and a grant brings the fds it announces.
 */
static int probe_one(const char *sock, int j, const char *name,
		     const struct probe *p, int allowed)
{
	struct test_wire_reply rep, want;
	int fds[TEST_WIRE_FDS_MAX], nfds = 0;
	uint32_t want_nfds = 0;
	ssize_t n;

	n = test_wire_exchange(sock, p->buf, p->len, &rep, fds, &nfds,
			       REPLY_MS);
	if (p->len == 0) {
		/* An empty message: hung up on, allowed or not. */
		close_all(fds, nfds);
		CHECK_EQ(n, 0);
		CHECK_EQ(nfds, 0);
		return TEST_PASS;
	}
	memset(&want, 0, sizeof(want));
	want.magic = TEST_WIRE_REP_MAGIC;
	want.version = reply_version(p);
	want.status = allowed ? allowed_status(p, services[j].name, &sh->svc[j],
					       &want_nfds) :
				-EACCES;
	want.nfds = want_nfds;
	if (n != (ssize_t)sizeof(rep) || memcmp(&rep, &want, sizeof(rep)) ||
	    (uint32_t)nfds != want_nfds) {
		fprintf(stderr,
			"uid %u, service %s asked as '%s' (%zu bytes): got %zd "
			"bytes, version %u status %d nfds %u with %d fds; want "
			"version %u status %d nfds %u\n",
			(unsigned)getuid(), services[j].name, name, p->len, n,
			rep.version, rep.status, rep.nfds, nfds, want.version,
			want.status, want.nfds);
		close_all(fds, nfds);
		return TEST_FAIL;
	}
	if (nfds) {
		int r = check_grant(p, fds, nfds);

		close_all(fds, nfds);
		CHECK_EQ(r, TEST_PASS);
	}
	return TEST_PASS;
}

/* The guesses: every service's name, and one that is none. */
static const char *guess(int g)
{
	return g < NSVC ? services[g].name : "no/such/service";
}

/*
 * The attack on socket @sock (service @j): every request with every
 * name, or (not cur_full) the right request for the set and extra fd 0.
 */
static int attack_socket(const char *sock, int j)
{
	static struct probe probes[PROBES_MAX];
	uint64_t epoch = name_epoch(sock);
	int allowed = cur_allowed[services[j].access];

	/* The epoch in the public name is the descriptor's. */
	CHECK_EQ(epoch, sh->svc[j].epoch);
	if (!cur_full) {
		probe_req(&probes[0], 1, services[j].name, epoch, 0);
		probe_req(&probes[1], 2, services[j].name, epoch,
			  sh->svc[j].nextra ? 1 : 0);
		for (int k = 0; k < 2; k++)
			CHECK_EQ(probe_one(sock, j, services[j].name,
					   &probes[k], allowed),
				 TEST_PASS);
		return TEST_PASS;
	}
	for (int g = 0; g <= NSVC; g++) {
		int n = all_probes(probes, guess(g), epoch, sh->svc[j].nextra);

		CHECK(n < PROBES_MAX);
		probes[n].len = 0; /* and an empty message */
		n++;
		for (int k = 0; k < n; k++)
			CHECK_EQ(probe_one(sock, j, guess(g), &probes[k],
					   allowed),
				 TEST_PASS);
	}
	return TEST_PASS;
}

/* The library's own client, told everything, fares no better or worse. */
static int fetch_as_client(int j)
{
	const struct svc_info *s = &sh->svc[j];
	int allowed = cur_allowed[services[j].access];
	int fds[1 + SHOAL__DESC_EVENTFDS], fd;

	CHECK_EQ(shoal__fdclient_fetch(s->sock, services[j].name, s->epoch, fds,
				       s->nfds, FETCH_NS),
		 allowed ? 0 : -EACCES);
	if (allowed)
		close_all(fds, (int)s->nfds);
	for (uint32_t i = 0; i < s->nextra; i++) {
		CHECK_EQ(shoal__fdclient_fetch_extra(s->sock, services[j].name,
						     s->epoch, i, &fd,
						     FETCH_NS),
			 allowed ? 0 : -EACCES);
		if (allowed)
			close(fd);
	}
	/* Past the last: -EINVAL to those allowed, -EACCES to others. */
	CHECK_EQ(shoal__fdclient_fetch_extra(s->sock, services[j].name,
					     s->epoch, s->nextra, &fd,
					     FETCH_NS),
		 allowed ? -EINVAL : -EACCES);
	return TEST_PASS;
}

/* ---- the real API ----------------------------------------------------- */

static int use_api(void)
{
	struct shoal_registry_options ro;
	struct shoal_registry *reg = NULL;
	char want[64];

	snprintf(want, sizeof(want), "owner %d", (int)sh->owner_pid);
	shoal_registry_options_init(&ro);
	ro.dir = path;
	ro.group = (uint32_t)cur->group;
	ro.gid = cur->group ? GID_SHARED : 0;
	CHECK_EQ(shoal_registry_create(&ro, &reg), cur->attach[cur_role]);
	if (!reg)
		return TEST_PASS;
	for (int j = 0; j < NSVC; j++) {
		int allowed = cur_allowed[services[j].access];

		if (services[j].pub) {
			struct shoal_sub_options so;
			struct shoal_sub *sub = NULL;

			shoal_sub_options_init(&so);
			so.registry = reg;
			CHECK_EQ(shoal_sub_open(services[j].name, &so, &sub),
				 allowed ? 0 : -EACCES);
			shoal_sub_close(sub);
			continue;
		}
		for (int k = 0; k < 2; k++) {
			struct shoal_service *svc = NULL;
			const char *marker;

			CHECK_EQ(shoal_registry_open(
					 reg, services[j].name,
					 k ? SHOAL_OPEN_NO_PIDFD_GETFD : 0,
					 &svc),
				 allowed ? 0 : -EACCES);
			if (!svc)
				continue;
			/* Across uids pidfd_getfd is refused: the fds came
			 * from the server, and they are the owner's. */
			CHECK_EQ(shoal_service_fd_source(svc),
				 SHOAL_FDS_BY_SCM_RIGHTS);
			marker = test_marker(svc);
			CHECK(marker && !strcmp(marker, want));
			shoal_service_close(svc);
		}
	}
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* ---- the attacker role ------------------------------------------------ */

static int attacker(void *arg)
{
	char found[FOUND_MAX][SHOAL__DESC_SOCKET_BYTES];
	int n;

	(void)arg;
	/* It finds every fd server of the owner, and nothing else. */
	n = find_sockets(sh->owner_pid, found);
	CHECK_EQ(n, NSVC);
	for (int i = 0; i < n; i++) {
		int j = 0;

		while (j < NSVC && strcmp(found[i], sh->svc[j].sock))
			j++;
		CHECK(j < NSVC);
		CHECK_EQ(attack_socket(found[i], j), TEST_PASS);
	}
	if (!cur_full)
		return TEST_PASS;
	for (int j = 0; j < NSVC; j++)
		CHECK_EQ(fetch_as_client(j), TEST_PASS);
	return use_api();
}

static int run_role(enum role role, int full)
{
	int r;

	cur_role = role;
	cur_full = full;
	for (int a = 0; a < 3; a++)
		cur_allowed[a] = cur->allowed[role][a];
	if (role == MEMBER)
		r = test_as_user(UID_MEMBER, UID_MEMBER, member_groups, 2,
				 attacker, NULL, ROLE_TIMEOUT_S);
	else
		r = test_as_user(UID_OUTSIDER, UID_OUTSIDER, NULL, 0, attacker,
				 NULL, ROLE_TIMEOUT_S);
	if (r != TEST_PASS)
		fprintf(stderr, "%s: the %s's attack went wrong\n", cur->what,
			role == MEMBER ? "member" : "outsider");
	return r;
}

/* Runs both roles against an owner in each setup. */
static int test_attacks(void)
{
	for (size_t i = 0; i < sizeof(setups) / sizeof(setups[0]); i++) {
		struct test_role o;
		int r;

		cur = &setups[i];
		CHECK_EQ(test_fresh_path(path, sizeof(path), top, sizeof(top),
					 UID_OWNER),
			 0);
		CHECK_EQ(start_owner(&o), TEST_PASS);
		r = run_role(MEMBER, 1);
		if (r == TEST_PASS)
			r = run_role(OUTSIDER, 1);
		CHECK_EQ(stop_owner(&o), TEST_PASS);
		test_remove_tree(top);
		CHECK_EQ(r, TEST_PASS);
	}
	return TEST_PASS;
}

/* ---- a chmod after publication ---------------------------------------- */

/*
 * Runs both roles (a few requests each) expecting, for the GROUP and
 * ANYONE services of setup @base, the member to be allowed @mg and @ma and
 * the outsider @og and @oa; OWNER services stay closed to both.
 */
static int expect(const struct setup *base, int mg, int ma, int og, int oa)
{
	static struct setup s;

	s = *base;
	s.allowed[MEMBER][SHOAL_ACCESS_GROUP] = mg;
	s.allowed[MEMBER][SHOAL_ACCESS_ANYONE] = ma;
	s.allowed[OUTSIDER][SHOAL_ACCESS_GROUP] = og;
	s.allowed[OUTSIDER][SHOAL_ACCESS_ANYONE] = oa;
	cur = &s;
	CHECK_EQ(run_role(MEMBER, 0), TEST_PASS);
	CHECK_EQ(run_role(OUTSIDER, 0), TEST_PASS);
	return TEST_PASS;
}

/*
 * The server reads the modes at each request: closing the registry, or a
 * directory above it, closes the services to those it now keeps out, and
 * opening it again lets them back in.
 */
static int test_chmod_after_publication(void)
{
	/* Each step: a chmod of the registry (or of the directory above it,
	 * @above), then what the member and the outsider may open. */
	static const struct {
		int above;
		mode_t mode;
		int mg, ma, og, oa;
	} steps[] = {
		/* The registry closed to others: the outsider is out. */
		{ 0, 02770, 1, 1, 0, 0 },
		{ 0, 02775, 1, 1, 0, 1 },
		/* A directory above it closed to others (its group, 60000, is
		 * the member's too): the outsider cannot reach it any more. */
		{ 1, 0710, 1, 1, 0, 0 },
		/* Closed to the group as well: the member is out too. */
		{ 1, 0700, 0, 0, 0, 0 },
		{ 1, 0755, 1, 1, 0, 1 },
	};
	const struct setup *open_group = &setups[3];
	struct test_role o;
	int r;

	cur = open_group;
	CHECK_EQ(test_fresh_path(path, sizeof(path), top, sizeof(top),
				 UID_OWNER),
		 0);
	CHECK_EQ(start_owner(&o), TEST_PASS);
	r = expect(open_group, 1, 1, 0, 1);
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		if (r == TEST_PASS &&
		    chmod(steps[k].above ? top : path, steps[k].mode) < 0)
			r = TEST_FAIL;
		if (r == TEST_PASS)
			r = expect(open_group, steps[k].mg, steps[k].ma,
				   steps[k].og, steps[k].oa);
	}
	CHECK_EQ(stop_owner(&o), TEST_PASS);
	test_remove_tree(top);
	CHECK_EQ(r, TEST_PASS);
	return TEST_PASS;
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: changing uid needs root\n");
		return TEST_SKIP;
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return TEST_FAIL;
	RUN(test_attacks);
	RUN(test_chmod_after_publication);
	return test_result();
}
