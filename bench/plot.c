/* SPDX-License-Identifier: MIT */
/*
 * The comparison as an SVG picture: two panels side by side, polled round
 * trips on the left and blocking ones on the right, each with p50 round trip
 * (log10, decade grid) against message size (log2, a tick per size measured).
 * One line per system, in the same colour and marker in both panels, so a
 * reader can follow one system from busy-polling to sleeping in the kernel.
 *
 * Both panels share one y range: the point of the picture is how far apart
 * the systems and the two ways of waiting are, which separate ranges would
 * hide. Sizes are the union over both panels, for the same reason.
 *
 * A figure that failed or was skipped breaks its system's line at its size
 * rather than drawing to zero or bridging the gap: a line through a size
 * claims a measurement there. A size a system has no figure for at all is
 * simply not on its line.
 *
 * Text from the report (names, CPU model, date) is escaped, and bytes that
 * are not well-formed UTF-8 or not allowed in XML become '?', so a strange
 * /proc/cpuinfo cannot make the file unreadable.
 */
#define _GNU_SOURCE
#include "plot.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PLOT_W 1100.0
#define PLOT_LEFT 80.0 /* room for the y labels and the axis title */
#define PLOT_GAP 85.0  /* between the panels: the right panel's y labels */
#define PLOT_RIGHT 25.0
#define PLOT_TOP 88.0	 /* title, caption and panel titles above */
#define PLOT_H 300.0	 /* height of a plot area */
#define PLOT_LEGEND 50.0 /* from the plot areas' bottom to the legend */
#define PLOT_ROW 22.0	 /* one legend row */

/* The system the picture is about: drawn thicker and on top. */
#define PLOT_SHOAL "pubsub"

enum {
	PANEL_POLL,
	PANEL_BLOCK,
	PANELS
};

static const char *const panel_group[PANELS] = { "rtt-poll-", "rtt-block-" };
static const char *const panel_title[PANELS] = {
	"Polled (both sides busy-poll)",
	"Blocking (both sides sleep in the kernel)",
};

/*
 * matplotlib's "tab10": ten colours people tell apart on screen and in
 * print. Past ten, systems reuse a colour but the marker cycles through
 * four shapes, so colour and shape together stay distinct up to twenty.
 */
static const char *const palette[] = {
	"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
};
#define PALETTE_N (sizeof(palette) / sizeof(palette[0]))
#define SHAPES 4

struct plot_point {
	int panel;
	size_t sys; /* index into plot.sys */
	uint32_t size;
	double p50_ns; /* <= 0: failed or skipped, the line breaks here */
};

struct plot {
	struct plot_point *pts;
	size_t npts;
	const char **sys; /* system names, in order of first appearance */
	size_t nsys;
	uint32_t *sizes; /* distinct measured sizes, ascending */
	size_t nsizes;
	int has[PANELS]; /* panel has at least one measured point */
	double lx0, lx1; /* log2(size) at the left and right edges */
	int ly0, ly1;	 /* decades (log10 ns) at the bottom and top */
};

/*
 * "8", "1k", "64k", "1m" (k and m are binary: KiB, MiB), the whole of
 * [s, s + n). 0 or -EINVAL.
 */
