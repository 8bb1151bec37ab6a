/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: shoal__pubsub_read_geometry(), a subscriber's (and
 * shoal_pubsub_inspect()'s) first look at a publisher's payload segment.
 *
 * A hostile publisher controls every byte of that segment. The segment
 * layer is fuzzed on its own (segment_open_fuzz.c); here each input becomes
 * a real payload segment whose object sizes come from the input (header
 * 64 B..64 KiB, slots 64 B..1 MiB, see pubsub_fuzz.h for the format), made
 * by shoal_segment_create() as a publisher makes it, or, for PG_CRAFTED
 * inputs, built byte by byte and opened with shoal_segment_open() so the
 * objects can sit at any alignment the segment format allows. The rest of
 * the input is copied over the header object.
 *
 * Beyond "no crash, no sanitizer report", the answer is checked against an
 * independent statement of the rules, and any difference aborts:
 *   - 0 exactly when the header has the magic and version (4, or 5 with
 *     2..64 max_publishers and slot below it; 6, payload pools, never: it
 *     needs a pool table object these segments lack) and the
 *     configuration is consistent: delivery 1 or 2, capacity a power of two
 *     in 2..2^24, max_payload 1..2^30, user header a multiple of 8 up to
 *     1024, stride == shoal__bcast_slot_stride() (the format's one
 *     formula: round_up(data offset + max_payload, 64)),
 *     history < capacity, 1..1024 subscribers, a header object of at least
 *     256 + round_up(4 * max, 8) + 8 * max bytes and a slots object of at
 *     least capacity * stride;
 *   - on success *g repeats the header's fields, points at the two objects
 *     (8-byte aligned: the header and the slots hold 64-bit atomics) and
 *     gives the segment's size;
 *   - on failure -EPROTO exactly for the magic with another version in a
 *     header object that is there, of its kind, at least 256 bytes and on
 *     a cache line (whether the slots object is there or not: the version
 *     decides which objects there are), else -EBADMSG, with a detail for
 *     shoal_last_error().
 * Each input runs twice: as given, then with the magic and version made
 * right, so that mutations reach the configuration checks behind them.
 *
 * Built two ways: with clang -fsanitize=fuzzer as a libFuzzer target, and
 * with any compiler plus standalone_main.c as a corpus replayer (CTest).
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
#include <unistd.h>

#include <shoal/segment.h>

#include "pubsub_fuzz.h"
#include "patterns/pubsub_internal.h"

/*
 * Objects aligned to less than 8 bytes. The segment format accepts any
 * power of two; read_geometry() refuses objects not on a cache line
 * before it reads a field (it once read 64-bit fields through a misaligned
 * pointer: UBSan found it here). Define PG_MISALIGNED 0 to leave them out.
 */
#ifndef PG_MISALIGNED
#define PG_MISALIGNED 1
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise: say which, then abort so the fuzzer keeps the input. */
#define PROMISE(cond)                                                      \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr,                                    \
				"pubsub_geometry_fuzz: broken: %s (%s)\n", \
				#cond, shoal_last_error());                \
			abort();                                           \
		}                                                          \
	} while (0)

/* The segment one input made, and where its two objects are. */
struct pg_seg {
	struct shoal_segment *seg;
	int fd; /* crafted images only: ours */
	int have_hdr, have_slots, kinds_right;
	uint64_t hdr_off, hdr_size, slots_off, slots_size;
};

