/* SPDX-License-Identifier: MIT */
/*
 * Request/response from event loops, with streamed answers.
 *
 * The server (the parent) waits in poll() on shoal_rpc_server_fd() (a real
 * program would poll its other fds in the same call), and answers "range <n>" with n responses: the numbers 1..n, each with
 * SHOAL_RPC_MORE but the last. The client (a forked child) waits in poll()
 * on shoal_rpc_client_fd(), asks for two ranges at once, and adds up each
 * stream by its correlation id until both are complete. The server stops
 * when its one client has left.
 *
 * The event-loop protocol, the same on both sides: arm (1: something is
 * pending, do not poll), poll the fd for POLLIN, disarm, then take with
 * timeout 0 until -EAGAIN. The fd also becomes readable when the peer dies,
 * so a loop never waits on a dead peer: take then says -EPIPE (client).
 */
#include <poll.h>
#include <shoal.h>
#include <shoal/rpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL

/* Waits until @fd (the handle's) is readable, unless arm says there is
 * something already. */
static int wait_fd(int fd, int armed)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (armed)
		return 0; /* pending already: do not poll */
	return poll(&p, 1, 5000) == 1 ? 0 : -1;
}

static int client(const char *name)
{
	struct shoal_rpc_client *cli;
	uint64_t id[2];
	long sum[2] = { 0, 0 };
	int done = 0, err;

	/* The owner may not be there yet: the open waits up to 5 s
	 * for it to appear (-ETIMEDOUT after). */
	err = shoal_rpc_client_open(
		name,
		&(struct shoal_rpc_client_options){ .timeout_ns = 5 * SEC },
		&cli);
	if (err) {
		fprintf(stderr, "client: %s\n", shoal_last_error());
		return 1;
	}
	if (shoal_rpc_client_write(cli, "range 10", 8, &id[0]) ||
	    shoal_rpc_client_write(cli, "range 100", 9, &id[1]))
		return 1;
	while (done < 2) {
		struct shoal_response r;

		if (wait_fd(shoal_rpc_client_fd(cli),
			    shoal_rpc_client_arm(cli)))
			return 1;
		shoal_rpc_client_disarm(cli);
		while ((err = shoal_rpc_client_take(cli, &r, 0)) == 0) {
			int k = r.id == id[1];
			long v;

			memcpy(&v, r.data, sizeof(v));
			sum[k] += v;
			if (!(r.flags & SHOAL_RPC_MORE)) {
				printf("client: range %s complete, sum %ld\n",
				       k ? "100" : "10", sum[k]);
				done++;
			}
			shoal_rpc_client_release(cli, &r);
		}
		if (err != -EAGAIN) {
			fprintf(stderr, "client: %s\n", shoal_last_error());
			return 1;
		}
	}
	shoal_rpc_client_close(cli);
	return sum[0] == 55 && sum[1] == 5050 ? 0 : 1;
}

static int answer(struct shoal_rpc_server *srv, struct shoal_request *req)
{
	char text[32];
	uint32_t len = req->len < sizeof(text) ? req->len : sizeof(text) - 1;
	long n;
	int err = 0;

	memcpy(text, req->data, len);
	text[len] = '\0';
	shoal_rpc_server_release(srv, req);
	n = strncmp(text, "range ", 6) ? 0 : atol(text + 6);
	for (long v = 1; v <= n && !err; v++)
		err = shoal_rpc_server_write(srv, req, &v, sizeof(v),
					     v < n ? SHOAL_RPC_MORE : 0);
	return err;
}

int main(void)
{
	struct shoal_rpc_server_options so;
	struct shoal_rpc_server_stats st;
	struct shoal_rpc_server *srv;
	char name[64];
	int status;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(name, sizeof(name), "examples/rpc-stream-%d", (int)getpid());
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(client(name));

	shoal_rpc_server_options_init(&so);
	/* A stream longer than the ring: a response waits (up to 1 s) for
	 * the client to take the ones before it. */
	so.response_capacity = 16;
	so.send_timeout_ns = 1000000000;
	if (shoal_rpc_server_create(name, &so, &srv)) {
		fprintf(stderr, "server: %s\n", shoal_last_error());
		return 1;
	}
	for (;;) {
		struct pollfd p = { .fd = shoal_rpc_server_fd(srv),
				    .events = POLLIN };
		struct shoal_request req;
		int err;

		shoal_rpc_server_get_stats(srv, &st);
		if (st.joined && st.lost == st.joined)
			break;
		if (!shoal_rpc_server_arm(srv) && poll(&p, 1, 100) < 0)
			break;
		shoal_rpc_server_disarm(srv);
		while ((err = shoal_rpc_server_take(srv, &req, 0)) == 0)
			if (answer(srv, &req))
				fprintf(stderr, "server: %s\n",
					shoal_last_error());
	}
	printf("server: %llu requests, %llu responses\n",
	       (unsigned long long)st.requests,
	       (unsigned long long)st.responses);
	shoal_rpc_server_destroy(srv);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 1;
	return WEXITSTATUS(status);
}
