/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpus for segment_open_fuzz into a directory, and checks
 * that each seed gets the answer from shoal_segment_open() it was made for.
 *
 * Usage: make_seed_corpus DIR [DESCRIPTOR_DIR]
 *   (fuzz/corpus/segment was made this way, and the minor 2 and 3 seeds
 *   of fuzz/corpus/descriptor with the second argument; both are created
 *   if missing)
 *
 * Seeds are small on purpose: a fuzzer mutates a 400-byte image far faster
 * than a 16 KiB one, and the format does not need the file to be a page
 * multiple. One seed comes from shoal_segment_create() itself, so the corpus
 * starts from what the library really writes; the others are built from the
 * format in src/segment/layout.h, valid ones (including forward-compatible shapes a
 * later minor version may write) and one corruption of each kind of check, so
 * the fuzzer starts next to every error path.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <shoal/segment.h>

#include "segment/layout.h"
#include "registry/registry_internal.h"

static const char *outdir;
static int failures;

/* Write @img and check that open() on a sealed memfd of it returns @want. */
static void seed(const char *name, const void *img, size_t len, int want)
{
	struct shoal_segment *seg = NULL;
	char path[4096];
	FILE *f;
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(img, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
	fd = memfd_create("seed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || (len && pwrite(fd, img, len, 0) != (ssize_t)len) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		perror("memfd");
		exit(1);
	}
	r = shoal_segment_open(fd, 0, &seg);
	if (r == 0)
		shoal_segment_close(seg);
	close(fd);
	printf("%-24s %5zu bytes  open = %d%s%s\n", name, len, r, r ? ": " : "",
	       r ? shoal_last_error() : "");
	if (r != want) {
		fprintf(stderr, "%s: open = %d, want %d\n", name, r, want);
		failures++;
	}
}

/*
 * A compact valid image: three objects right after the table, the last one
 * 3 bytes long, so the file ends on no particular boundary.
 */
static size_t compact(unsigned char *img, size_t cap)
{
	struct shoal__seg_header *h = (void *)img;
	struct shoal__seg_entry *e = (void *)(img + 64);
	static const struct {
		const char *name;
		uint32_t kind, align;
		uint64_t offset, size;
	} objs[] = {
		{ "a", SHOAL_OBJECT_BYTES, 8, 256, 8 },
		{ "bb", 1024, 64, 320, 64 },
		{ "c", SHOAL_OBJECT_NOTIFY, 1, 384, 3 },
	};

	memset(img, 0, cap);
	h->magic = SHOAL__SEG_MAGIC;
	h->version_major = SHOAL__SEG_VERSION_MAJOR;
	h->version_minor = SHOAL__SEG_VERSION_MINOR;
	h->header_size = 64;
	h->total_size = 387;
	h->epoch = 0x5eed;
	h->object_count = 3;
	h->table_offset = 64;
	h->entry_size = 64;
	for (int i = 0; i < 3; i++) {
		snprintf(e[i].name, sizeof(e[i].name), "%s", objs[i].name);
		e[i].kind = objs[i].kind;
		e[i].align = objs[i].align;
		e[i].offset = objs[i].offset;
		e[i].size = objs[i].size;
		memset(img + objs[i].offset, 'A' + i, objs[i].size);
	}
	atomic_store_explicit(&h->state, SHOAL__SEG_STATE_READY,
			      memory_order_relaxed);
	return 387;
}

/*
 * Descriptor seeds for descriptor_parse_fuzz (fuzz/corpus/descriptor), for
 * the fields of minor 2: a valid minor 2 descriptor naming its owner's
 * namespaces, and a minor 1 one whose bytes there are not zero (a reader
 * must take them as unknown); for minor 3's origin: a valid one, a minor
 * 2 one whose origin bytes are not zero (read as ""), and a minor 3 one
 * whose origin is not printable (refused). Each is checked against what
 * it was made for.
 */
static void desc_seed_origin(const char *dir, const char *name,
			     const struct shoal__descriptor *d, int want,
			     uint64_t want_pid_ino, const char *want_origin)
{
	struct shoal__descriptor out;
	struct shoal_service_info info;
	struct shoal__ns ns;
	char path[4096];
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(d, 1, sizeof(*d), f) != sizeof(*d) || fclose(f)) {
		perror(path);
		exit(1);
	}
	r = shoal__descriptor_parse(d, sizeof(*d), &out, &info);
	memset(&ns, 0, sizeof(ns));
	if (r == 0)
		shoal__descriptor_owner_ns(&out, &ns);
	else
		info.origin[0] = '\0';
	printf("%-28s parse = %d, pidns ino %llu, origin '%s'\n", name, r,
	       (unsigned long long)ns.pid_ino, info.origin);
	if (r != want || ns.pid_ino != want_pid_ino ||
	    strcmp(info.origin, want_origin)) {
		fprintf(stderr,
			"%s: parse = %d, pidns ino %llu; want %d, %llu\n", name,
			r, (unsigned long long)ns.pid_ino, want,
			(unsigned long long)want_pid_ino);
		failures++;
	}
}

