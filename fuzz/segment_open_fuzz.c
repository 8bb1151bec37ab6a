/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: shoal_segment_open() on arbitrary segment bytes.
 *
 * A hostile peer controls every byte of a segment it hands us, but not the
 * seals (open() refuses unsealed memfds before reading a byte), so each input
 * becomes the whole content of a fresh memfd sealed exactly as
 * shoal_segment_ready() seals one. The first byte of the input is not spared:
 * the input *is* the file, so sizes below the header are fuzzed too.
 *
 * Beyond "no crash, no sanitizer report", an open that succeeds is checked
 * against what its contract promises, and any broken promise aborts:
 *   - every object of the table lies inside the segment, past the header,
 *     aligned (as an offset and as an address), with a printable name, and
 *     no two objects overlap or share a name;
 *   - shoal_segment_find() by name and kind gives the same object and the
 *     address base + offset, and every byte of it can be read;
 *   - the segment's size is the file's.
 * Reading every byte under ASan is what makes a wrong bound visible as a
 * fault on the mapping's edge rather than a silent wrong answer.
 *
 * Built two ways: with clang -fsanitize=fuzzer as a libFuzzer target, and
 * with any compiler plus standalone_main.c as a corpus replayer (CTest).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <shoal/segment.h>

#include "segment/layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise: say which, then abort so the fuzzer keeps the input. */
#define PROMISE(cond)                                                      \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "segment_open_fuzz: broken: %s\n", \
				#cond);                                    \
			abort();                                           \
		}                                                          \
	} while (0)

/* Codes open() is documented to return for bad content. */
static int expected_failure(int r)
{
	return r == -EBADMSG || r == -EPROTO || r == -EAGAIN;
}

static void check_segment(const struct shoal_segment *seg, size_t file_size)
{
	struct shoal_object_info info[SHOAL_SEGMENT_OBJECTS_MAX];
	const unsigned char *base = shoal_segment_base(seg);
	uint64_t size = shoal_segment_size(seg);
	uint32_t n = shoal_segment_object_count(seg);
	const struct shoal__seg_header *h = (const void *)base;
	volatile unsigned char sink = 0;
	uint64_t table_end;

	PROMISE(size == file_size);
	PROMISE(n <= SHOAL_SEGMENT_OBJECTS_MAX);
	/* Nobody writes the file meanwhile, so its header can be trusted here. */
	PROMISE(h->object_count == n);
	table_end = (uint64_t)h->table_offset + (uint64_t)n * h->entry_size;
	PROMISE(h->table_offset >= h->header_size && h->header_size >= 64);
	PROMISE(table_end <= size);
	PROMISE(shoal_segment_epoch(seg) != 0);
	for (uint32_t i = 0; i < n; i++) {
		struct shoal_object_info byname;
		const unsigned char *p = NULL;
		size_t len;

		PROMISE(shoal_segment_object(seg, i, &info[i]) == 0);
		len = strnlen(info[i].name, sizeof(info[i].name));
		PROMISE(len >= 1 && len <= SHOAL_OBJECT_NAME_MAX);
		for (size_t c = 0; c < len; c++)
			PROMISE(info[i].name[c] >= 0x20 &&
				info[i].name[c] < 0x7f);
		PROMISE(info[i].kind != 0);
		PROMISE(info[i].align &&
			!(info[i].align & (info[i].align - 1)));
		PROMISE(info[i].offset % info[i].align == 0);
		/* Objects lie past the header and the table. */
		PROMISE(info[i].offset >= table_end);
		PROMISE(info[i].size > 0);
		PROMISE(info[i].offset <= size &&
			info[i].size <= size - info[i].offset);

		PROMISE(shoal_segment_find(seg, info[i].name, info[i].kind,
					   (void **)&p, &byname) == 0);
		PROMISE(p == base + info[i].offset);
		PROMISE((uintptr_t)p % info[i].align == 0);
		PROMISE(byname.offset == info[i].offset &&
			byname.size == info[i].size &&
			byname.kind == info[i].kind &&
			byname.align == info[i].align);
		for (uint64_t b = 0; b < info[i].size; b++)
			sink ^= p[b];
	}
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t j = i + 1; j < n; j++) {
			PROMISE(strcmp(info[i].name, info[j].name) != 0);
			PROMISE(info[i].offset + info[i].size <=
					info[j].offset ||
				info[j].offset + info[j].size <=
					info[i].offset);
		}
	}
	PROMISE(shoal_segment_object(seg, n, &info[0]) == -ENOENT);
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shoal_segment *seg = NULL;
	int fd, r;

	/* Larger inputs only slow the fuzzer down; nothing new lies there. */
	if (size > (1u << 20))
		return 0;
	fd = memfd_create("shoal-fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return 0;
	if ((size && pwrite(fd, data, size, 0) != (ssize_t)size) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) <
		    0) {
		close(fd);
		return 0;
	}

	r = shoal_segment_open(fd, 0, &seg);
	if (r == 0) {
		check_segment(seg, size);
		shoal_segment_close(seg);
		/* Read-only opening must agree with read-write opening. */
		seg = NULL;
		PROMISE(shoal_segment_open(fd, SHOAL_SEGMENT_OPEN_READ_ONLY,
					   &seg) == 0);
		check_segment(seg, size);
		shoal_segment_close(seg);
	} else {
		if (!expected_failure(r)) {
			fprintf(stderr, "segment_open_fuzz: open = %d (%s)\n",
				r, shoal_last_error());
			abort();
		}
		PROMISE(seg == NULL);
		PROMISE(shoal_last_error()[0] != '\0');
	}
	close(fd);
	return 0;
}
