/* SPDX-License-Identifier: MIT */
/*
 * The store subcommands: store create (host a store until SIGINT/SIGTERM),
 * get and set (a blackboard key or a map key), watch (print the changes
 * of blackboard keys), and the object listing 'shoal info' shows for a
 * store (info_patterns.c calls cli_store_inspect()).
 *
 * A KEY is OBJECT:KEY, or KEY alone when the store has one blackboard or
 * one map and not both. A blackboard's keys are numbers (0..N-1), a map's
 * are the bytes of the string.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Waits in ticks until SIGINT or SIGTERM. */
static void host_until_signal(void)
{
	while (!cli_stop)
		cli_sleep_until(cli_now_ns() + CLI_TICK_NS);
}

static const char *kind_name(uint32_t kind)
{
	switch (kind) {
	case SHOAL_STORE_ARRAY:
		return "array";
	case SHOAL_STORE_BLACKBOARD:
		return "blackboard";
	case SHOAL_STORE_STACK:
		return "stack";
	case SHOAL_STORE_MAP:
		return "map";
	}
	return "?";
}

/* --- store create */

static int cmd_store(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct shoal_store_object objs[4];
	struct shoal_store_options o;
	struct shoal_store *s;
	const char *pos[2];
	uint64_t bb = 0, vsize = 64, arr = 0, esize = 8, map = 0, ksize = 64;
	uint64_t stack = 0, reserve = 0, maxo = 0, ids = 256;
	int many = 0, rc, err;
	uint32_t n = 0;
	struct cli_opt opts[] = {
		CLI_OPT_U64("--blackboard", &bb, SHOAL_STORE_COUNT_MAX),
		CLI_OPT_U64("--value-size", &vsize, SHOAL_STORE_ELEM_MAX),
		CLI_OPT_FLAG("--many-writers", NULL, &many),
		CLI_OPT_U64("--array", &arr, SHOAL_STORE_COUNT_MAX),
		CLI_OPT_U64("--elem-size", &esize, SHOAL_STORE_ELEM_MAX),
		CLI_OPT_U64("--map", &map, SHOAL_STORE_COUNT_MAX),
		CLI_OPT_U64("--key-size", &ksize, SHOAL_STORE_ELEM_MAX),
		CLI_OPT_U64("--stack", &stack, SHOAL_STORE_COUNT_MAX),
		CLI_OPT_U64("--reserve", &reserve, 1ull << 40),
		CLI_OPT_U64("--max-objects", &maxo, SHOAL_STORE_OBJECTS_MAX),
		CLI_OPT_U64("--event-ids", &ids, SHOAL_EVENT_IDS_MAX),
		CLI_OPT_END,
	};

	rc = cli_parse(cmd, opts, argc, argv, pos, 2);
	if (rc != CLI_CONTINUE)
		return rc;
	if (strcmp(pos[0], "create"))
		return cli_usage_error(cmd, "unknown store command '%s'",
				       pos[0]);
	memset(objs, 0, sizeof(objs));
	if (bb)
		objs[n++] = (struct shoal_store_object){
			.name = "blackboard",
			.kind = SHOAL_STORE_BLACKBOARD,
			.count = (uint32_t)bb,
			.elem_size = (uint32_t)vsize,
			.flags = many ? SHOAL_STORE_MANY_WRITERS : 0
		};
	if (arr)
		objs[n++] =
			(struct shoal_store_object){ .name = "array",
						     .kind = SHOAL_STORE_ARRAY,
						     .count = (uint32_t)arr,
						     .elem_size =
							     (uint32_t)esize };
	if (map)
		objs[n++] = (struct shoal_store_object){
			.name = "map",
			.kind = SHOAL_STORE_MAP,
			.count = (uint32_t)map,
			.elem_size = (uint32_t)vsize,
			.key_size = (uint32_t)ksize
		};
	if (stack)
		objs[n++] =
			(struct shoal_store_object){ .name = "stack",
						     .kind = SHOAL_STORE_STACK,
						     .count = (uint32_t)stack,
						     .elem_size =
							     (uint32_t)esize };
	shoal_store_options_init(&o);
	o.objects = objs;
	o.nobjects = n;
	o.reserve_bytes = reserve;
	o.event_ids = (uint32_t)ids;
	if (maxo)
		o.max_objects = (uint32_t)maxo;
	err = shoal_store_create(pos[1], &o, &s);
	if (err == -EINVAL)
		return cli_usage_error(cmd, "cannot create '%s': %s", pos[1],
				       shoal_last_error());
	if (err == -EEXIST)
		return cli_fail(cmd, err,
				"cannot create '%s': a live service has the "
				"name",
				pos[1]);
	if (err)
		return cli_fail(cmd, err, "cannot create '%s'", pos[1]);
	cli_catch_signals();
	cli_note(cmd, "hosting store '%s' (%u object%s) until SIGINT/SIGTERM",
		 pos[1], n, n == 1 ? "" : "s");
	host_until_signal();
	shoal_store_destroy(s);
	cli_note(cmd, "withdrew '%s'", pos[1]);
	return CLI_EXIT_OK;
}

