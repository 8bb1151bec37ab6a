/* SPDX-License-Identifier: MIT */
/*
 * examples/first_sub.c: a first program, the subscriber. It joins the
 * service "first/hello" (waiting for examples/first_pub.c if that is not
 * running yet), prints the first message it receives and leaves.
 */
#include <shoal.h>
#include <stdio.h>

#define SEC 1000000000LL

int main(void)
{
	struct shoal_sub_options opts;
	struct shoal_sub *sub;
	struct shoal_msg msg;
	int err;

	shoal_sub_options_init(&opts);
	/* No publisher yet? Wait up to 60 s for one to appear, instead of
	 * failing at once with -ENOENT (the default, timeout_ns 0). */
	opts.timeout_ns = 60 * SEC;
	printf("first_sub: looking for first/hello\n");
	fflush(stdout);
	err = shoal_sub_open("first/hello", &opts, &sub);
	if (err) {
		fprintf(stderr, "first_sub: %s\n", shoal_last_error());
		return 1;
	}
	/* msg.data points at the message in shared memory (no copy), valid
	 * until shoal_sub_release(); the bytes are not NUL-terminated. */
	err = shoal_sub_take(sub, &msg, 60 * SEC);
	if (err) {
		fprintf(stderr, "first_sub: %s\n", shoal_last_error());
		shoal_sub_close(sub);
		return 1;
	}
	printf("first_sub: received \"%.*s\"\n", (int)msg.len,
	       (const char *)msg.data);
	shoal_sub_release(sub, &msg);
	shoal_sub_close(sub);
	return 0;
}
