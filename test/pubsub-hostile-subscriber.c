/* shoal-test: label=stress timeout=180 args=3 */
/*
 * A hostile subscriber. It joins a service as any subscriber does, then
 * takes the subscriber segment's memfd (its fd number from the payload
 * segment's header, the fd itself from the publisher, exactly as a
 * subscriber gets it), maps it writable, and for argv[1] (default 3)
 * seconds writes over every byte of the "pubsub.subs" object at full speed:
 * the header line (magic, generation), the sleeper bitmap and every
 * subscriber line (state, pid, cursor, counters), with random words and with
 * plausible lies (state ACTIVE, cursors around the publisher's head, every
 * sleeper bit set).
 *
 * This runs against a reliable service (send timeout 20 ms) and a lossy one
 * at the same time, each with a real subscriber. For each:
 *   - the publisher process never crashes (under ASan too) and every send
 *     either succeeds or fails cleanly with -EAGAIN (reliable) - never
 *     another error; a lossy send always succeeds;
 *   - what the real subscriber copies with shoal_sub_read() is never torn;
 *   - nothing outside the scribbled object changes: the payload segment's
 *     header, object table, configuration line and wake-fd table, and the
 *     subscriber segment outside the object, are byte for byte as before;
 *   - afterwards (the hostile process gone, the real subscriber closed) the
 *     publisher sends freely again, and a new subscriber joins (lines left
 *     as garbage must not keep it out) and receives what follows, in order
 *     (reliable: every message; lossy: gaps exactly as reported), intact.
 *
 * test_lie_default and test_lie_trusted first show, deterministically,
 * the lie that matters to a reliable subscriber: its cursor moved while it
 * holds a message, so that the publisher writes that message's slot. By
 * default the slot's odd stamp tells it; with SHOAL_PUB_TRUSTED_SUBSCRIBERS
 * (which the attack below does not use) nothing does.
 */
#include <limits.h>
#include <sys/stat.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"
#include "patterns/pubsub_internal.h"
#include "registry/registry_internal.h"

#define MAX_LEN 256u
#define CAPACITY 64u
#define MAX_SUBS 4u
#define AFTER_MESSAGES 2000u

/* Phases, driven by the test. */
enum {
	ATTACK = 0, /* hostile writing, real subscriber reading */
	CLOSE_REAL, /* hostile gone: the real subscriber closes */
	SEND_FREE,  /* nobody live: sends must succeed at once */
	NEW_SUB,    /* a fresh subscriber joins and must get everything */
	DONE,
};

struct set {
	char name[32];
	enum shoal_delivery mode;
	_Atomic int phase;
	_Atomic int pub_ready;
	_Atomic int real_ready;
	_Atomic int hostile_ready;
	_Atomic int stop_hostile;
	_Atomic int free_done;	/* the publisher sent freely */
	_Atomic int new_joined; /* the fresh subscriber is in */
	_Atomic int new_done;
	_Atomic uint64_t base; /* first seq the fresh subscriber gets */
	/* Counts, for the log. */
	uint64_t sent_ok, sent_eagain, real_got, real_errs, scribbles;
};

/* The test's own (not shared: a child's fork() return must not land
 * here). */
struct procs {
	pid_t pub, real, hostile, fresh;
};

static char path[PATH_MAX];
static struct set *sets; /* shared: [0] reliable, [1] lossy */
static unsigned attack_seconds;

