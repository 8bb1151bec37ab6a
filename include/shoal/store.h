/* SPDX-License-Identifier: MIT */
/*
 * Store: named, typed shared objects (arrays, a blackboard, stacks, maps)
 * in one service found by name.
 *
 * The owner creates a store with a list of objects (shoal_store_create) and
 * may add more later (shoal_store_add) until the table or the reserved
 * bytes run out; nothing is ever freed. Any number of processes open the
 * store by name, read-write or read-only (SHOAL_STORE_READ_ONLY: the data is
 * mapped without PROT_WRITE, so a stray write faults), and look objects up
 * by name into small handle structs the caller owns (shoal_store_array(),
 * shoal_store_blackboard(), shoal_store_stack(), shoal_store_map()). A
 * looked-up handle stays valid until the store handle is closed.
 *
 * The table lives in the owner's segment, which peers can only map
 * read-only; the objects live in a data segment that every read-write peer
 * can write. Each table entry is still copied and checked before use, and
 * each object's algorithm checks every index it reads from the data
 * segment, so a peer that scribbles over the data gets wrong values and
 * errors, never a crash of an honest peer. See docs/store.md.
 *
 * Thread safety: array operations are safe from any number of threads
 * and processes at once. Everything else takes one thread at a time per
 * store handle (lookups, add, wait, and the blackboard, stack and map
 * operations, which write as the handle's one writer token and share its
 * lazily opened event handle): open one store handle per thread. Between
 * handles and processes every object operation is lock-free (see each).
 *
 * Blocking and system calls:
 *   shoal_store_options_init, shoal_store_object_count,
 *     shoal_store_object_at, shoal_store_array, shoal_store_blackboard,
 *     shoal_store_stack, shoal_store_map, shoal_store_get_stats,
 *     shoal_array_load32, shoal_array_store32, shoal_array_add32,
 *     shoal_array_cas32, shoal_array_load64, shoal_array_store64,
 *     shoal_array_add64, shoal_array_cas64, shoal_array_get,
 *     shoal_array_set, shoal_array_ptr, shoal_blackboard_read_slow,
 *     shoal_blackboard_version, shoal_stack_push, shoal_stack_pop,
 *     shoal_map_get, shoal_map_put, shoal_map_delete: neither (lock-free;
 *     a read retries while a writer is mid-update).
 *   shoal_store_create: system calls (memfd_create, mmap, the registry's
 *     files and locks, a helper thread that serves fds by SCM_RIGHTS, and
 *     the event service beside it); never blocks.
 *   shoal_store_open: system calls (the registry, taking the owner's fds,
 *     mmap); waits for the name as @opts->timeout_ns says, and up to 2 s
 *     for the owner's fd server.
 *   shoal_store_add: no system call; never blocks.
 *   shoal_store_destroy, shoal_store_close: system calls (withdraw the
 *     name, unmap, close); never block.
 *   shoal_blackboard_write: no system call unless a waiter sleeps on the
 *     key (then an eventfd write); the first write of a handle opens the
 *     store's event service (system calls, up to 2 s).
 *   shoal_store_wait: no system call when a watched key has changed;
 *     otherwise sleeps up to @timeout_ns; the first wait of a handle opens
 *     the event service and claims a listener line (system calls).
 *   shoal_store_inspect: system calls as shoal_registry_open(), bounded by
 *     its 2 s.
 */
#ifndef SHOAL_STORE_H
#define SHOAL_STORE_H

#include "common.h"
#include "registry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest object name (bytes, without the NUL). */
#define SHOAL_STORE_NAME_MAX 39
/* Longest element type name. */
#define SHOAL_STORE_TYPE_NAME_MAX 31
/* Most objects one store's table holds. */
#define SHOAL_STORE_OBJECTS_MAX 4096u
/* Largest element, value or key. */
#define SHOAL_STORE_ELEM_MAX (1u << 20)
/* Most elements, keys or slots of one object. */
#define SHOAL_STORE_COUNT_MAX (1u << 24)

