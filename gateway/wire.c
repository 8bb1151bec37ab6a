/* SPDX-License-Identifier: MIT */
/*
 * What goes on the wire: subjects, the shoal headers of each message and
 * the JSON descriptor a gateway announces (docs/gateway.md).
 *
 * A service name becomes subject tokens: '/' separates tokens, letters,
 * digits, '-' and '_' stay, every other byte (and a '/' that would leave an
 * empty token) is written "~XX" in hex. So "camera/left" is
 * "<prefix>.p.camera.left" and "a.b" is "<prefix>.p.a~2Eb": distinct names
 * give distinct subjects and none holds a NATS wildcard.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"

static int keep(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_';
}

int gw_subject(const struct gw *gw, char *out, size_t cap, const char *kind,
	       const char *name)
{
	size_t n, len = strlen(name);
	int w = snprintf(out, cap, "%s.%s.", gw->cfg.prefix, kind);

	if (w < 0 || (size_t)w >= cap)
		return -ENAMETOOLONG;
	n = (size_t)w;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (n + 4 >= cap)
			return -ENAMETOOLONG;
		if (keep(c)) {
			out[n++] = (char)c;
		} else if (c == '/' && i > 0 && i + 1 < len &&
			   name[i + 1] != '/' && out[n - 1] != '.') {
			out[n++] = '.';
		} else {
			snprintf(out + n, 4, "~%02X", c);
			n += 3;
		}
	}
	out[n] = '\0';
	return 0;
}

/* --- JSON: the descriptor is a flat object of strings and numbers. */

static int put_str(char *out, size_t cap, size_t *n, const char *key,
		   const char *s)
{
	int w = snprintf(out + *n, cap - *n, "%s\"%s\":\"", *n > 1 ? "," : "",
			 key);

	if (w < 0 || (size_t)w >= cap - *n)
		return -ENOSPC;
	*n += (size_t)w;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (*n + 7 >= cap)
			return -ENOSPC;
		if (c < 0x20 || c == '"' || c == '\\' || c >= 0x7f)
			*n += (size_t)snprintf(out + *n, 7, "\\u%04x", c);
		else
			out[(*n)++] = (char)c;
	}
	if (*n + 2 >= cap)
		return -ENOSPC;
	out[(*n)++] = '"';
	out[*n] = '\0';
	return 0;
}

static int put_num(char *out, size_t cap, size_t *n, const char *key,
		   uint64_t v)
{
	int w = snprintf(out + *n, cap - *n, "%s\"%s\":%" PRIu64,
			 *n > 1 ? "," : "", key, v);

	if (w < 0 || (size_t)w >= cap - *n)
		return -ENOSPC;
	*n += (size_t)w;
	return 0;
}

int gw_desc_to_json(const struct gw_desc *d, char *out, size_t cap)
{
	size_t n = 1;
	int err = 0;

	if (cap < 3)
		return -ENOSPC;
	out[0] = '{';
	out[1] = '\0';
	err |= put_num(out, cap, &n, "v", 1);
	err |= put_str(out, cap, &n, "gw", d->gw);
	err |= put_str(out, cap, &n, "host", d->host);
	err |= put_str(out, cap, &n, "name", d->name);
	err |= put_num(out, cap, &n, "pattern", d->pattern);
	err |= put_str(out, cap, &n, "type", d->type_name);
	err |= put_num(out, cap, &n, "type_size", d->type_size);
	err |= put_num(out, cap, &n, "type_align", d->type_align);
	err |= put_str(out, cap, &n, "delivery",
		       d->reliable ? "reliable" : "lossy");
	err |= put_num(out, cap, &n, "capacity", d->capacity);
	err |= put_num(out, cap, &n, "max_payload", d->max_payload);
	err |= put_num(out, cap, &n, "user_header_size", d->user_header_size);
	err |= put_num(out, cap, &n, "max_response", d->max_response);
	err |= put_num(out, cap, &n, "epoch", d->epoch);
	if (err || n + 2 > cap)
		return -ENOSPC;
	out[n++] = '}';
	out[n] = '\0';
	return (int)n;
}

struct jp {
	const char *s, *end;
};

