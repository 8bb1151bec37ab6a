/* SPDX-License-Identifier: MIT */
/*
 * Segments: creation, sealing, validation and lookup.
 *
 * A segment is an anonymous memfd. The creator sizes it once and seals it
 * against shrinking and growing before anyone else can hold it, so no peer can
 * truncate it under the others (which would turn every access past the new end
 * into SIGBUS). The memory is never named in /dev/shm: the kernel frees it when
 * the last process holding the fd or a mapping exits, so a crash leaves nothing
 * behind.
 *
 * Opening is defensive. The fd comes from another process, maybe a hostile
 * one, so open() checks, in order: it is a memfd; it carries the shrink, grow
 * and seal seals (so its size is now fixed); its size is sane; then it maps
 * the whole file, acquire-loads the state word, copies the header and table
 * once and validates the copy. Lookups later use only that validated copy.
 * Any check that fails gives a distinct -errno and a detail, never a fault.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch/arch.h"
#include "shoal/segment.h"
#include "arch/error.h"
#include "segment/fdcheck.h"
#include "segment/layout.h"

/* Longest memfd name the kernel takes: NAME_MAX less "memfd:" (it is shown
 * as a /proc/PID/fd link's target, which is one path component). */
#define SHOAL__MEMFD_LABEL_MAX 249

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

/* Seals a memfd must carry before we map it: its size can never change. */
#define SIZE_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)
/* Largest alignment an object may ask for: one huge page would be silly. */
#define ALIGN_MAX 4096u

struct shoal_segment {
	int fd;
	unsigned char *base;
	uint64_t size;
	uint64_t epoch;
	uint32_t flags; /* SHOAL__SEG_FLAG_* */
	uint32_t count;
	int created; /* 1: we created it (ready/destroy allowed) */
	int ready;   /* created and made ready */
	struct shoal_object_info objects[];
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* A valid object name: 1..39 printable ASCII bytes. @len is strnlen's. */
static int name_ok(const char *name, size_t len)
{
	if (len == 0 || len > SHOAL_OBJECT_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (name[i] < 0x20 || name[i] > 0x7e)
			return 0;
	}
	return 1;
}

static struct shoal_segment *segment_alloc(uint32_t count)
{
	struct shoal_segment *seg;

	seg = calloc(1, sizeof(*seg) + count * sizeof(seg->objects[0]));
	if (seg)
		seg->fd = -1;
	return seg;
}

const char *shoal__segment_kind_name(uint32_t kind)
{
	switch (kind) {
	case SHOAL_OBJECT_BYTES:
		return "bytes";
	case SHOAL_OBJECT_SPSC_RING:
		return "SPSC ring";
	case SHOAL_OBJECT_NOTIFY:
		return "wait word";
	case SHOAL_OBJECT_MPMC_RING:
		return "MPMC ring";
	case SHOAL_OBJECT_VAR_RING:
		return "variable-length ring";
	}
	return NULL;
}

/* Checks the spec of one object for create(). */
static int spec_check(const struct shoal_object_spec *spec, uint32_t i)
{
	if (!spec->name ||
	    !name_ok(spec->name,
		     strnlen(spec->name, SHOAL_OBJECT_NAME_MAX + 1)))
		return shoal__fail(-EINVAL,
				   "object %u: name must be 1..%d printable "
				   "bytes",
				   i, SHOAL_OBJECT_NAME_MAX);
	if (spec->kind == 0 || (spec->kind > SHOAL_OBJECT_PATTERN_MAX &&
				spec->kind < SHOAL_OBJECT_USER_MIN))
		return shoal__fail(-EINVAL,
				   "object '%s': kind %u is reserved (use "
				   "SHOAL_OBJECT_*, a pattern's or a value "
				   ">= %u)",
				   spec->name, spec->kind,
				   (unsigned)SHOAL_OBJECT_USER_MIN);
	if (spec->align &&
	    (!shoal__is_pow2(spec->align) || spec->align > ALIGN_MAX))
		return shoal__fail(
			-EINVAL,
			"object '%s': align %u is not a power of two "
			"<= %u",
			spec->name, spec->align, ALIGN_MAX);
	if (spec->size == 0 || spec->size > SHOAL_SEGMENT_SIZE_MAX)
		return shoal__fail(spec->size ? -E2BIG : -EINVAL,
				   "object '%s': size %llu out of range",
				   spec->name, (unsigned long long)spec->size);
	return 0;
}

static uint64_t new_epoch(void)
{
	struct timespec ts;

	/* Wall-clock nanoseconds: distinct for every incarnation of a name on
	 * one host in practice, and meaningful to a human reading it. */
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) | 1;
}

