/* shoal-test: label=multiproc timeout=120 */
/*
 * Two unrelated processes (siblings, not parent and child) find each other
 * through the registry: one publishes a channel, the other opens it by name,
 * takes its memfd and eventfds from the owner, and the two stream messages
 * through the SPSC ring. Also: -EEXIST on a live name, listing, withdrawal,
 * and both fd paths (pidfd_getfd and SCM_RIGHTS).
 */
#include <sys/mman.h>

#include "harness.h"
#include "registry_util.h"

#define MESSAGES 100000

static char path[PATH_MAX];

/* Shared between the test's processes: the publisher's go-ahead. */
static _Atomic int *published;

/* Publisher: a channel, announced as memfd + data and space eventfds. */
static int publisher(void)
{
	struct shoal_registry *reg;
	struct shoal_channel *tx;
	struct shoal_channel_fds fds;
	struct shoal_service_spec spec;
	struct shoal_entry *entry;
	struct shoal_channel_options o;
	int efds[2];

	shoal_channel_options_init(&o);
	o.send_timeout_ns = 10LL * 1000000000;
	if (test_registry_open(path, &reg) ||
	    shoal_channel_create(NULL, &o, &tx))
		return 1;
	shoal_channel_get_fds(tx, &fds);
	efds[0] = fds.data_eventfd;
	efds[1] = fds.space_eventfd;
	memset(&spec, 0, sizeof(spec));
	spec.name = "demo/stream";
	spec.pattern = SHOAL_PATTERN_CHANNEL;
	spec.memfd = fds.memfd;
	spec.eventfd_count = 2;
	spec.eventfds = efds;
	spec.flags = SHOAL_PUBLISH_SERVER_THREAD;
	if (shoal_registry_publish(reg, &spec, &entry)) {
		fprintf(stderr, "publish: %s\n", shoal_last_error());
		return 1;
	}
	atomic_store(published, 1);
	for (uint64_t i = 0; i < MESSAGES; i++) {
		if (shoal_channel_write(tx, &i, sizeof(i)))
			return 2;
	}
	/* Stay until the reader is done, so the entry stays live. */
	while (atomic_load(published) != 2)
		usleep(1000);
	shoal_entry_destroy(entry);
	shoal_channel_destroy(tx);
	shoal_registry_destroy(reg);
	return 0;
}

static int reader(uint32_t flags, int want_source)
{
	struct shoal_registry *reg;
	struct shoal_service *svc;
	struct shoal_channel *rx;
	struct shoal_channel_fds fds;
	struct shoal_service_info info;

	while (!atomic_load(published))
		usleep(1000);
	if (test_registry_open(path, &reg))
		return 1;
	if (shoal_registry_open(reg, "demo/stream", flags, &svc)) {
		fprintf(stderr, "open: %s\n", shoal_last_error());
		return 1;
	}
	if (shoal_service_fd_source(svc) != want_source)
		return 2;
	shoal_service_get_info(svc, &info);
	if (strcmp(info.name, "demo/stream") || info.eventfd_count != 2 ||
	    info.pattern != SHOAL_PATTERN_CHANNEL ||
	    info.epoch != shoal_segment_epoch(shoal_service_segment(svc)))
		return 3;
	fds.memfd = shoal_segment_fd(shoal_service_segment(svc));
	fds.data_eventfd = shoal_service_eventfd(svc, 0);
	fds.space_eventfd = shoal_service_eventfd(svc, 1);
	if (shoal_channel_open_fds(&fds, NULL, &rx)) {
		fprintf(stderr, "channel: %s\n", shoal_last_error());
		return 4;
	}
	for (uint64_t i = 0; i < MESSAGES; i++) {
		uint64_t v;

		if (shoal_channel_read(rx, &v, sizeof(v), 10LL * 1000000000) !=
			    8 ||
		    v != i)
			return 5;
	}
	atomic_store(published, 2);
	shoal_channel_close(rx);
	shoal_service_close(svc);
	shoal_registry_destroy(reg);
	return 0;
}

static int siblings(uint32_t flags, int want_source)
{
	pid_t pub, rd;

	atomic_store(published, 0);
	pub = fork();
	CHECK(pub >= 0);
	if (pub == 0)
		_exit(publisher());
	rd = fork();
	CHECK(rd >= 0);
	if (rd == 0)
		_exit(reader(flags, want_source));
	CHECK(test_wait_child(rd, 60));
	CHECK(test_wait_child(pub, 60));
	return TEST_PASS;
}

