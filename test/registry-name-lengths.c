/* shoal-test: label=unit timeout=60 */
/*
 * Every pattern takes every valid name, whatever its length: names of 1
 * and 249..255 bytes are created, opened and inspected in the channel,
 * pub/sub, queue, rpc and event patterns (the kernel's memfd names stop at
 * 249 bytes: the segment's label is cut, the name is not), and names of
 * 256 and 300 bytes are refused by every create, open and inspect with
 * -EINVAL and the same detail, "bad service name: N bytes, more than
 * 255" (src/registry/names.c, the one check). The memfd's label is the
 * name's first 249 bytes.
 */
#include <fcntl.h>
#include <shoal.h>
#include <unistd.h>

#include "harness.h"
#include "registry_util.h"

static char path[PATH_MAX];
static struct shoal_registry *reg;

/* A name of @len bytes: @first, then 'n'. */
static void make_name(char *name, size_t len, char first)
{
	name[0] = first;
	memset(name + 1, 'n', len - 1);
	name[len] = '\0';
}

/* A refusal: -EINVAL, and the detail names the length and the limit. */
static int refused(int err, size_t len, const char *what)
{
	char want[96];

	snprintf(want, sizeof(want),
		 "bad service name: %zu bytes, more than %d", len,
		 SHOAL_SERVICE_NAME_MAX);
	if (err == -EINVAL && strstr(shoal_last_error(), want))
		return 1;
	fprintf(stderr, "%s, %zu bytes: %d '%s', want -EINVAL '%s'\n", what,
		len, err, shoal_last_error(), want);
	return 0;
}

/* Whether one of our fds is a memfd labelled with @name cut to 249. */
static int memfd_labelled(const char *name)
{
	char want[300], link[64], target[PATH_MAX];

	snprintf(want, sizeof(want), "/memfd:%.249s (deleted)", name);
	for (int fd = 0; fd < 4096; fd++) {
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (!strcmp(target, want))
			return 1;
	}
	fprintf(stderr, "no memfd labelled '%s'\n", want);
	return 0;
}

static int try_channel(const char *name, size_t len, int valid)
{
	struct shoal_channel_options o;
	struct shoal_channel *c = NULL, *peer = NULL;
	int err;

	shoal_channel_options_init(&o);
	o.registry = reg;
	err = shoal_channel_create(name, &o, &c);
	if (!valid) {
		CHECK(refused(err, len, "channel_create"));
		CHECK(refused(shoal_channel_open(name, &o, &peer), len,
			      "channel_open"));
		return TEST_PASS;
	}
	CHECK_EQ(err, 0);
	CHECK(memfd_labelled(name));
	CHECK_EQ(shoal_channel_open(name, &o, &peer), 0);
	shoal_channel_close(peer);
	shoal_channel_destroy(c);
	return TEST_PASS;
}

static int try_pubsub(const char *name, size_t len, int valid)
{
	struct shoal_pub_options po;
	struct shoal_sub_options so;
	struct shoal_pubsub_info info;
	struct shoal_pub *p = NULL;
	struct shoal_sub *s = NULL;
	int err;

	shoal_pub_options_init(&po);
	po.registry = reg;
	shoal_sub_options_init(&so);
	so.registry = reg;
	err = shoal_pub_create(name, &po, &p);
	if (!valid) {
		CHECK(refused(err, len, "pub_create"));
		CHECK(refused(shoal_sub_open(name, &so, &s), len, "sub_open"));
		CHECK(refused(shoal_pubsub_inspect(reg, name, &info, NULL, 0),
			      len, "pubsub_inspect"));
		return TEST_PASS;
	}
	CHECK_EQ(err, 0);
	CHECK(memfd_labelled(name));
	CHECK_EQ(shoal_sub_open(name, &so, &s), 0);
	CHECK_EQ(shoal_pubsub_inspect(reg, name, &info, NULL, 0), 1);
	shoal_sub_close(s);
	shoal_pub_destroy(p);
	return TEST_PASS;
}

