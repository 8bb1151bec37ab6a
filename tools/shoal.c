/* SPDX-License-Identifier: MIT */
/*
 * shoal: the command-line tool.
 *
 *   shoal list [--json] [--watch]  live services; --watch: appear/gone events
 *   shoal info NAME [--json]       a service: layout, counters, subscribers
 *   shoal pub NAME [options]       publish stdin lines or generated messages
 *   shoal sub NAME [options]       print the messages of a publisher
 *   shoal hz NAME [options]        message rate and bandwidth
 *   shoal push NAME [options]      push stdin lines into a queue
 *   shoal pop NAME [options]       print the messages taken from a queue
 *   shoal notify NAME ID...        signal event ids
 *   shoal wait NAME ID... [opts]   wait for event ids, print them
 *   shoal call NAME [options]      stdin lines as requests, print responses
 *   shoal queue NAME [options]     host a queue until SIGINT/SIGTERM
 *   shoal serve NAME --echo|--exec CMD   host a request/response server
 *   shoal events NAME [options]    host an event service
 *   shoal store create NAME [opts] host a store of shared objects
 *   shoal get NAME KEY             print a blackboard or map entry
 *   shoal set NAME KEY VALUE       write one
 *   shoal watch NAME KEY...        print blackboard changes
 *   shoal clean                    remove entries whose owner died
 *   shoal bench [--quick] [--json] pub/sub, queue and rpc figures between
 *                                  two processes
 *   shoal soak [options]           kill and restart every role while
 *                                  checking deliveries (docs/soak.md)
 *   shoal gateway ARGS             run shoal-gateway, the NATS gateway
 *                                  (docs/gateway.md), when it was built
 *
 * Every subcommand takes --help; 'shoal --version' prints the library's. Exit status: 0 success, 1 failure (the
 * message on stderr says why), 2 usage error; the commands that wait on a
 * peer add 3 (timed out) and 4 (the peer is gone). The subcommands live in
 * cmd_*.c, the helpers they share in cli.c.
 */
#include <string.h>

#include "cli.h"

static const struct cli_cmd *const commands[] = {
	&cli_cmd_list,	     &cli_cmd_info,   &cli_cmd_pub,
	&cli_cmd_sub,	     &cli_cmd_hz,     &cli_cmd_queue,
	&cli_cmd_push,	     &cli_cmd_pop,    &cli_cmd_serve,
	&cli_cmd_call,	     &cli_cmd_events, &cli_cmd_notify,
	&cli_cmd_wait,	     &cli_cmd_clean,  &cli_cmd_bench,
	&cli_cmd_bench_peer, &cli_cmd_soak,   &cli_cmd_soak_role,
	&cli_cmd_gateway,    &cli_cmd_store,  &cli_cmd_get,
	&cli_cmd_set,	     &cli_cmd_watch,
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: shoal <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!commands[i]->hidden)
			fprintf(f, "  %-6s %s\n", commands[i]->name,
				commands[i]->summary);
	fprintf(f, "\n"
		   "  --version, -V  print the version and exit\n"
		   "\n"
		   "The registry is $SHOAL_DIR, else $XDG_RUNTIME_DIR/shoal, "
		   "else /dev/shm/shoal-<uid>.\n"
		   "'shoal <command> --help' describes a command.\n"
		   "\n"
		   "exit status: 0 success, 1 failure (stderr says why), "
		   "2 usage error;\n"
		   "sub, hz, push, pop, wait, call: 3 timed out;\n"
		   "those and notify: 4 peer gone (publisher, queue, "
		   "service, server).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V") ||
	    !strcmp(argv[1], "version")) {
		/* The library's version, which the build gives the tool too:
		 * both come from project(VERSION) in CMakeLists.txt. */
		printf("shoal %s\n", shoal_version());
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(argv[1], commands[i]->name))
			return commands[i]->run(commands[i], argc - 1,
						argv + 1);
	fprintf(stderr, "shoal: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CLI_EXIT_USAGE;
}