static int size_parse(const char *s, size_t n, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n && isdigit((unsigned char)s[i]); i++) {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	if (i == 0)
		return -EINVAL;
	if (i < n && (s[i] == 'k' || s[i] == 'K')) {
		v *= 1024;
		i++;
	} else if (i < n && (s[i] == 'm' || s[i] == 'M')) {
		v *= 1024 * 1024;
		i++;
	}
	if (i != n || v == 0 || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/*
 * Whether @f belongs in the picture: its panel, its system (the name after
 * '/', pointing into f->name) and its size. 0 or -EINVAL.
 */
static int plot_classify(const struct bench_figure *f, int *panel,
			 const char **sys, uint32_t *size)
{
	const char *slash, *rest;
	size_t len;
	int p;

	if (!f || f->kind != BENCH_LATENCY || !f->name)
		return -EINVAL;
	slash = strchr(f->name, '/');
	if (!slash || !slash[1])
		return -EINVAL;
	for (p = 0; p < PANELS; p++) {
		len = strlen(panel_group[p]);
		if (!strncmp(f->name, panel_group[p], len))
			break;
	}
	if (p == PANELS)
		return -EINVAL;
	rest = f->name + len;
	if (rest > slash || size_parse(rest, (size_t)(slash - rest), size))
		return -EINVAL;
	/* The figure says what it sends; the name only says which group. */
	if (f->size)
		*size = f->size;
	*panel = p;
	*sys = slash + 1;
	return 0;
}

static long sys_find(const struct plot *pl, const char *name)
{
	size_t i;

	for (i = 0; i < pl->nsys; i++)
		if (!strcmp(pl->sys[i], name))
			return (long)i;
	return -1;
}

static int cmp_point(const void *a, const void *b)
{
	const struct plot_point *x = a, *y = b;

	if (x->panel != y->panel)
		return x->panel < y->panel ? -1 : 1;
	if (x->sys != y->sys)
		return x->sys < y->sys ? -1 : 1;
	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	/* The same size twice (two spellings of a group): failed first. */
	return (x->p50_ns > y->p50_ns) - (x->p50_ns < y->p50_ns);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * Gather the points. Measured figures first, so systems (and so colours)
 * are numbered only for what is drawn; then failed ones, which only matter
 * as gaps in a line that exists.
 */
static int plot_collect(struct plot *pl, const struct bench_report *r)
{
	double lo = INFINITY, hi = 0;
	const char *sys;
	uint32_t size;
	size_t i, j;
	int panel, pass, ok;
	long s;

	pl->pts = calloc(r->count + 1, sizeof(*pl->pts));
	pl->sys = calloc(r->count + 1, sizeof(*pl->sys));
	pl->sizes = calloc(r->count + 1, sizeof(*pl->sizes));
	if (!pl->pts || !pl->sys || !pl->sizes)
		return -ENOMEM;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < r->count; i++) {
			const struct bench_result *res = &r->res[i];

			if (plot_classify(r->figs[i], &panel, &sys, &size))
				continue;
			ok = res->status == 0 && isfinite(res->p50_ns) &&
			     res->p50_ns > 0;
			if (ok != !pass)
				continue;
			s = sys_find(pl, sys);
			if (s < 0 && !ok)
				continue;
			if (s < 0) {
				s = (long)pl->nsys;
				pl->sys[pl->nsys++] = sys;
			}
			pl->pts[pl->npts++] = (struct plot_point){
				.panel = panel,
				.sys = (size_t)s,
				.size = size,
				.p50_ns = ok ? res->p50_ns : -1,
			};
			if (!ok)
				continue;
			pl->has[panel] = 1;
			lo = fmin(lo, res->p50_ns);
			hi = fmax(hi, res->p50_ns);
			for (j = 0; j < pl->nsizes && pl->sizes[j] != size; j++)
				;
			if (j == pl->nsizes)
				pl->sizes[pl->nsizes++] = size;
		}
	}
	qsort(pl->pts, pl->npts, sizeof(*pl->pts), cmp_point);
	qsort(pl->sizes, pl->nsizes, sizeof(*pl->sizes), cmp_u32);

	if (!pl->nsizes) {
		/* Nothing measured: empty axes over the usual range. */
		pl->lx0 = 2;
		pl->lx1 = 21;
		pl->ly0 = 2;
		pl->ly1 = 6;
		return 0;
	}
	/* A factor of two of margin, so the end markers clear the frame. */
	pl->lx0 = log2(pl->sizes[0]) - 1;
	pl->lx1 = log2(pl->sizes[pl->nsizes - 1]) + 1;
	pl->ly0 = (int)floor(log10(lo));
	pl->ly1 = (int)ceil(log10(hi));
	if (pl->ly1 <= pl->ly0)
		pl->ly1 = pl->ly0 + 1;
	return 0;
}

static double px_x(const struct plot *pl, double x0, double w, uint32_t size)
{
	return x0 + (log2(size) - pl->lx0) / (pl->lx1 - pl->lx0) * w;
}

static double px_y(const struct plot *pl, double ns)
{
	double f = (log10(ns) - pl->ly0) / (double)(pl->ly1 - pl->ly0);

	return PLOT_TOP + PLOT_H - f * PLOT_H;
}

/*
 * Bytes 0x80.. only as well-formed UTF-8 (no overlongs, surrogates or
 * values past U+10FFFF): the length of the sequence at @s, or 0.
 */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* @s as XML character data or attribute value; NULL as "?". */
static void xml_text(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "?");
	size_t n;

	while (*p) {
		switch (*p) {
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '&':
			fputs("&amp;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&apos;", out);
			break;
		default:
			if (*p >= 0x20 && *p < 0x7f) {
				fputc(*p, out);
			} else if (*p >= 0x80 && (n = utf8_len(p))) {
				fwrite(p, 1, n, out);
				p += n;
				continue;
			} else {
				/* Control characters are not allowed in XML 1.0. */
				fputc('?', out);
			}
		}
		p++;
	}
}

