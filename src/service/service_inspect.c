/* SPDX-License-Identifier: MIT */
/*
 * What every pattern's peer side shares beyond opening (service.h): the
 * pattern's spec, reading the owner's configuration words once by table,
 * and the skeleton of an inspection (open read-only, walk the live lines,
 * release).
 */
#include <errno.h>
#include <string.h>

#include "arch/error.h"
#include "registry/registry_internal.h"
#include "service/service.h"

const char *shoal__kind_name(const struct shoal__pattern *p, uint32_t kind)
{
	for (uint32_t i = 0; p && i < p->nkinds; i++)
		if (p->kinds[i].kind == kind)
			return p->kinds[i].name;
	return shoal__segment_kind_name(kind);
}

struct shoal__peer_spec shoal__peer_spec_of(const struct shoal__pattern *p,
					    const char *who, const char *name,
					    uint32_t oflags,
					    const struct shoal__type *type,
					    int64_t timeout_ns, void *user_data)
{
	return (struct shoal__peer_spec){
		.who = who,
		.name = name,
		.pattern = p->pattern,
		.pattern_name = p->name,
		.oflags = oflags,
		.type = type,
		.timeout_ns = timeout_ns,
		.geometry = p->geometry,
		.user_data = user_data,
		.header = p->header,
		.closed_offset = p->closed_offset,
	};
}

int shoal__peer_fields(const void *hdr, void *geom,
		       const struct shoal__field *f, uint32_t n)
{
	const uint8_t *h = hdr;
	uint8_t *g = geom;
	int bad = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t v;

		if (f[i].size == 8) {
			v = *(const volatile uint64_t *)(h + f[i].hdr);
			memcpy(g + f[i].out, &v, 8);
		} else {
			uint32_t w = *(const volatile uint32_t *)(h + f[i].hdr);

			memcpy(g + f[i].out, &w, 4);
			v = w;
		}
		if (v < f[i].min || v > f[i].max ||
		    ((f[i].flags & SHOAL__FIELD_POW2) && !shoal__is_pow2(v)) ||
		    ((f[i].flags & SHOAL__FIELD_ALIGN8) && v % 8))
			bad = 1;
	}
	return bad ? -1 : 0;
}

void shoal__owner_config(const struct shoal__config *c, void *hdr,
			 const void *geom)
{
	uint8_t *h = hdr;

	*(struct shoal__ident *)hdr =
		(struct shoal__ident){ c->magic, c->version };
	for (uint32_t i = 0; i < c->nfields; i++)
		memcpy(h + c->fields[i].hdr,
		       (const uint8_t *)geom + c->fields[i].out,
		       c->fields[i].size);
}

int shoal__peer_config(struct shoal_segment *seg, const struct shoal__config *c,
		       void *geom)
{
	uint64_t size;
	void *hdr;
	int err = shoal__peer_header(seg, c->who, c->object, c->kind, c->magic,
				     c->version, c->min_size, &hdr, &size);

	if (err)
		return err;
	memcpy((uint8_t *)geom + c->hdr_ptr, &hdr, sizeof(hdr));
	/* Each word once; the owner may be hostile. */
	err = shoal__peer_fields(hdr, geom, c->fields, c->nfields);
	return c->check(geom, size, err != 0);
}

void shoal__info_fields(void *info, const void *geom,
			const struct shoal__field *f, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (f[i].info != SHOAL__FIELD_NO_INFO)
			memcpy((uint8_t *)info + f[i].info,
			       (const uint8_t *)geom + f[i].out, f[i].size);
}

void shoal__load_counters(void *dst, const void *src,
			  const struct shoal__counter *c, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		const _Atomic uint64_t *from =
			(const _Atomic uint64_t *)((const uint8_t *)src +
						   c[i].from);
		uint64_t v = atomic_load_explicit(from, memory_order_relaxed);

		memcpy((uint8_t *)dst + c[i].to, &v, sizeof(v));
	}
}

int shoal__inspect_open(struct shoal__inspect *in, struct shoal_registry *reg,
			const struct shoal__pattern *p, const char *who,
			const char *name, const void *info, void *geom)
{
	struct shoal__peer_spec spec;
	int err;

	*in = (struct shoal__inspect){ 0 };
	if (!name || !info)
		return shoal__fail(-EINVAL, "%s: NULL argument", who);
	if (shoal__name_check(who, name))
		return -EINVAL;
	/* Read-only, no wait; a service being withdrawn is still shown. */
	spec = shoal__peer_spec_of(p, who, name, SHOAL_OPEN_READ_ONLY, NULL, 0,
				   geom);
	spec.header = NULL;
	err = shoal__registry_use(reg, &in->reg, &in->own_reg);
	if (!err)
		err = shoal__peer_open(in->reg, &spec, &in->svc);
	return err;
}

int shoal__inspect_close(struct shoal__inspect *in, int ret)
{
	shoal_segment_close(in->lines_seg);
	shoal_service_close(in->svc);
	if (in->own_reg)
		shoal_registry_destroy(in->reg);
	return ret;
}

uint32_t shoal__inspect_lines(const struct shoal__inspect *in,
			      const struct shoal__lines_view *v,
			      const struct shoal__line_info *li, void *ctx,
			      void *out, uint32_t cap)
{
	int fd = shoal_segment_fd(in->lines_seg);
	uint32_t live = 0;

	for (uint32_t i = 0; i < v->count; i++) {
		const uint8_t *l = (const uint8_t *)v->base + i * v->stride;
		const _Atomic uint32_t *state =
			(const _Atomic uint32_t *)(l + li->state);
		uint8_t *o;
		int32_t pid;

		/* Acquire: pairs with the participant's release store of
		 * its ACTIVE state, so what it wrote before is seen. */
		if (atomic_load_explicit(state, memory_order_acquire) !=
			    li->active ||
		    !shoal__line_locked(fd, i))
			continue;
		if (out && live < cap) {
			o = (uint8_t *)out + live * li->out_size;
			memset(o, 0, li->out_size);
			memcpy(o + li->out_index, &i, sizeof(i));
			pid = *(const volatile int32_t *)(l + li->pid);
			memcpy(o + li->out_pid, &pid, sizeof(pid));
			shoal__load_counters(o, l, li->counters, li->ncounters);
			if (li->fill)
				li->fill(o, l, i, ctx);
		}
		live++;
	}
	return live;
}
