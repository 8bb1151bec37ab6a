/* SPDX-License-Identifier: MIT */
/*
 * examples/first_pub.c: a first program, the publisher. It publishes the
 * service "first/hello", waits for one subscriber (examples/first_sub.c,
 * started before or after it), sends it one line of text and withdraws.
 *
 * Usage: first_pub [TEXT]    (default: "hello from shoal")
 */
#include <shoal.h>
#include <stdio.h>
#include <string.h>

#define SEC 1000000000LL

int main(int argc, char **argv)
{
	const char *text = argc > 1 ? argv[1] : "hello from shoal";
	uint32_t len = (uint32_t)strlen(text);
	struct shoal_pub *pub;
	void *buf;
	int err;

	/* Defaults: reliable delivery, 1024 slots of up to 4096 bytes. */
	err = shoal_pub_create("first/hello", NULL, &pub);
	if (err) {
		fprintf(stderr, "first_pub: %s\n", shoal_last_error());
		return 1;
	}
	/* A message sent before anyone subscribed reaches nobody: wait
	 * (asleep, up to 60 s) until one subscriber has joined. */
	printf("first_pub: waiting for a subscriber to first/hello\n");
	fflush(stdout);
	err = shoal_pub_wait_subscribers(pub, 1, 60 * SEC);
	if (!err) /* zero copy: point buf at the next slot, write in place */
		err = shoal_pub_loan(pub, len, &buf);
	if (!err) {
		memcpy(buf, text, len);
		err = shoal_pub_send(pub, buf, len);
	}
	if (err)
		fprintf(stderr, "first_pub: %s\n", shoal_last_error());
	else
		printf("first_pub: sent \"%s\"\n", text);
	/* Withdraw the service; the subscriber still gets what was sent. */
	shoal_pub_destroy(pub);
	return err ? 1 : 0;
}
