/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a subscriber's read path (shoal_sub_take, _release, _valid,
 * _read, _arm) against a publisher whose slots and header words the input
 * overwrites.
 *
 * Each input creates a publisher, in a private registry (SHOAL_DIR is set
 * to a fresh directory once), with a small geometry the input picks
 * (capacity 2..16, payload 1..100 bytes, a user header or none, reliable or
 * lossy, send timeout 0 so nothing ever waits), and joins it with one
 * subscriber. Then it runs the input's operations (pubsub_fuzz.h): publish,
 * loan and abort, take, release, read, arm, reopen the subscriber, and
 * overwrite what a hostile publisher controls: each slot's stamp, length,
 * timestamp and bytes, and the header's head, closed and waiting words.
 * The publisher's own mapping of its segment is the only writable one (the
 * memfd is sealed F_SEAL_FUTURE_WRITE), so the target finds it from a loan:
 * the first loan's pointer, less the user header and the slot header, is
 * slot 0; the mapping around it (from /proc/self/maps) starts at the
 * segment's header, whose object table gives the header object. Nothing
 * new is exposed by the library for this.
 *
 * Checked on every run, and any broken promise aborts:
 *   - every call returns one of its documented codes; -EBUSY from take()
 *     exactly when a message is held; release() without one is -EINVAL;
 *   - a message has len <= max_payload, the service's user header size, its
 *     user header right before its payload, the publisher's epoch, and its
 *     slot header, user header and payload lie in the subscriber's mapping
 *     of the payload memfd, read-only, inside the slots object, in the slot
 *     of its sequence number; every byte of it can be read;
 *   - within one attachment, once a message told the subscriber's
 *     position, every later message is exactly the next one: after the
 *     last consumed, after the msg.lost ones an -EOVERFLOW (lost >= 1)
 *     skipped, after the one an -EBADMSG refused;
 *   - read() returns at most its buffer's size (exactly sized, so ASan
 *     sees any byte past it) and clears the pointers of *msg;
 *   - no fd is left open when the publisher and subscriber are gone.
 * As long as the input has overwritten nothing, the run is also checked
 * against a model of the protocol: every take, read, release, valid, arm
 * and publish returns exactly what the model says (reliable: nothing lost,
 * a full ring refuses the publisher; lossy: -EOVERFLOW with the exact
 * count, -ESTALE exactly when the publisher reused the held slot), and
 * every message has the length, payload, user header and timestamp that
 * were sent for its sequence number.
 *
 * Built two ways: with clang -fsanitize=fuzzer as a libFuzzer target, and
 * with any compiler plus standalone_main.c as a corpus replayer (CTest).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shoal/pubsub.h>
#include <shoal/registry.h>

#include "pubsub_fuzz.h"
#include "patterns/pubsub_internal.h"

/*
 * Subscribers that take their fds by SCM_RIGHTS (SHOAL_SUB_NO_PIDFD_GETFD)
 * when the input asks for it (PT_C1_SCM_RIGHTS). This found the publisher
 * freeing the array of extra fds its registry entry borrows (a
 * use-after-free in the fd server). Define PT_SCM_RIGHTS 0 to leave them
 * out.
 */
#ifndef PT_SCM_RIGHTS
#define PT_SCM_RIGHTS 1
#endif

#define PT_NAME "fuzz/take"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise: say which, then abort so the fuzzer keeps the input. */
#define PROMISE(cond)                                                     \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr,                                   \
				"pubsub_take_fuzz: broken: %s (line %d; " \
				"last error: %s)\n",                      \
				#cond, __LINE__, shoal_last_error());     \
			abort();                                          \
		}                                                         \
	} while (0)

