/* shoal-test: label=multiproc timeout=240 args=200 */
/*
 * The store's stack between processes: LIFO order in one process; two
 * pushers and two poppers in four processes move every element exactly
 * once (nothing lost, nothing doubled); full (-EAGAIN) and empty
 * (-EAGAIN); a read-only handle refused (-EPERM). Then pushers SIGKILLed
 * at random points, argv[1] times: afterwards every element a pusher was
 * told was pushed is there exactly once, at most one more per kill (the
 * push it died in), nothing else; and the nodes the dead held come back
 * (the stack fills to its capacity again).
 */
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <shoal/store.h>

#include "harness.h"
#include "registry_util.h"
#include "pubsub_util.h"

static char path[PATH_MAX];
static struct shoal_registry *reg;

#define CAP 64
#define ESIZE 16
#define PER 20000

/* An element: who, which, and a check word. */
struct elem {
	uint32_t who, seq;
	uint64_t check;
};

static uint64_t check_of(uint32_t who, uint32_t seq)
{
	return ((uint64_t)who << 32 | seq) * 0x9e3779b97f4a7c15ull;
}

static struct shoal_store *child_open(void)
{
	struct shoal_store_options o;
	struct shoal_store *s = NULL;

	if (test_registry_open(path, &reg))
		_exit(2);
	shoal_store_options_init(&o);
	o.registry = reg;
	if (shoal_store_open("stk", &o, &s))
		_exit(3);
	return s;
}

static int make(struct shoal_store **s, struct shoal_stack *st)
{
	struct shoal_store_object obj = { .name = "st",
					  .kind = SHOAL_STORE_STACK,
					  .count = CAP,
					  .elem_size = ESIZE };
	struct shoal_store_options o;
	int err;

	shoal_store_options_init(&o);
	o.registry = reg;
	o.objects = &obj;
	o.nobjects = 1;
	o.event_ids = 0;
	err = shoal_store_create("stk", &o, s);
	return err ? err : shoal_store_stack(*s, "st", st);
}

static int test_order_and_limits(void)
{
	struct shoal_store *s, *ro;
	struct shoal_stack st, rst;
	struct shoal_store_options o;
	struct elem e;

	CHECK_EQ(make(&s, &st), 0);
	CHECK_EQ(shoal_stack_pop(&st, &e, sizeof(e)), -EAGAIN);
	for (uint32_t i = 0; i < CAP; i++) {
		e = (struct elem){ 0, i, check_of(0, i) };
		CHECK_EQ(shoal_stack_push(&st, &e, sizeof(e)), 0);
	}
	CHECK_EQ(shoal_stack_push(&st, &e, sizeof(e)), -EAGAIN);
	CHECK_EQ(shoal_stack_push(&st, &e, ESIZE + 1), -EMSGSIZE);
	shoal_store_options_init(&o);
	o.registry = reg;
	o.flags = SHOAL_STORE_READ_ONLY;
	CHECK_EQ(shoal_store_open("stk", &o, &ro), 0);
	CHECK_EQ(shoal_store_stack(ro, "st", &rst), 0);
	CHECK_EQ(shoal_stack_pop(&rst, &e, sizeof(e)), -EPERM);
	shoal_store_close(ro);
	for (uint32_t i = CAP; i-- > 0;) {
		CHECK_EQ(shoal_stack_pop(&st, &e, sizeof(e)), ESIZE);
		CHECK_EQ(e.seq, i);
	}
	shoal_store_destroy(s);
	return TEST_PASS;
}

