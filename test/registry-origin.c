/* shoal-test: label=unit timeout=60 */
/* SPDX-License-Identifier: MIT */
/*
 * Origin: where a service comes from (shoal_service_spec.origin,
 * descriptor minor 3), as a gateway's mirror records it.
 *
 * A service published with an origin shows it through every way of
 * learning about a service: list, watch, open (get_info), and one
 * published without shows "". 127 bytes is accepted; 128 bytes, a
 * control byte or a byte over 0x7e is refused with -EINVAL and a detail,
 * and nothing is published. The descriptor holds it at offset 552 with
 * the bytes after still zero; a minor 2 descriptor reads as "" whatever
 * those bytes hold, and a minor 3 one with an unterminated or unprintable
 * origin is not a service. Each pattern the gateway mirrors (pub/sub
 * publisher, queue, rpc server, event) takes it as a create option and
 * announces it; a bad one fails the create with -EINVAL before anything
 * is announced.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "registry/registry_internal.h"

#include "harness.h"
#include "registry_util.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define ORIGIN "nats://127.0.0.1:4222 shoal host-a origin/a"

static char path[PATH_MAX];

/* What a list saw of one name. */
struct seen {
	const char *name;
	int found;
	struct shoal_service_info info;
};

static int seen_cb(const struct shoal_service_info *info, void *user_data)
{
	struct seen *s = user_data;

	if (!strcmp(info->name, s->name)) {
		s->found++;
		s->info = *info;
	}
	return 0;
}

/* The origin @name is listed with; NULL (and a message) if not listed. */
static const char *listed_origin(struct shoal_registry *reg, const char *name,
				 struct seen *s)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	if (shoal_registry_list(reg, seen_cb, s) < 0 || s->found != 1) {
		fprintf(stderr, "'%s' listed %d times\n", name, s->found);
		return NULL;
	}
	return s->info.origin;
}

/* test_publish() with @origin in the spec. */
static int publish_origin(struct shoal_registry *reg, const char *name,
			  const char *origin, struct test_service *ts)
{
	struct shoal_object_spec obj = { "data", SHOAL_OBJECT_BYTES, 0, 4096 };
	struct shoal_service_spec spec;
	int err;

	memset(ts, 0, sizeof(*ts));
	err = shoal_segment_create(&obj, 1, NULL, &ts->seg);
	if (err)
		return err;
	shoal_segment_ready(ts->seg);
	ts->efd = shoal_eventfd_create();
	memset(&spec, 0, sizeof(spec));
	spec.name = name;
	spec.pattern = SHOAL_PATTERN_CHANNEL;
	spec.memfd = shoal_segment_fd(ts->seg);
	spec.eventfd_count = 1;
	spec.eventfds = &ts->efd;
	spec.origin = origin;
	err = shoal_registry_publish(reg, &spec, &ts->entry);
	if (err) {
		close(ts->efd);
		shoal_segment_destroy(ts->seg);
	}
	return err;
}