/* A return code compared with the one expected. */
#define EXPECT(r, want)                                                    \
	do {                                                               \
		long long r_ = (r), w_ = (want);                           \
		if (r_ != w_) {                                            \
			fprintf(stderr,                                    \
				"pubsub_take_fuzz: line %d: %s = %lld, "   \
				"model says %lld (last error: %s)\n",      \
				__LINE__, #r, r_, w_, shoal_last_error()); \
			abort();                                           \
		}                                                          \
	} while (0)

static struct shoal_registry *reg;
static char reg_dir[64];

/* One mapping, from /proc/self/maps. */
struct pt_map {
	uintptr_t start, end;
	uint64_t pgoff, ino;
	unsigned int dev_major, dev_minor;
	char perms[5];
};

struct pt {
	/* The service. */
	int lossy, timestamp;
	uint32_t sub_flags;
	uint32_t capacity, mask, max_payload, uh, stride, pub_history;
	struct shoal_pub *pub;
	uint64_t epoch;
	/* The publisher's writable mapping of its payload segment. */
	uint8_t *slots_w;
	struct shoal__pubsub_header *hdr_w;
	uint64_t slots_off, slots_size;
	struct pt_map pub_map;
	/* What the publisher did: messages sent (its head), the length of
	 * the last message of each slot, and whether the slot of message
	 * `sent` holds an aborted loan's odd stamp. */
	uint64_t sent;
	uint32_t lens[16];
	int aborted;

	/* The subscriber; NULL after a failed reopen. */
	struct shoal_sub *sub;
	int held;
	struct shoal_msg msg;
	/* The subscriber's mapping, as last found, for this attachment. */
	struct pt_map sub_map;
	int sub_map_ok;
	uint64_t opens, seen_opens, seen_reattached;
	/* The subscriber's next sequence number, once a message of this
	 * attachment told it (joining reads a head the input may have
	 * overwritten). */
	int known;
	uint64_t next;
	/* stats.skipped as last seen: skip markers (a slot whose length is
	 * SHOAL__BCAST_SKIP_LEN, which a poke can write) are passed over
	 * without being delivered, so they move the next seq too. */
	uint64_t seen_skipped;

	/* The model, while clean: nothing was overwritten. */
	int clean;
	uint64_t cursor;
	int overwritten; /* lossy: the held message's slot was reused */

	struct pt_summary *sum;
};

/* ------------------------------------------------------------------------
 * Helpers
 */

static void cleanup(void)
{
	shoal_registry_destroy(reg);
	reg = NULL;
	if (reg_dir[0])
		rmdir(reg_dir);
}

static void init_once(void)
{
	if (reg)
		return;
	/* tmpfs if there is one: a publisher writes its descriptor there. */
	snprintf(reg_dir, sizeof(reg_dir), "/dev/shm/shoal-fuzz-take-XXXXXX");
	if (!mkdtemp(reg_dir)) {
		snprintf(reg_dir, sizeof(reg_dir),
			 "/tmp/shoal-fuzz-take-XXXXXX");
		PROMISE(mkdtemp(reg_dir) != NULL);
	}
	PROMISE(setenv("SHOAL_DIR", reg_dir, 1) == 0);
	PROMISE(shoal_registry_create(NULL, &reg) == 0);
	atexit(cleanup);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	PROMISE(d != NULL);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

static int find_map(uintptr_t addr, struct pt_map *m)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4096 + 128];
	int found = 0;

	PROMISE(f != NULL);
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long s, e, off, ino;
		unsigned int maj, min;
		char perms[5], *end;

		/* The range first: sscanf on every line is slow under ASan. */
		s = strtoul(line, &end, 16);
		if (*end != '-' || addr < s)
			continue;
		e = strtoul(end + 1, &end, 16);
		if (*end != ' ' || addr >= e)
			continue;
		if (sscanf(line, "%lx-%lx %4s %lx %x:%x %lu", &s, &e, perms,
			   &off, &maj, &min, &ino) != 7)
			continue;
		m->start = s;
		m->end = e;
		m->pgoff = off;
		m->ino = ino;
		m->dev_major = maj;
		m->dev_minor = min;
		memcpy(m->perms, perms, sizeof(perms));
		found = 1;
	}
	fclose(f);
	return found;
}

/* The payload byte @k of message @seq, as the target sends it. */
static uint8_t fill(uint64_t seq, uint32_t k)
{
	return (uint8_t)(seq * 131 + k * 7 + 1);
}