static int test_between_processes(void)
{
	struct shoal_store *s;
	struct shoal_stack st;
	uint8_t *seen = mmap(NULL, 2 * PER, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	_Atomic uint32_t *popped = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[4];

	CHECK(seen != MAP_FAILED && popped != MAP_FAILED);
	CHECK_EQ(make(&s, &st), 0);
	for (int c = 0; c < 4; c++) {
		pids[c] = fork();
		if (pids[c])
			continue;
		{
			struct shoal_store *cs = child_open();
			struct shoal_stack cst;
			struct elem e;

			if (shoal_store_stack(cs, "st", &cst))
				_exit(4);
			if (c < 2) {
				for (uint32_t i = 0; i < PER; i++) {
					int err;

					e = (struct elem){ (uint32_t)c, i,
							   check_of((uint32_t)c,
								    i) };
					while ((err = shoal_stack_push(
							&cst, &e, sizeof(e))) ==
						       -EAGAIN ||
					       err == -EBUSY)
						;
					if (err)
						_exit(5);
				}
				_exit(0);
			}
			while (atomic_load(popped) < 2 * PER) {
				int n = shoal_stack_pop(&cst, &e, sizeof(e));

				if (n == -EAGAIN || n == -EBUSY)
					continue;
				if (n != ESIZE || e.who > 1 || e.seq >= PER ||
				    e.check != check_of(e.who, e.seq))
					_exit(6);
				/* A second pop of one element shows here. */
				if (seen[e.who * PER + e.seq]++)
					_exit(7);
				atomic_fetch_add(popped, 1);
			}
			_exit(0);
		}
	}
	for (int c = 0; c < 4; c++)
		CHECK(test_wait_child(pids[c], 120));
	CHECK_EQ(atomic_load(popped), 2 * PER);
	for (uint32_t i = 0; i < 2 * PER; i++)
		CHECK_EQ(seen[i], 1);
	munmap(seen, 2 * PER);
	munmap((void *)popped, 4096);
	shoal_store_destroy(s);
	return TEST_PASS;
}

static int test_killed_pushers(uint64_t rounds)
{
	struct shoal_store *s;
	struct shoal_stack st;
	/* [round] = how many pushes that round's child was told succeeded */
	_Atomic uint32_t *done = mmap(NULL, (rounds + 1) * 4,
				      PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	_Atomic uint32_t *go = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint32_t *got = calloc(rounds + 1, sizeof(uint32_t));
	uint32_t *last = calloc(rounds + 1, sizeof(uint32_t));
	unsigned seed = (unsigned)getpid();
	struct elem e;

	CHECK(done != MAP_FAILED && go != MAP_FAILED && got && last);
	CHECK_EQ(make(&s, &st), 0);
	for (uint64_t r = 1; r <= rounds; r++) {
		uint32_t before = 0;
		pid_t pid = fork();

		if (pid == 0) {
			struct shoal_store *cs = child_open();
			struct shoal_stack cst;

			if (shoal_store_stack(cs, "st", &cst))
				_exit(4);
			atomic_store(&go[0], (uint32_t)r);
			while (atomic_load(&go[1]) != r)
				;
			for (uint32_t i = 1; i < 4; i++) {
				e = (struct elem){ (uint32_t)r, i,
						   check_of((uint32_t)r, i) };
				if (shoal_stack_push(&cst, &e, sizeof(e)))
					_exit(5);
				atomic_store(&done[r], i);
			}
			pause();
			_exit(0);
		}
		CHECK(pid > 0);
		/* Ready, go, and a random number of our own pushes and pops
		 * of a marker element (who 0) before the kill, so that it
		 * lands anywhere in the child's three pushes or after. */
		while (atomic_load(&go[0]) != r)
			;
		atomic_store(&go[1], (uint32_t)r);
		for (int i = rand_r(&seed) % 40; i > 0; i--) {
			e = (struct elem){ 0, 0, check_of(0, 0) };
			if (!shoal_stack_push(&st, &e, sizeof(e)))
				before++;
			if (before &&
			    shoal_stack_pop(&st, &e, sizeof(e)) == ESIZE) {
				if (e.who == 0)
					before--;
				else if (e.check != check_of(e.who, e.seq) ||
					 e.who > r || !e.seq || e.seq > 3) {
					kill(pid, SIGKILL);
					waitpid(pid, NULL, 0);
					return TEST_FAIL;
				} else {
					/* A child's element: keep count. */
					got[e.who]++;
					if (e.seq > last[e.who])
						last[e.who] = e.seq;
				}
			}
		}
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		/* Drain what is there now, so the next child finds room. */
		for (;;) {
			int n = shoal_stack_pop(&st, &e, sizeof(e));

			if (n == -EAGAIN)
				break;
			CHECK_EQ(n, ESIZE);
			CHECK_EQ(e.check, check_of(e.who, e.seq));
			if (!e.who)
				continue;
			CHECK(e.who <= r && e.seq >= 1 && e.seq <= 3);
			got[e.who]++;
		}
	}
	/* Drain: every child's confirmed pushes exactly once, at most one
	 * more; our markers; nothing else. */
	for (;;) {
		int n = shoal_stack_pop(&st, &e, sizeof(e));

		if (n == -EAGAIN)
			break;
		CHECK_EQ(n, ESIZE);
		CHECK_EQ(e.check, check_of(e.who, e.seq));
		if (!e.who)
			continue;
		CHECK(e.who <= rounds && e.seq >= 1 && e.seq <= 3);
		got[e.who]++;
	}
	for (uint64_t r = 1, early = 0; r <= rounds; r++) {
		uint32_t d = atomic_load(&done[r]);

		early += d < 3;
		if (r == rounds)
			fprintf(stderr,
				"%llu of %llu pushers killed before "
				"their third push returned\n",
				(unsigned long long)early,
				(unsigned long long)rounds);

		if (got[r] < d || got[r] > d + 1 || got[r] > 3) {
			fprintf(stderr, "round %llu: %u pushed, %u found\n",
				(unsigned long long)r, d, got[r]);
			return TEST_FAIL;
		}
	}
	/* Every node is back: the stack takes its capacity again. */
	for (uint32_t i = 0; i < CAP; i++) {
		e = (struct elem){ 0, i, check_of(0, i) };
		CHECK_EQ(shoal_stack_push(&st, &e, sizeof(e)), 0);
	}
	free(got);
	free(last);
	munmap((void *)done, (rounds + 1) * 4);
	munmap((void *)go, 4096);
	shoal_store_destroy(s);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	char top[PATH_MAX];
	uint64_t rounds = test_arg_u64(argc, argv, 1, 200);

	psu_watchdog(230);
	if (test_fresh_path(path, sizeof(path), top, sizeof(top), geteuid()) ||
	    test_registry_open(path, &reg))
		return TEST_FAIL;
	RUN(test_order_and_limits);
	RUN(test_between_processes);
	test_count("test_killed_pushers", test_killed_pushers(rounds));
	shoal_registry_destroy(reg);
	test_remove_tree(top);
	return test_result();
}
