/* SPDX-License-Identifier: MIT */
/*
 * Corpus replayer: runs a libFuzzer target's LLVMFuzzerTestOneInput() on
 * files, so the target builds with any compiler (no -fsanitize=fuzzer) and
 * CTest can replay the committed seed corpus and every crash ever found.
 *
 * Usage: PROG PATH...  where each PATH is a file or a directory whose regular
 * files are all replayed, in name order so a failure reproduces the same way.
 * Exits 0 when every input ran (the target aborts on a finding), 1 when an
 * argument cannot be read or no input was found at all: an empty run must not
 * pass for a green one.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run one file through the target; -1 if it cannot be read. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;

	if (!f) {
		perror(path);
		return -1;
	}
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET)) {
		perror(path);
		fclose(f);
		return -1;
	}
	/* malloc(0) may return NULL; the target gets a valid pointer anyway. */
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "%s: cannot read\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	fprintf(stderr, "replay %s (%ld bytes)\n", path, len);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

static int only_files(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

/* Replay @path (file or directory); returns inputs run, or -1. */
static long replay(const char *path)
{
	struct dirent **names;
	struct stat st;
	long count = 0;
	int n;

	if (stat(path, &st)) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path) ? -1 : 1;
	n = scandir(path, &names, only_files, alphasort);
	if (n < 0) {
		perror(path);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char *child;

		if (count >= 0 &&
		    asprintf(&child, "%s/%s", path, names[i]->d_name) >= 0) {
			if (stat(child, &st) == 0 && S_ISREG(st.st_mode))
				count = replay_file(child) ? -1 : count + 1;
			free(child);
		}
		free(names[i]);
	}
	free(names);
	return count;
}

int main(int argc, char **argv)
{
	long total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE-OR-DIR...\n", argv[0]);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		long n = replay(argv[i]);

		if (n < 0)
			return 1;
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "no inputs found: nothing was tested\n");
		return 1;
	}
	fprintf(stderr, "replayed %ld inputs, no finding\n", total);
	return 0;
}