struct pt_in {
	const uint8_t *data;
	size_t size, at;
};

static uint64_t rd(struct pt_in *in, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++, in->at++)
		if (in->at < in->size)
			v |= (uint64_t)in->data[in->at] << (8 * i);
	return v;
}

static struct shoal__bcast_slot *slot_w(const struct pt *t, uint64_t seq)
{
	return (struct shoal__bcast_slot *)(t->slots_w +
					    (uint64_t)t->stride *
						    (seq & t->mask));
}

/* ------------------------------------------------------------------------
 * The publisher
 */

/* Finds the writable slots from a first loan, and the header from the
 * segment's own table in that mapping. */
static void find_pub_memory(struct pt *t)
{
	const struct shoal__seg_header *sh;
	const uint8_t *base;
	uint64_t hdr_off = 0;
	int have_hdr = 0, have_slots = 0;
	void *ptr;

	PROMISE(shoal_pub_loan(t->pub, 0, &ptr) == 0);
	t->slots_w =
		(uint8_t *)ptr - shoal__bcast_data_off(t->uh, t->max_payload);
	PROMISE(shoal_pub_abort(t->pub, ptr) == 0);
	/* Undo the aborted loan's odd stamp: a fresh ring. */
	atomic_store_explicit(&slot_w(t, 0)->stamp, 0, memory_order_relaxed);

	PROMISE(find_map((uintptr_t)t->slots_w, &t->pub_map));
	PROMISE(t->pub_map.pgoff == 0 && t->pub_map.perms[1] == 'w');
	base = (const uint8_t *)t->pub_map.start;
	sh = (const struct shoal__seg_header *)base;
	PROMISE(sh->magic == SHOAL__SEG_MAGIC);
	PROMISE(sh->object_count <= SHOAL_SEGMENT_OBJECTS_MAX);
	for (uint32_t i = 0; i < sh->object_count; i++) {
		const struct shoal__seg_entry *e =
			(const void *)(base + sh->table_offset +
				       (uint64_t)i * sh->entry_size);

		if (!strcmp(e->name, SHOAL__PUBSUB_HEADER_OBJECT)) {
			hdr_off = e->offset;
			have_hdr = 1;
		} else if (!strcmp(e->name, SHOAL__PUBSUB_SLOTS_OBJECT)) {
			t->slots_off = e->offset;
			t->slots_size = e->size;
			have_slots = 1;
		}
	}
	PROMISE(have_hdr && have_slots);
	PROMISE(base + t->slots_off == t->slots_w);
	PROMISE(t->slots_size == (uint64_t)t->capacity * t->stride);
	PROMISE(t->slots_off + t->slots_size <=
		t->pub_map.end - t->pub_map.start);
	t->hdr_w = (struct shoal__pubsub_header *)(base + hdr_off);
	PROMISE(t->hdr_w->ident.magic == SHOAL__PUBSUB_MAGIC &&
		t->hdr_w->capacity == t->capacity &&
		t->hdr_w->slot_stride == t->stride);
}

/* Reliable: whether the publisher may write message `sent` (model). */
static int model_room(const struct pt *t)
{
	return t->lossy || t->sent < t->capacity || !t->sub ||
	       t->sent - t->cursor < t->capacity;
}

/* A loan of message `sent` succeeded: the held slot may be reused. */
static void loaned(struct pt *t)
{
	if (t->held && (t->sent & t->mask) == (t->msg.seq & t->mask)) {
		/* Reliable gating protects a held message. */
		if (t->clean)
			PROMISE(t->lossy);
		t->overwritten = 1;
	}
}

static void pub_put(struct pt *t, uint32_t len)
{
	uint8_t buf[128];
	uint64_t uh = t->sent;
	int r, want;

	for (uint32_t k = 0; k < len && k < sizeof(buf); k++)
		buf[k] = fill(t->sent, k);
	want = len > t->max_payload ? -EMSGSIZE : !model_room(t) ? -EAGAIN : 0;
	r = shoal_pub_write(t->pub, buf, len, t->uh ? &uh : NULL);
	PROMISE(r == 0 || r == -EAGAIN || r == -EMSGSIZE);
	if (t->clean)
		EXPECT(r, want);
	if (r == -EAGAIN)
		t->sum->pub_again++;
	if (r)
		return;
	loaned(t);
	t->lens[t->sent & t->mask] = len;
	t->sent++;
	t->aborted = 0;
}