static int try_queue(const char *name, size_t len, int valid)
{
	struct shoal_queue_options o;
	struct shoal_queue_stats st;
	struct shoal_queue *q = NULL, *peer = NULL;
	int err;

	shoal_queue_options_init(&o);
	o.registry = reg;
	o.capacity = 16;
	o.max_message = 64;
	err = shoal_queue_create(name, &o, &q);
	if (!valid) {
		CHECK(refused(err, len, "queue_create"));
		CHECK(refused(shoal_queue_open(name, &o, &peer), len,
			      "queue_open"));
		CHECK(refused(shoal_queue_inspect(reg, name, &st), len,
			      "queue_inspect"));
		return TEST_PASS;
	}
	CHECK_EQ(err, 0);
	CHECK(memfd_labelled(name));
	CHECK_EQ(shoal_queue_open(name, &o, &peer), 0);
	CHECK_EQ(shoal_queue_write(peer, "x", 1), 0);
	CHECK_EQ(shoal_queue_inspect(reg, name, &st), 0);
	CHECK_EQ(st.enqueued, 1);
	shoal_queue_close(peer);
	shoal_queue_destroy(q);
	return TEST_PASS;
}

static int try_rpc(const char *name, size_t len, int valid)
{
	struct shoal_rpc_server_options so;
	struct shoal_rpc_client_options co;
	struct shoal_rpc_info info;
	struct shoal_rpc_server *srv = NULL;
	struct shoal_rpc_client *cli = NULL;
	int err;

	shoal_rpc_server_options_init(&so);
	so.registry = reg;
	so.max_clients = 4;
	shoal_rpc_client_options_init(&co);
	co.registry = reg;
	err = shoal_rpc_server_create(name, &so, &srv);
	if (!valid) {
		CHECK(refused(err, len, "rpc_server_create"));
		CHECK(refused(shoal_rpc_client_open(name, &co, &cli), len,
			      "rpc_client_open"));
		CHECK(refused(shoal_rpc_inspect(reg, name, &info, NULL, 0), len,
			      "rpc_inspect"));
		return TEST_PASS;
	}
	CHECK_EQ(err, 0);
	CHECK(memfd_labelled(name));
	CHECK_EQ(shoal_rpc_client_open(name, &co, &cli), 0);
	CHECK(shoal_rpc_inspect(reg, name, &info, NULL, 0) >= 0);
	shoal_rpc_client_close(cli);
	shoal_rpc_server_destroy(srv);
	return TEST_PASS;
}

static int try_event(const char *name, size_t len, int valid)
{
	struct shoal_event_options o;
	struct shoal_event_info info;
	struct shoal_event *ev = NULL, *peer = NULL;
	int err;

	shoal_event_options_init(&o);
	o.registry = reg;
	o.max_listeners = 4;
	err = shoal_event_create(name, &o, &ev);
	if (!valid) {
		CHECK(refused(err, len, "event_create"));
		CHECK(refused(shoal_event_open(name, &o, &peer), len,
			      "event_open"));
		CHECK(refused(shoal_event_inspect(reg, name, &info, NULL, 0),
			      len, "event_inspect"));
		return TEST_PASS;
	}
	CHECK_EQ(err, 0);
	CHECK(memfd_labelled(name));
	CHECK_EQ(shoal_event_open(name, &o, &peer), 0);
	CHECK_EQ(shoal_event_notify(peer, 1), 0);
	CHECK(shoal_event_inspect(reg, name, &info, NULL, 0) >= 0);
	shoal_event_close(peer);
	shoal_event_destroy(ev);
	return TEST_PASS;
}

static int test_every_pattern_every_length(void)
{
	static const size_t lens[] = { 1,   249, 250, 251, 252,
				       253, 254, 255, 256, 300 };
	static const struct {
		char first;
		int (*fn)(const char *name, size_t len, int valid);
	} pats[] = { { 'c', try_channel },
		     { 'p', try_pubsub },
		     { 'q', try_queue },
		     { 'r', try_rpc },
		     { 'e', try_event } };
	char name[301];

	for (size_t p = 0; p < sizeof(pats) / sizeof(pats[0]); p++)
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			struct shoal_service *svc;
			int valid = lens[i] <= SHOAL_SERVICE_NAME_MAX;

			make_name(name, lens[i], pats[p].first);
			if (pats[p].fn(name, lens[i], valid) != TEST_PASS) {
				fprintf(stderr, "pattern '%c', %zu bytes\n",
					pats[p].first, lens[i]);
				return TEST_FAIL;
			}
			/* The registry's own open: the same check. */
			if (!valid)
				CHECK(refused(shoal_registry_open(reg, name, 0,
								  &svc),
					      lens[i], "registry_open"));
		}
	return TEST_PASS;
}

int main(void)
{
	if (test_registry_path(path, sizeof(path)) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	RUN(test_every_pattern_every_length);
	shoal_registry_destroy(reg);
	return test_result();
}
