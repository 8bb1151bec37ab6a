/* SPDX-License-Identifier: MIT */
/*
 * Segments: one memfd holding a versioned header, a table of named objects
 * and the objects themselves. See docs/segment-format.md for the bytes.
 *
 * Life cycle, creator side:
 *   shoal_segment_create()  memfd, size, seal against shrink/grow, map,
 *                           write the header and object table (state INIT)
 *   shoal_segment_find()    get each object's memory and format it
 *   shoal_segment_ready()   release-store READY; peers may now open it
 *   shoal_segment_destroy() unmap and close (the kernel frees the memory
 *                           when the last process holding it lets go)
 * Peer side:
 *   shoal_segment_open()    validate an fd (sealed memfd, size, header,
 *                           table) and map it
 *   shoal_segment_find()    look objects up by name, in the validated copy
 *   shoal_segment_close()
 *
 * Thread safety: a segment handle may be used by many threads at once for
 * find/base/size/epoch; create/ready/destroy/open/close are not concurrent
 * with any other call on the same handle.
 *
 * Blocking and system calls:
 *   shoal_segment_options_init: neither; it fills in memory.
 *   shoal_segment_create: system calls (memfd_create, ftruncate, fcntl,
 *     mmap); never blocks.
 *   shoal_segment_ready: an fcntl to seal the memfd; never blocks.
 *   shoal_segment_destroy, shoal_segment_close: munmap and close; never
 *     block.
 *   shoal_segment_open: system calls to check and map the fd (fstat,
 *     fcntl, dup, mmap); never blocks.
 *   shoal_segment_find, shoal_segment_object, shoal_segment_fd,
 *     shoal_segment_base, shoal_segment_size, shoal_segment_epoch,
 *     shoal_segment_object_count: neither; they read the handle's
 *     validated copy of the table.
 */
#ifndef SHOAL_SEGMENT_H
#define SHOAL_SEGMENT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest object name, in bytes, not counting the terminating NUL. */
#define SHOAL_OBJECT_NAME_MAX 39
/* Most objects one segment's table holds. */
#define SHOAL_SEGMENT_OBJECTS_MAX 64
/* Largest segment shoal creates or accepts: 64 GiB. */
#define SHOAL_SEGMENT_SIZE_MAX (1ULL << 36)

/*
 * Object kinds recorded in the table, so a peer cannot mistake one object
 * for another. The segment layer names only its own and the ring layer's
 * here. Kinds SHOAL_OBJECT_PATTERN_MIN..SHOAL_OBJECT_PATTERN_MAX are the
 * range shoal's patterns take theirs from, each in its own layout header
 * (src/patterns/<pattern>_layout.h) with a name in its descriptor; the
 * segment layer accepts any of them and knows none. docs/segment-format.md
 * lists every kind in use.
 */
enum {
	/* raw bytes, meaning up to the user */
	SHOAL_OBJECT_BYTES = 1,
	/* a ring formatted by shoal_spsc_format() */
	SHOAL_OBJECT_SPSC_RING = 2,
	/* a wait word formatted by shoal_notify_format() */
	SHOAL_OBJECT_NOTIFY = 3,
	/* a ring formatted by shoal_mpmc_format() */
	SHOAL_OBJECT_MPMC_RING = 7,
	/* a variable-length record ring formatted by shoal_varring_format() */
	SHOAL_OBJECT_VAR_RING = 8,
	/* The patterns' range. 7 and 8 fall in it but are the ring layer's
	 * (they are older than the range): no pattern takes them. */
	SHOAL_OBJECT_PATTERN_MIN = 4,
	SHOAL_OBJECT_PATTERN_MAX = 511,
	/* 512..1023 are reserved for future segment and ring kinds: create
	 * refuses them. From here on, kinds are the application's. */
	SHOAL_OBJECT_USER_MIN = 1024,
};

/* shoal_segment_options.flags */
enum {
	/*
	 * Seal the memfd with F_SEAL_FUTURE_WRITE at shoal_segment_ready():
	 * the creator's mapping stays writable, every later mapping (any peer's)
	 * can only be read-only.
	 */
	SHOAL_SEGMENT_PEERS_READ_ONLY = 1u << 0,
};

/* shoal_segment_open() flags */
enum {
	/* Map read-only. Required for segments created PEERS_READ_ONLY. */
	SHOAL_SEGMENT_OPEN_READ_ONLY = 1u << 0,
};

/* One object to lay out at creation. */
struct shoal_object_spec {
	const char *name; /* 1..SHOAL_OBJECT_NAME_MAX printable bytes, unique */
	uint32_t kind;	  /* SHOAL_OBJECT_*, a pattern's, or >= 1024 */
	uint32_t align;	  /* power of two, 0 means 64 (one cache line) */
	uint64_t size;	  /* bytes, > 0 */
};