static void op_loan_abort(struct pt *t, struct pt_in *in)
{
	uint32_t f = (uint32_t)rd(in, 1);
	uint64_t stamp = rd(in, 8);
	uint32_t len = (uint32_t)rd(in, 4);
	struct shoal__bcast_slot *s = slot_w(t, t->sent);
	void *ptr;
	int r;

	r = shoal_pub_loan(t->pub, 0, &ptr);
	PROMISE(r == 0 || r == -EAGAIN);
	if (t->clean)
		EXPECT(r, model_room(t) ? 0 : -EAGAIN);
	if (r) {
		t->sum->pub_again++;
		return;
	}
	PROMISE((uint8_t *)ptr ==
		(uint8_t *)s + shoal__bcast_data_off(t->uh, t->max_payload));
	loaned(t);
	if (f & 1) {
		atomic_store_explicit(&s->stamp, stamp, memory_order_relaxed);
		atomic_store_explicit(&s->len, len, memory_order_relaxed);
		t->clean = 0;
	}
	PROMISE(shoal_pub_abort(t->pub, ptr) == 0);
	t->aborted = 1;
}

static void op_poke_slot(struct pt *t, struct pt_in *in)
{
	uint32_t sel = (uint32_t)rd(in, 1);
	uint64_t v = rd(in, 8);
	struct shoal__bcast_slot *s = slot_w(t, t->sent + (sel & 15));

	switch ((sel >> 4) & 3) {
	case 0:
		atomic_store_explicit(&s->stamp, v, memory_order_relaxed);
		break;
	case 1:
		atomic_store_explicit(&s->len, (uint32_t)v,
				      memory_order_relaxed);
		break;
	case 2:
		atomic_store_explicit(&s->timestamp_ns, (int64_t)v,
				      memory_order_relaxed);
		break;
	default: {
		/* The stamp of a message near head, in its own slot: what a
		 * publisher that lies about one message writes. */
		uint64_t seq = t->sent + (uint64_t)(int64_t)(int8_t)(v & 0xff);

		atomic_store_explicit(&slot_w(t, seq)->stamp,
				      shoal__bcast_stamp(seq) | ((v >> 8) & 1),
				      memory_order_relaxed);
		break;
	}
	}
	t->clean = 0;
}

static void op_poke_header(struct pt *t, struct pt_in *in, int op)
{
	uint32_t sel = (uint32_t)rd(in, 1);

	if (op == PT_OP_POKE_HEAD) {
		uint64_t v = rd(in, 8);

		if (!(sel & 1))
			v = t->sent + (uint64_t)(int64_t)(int8_t)(v & 0xff);
		atomic_store_explicit(&t->hdr_w->head, v, memory_order_relaxed);
	} else {
		uint32_t v = (uint32_t)rd(in, 4);

		atomic_store_explicit(sel & 1 ? &t->hdr_w->closed :
						&t->hdr_w->waiting,
				      v, memory_order_relaxed);
	}
	t->clean = 0;
}

static void op_poke_raw(struct pt *t, struct pt_in *in)
{
	uint64_t off = rd(in, 2) % t->slots_size / 8 * 8;
	uint64_t v = rd(in, 8);

	memcpy(t->slots_w + off, &v, sizeof(v));
	t->clean = 0;
}

/* ------------------------------------------------------------------------
 * The subscriber
 */

/* Forget what the last attachment told: its mapping, its cursor. */
static void detached(struct pt *t)
{
	t->known = 0;
	t->sub_map_ok = 0;
}