static void desc_seed(const char *dir, const char *name,
		      const struct shoal__descriptor *d, int want,
		      uint64_t want_pid_ino)
{
	desc_seed_origin(dir, name, d, want, want_pid_ino, "");
}

/* Seals @d as minor @minor (the checksum over those bytes). */
static void seal_minor(struct shoal__descriptor *d, uint16_t minor)
{
	shoal__descriptor_seal(d);
	d->version_minor = minor;
	d->checksum = shoal__descriptor_checksum(d);
}

static void descriptor_seeds(const char *dir)
{
	struct shoal__descriptor d;

	if (mkdir(dir, 0755) && errno != EEXIST) {
		perror(dir);
		exit(1);
	}
	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "ns/svc");
	snprintf(d.type_name, sizeof(d.type_name), "test");
	snprintf(d.socket_name, sizeof(d.socket_name),
		 "shoal-fd/1/0000000000000007/00000000000000aa");
	d.flags = SHOAL__DESC_FLAG_FD_SERVER;
	d.epoch = 7;
	d.created_ns = 1;
	d.owner_pid = 1; /* pid 1 of its namespace */
	d.owner_start = 12345;
	d.owner_uid = 1000;
	d.owner_gid = 1000;
	d.pattern = 2;
	d.memfd = 3;
	d.eventfd_count = 1;
	d.eventfds[0] = 4;
	d.memfd_size = 4096;
	d.owner_pidns_dev = 4;
	d.owner_pidns_ino = 4026532000u;
	d.owner_userns_dev = 4;
	d.owner_userns_ino = 4026531837u;
	seal_minor(&d, 2);
	desc_seed(dir, "valid-minor2-ns", &d, 0, 4026532000u);

	/* Unknown namespaces (a writer without /proc): zeros. */
	d.owner_pidns_dev = d.owner_pidns_ino = 0;
	d.owner_userns_dev = d.owner_userns_ino = 0;
	seal_minor(&d, 2);
	desc_seed(dir, "valid-minor2-ns-unknown", &d, 0, 0);

	/* Minor 1 knew nothing of them: whatever is there reads as 0. */
	d.owner_pidns_dev = 4;
	d.owner_pidns_ino = 4026532000u;
	seal_minor(&d, 1);
	desc_seed(dir, "valid-minor1-ns-ignored", &d, 0, 0);

	/* Minor 3: a gateway's mirror says where it comes from. */
	snprintf(d.origin, sizeof(d.origin), "%s",
		 "nats://127.0.0.1:4222 shoal host-a ns/svc");
	seal_minor(&d, 3);
	desc_seed_origin(dir, "valid-minor3-origin", &d, 0, 4026532000u,
			 d.origin);

	/* Minor 2 had no origin: whatever is there reads as "". */
	seal_minor(&d, 2);
	desc_seed(dir, "valid-minor2-origin-ignored", &d, 0, 4026532000u);

	/* Minor 3 with an unprintable origin: not a service. */
	d.origin[5] = '\n';
	seal_minor(&d, 3);
	desc_seed(dir, "bad-minor3-origin", &d, -EBADMSG, 0);
	memset(d.origin, 'o', sizeof(d.origin)); /* unterminated */
	seal_minor(&d, 3);
	desc_seed(dir, "bad-minor3-origin-long", &d, -EBADMSG, 0);
}