/* Object kinds. */
enum {
	SHOAL_STORE_ARRAY = 1,	    /* fixed-size elements, by index */
	SHOAL_STORE_BLACKBOARD = 2, /* key index -> latest value */
	SHOAL_STORE_STACK = 3,	    /* lock-free LIFO of elements */
	SHOAL_STORE_MAP = 4,	    /* key bytes -> value, open addressing */
};

/* shoal_store_object.flags */
enum {
	/* Blackboard: several processes may write one key (each write is
	 * whole; the last one wins). Without it each key has one writer at
	 * a time, which is cheaper. */
	SHOAL_STORE_MANY_WRITERS = 1u << 0,
};

/* One object to create. */
struct shoal_store_object {
	const char *name;      /* 1..SHOAL_STORE_NAME_MAX printable bytes */
	uint32_t kind;	       /* SHOAL_STORE_* */
	uint32_t count;	       /* elements / keys / stack or map capacity */
	uint32_t elem_size;    /* bytes of an element or a value */
	uint32_t elem_align;   /* 0: the natural one, up to 8 */
	uint32_t key_size;     /* map: the longest key in bytes; else 0 */
	uint32_t flags;	       /* SHOAL_STORE_MANY_WRITERS */
	const char *type_name; /* the element type; NULL or "": none */
};

/* shoal_store_options.flags */
enum {
	/* Open only: map the data read-only; every write call then fails
	 * with -EPERM. */
	SHOAL_STORE_READ_ONLY = 1u << 0,
	/* Take fds by SCM_RIGHTS only (see SHOAL_OPEN_NO_PIDFD_GETFD). */
	SHOAL_STORE_NO_PIDFD_GETFD = 1u << 1,
};

struct shoal_store_options {
	/* Creation only: the first objects. */
	const struct shoal_store_object *objects;
	uint32_t nobjects;
	/* Creation only: table entries, nobjects..SHOAL_STORE_OBJECTS_MAX;
	 * default 64 (or nobjects if more). */
	uint32_t max_objects;
	/* Creation only: bytes reserved beyond the first objects, for
	 * shoal_store_add(); default 0. */
	uint64_t reserve_bytes;
	/* Creation only: SHOAL_ACCESS_*; default SHOAL_ACCESS_OWNER. */
	uint32_t access;
	/* Creation only: ids of the event service that carries blackboard
	 * change notifications, 0..1024 (0: none, shoal_store_wait() then
	 * polls); default 256. Keys share ids when there are more keys. */
	uint32_t event_ids;
	uint32_t flags; /* SHOAL_STORE_* */
	uint32_t pad;
	/* A type name recorded at creation and checked at open (-EPROTO on
	 * a difference) when not NULL: the name of the store's schema. */
	const char *type_name;
	uint32_t type_size;
	uint32_t type_align;
	struct shoal_registry *registry; /* NULL: the default one */
	/* Open only: 0 fails with -ENOENT at once; > 0 waits up to that
	 * long for the name; SHOAL_WAIT_FOREVER waits as long as it takes. */
	int64_t timeout_ns;
};

/* What the table says of one object (checked). */
struct shoal_store_object_info {
	char name[SHOAL_STORE_NAME_MAX + 1];
	char type_name[SHOAL_STORE_TYPE_NAME_MAX + 1];
	uint32_t kind, count, elem_size, elem_align, key_size, flags;
	/* Blackboard: key k's changes are event id (event_base + k) %
	 * event_ids of the store's event service. */
	uint32_t event_base;
	uint32_t pad;
	uint64_t offset; /* from the start of the data region */
	uint64_t size;	 /* bytes of its region */
};

struct shoal_store;

/* Handles of objects, filled by the lookups below; the caller owns the
 * struct, the store handle the memory and the views behind it (valid until
 * the store handle is closed). Fields are not API. */
