/* SPDX-License-Identifier: MIT */
/* The lossy batch frame; see frame.h and docs/gateway.md. */
#include "frame.h"

#include <errno.h>
#include <string.h>

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int gw_frame_begin(struct gw_frame_writer *w, void *buf, size_t cap,
		   const char *type)
{
	size_t tl = strlen(type);

	if (tl > 0xffff || cap < GW_FRAME_HEAD + tl)
		return -EMSGSIZE;
	w->buf = buf;
	w->cap = cap;
	memcpy(w->buf, GW_FRAME_MAGIC, 3);
	w->buf[3] = GW_FRAME_VERSION;
	w->buf[4] = 0; /* flags */
	w->buf[5] = 0;
	w->buf[6] = (unsigned char)tl;
	w->buf[7] = (unsigned char)(tl >> 8);
	put32(w->buf + 8, 0);
	memcpy(w->buf + GW_FRAME_HEAD, type, tl);
	w->len = GW_FRAME_HEAD + tl;
	w->count = 0;
	return 0;
}

int gw_frame_add(struct gw_frame_writer *w, uint64_t seq, uint64_t epoch,
		 int64_t ts, const void *uh, uint32_t uh_size, const void *data,
		 uint32_t len)
{
	unsigned char *p = w->buf + w->len;

	if (w->cap - w->len < GW_FRAME_RECORD ||
	    w->cap - w->len - GW_FRAME_RECORD < (size_t)uh_size + len)
		return -EMSGSIZE;
	put32(p, len);
	put32(p + 4, uh_size);
	put64(p + 8, seq);
	put64(p + 16, epoch);
	put64(p + 24, (uint64_t)ts);
	p += GW_FRAME_RECORD;
	if (uh_size) {
		if (uh)
			memcpy(p, uh, uh_size);
		else
			memset(p, 0, uh_size);
	}
	memcpy(p + uh_size, data, len);
	w->len += GW_FRAME_RECORD + uh_size + len;
	w->count++;
	return 0;
}

void gw_frame_drop_last(struct gw_frame_writer *w, size_t len_before)
{
	w->len = len_before;
	w->count--;
}

void gw_frame_end(struct gw_frame_writer *w)
{
	put32(w->buf + 8, w->count);
}

int gw_frame_is(const void *data, size_t len)
{
	return len >= 3 && !memcmp(data, GW_FRAME_MAGIC, 3);
}

int gw_frame_open(struct gw_frame_reader *r, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t tl;

	if (len < GW_FRAME_HEAD || !gw_frame_is(data, len))
		return -EBADMSG;
	if (p[3] != GW_FRAME_VERSION)
		return -EPROTONOSUPPORT;
	if (p[4] || p[5]) /* flags: none defined in version 1 */
		return -EBADMSG;
	tl = (uint32_t)p[6] | (uint32_t)p[7] << 8;
	if (tl > len - GW_FRAME_HEAD)
		return -EBADMSG;
	r->count = get32(p + 8);
	r->type = (const char *)p + GW_FRAME_HEAD;
	r->type_len = tl;
	r->p = p + GW_FRAME_HEAD + tl;
	r->left = len - GW_FRAME_HEAD - tl;
	r->done = 0;
	/* Each record has at least its fixed part: a count that cannot
	 * fit is a lie, found before anything is read. */
	if (r->count > r->left / GW_FRAME_RECORD)
		return -EBADMSG;
	return 0;
}

int gw_frame_next(struct gw_frame_reader *r, struct gw_frame_rec *rec)
{
	uint32_t len, uh;

	if (r->done == r->count)
		return r->left ? -EBADMSG : 0;
	if (r->left < GW_FRAME_RECORD)
		return -EBADMSG;
	len = get32(r->p);
	uh = get32(r->p + 4);
	/* Both compared with what is left on their own first: no sum of
	 * two lying lengths can wrap. */
	if (len > r->left - GW_FRAME_RECORD || uh > r->left - GW_FRAME_RECORD ||
	    (size_t)len + uh > r->left - GW_FRAME_RECORD)
		return -EBADMSG;
	rec->len = len;
	rec->uh_size = uh;
	rec->seq = get64(r->p + 8);
	rec->epoch = get64(r->p + 16);
	rec->ts = (int64_t)get64(r->p + 24);
	rec->uh = r->p + GW_FRAME_RECORD;
	rec->data = r->p + GW_FRAME_RECORD + uh;
	r->p += GW_FRAME_RECORD + (size_t)uh + len;
	r->left -= GW_FRAME_RECORD + (size_t)uh + len;
	r->done++;
	return 1;
}

int gw_frame_check(const void *data, size_t len, uint32_t uh_size)
{
	struct gw_frame_reader r;
	struct gw_frame_rec rec;
	int err = gw_frame_open(&r, data, len);

	if (err)
		return err;
	while ((err = gw_frame_next(&r, &rec)) == 1)
		if (rec.uh_size != uh_size)
			return -EBADMSG;
	return err ? err : (int)r.count;
}