static uint32_t le(const uint8_t *p, size_t size, size_t at, int bytes)
{
	uint32_t v = 0;

	for (int i = 0; i < bytes; i++)
		if (at + (size_t)i < size)
			v |= (uint32_t)p[at + (size_t)i] << (8 * i);
	return v;
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* The objects as a publisher lays them out, by shoal_segment_create(). */
static int make_created(struct pg_seg *s, uint32_t mode)
{
	struct shoal_object_spec spec[3];
	struct shoal_object_info info;
	uint32_t objects = mode & PG_OBJECTS_MASK, n = 0;
	void *p;

	if (mode & PG_EXTRA_OBJECT)
		spec[n++] = (struct shoal_object_spec){ "pubsub.other",
							SHOAL_OBJECT_BYTES, 8,
							72 };
	if (s->have_hdr)
		spec[n++] = (struct shoal_object_spec){
			SHOAL__PUBSUB_HEADER_OBJECT,
			objects == PG_OBJECTS_SWAPPED ?
				SHOAL__OBJECT_PUBSUB_SLOTS :
				SHOAL__OBJECT_PUBSUB_HEADER,
			64, s->hdr_size
		};
	if (s->have_slots)
		spec[n++] = (struct shoal_object_spec){
			SHOAL__PUBSUB_SLOTS_OBJECT,
			objects == PG_OBJECTS_SWAPPED ?
				SHOAL__OBJECT_PUBSUB_HEADER :
				SHOAL__OBJECT_PUBSUB_SLOTS,
			64, s->slots_size
		};
	if (shoal_segment_create(spec, n, NULL, &s->seg))
		return -1;
	if (s->have_hdr) {
		PROMISE(shoal_segment_find(s->seg, SHOAL__PUBSUB_HEADER_OBJECT,
					   0, &p, &info) == 0);
		s->hdr_off = info.offset;
	}
	if (s->have_slots) {
		PROMISE(shoal_segment_find(s->seg, SHOAL__PUBSUB_SLOTS_OBJECT,
					   0, &p, &info) == 0);
		s->slots_off = info.offset;
	}
	return 0;
}

/* One table entry of a crafted image. */
static void entry(struct shoal__seg_entry *e, const char *name, uint32_t kind,
		  uint32_t align, uint64_t off, uint64_t size)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->kind = kind;
	e->align = align;
	e->offset = off;
	e->size = size;
}

/*
 * The objects at offsets aligned to exactly @align (not to 2 * @align, for
 * align below a page), in an image written here, sealed as
 * shoal_segment_ready() seals one and opened read-only as a subscriber
 * opens it.
 */
