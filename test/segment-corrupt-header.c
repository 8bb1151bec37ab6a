/* shoal-test: label=unit timeout=60 */
/* SPDX-License-Identifier: MIT */
/*
 * A peer's segment is untrusted input. Starting from the bytes of a valid
 * READY segment, corrupt one header or table field at a time, put the result
 * in a fresh memfd sealed exactly as shoal_segment_ready() seals one, and
 * check that shoal_segment_open() answers with the documented code (never a
 * crash, never a fault, never a read outside the file: CI runs this under
 * ASan), leaves *out alone and leaks neither an fd nor a mapping.
 * Compatible changes (a newer minor version, a longer header or table entry,
 * fewer objects) must still open.
 *
 * The image's layout, from the create() call below (offsets in bytes):
 *   0      header (64)
 *   64     table: entry 0 "beta", 1 "alpha", 2 "gamma" (64 each)
 *   4096   beta  (align 4096, 8192 bytes)
 *   12288  alpha (align 64, 100 bytes)
 *   12416  gamma (align 8, placed on its own line, 1 byte)
 *   16384  end (a page multiple)
 * The gap between the table and beta leaves room to move the table around.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <shoal/segment.h>

#include "harness.h"
#include "segment/layout.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define OUT_SENTINEL ((struct shoal_segment *)(uintptr_t)0x5a5a5a5a)
#define READY_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
#define MEMFD_NAME "shoal-corrupt"

#define BETA 0
#define ALPHA 1
#define GAMMA 2

static unsigned char *base_img; /* the valid image, never modified */
static unsigned char *buf;	/* the case being tried */
static size_t img_len;

static struct shoal__seg_header *hdr(void)
{
	return (struct shoal__seg_header *)buf;
}

/* Entry @i of the table at its original place (offset 64, 64 bytes each). */
static struct shoal__seg_entry *ent(uint32_t i)
{
	return (struct shoal__seg_entry *)(buf + 64) + i;
}

/* Mappings of our test memfds, so a failed open that forgets munmap shows. */
static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "/memfd:" MEMFD_NAME))
			n++;
	fclose(f);
	return n;
}

