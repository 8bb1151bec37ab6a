/* shoal-test: label=stress timeout=300 args=1000 */
/*
 * Writers SIGKILLed at random points (issue 17): argv[1] kills (default
 * 1000) of children that hammer one cell (many writers), one stack and one
 * map in a MAP_SHARED anonymous region. Two children run at a time; the
 * older is killed at a random moment and replaced. Every 50 kills both are
 * killed and the parent, alone, recovers and checks:
 *  - cell: the value is one that was written whole;
 *  - stack: every node is on exactly one list (free + used = capacity once
 *    recover() has reclaimed the dead holders'); every element on used is
 *    valid, there once, and not one a pop returned; every element a push
 *    returned for and no pop returned is there, except at most one per pop
 *    a child was in the middle of when it died;
 *  - map: every key in one slot at most, every present value whole.
 * The children check every value they read, and a pop that returns an
 * element already popped. Owners are round tokens, not pids, and alive()
 * asks the parent's list of live tokens, so pid reuse cannot confuse it.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "objects/cell.h"
#include "objects/map.h"
#include "objects/stack.h"
#include "shoal/common.h"

#define CELL_VS 72
#define ST_CAP 32
#define ST_ES 16
#define MAP_CAP 32
#define MAP_KEYS 20
#define MAP_VS 48
#define MAX_IDS (1u << 24)

enum {
	ID_NONE,
	ID_PUSHING,
	ID_PUSHED,
	ID_POPPED
};

/* The test's own bookkeeping, in the shared mapping. */
struct shared {
	_Atomic uint32_t live[2];     /* tokens of the running children */
	_Atomic int started[2];	      /* child i began its loop */
	_Atomic int pop_inflight[2];  /* child i is inside a pop */
	_Atomic int error;	      /* a child saw something wrong */
	char why[128];		      /* ...what */
	_Atomic uint32_t next_id;     /* stack element ids, from 1 */
	_Atomic uint8_t ids[MAX_IDS]; /* ID_* per element id */
};

static struct shared *sh;
static unsigned char *cell_r, *stack_r, *map_r;
static size_t cell_len, stack_len, map_len;
static unsigned reclaimed, lost_with_popper;

