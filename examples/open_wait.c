/* SPDX-License-Identifier: MIT */
/*
 * Opening before the service exists: a client that starts first waits
 * for its server instead of failing with -ENOENT.
 *
 * The parent forks a client, which opens "examples/open-wait-<pid>" with
 * timeout_ns = 5 s in its options while nobody has created it yet; the
 * open blocks (on the registry's directory watch, not by polling) until
 * the parent creates the server, then the client makes one call and
 * prints the answer. timeout_ns 0 (the default) fails at once with
 * -ENOENT; SHOAL_WAIT_FOREVER waits as long as it takes; a timeout that
 * expires is -ETIMEDOUT. Every pattern's open options have the field:
 * shoal_sub_options, shoal_queue_options, shoal_rpc_client_options,
 * shoal_event_options.
 */
#include <shoal.h>
#include <shoal/rpc.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL

static int client(const char *name)
{
	struct shoal_rpc_client_options o;
	struct shoal_rpc_client *cli;
	char answer[64];
	ssize_t n;
	int err;

	shoal_rpc_client_options_init(&o);
	o.timeout_ns = 5 * SEC;
	err = shoal_rpc_client_open(name, &o, &cli);
	if (err) {
		fprintf(stderr, "client: open %s: %s\n", name,
			shoal_last_error());
		return 1;
	}
	n = shoal_rpc_client_call(cli, "ping", 4, answer, sizeof(answer) - 1,
				  NULL, 5 * SEC);
	shoal_rpc_client_close(cli);
	if (n < 0)
		return 1;
	answer[n] = '\0';
	printf("client: opened before the server existed, got '%s'\n", answer);
	return 0;
}

int main(void)
{
	struct shoal_rpc_server *srv;
	struct shoal_request req;
	char name[64];
	int status, err;
	pid_t pid;

	snprintf(name, sizeof(name), "examples/open-wait-%d", (int)getpid());
	/* Fork first: a child forked after shoal_rpc_server_create() would
	 * inherit the server's descriptors. */
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(client(name));
	/* The client is already waiting (or about to): create the server. */
	err = shoal_rpc_server_create(name, NULL, &srv);
	if (err) {
		fprintf(stderr, "server: create %s: %s\n", name,
			shoal_last_error());
		return 1;
	}
	err = shoal_rpc_server_take(srv, &req, 5 * SEC);
	if (!err) {
		shoal_rpc_server_write(srv, &req, "pong", 4, 0);
		shoal_rpc_server_release(srv, &req);
	}
	waitpid(pid, &status, 0);
	shoal_rpc_server_destroy(srv);
	return err || !WIFEXITED(status) || WEXITSTATUS(status);
}
