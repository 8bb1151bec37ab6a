/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: shoal__descriptor_parse() and shoal__file_to_name() on
 * arbitrary bytes.
 *
 * A registry descriptor is a file anyone who can write the directory may
 * have written, and a directory entry's name is chosen by the same people.
 * The input is the whole file (so lengths around 1024 are fuzzed too), and,
 * as a NUL-terminated string cut at 300 bytes, a directory entry's name.
 *
 * Beyond "no crash, no sanitizer report", each call is checked against its
 * contract, and a broken promise aborts:
 *   - parse returns 0, -EBADMSG or -EPROTO, nothing else, and sets a detail
 *     for shoal_last_error() when it fails;
 *   - on success: the input was exactly SHOAL__DESC_SIZE bytes with the
 *     right magic, major version, size and checksum; the name is
 *     NUL-terminated, printable and a valid service name (it maps to a file
 *     name and back to itself); type_name and socket_name are terminated
 *     and printable; the socket name is there exactly when the fd-server
 *     flag is; eventfd_count <= 8 and the announced fd numbers are >= 0;
 *     the segment size is in range; type_align is 0 or a power of two;
 *     the extra fd count is the field from minor 1 on and 0 for minor 0,
 *     and at most SHOAL_SERVICE_EXTRA_FDS_MAX; the owner's namespace
 *     identities are the fields from minor 2 on and all 0 before; the
 *     origin is the field, terminated and printable, from minor 3 on
 *     and "" before;
 *     *info repeats the descriptor's fields; and parsing again, with or
 *     without *info, gives the same answer;
 *   - file_to_name accepts exactly the names that name_to_file maps to that
 *     file name.
 * A 1024-byte input is parsed a second time with its checksum fixed up, so
 * that mutations reach the field checks behind the checksum. Under ASan the
 * input buffer is exactly @size bytes, so a read past it is a finding.
 *
 * Built two ways: with clang -fsanitize=fuzzer as a libFuzzer target, and
 * with any compiler plus standalone_main.c as a corpus replayer (CTest).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shoal/registry.h>

#include "segment/layout.h"
#include "registry/registry_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise: say which, then abort so the fuzzer keeps the input. */
#define PROMISE(cond)                                                          \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "descriptor_parse_fuzz: broken: %s\n", \
				#cond);                                        \
			abort();                                               \
		}                                                              \
	} while (0)

/* NUL-terminated within @cap, and printable up to it. */
static int text(const char *s, size_t cap, int allow_empty)
{
	size_t len = strnlen(s, cap);

	if (len == cap || (!allow_empty && len == 0))
		return 0;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	}
	return 1;
}

static void check_valid(const uint8_t *data, size_t size,
			const struct shoal__descriptor *d,
			const struct shoal_service_info *info)
{
	char file[SHOAL_SERVICE_NAME_MAX + 1], back[SHOAL_SERVICE_NAME_MAX + 1];
	struct shoal__descriptor again;
	struct shoal_service_info info2;
	struct shoal__ns ns;

	PROMISE(size == SHOAL__DESC_SIZE);
	/* What was validated is what was given. */
	PROMISE(memcmp(d, data, sizeof(*d)) == 0);
	PROMISE(d->magic == SHOAL__DESC_MAGIC);
	PROMISE(d->version_major == SHOAL__DESC_VERSION_MAJOR);
	PROMISE(d->size == SHOAL__DESC_SIZE);
	PROMISE(d->checksum == shoal__descriptor_checksum(d));

	PROMISE(text(d->name, sizeof(d->name), 0));
	PROMISE(text(d->type_name, sizeof(d->type_name), 1));
	PROMISE(text(d->socket_name, sizeof(d->socket_name), 1));
	PROMISE(!!(d->flags & SHOAL__DESC_FLAG_FD_SERVER) ==
		!!d->socket_name[0]);
	PROMISE((d->flags & ~(uint32_t)SHOAL__DESC_FLAG_FD_SERVER) == 0);
	/* A valid service name, whose file name maps back to it. */
	PROMISE(shoal__name_to_file(d->name, file) == 0);
	PROMISE(shoal__file_to_name(file, back) == 0);
	PROMISE(strcmp(back, d->name) == 0);

	PROMISE(d->epoch != 0 && d->owner_pid > 0 && d->owner_start != 0);
	PROMISE(d->pattern != 0 && d->access <= SHOAL_ACCESS_ANYONE);
	PROMISE(d->memfd >= 0);
	PROMISE(d->eventfd_count <= SHOAL_SERVICE_EVENTFDS_MAX &&
		d->eventfd_count <= SHOAL__DESC_EVENTFDS);
	for (uint32_t i = 0; i < d->eventfd_count; i++)
		PROMISE(d->eventfds[i] >= 0);
	PROMISE(d->memfd_size >= sizeof(struct shoal__seg_header) &&
		d->memfd_size <= SHOAL_SEGMENT_SIZE_MAX);
	PROMISE((d->type_align & (d->type_align - 1)) == 0);
	PROMISE(shoal__descriptor_extra_fd_count(d) ==
		(d->version_minor >= 1 ? d->extra_fd_count : 0));
	PROMISE(shoal__descriptor_extra_fd_count(d) <=
		SHOAL_SERVICE_EXTRA_FDS_MAX);
	/* The owner's namespaces: the fields from minor 2 on, else unknown
	 * (all zero) whatever those bytes hold. */
	shoal__descriptor_owner_ns(d, &ns);
	if (d->version_minor >= 2)
		PROMISE(ns.pid_dev == d->owner_pidns_dev &&
			ns.pid_ino == d->owner_pidns_ino &&
			ns.user_dev == d->owner_userns_dev &&
			ns.user_ino == d->owner_userns_ino);
	else
		PROMISE(!ns.pid_dev && !ns.pid_ino && !ns.user_dev &&
			!ns.user_ino);

	/* The origin: the field from minor 3 on, else "" whatever those
	 * bytes hold. */
	if (d->version_minor >= 3) {
		PROMISE(text(d->origin, sizeof(d->origin), 1));
		PROMISE(shoal__descriptor_origin(d) == d->origin);
	} else {
		PROMISE(shoal__descriptor_origin(d)[0] == '\0');
	}

	/* *info says the same, and its strings are terminated. */
	PROMISE(strnlen(info->name, sizeof(info->name)) < sizeof(info->name));
	PROMISE(strcmp(info->name, d->name) == 0);
	PROMISE(strnlen(info->type_name, sizeof(info->type_name)) <
		sizeof(info->type_name));
	PROMISE(strcmp(info->type_name, d->type_name) == 0);
	PROMISE(info->pattern == d->pattern && info->access == d->access);
	PROMISE(info->pid == d->owner_pid && info->uid == d->owner_uid);
	PROMISE(info->epoch == d->epoch && info->memfd_size == d->memfd_size);
	PROMISE(info->eventfd_count == d->eventfd_count);
	PROMISE(info->type_size == d->type_size &&
		info->type_align == d->type_align);
	PROMISE(info->created_ns == d->created_ns);
	PROMISE(info->extra_fd_count == shoal__descriptor_extra_fd_count(d));
	PROMISE(strnlen(info->origin, sizeof(info->origin)) <
		sizeof(info->origin));
	PROMISE(strcmp(info->origin, shoal__descriptor_origin(d)) == 0);

	/* Deterministic, and *info is optional. */
	PROMISE(shoal__descriptor_parse(data, size, &again, NULL) == 0);
	PROMISE(memcmp(&again, d, sizeof(again)) == 0);
	PROMISE(shoal__descriptor_parse(data, size, &again, &info2) == 0);
	PROMISE(memcmp(&info2, info, sizeof(info2)) == 0);
}

