/* shoal-test: label=multiproc timeout=120 */
/*
 * A SHOAL_SUB_REATTACH subscriber follows its registry directory when the
 * directory is removed and created again at the same path: it must find a
 * publisher that appears in the new directory. Twice: with a registry the
 * caller passed in (which must not be changed under the caller's feet) and
 * with the default registry ($SHOAL_DIR).
 */
#include <dirent.h>
#include <limits.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

#define NAME "moved/pub"
#define TOTAL_NS (30 * PSU_SEC)

static char path[PATH_MAX];

static int publish(struct shoal_pub **pub, struct shoal_registry **reg)
{
	struct shoal_pub_options o;

	if (test_registry_open(path, reg))
		return -1;
	shoal_pub_options_init(&o);
	o.registry = *reg;
	o.capacity = 16;
	o.max_payload = 64;
	o.delivery = SHOAL_DELIVERY_LOSSY;
	return shoal_pub_create(NAME, &o, pub);
}

/*
 * Sends a message now and then and takes until the subscriber gets one of
 * @pub's epoch; bounded by TOTAL_NS. 0 or -1.
 */
static int receive_from(struct shoal_sub *sub, struct shoal_pub *pub)
{
	int64_t end = psu_now_ns() + TOTAL_NS;
	uint64_t v = 42;
	struct shoal_msg msg;

	while (psu_now_ns() < end) {
		int r;

		if (shoal_pub_write(pub, &v, sizeof(v), NULL) < 0)
			return -1;
		r = shoal_sub_take(sub, &msg, 50 * 1000 * 1000);
		if (r == 0) {
			int mine = msg.epoch == shoal_pub_epoch(pub);

			shoal_sub_release(sub, &msg);
			if (mine)
				return 0;
			continue;
		}
		if (r != -ETIMEDOUT && r != -EPIPE && r != -EOVERFLOW &&
		    r != -EAGAIN) {
			fprintf(stderr, "take: %d (%s)\n", r,
				shoal_last_error());
			return -1;
		}
	}
	fprintf(stderr, "no message from the new publisher: %s\n",
		shoal_last_error());
	return -1;
}

/* Removes the registry directory and its files. */
static int remove_dir(void)
{
	char tmp[PATH_MAX + 512];
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(tmp, sizeof(tmp), "%s/%s", path, e->d_name);
		unlink(tmp);
	}
	closedir(d);
	return rmdir(path);
}

static int run_case(int given)
{
	struct shoal_registry *sreg = NULL, *preg;
	struct shoal_sub_options so;
	struct shoal_sub *sub;
	struct shoal_pub *pub;
	struct shoal_sub_stats st;

	CHECK_EQ(test_registry_path(path, sizeof(path)), 0);
	setenv("SHOAL_DIR", path, 1);
	shoal_sub_options_init(&so);
	so.flags = SHOAL_SUB_REATTACH;
	if (given) {
		CHECK_EQ(test_registry_open(path, &sreg), 0);
		so.registry = sreg;
	}
	CHECK_EQ(shoal_sub_open(NAME, &so, &sub), 0);

	/* First a publisher in the original directory. */
	CHECK_EQ(publish(&pub, &preg), 0);
	CHECK_EQ(receive_from(sub, pub), 0);
	shoal_pub_destroy(pub);
	shoal_registry_destroy(preg);

	/* The directory goes, and comes back as a new one. */
	CHECK_EQ(remove_dir(), 0);
	CHECK_EQ(publish(&pub, &preg), 0);
	CHECK_EQ(receive_from(sub, pub), 0);
	shoal_sub_get_stats(sub, &st);
	CHECK_EQ(st.reattached, 1);
	CHECK_EQ(st.epoch, shoal_pub_epoch(pub));
	if (given) /* the caller's handle is the caller's: still usable */
		CHECK(shoal_registry_path(sreg) != NULL);

	shoal_sub_close(sub);
	shoal_pub_destroy(pub);
	shoal_registry_destroy(preg);
	shoal_registry_destroy(sreg);
	return TEST_PASS;
}

static int test_given_registry(void)
{
	return run_case(1);
}

static int test_default_registry(void)
{
	return run_case(0);
}

int main(void)
{
	RUN(test_given_registry);
	RUN(test_default_registry);
	return test_result();
}