static void jp_ws(struct jp *p)
{
	while (p->s < p->end && strchr(" \t\r\n", *p->s))
		p->s++;
}

/* A string into @out (@cap bytes, NUL-terminated); 0 or -EBADMSG. */
static int jp_string(struct jp *p, char *out, size_t cap)
{
	size_t n = 0;

	if (p->s >= p->end || *p->s != '"')
		return -EBADMSG;
	for (p->s++; p->s < p->end && *p->s != '"'; p->s++) {
		unsigned c = (unsigned char)*p->s;

		if (c == '\\') {
			if (++p->s >= p->end)
				return -EBADMSG;
			c = (unsigned char)*p->s;
			if (c == 'u') {
				char hex[5] = { 0 };

				if (p->end - p->s < 5)
					return -EBADMSG;
				memcpy(hex, p->s + 1, 4);
				c = (unsigned)strtoul(hex, NULL, 16);
				if (c == 0 || c > 0xff)
					return -EBADMSG;
				p->s += 4;
			} else if (c == 'n') {
				c = '\n';
			} else if (c == 't') {
				c = '\t';
			} else if (!strchr("\"\\/", (int)c)) {
				return -EBADMSG;
			}
		}
		if (n + 1 >= cap)
			return -EBADMSG;
		out[n++] = (char)c;
	}
	if (p->s >= p->end)
		return -EBADMSG;
	p->s++;
	out[n] = '\0';
	return 0;
}

int gw_desc_from_json(const char *json, int len, struct gw_desc *d)
{
	struct jp p = { json, json + len };
	char delivery[16] = "";

	memset(d, 0, sizeof(*d));
	jp_ws(&p);
	if (p.s >= p.end || *p.s++ != '{')
		return -EBADMSG;
	for (;;) {
		char key[32], sval[SHOAL_SERVICE_NAME_MAX + 1];
		uint64_t num = 0;
		int is_num = 0;

		jp_ws(&p);
		if (p.s < p.end && *p.s == '}')
			break;
		if (jp_string(&p, key, sizeof(key)))
			return -EBADMSG;
		jp_ws(&p);
		if (p.s >= p.end || *p.s++ != ':')
			return -EBADMSG;
		jp_ws(&p);
		if (p.s < p.end && *p.s == '"') {
			if (jp_string(&p, sval, sizeof(sval)))
				return -EBADMSG;
		} else {
			char num_buf[24];
			size_t k = 0;

			while (p.s < p.end && isdigit((unsigned char)*p.s) &&
			       k + 1 < sizeof(num_buf))
				num_buf[k++] = *p.s++;
			if (!k)
				return -EBADMSG;
			num_buf[k] = '\0';
			num = strtoull(num_buf, NULL, 10);
			is_num = 1;
		}
#define STR(k, f)                              \
	else if (!strcmp(key, k) && !is_num)   \
	{                                      \
		if (strlen(sval) >= sizeof(f)) \
			return -EBADMSG;       \
		strcpy(f, sval);               \
	}
#define NUM(k, f)                                      \
	else if (!strcmp(key, k) && is_num)            \
	{                                              \
		if (num > UINT32_MAX && sizeof(f) < 8) \
			return -EBADMSG;               \
		f = num;                               \
	}
		if (0) {
		}
		STR("gw", d->gw)
		STR("host", d->host)
		STR("name", d->name)
		STR("type", d->type_name)
		STR("delivery", delivery)
		NUM("pattern", d->pattern)
		NUM("type_size", d->type_size)
		NUM("type_align", d->type_align)
		NUM("capacity", d->capacity)
		NUM("max_payload", d->max_payload)
		NUM("user_header_size", d->user_header_size)
		NUM("max_response", d->max_response)
		NUM("epoch", d->epoch)
#undef STR
#undef NUM
		jp_ws(&p);
		if (p.s < p.end && *p.s == ',') {
			p.s++;
			continue;
		}
		if (p.s < p.end && *p.s == '}')
			break;
		return -EBADMSG;
	}
	if (!d->gw[0] || !d->name[0] || !d->pattern)
		return -EBADMSG;
	d->reliable = !strcmp(delivery, "reliable");
	return 0;
}

/* --- headers */