/* Notices a new attachment (open, or reattached inside a call). */
static void new_attachment(struct pt *t)
{
	struct shoal_sub_stats st;

	if (!t->sub)
		return;
	shoal_sub_get_stats(t->sub, &st);
	if (t->opens == t->seen_opens && st.reattached == t->seen_reattached)
		return;
	t->seen_opens = t->opens;
	t->seen_reattached = st.reattached;
	detached(t);
	if (st.reattached > t->sum->reattached)
		t->sum->reattached = (uint32_t)st.reattached;
}

/* [p, p + len) is in the subscriber's read-only mapping of the payload
 * memfd, inside the slots object, in the slot of @seq. */
static void check_in_slot(struct pt *t, const void *p, uint64_t len,
			  uint64_t seq)
{
	uintptr_t a = (uintptr_t)p;
	uint64_t foff, in_slot;

	if (!t->sub_map_ok || a < t->sub_map.start || a >= t->sub_map.end) {
		PROMISE(find_map(a, &t->sub_map));
		t->sub_map_ok = 1;
	}
	PROMISE(t->sub_map.dev_major == t->pub_map.dev_major &&
		t->sub_map.dev_minor == t->pub_map.dev_minor &&
		t->sub_map.ino == t->pub_map.ino);
	PROMISE(t->sub_map.perms[1] == '-');
	PROMISE(len <= t->sub_map.end - a);
	foff = t->sub_map.pgoff + (a - t->sub_map.start);
	PROMISE(foff >= t->slots_off &&
		len <= t->slots_off + t->slots_size - foff);
	in_slot = foff - t->slots_off - (uint64_t)t->stride * (seq & t->mask);
	PROMISE(foff - t->slots_off >= (uint64_t)t->stride * (seq & t->mask) &&
		in_slot + len <= t->stride);
}

/*
 * Messages come in order: the next one is the one after the last consumed,
 * after the @lost ones -EOVERFLOW skipped, after the one -EBADMSG refused,
 * after the skip markers passed over (stats.skipped).
 * Called after every take or read; @seq is the message's (if r >= 0).
 */
static void check_order(struct pt *t, long r, uint64_t seq, uint64_t lost,
			int consumed)
{
	struct shoal_sub_stats st;

	new_attachment(t);
	if (t->sub) {
		shoal_sub_get_stats(t->sub, &st);
		PROMISE(st.skipped >= t->seen_skipped);
		t->next += st.skipped - t->seen_skipped;
		t->seen_skipped = st.skipped;
	}
	if (r == -EPIPE) {
		detached(t);
	} else if (r == -EOVERFLOW) {
		t->next += lost;
	} else if (r == -EBADMSG) {
		t->next++;
	} else if (r >= 0) {
		if (t->known)
			EXPECT(seq, t->next);
		t->known = 1;
		t->next = seq + !!consumed;
	}
}

/* What take() returns by the model: 0 with *seq, -EAGAIN, or -EOVERFLOW
 * with *lost (the model's cursor moves). */
static int model_take(struct pt *t, uint64_t *seq, uint64_t *lost)
{
	uint64_t pending = t->sent - t->cursor;

	if (t->held)
		return -EBUSY;
	if (pending == 0)
		return -EAGAIN;
	if (!t->lossy) {
		PROMISE(pending <= t->capacity);
	} else if (pending > t->capacity ||
		   (pending == t->capacity && t->aborted)) {
		uint64_t oldest = t->sent >= t->capacity - 1 ?
					  t->sent - (t->capacity - 1) :
					  0;

		if ((int64_t)(oldest - t->cursor) <= 0)
			oldest = t->cursor + 1;
		*lost = oldest - t->cursor;
		t->cursor = oldest;
		return -EOVERFLOW;
	}
	*seq = t->cursor;
	return 0;
}

static int code_of_take(int r)
{
	return r == 0 || r == -EAGAIN || r == -ETIMEDOUT || r == -EOVERFLOW ||
	       r == -EPIPE || r == -EBUSY || r == -EBADMSG;
}

static void count(struct pt *t, long r)
{
	if (r == -EOVERFLOW)
		t->sum->overflow++;
	else if (r == -EBADMSG)
		t->sum->badmsg++;
	else if (r == -EPIPE)
		t->sum->pipe++;
	else if (r == -EMSGSIZE)
		t->sum->msgsize++;
}