static int alive(uint32_t owner, void *user_data)
{
	(void)user_data;
	return atomic_load(&sh->live[0]) == owner ||
	       atomic_load(&sh->live[1]) == owner;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void child_fail(const char *fmt, unsigned long long a,
		       unsigned long long b)
{
	if (!atomic_exchange(&sh->error, 1))
		snprintf(sh->why, sizeof(sh->why), fmt, a, b);
}

static int cell_whole(const unsigned char *v)
{
	for (int i = 8; i < CELL_VS; i += 8)
		if (memcmp(v, v + i, 8))
			return 0;
	return 1;
}

static int map_whole(const unsigned char *v, unsigned kid)
{
	uint64_t x;

	memcpy(&x, v, 8);
	if (x >> 48 != kid)
		return 0;
	for (int i = 8; i < MAP_VS; i += 8)
		if (memcmp(v, v + i, 8))
			return 0;
	return 1;
}

static void child(int slot, uint32_t token)
{
	struct shoal__obj_who who = { token, alive, NULL };
	struct shoal__cell c;
	struct shoal__stack s;
	struct shoal__map m;
	uint64_t seed = token * 0x9e3779b97f4a7c15ull + 1, k = 0;
	unsigned char v[128];
	char key[16];

	if (shoal__cell_attach(&c, cell_r, cell_len, CELL_VS,
			       SHOAL__CELL_MANY_WRITERS, &who) ||
	    shoal__stack_attach(&s, stack_r, stack_len, ST_ES, ST_CAP, &who) ||
	    shoal__map_attach(&m, map_r, map_len, MAP_CAP, 16, MAP_VS, &who)) {
		child_fail("child attach failed %llu %llu", 0, 0);
		_exit(1);
	}
	atomic_store(&sh->started[slot], 1);
	for (;; k++) {
		uint64_t x = (uint64_t)token << 32 | (k & 0xffffffff), e[2];
		unsigned kid;
		int kl, err;

		switch (rng_next(&seed) % 8) {
		case 0: /* cell write */
			for (int i = 0; i < CELL_VS; i += 8)
				memcpy(v + i, &x, 8);
			shoal__cell_write(&c, v, CELL_VS);
			break;
		case 1: /* cell read */
			err = shoal__cell_read(&c, v, sizeof(v), NULL);
			if (err == CELL_VS && !cell_whole(v))
				child_fail("torn cell value %llu %llu", 0, 0);
			break;
		case 2: { /* push */
			uint32_t id = atomic_fetch_add(&sh->next_id, 1);

			if (id >= MAX_IDS)
				break;
			atomic_store(&sh->ids[id], ID_PUSHING);
			e[0] = id;
			e[1] = ~(uint64_t)id;
			err = shoal__stack_push(&s, e, sizeof(e));
			/* By CAS: a sibling may have popped it already. */
			{
				uint8_t was = ID_PUSHING;

				atomic_compare_exchange_strong(
					&sh->ids[id], &was,
					err ? ID_NONE : ID_PUSHED);
			}
			if (err && err != -ENOSPC && err != -EBUSY)
				child_fail("push: %llu (id %llu)",
					   (unsigned long long)-err, id);
			/* Full: maybe of nodes dead children hold. Racing
			 * the sibling's pushes and pops. */
			if (err == -ENOSPC && shoal__stack_recover(&s) < 0)
				child_fail("recover failed %llu %llu", 0, 0);
			break;
		}
		case 3: /* pop */
			atomic_store(&sh->pop_inflight[slot], 1);
			err = shoal__stack_pop(&s, e, sizeof(e));
			if (err == ST_ES) {
				if (e[1] != ~e[0] || e[0] >= MAX_IDS)
					child_fail("popped a bad element "
						   "%llu %llu",
						   e[0], e[1]);
				else if (atomic_exchange(&sh->ids[e[0]],
							 ID_POPPED) ==
					 ID_POPPED)
					child_fail("element %llu popped twice "
						   "%llu",
						   e[0], 0);
			} else if (err != -EAGAIN && err != -EBUSY) {
				child_fail("pop: %llu %llu",
					   (unsigned long long)-err, 0);
			}
			atomic_store(&sh->pop_inflight[slot], 0);
			break;
		default: /* map: put, delete, lookup */
			kid = (unsigned)(rng_next(&seed) % MAP_KEYS);
			kl = snprintf(key, sizeof(key), "key-%u", kid);
			x = (uint64_t)kid << 48 | (uint64_t)token << 24 |
			    (k & 0xffffff);
			for (int i = 0; i < MAP_VS; i += 8)
				memcpy(v + i, &x, 8);
			switch (rng_next(&seed) % 4) {
			case 0:
				err = shoal__map_put(&m, key, kl, v, MAP_VS);
				if (err < 0 && err != -EBUSY)
					child_fail("map put: %llu %llu",
						   (unsigned long long)-err, 0);
				break;
			case 1:
				shoal__map_delete(&m, key, kl);
				break;
			default:
				err = shoal__map_lookup(&m, key, kl, v,
							sizeof(v), NULL);
				if (err == MAP_VS && !map_whole(v, kid))
					child_fail("torn map value, key %llu "
						   "%llu",
						   kid, 0);
			}
		}
	}
}

static struct shoal__stack_node *node(uint32_t i)
{
	return (struct shoal__stack_node *)(stack_r + 192 +
					    i * shoal__stack_stride(ST_ES));
}

/* Walks list @l (0 free, 1 used): its length, or -1 if it names a node out
 * of range or does not end; marks each node in @on. */
static int walk(int l, uint8_t *on)
{
	struct shoal__stack_head *h =
		(struct shoal__stack_head *)(stack_r + 64) + l;
	uint32_t i = (uint32_t)atomic_load(&h->top);
	int n = 0;

	while (i != SHOAL__STACK_NIL) {
		if (i >= ST_CAP || n > ST_CAP || on[i]++)
			return -1;
		n++;
		i = (uint32_t)atomic_load(&node(i)->next);
	}
	return n;
}

static int check_round(int inflight_pops)
{
	struct shoal__obj_who me = { 1, alive, NULL };
	struct shoal__cell c;
	struct shoal__stack s;
	struct shoal__map m;
	unsigned char v[128];
	uint8_t on[ST_CAP] = { 0 }, present[MAP_KEYS] = { 0 };
	uint8_t *in_list;
	uint32_t nid = atomic_load(&sh->next_id);
	int nfree, nused, missing = 0, err;

	if (nid > MAX_IDS)
		nid = MAX_IDS;
	CHECK_EQ(shoal__cell_attach(&c, cell_r, cell_len, CELL_VS,
				    SHOAL__CELL_MANY_WRITERS, &me),
		 0);
	CHECK_EQ(shoal__cell_read(&c, v, sizeof(v), NULL), CELL_VS);
	CHECK(cell_whole(v));

	CHECK_EQ(shoal__stack_attach(&s, stack_r, stack_len, ST_ES, ST_CAP,
				     &me),
		 0);
	err = shoal__stack_recover(&s);
	CHECK(err >= 0);
	reclaimed += (unsigned)err;
	nfree = walk(0, on);
	nused = walk(1, on);
	CHECK(nfree >= 0 && nused >= 0);
	CHECK_EQ(nfree + nused, ST_CAP);
	for (uint32_t i = 0; i < ST_CAP; i++)
		CHECK_EQ(atomic_load(&node(i)->state) & 0xffffffff, 0);
	in_list = calloc(nid + 1, 1);
	CHECK(in_list);
	{
		struct shoal__stack_head *h =
			(struct shoal__stack_head *)(stack_r + 64) + 1;
		uint32_t i = (uint32_t)atomic_load(&h->top);

		while (i != SHOAL__STACK_NIL) {
			uint64_t e[2];
			uint8_t st;

			memcpy(e, (unsigned char *)node(i) + 16, sizeof(e));
			CHECK(e[1] == ~e[0] && e[0] >= 1 && e[0] < nid);
			CHECK_EQ(in_list[e[0]]++, 0);
			st = atomic_load(&sh->ids[e[0]]);
			/* Pushed, or a push a dead child was inside. */
			CHECK(st == ID_PUSHED || st == ID_PUSHING);
			i = (uint32_t)atomic_load(&node(i)->next);
		}
	}
	for (uint32_t id = 1; id < nid; id++) {
		uint8_t st = atomic_load(&sh->ids[id]);

		if (st == ID_PUSHED && !in_list[id]) {
			/* Taken by a pop that died before saying so. */
			missing++;
			atomic_store(&sh->ids[id], ID_POPPED);
		} else if (st == ID_PUSHING) {
			atomic_store(&sh->ids[id],
				     in_list[id] ? ID_PUSHED : ID_NONE);
		}
	}
	free(in_list);
	CHECK(missing <= inflight_pops);
	lost_with_popper += (unsigned)missing;

	CHECK_EQ(shoal__map_attach(&m, map_r, map_len, MAP_CAP, 16, MAP_VS,
				   &me),
		 0);
	for (uint32_t i = 0; i < MAP_CAP; i++) {
		struct shoal__map_slot *sl =
			(struct shoal__map_slot *)(map_r + 64 +
						   i * shoal__map_stride(
							       16, MAP_VS));
		uint64_t ctl = atomic_load(&sl->ctl);
		char kz[17];
		unsigned kid;

		if ((ctl & 3) != SHOAL__MAP_FULL &&
		    (ctl & 3) != SHOAL__MAP_TOMB)
			continue; /* EMPTY, or WRITING by a dead child */
		CHECK(sl->key_len > 4 && sl->key_len <= 16);
		memcpy(kz, (char *)sl + 48, sl->key_len);
		kz[sl->key_len] = 0;
		kid = (unsigned)atoi(kz + 4);
		CHECK(kid < MAP_KEYS);
		CHECK_EQ(present[kid]++, 0);
	}
	for (unsigned kid = 0; kid < MAP_KEYS; kid++) {
		char key[16];
		int kl = snprintf(key, sizeof(key), "key-%u", kid);

		err = shoal__map_lookup(&m, key, kl, v, sizeof(v), NULL);
		CHECK(err == MAP_VS || err == -ENOENT);
		if (err == MAP_VS)
			CHECK(map_whole(v, kid));
	}
	return TEST_PASS;
}

/* Forks the child of @slot with a fresh token. */
static pid_t spawn(int slot, uint32_t *next_token)
{
	uint32_t token = (*next_token)++;
	pid_t pid;

	atomic_store(&sh->started[slot], 0);
	atomic_store(&sh->pop_inflight[slot], 0);
	atomic_store(&sh->live[slot], token);
	pid = fork();
	if (pid == 0)
		child(slot, token);
	return pid;
}

/* Kills the child of @slot once it has started, a random while later:
 * 1, or 0 if it never started or did not die of the signal. */
static int reap(int slot, pid_t pid, uint64_t *seed, int *inflight)
{
	int status, ok;

	ok = test_wait_flag(&sh->started[slot], 1, 60);
	usleep((useconds_t)(rng_next(seed) % 1000));
	kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status))
		ok = 0;
	*inflight += atomic_load(&sh->pop_inflight[slot]);
	atomic_store(&sh->live[slot], 0);
	return ok;
}

