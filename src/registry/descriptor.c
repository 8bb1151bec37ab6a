/* SPDX-License-Identifier: MIT */
/*
 * The registry descriptor codec. The bytes are described field by field in
 * docs/registry-format.md and defined in src/segment/layout.h.
 *
 * Parsing treats the file as hostile: it checks the length before copying,
 * copies once, verifies magic, version, size and checksum, then bounds every
 * field (strings NUL-terminated and printable, counts and fd numbers in
 * range, sizes sane) before anything else looks at it. The checksum catches
 * accidents, not attackers: authority comes from the directory's
 * permissions, the file's owner, and the checks made on the fds themselves.
 */
#include <errno.h>
#include <string.h>

#include "arch/error.h"
#include "registry/registry_internal.h"

_Static_assert(SHOAL__DESC_ORIGIN_BYTES == SHOAL_ORIGIN_MAX + 1,
	       "the descriptor's origin holds SHOAL_ORIGIN_MAX bytes");

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/*
 * FNV-1a over the descriptor's 128 64-bit words (host order), the checksum
 * word taken as 0. Word by word rather than byte by byte: each step waits
 * on a multiply, and 128 steps instead of 1024 took `list` of 10,000
 * services from about 60 ms to about 45 ms here.
 */
uint64_t shoal__descriptor_checksum(const struct shoal__descriptor *d)
{
	const size_t skip = offsetof(struct shoal__descriptor, checksum) / 8;
	uint64_t h = FNV_OFFSET;

	for (size_t i = 0; i < sizeof(*d) / 8; i++) {
		uint64_t w;

		memcpy(&w, (const unsigned char *)d + i * 8, 8);
		if (i == skip)
			w = 0;
		h = (h ^ w) * FNV_PRIME;
	}
	return h;
}

void shoal__descriptor_seal(struct shoal__descriptor *d)
{
	d->magic = SHOAL__DESC_MAGIC;
	d->version_major = SHOAL__DESC_VERSION_MAJOR;
	d->version_minor = SHOAL__DESC_VERSION_MINOR;
	d->size = SHOAL__DESC_SIZE;
	d->checksum = shoal__descriptor_checksum(d);
}

uint32_t shoal__descriptor_extra_fd_count(const struct shoal__descriptor *d)
{
	/* Minor 0 had no such field: its bytes were reserved. */
	return d->version_minor >= 1 ? d->extra_fd_count : 0;
}

void shoal__descriptor_owner_ns(const struct shoal__descriptor *d,
				struct shoal__ns *ns)
{
	memset(ns, 0, sizeof(*ns));
	/* Minors 0 and 1 had no such fields: their bytes were reserved. */
	if (d->version_minor < 2)
		return;
	ns->pid_dev = d->owner_pidns_dev;
	ns->pid_ino = d->owner_pidns_ino;
	ns->user_dev = d->owner_userns_dev;
	ns->user_ino = d->owner_userns_ino;
}

const char *shoal__descriptor_origin(const struct shoal__descriptor *d)
{
	/* Minors 0 to 2 had no such field: its bytes were reserved. */
	return d->version_minor >= 3 ? d->origin : "";
}

/* A NUL-terminated, printable string within @cap bytes; its length or -1. */
static int text_ok(const char *s, size_t cap, int allow_empty)
{
	size_t len = strnlen(s, cap);

	if (len == cap || (!allow_empty && len == 0))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return -1;
	}
	return (int)len;
}

int shoal__origin_check(const char *who, const char *origin)
{
	size_t len;

	if (!origin)
		return 0;
	len = strnlen(origin, SHOAL_ORIGIN_MAX + 1);
	if (len > SHOAL_ORIGIN_MAX)
		return shoal__fail(-EINVAL, "%s: origin over %d bytes", who,
				   SHOAL_ORIGIN_MAX);
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)origin[i] < 0x20 ||
		    (unsigned char)origin[i] > 0x7e)
			return shoal__fail(-EINVAL,
					   "%s: origin is not printable ASCII "
					   "(byte %zu is 0x%02x)",
					   who, i, (unsigned char)origin[i]);
	}
	return 0;
}