const struct cli_cmd cli_cmd_store = {
	.name = "store",
	.summary = "host a store of shared objects until SIGINT/SIGTERM",
	.synopsis = "store create NAME [--blackboard N] [--value-size S] "
		    "[--many-writers] [--array N] [--elem-size S] [--map N] "
		    "[--key-size K] [--stack N] [--reserve B] "
		    "[--max-objects N] [--event-ids N]",
	.help = "Creates store NAME with the objects the options ask for and "
		"keeps it until\n"
		"SIGINT or SIGTERM, then withdraws it. 'shoal get', 'shoal "
		"set', 'shoal watch'\n"
		"and 'shoal info' work against it meanwhile; programs open it "
		"with\n"
		"shoal_store_open() (docs/store.md). Prints \"hosting store "
		"...\" on stderr\n"
		"once it is there, \"withdrew NAME\" at the end.\n"
		"\n"
		"  --blackboard N   object \"blackboard\": keys 0..N-1\n"
		"  --value-size S   bytes of a blackboard or map value "
		"(default 64)\n"
		"  --many-writers   several processes may write one "
		"blackboard key\n"
		"  --array N        object \"array\": N elements\n"
		"  --elem-size S    bytes of an array or stack element "
		"(default 8)\n"
		"  --map N          object \"map\": N slots, a power of two\n"
		"  --key-size K     longest map key in bytes (default 64)\n"
		"  --stack N        object \"stack\": up to N elements\n"
		"  --reserve B      bytes kept for objects added later\n"
		"  --max-objects N  table entries (default 64)\n"
		"  --event-ids N    ids of the change-notification service "
		"NAME/events\n"
		"                   (default 256; 0: none, watchers poll)\n"
		"\n"
		"exit status: 0 (SIGINT/SIGTERM), 1 failure, 2 usage.\n",
	.run = cmd_store,
};

/* --- get, set, watch */

static int open_store(const struct cli_cmd *cmd, const char *name, int rw,
		      struct shoal_store **s)
{
	struct shoal_store_options o;
	int err;

	shoal_store_options_init(&o);
	o.flags = rw ? 0 : SHOAL_STORE_READ_ONLY;
	err = shoal_store_open(name, &o, s);
	if (!err)
		return CLI_EXIT_OK;
	if (err == -ENOENT)
		return cli_fail(cmd, err, "no such service '%s'", name);
	if (err == -EINVAL)
		return cli_usage_error(cmd, "cannot open '%s': %s", name,
				       shoal_last_error());
	return cli_fail(cmd, err, "cannot open '%s'", name);
}

/* A KEY resolved: the object's info, and the key. */
struct key_ref {
	struct shoal_store_object_info info;
	const char *key; /* map: the bytes; blackboard: the number */
	uint32_t index;	 /* blackboard key */
};