static int test_unrelated_by_pidfd_getfd(void)
{
	return siblings(0, SHOAL_FDS_BY_PIDFD_GETFD);
}

static int test_unrelated_by_scm_rights(void)
{
	return siblings(SHOAL_OPEN_NO_PIDFD_GETFD, SHOAL_FDS_BY_SCM_RIGHTS);
}

static int count_cb(const struct shoal_service_info *info, void *user_data)
{
	int *n = user_data;

	(*n)++;
	return strcmp(info->name, "stop/here") == 0;
}

static int test_exists_list_withdraw(void)
{
	struct shoal_registry *reg;
	struct test_service a, b;
	struct shoal_service *svc;
	int n = 0, fds_before = test_count_fds();

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK_EQ(test_publish(reg, "x/one", SHOAL_ACCESS_OWNER, 0, &a), 0);
	/* The name is held by a live owner (ourselves). */
	CHECK_EQ(test_publish(reg, "x/one", SHOAL_ACCESS_OWNER, 0, &b),
		 -EEXIST);
	CHECK_EQ(test_publish(reg, "bad//name", SHOAL_ACCESS_OWNER, 0, &b),
		 -EINVAL);
	CHECK_EQ(test_publish(reg, "x/two", SHOAL_ACCESS_OWNER, 0, &b), 0);
	CHECK_EQ(shoal_registry_list(reg, count_cb, &n), 2);
	CHECK_EQ(n, 2);

	CHECK_EQ(shoal_registry_open(reg, "x/one", 0, &svc), 0);
	CHECK(strncmp(test_marker(svc), "owner ", 6) == 0);
	CHECK_EQ(shoal_service_alive(svc), 1);
	CHECK_EQ(shoal_service_eventfd(svc, 1), -ENOENT);
	shoal_service_close(svc);
	CHECK_EQ(shoal_registry_open(reg, "x/none", 0, &svc), -ENOENT);
	CHECK_EQ(shoal_registry_open(reg, "x//bad", 0, &svc), -EINVAL);

	test_unpublish(&a);
	CHECK_EQ(shoal_registry_open(reg, "x/one", 0, &svc), -ENOENT);
	n = 0;
	CHECK_EQ(shoal_registry_list(reg, count_cb, &n), 1);
	/* Withdrawn: the name is free again. */
	CHECK_EQ(test_publish(reg, "x/one", SHOAL_ACCESS_OWNER, 0, &a), 0);
	test_unpublish(&a);
	test_unpublish(&b);
	CHECK_EQ(shoal_registry_clean(reg), 0);
	shoal_registry_destroy(reg);
	CHECK_EQ(test_count_fds(), fds_before);
	return TEST_PASS;
}

static int test_bad_specs(void)
{
	struct shoal_registry *reg;
	struct shoal_service_spec spec;
	struct shoal_entry *e;
	int p[2];

	CHECK_EQ(test_registry_open(path, &reg), 0);
	CHECK(pipe(p) == 0);
	memset(&spec, 0, sizeof(spec));
	spec.name = "bad/spec";
	spec.pattern = SHOAL_PATTERN_CHANNEL;
	/* Not a memfd. */
	spec.memfd = p[0];
	CHECK_EQ(shoal_registry_publish(reg, &spec, &e), -EINVAL);
	/* A memfd, but no shoal segment in it and no seals. */
	spec.memfd = memfd_create("x", MFD_CLOEXEC);
	CHECK(ftruncate(spec.memfd, 4096) == 0);
	CHECK_EQ(shoal_registry_publish(reg, &spec, &e), -EINVAL);
	close(spec.memfd);
	shoal_registry_destroy(reg);
	close(p[0]);
	close(p[1]);
	return TEST_PASS;
}

int main(void)
{
	published = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (published == MAP_FAILED || test_registry_path(path, sizeof(path)))
		return TEST_FAIL;
	RUN(test_unrelated_by_pidfd_getfd);
	RUN(test_unrelated_by_scm_rights);
	RUN(test_exists_list_withdraw);
	RUN(test_bad_specs);
	return test_result();
}
