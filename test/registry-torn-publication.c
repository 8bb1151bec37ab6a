/* shoal-test: label=stress timeout=300 args=1000 */
/*
 * Torn publication is impossible. argv[1] publishers (default 1000), each
 * killed with SIGKILL after a random delay, somewhere in the middle of
 * creating its segment, writing its descriptor or linking it. Meanwhile a
 * reader process reads every file that appears in the directory as raw
 * bytes and parses it: it must always find a complete descriptor with a
 * valid checksum, never a partial one.
 */
#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>

#include "harness.h"
#include "registry/registry_internal.h"
#include "registry_util.h"

static char path[PATH_MAX];
static _Atomic int *stop;

/* Reader: reads every entry over and over. Exit 0, or 1 on a torn one. */
static int reader(void)
{
	uint64_t seen = 0;

	while (!atomic_load(stop)) {
		DIR *dir = opendir(path);
		struct dirent *de;

		if (!dir)
			return 2;
		while ((de = readdir(dir))) {
			unsigned char buf[2 * SHOAL__DESC_SIZE];
			struct shoal__descriptor d;
			ssize_t n;
			int fd;

			if (de->d_name[0] == '.')
				continue;
			fd = openat(dirfd(dir), de->d_name,
				    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				continue; /* removed meanwhile: fine */
			n = read(fd, buf, sizeof(buf));
			close(fd);
			if (shoal__descriptor_parse(
				    buf, (size_t)(n < 0 ? 0 : n), &d, NULL)) {
				fprintf(stderr,
					"torn entry %s (%zd bytes): %s\n",
					de->d_name, n, shoal_last_error());
				closedir(dir);
				return 1;
			}
			seen++;
		}
		closedir(dir);
	}
	/* Report how much was checked, for the log. */
	fprintf(stderr, "reader checked %llu complete entries\n",
		(unsigned long long)seen);
	return 0;
}

static uint64_t count;

static int test_sigkill_during_publication(void)
{
	struct shoal_registry *reg;
	pid_t rd;
	uint64_t completed = 0;
	int span_us;

	CHECK_EQ(test_registry_open(path, &reg), 0);
	rd = fork();
	CHECK(rd >= 0);
	if (rd == 0)
		_exit(reader());
	srand((unsigned)time(NULL));
	/* How long one publication takes here, start of the child to its
	 * exit; the kills are spread uniformly over that span. */
	{
		struct timespec t0, t1;
		pid_t pid;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			struct shoal_registry *r;
			struct test_service ts;

			_exit(test_registry_open(path, &r) ||
			      test_publish(r, "torn/probe", SHOAL_ACCESS_OWNER,
					   0, &ts));
		}
		CHECK(test_wait_child(pid, 10));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		span_us = (int)((t1.tv_sec - t0.tv_sec) * 1000000 +
				(t1.tv_nsec - t0.tv_nsec) / 1000) +
			  1;
	}
	for (uint64_t i = 0; i < count; i++) {
		char name[64];
		pid_t pid;
		int st;

		snprintf(name, sizeof(name), "torn/%llu",
			 (unsigned long long)(i % 16));
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			struct shoal_registry *r;
			struct test_service ts;

			if (test_registry_open(path, &r) ||
			    test_publish(r, name, SHOAL_ACCESS_OWNER, 0, &ts))
				_exit(3);
			_exit(0);
		}
		/* Half the span: most kills land inside the publication. */
		usleep((useconds_t)(rand() % (span_us / 2 + 1)));
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		completed += WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	atomic_store(stop, 1);
	CHECK(test_wait_child(rd, 60));
	fprintf(stderr, "%llu of %llu publishers finished before the kill\n",
		(unsigned long long)completed, (unsigned long long)count);
	/* Every owner is dead: clean leaves the directory empty. */
	CHECK(shoal_registry_clean(reg) >= 0);
	{
		DIR *dir = opendir(path);
		struct dirent *de;
		int left = 0;

		CHECK(dir != NULL);
		while ((de = readdir(dir)))
			left += de->d_name[0] != '.';
		closedir(dir);
		CHECK_EQ(left, 0);
	}
	shoal_registry_destroy(reg);
	return TEST_PASS;
}

int main(int argc, char **argv)
{
	count = test_arg_u64(argc, argv, 1, 1000);
	stop = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (stop == MAP_FAILED || test_registry_path(path, sizeof(path)))
		return TEST_FAIL;
	RUN(test_sigkill_during_publication);
	return test_result();
}