/* A message's bytes against what was sent as @seq (model only). */
static void check_content(const struct pt *t, uint64_t seq, uint32_t len,
			  const uint8_t *data, const uint8_t *uh, int64_t ts)
{
	EXPECT(len, t->lens[seq & t->mask]);
	for (uint32_t k = 0; k < len; k++)
		PROMISE(data[k] == fill(seq, k));
	if (uh) {
		uint64_t v;

		memcpy(&v, uh, sizeof(v));
		EXPECT(v, seq);
	}
	if (t->timestamp)
		PROMISE(ts > 0);
	else
		EXPECT(ts, 0);
}

static void take(struct pt *t, int release_now);

static void release(struct pt *t)
{
	struct shoal_msg none;
	int r;

	if (!t->held) {
		memset(&none, 0, sizeof(none));
		EXPECT(shoal_sub_release(t->sub, &none), -EINVAL);
		return;
	}
	r = shoal_sub_release(t->sub, &t->msg);
	PROMISE(r == 0 || r == -ESTALE);
	if (t->clean) {
		EXPECT(r, t->overwritten ? -ESTALE : 0);
		t->cursor++;
	}
	if (r == -ESTALE)
		t->sum->stale++;
	t->held = 0;
	t->next++;
}

static void take(struct pt *t, int release_now)
{
	struct shoal_msg m;
	uint64_t seq = 0, lost = 0;
	uint64_t data_off = shoal__bcast_data_off(t->uh, t->max_payload);
	int r, want = 0, held = t->held;

	if (t->clean)
		want = model_take(t, &seq, &lost);
	memset(&m, 0, sizeof(m));
	r = shoal_sub_take(t->sub, &m, 0);
	PROMISE(code_of_take(r));
	PROMISE((r == -EBUSY) == held);
	if (t->clean)
		EXPECT(r, want);
	count(t, r);
	if (r == -EOVERFLOW) {
		PROMISE(m.lost >= 1);
		if (t->clean)
			EXPECT(m.lost, lost);
	}
	check_order(t, r, m.seq, m.lost, 0);
	if (r)
		return;

	t->sum->taken++;
	PROMISE(m.len <= t->max_payload);
	PROMISE(m.user_header_size == t->uh);
	PROMISE(t->uh ? (const uint8_t *)m.user_header ==
				(const uint8_t *)m.priv_slot +
					SHOAL__PUBSUB_SLOT_HEADER :
			m.user_header == NULL);
	PROMISE(m.epoch == t->epoch && m.lost == 0);
	PROMISE(m.priv_slot == (const uint8_t *)m.data - data_off);
	check_in_slot(t, m.priv_slot, data_off + (uint64_t)m.len, m.seq);
	{
		volatile uint8_t sink = 0;
		const uint8_t *p = m.priv_slot;

		for (uint64_t k = 0; k < data_off + (uint64_t)m.len; k++)
			sink ^= p[k];
		(void)sink;
	}
	if (t->clean) {
		EXPECT(m.seq, seq);
		check_content(t, seq, m.len, m.data, m.user_header,
			      m.timestamp_ns);
	}
	t->held = 1;
	t->overwritten = 0;
	t->msg = m;
	if (release_now)
		release(t);
}

static void op_valid(struct pt *t)
{
	struct shoal_msg none;
	int v;

	if (!t->held) {
		memset(&none, 0, sizeof(none));
		EXPECT(shoal_sub_valid(t->sub, &none), 0);
		return;
	}
	v = shoal_sub_valid(t->sub, &t->msg);
	PROMISE(v == 0 || v == 1);
	if (t->clean)
		EXPECT(v, !t->overwritten);
}

