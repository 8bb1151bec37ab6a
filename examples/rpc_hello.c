/* SPDX-License-Identifier: MIT */
/*
 * Request/response in its simplest form: a server and a client that share
 * nothing but a service name.
 *
 * The parent forks a client, then creates the server "examples/rpc-<pid>"
 * and answers what comes: "upper <text>" with the text in capitals, and
 * "count <n>" with a stream of n responses (SHOAL_RPC_MORE on all but the
 * last). The client finds the server through the registry, makes a
 * blocking call, then sends two requests at once and matches the responses
 * to them by correlation id. When it has its answers it leaves, and the
 * server, which sees the client's line freed, withdraws.
 *
 * The fork comes first on purpose: a child forked after
 * shoal_rpc_server_create() would inherit the server's descriptors.
 */
#include <ctype.h>
#include <shoal.h>
#include <shoal/rpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL

static int client(const char *name)
{
	struct shoal_rpc_client *cli;
	struct shoal_response r;
	char buf[64];
	uint64_t id_upper, id_count;
	ssize_t n;
	int err, left = 2;

	/* The owner may not be there yet: the open waits up to 5 s
	 * for it to appear (-ETIMEDOUT after). */
	err = shoal_rpc_client_open(
		name,
		&(struct shoal_rpc_client_options){ .timeout_ns = 5 * SEC },
		&cli);
	if (err) {
		fprintf(stderr, "client: open %s: %s\n", name,
			shoal_last_error());
		return 1;
	}

	/* The copying, blocking form: one request, its final response. */
	n = shoal_rpc_client_call(cli, "upper hello", 11, buf, sizeof(buf),
				  NULL, 5 * SEC);
	if (n < 0) {
		fprintf(stderr, "client: call: %s\n", shoal_last_error());
		return 1;
	}
	printf("client: upper hello -> \"%.*s\"\n", (int)n, buf);

	/* Two requests in flight; each response says which one it answers. */
	if (shoal_rpc_client_write(cli, "count 3", 7, &id_count) ||
	    shoal_rpc_client_write(cli, "upper shoal", 11, &id_upper))
		return 1;
	while (left && (err = shoal_rpc_client_take(cli, &r, 5 * SEC)) == 0) {
		printf("client: response to %s: \"%.*s\"%s\n",
		       r.id == id_count ? "count" :
		       r.id == id_upper ? "upper" :
					  "?",
		       (int)r.len, (const char *)r.data,
		       (r.flags & SHOAL_RPC_MORE) ? " (more follows)" : "");
		if (!(r.flags & SHOAL_RPC_MORE))
			left--;
		shoal_rpc_client_release(cli, &r);
	}
	shoal_rpc_client_close(cli);
	if (left) {
		fprintf(stderr, "client: take: %s\n", shoal_last_error());
		return 1;
	}
	return 0;
}

/* Answers @req; the request's bytes are valid until release. */
static int serve(struct shoal_rpc_server *srv, struct shoal_request *req)
{
	char text[64];
	uint32_t len = req->len < sizeof(text) ? req->len : sizeof(text) - 1;
	int err = 0;

	memcpy(text, req->data, len);
	text[len] = '\0';
	shoal_rpc_server_release(srv, req);
	if (!strncmp(text, "upper ", 6)) {
		for (char *p = text + 6; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		err = shoal_rpc_server_write(srv, req, text + 6,
					     (uint32_t)strlen(text + 6), 0);
	} else if (!strncmp(text, "count ", 6)) {
		int n = atoi(text + 6);

		for (int k = 1; k <= n && !err; k++) {
			char b[16];
			int m = snprintf(b, sizeof(b), "%d of %d", k, n);

			err = shoal_rpc_server_write(srv, req, b, (uint32_t)m,
						     k < n ? SHOAL_RPC_MORE :
							     0);
		}
	} else {
		err = shoal_rpc_server_write(srv, req, "?", 1, SHOAL_RPC_ERROR);
	}
	return err;
}

int main(void)
{
	struct shoal_rpc_server_stats st;
	struct shoal_rpc_server *srv;
	char name[64];
	int status, err;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0); /* in order even when piped */
	snprintf(name, sizeof(name), "examples/rpc-%d", (int)getpid());
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(client(name));

	/* Defaults: 64 clients, 1 KiB requests and responses. */
	err = shoal_rpc_server_create(name, NULL, &srv);
	if (err) {
		fprintf(stderr, "server: %s\n", shoal_last_error());
		return 1;
	}
	printf("server: serving '%s'\n", name);
	/* Serve until the one client has come and gone. */
	for (;;) {
		struct shoal_request req;

		shoal_rpc_server_get_stats(srv, &st);
		if (st.joined && st.lost == st.joined)
			break;
		err = shoal_rpc_server_take(srv, &req, SEC / 10);
		if (err == -ETIMEDOUT)
			continue;
		if (err || serve(srv, &req)) {
			fprintf(stderr, "server: %s\n", shoal_last_error());
			break;
		}
	}
	shoal_rpc_server_get_stats(srv, &st);
	printf("server: %llu requests, %llu responses; client gone, bye\n",
	       (unsigned long long)st.requests,
	       (unsigned long long)st.responses);
	shoal_rpc_server_destroy(srv);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 1;
	return WEXITSTATUS(status);
}