/*
 * Two children always running; the older is killed and replaced, so a
 * child's start overlaps its sibling's run. Every 50 kills both are
 * killed and the parent checks, alone.
 */
static int test_kill(unsigned total_kills)
{
	uint64_t seed = 0x2545f4914f6cdd1dull ^ (uint64_t)getpid();
	size_t total;
	unsigned char *base;
	unsigned kills = 0, checks = 0;
	uint32_t next_token = 2;
	int inflight = 0;
	pid_t pid[2];

	cell_len = shoal__cell_bytes(CELL_VS);
	stack_len = shoal__stack_bytes(ST_ES, ST_CAP);
	map_len = shoal__map_bytes(MAP_CAP, 16, MAP_VS);
	total = sizeof(struct shared) + 64 + cell_len + stack_len + map_len;
	base = mmap(NULL, total, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(base != MAP_FAILED);
	sh = (struct shared *)(void *)base;
	cell_r = base + shoal__obj_round(sizeof(struct shared), 64);
	stack_r = cell_r + cell_len;
	map_r = stack_r + stack_len;
	atomic_store(&sh->next_id, 1);
	CHECK_EQ(shoal__cell_format(cell_r, cell_len, CELL_VS,
				    SHOAL__CELL_MANY_WRITERS),
		 0);
	CHECK_EQ(shoal__stack_format(stack_r, stack_len, ST_ES, ST_CAP), 0);
	CHECK_EQ(shoal__map_format(map_r, map_len, MAP_CAP, 16, MAP_VS), 0);

	while (kills < total_kills) {
		for (int i = 0; i < 2; i++) {
			pid[i] = spawn(i, &next_token);
			CHECK(pid[i] >= 0);
		}
		for (unsigned k = 0; k < 48 && kills + 2 < total_kills; k++) {
			int i = k % 2;

			CHECK(reap(i, pid[i], &seed, &inflight));
			kills++;
			pid[i] = spawn(i, &next_token);
			CHECK(pid[i] >= 0);
		}
		for (int i = 0; i < 2; i++) {
			CHECK(reap(i, pid[i], &seed, &inflight));
			kills++;
		}
		if (atomic_load(&sh->error)) {
			fprintf(stderr, "after %u kills: a child saw: %s\n",
				kills, sh->why);
			return TEST_FAIL;
		}
		if (check_round(inflight) != TEST_PASS) {
			fprintf(stderr, "after %u kills: check failed\n",
				kills);
			return TEST_FAIL;
		}
		checks++;
		inflight = 0;
	}
	fprintf(stderr,
		"%u kills, %u checks, %u stack elements pushed, %u nodes "
		"reclaimed from dead holders, %u elements lost with their "
		"popper\n",
		kills, checks, atomic_load(&sh->next_id) - 1, reclaimed,
		lost_with_popper);
	munmap(base, total);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	unsigned kills = (unsigned)test_arg_u64(argc, argv, 1, 1000);

	if (test_kill(kills) != TEST_PASS)
		return TEST_FAIL;
	return TEST_PASS;
}