static void op_read(struct pt *t, struct pt_in *in)
{
	uint32_t cap = (uint32_t)(rd(in, 1) % (t->max_payload + 16));
	uint32_t f = (uint32_t)rd(in, 1);
	uint8_t *buf = malloc(cap ? cap : 1);
	uint8_t *uhbuf = (f & 1) && t->uh ? malloc(t->uh) : NULL;
	uint64_t seq = 0, lost = 0;
	struct shoal_msg m;
	ssize_t r;
	long want = 0;

	PROMISE(buf && (uhbuf || !(f & 1) || !t->uh));
	if (t->clean) {
		want = model_take(t, &seq, &lost);
		if (!want)
			want = t->lens[seq & t->mask] > cap ?
				       -EMSGSIZE :
				       (long)t->lens[seq & t->mask];
	}
	memset(&m, 0x5a, sizeof(m));
	r = shoal_sub_read(t->sub, buf, cap, uhbuf, &m, 0);
	PROMISE(r >= 0 || r == -EMSGSIZE || (code_of_take((int)r) && r != 0));
	PROMISE((r == -EBUSY) == t->held);
	if (t->clean)
		EXPECT(r, want);
	count(t, (long)r);
	if (r == -EOVERFLOW) {
		PROMISE(m.lost >= 1);
		if (t->clean)
			EXPECT(m.lost, lost);
	}
	if (r != -EMSGSIZE)
		check_order(t, (long)r, m.seq, m.lost, 1);
	if (r >= 0) {
		t->sum->taken++;
		PROMISE((size_t)r <= cap && (uint32_t)r <= t->max_payload);
		PROMISE(m.data == NULL && m.user_header == NULL);
		PROMISE(m.epoch == t->epoch && m.len == (uint32_t)r);
		if (t->clean) {
			EXPECT(m.seq, seq);
			check_content(t, seq, (uint32_t)r, buf, uhbuf,
				      m.timestamp_ns);
			t->cursor++;
		}
	}
	free(buf);
	free(uhbuf);
}

static void op_arm(struct pt *t)
{
	int r = shoal_sub_arm(t->sub);

	PROMISE(r == 0 || r == 1);
	if (t->clean)
		EXPECT(r, t->held || t->sent != t->cursor);
	shoal_sub_disarm(t->sub);
	new_attachment(t);
}

static void sub_open(struct pt *t, uint32_t history)
{
	struct shoal_sub_options so;
	int r;

	shoal_sub_options_init(&so);
	so.registry = reg;
	so.flags = t->sub_flags;
	so.history = history;
	r = shoal_sub_open(PT_NAME, &so, &t->sub);
	/* Without a publisher in sight (closed): -ENOENT, or detached. */
	PROMISE(r == 0 || r == -ENOENT);
	if (t->clean)
		EXPECT(r, 0);
	if (r)
		t->sub = NULL;
	t->seen_skipped = 0; /* a new handle counts from 0 */
	t->opens++;
	new_attachment(t);
	if (t->clean) {
		uint64_t back = history;

		if (back > t->pub_history)
			back = t->pub_history;
		if (back > t->sent)
			back = t->sent;
		t->cursor = t->sent - back;
	}
}

static void op_reopen(struct pt *t, struct pt_in *in)
{
	uint32_t history = (uint32_t)(rd(in, 1) % 8);

	shoal_sub_close(t->sub);
	t->sub = NULL;
	t->held = 0;
	sub_open(t, history);
}

/* ------------------------------------------------------------------------
 * One input
 */

