/* SPDX-License-Identifier: MIT */
/*
 * The lossy batch frame: several shoal messages in one core NATS message
 * (docs/gateway.md, "The lossy batch frame", has it byte by byte). Plain C,
 * no libnats, so that a test can feed the reader anything.
 *
 * The far gateway is untrusted: gw_frame_next() checks every length
 * against what is left of the frame before it reads.
 */
#ifndef SHOAL_GW_FRAME_H
#define SHOAL_GW_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define GW_FRAME_MAGIC "SHB"
#define GW_FRAME_VERSION 1
#define GW_FRAME_HEAD 12   /* magic, version, flags, type length, count */
#define GW_FRAME_RECORD 32 /* len, user header size, seq, epoch, ts */

/* Writing: a frame in a buffer of the caller's. */
struct gw_frame_writer {
	unsigned char *buf;
	size_t cap, len;
	uint32_t count;
};

/* Starts a frame of type @type (Shoal-Type's value) in @buf[0..@cap);
 * 0, or -EMSGSIZE. */
int gw_frame_begin(struct gw_frame_writer *w, void *buf, size_t cap,
		   const char *type);
/* Appends a record; 0, or -EMSGSIZE when it does not fit (the frame is
 * unchanged). gw_frame_drop_last() takes the last one back. */
int gw_frame_add(struct gw_frame_writer *w, uint64_t seq, uint64_t epoch,
		 int64_t ts, const void *uh, uint32_t uh_size, const void *data,
		 uint32_t len);
void gw_frame_drop_last(struct gw_frame_writer *w, size_t len_before);
/* Stores the count; the frame is w->buf[0..w->len). */
void gw_frame_end(struct gw_frame_writer *w);

/* Reading. */
struct gw_frame_reader {
	const unsigned char *p;
	size_t left;
	uint32_t count, done;
	const char *type; /* not NUL-terminated: type_len bytes */
	uint32_t type_len;
};

struct gw_frame_rec {
	uint64_t seq, epoch;
	int64_t ts;
	const void *uh;
	uint32_t uh_size;
	const void *data;
	uint32_t len;
};

/* 1 if @data looks like a frame (magic), 0 if not. */
int gw_frame_is(const void *data, size_t len);
/* Opens and checks the frame's head; 0, -EBADMSG (malformed) or
 * -EPROTONOSUPPORT (another version). */
int gw_frame_open(struct gw_frame_reader *r, const void *data, size_t len);
/* The next record: 1 (in @rec), 0 at the end (every byte used), or
 * -EBADMSG (a length that lies, or bytes left over). */
int gw_frame_next(struct gw_frame_reader *r, struct gw_frame_rec *rec);
/* The whole frame well formed, every record with @uh_size bytes of user
 * header: the record count, or -EBADMSG / -EPROTONOSUPPORT. */
int gw_frame_check(const void *data, size_t len, uint32_t uh_size);

#endif