void gw_type_string(struct gw_desc *d)
{
	snprintf(d->type_str, sizeof(d->type_str), "%s;%u;%u", d->type_name,
		 d->type_size, d->type_align);
}

/*
 * Two headers (three with a user header): every header is a hash map entry
 * that libnats allocates and frees at both ends, which was most of the
 * gateway's cost per message (perf, bench/README.md), so the per-message
 * numbers share one. @d->type_str was made once by gw_type_string().
 */
int gw_headers_set(natsMsg *m, const struct gw_desc *d,
		   const struct shoal_msg *sm)
{
	char msg[72];
	natsStatus s;

	snprintf(msg, sizeof(msg), "%" PRIu64 " %" PRIu64 " %" PRId64, sm->seq,
		 sm->epoch, sm->timestamp_ns);
	s = natsMsgHeader_Set(m, "Shoal-Msg", msg);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(m, "Shoal-Type", d->type_str);
	if (s == NATS_OK && sm->user_header && sm->user_header_size) {
		static const char hex[] = "0123456789abcdef";
		char buf[2 * SHOAL_PUB_USER_HEADER_MAX + 1];
		const unsigned char *u = sm->user_header;
		uint32_t n = sm->user_header_size;

		if (n > SHOAL_PUB_USER_HEADER_MAX)
			return -EMSGSIZE;
		for (uint32_t i = 0; i < n; i++) {
			buf[2 * i] = hex[u[i] >> 4];
			buf[2 * i + 1] = hex[u[i] & 15];
		}
		buf[2 * n] = '\0';
		s = natsMsgHeader_Set(m, "Shoal-User", buf);
	}
	return s == NATS_OK ? 0 : -ENOMEM;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int gw_headers_get(natsMsg *m, uint64_t *seq, uint64_t *epoch, int64_t *ts,
		   const char **type, void *user_header, uint32_t uh_size)
{
	const char *v;
	char *end;

	if (natsMsgHeader_Get(m, "Shoal-Msg", &v) != NATS_OK)
		return -EBADMSG;
	*seq = strtoull(v, &end, 10);
	*epoch = strtoull(end, &end, 10);
	*ts = strtoll(end, &end, 10);
	if (natsMsgHeader_Get(m, "Shoal-Type", type) != NATS_OK)
		return -EBADMSG;
	if (uh_size) {
		unsigned char *u = user_header;

		memset(u, 0, uh_size);
		if (natsMsgHeader_Get(m, "Shoal-User", &v) == NATS_OK) {
			if (strlen(v) != 2 * (size_t)uh_size)
				return -EBADMSG;
			for (uint32_t i = 0; i < uh_size; i++) {
				int hi = hexval(v[2 * i]),
				    lo = hexval(v[2 * i + 1]);

				if (hi < 0 || lo < 0)
					return -EBADMSG;
				u[i] = (unsigned char)(hi << 4 | lo);
			}
		}
	}
	return 0;
}

/*
 * What every connection of the gateway shares: the server, the gateway's
 * id as the client name, credentials and TLS. The caller adds what its
 * connection needs (reconnection, buffering) and destroys @out.
 */
natsStatus gw_nats_options(const struct gw *gw, natsOptions **out)
{
	natsOptions *o = NULL;
	natsStatus s = natsOptions_Create(&o);

	if (s == NATS_OK)
		s = natsOptions_SetURL(o, gw->cfg.server);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, gw->id);
	if (s == NATS_OK && gw->cfg.creds)
		s = natsOptions_SetUserCredentialsFromFiles(o, gw->cfg.creds,
							    NULL);
	if (s == NATS_OK && gw->cfg.tls_ca) {
		s = natsOptions_SetSecure(o, true);
		if (s == NATS_OK)
			s = natsOptions_LoadCATrustedCertificates(
				o, gw->cfg.tls_ca);
	}
	if (s == NATS_OK && gw->cfg.tls_cert) {
		s = natsOptions_SetSecure(o, true);
		if (s == NATS_OK)
			s = natsOptions_LoadCertificatesChain(
				o, gw->cfg.tls_cert, gw->cfg.tls_key);
	}
	if (s != NATS_OK) {
		natsOptions_Destroy(o);
		return s;
	}
	*out = o;
	return NATS_OK;
}