struct shoal_segment_options {
	/* memfd name shown in /proc/PID/fd, cut to its first 249 bytes (the
	 * kernel's limit); NULL: "shoal" */
	const char *debug_name;
	uint64_t epoch; /* incarnation number; 0: chosen by shoal (never 0) */
	uint32_t flags; /* SHOAL_SEGMENT_* */
};

/* Description of one object, as found in a validated table. */
struct shoal_object_info {
	char name[SHOAL_OBJECT_NAME_MAX + 1];
	uint32_t kind;
	uint32_t align;
	uint64_t offset; /* from the segment base */
	uint64_t size;
};

struct shoal_segment;

/* Fill *opts with the defaults. Never fails. */
SHOAL_API void shoal_segment_options_init(struct shoal_segment_options *opts);

/*
 * shoal_segment_create - create a sealed memfd segment holding @count objects.
 *
 * The segment is left in state INIT, mapped read-write, with every object's
 * bytes zeroed. Returns 0 and *out, or -EINVAL (bad spec: name, kind, align,
 * size, duplicate), -E2BIG (too many objects or too large), -ENOMEM, or the
 * -errno of memfd_create/ftruncate/fcntl/mmap. Does not block.
 */
SHOAL_API int shoal_segment_create(const struct shoal_object_spec *objects,
				   uint32_t count,
				   const struct shoal_segment_options *opts,
				   struct shoal_segment **out);

/*
 * shoal_segment_ready - publish a created segment: release-store READY, after
 * which peers can open it; apply F_SEAL_FUTURE_WRITE if asked at creation.
 * Call once, after formatting the objects. Returns 0, -EINVAL if @seg was
 * opened rather than created or is already ready, or the -errno of fcntl.
 */
SHOAL_API int shoal_segment_ready(struct shoal_segment *seg);

/* shoal_segment_destroy - unmap and close a created segment. NULL is a no-op. */
SHOAL_API void shoal_segment_destroy(struct shoal_segment *seg);

/*
 * shoal_segment_open - validate and map the segment behind @fd.
 *
 * @fd is duplicated; the caller keeps its own. Refuses, with a detail in
 * shoal_last_error():
 *   -EBADF       not an open fd
 *   -ENOTSUP     not a memfd (a pipe, socket, eventfd, regular or tmpfs file)
 *   -EPERM       a memfd not sealed against shrink and grow (or made without
 *                MFD_ALLOW_SEALING): a peer could truncate it under us and
 *                SIGBUS every reader; a READY segment without F_SEAL_SEAL;
 *                a read-write open of a segment sealed against writes
 *   -EBADMSG     bad magic, sizes, state word, table entries out of range,
 *                misaligned (align is a power of two <= 4096), overlapping
 *   -EPROTO      incompatible major version
 *   -EAGAIN      state INIT: the creator has not marked it READY yet
 * It never reads outside the mapping, and never faults on a short file.
 */
SHOAL_API int shoal_segment_open(int fd, uint32_t flags,
				 struct shoal_segment **out);

/* shoal_segment_close - unmap and close an opened segment. NULL is a no-op. */
SHOAL_API void shoal_segment_close(struct shoal_segment *seg);

/*
 * shoal_segment_find - look up object @name of @kind (0: any kind).
 *
 * Uses the table validated at create/open time, never the shared bytes again.
 * Returns 0 with *ptr (and *info if non-NULL), -ENOENT if there is no such
 * name, -EPROTO if it exists with another kind.
 */
SHOAL_API int shoal_segment_find(const struct shoal_segment *seg,
				 const char *name, uint32_t kind, void **ptr,
				 struct shoal_object_info *info);

/*
 * Accessors; they never fail on a valid handle.
 * shoal_segment_fd - the segment's memfd (owned by @seg: do not close it).
 * shoal_segment_base - the address the segment is mapped at.
 * shoal_segment_size - the segment's size in bytes.
 * shoal_segment_epoch - the incarnation number it was created with.
 * shoal_segment_object_count - the number of objects in its table.
 */
SHOAL_API int shoal_segment_fd(const struct shoal_segment *seg);
SHOAL_API void *shoal_segment_base(const struct shoal_segment *seg);
SHOAL_API uint64_t shoal_segment_size(const struct shoal_segment *seg);
SHOAL_API uint64_t shoal_segment_epoch(const struct shoal_segment *seg);
SHOAL_API uint32_t shoal_segment_object_count(const struct shoal_segment *seg);
/* The @index-th object (0-based) of the validated table; -ENOENT past the end. */
SHOAL_API int shoal_segment_object(const struct shoal_segment *seg,
				   uint32_t index,
				   struct shoal_object_info *info);

#ifdef __cplusplus
}
#endif

#endif