static int make_crafted(struct pg_seg *s, uint32_t mode)
{
	uint32_t align = 1u << (mode >> PG_ALIGN_SHIFT);
	uint32_t objects = mode & PG_OBJECTS_MASK, n = 0;
	unsigned char img[64 + 3 * 64];
	struct shoal__seg_header *h = (void *)img;
	struct shoal__seg_entry *e = (void *)(img + 64);
	uint64_t cursor, total;

	if (!PG_MISALIGNED && align < 8)
		align = 8;
	memset(img, 0, sizeof(img));
	cursor = 64 + 3 * 64;
	if (mode & PG_EXTRA_OBJECT) {
		entry(&e[n++], "pubsub.other", SHOAL_OBJECT_BYTES, 1, cursor,
		      3);
		cursor += 3;
	}
	if (s->have_hdr) {
		s->hdr_off = round_up(cursor, 2 * (uint64_t)align) + align;
		entry(&e[n++], SHOAL__PUBSUB_HEADER_OBJECT,
		      objects == PG_OBJECTS_SWAPPED ?
			      SHOAL__OBJECT_PUBSUB_SLOTS :
			      SHOAL__OBJECT_PUBSUB_HEADER,
		      align, s->hdr_off, s->hdr_size);
		cursor = s->hdr_off + s->hdr_size;
	}
	if (s->have_slots) {
		s->slots_off = round_up(cursor, 2 * (uint64_t)align) + align;
		entry(&e[n++], SHOAL__PUBSUB_SLOTS_OBJECT,
		      objects == PG_OBJECTS_SWAPPED ?
			      SHOAL__OBJECT_PUBSUB_HEADER :
			      SHOAL__OBJECT_PUBSUB_SLOTS,
		      align, s->slots_off, s->slots_size);
		cursor = s->slots_off + s->slots_size;
	}
	total = cursor;
	h->magic = SHOAL__SEG_MAGIC;
	h->version_major = SHOAL__SEG_VERSION_MAJOR;
	h->version_minor = SHOAL__SEG_VERSION_MINOR;
	h->header_size = 64;
	h->total_size = total;
	h->epoch = 0x5eed;
	h->object_count = n;
	h->table_offset = 64;
	h->entry_size = 64;
	atomic_store_explicit(&h->state, SHOAL__SEG_STATE_READY,
			      memory_order_relaxed);

	s->fd = memfd_create("pubsub-geometry",
			     MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->fd < 0)
		return -1;
	if (ftruncate(s->fd, (off_t)total) ||
	    pwrite(s->fd, img, sizeof(img), 0) != (ssize_t)sizeof(img) ||
	    fcntl(s->fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -1;
	PROMISE(shoal_segment_open(s->fd, SHOAL_SEGMENT_OPEN_READ_ONLY,
				   &s->seg) == 0);
	return 0;
}

static void drop(struct pg_seg *s)
{
	if (s->fd >= 0) {
		shoal_segment_close(s->seg);
		close(s->fd);
	} else {
		shoal_segment_destroy(s->seg);
	}
}

/* Writes @len bytes at @off of the segment's memfd (read-only mappings see
 * it: the mapping is shared). */
static void put(const struct pg_seg *s, uint64_t off, const void *p, size_t len)
{
	int fd = s->fd >= 0 ? s->fd : shoal_segment_fd(s->seg);

	PROMISE(pwrite(fd, p, len, (off_t)off) == (ssize_t)len);
}

/* The rules, stated again without the library's helpers: 0 for a valid
 * configuration in @h, else the error the function must return. */
static int expected(const struct pg_seg *s,
		    const struct shoal__pubsub_header *h)
{
	uint64_t max = h->max_subscribers, stride;

	/* First the header object alone (it must be there, of its kind,
	 * whole and on a cache line before a field is read), then its magic
	 * and version: a header of another version is -EPROTO whatever else
	 * the segment holds, since which objects a segment of another version
	 * has is that version's business. */
	if (!s->have_hdr || !s->kinds_right)
		return -EBADMSG;
	if (s->hdr_size < 256 || s->hdr_off % 64)
		return -EBADMSG;
	if (h->ident.magic != SHOAL__PUBSUB_MAGIC)
		return -EBADMSG;
	if (h->ident.version != SHOAL__PUBSUB_VERSION &&
	    h->ident.version != SHOAL__PUBSUB_VERSION_MULTI &&
	    h->ident.version != SHOAL__PUBSUB_VERSION_POOLS)
		return -EPROTO;
	/* Version 6 (payload pools) needs its pool table object, which the
	 * segments made here never have; pool_table_fuzz.c fuzzes the
	 * table itself. */
	if (h->ident.version == SHOAL__PUBSUB_VERSION_POOLS)
		return -EBADMSG;
	/* Version 5 (several publishers): 2..64 of them, the slot below. */
	if (h->ident.version == SHOAL__PUBSUB_VERSION_MULTI &&
	    (h->max_publishers < 2 || h->max_publishers > 64 ||
	     h->slot >= h->max_publishers))
		return -EBADMSG;
	/* Only then the slots object: there, on a cache line (its size is
	 * checked against the configuration below). */
	if (!s->have_slots || s->slots_off % 64)
		return -EBADMSG;
	/* The format's one stride formula (docs/pubsub-format.md), shared
	 * with the library rather than restated. */
	stride = shoal__bcast_slot_stride(h->user_header_size, h->max_payload);
	if (h->delivery != 1 && h->delivery != 2)
		return -EBADMSG;
	if (h->capacity < 2 || h->capacity > (1u << 24) ||
	    (h->capacity & (h->capacity - 1)))
		return -EBADMSG;
	if (h->max_payload < 1 || h->max_payload > (1u << 30))
		return -EBADMSG;
	if (h->user_header_size % 8 || h->user_header_size > 1024)
		return -EBADMSG;
	if (h->slot_stride != stride || h->history >= h->capacity)
		return -EBADMSG;
	if (max < 1 || max > 1024)
		return -EBADMSG;
	if (s->hdr_size < 256 + (4 * max + 7) / 8 * 8 + 8 * max)
		return -EBADMSG;
	if ((uint64_t)h->capacity * stride > s->slots_size)
		return -EBADMSG;
	return 0;
}

/* One call, checked. Returns what it returned. */
static int check_one(const struct pg_seg *s)
{
	struct shoal__pubsub_header copy;
	struct pubsub_geometry g;
	const unsigned char *base = shoal_segment_base(s->seg);
	int r, want;

	memset(&copy, 0, sizeof(copy));
	if (s->have_hdr)
		memcpy(&copy, base + s->hdr_off,
		       s->hdr_size < sizeof(copy) ? s->hdr_size : sizeof(copy));
	want = expected(s, &copy);
	memset(&g, 0xa5, sizeof(g));
	r = shoal__pubsub_read_geometry(s->seg, &g);
	if (r != want) {
		fprintf(stderr,
			"pubsub_geometry_fuzz: read_geometry = %d, want %d "
			"(%s)\n",
			r, want, shoal_last_error());
		abort();
	}
	if (r) {
		PROMISE(shoal_last_error()[0] != '\0');
		return r;
	}
	PROMISE((const unsigned char *)g.hdr == base + s->hdr_off);
	PROMISE((const unsigned char *)g.slots == base + s->slots_off);
	PROMISE((uintptr_t)g.hdr % 8 == 0 && (uintptr_t)g.slots % 8 == 0);
	PROMISE(g.delivery == copy.delivery && g.capacity == copy.capacity &&
		g.stride == copy.slot_stride &&
		g.max_payload == copy.max_payload &&
		g.uh_size == copy.user_header_size &&
		g.history == copy.history &&
		g.max_subs == copy.max_subscribers &&
		g.subs_memfd == copy.subs_memfd);
	PROMISE(g.payload_bytes == shoal_segment_size(s->seg));
	PROMISE(copy.ident.version == SHOAL__PUBSUB_VERSION_MULTI ?
			g.max_pubs == copy.max_publishers &&
				g.slot == copy.slot :
			g.max_pubs == 1 && g.slot == 0);
	/* What a subscriber derives from it lies inside the objects. */
	PROMISE(header_bytes(g.max_subs) <= s->hdr_size);
	PROMISE((uint64_t)g.capacity * g.stride <= s->slots_size);
	/* Whole lines, or packed at 8 in a slot of at most two. */
	PROMISE((g.stride % 64 == 0 || (g.stride % 8 == 0 && g.stride < 128)) &&
		(uint64_t)shoal__bcast_data_off(g.uh_size, g.max_payload) +
				g.max_payload <=
			g.stride &&
		shoal__bcast_data_off(g.uh_size, g.max_payload) >=
			(uint64_t)SHOAL__PUBSUB_SLOT_HEADER + g.uh_size);
	{
		volatile unsigned char sink;

		sink = ((const unsigned char *)
				g.hdr)[header_bytes(g.max_subs) - 1];
		sink = g.slots[(uint64_t)g.capacity * g.stride - 1];
		(void)sink;
	}
	return 0;
}

int pubsub_geometry_one(const uint8_t *data, size_t size)
{
	struct pg_seg s;
	uint32_t mode = le(data, size, 5, 1);
	uint32_t objects = mode & PG_OBJECTS_MASK;
	int r, err;

	memset(&s, 0, sizeof(s));
	s.fd = -1;
	s.hdr_size = PG_HDR_MIN +
		     le(data, size, 0, 2) % (PG_HDR_MAX - PG_HDR_MIN + 1);
	s.slots_size = PG_SLOTS_MIN +
		       le(data, size, 2, 3) % (PG_SLOTS_MAX - PG_SLOTS_MIN + 1);
	s.have_hdr = objects != PG_OBJECTS_NO_HEADER;
	s.have_slots = objects != PG_OBJECTS_NO_SLOTS;
	s.kinds_right = objects != PG_OBJECTS_SWAPPED;
	err = mode & PG_CRAFTED ? make_crafted(&s, mode) :
				  make_created(&s, mode);
	if (err) {
		/* Out of memory or fds: not what is tested here. */
		if (s.fd >= 0)
			close(s.fd);
		return 0;
	}
	if (s.have_hdr && size > PG_PREFIX) {
		size_t n = size - PG_PREFIX;

		put(&s, s.hdr_off, data + PG_PREFIX,
		    n < s.hdr_size ? n : s.hdr_size);
	}
	r = check_one(&s);

	/* Again with the magic and version right. */
	if (s.have_hdr && s.hdr_size >= 12) {
		uint64_t magic = SHOAL__PUBSUB_MAGIC;
		uint32_t version = SHOAL__PUBSUB_VERSION;

		put(&s, s.hdr_off, &magic, sizeof(magic));
		put(&s, s.hdr_off + 8, &version, sizeof(version));
		check_one(&s);
	}
	drop(&s);
	return r;
}

#ifndef PUBSUB_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Everything past the largest header object is never read. */
	if (size > PG_PREFIX + PG_HDR_MAX)
		return 0;
	pubsub_geometry_one(data, size);
	return 0;
}
#endif