void shoal_segment_options_init(struct shoal_segment_options *opts)
{
	memset(opts, 0, sizeof(*opts));
}

int shoal_segment_create(const struct shoal_object_spec *objects,
			 uint32_t count,
			 const struct shoal_segment_options *opts,
			 struct shoal_segment **out)
{
	struct shoal_segment_options defaults;
	struct shoal_segment *seg;
	struct shoal__seg_header *hdr;
	uint64_t cursor, total;
	char label[SHOAL__MEMFD_LABEL_MAX + 1];
	int err;

	if (!out || (count && !objects))
		return shoal__fail(-EINVAL, "segment_create: NULL argument");
	if (!opts) {
		shoal_segment_options_init(&defaults);
		opts = &defaults;
	}
	if (opts->flags & ~(uint32_t)SHOAL_SEGMENT_PEERS_READ_ONLY)
		return shoal__fail(-EINVAL, "segment_create: unknown flags %#x",
				   opts->flags);
	if (count > SHOAL_SEGMENT_OBJECTS_MAX)
		return shoal__fail(-E2BIG,
				   "segment_create: %u objects, at most %d",
				   count, SHOAL_SEGMENT_OBJECTS_MAX);

	seg = segment_alloc(count);
	if (!seg)
		return shoal__fail(-ENOMEM, "segment_create: out of memory");

	/* Lay out: header, table, then each object on its own cache lines. */
	cursor = sizeof(struct shoal__seg_header) +
		 (uint64_t)count * sizeof(struct shoal__seg_entry);
	for (uint32_t i = 0; i < count; i++) {
		const struct shoal_object_spec *spec = &objects[i];
		uint32_t align = spec->align ? spec->align : SHOAL__CACHE_LINE;
		uint64_t place = align < SHOAL__CACHE_LINE ? SHOAL__CACHE_LINE :
							     align;

		err = spec_check(spec, i);
		if (err)
			goto fail_free;
		for (uint32_t j = 0; j < i; j++) {
			if (!strcmp(seg->objects[j].name, spec->name)) {
				err = shoal__fail(-EINVAL,
						  "object name '%s' is used "
						  "twice",
						  spec->name);
				goto fail_free;
			}
		}
		cursor = align_up(cursor, place);
		snprintf(seg->objects[i].name, sizeof(seg->objects[i].name),
			 "%s", spec->name);
		seg->objects[i].kind = spec->kind;
		seg->objects[i].align = align;
		seg->objects[i].offset = cursor;
		seg->objects[i].size = spec->size;
		cursor += spec->size;
		if (cursor > SHOAL_SEGMENT_SIZE_MAX) {
			err = shoal__fail(
				-E2BIG,
				"segment_create: objects exceed %llu "
				"bytes",
				(unsigned long long)SHOAL_SEGMENT_SIZE_MAX);
			goto fail_free;
		}
	}
	total = align_up(cursor, (uint64_t)sysconf(_SC_PAGESIZE));

	/* The name is only a label (/proc/PID/fd shows "memfd:LABEL"); the
	 * kernel refuses one over 249 bytes (NAME_MAX less "memfd:") with
	 * -EINVAL, so a longer one is cut: any valid service name works. */
	snprintf(label, sizeof(label), "%s",
		 opts->debug_name ? opts->debug_name : "shoal");
	seg->fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (seg->fd < 0) {
		err = shoal__fail(-errno, "memfd_create: %s", strerror(errno));
		goto fail_free;
	}
	if (ftruncate(seg->fd, (off_t)total) < 0) {
		err = shoal__fail(-errno, "ftruncate(%llu): %s",
				  (unsigned long long)total, strerror(errno));
		goto fail_close;
	}
	/* Fix the size now, before the fd can reach anyone: from here on no
	 * holder can shrink the file and SIGBUS the others. */
	if (fcntl(seg->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		err = shoal__fail(-errno, "F_ADD_SEALS: %s", strerror(errno));
		goto fail_close;
	}
	seg->base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED,
			 seg->fd, 0);
	if (seg->base == MAP_FAILED) {
		seg->base = NULL;
		err = shoal__fail(-errno, "mmap(%llu): %s",
				  (unsigned long long)total, strerror(errno));
		goto fail_close;
	}
	seg->size = total;
	seg->epoch = opts->epoch ? opts->epoch : new_epoch();
	seg->flags = (opts->flags & SHOAL_SEGMENT_PEERS_READ_ONLY) ?
			     SHOAL__SEG_FLAG_PEERS_READ_ONLY :
			     0;
	seg->count = count;
	seg->created = 1;