static int bad(const char *what)
{
	return shoal__fail(-EBADMSG, "descriptor: %s", what);
}

int shoal__descriptor_parse(const void *buf, size_t len,
			    struct shoal__descriptor *d,
			    struct shoal_service_info *info)
{
	char file[SHOAL_SERVICE_NAME_MAX + 1];
	uint32_t extra;

	if (len < 16)
		return bad("shorter than its header");
	memcpy(d, buf, len < sizeof(*d) ? len : sizeof(*d));
	if (d->magic != SHOAL__DESC_MAGIC)
		return bad("bad magic");
	if (d->version_major != SHOAL__DESC_VERSION_MAJOR)
		return shoal__fail(-EPROTO,
				   "descriptor: version %u.%u, this library "
				   "reads %d.x",
				   d->version_major, d->version_minor,
				   SHOAL__DESC_VERSION_MAJOR);
	if (d->size != SHOAL__DESC_SIZE || len != SHOAL__DESC_SIZE)
		return bad("wrong size");
	if (d->checksum != shoal__descriptor_checksum(d))
		return bad("checksum mismatch");
	if (d->epoch == 0 || d->owner_pid <= 0 || d->owner_start == 0)
		return bad("bad owner identity or epoch");
	if (d->access > SHOAL_ACCESS_ANYONE || d->pattern == 0)
		return bad("bad access mode or pattern");
	if (d->flags & ~(uint32_t)SHOAL__DESC_FLAG_FD_SERVER)
		return bad("unknown flags");
	if (d->memfd < 0 || d->eventfd_count > SHOAL__DESC_EVENTFDS)
		return bad("bad fd numbers");
	for (uint32_t i = 0; i < d->eventfd_count; i++) {
		if (d->eventfds[i] < 0)
			return bad("bad eventfd number");
	}
	if (d->memfd_size < sizeof(struct shoal__seg_header) ||
	    d->memfd_size > SHOAL_SEGMENT_SIZE_MAX)
		return bad("bad segment size");
	if (d->type_align & (d->type_align - 1))
		return bad("type alignment not a power of two");
	if (text_ok(d->type_name, sizeof(d->type_name), 1) < 0 ||
	    text_ok(d->socket_name, sizeof(d->socket_name), 1) < 0 ||
	    text_ok(d->name, sizeof(d->name), 0) < 0)
		return bad("unterminated or unprintable text field");
	if (d->version_minor >= 3 &&
	    text_ok(d->origin, sizeof(d->origin), 1) < 0)
		return bad("unterminated or unprintable origin");
	if (!!(d->flags & SHOAL__DESC_FLAG_FD_SERVER) != !!d->socket_name[0])
		return bad("fd server flag and socket name disagree");
	if (shoal__name_to_file(d->name, file))
		return bad("invalid service name");
	extra = shoal__descriptor_extra_fd_count(d);
	if (extra > SHOAL_SERVICE_EXTRA_FDS_MAX)
		return bad("too many extra fds");

	if (info) {
		memset(info, 0, sizeof(*info));
		memcpy(info->name, d->name, strlen(d->name) + 1);
		memcpy(info->type_name, d->type_name, strlen(d->type_name) + 1);
		info->pattern = d->pattern;
		info->access = d->access;
		info->pid = d->owner_pid;
		info->uid = d->owner_uid;
		info->epoch = d->epoch;
		info->memfd_size = d->memfd_size;
		info->eventfd_count = d->eventfd_count;
		info->type_size = d->type_size;
		info->type_align = d->type_align;
		info->extra_fd_count = extra;
		info->created_ns = d->created_ns;
		memcpy(info->origin, shoal__descriptor_origin(d),
		       strlen(shoal__descriptor_origin(d)) + 1);
	}
	return 0;
}