int main(int argc, char **argv)
{
	static unsigned char img[4096] __attribute__((aligned(64)));
	struct shoal__seg_header *h = (void *)img;
	struct shoal__seg_entry *e = (void *)(img + 64);
	size_t len;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: %s DIR [DESCRIPTOR_DIR]\n", argv[0]);
		return 1;
	}
	if (argc == 3)
		descriptor_seeds(argv[2]);
	outdir = argv[1];
	if (mkdir(outdir, 0755) && errno != EEXIST) {
		perror(outdir);
		return 1;
	}

	/* What shoal_segment_create() writes, with a fixed epoch. */
	{
		static const struct shoal_object_spec objs[] = {
			{ "data", SHOAL_OBJECT_BYTES, 0, 48 },
			{ "ring", SHOAL_OBJECT_SPSC_RING, 64, 256 },
		};
		struct shoal_segment_options opts;
		struct shoal_segment *seg = NULL;
		unsigned char *p = NULL;
		unsigned char *copy;

		shoal_segment_options_init(&opts);
		opts.epoch = 0x5eed;
		if (shoal_segment_create(objs, 2, &opts, &seg) ||
		    shoal_segment_find(seg, "data", 0, (void **)&p, NULL) ||
		    shoal_segment_ready(seg)) {
			fprintf(stderr, "create: %s\n", shoal_last_error());
			return 1;
		}
		memcpy(p, "segment data written by its creator", 36);
		len = shoal_segment_size(seg);
		copy = malloc(len);
		if (!copy || pread(shoal_segment_fd(seg), copy, len, 0) !=
				     (ssize_t)len) {
			perror("pread");
			return 1;
		}
		shoal_segment_destroy(seg);
		seed("valid-created", copy, len, 0);
		free(copy);
	}

	len = compact(img, sizeof(img));
	seed("valid-compact", img, len, 0);

	/* A header and nothing else: no objects. */
	compact(img, sizeof(img));
	h->object_count = 0;
	h->total_size = 64;
	seed("valid-empty", img, 64, 0);

	/*
	 * A later minor: a longer header and wider entries (zero in the fields
	 * this version does not know), two of them filling the space up to
	 * object "a" exactly.
	 */
	len = compact(img, sizeof(img));
	{
		unsigned char tab[2 * 64];

		memcpy(tab, e, sizeof(tab));
		memset(img + 64, 0, 256 - 64);
		memcpy(img + 80, tab, 64);
		memcpy(img + 80 + 88, tab + 64, 64);
	}
	h->version_minor = SHOAL__SEG_VERSION_MINOR + 1;
	h->header_size = 80;
	h->table_offset = 80;
	h->entry_size = 88;
	h->object_count = 2;
	seed("valid-newer-minor", img, len, 0);

	len = compact(img, sizeof(img));
	h->version_major = SHOAL__SEG_VERSION_MAJOR + 1;
	seed("bad-major", img, len, -EPROTO);

	len = compact(img, sizeof(img));
	atomic_store_explicit(&h->state, SHOAL__SEG_STATE_INIT,
			      memory_order_relaxed);
	seed("not-ready", img, len, -EAGAIN);

	len = compact(img, sizeof(img));
	e[2].offset = 328; /* inside "bb" */
	seed("bad-overlap", img, len, -EBADMSG);

	len = compact(img, sizeof(img));
	memset(e[0].name, 'n', sizeof(e[0].name));
	seed("bad-name", img, len, -EBADMSG);

	len = compact(img, sizeof(img));
	h->total_size = 4096; /* more than the file holds */
	seed("bad-total-size", img, len, -EBADMSG);

	compact(img, sizeof(img));
	seed("short-header", img, 40, -EBADMSG);

	return failures ? 1 : 0;
}