	/* The file is fresh and zero-filled; fill in header and table. */
	hdr = (struct shoal__seg_header *)seg->base;
	hdr->magic = SHOAL__SEG_MAGIC;
	hdr->version_major = SHOAL__SEG_VERSION_MAJOR;
	hdr->version_minor = SHOAL__SEG_VERSION_MINOR;
	hdr->header_size = sizeof(*hdr);
	hdr->total_size = total;
	hdr->epoch = seg->epoch;
	hdr->object_count = count;
	hdr->table_offset = sizeof(*hdr);
	hdr->entry_size = sizeof(struct shoal__seg_entry);
	hdr->flags = seg->flags;
	atomic_store_explicit(&hdr->state, SHOAL__SEG_STATE_INIT,
			      memory_order_relaxed);
	for (uint32_t i = 0; i < count; i++) {
		struct shoal__seg_entry *e =
			(struct shoal__seg_entry *)(seg->base +
						    hdr->table_offset) +
			i;
		memcpy(e->name, seg->objects[i].name, sizeof(e->name));
		e->kind = seg->objects[i].kind;
		e->align = seg->objects[i].align;
		e->offset = seg->objects[i].offset;
		e->size = seg->objects[i].size;
	}
	*out = seg;
	return 0;

fail_close:
	close(seg->fd);
fail_free:
	free(seg);
	return err;
}

int shoal_segment_ready(struct shoal_segment *seg)
{
	struct shoal__seg_header *hdr;
	int seals = F_SEAL_SEAL;

	if (!seg || !seg->created || seg->ready)
		return shoal__fail(
			-EINVAL, "segment_ready: not a fresh created segment");
	if (seg->flags & SHOAL__SEG_FLAG_PEERS_READ_ONLY)
		seals |= F_SEAL_FUTURE_WRITE;
	/* Seal before READY so a peer that sees READY also sees the seals. */
	if (fcntl(seg->fd, F_ADD_SEALS, seals) < 0)
		return shoal__fail(-errno, "F_ADD_SEALS: %s", strerror(errno));
	hdr = (struct shoal__seg_header *)seg->base;
	/* Release: publishes the header, table and every object formatted
	 * above; pairs with the acquire load of state in shoal_segment_open. */
	atomic_store_explicit(&hdr->state, SHOAL__SEG_STATE_READY,
			      memory_order_release);
	seg->ready = 1;
	return 0;
}

static void segment_release(struct shoal_segment *seg)
{
	if (!seg)
		return;
	if (seg->base)
		munmap(seg->base, seg->size);
	if (seg->fd >= 0)
		close(seg->fd);
	free(seg);
}

void shoal_segment_destroy(struct shoal_segment *seg)
{
	segment_release(seg);
}

void shoal_segment_close(struct shoal_segment *seg)
{
	segment_release(seg);
}

/* Checks the fd itself: a sealed memfd of a sane size. Sets *size. */
static int check_fd(int fd, uint32_t flags, uint64_t *size)
{
	struct stat st;
	int seals;

	if (fd < 0 || fstat(fd, &st) < 0)
		return shoal__fail(-EBADF, "segment_open: fd %d is not open",
				   fd);
	if (!S_ISREG(st.st_mode) || shoal__fd_is_memfd(fd) == 0)
		return shoal__fail(-ENOTSUP,
				   "segment_open: fd %d is not a memfd", fd);
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return shoal__fail(-ENOTSUP,
				   "segment_open: fd %d does not support seals "
				   "(not a memfd)",
				   fd);
	if ((seals & SIZE_SEALS) != SIZE_SEALS)
		return shoal__fail(-EPERM,
				   "segment_open: memfd seals %#x lack "
				   "shrink/grow: its size could change",
				   seals);
	if ((seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) &&
	    !(flags & SHOAL_SEGMENT_OPEN_READ_ONLY))
		return shoal__fail(-EPERM,
				   "segment_open: segment is sealed against "
				   "writes; open it read-only");
	/* The size is sealed now, so this figure stays true. */
	if (st.st_size < (off_t)sizeof(struct shoal__seg_header) ||
	    (uint64_t)st.st_size > SHOAL_SEGMENT_SIZE_MAX)
		return shoal__fail(-EBADMSG,
				   "segment_open: size %lld out of range",
				   (long long)st.st_size);
	*size = (uint64_t)st.st_size;
	return 0;
}