static void fmt_size(char *buf, size_t n, uint32_t size)
{
	if (size >= 1048576 && size % 1048576 == 0)
		snprintf(buf, n, "%u MiB", size / 1048576);
	else if (size >= 1024 && size % 1024 == 0)
		snprintf(buf, n, "%u KiB", size / 1024);
	else
		snprintf(buf, n, "%u B", size);
}

/* A time in the largest unit that keeps it >= 1: "100 ns", "1.5 us". */
static void fmt_ns(char *buf, size_t n, double ns, int digits)
{
	static const char *const unit[] = { "ns", "us", "ms", "s" };
	unsigned int u = 0;

	while (ns >= 1000 && u < 3) {
		ns /= 1000;
		u++;
	}
	snprintf(buf, n, "%.*g %s", digits, ns, unit[u]);
}

/*
 * The opening of a marker element, left open so the caller can add a child
 * or close it; returns the element's name.
 */
static const char *marker(FILE *out, size_t sys, double x, double y, double r)
{
	const char *c = palette[sys % PALETTE_N], *tag = "path";

	switch (sys / PALETTE_N % SHAPES) {
	case 0:
		tag = "circle";
		fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"", x, y,
			r);
		break;
	case 1:
		tag = "rect";
		fprintf(out,
			"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"",
			x - r, y - r, 2 * r, 2 * r);
		break;
	case 2:
		r *= 1.25; /* a triangle looks smaller than a square */
		fprintf(out, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fZ\"", x,
			y - r, x + r, y + 0.8 * r, x - r, y + 0.8 * r);
		break;
	default:
		r *= 1.3;
		fprintf(out,
			"<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ\"",
			x, y - r, x + r, y, x, y + r, x - r, y);
		break;
	}
	fprintf(out, " fill=\"%s\" stroke=\"#fff\" stroke-width=\"1\"", c);
	return tag;
}

static int is_shoal(const struct plot *pl, size_t sys)
{
	return !strcmp(pl->sys[sys], PLOT_SHOAL);
}

/* Frame, decade grid, size ticks and labels of one panel. */
static void draw_axes(FILE *out, const struct plot *pl, int panel, double x0,
		      double w)
{
	double y, bottom = PLOT_TOP + PLOT_H, last = -1e9;
	/* With few decades, 2x and 5x labels help reading between lines. */
	int minor_labels = pl->ly1 - pl->ly0 <= 2;
	char buf[32];
	size_t i;
	int d, m;

	fprintf(out, "<g class=\"axes\">\n");
	fprintf(out,
		"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fafafa\" stroke=\"none\"/>\n",
		x0, PLOT_TOP, w, PLOT_H);
	for (d = pl->ly0; d <= pl->ly1; d++) {
		for (m = 1; m <= 9 && (m == 1 || d < pl->ly1); m++) {
			y = px_y(pl, m * pow(10, d));
			fprintf(out,
				"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1\"/>\n",
				x0, y, x0 + w, y,
				m == 1 ? "#c8c8c8" : "#ececec");
			if (m != 1 && !(minor_labels && (m == 2 || m == 5)))
				continue;
			fmt_ns(buf, sizeof(buf), m * pow(10, d), 3);
			fprintf(out,
				"<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"end\" fill=\"%s\">%s</text>\n",
				x0 - 6, y + 4, m == 1 ? 12 : 10,
				m == 1 ? "#333" : "#888", buf);
		}
	}
	for (i = 0; i < pl->nsizes; i++) {
		double x = px_x(pl, x0, w, pl->sizes[i]);

		fprintf(out,
			"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\" stroke-width=\"1\"/>\n",
			x, PLOT_TOP, x, bottom + 4);
		/* Sizes close together would print over each other. */
		if (x - last < 48)
			continue;
		last = x;
		fmt_size(buf, sizeof(buf), pl->sizes[i]);
		fprintf(out,
			"<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" fill=\"#333\">%s</text>\n",
			x, bottom + 18, buf);
	}
	fprintf(out,
		"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888\" stroke-width=\"1\"/>\n",
		x0, PLOT_TOP, w, PLOT_H);
	fprintf(out,
		"<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" fill=\"#555\">message size</text>\n",
		x0 + w / 2, bottom + 36);
	fprintf(out,
		"<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" font-weight=\"bold\" text-anchor=\"middle\" fill=\"#222\">%s</text>\n",
		x0 + w / 2, PLOT_TOP - 10, panel_title[panel]);
	if (!pl->has[panel])
		fprintf(out,
			"<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" text-anchor=\"middle\" fill=\"#999\">no figure measured</text>\n",
			x0 + w / 2, PLOT_TOP + PLOT_H / 2);
	fprintf(out, "</g>\n");
}

