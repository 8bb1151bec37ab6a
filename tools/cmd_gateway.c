/* SPDX-License-Identifier: MIT */
/*
 * shoal gateway ARGS: runs shoal-gateway, the NATS gateway
 * (docs/gateway.md), which is its own program because it links libnats
 * and the tool must not. Looked for beside this program (an install puts
 * both in the same bin directory), in ../gateway/ (the build tree), then
 * on PATH; the arguments are passed as they are.
 */
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define GATEWAY "shoal-gateway"

static int cmd_gateway(const struct cli_cmd *cmd, int argc, char **argv)
{
	static const char *const beside[] = { "/" GATEWAY,
					      "/../gateway/" GATEWAY };
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	argv[0] = (char *)GATEWAY;
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash)
			*slash = '\0';
		for (size_t i = 0; i < sizeof(beside) / sizeof(beside[0]);
		     i++) {
			snprintf(path, sizeof(path), "%s%s", self, beside[i]);
			if (!access(path, X_OK))
				execv(path, argv);
		}
	}
	(void)argc;
	execvp(GATEWAY, argv);
	fprintf(stderr,
		"shoal: %s: %s is not built or not installed: it is built "
		"only where libnats\n"
		"(the NATS C client, Debian's libnats-dev) was found when "
		"shoal was configured;\n"
		"see docs/gateway.md\n",
		cmd->name, GATEWAY);
	return CLI_EXIT_FAIL;
}

const struct cli_cmd cli_cmd_gateway = {
	.name = "gateway",
	.summary = "bridge services to other hosts through NATS",
	.synopsis = "gateway --server nats://HOST:PORT [--export PATTERN]... "
		    "[--import PATTERN]...",
	.help = "Runs shoal-gateway with these arguments ('shoal gateway "
		"--help' lists them).\n",
	.run = cmd_gateway,
};