struct shoal_array {
	struct shoal_store *store;
	void *base;
	uint32_t count, elem_size;
	int writable;
};
struct shoal_blackboard {
	struct shoal_store *store;
	void *views;
	uint32_t count, value_size, flags, event_base;
	int writable;
	/* For the inline read below: the key cells in this process's
	 * mapping (cell k at priv_cells + k * priv_cell_bytes, its format in
	 * docs/store-format.md), and the cell layout the library found
	 * there, SHOAL_BLACKBOARD_LAYOUT or 0 (then every read takes the
	 * out-of-line path). Set by shoal_store_blackboard() from checked
	 * values, never from shared memory at read time. */
	const unsigned char *priv_cells;
	uint64_t priv_cell_bytes, priv_copy_stride;
	uint32_t priv_layout;
};
struct shoal_stack {
	struct shoal_store *store;
	void *view;
	uint32_t capacity, elem_size;
	int writable;
};
struct shoal_map {
	struct shoal_store *store;
	void *view;
	uint32_t capacity, key_size, value_size;
	int writable;
};

struct shoal_store_stats {
	uint32_t objects, max_objects;
	uint64_t heap_used, heap_size;
	uint32_t event_ids;
	uint32_t read_only; /* this handle maps the data read-only */
};

/* Fill *opts with the defaults. Never fails. */
SHOAL_API void shoal_store_options_init(struct shoal_store_options *opts);

/*
 * shoal_store_create - create store @name with @opts->objects and publish
 * it (and its event service "<name>/events" when event_ids > 0). Returns 0,
 * -EINVAL (bad options, object or name, with a detail), -EEXIST (a live
 * owner holds the name, or two objects share a name), -E2BIG (too large),
 * or what segment, eventfd or registry calls return.
 */
SHOAL_API int shoal_store_create(const char *name,
				 const struct shoal_store_options *opts,
				 struct shoal_store **out);
/* Withdraw the store (and its event service). Handles of other processes
 * keep their mappings and keep working on the data; new opens fail.
 * NULL: no-op. */
SHOAL_API void shoal_store_destroy(struct shoal_store *s);

/*
 * shoal_store_open - find store @name and map it, read-write or (flags
 * SHOAL_STORE_READ_ONLY) read-only. Only flags, type_*, registry and
 * timeout_ns of @opts are used. Returns 0, -ENOENT, -ETIMEDOUT, -EPROTO
 * (another type, or not a store), -EBADMSG (a corrupt store), or -errno.
 */
SHOAL_API int shoal_store_open(const char *name,
			       const struct shoal_store_options *opts,
			       struct shoal_store **out);
SHOAL_API void shoal_store_close(struct shoal_store *s);

/*
 * shoal_store_add - the owner adds @obj. Returns its index, or -EPERM (not
 * the owner), -EINVAL, -EEXIST (the name is taken), -ENOSPC (the table or
 * the reserved bytes are full). Peers see it at their next lookup.
 */
SHOAL_API int shoal_store_add(struct shoal_store *s,
			      const struct shoal_store_object *obj);

/* How many objects the table holds now (peers: as published). */
SHOAL_API uint32_t shoal_store_object_count(const struct shoal_store *s);
/* Object @index's entry, checked: 0, -ENOENT (no such index), -EBADMSG
 * (the entry is corrupt). */
SHOAL_API int shoal_store_object_at(const struct shoal_store *s, uint32_t index,
				    struct shoal_store_object_info *info);

/*
 * The lookups: object @name, which must be of the kind asked for. 0,
 * -ENOENT (no object of that name), -EPROTO (another kind), -EBADMSG
 * (corrupt entry or object header).
 */
SHOAL_API int shoal_store_array(struct shoal_store *s, const char *name,
				struct shoal_array *out);
SHOAL_API int shoal_store_blackboard(struct shoal_store *s, const char *name,
				     struct shoal_blackboard *out);
SHOAL_API int shoal_store_stack(struct shoal_store *s, const char *name,
				struct shoal_stack *out);
SHOAL_API int shoal_store_map(struct shoal_store *s, const char *name,
			      struct shoal_map *out);