/* Validates a copy of the header against the file size. */
static int check_header(const struct shoal__seg_header *h, uint32_t state,
			uint64_t size)
{
	uint64_t table_end;

	if (h->magic != SHOAL__SEG_MAGIC)
		return shoal__fail(-EBADMSG, "segment: bad magic %#llx",
				   (unsigned long long)h->magic);
	if (h->version_major != SHOAL__SEG_VERSION_MAJOR)
		return shoal__fail(
			-EPROTO,
			"segment: format version %u.%u, this library "
			"reads %d.x",
			h->version_major, h->version_minor,
			SHOAL__SEG_VERSION_MAJOR);
	if (state == SHOAL__SEG_STATE_INIT)
		return shoal__fail(-EAGAIN, "segment: not ready yet");
	if (state != SHOAL__SEG_STATE_READY)
		return shoal__fail(-EBADMSG, "segment: bad state %#x", state);
	if (h->total_size != size)
		return shoal__fail(-EBADMSG,
				   "segment: header says %llu bytes, memfd has "
				   "%llu",
				   (unsigned long long)h->total_size,
				   (unsigned long long)size);
	if (h->header_size < sizeof(*h) || h->header_size > size)
		return shoal__fail(-EBADMSG, "segment: bad header size %u",
				   h->header_size);
	if (h->epoch == 0)
		return shoal__fail(-EBADMSG, "segment: epoch 0");
	if (h->object_count > SHOAL_SEGMENT_OBJECTS_MAX)
		return shoal__fail(-EBADMSG, "segment: %u objects, at most %d",
				   h->object_count, SHOAL_SEGMENT_OBJECTS_MAX);
	if (h->entry_size < sizeof(struct shoal__seg_entry) ||
	    h->entry_size % 8 || h->entry_size > 4096)
		return shoal__fail(-EBADMSG, "segment: bad entry size %u",
				   h->entry_size);
	if (h->table_offset < h->header_size || h->table_offset % 8)
		return shoal__fail(-EBADMSG, "segment: bad table offset %u",
				   h->table_offset);
	table_end = (uint64_t)h->table_offset +
		    (uint64_t)h->object_count * h->entry_size;
	if (table_end > size)
		return shoal__fail(-EBADMSG,
				   "segment: table ends at %llu, past the end",
				   (unsigned long long)table_end);
	return 0;
}

/* Validates one table entry (a local copy) and converts it. */
static int check_entry(const struct shoal__seg_entry *e, uint32_t i,
		       uint64_t table_end, uint64_t size,
		       struct shoal_object_info *info)
{
	size_t len = strnlen(e->name, sizeof(e->name));

	if (len == sizeof(e->name) || !name_ok(e->name, len))
		return shoal__fail(-EBADMSG, "segment: entry %u has a bad name",
				   i);
	if (e->kind == 0)
		return shoal__fail(-EBADMSG, "segment: entry %u has kind 0", i);
	if (!shoal__is_pow2(e->align) || e->align > ALIGN_MAX ||
	    e->offset % e->align)
		return shoal__fail(-EBADMSG,
				   "segment: entry '%s' misaligned (align %u, "
				   "offset %llu)",
				   e->name, e->align,
				   (unsigned long long)e->offset);
	if (e->size == 0 || e->offset < table_end || e->offset > size ||
	    e->size > size - e->offset)
		return shoal__fail(
			-EBADMSG,
			"segment: entry '%s' [%llu, +%llu) is outside "
			"the object area",
			e->name, (unsigned long long)e->offset,
			(unsigned long long)e->size);
	memcpy(info->name, e->name, len);
	info->name[len] = '\0';
	info->kind = e->kind;
	info->align = e->align;
	info->offset = e->offset;
	info->size = e->size;
	return 0;
}

/* Entries must not overlap or share a name. n <= 64, so O(n^2) is fine. */
static int check_overlaps(const struct shoal_object_info *o, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t j = i + 1; j < n; j++) {
			if (!strcmp(o[i].name, o[j].name))
				return shoal__fail(-EBADMSG,
						   "segment: name '%s' appears "
						   "twice",
						   o[i].name);
			if (o[i].offset < o[j].offset + o[j].size &&
			    o[j].offset < o[i].offset + o[i].size)
				return shoal__fail(-EBADMSG,
						   "segment: objects '%s' and "
						   "'%s' overlap",
						   o[i].name, o[j].name);
		}
	}
	return 0;
}