/* The bytes as a directory entry's name (cut at 300 bytes, NUL-ended). */
static void fuzz_file_name(const uint8_t *data, size_t size)
{
	char file[301], name[SHOAL_SERVICE_NAME_MAX + 1];
	char back[SHOAL_SERVICE_NAME_MAX + 1];
	size_t n = size < sizeof(file) - 1 ? size : sizeof(file) - 1;

	memcpy(file, data, n);
	file[n] = '\0';
	if (shoal__file_to_name(file, name) == 0) {
		/* A valid name whose file name is exactly this one. */
		PROMISE(strnlen(name, sizeof(name)) < sizeof(name));
		PROMISE(strlen(name) == strlen(file));
		PROMISE(shoal__name_to_file(name, back) == 0);
		PROMISE(strcmp(back, file) == 0);
		PROMISE(file[0] != '.');
	} else {
		/* Then no valid name has this file name. The only name it
		 * could be is the one with every '%' read as '/'. */
		size_t len = strlen(file);

		if (len >= 1 && len <= SHOAL_SERVICE_NAME_MAX &&
		    !strchr(file, '/')) {
			for (size_t i = 0; i <= len; i++)
				name[i] = file[i] == '%' ? '/' : file[i];
			PROMISE(shoal__name_to_file(name, back) != 0 ||
				strcmp(back, file) != 0);
		}
	}
}

static void parse_one(const uint8_t *data, size_t size)
{
	struct shoal__descriptor d;
	struct shoal_service_info info;
	int r;

	memset(&d, 0xa5, sizeof(d));
	memset(&info, 0xa5, sizeof(info));
	r = shoal__descriptor_parse(data, size, &d, &info);
	if (r == 0) {
		check_valid(data, size, &d, &info);
	} else {
		if (r != -EBADMSG && r != -EPROTO) {
			fprintf(stderr, "descriptor_parse_fuzz: parse = %d\n",
				r);
			abort();
		}
		PROMISE(shoal_last_error()[0] != '\0');
		/* Shorter than magic, version and size: not a descriptor. */
		if (size < 16)
			PROMISE(r == -EBADMSG);
		/* -EPROTO only for our magic with another major version. */
		if (r == -EPROTO) {
			uint64_t magic;
			uint16_t major;

			PROMISE(size >= 16);
			memcpy(&magic, data, sizeof(magic));
			memcpy(&major, data + 8, sizeof(major));
			PROMISE(magic == SHOAL__DESC_MAGIC &&
				major != SHOAL__DESC_VERSION_MAJOR);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Anything much longer than a descriptor is refused for its size
	 * alone; it only slows the fuzzer down. */
	if (size > 4 * SHOAL__DESC_SIZE)
		return 0;
	parse_one(data, size);
	/* A mutated descriptor almost never keeps a valid checksum, which
	 * would hide every later check from the fuzzer: parse each 1024-byte
	 * input a second time with its checksum made right. */
	if (size == SHOAL__DESC_SIZE) {
		struct shoal__descriptor fixed;

		memcpy(&fixed, data, sizeof(fixed));
		fixed.checksum = shoal__descriptor_checksum(&fixed);
		parse_one((const uint8_t *)&fixed, sizeof(fixed));
	}
	fuzz_file_name(data, size);
	return 0;
}