static int parse_index(const char *s, uint32_t count, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -1;
	v = strtoull(s, &end, 10);
	if (*end || v >= count)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int resolve(const struct cli_cmd *cmd, struct shoal_store *s,
		   const char *arg, struct key_ref *r)
{
	uint32_t n = shoal_store_object_count(s), found = 0;
	const char *colon = strchr(arg, ':');

	memset(r, 0, sizeof(*r));
	for (uint32_t i = 0; i < n; i++) {
		struct shoal_store_object_info info;

		if (shoal_store_object_at(s, i, &info))
			continue;
		if (info.kind != SHOAL_STORE_BLACKBOARD &&
		    info.kind != SHOAL_STORE_MAP)
			continue;
		if (colon && strlen(info.name) == (size_t)(colon - arg) &&
		    !strncmp(info.name, arg, (size_t)(colon - arg))) {
			r->info = info;
			r->key = colon + 1;
			found = 1;
			break;
		}
		if (!found++) {
			r->info = info;
			r->key = arg;
		}
	}
	if (found != 1)
		return cli_usage_error(cmd,
				       found ? "'%s': say which object, as "
					       "OBJECT:KEY" :
					       "'%s': no blackboard or map "
					       "of that name",
				       arg);
	if (r->info.kind == SHOAL_STORE_BLACKBOARD &&
	    parse_index(r->key, r->info.count, &r->index))
		return cli_usage_error(cmd,
				       "'%s': a key of blackboard '%s' is a "
				       "number below %u",
				       arg, r->info.name, r->info.count);
	if (r->info.kind == SHOAL_STORE_MAP &&
	    (!*r->key || strlen(r->key) > r->info.key_size))
		return cli_usage_error(cmd,
				       "'%s': a key of map '%s' has 1..%u "
				       "bytes",
				       arg, r->info.name, r->info.key_size);
	return CLI_CONTINUE;
}

/* Bytes of a value without its trailing zeros (values are zero-padded). */
static size_t trimmed(const unsigned char *p, size_t len)
{
	while (len && !p[len - 1])
		len--;
	return len;
}

static int cmd_get(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct shoal_store *s;
	struct key_ref r;
	const char *pos[2];
	unsigned char *buf = NULL;
	int hex = 0, rc, n;
	struct cli_opt opts[] = {
		CLI_OPT_FLAG("--hex", NULL, &hex),
		CLI_OPT_END,
	};

	rc = cli_parse(cmd, opts, argc, argv, pos, 2);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = open_store(cmd, pos[0], 0, &s);
	if (rc)
		return rc;
	rc = resolve(cmd, s, pos[1], &r);
	if (rc != CLI_CONTINUE)
		goto out;
	buf = malloc(r.info.elem_size);
	if (!buf) {
		rc = cli_fail_sys(cmd, -ENOMEM, "out of memory");
		goto out;
	}
	if (r.info.kind == SHOAL_STORE_BLACKBOARD) {
		struct shoal_blackboard bb;

		n = shoal_store_blackboard(s, r.info.name, &bb);
		if (!n)
			n = shoal_blackboard_read(&bb, r.index, buf,
						  r.info.elem_size, NULL);
	} else {
		struct shoal_map m;

		n = shoal_store_map(s, r.info.name, &m);
		if (!n)
			n = shoal_map_get(&m, r.key, (uint32_t)strlen(r.key),
					  buf, r.info.elem_size);
	}
	if (n == -ENOENT) {
		rc = cli_fail(cmd, n, "'%s': no such key", pos[1]);
		goto out;
	}
	if (n < 0) {
		rc = cli_fail(cmd, n, "cannot read '%s'", pos[1]);
		goto out;
	}
	cli_print_message(buf, hex ? (size_t)n : trimmed(buf, (size_t)n), hex);
	rc = fflush(stdout) ? cli_fail_sys(cmd, -errno, "stdout") : CLI_EXIT_OK;
out:
	free(buf);
	shoal_store_close(s);
	return rc;
}

const struct cli_cmd cli_cmd_get = {
	.name = "get",
	.summary = "print a blackboard or map entry of a store",
	.synopsis = "get NAME [OBJECT:]KEY [--hex]",
	.help = "Opens store NAME read-only and prints the value of KEY on "
		"one line: as text\n"
		"when every byte is printable (trailing zero bytes dropped), "
		"else in hex.\n"
		"KEY is OBJECT:KEY, or KEY alone when the store has one "
		"blackboard or one\n"
		"map; blackboard keys are numbers, map keys strings. A "
		"blackboard key\n"
		"never written reads as zeros (an empty line).\n"
		"\n"
		"  --hex  print the whole value in hex\n"
		"\n"
		"exit status: 0, 1 failure (no such store or key), 2 usage.\n",
	.run = cmd_get,
};

static int cmd_set(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct shoal_store *s;
	struct key_ref r;
	const char *pos[3];
	uint32_t len;
	int rc, err;

	rc = cli_parse(cmd, NULL, argc, argv, pos, 3);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = open_store(cmd, pos[0], 1, &s);
	if (rc)
		return rc;
	rc = resolve(cmd, s, pos[1], &r);
	if (rc != CLI_CONTINUE)
		goto out;
	len = (uint32_t)strlen(pos[2]);
	if (len > r.info.elem_size) {
		rc = cli_usage_error(cmd, "a value of '%s' has up to %u bytes",
				     r.info.name, r.info.elem_size);
		goto out;
	}
	if (r.info.kind == SHOAL_STORE_BLACKBOARD) {
		struct shoal_blackboard bb;

		err = shoal_store_blackboard(s, r.info.name, &bb);
		if (!err)
			err = shoal_blackboard_write(&bb, r.index, pos[2], len);
	} else {
		struct shoal_map m;

		err = shoal_store_map(s, r.info.name, &m);
		if (!err)
			err = shoal_map_put(&m, r.key, (uint32_t)strlen(r.key),
					    pos[2], len);
	}
	rc = err ? cli_fail(cmd, err, "cannot set '%s'", pos[1]) : CLI_EXIT_OK;
out:
	shoal_store_close(s);
	return rc;
}

const struct cli_cmd cli_cmd_set = {
	.name = "set",
	.summary = "write a blackboard or map entry of a store",
	.synopsis = "set NAME [OBJECT:]KEY VALUE",
	.help = "Opens store NAME and makes VALUE (its bytes, the rest of "
		"the value zero)\n"
		"the value of KEY: a blackboard key's latest value (waking "
		"its watchers), or\n"
		"a map entry (inserted or replaced). KEY as for 'shoal get'.\n"
		"\n"
		"exit status: 0, 1 failure (no such store, a full map, ...), "
		"2 usage.\n",
	.run = cmd_set,
};

#define WATCH_MAX 64

static int cmd_watch(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct shoal_store_watch w[WATCH_MAX];
	struct shoal_blackboard bbs[WATCH_MAX];
	const char *pos[1 + WATCH_MAX];
	struct shoal_store *s;
	uint64_t count = 0, printed = 0;
	double timeout = 0;
	int64_t last;
	int rc, got = 0;
	unsigned char *buf = NULL;
	uint32_t cap = 0;
	struct cli_opt opts[] = {
		CLI_OPT_U64("--count", &count, 0),
		CLI_OPT_DOUBLE("--timeout", &timeout),
		CLI_OPT_END,
	};

	rc = cli_parse_some(cmd, opts, argc, argv, pos, 2, 1 + WATCH_MAX, &got);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = cli_check_count_timeout(cmd, opts, count, timeout);
	if (rc != CLI_CONTINUE)
		return rc;
	rc = open_store(cmd, pos[0], 0, &s);
	if (rc)
		return rc;
	for (int i = 1; i < got; i++) {
		struct key_ref r;

		rc = resolve(cmd, s, pos[i], &r);
		if (rc != CLI_CONTINUE)
			goto out;
		if (r.info.kind != SHOAL_STORE_BLACKBOARD) {
			rc = cli_usage_error(cmd,
					     "'%s': only blackboard keys are "
					     "watched",
					     pos[i]);
			goto out;
		}
		rc = shoal_store_blackboard(s, r.info.name, &bbs[i - 1]);
		if (rc) {
			rc = cli_fail(cmd, rc, "cannot watch '%s'", pos[i]);
			goto out;
		}
		w[i - 1] = (struct shoal_store_watch){ &bbs[i - 1], r.index, 0,
						       0 };
		w[i - 1].seen = shoal_blackboard_version(&bbs[i - 1], r.index);
		if (r.info.elem_size > cap)
			cap = r.info.elem_size;
	}
	buf = malloc(cap);
	if (!buf) {
		rc = cli_fail_sys(cmd, -ENOMEM, "out of memory");
		goto out;
	}
	cli_catch_signals();
	last = cli_now_ns();
	rc = CLI_EXIT_OK;
	while (!cli_stop && (!count || printed < count)) {
		int64_t wait = CLI_TICK_NS;
		int n;

		if (timeout > 0 &&
		    last + cli_seconds_ns(timeout) - cli_now_ns() < wait)
			wait = last + cli_seconds_ns(timeout) - cli_now_ns();
		n = wait > 0 ? shoal_store_wait(s, w, (uint32_t)got - 1, wait) :
			       -ETIMEDOUT;
		if (n == -ETIMEDOUT || n == -EAGAIN) {
			if (timeout > 0 &&
			    cli_now_ns() - last >= cli_seconds_ns(timeout)) {
				fprintf(stderr,
					"shoal: %s: no change in %g s\n",
					cmd->name, timeout);
				rc = CLI_EXIT_TIMEOUT;
				break;
			}
			continue;
		}
		if (n == -EPIPE) {
			cli_note(cmd, "store gone");
			rc = CLI_EXIT_GONE;
			break;
		}
		if (n < 0) {
			rc = cli_fail(cmd, n, "cannot wait");
			break;
		}
		last = cli_now_ns();
		for (int i = 0; i < got - 1 && (!count || printed < count);
		     i++) {
			uint64_t version = 0;
			int len;

			if (!w[i].changed)
				continue;
			len = shoal_blackboard_read(w[i].bb, w[i].key, buf, cap,
						    &version);
			if (len < 0)
				continue;
			printf("%s %llu ", pos[i + 1],
			       (unsigned long long)version);
			cli_print_message(buf, trimmed(buf, (size_t)len), 0);
			fflush(stdout);
			printed++;
		}
	}
out:
	free(buf);
	shoal_store_close(s);
	return rc;
}

const struct cli_cmd cli_cmd_watch = {
	.name = "watch",
	.summary = "print the changes of blackboard keys of a store",
	.synopsis = "watch NAME KEY... [--count N] [--timeout SEC]",
	.help = "Opens store NAME read-only and waits for the blackboard "
		"keys KEY... (as for\n"
		"'shoal get', up to 64) to change; prints \"KEY VERSION "
		"VALUE\" for each change\n"
		"it sees (several writes between two looks show as one, with "
		"the newest value).\n"
		"\n"
		"  --count N      exit after N lines\n"
		"  --timeout SEC  exit 3 when SEC seconds pass with no change\n"
		"\n"
		"exit status: 0 (--count reached, or SIGINT/SIGTERM), 1 "
		"failure, 2 usage,\n"
		"3 timed out, 4 store gone.\n",
	.run = cmd_watch,
};

/* --- 'shoal info' for a store */

struct cli_store_info {
	struct shoal_store_stats st;
	uint32_t n;
	struct shoal_store_object_info *objs;
};

int cli_store_inspect(struct shoal_registry *reg, const char *name,
		      struct cli_store_info **out)
{
	struct shoal_store_options o;
	struct cli_store_info *si;
	struct shoal_store *s;
	int err;

	*out = NULL;
	shoal_store_options_init(&o);
	o.registry = reg;
	o.flags = SHOAL_STORE_READ_ONLY;
	err = shoal_store_open(name, &o, &s);
	if (err)
		return err;
	si = calloc(1, sizeof(*si));
	if (si) {
		shoal_store_get_stats(s, &si->st);
		si->objs = calloc(si->st.objects ? si->st.objects : 1,
				  sizeof(*si->objs));
	}
	if (!si || !si->objs) {
		shoal_store_close(s);
		cli_store_free(si);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < si->st.objects; i++)
		if (!shoal_store_object_at(s, i, &si->objs[si->n]))
			si->n++;
	shoal_store_close(s);
	*out = si;
	return 0;
}

void cli_store_free(struct cli_store_info *si)
{
	if (si)
		free(si->objs);
	free(si);
}

void cli_store_print_text(const struct cli_store_info *si)
{
	printf("\nstore\n");
	printf("  objects:    %u of %u\n", si->st.objects, si->st.max_objects);
	printf("  bytes:      %llu of %llu used\n",
	       (unsigned long long)si->st.heap_used,
	       (unsigned long long)si->st.heap_size);
	printf("  event ids:  %u\n", si->st.event_ids);
	printf("\nobjects\n");
	printf("  %-24s %-10s %9s %9s %6s %s\n", "name", "kind", "count",
	       "elem", "key", "type");
	for (uint32_t i = 0; i < si->n; i++) {
		const struct shoal_store_object_info *o = &si->objs[i];

		printf("  %-24s %-10s %9u %9u %6u %s%s\n", o->name,
		       kind_name(o->kind), o->count, o->elem_size, o->key_size,
		       o->type_name[0] ? o->type_name : "-",
		       (o->flags & SHOAL_STORE_MANY_WRITERS) ?
			       " (many writers)" :
			       "");
	}
}

void cli_store_print_json(const struct cli_store_info *si)
{
	printf(",\n \"store\": {\"objects\": %u, \"max_objects\": %u, "
	       "\"heap_used\": %llu, \"heap_size\": %llu, \"event_ids\": %u},\n",
	       si->st.objects, si->st.max_objects,
	       (unsigned long long)si->st.heap_used,
	       (unsigned long long)si->st.heap_size, si->st.event_ids);
	printf(" \"objects\": [");
	for (uint32_t i = 0; i < si->n; i++) {
		const struct shoal_store_object_info *o = &si->objs[i];

		printf("%s\n  {\"name\": ", i ? "," : "");
		cli_json_string(stdout, o->name);
		printf(", \"kind\": \"%s\", \"count\": %u, \"elem_size\": %u, "
		       "\"key_size\": %u, \"many_writers\": %s, \"type\": ",
		       kind_name(o->kind), o->count, o->elem_size, o->key_size,
		       (o->flags & SHOAL_STORE_MANY_WRITERS) ? "true" :
							       "false");
		cli_json_string(stdout, o->type_name);
		printf(", \"offset\": %llu, \"size\": %llu}",
		       (unsigned long long)o->offset,
		       (unsigned long long)o->size);
	}
	printf("%s]", si->n ? "\n " : "");
}