void pubsub_take_one(const uint8_t *data, size_t size, struct pt_summary *sum)
{
	static const uint32_t payloads[4] = { 64, 40, 1, 100 };
	static const uint32_t capacities[4] = { 8, 2, 4, 16 };
	struct pt_summary ignored;
	struct shoal_pub_options po;
	struct pt_in in = { data, size, 0 };
	uint32_t c0 = (uint32_t)rd(&in, 1), c1 = (uint32_t)rd(&in, 1);
	struct pt *t;
	int fds;

	init_once();
	if (!sum)
		sum = &ignored;
	memset(sum, 0, sizeof(*sum));
	t = calloc(1, sizeof(*t));
	PROMISE(t != NULL);
	t->sum = sum;
	t->clean = 1;
	t->lossy = !!(c0 & PT_C0_LOSSY);
	t->timestamp = !!(c0 & PT_C0_TIMESTAMP);
	t->sub_flags = c0 & PT_C0_REATTACH ? SHOAL_SUB_REATTACH : 0;
	if (PT_SCM_RIGHTS && (c1 & PT_C1_SCM_RIGHTS))
		t->sub_flags |= SHOAL_SUB_NO_PIDFD_GETFD;
	t->capacity = capacities[(c1 >> PT_C1_CAPACITY_SHIFT) & 3];
	t->mask = t->capacity - 1;
	t->max_payload = payloads[(c1 >> PT_C1_PAYLOAD_SHIFT) & 3];
	t->uh = c1 & PT_C1_NO_USER_HEADER ? 0 : 8;
	t->stride = slot_stride(t->uh, t->max_payload);
	switch ((c0 >> PT_C0_PUB_HISTORY_SHIFT) & 3) {
	case 0:
		t->pub_history = 0;
		break;
	case 1:
		t->pub_history = 1;
		break;
	case 2:
		t->pub_history = t->capacity / 2;
		break;
	default:
		t->pub_history = t->capacity - 1;
		break;
	}

	fds = count_fds();
	shoal_pub_options_init(&po);
	po.registry = reg;
	po.delivery = t->lossy ? SHOAL_DELIVERY_LOSSY : SHOAL_DELIVERY_RELIABLE;
	po.capacity = t->capacity;
	po.max_payload = t->max_payload;
	po.user_header_size = t->uh;
	po.history = t->pub_history;
	po.max_subscribers = 2;
	po.send_timeout_ns = 0;
	po.flags = t->timestamp ? SHOAL_PUB_TIMESTAMP : 0;
	PROMISE(shoal_pub_create(PT_NAME, &po, &t->pub) == 0);
	t->epoch = shoal_pub_epoch(t->pub);
	find_pub_memory(t);
	sub_open(t, (c0 >> PT_C0_SUB_HISTORY_SHIFT) & 7);

	while (in.at < in.size && sum->ops < PT_OPS_MAX) {
		int op = (int)(rd(&in, 1) % PT_OP_COUNT);

		sum->ops++;
		switch (op) {
		case PT_OP_WRITE:
			pub_put(t,
				(uint32_t)(rd(&in, 1) % (t->max_payload + 8)));
			continue;
		case PT_OP_BURST: {
			uint32_t n = 1 + (uint32_t)(rd(&in, 1) % 16);

			for (uint32_t i = 0; i < n; i++)
				pub_put(t, t->max_payload < 16 ?
						   t->max_payload :
						   16);
			continue;
		}
		case PT_OP_LOAN_ABORT:
			op_loan_abort(t, &in);
			continue;
		case PT_OP_POKE_SLOT:
			op_poke_slot(t, &in);
			continue;
		case PT_OP_POKE_HEAD:
		case PT_OP_POKE_FLAG:
			op_poke_header(t, &in, op);
			continue;
		case PT_OP_POKE_RAW:
			op_poke_raw(t, &in);
			continue;
		case PT_OP_REOPEN:
			op_reopen(t, &in);
			continue;
		default:
			break;
		}
		/* The subscriber's calls, once there is one. */
		if (!t->sub) {
			in.at += op == PT_OP_TAKE ? 1 :
				 op == PT_OP_READ ? 2 :
						    0;
			continue;
		}
		switch (op) {
		case PT_OP_TAKE:
			take(t, (int)(rd(&in, 1) & 1));
			break;
		case PT_OP_RELEASE:
			release(t);
			break;
		case PT_OP_VALID:
			op_valid(t);
			break;
		case PT_OP_READ:
			op_read(t, &in);
			break;
		default:
			op_arm(t);
			break;
		}
	}

	new_attachment(t);
	sum->clean = (uint32_t)t->clean;
	shoal_sub_close(t->sub);
	shoal_pub_destroy(t->pub);
	free(t);
	EXPECT(count_fds(), fds);
}

#ifndef PUBSUB_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > PT_INPUT_MAX)
		return 0;
	pubsub_take_one(data, size, NULL);
	return 0;
}
#endif
