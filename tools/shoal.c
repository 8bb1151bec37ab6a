/* SPDX-License-Identifier: MIT */
/*
 * shoal: the command-line tool.
 *
 *   shoal list [--json]   live services in the registry
 *   shoal clean           remove entries whose owner died
 *
 * Every subcommand takes --help. Exit status: 0 success, 1 failure (the
 * message on stderr says why), 2 usage error.
 */
#include <shoal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *pattern_name(uint32_t p)
{
	switch (p) {
	case SHOAL_PATTERN_CHANNEL:
		return "channel";
	case SHOAL_PATTERN_PUBSUB:
		return "pubsub";
	case SHOAL_PATTERN_QUEUE:
		return "queue";
	case SHOAL_PATTERN_RPC:
		return "rpc";
	case SHOAL_PATTERN_EVENT:
		return "event";
	default:
		return "user";
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: shoal <command> [options]\n"
		   "\n"
		   "commands:\n"
		   "  list [--json]   list the live services in the registry\n"
		   "  clean           remove entries left by dead owners\n"
		   "\n"
		   "The registry is $SHOAL_DIR, else $XDG_RUNTIME_DIR/shoal, "
		   "else /dev/shm/shoal-<uid>.\n"
		   "'shoal <command> --help' describes a command.\n");
}

static int open_registry(struct shoal_registry **reg)
{
	int err = shoal_registry_create(NULL, reg);

	if (err)
		fprintf(stderr, "shoal: registry: %s\n", shoal_last_error());
	return err;
}

/* Prints @s as a JSON string (names are printable ASCII). */
static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

struct list_ctx {
	int json;
	int count;
	int64_t now_ns;
};

static int print_one(const struct shoal_service_info *i, void *user_data)
{
	struct list_ctx *ctx = user_data;
	double age = (double)(ctx->now_ns - i->created_ns) / 1e9;

	if (ctx->json) {
		printf("%s\n  {\"name\": ", ctx->count ? "," : "");
		json_string(i->name);
		printf(", \"pattern\": \"%s\", \"pid\": %d, \"uid\": %u, "
		       "\"epoch\": %llu, \"segment_bytes\": %llu, "
		       "\"eventfds\": %u, \"type\": ",
		       pattern_name(i->pattern), i->pid, i->uid,
		       (unsigned long long)i->epoch,
		       (unsigned long long)i->memfd_size, i->eventfd_count);
		json_string(i->type_name);
		printf(", \"age_s\": %.3f}", age);
	} else {
		printf("%-32s %-8s %8d %12llu %8.1fs\n", i->name,
		       pattern_name(i->pattern), i->pid,
		       (unsigned long long)i->memfd_size, age);
	}
	ctx->count++;
	return 0;
}

static int cmd_list(int argc, char **argv)
{
	struct list_ctx ctx = { 0 };
	struct shoal_registry *reg;
	struct timespec ts;
	int n;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			ctx.json = 1;
		} else if (!strcmp(argv[i], "--help")) {
			printf("usage: shoal list [--json]\n"
			       "Lists the live services: name, pattern, "
			       "owner pid, segment bytes, age.\n");
			return 0;
		} else {
			fprintf(stderr, "shoal list: unknown option '%s'\n",
				argv[i]);
			return 2;
		}
	}
	if (open_registry(&reg))
		return 1;
	clock_gettime(CLOCK_REALTIME, &ts);
	ctx.now_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	if (ctx.json)
		printf("[");
	else
		printf("%-32s %-8s %8s %12s %9s\n", "NAME", "PATTERN", "PID",
		       "BYTES", "AGE");
	n = shoal_registry_list(reg, print_one, &ctx);
	if (ctx.json)
		printf("%s]\n", ctx.count ? "\n" : "");
	shoal_registry_destroy(reg);
	if (n < 0) {
		fprintf(stderr, "shoal list: %s\n", shoal_last_error());
		return 1;
	}
	return 0;
}

static int cmd_clean(int argc, char **argv)
{
	struct shoal_registry *reg;
	int n;

	if (argc > 1 && !strcmp(argv[1], "--help")) {
		printf("usage: shoal clean\n"
		       "Removes registry entries whose owner has died. Safe "
		       "while services run.\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "shoal clean: unexpected '%s'\n", argv[1]);
		return 2;
	}
	if (open_registry(&reg))
		return 1;
	n = shoal_registry_clean(reg);
	shoal_registry_destroy(reg);
	if (n < 0) {
		fprintf(stderr, "shoal clean: %s\n", shoal_last_error());
		return 1;
	}
	printf("removed %d stale entr%s\n", n, n == 1 ? "y" : "ies");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "list"))
		return cmd_list(argc - 1, argv + 1);
	if (!strcmp(argv[1], "clean"))
		return cmd_clean(argc - 1, argv + 1);
	fprintf(stderr, "shoal: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