/*
 * One system's line in one panel: pts[0..n) sorted by size. A failed point
 * ends the current polyline; the next measured one starts another.
 */
static void draw_series(FILE *out, const struct plot *pl,
			const struct plot_point *pts, size_t n, double x0,
			double w)
{
	size_t sys = pts[0].sys, i;
	int shoal = is_shoal(pl, sys), open = 0;
	char val[32], size[32];
	const char *tag;

	fprintf(out, "<g class=\"series\" data-system=\"");
	xml_text(out, pl->sys[sys]);
	fprintf(out, "\">\n");
	for (i = 0; i < n; i++) {
		if (pts[i].p50_ns <= 0) {
			if (open)
				fprintf(out, "\"/>\n");
			open = 0;
			continue;
		}
		if (!open)
			fprintf(out,
				"<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" stroke-linejoin=\"round\" points=\"",
				palette[sys % PALETTE_N], shoal ? 3.5 : 1.8);
		fprintf(out, "%s%.1f,%.1f", open ? " " : "",
			px_x(pl, x0, w, pts[i].size), px_y(pl, pts[i].p50_ns));
		open = 1;
	}
	if (open)
		fprintf(out, "\"/>\n");
	/* Markers after the line, so the line never crosses one. */
	for (i = 0; i < n; i++) {
		if (pts[i].p50_ns <= 0)
			continue;
		tag = marker(out, sys, px_x(pl, x0, w, pts[i].size),
			     px_y(pl, pts[i].p50_ns), shoal ? 5 : 3.5);
		/* A hover tooltip with the number the line stands for. */
		fmt_size(size, sizeof(size), pts[i].size);
		fmt_ns(val, sizeof(val), pts[i].p50_ns, 3);
		fprintf(out, "><title>");
		xml_text(out, pl->sys[sys]);
		fprintf(out, ", %s: p50 %s</title></%s>\n", size, val, tag);
	}
	fprintf(out, "</g>\n");
}

static void draw_panel(FILE *out, const struct plot *pl, int panel, double x0,
		       double w)
{
	size_t i, j;
	int pass;

	draw_axes(out, pl, panel, x0, w);
	/* shoal last, so its line is on top where lines cross. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < pl->npts; i = j) {
			for (j = i; j < pl->npts &&
				    pl->pts[j].panel == pl->pts[i].panel &&
				    pl->pts[j].sys == pl->pts[i].sys;
			     j++)
				;
			if (pl->pts[i].panel != panel ||
			    is_shoal(pl, pl->pts[i].sys) != pass)
				continue;
			draw_series(out, pl, &pl->pts[i], j - i, x0, w);
		}
	}
}

static double legend_col(const struct plot *pl)
{
	size_t i, len, longest = 13; /* "shoal pub/sub" */

	for (i = 0; i < pl->nsys; i++) {
		len = strlen(pl->sys[i]);
		if (len > longest)
			longest = len;
	}
	/*
	 * Sample line and gap, about 7.5 px per character of 12 px bold
	 * text, and room before the next entry.
	 */
	return fmin(60 + 7.5 * (double)longest,
		    PLOT_W - PLOT_LEFT - PLOT_RIGHT);
}

static size_t legend_per_row(const struct plot *pl)
{
	size_t n = (size_t)((PLOT_W - PLOT_LEFT - PLOT_RIGHT) / legend_col(pl));

	return n ? n : 1;
}