/*
 * Arrays. Indexes are checked (-ERANGE past the end). The 32-bit calls
 * need 4-byte elements, the 64-bit ones 8-byte elements (else -EINVAL);
 * they are single atomic instructions (seq_cst), lock-free across
 * processes. Writes on a read-only handle fail with -EPERM.
 *   load: *@out = element; store: element = @v;
 *   add: element += @v, *@old (may be NULL) = the value before;
 *   cas: if element == *@expected, element = @desired and 0; else
 *        *@expected = element and -EAGAIN.
 * get/set copy a whole element of any size (not atomic for sizes above 8:
 * use a blackboard for untorn values). ptr gives the element's address
 * for zero-copy reads (or NULL if @index is out of range).
 */
SHOAL_API int shoal_array_load32(const struct shoal_array *a, uint32_t index,
				 uint32_t *out);
SHOAL_API int shoal_array_store32(const struct shoal_array *a, uint32_t index,
				  uint32_t v);
SHOAL_API int shoal_array_add32(const struct shoal_array *a, uint32_t index,
				uint32_t v, uint32_t *old);
SHOAL_API int shoal_array_cas32(const struct shoal_array *a, uint32_t index,
				uint32_t *expected, uint32_t desired);
SHOAL_API int shoal_array_load64(const struct shoal_array *a, uint32_t index,
				 uint64_t *out);
SHOAL_API int shoal_array_store64(const struct shoal_array *a, uint32_t index,
				  uint64_t v);
SHOAL_API int shoal_array_add64(const struct shoal_array *a, uint32_t index,
				uint64_t v, uint64_t *old);
SHOAL_API int shoal_array_cas64(const struct shoal_array *a, uint32_t index,
				uint64_t *expected, uint64_t desired);
SHOAL_API int shoal_array_get(const struct shoal_array *a, uint32_t index,
			      void *out);
SHOAL_API int shoal_array_set(const struct shoal_array *a, uint32_t index,
			      const void *in);
SHOAL_API void *shoal_array_ptr(const struct shoal_array *a, uint32_t index);

/*
 * Blackboard: key (0..count-1) -> its latest value, at most value_size
 * bytes. write replaces the value and bumps the key's change counter;
 * read copies the latest whole value (never a torn one, even if a writer
 * died mid-write: that write is simply not seen) into @buf, sets
 * *@version (may be NULL) to the change counter it belongs to, and
 * returns value_size (a key never written reads as zeros, version 0; a
 * shorter write was padded with zeros). -ERANGE: no such key;
 * -EMSGSIZE: @len > value_size, or @cap smaller than the value (nothing
 * is copied). -EPERM: write on a read-only handle.
 * -EAGAIN (read): writers kept the key busy through every retry, or the
 * entry is corrupt. write of a single-writer key from two processes at
 * once is a caller error: readers then see -EAGAIN until one wins.
 */
SHOAL_API int shoal_blackboard_write(const struct shoal_blackboard *bb,
				     uint32_t key, const void *data,
				     uint32_t len);
/* The read, out of line: what shoal_blackboard_read() does when its inline
 * attempt does not succeed at once (a writer in the copy, a bad argument,
 * a corrupt entry: retries, errors and their detail), and the function
 * for bindings that cannot call a static inline one. */
SHOAL_API int shoal_blackboard_read_slow(const struct shoal_blackboard *bb,
					 uint32_t key, void *buf, uint32_t cap,
					 uint64_t *version);

/*
 * The cell layout the inline read below was compiled for (a cell: a
 * 64-byte object header, then the change counter seq and the two copies'
 * stamps as 64-bit words, then at byte 128 copy 0 and copy 1,
 * priv_copy_stride apart). A library that maps another layout leaves
 * priv_layout 0 and every read goes out of line, so a program built
 * against this header stays correct with a newer library.
 */
#define SHOAL_BLACKBOARD_LAYOUT 1u

#if defined(__SANITIZE_THREAD__)
#define SHOAL__BLACKBOARD_INLINE 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHOAL__BLACKBOARD_INLINE 0
#endif
#endif
#ifndef SHOAL__BLACKBOARD_INLINE
#define SHOAL__BLACKBOARD_INLINE 1
#endif

#if defined(__GNUC__)
#define SHOAL__ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define SHOAL__ALWAYS_INLINE inline
#endif

