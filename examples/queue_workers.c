/* SPDX-License-Identifier: MIT */
/*
 * A work queue: one process hands out jobs, a pool of worker processes
 * takes them, each job is done by exactly one worker, and the answers
 * come back on a second queue.
 *
 * The parent forks three workers, then creates two queues:
 * "examples/jobs-<pid>" (jobs, 16 cells: when the workers fall behind,
 * the parent's push waits for room) and "examples/results-<pid>". Both
 * carry a fixed struct, named in the options so that a process built with
 * another idea of the struct is refused (-EPROTO) instead of misreading
 * it. Each worker pops a job, computes it, and pushes the answer. When
 * the parent has every answer it closes the jobs queue: the workers' next
 * pop says -EPIPE, and they leave.
 *
 * The fork comes first on purpose: a child forked after
 * shoal_queue_create() would inherit the creator's descriptors.
 */
#include <shoal.h>
#include <shoal/queue.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL
#define WORKERS 3
#define JOBS 100

struct job {
	uint32_t id;
	uint32_t n; /* sum the squares 1..n */
};

struct result {
	uint32_t id;
	uint32_t worker;
	uint64_t sum;
};

static void typed(struct shoal_queue_options *o, const char *type,
		  uint32_t size, uint32_t align)
{
	shoal_queue_options_init(o);
	o->type_name = type;
	o->type_size = size;
	o->type_align = align;
}

/* Opens @name, waiting for the parent to create it. */
static int join(const char *name, struct shoal_queue_options *o,
		struct shoal_queue **q)
{
	int err;

	o->timeout_ns = 5 * SEC; /* wait up to 5 s for the queue to appear */
	err = shoal_queue_open(name, o, q);
	if (err)
		fprintf(stderr, "worker: open %s: %s\n", name,
			shoal_last_error());
	return err;
}

static int worker(uint32_t me, const char *jobs_name, const char *results_name)
{
	struct shoal_queue_options o;
	struct shoal_queue *jobs, *results;
	unsigned done = 0;
	struct shoal_msg msg;
	int err;

	/* Jobs first: the parent creates the results queue before it. */
	typed(&o, "struct job", sizeof(struct job), _Alignof(struct job));
	o.role = SHOAL_QUEUE_CONSUMER;
	if (join(jobs_name, &o, &jobs))
		return 1;
	typed(&o, "struct result", sizeof(struct result),
	      _Alignof(struct result));
	o.role = SHOAL_QUEUE_PRODUCER;
	o.send_timeout_ns = 5 * SEC; /* a full results queue: wait 5 s */
	if (join(results_name, &o, &results)) {
		shoal_queue_close(jobs);
		return 1;
	}

	/* Whichever worker is free takes the next job, in place (zero
	 * copy: msg.data points into the shared ring until released). */
	while ((err = shoal_queue_take(jobs, &msg, 5 * SEC)) == 0) {
		struct job job;
		struct result *r;

		if (msg.len != sizeof(job)) {
			shoal_queue_release(jobs, &msg);
			err = -EBADMSG;
			break;
		}
		memcpy(&job, msg.data, sizeof(job));
		shoal_queue_release(jobs, &msg);
		/* The answer is written in place too: loan a cell, fill it,
		 * send it. */
		err = shoal_queue_loan(results, sizeof(*r), (void **)&r);
		if (err)
			break;
		r->id = job.id;
		r->worker = me;
		r->sum = 0;
		for (uint64_t k = 1; k <= job.n; k++)
			r->sum += k * k;
		err = shoal_queue_send(results, r, sizeof(*r));
		if (err)
			break;
		done++;
	}
	/* -EPIPE: the parent withdrew the jobs and none is left. */
	printf("worker %u: %u jobs, then %s\n", me, done,
	       err == -EPIPE ? "no more work" : shoal_last_error());
	shoal_queue_close(results);
	shoal_queue_close(jobs);
	return err == -EPIPE ? 0 : 1;
}

int main(void)
{
	char jobs_name[64], results_name[64];
	struct shoal_queue_options o;
	struct shoal_queue *jobs = NULL, *results = NULL;
	unsigned char seen[JOBS] = { 0 };
	unsigned per_worker[WORKERS] = { 0 };
	pid_t pids[WORKERS];
	int ok = 1;

	setvbuf(stdout, NULL, _IOLBF, 0); /* in order even when piped */
	snprintf(jobs_name, sizeof(jobs_name), "examples/jobs-%d",
		 (int)getpid());
	snprintf(results_name, sizeof(results_name), "examples/results-%d",
		 (int)getpid());
	for (uint32_t i = 0; i < WORKERS; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return 1;
		if (pids[i] == 0)
			_exit(worker(i, jobs_name, results_name));
	}

	typed(&o, "struct result", sizeof(struct result),
	      _Alignof(struct result));
	o.role = SHOAL_QUEUE_CONSUMER;
	if (shoal_queue_create(results_name, &o, &results)) {
		fprintf(stderr, "results: %s\n", shoal_last_error());
		ok = 0;
		goto out;
	}
	typed(&o, "struct job", sizeof(struct job), _Alignof(struct job));
	o.role = SHOAL_QUEUE_PRODUCER;
	o.capacity = 16;
	o.send_timeout_ns = 5 * SEC; /* a full queue: wait up to 5 s */
	if (shoal_queue_create(jobs_name, &o, &jobs)) {
		fprintf(stderr, "jobs: %s\n", shoal_last_error());
		ok = 0;
		goto out;
	}

	/* Wait for the whole pool to join (the parent's handle counts too),
	 * so that no worker finds the queue already gone when it comes. */
	for (int i = 0; i < 5000; i++) {
		struct shoal_queue_stats st;

		shoal_queue_get_stats(jobs, &st);
		if (st.participants == WORKERS + 1)
			break;
		usleep(1000);
	}

	/* More jobs than cells: a full queue makes the write wait. */
	for (uint32_t i = 0; i < JOBS && ok; i++) {
		struct job job = { i, 1000 + i };

		if (shoal_queue_write(jobs, &job, sizeof(job))) {
			fprintf(stderr, "write: %s\n", shoal_last_error());
			ok = 0;
		}
	}
	/* Every answer, once, and right. */
	for (uint32_t i = 0; i < JOBS && ok; i++) {
		struct result r;
		uint64_t n, want;

		if (shoal_queue_read(results, &r, sizeof(r), 5 * SEC) !=
			    sizeof(r) ||
		    r.id >= JOBS || r.worker >= WORKERS || seen[r.id]++) {
			fprintf(stderr, "bad or missing result\n");
			ok = 0;
			break;
		}
		n = 1000 + r.id;
		want = n * (n + 1) * (2 * n + 1) / 6;
		if (r.sum != want) {
			fprintf(stderr, "job %u: %llu, want %llu\n", r.id,
				(unsigned long long)r.sum,
				(unsigned long long)want);
			ok = 0;
		}
		per_worker[r.worker]++;
	}
	if (ok)
		printf("parent: %d answers: %u, %u and %u by each worker\n",
		       JOBS, per_worker[0], per_worker[1], per_worker[2]);
out:
	/* Withdraw the jobs: the workers drain them and see -EPIPE. */
	shoal_queue_destroy(jobs);
	for (int i = 0; i < WORKERS; i++) {
		int status;

		if (!jobs)
			kill(pids[i], SIGTERM);
		if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			ok = 0;
	}
	shoal_queue_destroy(results);
	return ok ? 0 : 1;
}