int shoal_segment_open(int fd, uint32_t flags, struct shoal_segment **out)
{
	struct shoal__seg_header hdr;
	const struct shoal__seg_header *shared;
	struct shoal_segment *seg;
	unsigned char *base;
	uint64_t size = 0, table_end;
	uint32_t state, count;
	int prot = PROT_READ, err, dupfd, seals;

	if (!out)
		return shoal__fail(-EINVAL, "segment_open: NULL out");
	if (flags & ~(uint32_t)SHOAL_SEGMENT_OPEN_READ_ONLY)
		return shoal__fail(-EINVAL, "segment_open: unknown flags %#x",
				   flags);
	err = check_fd(fd, flags, &size);
	if (err)
		return err;
	if (!(flags & SHOAL_SEGMENT_OPEN_READ_ONLY))
		prot |= PROT_WRITE;
	base = mmap(NULL, size, prot, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return shoal__fail(-errno, "segment_open: mmap: %s",
				   strerror(errno));

	shared = (const struct shoal__seg_header *)base;
	/* Acquire: pairs with the release store of READY in
	 * shoal_segment_ready, so the header and objects read below are the
	 * creator's finished ones. */
	state = atomic_load_explicit(&((struct shoal__seg_header *)base)->state,
				     memory_order_acquire);
	memcpy(&hdr, shared, sizeof(hdr));
	err = check_header(&hdr, state, size);
	if (err)
		goto fail_unmap;
	/* shoal_segment_ready seals the seals before it stores READY; a ready
	 * segment without F_SEAL_SEAL lets any holder add write seals later.
	 * Read them again now: the first read may predate ready(). */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SEAL)) {
		err = shoal__fail(-EPERM, "segment_open: ready segment lacks "
					  "F_SEAL_SEAL");
		goto fail_unmap;
	}
	/* The same race for write seals: if ready() sealed the segment for
	 * peers' writes after our first look, our writable mapping slipped in
	 * before the seal. Refuse it, as we would have a moment later. */
	if ((seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) &&
	    (prot & PROT_WRITE)) {
		err = shoal__fail(-EPERM,
				  "segment_open: segment is sealed against "
				  "writes; open it read-only");
		goto fail_unmap;
	}

	count = hdr.object_count;
	seg = segment_alloc(count);
	if (!seg) {
		err = shoal__fail(-ENOMEM, "segment_open: out of memory");
		goto fail_unmap;
	}
	table_end =
		(uint64_t)hdr.table_offset + (uint64_t)count * hdr.entry_size;
	for (uint32_t i = 0; i < count; i++) {
		struct shoal__seg_entry e;

		memcpy(&e,
		       base + hdr.table_offset + (uint64_t)i * hdr.entry_size,
		       sizeof(e));
		err = check_entry(&e, i, table_end, size, &seg->objects[i]);
		if (err)
			goto fail_free;
	}
	err = check_overlaps(seg->objects, count);
	if (err)
		goto fail_free;

	dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dupfd < 0) {
		err = shoal__fail(-errno, "segment_open: dup: %s",
				  strerror(errno));
		goto fail_free;
	}
	seg->fd = dupfd;
	seg->base = base;
	seg->size = size;
	seg->epoch = hdr.epoch;
	seg->flags = hdr.flags;
	seg->count = count;
	*out = seg;
	return 0;

fail_free:
	free(seg);
fail_unmap:
	munmap(base, size);
	return err;
}

int shoal_segment_find(const struct shoal_segment *seg, const char *name,
		       uint32_t kind, void **ptr,
		       struct shoal_object_info *info)
{
	if (!seg || !name || !ptr)
		return shoal__fail(-EINVAL, "segment_find: NULL argument");
	for (uint32_t i = 0; i < seg->count; i++) {
		const struct shoal_object_info *o = &seg->objects[i];

		if (strcmp(o->name, name))
			continue;
		if (kind && o->kind != kind)
			return shoal__fail(-EPROTO,
					   "object '%s' has kind %u, not %u",
					   name, o->kind, kind);
		*ptr = seg->base + o->offset;
		if (info)
			*info = *o;
		return 0;
	}
	return shoal__fail(-ENOENT, "no object '%s' in the segment", name);
}

int shoal_segment_object(const struct shoal_segment *seg, uint32_t index,
			 struct shoal_object_info *info)
{
	if (!seg || !info)
		return shoal__fail(-EINVAL, "segment_object: NULL argument");
	if (index >= seg->count)
		return shoal__fail(-ENOENT, "segment has %u objects",
				   seg->count);
	*info = seg->objects[index];
	return 0;
}

int shoal_segment_fd(const struct shoal_segment *seg)
{
	return seg->fd;
}

void *shoal_segment_base(const struct shoal_segment *seg)
{
	return seg->base;
}

uint64_t shoal_segment_size(const struct shoal_segment *seg)
{
	return seg->size;
}

uint64_t shoal_segment_epoch(const struct shoal_segment *seg)
{
	return seg->epoch;
}

uint32_t shoal_segment_object_count(const struct shoal_segment *seg)
{
	return seg->count;
}