static int publisher(struct set *s)
{
	struct shoal_registry *reg;
	struct shoal_pub_options o;
	struct shoal_pub *pub;
	unsigned char buf[MAX_LEN];
	uint64_t seq = 0, ok = 0, eagain = 0;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_pub_options_init(&o);
	o.registry = reg;
	o.delivery = s->mode;
	o.capacity = CAPACITY;
	o.max_payload = MAX_LEN;
	o.max_subscribers = MAX_SUBS;
	o.send_timeout_ns = 20 * 1000 * 1000;
	CHECK_EQ(shoal_pub_create(s->name, &o, &pub), 0);
	atomic_store(&s->pub_ready, 1);

	/* Under attack, and until the real subscriber has closed. */
	while (atomic_load(&s->phase) < SEND_FREE) {
		uint32_t len = psu_len(seq, 0, PSU_MIN_LEN, MAX_LEN);
		int err;

		psu_fill(buf, seq, 0, len);
		err = shoal_pub_write(pub, buf, len, NULL);
		if (err == 0) {
			seq++;
			ok++;
		} else if (err == -EAGAIN &&
			   s->mode == SHOAL_DELIVERY_RELIABLE) {
			eagain++;
		} else {
			fprintf(stderr, "%s: send: %d (%s)\n", s->name, err,
				shoal_last_error());
			return TEST_FAIL;
		}
	}
	s->sent_ok = ok;
	s->sent_eagain = eagain;

	/* Nobody live is left: no waiting, no failure. */
	for (uint32_t k = 0; k < 2 * CAPACITY; k++, seq++) {
		uint32_t len = psu_len(seq, 0, PSU_MIN_LEN, MAX_LEN);

		psu_fill(buf, seq, 0, len);
		CHECK_EQ(shoal_pub_write(pub, buf, len, NULL), 0);
	}
	atomic_store(&s->free_done, 1);

	/* A fresh subscriber: it starts at our head, and gets the rest. */
	CHECK(PSU_WAIT(atomic_load(&s->new_joined), 60));
	CHECK(PSU_WAIT(shoal_pub_subscribers(pub) == 1, 60));
	atomic_store(&s->base, seq);
	for (uint32_t k = 0; k < AFTER_MESSAGES;) {
		uint32_t len = psu_len(seq, 0, PSU_MIN_LEN, MAX_LEN);
		int err;

		psu_fill(buf, seq, 0, len);
		err = shoal_pub_write(pub, buf, len, NULL);
		if (err == -EAGAIN && s->mode == SHOAL_DELIVERY_RELIABLE)
			continue; /* nothing published: the same seq again */
		CHECK_EQ(err, 0);
		k++;
		seq++;
	}
	CHECK(PSU_WAIT(atomic_load(&s->new_done), 120));
	{
		struct shoal_pub_stats st;

		shoal_pub_get_stats(pub, &st);
		CHECK_EQ(st.sent, seq);
		if (s->mode == SHOAL_DELIVERY_LOSSY) {
			CHECK_EQ(st.blocked, 0);
			CHECK_EQ(st.failed, 0);
		}
	}
	CHECK(PSU_WAIT(atomic_load(&s->phase) == DONE, 60));
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int join(struct set *s, struct shoal_registry **reg,
		struct shoal_sub **sub)
{
	struct shoal_sub_options o;

	CHECK_EQ(test_registry_open(path, reg), 0);
	CHECK(PSU_WAIT(atomic_load(&s->pub_ready), 60));
	shoal_sub_options_init(&o);
	o.registry = *reg;
	CHECK_EQ(shoal_sub_open(s->name, &o, sub), 0);
	return TEST_PASS;
}

/* The real subscriber under attack: whatever it reads is whole. */
static int real_subscriber(struct set *s)
{
	struct shoal_registry *reg;
	struct shoal_sub *sub;
	unsigned char buf[MAX_LEN];
	struct shoal_msg m;
	uint64_t got = 0, errs = 0;

	CHECK(join(s, &reg, &sub) == TEST_PASS);
	atomic_store(&s->real_ready, 1);
	while (atomic_load(&s->phase) == ATTACK) {
		ssize_t n = shoal_sub_read(sub, buf, sizeof(buf), NULL, &m,
					   PSU_SEC / 10);
		uint64_t seq;

		if (n >= 0) {
			if (!psu_intact(buf, (uint32_t)n, &seq) ||
			    seq != m.seq ||
			    !psu_verify(buf, (uint32_t)n, seq, 0)) {
				fprintf(stderr,
					"%s: shoal_sub_read() gave a torn "
					"message %" PRIu64 " (%zd bytes)\n",
					s->name, m.seq, n);
				return TEST_FAIL;
			}
			got++;
			continue;
		}
		/* Its line is garbage: being told so, or lapped, is fair;
		 * the publisher is alive, so -EPIPE is not. */
		if (n != -ETIMEDOUT && n != -EOVERFLOW && n != -EBADMSG &&
		    n != -EAGAIN) {
			fprintf(stderr, "%s: real subscriber: %zd (%s)\n",
				s->name, n, shoal_last_error());
			return TEST_FAIL;
		}
		errs++;
	}
	s->real_got = got;
	s->real_errs = errs;
	shoal_sub_close(sub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* The subscriber that joins after the attack. */
static int fresh_subscriber(struct set *s)
{
	struct shoal_registry *reg;
	struct shoal_sub *sub;
	unsigned char buf[MAX_LEN];
	struct shoal_msg m;
	uint64_t base, next, end, pending = 0;

	CHECK(PSU_WAIT(atomic_load(&s->free_done), 60));
	CHECK(join(s, &reg, &sub) == TEST_PASS);
	atomic_store(&s->new_joined, 1);
	CHECK(PSU_WAIT(atomic_load(&s->base) != 0, 60));
	base = atomic_load(&s->base);
	end = base + AFTER_MESSAGES;
	next = base;
	while (next < end) {
		ssize_t n = shoal_sub_read(sub, buf, sizeof(buf), NULL, &m,
					   30 * PSU_SEC);

		if (n == -EOVERFLOW && s->mode == SHOAL_DELIVERY_LOSSY) {
			pending += m.lost;
			continue;
		}
		CHECK(n >= 0);
		CHECK_EQ(m.seq, next + pending);
		CHECK(psu_verify(buf, (uint32_t)n, m.seq, 0));
		next = m.seq + 1;
		pending = 0;
	}
	CHECK_EQ(next, end);
	atomic_store(&s->new_done, 1);
	shoal_sub_close(sub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

/* The subscriber segment, as a subscriber can reach it. */
struct subs_view {
	struct shoal_service *svc;
	struct shoal_segment *seg; /* the subscriber segment */
	int fd;
	unsigned char *map; /* the whole memfd, mapped by us */
	uint64_t size, obj_off, obj_size;
	const struct shoal__pubsub_header *hdr;
	uint64_t hdr_off;
};

static int open_subs_view(struct shoal_registry *reg, const char *name,
			  int writable, struct subs_view *v)
{
	struct shoal_object_info info;
	void *p;
	struct stat st;

	memset(v, 0, sizeof(*v));
	CHECK_EQ(shoal_registry_open(reg, name, SHOAL_OPEN_READ_ONLY, &v->svc),
		 0);
	CHECK_EQ(shoal_segment_find(shoal_service_segment(v->svc),
				    SHOAL__PUBSUB_HEADER_OBJECT,
				    SHOAL__OBJECT_PUBSUB_HEADER, &p, &info),
		 0);
	v->hdr = p;
	v->hdr_off = info.offset;
	CHECK_EQ(shoal__service_take_extra_fd(v->svc, SHOAL__EXTRA_LINES_MEMFD,
					      v->hdr->subs_memfd, &v->fd),
		 0);
	CHECK_EQ(shoal_segment_open(v->fd, 0, &v->seg), 0);
	CHECK_EQ(shoal_segment_find(v->seg, SHOAL__PUBSUB_SUBS_OBJECT,
				    SHOAL__OBJECT_PUBSUB_SUBS, &p, &info),
		 0);
	v->obj_off = info.offset;
	v->obj_size = info.size;
	CHECK(fstat(v->fd, &st) == 0);
	v->size = (uint64_t)st.st_size;
	CHECK(v->obj_off + v->obj_size <= v->size);
	v->map = mmap(NULL, v->size,
		      writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED,
		      v->fd, 0);
	CHECK(v->map != MAP_FAILED);
	return TEST_PASS;
}

static void close_subs_view(struct subs_view *v)
{
	munmap(v->map, v->size);
	shoal_segment_close(v->seg);
	close(v->fd);
	shoal_service_close(v->svc);
}

static int hostile(struct set *s)
{
	struct shoal_registry *reg;
	struct shoal_sub *sub;
	struct subs_view v;
	volatile uint64_t *w;
	uint64_t words, x = psu_mix((uint64_t)getpid()), passes = 0;

	CHECK(join(s, &reg, &sub) == TEST_PASS);
	CHECK(open_subs_view(reg, s->name, 1, &v) == TEST_PASS);
	w = (volatile uint64_t *)(v.map + v.obj_off);
	words = v.obj_size / 8;
	atomic_store(&s->hostile_ready, 1);
	while (!atomic_load(&s->stop_hostile)) {
		uint64_t head = atomic_load_explicit(
			&((struct shoal__pubsub_header *)v.hdr)->head,
			memory_order_relaxed);

		switch (passes % 3) {
		case 0: /* noise */
			for (uint64_t k = 0; k < words; k++) {
				x = psu_mix(x);
				w[k] = x;
			}
			break;
		case 1: /* plausible lies: ACTIVE lines, cursors near head */
			for (uint64_t k = 0; k < words; k++) {
				x = psu_mix(x);
				switch (x % 5) {
				case 0:
					w[k] = 1 | (x & 0xffffffff00000000ULL);
					break;
				case 1:
					w[k] = head - CAPACITY - 1 + x % 3;
					break;
				case 2:
					w[k] = head + 1 + x % 3;
					break;
				case 3:
					w[k] = ~0ULL;
					break;
				default:
					w[k] = 0;
					break;
				}
			}
			break;
		default: /* lines fully ACTIVE with a gating cursor */
			for (uint64_t k = 0; k < words; k++)
				w[k] = ~0ULL;
			for (uint64_t k =
				     (64 + shoal__bitmap_bytes(MAX_SUBS)) / 8;
			     k + 2 < words; k += 8) {
				w[k] = 1; /* state ACTIVE, pid 0 */
				w[k + 1] = head - CAPACITY;
			}
			break;
		}
		passes++;
	}
	s->scribbles = passes;
	close_subs_view(&v);
	/* Leave our own line as garbage: die without closing. */
	_exit(0);
}

/* Bytes nobody may change: checked before and after the attack. */
struct snapshot {
	unsigned char *a; /* payload: segment header .. config line */
	uint64_t a_len;
	unsigned char *b; /* payload: the wake-fd table */
	uint64_t b_off, b_len;
	unsigned char *c; /* subscriber segment before the object */
	uint64_t c_len;
	unsigned char *d; /* and after it */
	uint64_t d_off, d_len;
};

static int take_snapshot(struct subs_view *v, struct snapshot *sn)
{
	const unsigned char *base =
		shoal_segment_base(shoal_service_segment(v->svc));

	sn->a_len = v->hdr_off + 64;
	sn->b_off = v->hdr_off + sizeof(struct shoal__pubsub_header);
	sn->b_len = 4 * MAX_SUBS;
	sn->c_len = v->obj_off;
	sn->d_off = v->obj_off + v->obj_size;
	sn->d_len = v->size - sn->d_off;
	sn->a = malloc(sn->a_len);
	sn->b = malloc(sn->b_len);
	sn->c = malloc(sn->c_len);
	sn->d = malloc(sn->d_len + 1);
	CHECK(sn->a && sn->b && sn->c && sn->d);
	memcpy(sn->a, base, sn->a_len);
	memcpy(sn->b, base + sn->b_off, sn->b_len);
	memcpy(sn->c, v->map, sn->c_len);
	memcpy(sn->d, v->map + sn->d_off, sn->d_len);
	return TEST_PASS;
}

static int same_as_snapshot(struct subs_view *v, struct snapshot *sn)
{
	const unsigned char *base =
		shoal_segment_base(shoal_service_segment(v->svc));

	CHECK(memcmp(sn->a, base, sn->a_len) == 0);
	CHECK(memcmp(sn->b, base + sn->b_off, sn->b_len) == 0);
	CHECK(memcmp(sn->c, v->map, sn->c_len) == 0);
	CHECK(memcmp(sn->d, v->map + sn->d_off, sn->d_len) == 0);
	CHECK_EQ(v->hdr->ident.magic, SHOAL__PUBSUB_MAGIC);
	CHECK_EQ(v->hdr->capacity, CAPACITY);
	CHECK_EQ(v->hdr->max_subscribers, MAX_SUBS);
	return TEST_PASS;
}

static void free_snapshot(struct snapshot *sn)
{
	free(sn->a);
	free(sn->b);
	free(sn->c);
	free(sn->d);
}

/* 1 while @pid runs; otherwise says how it ended. */
/* The line of the subscriber whose pid is ours, in view @v. */
static struct shoal__pubsub_sub_line *own_line(struct subs_view *v)
{
	struct shoal__pubsub_sub_line *l = subs_lines(
		(struct shoal__pubsub_subs_header *)(v->map + v->obj_off),
		MAX_SUBS);

	for (uint32_t i = 0; i < MAX_SUBS; i++)
		if (atomic_load(&l[i].state) == SHOAL__SUB_ACTIVE &&
		    l[i].pid == getpid())
			return &l[i];
	return NULL;
}

/*
 * A peer moves our cursor forward while we hold a message of a reliable
 * service, and the publisher, believing it, starts writing that message's
 * slot: a loan of the slot's next seq, written and not yet sent, which is
 * exactly the state in which a reader's copy would be torn. With default
 * flags the slot's odd stamp tells the subscriber (shoal_sub_valid() 0,
 * the release -ESTALE). With SHOAL_PUB_TRUSTED_SUBSCRIBERS there is no odd
 * stamp and nothing tells it: the price of that flag, as documented
 * (docs/security.md). Deterministic, in one process.
 */
static int lie_about_cursor(uint32_t flags)
{
	const char *name = flags ? "lie-trusted" : "lie-default";
	struct shoal_registry *reg;
	struct shoal_pub_options po;
	struct shoal_sub_options so;
	struct shoal__pubsub_sub_line *line;
	struct shoal_pub *pub;
	struct shoal_sub *sub;
	struct subs_view v;
	struct shoal_msg m;
	uint64_t x = 0x5eed, got;
	void *loan;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	shoal_pub_options_init(&po);
	po.registry = reg;
	po.capacity = 4;
	po.max_payload = 8;
	po.max_subscribers = MAX_SUBS;
	po.send_timeout_ns = 0;
	po.flags = flags;
	CHECK_EQ(shoal_pub_create(name, &po, &pub), 0);
	shoal_sub_options_init(&so);
	so.registry = reg;
	CHECK_EQ(shoal_sub_open(name, &so, &sub), 0);
	CHECK_EQ(shoal_pub_subscribers(pub), 1);
	CHECK(open_subs_view(reg, name, 1, &v) == TEST_PASS);
	line = own_line(&v);
	CHECK(line != NULL);

	/* Seqs 0..3 fill the ring; we hold 0. */
	for (uint64_t i = 0; i < 4; i++)
		CHECK_EQ(shoal_pub_write(pub, &i, 8, NULL), 0);
	CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
	CHECK_EQ(m.seq, 0);
	CHECK(shoal_sub_valid(sub, &m));
	CHECK_EQ(shoal_pub_loan(pub, 8, &loan), -EAGAIN);

	/* The lie, and the publisher writing seq 4 into seq 0's slot. */
	atomic_store(&line->cursor, 1);
	CHECK_EQ(shoal_pub_loan(pub, 8, &loan), 0);
	memcpy(loan, &x, 8);
	memcpy(&got, m.data, 8);
	CHECK_EQ(got, x); /* what we hold is being overwritten */
	if (flags & SHOAL_PUB_TRUSTED_SUBSCRIBERS) {
		/* No odd stamp: the overwrite in progress goes unseen. */
		CHECK(shoal_sub_valid(sub, &m));
		CHECK_EQ(shoal_sub_release(sub, &m), 0);
	} else {
		CHECK(!shoal_sub_valid(sub, &m));
		CHECK_EQ(shoal_sub_release(sub, &m), -ESTALE);
	}
	/* Either way the release stored our own cursor again, and the rest
	 * flows in order. */
	CHECK_EQ(atomic_load(&line->cursor), 1);
	CHECK_EQ(shoal_pub_send(pub, loan, 8), 0);
	for (uint64_t want = 1; want <= 4; want++) {
		CHECK_EQ(shoal_sub_take(sub, &m, 0), 0);
		CHECK_EQ(m.seq, want);
		memcpy(&got, m.data, 8);
		CHECK_EQ(got, want < 4 ? want : x);
		CHECK_EQ(shoal_sub_release(sub, &m), 0);
	}

	close_subs_view(&v);
	shoal_sub_close(sub);
	shoal_pub_destroy(pub);
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

static int test_lie_default(void)
{
	return lie_about_cursor(0);
}

static int test_lie_trusted(void)
{
	return lie_about_cursor(SHOAL_PUB_TRUSTED_SUBSCRIBERS);
}

static int alive(pid_t pid, const char *what, const char *name)
{
	int st;

	if (waitpid(pid, &st, WNOHANG) == 0)
		return 1;
	if (WIFSIGNALED(st))
		fprintf(stderr, "%s: the %s died of signal %d\n", name, what,
			WTERMSIG(st));
	else
		fprintf(stderr, "%s: the %s exited with %d\n", name, what,
			WEXITSTATUS(st));
	return 0;
}

static int test_hostile(void)
{
	struct shoal_registry *reg;
	struct subs_view view[2];
	struct snapshot snap[2];
	struct procs pr[2];
	int ok = 1;

	memset(sets, 0, 2 * sizeof(*sets));
	snprintf(sets[0].name, sizeof(sets[0].name), "hostile/reliable");
	sets[0].mode = SHOAL_DELIVERY_RELIABLE;
	snprintf(sets[1].name, sizeof(sets[1].name), "hostile/lossy");
	sets[1].mode = SHOAL_DELIVERY_LOSSY;
	CHECK_EQ(test_registry_open(path, &reg), 0);

	for (int i = 0; i < 2; i++) {
		struct set *s = &sets[i];

		pr[i].pub = psu_fork();
		CHECK(pr[i].pub >= 0);
		if (pr[i].pub == 0)
			_exit(publisher(s));
		pr[i].real = psu_fork();
		CHECK(pr[i].real >= 0);
		if (pr[i].real == 0)
			_exit(real_subscriber(s));
		CHECK(PSU_WAIT(atomic_load(&s->real_ready), 60));
		/* The untouched state, before the hostile one joins. */
		CHECK(open_subs_view(reg, s->name, 0, &view[i]) == TEST_PASS);
		CHECK(take_snapshot(&view[i], &snap[i]) == TEST_PASS);
		pr[i].hostile = psu_fork();
		CHECK(pr[i].hostile >= 0);
		if (pr[i].hostile == 0)
			_exit(hostile(s));
	}
	for (int i = 0; i < 2; i++)
		CHECK(PSU_WAIT(atomic_load(&sets[i].hostile_ready), 60));
	for (unsigned t = 0; t < attack_seconds * 10; t++) {
		usleep(100 * 1000);
		for (int i = 0; i < 2; i++) {
			CHECK(alive(pr[i].pub, "publisher", sets[i].name));
			CHECK(alive(pr[i].real, "real subscriber",
				    sets[i].name));
		}
	}
	for (int i = 0; i < 2; i++) {
		atomic_store(&sets[i].stop_hostile, 1);
		ok &= test_wait_child(pr[i].hostile, 30);
	}
	CHECK(ok);
	for (int i = 0; i < 2; i++) {
		CHECK(alive(pr[i].pub, "publisher", sets[i].name));
		CHECK(same_as_snapshot(&view[i], &snap[i]) == TEST_PASS);
		CHECK_EQ(view[i].hdr->delivery, sets[i].mode);
	}

	/* Afterwards: the real subscriber leaves, the publisher runs free,
	 * a fresh subscriber gets everything. */
	for (int i = 0; i < 2; i++) {
		atomic_store(&sets[i].phase, CLOSE_REAL);
		ok &= test_wait_child(pr[i].real, 30);
	}
	CHECK(ok);
	for (int i = 0; i < 2; i++) {
		struct set *s = &sets[i];

		atomic_store(&s->phase, SEND_FREE);
		pr[i].fresh = psu_fork();
		CHECK(pr[i].fresh >= 0);
		if (pr[i].fresh == 0)
			_exit(fresh_subscriber(s));
	}
	for (int i = 0; i < 2; i++)
		ok &= test_wait_child(pr[i].fresh, 120);
	CHECK(ok);
	for (int i = 0; i < 2; i++) {
		CHECK(same_as_snapshot(&view[i], &snap[i]) == TEST_PASS);
		atomic_store(&sets[i].phase, DONE);
		ok &= test_wait_child(pr[i].pub, 60);
	}
	CHECK(ok);
	for (int i = 0; i < 2; i++) {
		struct set *s = &sets[i];

		fprintf(stderr,
			"%s: %" PRIu64 " hostile passes; under attack the "
			"publisher sent %" PRIu64 " (%" PRIu64
			" -EAGAIN), the real subscriber read %" PRIu64
			" (%" PRIu64 " errors)\n",
			s->name, s->scribbles, s->sent_ok, s->sent_eagain,
			s->real_got, s->real_errs);
		close_subs_view(&view[i]);
		free_snapshot(&snap[i]);
	}
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	char top[PATH_MAX];

	attack_seconds = (unsigned)test_arg_u64(argc, argv, 1, 3);
	psu_watchdog(170);
	sets = psu_shared(2 * sizeof(*sets));
	if (!sets ||
	    test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()))
		return TEST_FAIL;
	RUN(test_lie_default);
	RUN(test_lie_trusted);
	RUN(test_hostile);
	test_remove_tree(top);
	return test_result();
}