/*
 * The inline read's copy out of a cell's copy. For 8, 16, 32 and 64 bytes
 * it is 8- and 16-byte moves of a constant size in the caller's code, the
 * same instructions as a bare seqlock's copy of a constant 64 bytes; libc's
 * memcpy, for a size known only at run time, cost a call and its size
 * dispatch on every read, and its one 64-byte store of a 64-byte value
 * (AVX-512) could not be forwarded to the 16-byte loads with which the
 * caller then read the value, which stalled it (bench/README.md, "Store").
 * The 16-byte pieces are written out because gcc made a constant 64-byte
 * __builtin_memcpy a rep movs in some callers. Sizes are checked 64 first
 * and the 64-byte copy is the straight-line path (the other sizes take one
 * jump more): a cache line's value is the common case this is tuned for.
 */
static SHOAL__ALWAYS_INLINE void
shoal__blackboard_copy(void *buf, const unsigned char *src, uint32_t size)
{
	unsigned char *d = (unsigned char *)buf;

	if (__builtin_expect(size == 64, 1)) {
		__builtin_memcpy(d, src, 16);
		__builtin_memcpy(d + 16, src + 16, 16);
		__builtin_memcpy(d + 32, src + 32, 16);
		__builtin_memcpy(d + 48, src + 48, 16);
	} else if (size == 32) {
		__builtin_memcpy(d, src, 16);
		__builtin_memcpy(d + 16, src + 16, 16);
	} else if (size == 16) {
		__builtin_memcpy(d, src, 16);
	} else if (size == 8) {
		__builtin_memcpy(d, src, 8);
	} else {
		__builtin_memcpy(d, src, size);
	}
}

/* One attempt at copy @c (a constant 0 or 1 where it is called) of the
 * cell at @cell, whose change counter read @s, for values of @size bytes
 * in copies @stride apart: 0 (copied, *@version set) or -1. */