static void draw_legend(FILE *out, const struct plot *pl, double top)
{
	double col = legend_col(pl), x, y;
	size_t per_row = legend_per_row(pl), i;
	int shoal;

	fprintf(out, "<g class=\"legend\">\n");
	for (i = 0; i < pl->nsys; i++) {
		shoal = is_shoal(pl, i);
		x = PLOT_LEFT + (double)(i % per_row) * col;
		y = top + (double)(i / per_row) * PLOT_ROW;
		fprintf(out,
			"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%.1f\"/>\n",
			x, y, x + 28, y, palette[i % PALETTE_N],
			shoal ? 3.5 : 1.8);
		marker(out, i, x + 14, y, shoal ? 5 : 3.5);
		fprintf(out,
			"/>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\"%s>",
			x + 36, y + 4, shoal ? " font-weight=\"bold\"" : "");
		if (shoal)
			fputs("shoal pub/sub", out);
		else
			xml_text(out, pl->sys[i]);
		fprintf(out, "</text>\n");
	}
	fprintf(out, "</g>\n");
}

static void write_svg(FILE *out, const struct plot *pl,
		      const struct bench_report *r)
{
	double w = (PLOT_W - PLOT_LEFT - PLOT_GAP - PLOT_RIGHT) / 2;
	double legend_top = PLOT_TOP + PLOT_H + PLOT_LEGEND;
	size_t rows = (pl->nsys + legend_per_row(pl) - 1) / legend_per_row(pl);
	double h = legend_top + (double)(rows ? rows : 1) * PLOT_ROW;
	const char *parts[] = { r->date, r->cpu_model, r->mode };
	const char *title =
		"shoal vs other IPC: round-trip latency by message size";
	size_t i;

	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(out,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
		PLOT_W, h, PLOT_W, h);
	fprintf(out, "<title>%s</title>\n", title);
	fprintf(out,
		"<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#fff\"/>\n",
		PLOT_W, h);
	fprintf(out,
		"<text x=\"%.1f\" y=\"26\" font-size=\"18\" font-weight=\"bold\" text-anchor=\"middle\" fill=\"#111\">%s</text>\n",
		PLOT_W / 2, title);
	fprintf(out,
		"<text x=\"%.1f\" y=\"46\" font-size=\"12\" text-anchor=\"middle\" fill=\"#666\">p50 round trip",
		PLOT_W / 2);
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if (!parts[i] || !*parts[i])
			continue;
		fputs(", ", out);
		xml_text(out, parts[i]);
	}
	fprintf(out, "</text>\n");
	fprintf(out,
		"<text transform=\"translate(20 %.1f) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\" fill=\"#555\">p50 round trip (log scale, lower is better)</text>\n",
		PLOT_TOP + PLOT_H / 2);
	draw_panel(out, pl, PANEL_POLL, PLOT_LEFT, w);
	draw_panel(out, pl, PANEL_BLOCK, PLOT_LEFT + w + PLOT_GAP, w);
	draw_legend(out, pl, legend_top);
	fprintf(out, "</svg>\n");
}

int bench_write_svg(const char *path, const struct bench_report *r)
{
	struct plot pl = { 0 };
	char *tmp = NULL;
	FILE *out = NULL;
	size_t len;
	int fd, rc;

	if (!path || !*path || !r || (r->count && (!r->figs || !r->res)))
		return -EINVAL;
	rc = plot_collect(&pl, r);
	if (rc)
		goto out;
	/*
	 * Beside the target, so rename() stays within one file system and
	 * replaces it atomically: a reader sees the old picture or the new.
	 */
	len = strlen(path) + 32;
	tmp = malloc(len);
	if (!tmp) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(tmp, len, "%s.%ld.tmp", path, (long)getpid());
	/* O_NOFOLLOW: never write through a planted link. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0666);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	out = fdopen(fd, "w");
	if (!out) {
		rc = -errno;
		close(fd);
		goto fail_unlink;
	}
	write_svg(out, &pl, r);
	rc = fflush(out) || ferror(out) ? -EIO : 0;
	if (!rc && fsync(fileno(out)))
		rc = -errno;
	if (fclose(out) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (!rc)
		goto out;
fail_unlink:
	unlink(tmp);
out:
	free(tmp);
	free(pl.pts);
	free(pl.sys);
	free(pl.sizes);
	return rc;
}