static int test_list_watch_open(void)
{
	struct shoal_registry *reg;
	struct test_service a, local;
	struct shoal_service_info info;
	struct shoal_watch_event ev;
	struct shoal_service *svc;
	struct shoal_watch *w;
	struct seen s;
	int got_a = 0, got_local = 0, r;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(publish_origin(reg, "origin/a", ORIGIN, &a), 0);
	CHECK_EQ(publish_origin(reg, "origin/local", NULL, &local), 0);

	CHECK(listed_origin(reg, "origin/a", &s) != NULL);
	CHECK(strcmp(s.info.origin, ORIGIN) == 0);
	CHECK(listed_origin(reg, "origin/local", &s) != NULL);
	CHECK_EQ(s.info.origin[0], '\0');

	CHECK_EQ(shoal_registry_open(reg, "origin/a", 0, &svc), 0);
	memset(&info, 0x55, sizeof(info));
	shoal_service_get_info(svc, &info);
	CHECK(strcmp(info.origin, ORIGIN) == 0);
	shoal_service_close(svc);
	CHECK_EQ(shoal_registry_open(reg, "origin/local", 0, &svc), 0);
	memset(&info, 0x55, sizeof(info));
	shoal_service_get_info(svc, &info);
	CHECK_EQ(info.origin[0], '\0');
	shoal_service_close(svc);

	/* A watch reports both as they are, and says the same at GONE. */
	CHECK_EQ(shoal_registry_watch(reg, &w), 0);
	while ((r = shoal_watch_next(w, &ev)) == 1) {
		CHECK_EQ(ev.type, SHOAL_WATCH_APPEARED);
		if (!strcmp(ev.info.name, "origin/a")) {
			CHECK(strcmp(ev.info.origin, ORIGIN) == 0);
			got_a++;
		} else if (!strcmp(ev.info.name, "origin/local")) {
			CHECK_EQ(ev.info.origin[0], '\0');
			got_local++;
		}
	}
	CHECK_EQ(r, 0);
	CHECK_EQ(got_a, 1);
	CHECK_EQ(got_local, 1);
	test_unpublish(&a);
	for (int tries = 0; tries < 1000 * TEST_SLOWDOWN; tries++) {
		struct pollfd pfd = { shoal_watch_fd(w), POLLIN, 0 };

		r = shoal_watch_next(w, &ev);
		CHECK(r >= 0);
		if (r == 1)
			break;
		poll(&pfd, 1, 10);
	}
	CHECK_EQ(r, 1);
	CHECK_EQ(ev.type, SHOAL_WATCH_GONE);
	CHECK(strcmp(ev.info.name, "origin/a") == 0);
	CHECK(strcmp(ev.info.origin, ORIGIN) == 0);
	shoal_watch_close(w);
	test_unpublish(&local);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int test_bounds(void)
{
	char longest[SHOAL_ORIGIN_MAX + 2];
	struct shoal_registry *reg;
	struct test_service ts;
	struct seen s;
	int fd;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	/* 127 bytes: the most there is room for. */
	memset(longest, 'o', SHOAL_ORIGIN_MAX);
	longest[SHOAL_ORIGIN_MAX] = '\0';
	CHECK_EQ(publish_origin(reg, "origin/long", longest, &ts), 0);
	CHECK(listed_origin(reg, "origin/long", &s) != NULL);
	CHECK(strcmp(s.info.origin, longest) == 0);
	test_unpublish(&ts);

	/* 128 bytes: refused, and nothing published. */
	longest[SHOAL_ORIGIN_MAX] = 'o';
	longest[SHOAL_ORIGIN_MAX + 1] = '\0';
	CHECK_EQ(publish_origin(reg, "origin/long", longest, &ts), -EINVAL);
	CHECK(strstr(shoal_last_error(), "publish: origin over 127 bytes"));
	fd = openat(shoal__registry_dirfd(reg), "origin%long", O_RDONLY);
	CHECK_EQ(fd, -1);

	/* Not printable: a control byte, a byte over 0x7e. */
	CHECK_EQ(publish_origin(reg, "origin/bad", "nats://x\n", &ts), -EINVAL);
	CHECK(strstr(shoal_last_error(), "origin is not printable ASCII "
					 "(byte 8 is 0x0a)"));
	CHECK_EQ(publish_origin(reg, "origin/bad", "caf\xc3\xa9", &ts),
		 -EINVAL);
	CHECK(strstr(shoal_last_error(), "(byte 3 is 0xc3)"));
	CHECK_EQ(publish_origin(reg, "origin/bad", "tab\there", &ts), -EINVAL);
	fd = openat(shoal__registry_dirfd(reg), "origin%bad", O_RDONLY);
	CHECK_EQ(fd, -1);

	/* "" is a local service, as NULL. */
	CHECK_EQ(publish_origin(reg, "origin/empty", "", &ts), 0);
	CHECK(listed_origin(reg, "origin/empty", &s) != NULL);
	CHECK_EQ(s.info.origin[0], '\0');
	test_unpublish(&ts);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Parses @d with its checksum made right; *@origin gets the origin. */
static int parse_origin(const struct shoal__descriptor *d, char *origin)
{
	struct shoal__descriptor copy = *d, out;
	struct shoal_service_info info;
	int r;

	copy.checksum = shoal__descriptor_checksum(&copy);
	r = shoal__descriptor_parse(&copy, sizeof(copy), &out, &info);
	if (r == 0) {
		memcpy(origin, info.origin, sizeof(info.origin));
		if (strcmp(shoal__descriptor_origin(&out), origin))
			return -1000;
	}
	return r;
}

static int test_descriptor_minor(void)
{
	char origin[SHOAL_ORIGIN_MAX + 1];
	struct shoal__descriptor d, mod;
	struct shoal_registry *reg;
	struct test_service ts;
	int fd;

	CHECK_EQ(offsetof(struct shoal__descriptor, origin), 552);
	CHECK_EQ(sizeof(d.origin), SHOAL_ORIGIN_MAX + 1);
	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(publish_origin(reg, "origin/a", ORIGIN, &ts), 0);
	fd = openat(shoal__registry_dirfd(reg), "origin%a",
		    O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(read(fd, &d, sizeof(d)), sizeof(d));
	close(fd);
	CHECK(d.version_minor >= 3);
	CHECK(strcmp(d.origin, ORIGIN) == 0);
	/* The rest of the field and what follows it: zero. */
	for (size_t i = strlen(ORIGIN); i < sizeof(d.origin); i++)
		CHECK_EQ(d.origin[i], 0);
	for (size_t i = 0; i < sizeof(d.reserved); i++)
		CHECK_EQ(d.reserved[i], 0);
	CHECK_EQ(parse_origin(&d, origin), 0);
	CHECK(strcmp(origin, ORIGIN) == 0);

	/* A minor 2 writer knew nothing of it: whatever is there reads as
	 * "", even bytes that would be refused at minor 3. */
	mod = d;
	mod.version_minor = 2;
	CHECK_EQ(parse_origin(&mod, origin), 0);
	CHECK_EQ(origin[0], '\0');
	memset(mod.origin, 0xff, sizeof(mod.origin));
	CHECK_EQ(parse_origin(&mod, origin), 0);
	CHECK_EQ(origin[0], '\0');
	/* Minor 3 and newer: terminated and printable, else corrupt. */
	mod.version_minor = 3;
	CHECK_EQ(parse_origin(&mod, origin), -EBADMSG);
	CHECK(strstr(shoal_last_error(), "origin"));
	memset(mod.origin, 'x', sizeof(mod.origin)); /* unterminated */
	CHECK_EQ(parse_origin(&mod, origin), -EBADMSG);
	mod.origin[5] = '\0';
	CHECK_EQ(parse_origin(&mod, origin), 0);
	CHECK(strcmp(origin, "xxxxx") == 0);
	mod.origin[2] = '\x7f';
	CHECK_EQ(parse_origin(&mod, origin), -EBADMSG);
	mod.version_minor = 9;
	mod.origin[2] = 'x';
	CHECK_EQ(parse_origin(&mod, origin), 0);
	CHECK(strcmp(origin, "xxxxx") == 0);
	test_unpublish(&ts);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* Every pattern the gateway mirrors, created with an origin. */
static int test_patterns(void)
{
	static const char bad[] = "bad\x01origin";
	struct shoal_pub_options po;
	struct shoal_queue_options qo;
	struct shoal_rpc_server_options ro;
	struct shoal_event_options eo;
	struct shoal_pub *pub = NULL;
	struct shoal_queue *q = NULL;
	struct shoal_rpc_server *srv = NULL;
	struct shoal_event *ev = NULL;
	struct shoal_sub *sub = NULL;
	struct shoal_pub *pub2_unused = NULL;
	struct shoal_queue *q2_unused = NULL;
	struct shoal_rpc_server *srv2_unused = NULL;
	struct shoal_event *ev2_unused = NULL;
	struct shoal_sub_options so;
	struct shoal_registry *reg;
	struct seen s;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_pub_options_init(&po);
	CHECK(po.origin == NULL);
	po.registry = reg;
	po.origin = "nats://h:1 site origin/pub";
	CHECK_EQ(shoal_pub_create("origin/pub", &po, &pub), 0);
	shoal_queue_options_init(&qo);
	CHECK(qo.origin == NULL);
	qo.registry = reg;
	qo.origin = "nats://h:1 site origin/queue";
	CHECK_EQ(shoal_queue_create("origin/queue", &qo, &q), 0);
	shoal_rpc_server_options_init(&ro);
	CHECK(ro.origin == NULL);
	ro.registry = reg;
	ro.origin = "nats://h:1 site origin/rpc";
	CHECK_EQ(shoal_rpc_server_create("origin/rpc", &ro, &srv), 0);
	shoal_event_options_init(&eo);
	CHECK(eo.origin == NULL);
	eo.registry = reg;
	eo.origin = "nats://h:1 site origin/event";
	CHECK_EQ(shoal_event_create("origin/event", &eo, &ev), 0);

	CHECK(listed_origin(reg, "origin/pub", &s) != NULL);
	CHECK(strcmp(s.info.origin, po.origin) == 0);
	CHECK_EQ(s.info.pattern, SHOAL_PATTERN_PUBSUB);
	CHECK(listed_origin(reg, "origin/queue", &s) != NULL);
	CHECK(strcmp(s.info.origin, qo.origin) == 0);
	CHECK(listed_origin(reg, "origin/rpc", &s) != NULL);
	CHECK(strcmp(s.info.origin, ro.origin) == 0);
	CHECK(listed_origin(reg, "origin/event", &s) != NULL);
	CHECK(strcmp(s.info.origin, eo.origin) == 0);

	/* A mirror is used as any service. */
	shoal_sub_options_init(&so);
	so.registry = reg;
	CHECK_EQ(shoal_sub_open("origin/pub", &so, &sub), 0);
	shoal_sub_close(sub);

	/* A bad origin fails the create, and announces nothing. */
	po.origin = bad;
	CHECK_EQ(shoal_pub_create("origin/pub2", &po, &pub2_unused), -EINVAL);
	CHECK(strstr(shoal_last_error(), "create origin/pub2: origin is not "
					 "printable ASCII"));
	qo.origin = bad;
	CHECK_EQ(shoal_queue_create("origin/queue2", &qo, &q2_unused), -EINVAL);
	CHECK(strstr(shoal_last_error(), "origin is not printable"));
	ro.origin = bad;
	CHECK_EQ(shoal_rpc_server_create("origin/rpc2", &ro, &srv2_unused),
		 -EINVAL);
	CHECK(strstr(shoal_last_error(), "origin is not printable"));
	{
		char longest[SHOAL_ORIGIN_MAX + 2];

		memset(longest, 'o', sizeof(longest) - 1);
		longest[sizeof(longest) - 1] = '\0';
		eo.origin = longest;
		CHECK_EQ(shoal_event_create("origin/event2", &eo, &ev2_unused),
			 -EINVAL);
		CHECK(strstr(shoal_last_error(), "origin over 127 bytes"));
	}
	CHECK_EQ(shoal_registry_list(reg, seen_cb, &s), 4);
	CHECK(pub2_unused == NULL && q2_unused == NULL && srv2_unused == NULL &&
	      ev2_unused == NULL);

	shoal_pub_destroy(pub);
	shoal_queue_destroy(q);
	shoal_rpc_server_destroy(srv);
	shoal_event_destroy(ev);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

int main(void)
{
	char top[PATH_MAX];
	int r;

	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	RUN(test_list_watch_open);
	RUN(test_bounds);
	RUN(test_descriptor_minor);
	RUN(test_patterns);
	r = test_result();
	test_remove_tree(top);
	return r;
}