static SHOAL__ALWAYS_INLINE int shoal__blackboard_try(const unsigned char *cell,
						      uint64_t s, unsigned c,
						      uint64_t stride,
						      uint32_t size, void *buf,
						      uint64_t *version)
{
	const uint64_t *stamp =
		(const uint64_t *)(const void *)(cell + 72 + 8 * c);
	/* Acquire: pairs with the release of stamp 2s, which follows the
	 * copy's bytes. */
	uint64_t st = __atomic_load_n(stamp, __ATOMIC_ACQUIRE);

	if (__builtin_expect(st != 2 * s, 0))
		return -1;
	shoal__blackboard_copy(buf, cell + 128 + c * stride, size);
	/* Acquire fence: pairs with the writer's release fence after its odd
	 * stamp; a copy a writer touched shows in the reload. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__builtin_expect(__atomic_load_n(stamp, __ATOMIC_RELAXED) != st, 0))
		return -1;
	if (version)
		*version = s;
	return 0;
}

/*
 * The read, inline: one attempt of the seqlock-latch read
 * (docs/store-format.md) in the caller's code, because a blackboard read
 * is a few loads and a copy, and two calls deep it cost 3x a bare
 * seqlock's (bench/README.md, "Store"). It takes the newest change s,
 * checks that its copy's stamp says whole (2s), copies, and checks the
 * stamp again after an acquire fence; anything else goes to
 * shoal_blackboard_read_slow(). Copy s & 1 is picked by a branch into two
 * copies of the attempt, each with its stamp's and copy's offsets as
 * constants, rather than by addresses computed from s: with the branch
 * predicted, the stamp and copy loads need not wait for the load of s
 * (in shoal-bench-store this read ran 5-10% faster so; bench/README.md).
 * The success path is marked likely, so the compiler lays it out
 * straight. What it reads from shared memory only picks copy 0 or 1 and
 * is compared; offsets and sizes come from the handle. The copy races a
 * writer by design (a torn copy is thrown away by the second stamp
 * check), so ThreadSanitizer builds always take the out-of-line read,
 * whose copy TSan understands.
 */
static inline int shoal_blackboard_read(const struct shoal_blackboard *bb,
					uint32_t key, void *buf, uint32_t cap,
					uint64_t *version)
{
#if SHOAL__BLACKBOARD_INLINE
	if (__builtin_expect(bb && bb->priv_layout == SHOAL_BLACKBOARD_LAYOUT &&
				     key < bb->count && cap >= bb->value_size,
			     1)) {
		/* The handle's fields, read before the acquire load below,
		 * after which the compiler would read them again. */
		uint32_t size = bb->value_size;
		uint64_t stride = bb->priv_copy_stride;
		const unsigned char *cell =
			bb->priv_cells + (uint64_t)key * bb->priv_cell_bytes;
		/* Acquire: pairs with the writer's release of seq = s, after
		 * its release of copy s & 1's stamp 2s. */
		uint64_t s = __atomic_load_n(
			(const uint64_t *)(const void *)(cell + 64),
			__ATOMIC_ACQUIRE);

		if (!((s & 1) ? shoal__blackboard_try(cell, s, 1, stride, size,
						      buf, version) :
				shoal__blackboard_try(cell, s, 0, stride, size,
						      buf, version)))
			return (int)size;
	}
#endif
	return shoal_blackboard_read_slow(bb, key, buf, cap, version);
}
/* The key's change counter: how many writes completed (0: never
 * written); 0 for a key out of range. */
SHOAL_API uint64_t shoal_blackboard_version(const struct shoal_blackboard *bb,
					    uint32_t key);

/* One key to watch: set bb and key, and seen to the last version you
 * know (0 at first); shoal_store_wait sets changed and moves seen. */
struct shoal_store_watch {
	const struct shoal_blackboard *bb;
	uint32_t key;
	uint32_t changed; /* out: 1 if the key's version moved past seen */
	uint64_t seen;	  /* in/out: the version last seen */
};

/*
 * shoal_store_wait - wait until any of the @n watched keys has a version
 * other than its seen; then, for every watch, set changed (0 or 1) and
 * seen to the current version. Returns the number of changed keys (>= 1),
 * -EAGAIN (@timeout_ns 0 and nothing changed), -ETIMEDOUT, -EINVAL, or
 * -EPIPE (the owner withdrew or died and nothing changed; only a store
 * with an event service can tell). Waits on the store's
 * event service when it has one, else polls every millisecond.
 */
SHOAL_API int shoal_store_wait(struct shoal_store *s,
			       struct shoal_store_watch *watches, uint32_t n,
			       int64_t timeout_ns);

/*
 * Stack: a lock-free LIFO of up to capacity elements of elem_size bytes.
 * push copies @len (<= elem_size) bytes in: 0, -EAGAIN (full), -EMSGSIZE,
 * -EPERM (read-only). pop copies the top element out (@cap >= its length)
 * and returns its length: -EAGAIN (empty), -EMSGSIZE, -EPERM.
 */
SHOAL_API int shoal_stack_push(const struct shoal_stack *st, const void *data,
			       uint32_t len);
SHOAL_API int shoal_stack_pop(const struct shoal_stack *st, void *buf,
			      uint32_t cap);

/*
 * Map: keys of 1..key_size bytes to values of up to value_size bytes, in
 * a fixed table (open addressing). put inserts or replaces: 0, -ENOSPC
 * (full), -EMSGSIZE, -EPERM. get copies the value and returns its length,
 * or -ENOENT. delete: 0 or -ENOENT (-EPERM read-only).
 */
SHOAL_API int shoal_map_put(const struct shoal_map *m, const void *key,
			    uint32_t key_len, const void *value,
			    uint32_t value_len);
SHOAL_API int shoal_map_get(const struct shoal_map *m, const void *key,
			    uint32_t key_len, void *buf, uint32_t cap);
SHOAL_API int shoal_map_delete(const struct shoal_map *m, const void *key,
			       uint32_t key_len);

/* The store's shared figures and this handle's mode. */
SHOAL_API void shoal_store_get_stats(const struct shoal_store *s,
				     struct shoal_store_stats *st);
/* Reads store @name's figures from outside (read-only, no join). */
SHOAL_API int shoal_store_inspect(struct shoal_registry *reg, const char *name,
				  struct shoal_store_stats *st);

#ifdef __cplusplus
}
#endif

#endif