/* A fresh memfd holding @len bytes of @img, sealed as ready() seals. */
static int sealed_memfd(const unsigned char *img, size_t len, int seals)
{
	int fd = memfd_create(MEMFD_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	if ((len && pwrite(fd, img, len, 0) != (ssize_t)len) ||
	    fcntl(fd, F_ADD_SEALS, seals)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read every byte of every object the validated table lists. */
static int walk(const struct shoal_segment *seg)
{
	uint32_t n = shoal_segment_object_count(seg);
	unsigned sum = 0;

	for (uint32_t i = 0; i < n; i++) {
		struct shoal_object_info info;
		const unsigned char *p = NULL;

		CHECK_EQ(shoal_segment_object(seg, i, &info), 0);
		CHECK_EQ(shoal_segment_find(seg, info.name, info.kind,
					    (void **)&p, NULL),
			 0);
		CHECK(info.offset + info.size <= shoal_segment_size(seg));
		for (uint64_t b = 0; b < info.size; b++)
			sum += p[b];
	}
	return sum == 0xdeadbeef ? TEST_FAIL : TEST_PASS; /* keep the reads */
}

/*
 * Open @len bytes of @img in both modes; both must give @want. On success the
 * objects are walked; on failure *out must be untouched and a detail set.
 */
static int try_bytes(const unsigned char *img, size_t len, int want,
		     const char *what)
{
	int fd = sealed_memfd(img, len, READY_SEALS);
	int fds, maps;

	CHECK(fd >= 0);
	fds = test_count_fds();
	maps = count_maps();
	for (uint32_t flags = 0; flags <= SHOAL_SEGMENT_OPEN_READ_ONLY;
	     flags += SHOAL_SEGMENT_OPEN_READ_ONLY) {
		struct shoal_segment *seg = OUT_SENTINEL;
		int r = shoal_segment_open(fd, flags, &seg);

		if (r != want) {
			fprintf(stderr,
				"%s (flags %u): open = %d, want %d (%s)\n",
				what, flags, r, want, shoal_last_error());
			if (r == 0)
				shoal_segment_close(seg);
			close(fd);
			return TEST_FAIL;
		}
		if (r == 0) {
			int w = walk(seg);

			shoal_segment_close(seg);
			CHECK_EQ(w, TEST_PASS);
		} else {
			CHECK(seg == OUT_SENTINEL);
			CHECK(shoal_last_error()[0] != '\0');
		}
		CHECK_EQ(test_count_fds(), fds);
		CHECK_EQ(count_maps(), maps);
	}
	close(fd);
	return TEST_PASS;
}

/*
 * Start from the valid image, apply the statements, try it. A macro rather
 * than a callback so that each case reads as one line of field = value.
 */
#define CORRUPT(want, what, ...)                                          \
	do {                                                              \
		memcpy(buf, base_img, img_len);                           \
		__VA_ARGS__;                                              \
		CHECK_EQ(try_bytes(buf, img_len, want, what), TEST_PASS); \
	} while (0)

/* Move the table to @off, optionally widening each entry to @esize bytes. */
static void move_table(uint32_t off, uint32_t esize)
{
	unsigned char tab[3 * 64];

	memcpy(tab, base_img + 64, sizeof(tab));
	memset(buf + 64, 0, sizeof(tab));
	for (int i = 0; i < 3; i++)
		memcpy(buf + off + (size_t)i * esize, tab + i * 64, 64);
	hdr()->table_offset = off;
	hdr()->entry_size = esize;
}

static int make_base(void)
{
	static const struct shoal_object_spec objs[] = {
		{ "beta", 1024, 4096, 8192 },
		{ "alpha", SHOAL_OBJECT_BYTES, 0, 100 },
		{ "gamma", SHOAL_OBJECT_NOTIFY, 8, 1 },
	};
	struct shoal_segment_options opts;
	struct shoal_segment *seg = NULL;
	unsigned char *p = NULL;

	shoal_segment_options_init(&opts);
	opts.debug_name = MEMFD_NAME;
	CHECK_EQ(shoal_segment_create(objs, 3, &opts, &seg), 0);
	CHECK_EQ(shoal_segment_find(seg, "alpha", 0, (void **)&p, NULL), 0);
	memset(p, 'a', 100);
	CHECK_EQ(shoal_segment_ready(seg), 0);
	img_len = (size_t)shoal_segment_size(seg);
	base_img = malloc(img_len);
	buf = malloc(img_len);
	CHECK(base_img && buf);
	CHECK_EQ(pread(shoal_segment_fd(seg), base_img, img_len, 0),
		 (ssize_t)img_len);
	shoal_segment_destroy(seg);

	/* The layout this file's cases are written against. */
	memcpy(buf, base_img, img_len);
	CHECK_EQ(img_len, 16384);
	CHECK_EQ(hdr()->magic, SHOAL__SEG_MAGIC);
	CHECK_EQ(hdr()->header_size, 64);
	CHECK_EQ(hdr()->table_offset, 64);
	CHECK_EQ(hdr()->entry_size, 64);
	CHECK_EQ(hdr()->object_count, 3);
	CHECK_EQ(hdr()->state, SHOAL__SEG_STATE_READY);
	CHECK(strcmp(ent(BETA)->name, "beta") == 0);
	CHECK(strcmp(ent(ALPHA)->name, "alpha") == 0);
	CHECK(strcmp(ent(GAMMA)->name, "gamma") == 0);
	CHECK_EQ(ent(BETA)->offset, 4096);
	CHECK_EQ(ent(ALPHA)->offset, 12288);
	CHECK_EQ(ent(GAMMA)->offset, 12416);
	return TEST_PASS;
}

/* The unmodified image opens: the control for everything below. */
static int test_valid(void)
{
	CORRUPT(0, "unmodified", (void)0);
	return TEST_PASS;
}

static int test_magic(void)
{
	CORRUPT(-EBADMSG, "magic bit flipped", hdr()->magic ^= 1);
	CORRUPT(-EBADMSG, "magic 0", hdr()->magic = 0);
	CORRUPT(-EBADMSG, "magic byte-swapped",
		hdr()->magic = __builtin_bswap64(SHOAL__SEG_MAGIC));
	/* Bad magic wins over everything else being wrong too. */
	memset(buf, 0xff, 64);
	CHECK_EQ(try_bytes(buf, img_len, -EBADMSG, "header all 0xff"),
		 TEST_PASS);
	return TEST_PASS;
}

static int test_version(void)
{
	CORRUPT(-EPROTO, "major + 1",
		hdr()->version_major = SHOAL__SEG_VERSION_MAJOR + 1);
	CORRUPT(-EPROTO, "major 0", hdr()->version_major = 0);
	CORRUPT(-EPROTO, "major 0xffff", hdr()->version_major = 0xffff);
	/* A newer minor only adds what older readers may ignore. */
	CORRUPT(0, "minor + 1",
		hdr()->version_minor = SHOAL__SEG_VERSION_MINOR + 1);
	CORRUPT(0, "minor 0xffff", hdr()->version_minor = 0xffff);
	return TEST_PASS;
}

static int test_header_size(void)
{
	CORRUPT(-EBADMSG, "header_size 0", hdr()->header_size = 0);
	CORRUPT(-EBADMSG, "header_size 63", hdr()->header_size = 63);
	/* Longer than the table offset: header and table would overlap. */
	CORRUPT(-EBADMSG, "header_size 72", hdr()->header_size = 72);
	CORRUPT(-EBADMSG, "header_size > file",
		hdr()->header_size = (uint32_t)img_len + 1);
	CORRUPT(-EBADMSG, "header_size UINT32_MAX",
		hdr()->header_size = UINT32_MAX);
	/* A later minor's longer header, with the table moved past it. */
	CORRUPT(0, "header_size 128, table at 128", move_table(128, 64),
		hdr()->header_size = 128,
		hdr()->version_minor = SHOAL__SEG_VERSION_MINOR + 1);
	return TEST_PASS;
}

static int test_total_size(void)
{
	CORRUPT(-EBADMSG, "total_size + 1", hdr()->total_size += 1);
	CORRUPT(-EBADMSG, "total_size - 1", hdr()->total_size -= 1);
	CORRUPT(-EBADMSG, "total_size 0", hdr()->total_size = 0);
	CORRUPT(-EBADMSG, "total_size 4096", hdr()->total_size = 4096);
	CORRUPT(-EBADMSG, "total_size x2", hdr()->total_size *= 2);
	CORRUPT(-EBADMSG, "total_size SIZE_MAX",
		hdr()->total_size = SHOAL_SEGMENT_SIZE_MAX);
	CORRUPT(-EBADMSG, "total_size UINT64_MAX",
		hdr()->total_size = UINT64_MAX);
	return TEST_PASS;
}

static int test_epoch_and_state(void)
{
	CORRUPT(-EBADMSG, "epoch 0", hdr()->epoch = 0);
	CORRUPT(0, "epoch UINT64_MAX", hdr()->epoch = UINT64_MAX);
	/* INIT means "not yet": the caller should retry. */
	CORRUPT(-EAGAIN, "state INIT", hdr()->state = SHOAL__SEG_STATE_INIT);
	/* Any other value is neither, so it is corrupt (src/segment/layout.h). */
	CORRUPT(-EBADMSG, "state 1", hdr()->state = 1);
	CORRUPT(-EBADMSG, "state READY ^ 1",
		hdr()->state = SHOAL__SEG_STATE_READY ^ 1);
	CORRUPT(-EBADMSG, "state UINT32_MAX", hdr()->state = UINT32_MAX);
	return TEST_PASS;
}

static int test_object_count(void)
{
	CORRUPT(-EBADMSG, "object_count OBJECTS_MAX + 1",
		hdr()->object_count = SHOAL_SEGMENT_OBJECTS_MAX + 1);
	CORRUPT(-EBADMSG, "object_count UINT32_MAX",
		hdr()->object_count = UINT32_MAX);
	/* Counts past the three real entries read zeroed ones: no name. */
	CORRUPT(-EBADMSG, "object_count 4", hdr()->object_count = 4);
	CORRUPT(-EBADMSG, "object_count OBJECTS_MAX",
		hdr()->object_count = SHOAL_SEGMENT_OBJECTS_MAX);
	/* Fewer objects is a smaller, still consistent table. */
	CORRUPT(0, "object_count 2", hdr()->object_count = 2);
	CORRUPT(0, "object_count 0", hdr()->object_count = 0);
	return TEST_PASS;
}

static int test_table_offset(void)
{
	CORRUPT(-EBADMSG, "table_offset 0", hdr()->table_offset = 0);
	CORRUPT(-EBADMSG, "table_offset inside header",
		hdr()->table_offset = 32);
	CORRUPT(-EBADMSG, "table_offset misaligned", move_table(68, 64));
	CORRUPT(-EBADMSG, "table_offset near end",
		hdr()->table_offset = (uint32_t)img_len - 64);
	CORRUPT(-EBADMSG, "table_offset at end",
		hdr()->table_offset = (uint32_t)img_len);
	CORRUPT(-EBADMSG, "table_offset UINT32_MAX",
		hdr()->table_offset = UINT32_MAX);
	CORRUPT(-EBADMSG, "table_offset UINT32_MAX & ~7",
		hdr()->table_offset = UINT32_MAX & ~7u);
	/* A well-formed table that runs into beta's bytes. */
	CORRUPT(-EBADMSG, "table overlaps first object", move_table(4032, 64));
	/* Moved intact to a free place: still fine. */
	CORRUPT(0, "table moved to 1024", move_table(1024, 64));
	return TEST_PASS;
}

static int test_entry_size(void)
{
	CORRUPT(-EBADMSG, "entry_size 0", hdr()->entry_size = 0);
	CORRUPT(-EBADMSG, "entry_size 56", hdr()->entry_size = 56);
	CORRUPT(-EBADMSG, "entry_size 65", hdr()->entry_size = 65);
	CORRUPT(-EBADMSG, "entry_size UINT32_MAX",
		hdr()->entry_size = UINT32_MAX);
	/*
	 * With one object, only entry 0 is read, and it is intact: the
	 * entry_size field alone must be refused when short or unaligned.
	 */
	CORRUPT(-EBADMSG, "entry_size 56, one object", hdr()->entry_size = 56,
		hdr()->object_count = 1);
	CORRUPT(-EBADMSG, "entry_size 68, one object", hdr()->entry_size = 68,
		hdr()->object_count = 1);
	CORRUPT(-EBADMSG, "entry_size 1, one object", hdr()->entry_size = 1,
		hdr()->object_count = 1);
	/* Wider entries with the table re-laid: a later minor's table. */
	CORRUPT(0, "entry_size 128", move_table(64, 128));
	/* Wider entries over the old table: entry 1 reads gamma's slot. */
	CORRUPT(-EBADMSG, "entry_size 128, table not re-laid",
		hdr()->entry_size = 128);
	return TEST_PASS;
}

static int test_entry_bounds(void)
{
	uint64_t end = img_len;

	CORRUPT(-EBADMSG, "offset at end", ent(GAMMA)->offset = end);
	CORRUPT(-EBADMSG, "offset past end", ent(ALPHA)->offset = end + 4096);
	CORRUPT(-EBADMSG, "object runs past end",
		ent(ALPHA)->offset = end - 64);
	CORRUPT(-EBADMSG, "size past end",
		ent(GAMMA)->size = end - ent(GAMMA)->offset + 1);
	/* The exact remainder is fine. */
	CORRUPT(0, "size to end", ent(GAMMA)->size = end - ent(GAMMA)->offset);
	/* offset + size wraps around 2^64 to something small. */
	CORRUPT(-EBADMSG, "offset + size wraps",
		ent(BETA)->offset = UINT64_MAX - 4095, ent(BETA)->size = 8192);
	CORRUPT(-EBADMSG, "size wraps",
		ent(ALPHA)->size = UINT64_MAX - ent(ALPHA)->offset + 2);
	CORRUPT(-EBADMSG, "size UINT64_MAX", ent(GAMMA)->size = UINT64_MAX);
	CORRUPT(-EBADMSG, "size 0", ent(ALPHA)->size = 0);
	/* Objects live past the table, never on the header or the table. */
	CORRUPT(-EBADMSG, "offset 0 (header)", ent(ALPHA)->offset = 0);
	CORRUPT(-EBADMSG, "offset 64 (table)", ent(ALPHA)->offset = 64);
	CORRUPT(-EBADMSG, "object ends in table", ent(ALPHA)->offset = 128,
		ent(ALPHA)->size = 64);
	return TEST_PASS;
}

static int test_entry_overlap(void)
{
	CORRUPT(-EBADMSG, "alpha on beta",
		ent(ALPHA)->offset = ent(BETA)->offset);
	CORRUPT(-EBADMSG, "alpha on beta's last line",
		ent(ALPHA)->offset = 4096 + 8192 - 64);
	CORRUPT(-EBADMSG, "gamma inside alpha",
		ent(GAMMA)->offset = 12288 + 64);
	CORRUPT(-EBADMSG, "beta grown over alpha", ent(BETA)->size = 8193);
	CORRUPT(-EBADMSG, "beta covers everything",
		ent(BETA)->size = img_len - 4096);
	/* Touching is not overlapping: alpha grown to gamma's first byte. */
	CORRUPT(0, "alpha grown to touch gamma", ent(ALPHA)->size = 128);
	CORRUPT(-EBADMSG, "alpha grown one into gamma", ent(ALPHA)->size = 129);
	return TEST_PASS;
}

static int test_entry_align(void)
{
	CORRUPT(-EBADMSG, "alpha offset + 8", ent(ALPHA)->offset += 8);
	CORRUPT(-EBADMSG, "beta offset + 64", ent(BETA)->offset += 64);
	CORRUPT(-EBADMSG, "align 0", ent(ALPHA)->align = 0);
	CORRUPT(-EBADMSG, "align 3", ent(ALPHA)->align = 3);
	CORRUPT(-EBADMSG, "align 48", ent(ALPHA)->align = 48);
	CORRUPT(-EBADMSG, "align 8192", ent(ALPHA)->align = 8192);
	CORRUPT(-EBADMSG, "align 2^31", ent(ALPHA)->align = 1u << 31);
	CORRUPT(-EBADMSG, "align UINT32_MAX", ent(ALPHA)->align = UINT32_MAX);
	/*
	 * More than a page: the mapping's base is only page-aligned, so an
	 * offset that is a multiple of 8192 still gives no 8192-aligned address.
	 */
	CORRUPT(0, "beta moved to 8192", ent(BETA)->offset = 8192,
		ent(BETA)->size = 4096);
	CORRUPT(-EBADMSG, "align 8192 at offset 8192", ent(BETA)->offset = 8192,
		ent(BETA)->size = 4096, ent(BETA)->align = 8192);
	/* A weaker alignment than the offset has is still consistent. */
	CORRUPT(0, "beta align 64", ent(BETA)->align = 64);
	CORRUPT(0, "gamma align 1", ent(GAMMA)->align = 1);
	return TEST_PASS;
}

static int test_entry_name_kind(void)
{
	CORRUPT(-EBADMSG, "name not NUL-terminated",
		memset(ent(ALPHA)->name, 'x', SHOAL__SEG_NAME_BYTES));
	CORRUPT(-EBADMSG, "name empty", ent(ALPHA)->name[0] = '\0');
	CORRUPT(-EBADMSG, "name with \\x01", ent(ALPHA)->name[2] = 1);
	CORRUPT(-EBADMSG, "name with \\n", ent(ALPHA)->name[2] = '\n');
	CORRUPT(-EBADMSG, "name with DEL", ent(ALPHA)->name[0] = 0x7f);
	CORRUPT(-EBADMSG, "name with 0x80", ent(ALPHA)->name[4] = (char)0x80);
	CORRUPT(-EBADMSG, "name with 0xff", ent(ALPHA)->name[1] = (char)0xff);
	CORRUPT(-EBADMSG, "duplicate names",
		memcpy(ent(ALPHA)->name, "beta", 5));
	CORRUPT(-EBADMSG, "duplicate names, last two",
		memcpy(ent(GAMMA)->name, "alpha", 6));
	/* The longest name fills all but the terminator. */
	CORRUPT(0, "39-byte name",
		memset(ent(ALPHA)->name, 'y', SHOAL__SEG_NAME_BYTES - 1),
		ent(ALPHA)->name[SHOAL__SEG_NAME_BYTES - 1] = '\0');
	CORRUPT(-EBADMSG, "kind 0", ent(GAMMA)->kind = 0);
	return TEST_PASS;
}

/*
 * Build, from the format alone (src/segment/layout.h), an image of @n objects of 64
 * bytes each, right after the table, in a file of exactly the bytes needed
 * (not a page multiple). Returns its length.
 */
static size_t build_image(unsigned char *img, uint32_t n)
{
	struct shoal__seg_header *h = (struct shoal__seg_header *)img;
	struct shoal__seg_entry *e = (struct shoal__seg_entry *)(img + 64);
	uint64_t objs = 64 + (uint64_t)n * 64;

	memset(img, 0, objs + (uint64_t)n * 64);
	h->magic = SHOAL__SEG_MAGIC;
	h->version_major = SHOAL__SEG_VERSION_MAJOR;
	h->version_minor = SHOAL__SEG_VERSION_MINOR;
	h->header_size = 64;
	h->epoch = 1;
	h->object_count = n;
	h->table_offset = 64;
	h->entry_size = 64;
	for (uint32_t i = 0; i < n; i++) {
		snprintf(e[i].name, sizeof(e[i].name), "object-%u", i);
		e[i].kind = 1024 + i;
		e[i].align = 64;
		e[i].offset = objs + (uint64_t)i * 64;
		e[i].size = i + 1 < n ? 64 : 24; /* the last one is short */
		memset(img + e[i].offset, (int)i, e[i].size);
	}
	/* A file whose size is no multiple of 64 or of the page. */
	h->total_size = objs + (uint64_t)n * 64 - 40;
	atomic_store_explicit(&h->state, SHOAL__SEG_STATE_READY,
			      memory_order_relaxed);
	return (size_t)h->total_size;
}

/*
 * Hand-built images: what the format allows opens, including the most
 * objects; one more table entry than SHOAL_SEGMENT_OBJECTS_MAX, all of them
 * well formed, does not.
 */
static int test_hand_built(void)
{
	static unsigned char img[64 + 2 * 64 * (SHOAL_SEGMENT_OBJECTS_MAX + 1)]
		__attribute__((aligned(64)));
	size_t len;

	len = build_image(img, 1);
	CHECK_EQ(try_bytes(img, len, 0, "hand-built, 1 object"), TEST_PASS);
	build_image(img, 0);
	((struct shoal__seg_header *)img)->total_size = 64;
	CHECK_EQ(try_bytes(img, 64, 0, "hand-built, header only"), TEST_PASS);
	len = build_image(img, SHOAL_SEGMENT_OBJECTS_MAX);
	CHECK_EQ(try_bytes(img, len, 0, "hand-built, OBJECTS_MAX objects"),
		 TEST_PASS);
	len = build_image(img, SHOAL_SEGMENT_OBJECTS_MAX + 1);
	CHECK_EQ(try_bytes(img, len, -EBADMSG,
			   "hand-built, OBJECTS_MAX + 1 objects"),
		 TEST_PASS);
	return TEST_PASS;
}

/* Files too short to hold a header: never read past their end. */
static int test_short_files(void)
{
	CHECK_EQ(try_bytes(base_img, 0, -EBADMSG, "empty memfd"), TEST_PASS);
	CHECK_EQ(try_bytes(base_img, 1, -EBADMSG, "1-byte memfd"), TEST_PASS);
	CHECK_EQ(try_bytes(base_img, 8, -EBADMSG, "magic only"), TEST_PASS);
	CHECK_EQ(try_bytes(base_img, 63, -EBADMSG, "63-byte memfd"), TEST_PASS);
	/* A whole header, but the file ends before the table. */
	CHECK_EQ(try_bytes(base_img, 64, -EBADMSG, "header only"), TEST_PASS);
	CHECK_EQ(try_bytes(base_img, 100, -EBADMSG, "header + part of table"),
		 TEST_PASS);
	return TEST_PASS;
}

/*
 * The header promises more than the file holds. Mapping the promised size
 * and touching it would SIGBUS; the size must come from the file.
 */
static int test_header_claims_more(void)
{
	/* The first page (header and table) of a 4-page segment. */
	CHECK_EQ(try_bytes(base_img, 4096, -EBADMSG,
			   "first page of a 16 KiB segment"),
		 TEST_PASS);
	CHECK_EQ(try_bytes(base_img, 12288 + 64, -EBADMSG,
			   "cut in the middle of alpha"),
		 TEST_PASS);
	/* Header corrected to the short size: the entries now point past it. */
	memcpy(buf, base_img, img_len);
	hdr()->total_size = 4096;
	CHECK_EQ(try_bytes(buf, 4096, -EBADMSG, "entries past a 4 KiB file"),
		 TEST_PASS);
	/* A non-page-sized file whose header claims the page. */
	memcpy(buf, base_img, img_len);
	hdr()->object_count = 0;
	hdr()->total_size = 4096;
	CHECK_EQ(try_bytes(buf, 4000, -EBADMSG, "4000-byte file claims 4096"),
		 TEST_PASS);
	return TEST_PASS;
}

/*
 * A file past SHOAL_SEGMENT_SIZE_MAX, header and all consistent, is refused
 * before it is mapped. The memfd is sparse: this costs no memory.
 */
static int test_too_large(void)
{
	uint64_t big = SHOAL_SEGMENT_SIZE_MAX + 4096;
	struct shoal_segment *seg = OUT_SENTINEL;
	int fd = memfd_create(MEMFD_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	CHECK(fd >= 0);
	if (ftruncate(fd, (off_t)big)) {
		close(fd);
		return TEST_SKIP;
	}
	memcpy(buf, base_img, img_len);
	hdr()->total_size = big;
	CHECK_EQ(pwrite(fd, buf, img_len, 0), (ssize_t)img_len);
	CHECK_EQ(fcntl(fd, F_ADD_SEALS, READY_SEALS), 0);
	CHECK_EQ(shoal_segment_open(fd, 0, &seg), -EBADMSG);
	CHECK_EQ(shoal_segment_open(fd, SHOAL_SEGMENT_OPEN_READ_ONLY, &seg),
		 -EBADMSG);
	CHECK(seg == OUT_SENTINEL);
	close(fd);
	return TEST_PASS;
}

/*
 * The state is checked in the memfd we map, not in some earlier read: a
 * segment that is INIT when opened and READY later opens then.
 */
static int test_state_then_ready(void)
{
	struct shoal_segment *seg = OUT_SENTINEL;
	struct shoal__seg_header *m;
	int fd;

	memcpy(buf, base_img, img_len);
	hdr()->state = SHOAL__SEG_STATE_INIT;
	fd = sealed_memfd(buf, img_len, READY_SEALS);
	CHECK(fd >= 0);
	CHECK_EQ(shoal_segment_open(fd, 0, &seg), -EAGAIN);
	CHECK(seg == OUT_SENTINEL);
	m = mmap(NULL, img_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED);
	atomic_store_explicit(&m->state, SHOAL__SEG_STATE_READY,
			      memory_order_release);
	CHECK_EQ(shoal_segment_open(fd, 0, &seg), 0);
	CHECK_EQ(walk(seg), TEST_PASS);
	/* The handle uses its validated copy: later scribbles do not matter. */
	memset(m, 0xff, img_len);
	{
		struct shoal_object_info info;
		void *p = NULL;

		CHECK_EQ(shoal_segment_object_count(seg), 3);
		CHECK_EQ(shoal_segment_object(seg, ALPHA, &info), 0);
		CHECK_EQ(info.offset, 12288);
		CHECK_EQ(info.size, 100);
		CHECK_EQ(shoal_segment_find(seg, "gamma", SHOAL_OBJECT_NOTIFY,
					    &p, NULL),
			 0);
		CHECK(p == (unsigned char *)shoal_segment_base(seg) + 12416);
	}
	shoal_segment_close(seg);
	munmap(m, img_len);
	close(fd);
	return TEST_PASS;
}

int main(void)
{
	if (make_base() != TEST_PASS)
		return TEST_FAIL;
	RUN(test_valid);
	RUN(test_magic);
	RUN(test_version);
	RUN(test_header_size);
	RUN(test_total_size);
	RUN(test_epoch_and_state);
	RUN(test_object_count);
	RUN(test_table_offset);
	RUN(test_entry_size);
	RUN(test_entry_bounds);
	RUN(test_entry_overlap);
	RUN(test_entry_align);
	RUN(test_entry_name_kind);
	RUN(test_hand_built);
	RUN(test_short_files);
	RUN(test_header_claims_more);
	RUN(test_too_large);
	RUN(test_state_then_ready);
	free(base_img);
	free(buf);
	return test_result();
}
