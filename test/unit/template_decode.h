/*-------------------------------------------------------------------------
 *
 * template_decode.h
 *		The compiled form of a template decoded into arrays, for the unit
 *		tests (test/unit/test_template.c) and the fuzz harness
 *		(test/fuzz/fuzz_template.c).
 *
 * The parser encodes its segments as a byte string (src/pm_template.h).
 * The tests read them through this view, decoded by code of their own that
 * checks every varint, index and length (the renderer's pm_segments_next
 * trusts them); each test then checks that pm_segments_next reads the same
 * segments.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TEMPLATE_DECODE_H
#define TEMPLATE_DECODE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pm_template.h"

/*
 *	 TSeg:	kind, off and len as before: a keyword's off is its index in
 *			tpl->keywords, a directive's off its index in directives
 *	 TDir:	a directive; name, argument and nargs from pm_directive_split
 * ------------------------------------------------------------------------
 */

typedef struct TSeg
{
	uint32_t	kind;
	uint32_t	off;
	uint32_t	len;
	uint32_t	pos;			/* where in the pool its bytes are */
} TSeg;

typedef struct TDir
{
	uint32_t	line_no;
	uint32_t	indent_off;
	uint32_t	indent_len;
	uint32_t	body_first;
	uint32_t	body_count;
	bool		is_static;
	uint32_t	name_off;
	uint32_t	name_len;
	uint32_t	nargs;
	uint32_t	arg_off;
	uint32_t	arg_len;
	uint32_t	len;			/* the whole line */
} TDir;

typedef struct Decoded
{
	TSeg	   *segments;
	uint32_t	nsegments;
	TSeg	   *body_segments;
	uint32_t	nbody_segments;
	TDir	   *directives;
	uint32_t	ndirectives;
	const char *error;			/* why the code cannot be read, or NULL */
	uint32_t	error_at;		/* code offset */
} Decoded;

static Decoded dec_view;
static const PmTemplate *dec_tpl;	/* dec_view decodes this one */

/* Templates are freed: the view is of none of them any more. */
static void
dec_invalidate(void)
{
	dec_tpl = NULL;
}

static void
dec_push(TSeg **arr, uint32_t *n, uint32_t kind, uint32_t off, uint32_t len,
		 uint32_t pos)
{
	if ((*n & (*n - 1)) == 0)	/* 0, 1, 2, 4...: double */
		*arr = realloc(*arr, (*n ? *n * 2 : 1) * sizeof(TSeg));
	if (*arr == NULL)
		abort();
	(*arr)[*n].kind = kind;
	(*arr)[*n].off = off;
	(*arr)[*n].len = len;
	(*arr)[*n].pos = pos;
	(*n)++;
}

static bool
dec_varint64(const PmTemplate *tpl, uint32_t *at, uint32_t end, uint64_t *v,
			 uint64_t max)
{
	uint64_t	r = 0;
	int			shift = 0;

	while (*at < end && shift <= 28)
	{
		uint8_t		b = tpl->code[(*at)++];

		r |= (uint64_t) (b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
		{
			if (r > max)
				return false;
			*v = r;
			return true;
		}
	}
	return false;
}

static bool
dec_varint(const PmTemplate *tpl, uint32_t *at, uint32_t end, uint32_t *v)
{
	uint64_t	r;

	if (!dec_varint64(tpl, at, end, &r, UINT32_MAX))
		return false;
	*v = (uint32_t) r;
	return true;
}

#define DEC_FAIL(msg) do { d->error = (msg); d->error_at = at; return false; } while (0)

/*
 * Decode the operations code[at..end) covering pool[pos..), into the body
 * list when body, else into the top-level list.  *pos_out: where they end.
 */
static bool
dec_list(const PmTemplate *tpl, Decoded *d, uint32_t at, uint32_t end,
		 uint32_t pos, bool body, uint32_t *line_no, uint32_t *pos_out)
{
	while (at < end)
	{
		uint64_t	v;
		uint32_t	arg;

		if (!dec_varint64(tpl, &at, end, &v, ((uint64_t) 1 << 35) - 1))
			DEC_FAIL("truncated or oversized varint");
		if ((v & 3) < PM_OP_DIRECTIVE && (v >> 2) > UINT32_MAX)
			DEC_FAIL("oversized literal or keyword");
		arg = (uint32_t) (v >> 2);
		if ((v & 3) >= PM_OP_DIRECTIVE)
			arg = (uint32_t) (v >> 3);
		switch (v & 3)
		{
			case PM_OP_LITERAL:
				if ((uint64_t) pos + arg > tpl->pool_len)
					DEC_FAIL("literal past the end of the pool");
				if (body)
					dec_push(&d->body_segments, &d->nbody_segments,
							 PM_SEG_LITERAL, pos, arg, pos);
				else
					dec_push(&d->segments, &d->nsegments, PM_SEG_LITERAL,
							 pos, arg, pos);
				pos += arg;
				break;
			case PM_OP_KEYWORD:
				{
					const PmKeyword *kw;

					if (arg >= tpl->nkeywords)
						DEC_FAIL("keyword index out of range");
					kw = &tpl->keywords[arg];
					if ((uint64_t) pos + kw->len > tpl->pool_len ||
						(uint64_t) kw->off + kw->len > tpl->pool_len)
						DEC_FAIL("keyword past the end of the pool");
					if (memcmp(tpl->pool + pos, tpl->pool + kw->off, kw->len) != 0)
						DEC_FAIL("keyword use is not the keyword's name");
					if (body)
						dec_push(&d->body_segments, &d->nbody_segments,
								 PM_SEG_KEYWORD, arg, kw->len, pos);
					else
						dec_push(&d->segments, &d->nsegments, PM_SEG_KEYWORD,
								 arg, kw->len, pos);
					pos += kw->len;
				}
				break;
			default:
				{
					TDir		dir;
					uint32_t	delta;
					uint32_t	body_end_pos;
					const char *name = NULL;
					const char *darg = NULL;
					size_t		name_len = 0;
					size_t		arg_len = 0;

					if (body)
						DEC_FAIL("directive inside a directive's body");
					if ((uint64_t) pos + arg > tpl->pool_len)
						DEC_FAIL("directive past the end of the pool");
					if ((v >> 2) & 1)
						delta = 1;
					else if (!dec_varint(tpl, &at, end, &delta))
						DEC_FAIL("directive without a line number");
					memset(&dir, 0, sizeof(dir));
					*line_no += delta;
					dir.line_no = *line_no;
					dir.len = arg;
					dir.indent_off = pos;
					while (dir.indent_len < arg &&
						   pm_is_space(tpl->pool[pos + dir.indent_len]))
						dir.indent_len++;
					dir.body_first = d->nbody_segments;
					dir.is_static = (v & 3) == PM_OP_DIRECTIVE;
					if (dir.is_static)
						dec_push(&d->body_segments, &d->nbody_segments,
								 PM_SEG_LITERAL, pos + dir.indent_len,
								 arg - dir.indent_len, pos + dir.indent_len);
					else
					{
						uint32_t	blen;

						if (!dec_varint(tpl, &at, end, &blen) ||
							(uint64_t) at + blen > end)
							DEC_FAIL("directive body past the end of the code");
						if (!dec_list(tpl, d, at, at + blen,
									  pos + dir.indent_len, true, line_no,
									  &body_end_pos))
							return false;
						if (body_end_pos != pos + arg)
							DEC_FAIL("directive body does not cover its line");
						at += blen;
					}
					dir.body_count = d->nbody_segments - dir.body_first;
					dir.nargs = pm_directive_split(tpl->pool + pos + dir.indent_len,
												   arg - dir.indent_len,
												   &name, &name_len,
												   &darg, &arg_len);
					dir.name_off = name ? (uint32_t) (name - tpl->pool) : pos;
					dir.name_len = (uint32_t) name_len;
					dir.arg_off = darg ? (uint32_t) (darg - tpl->pool) : pos;
					dir.arg_len = (uint32_t) arg_len;
					if ((d->ndirectives & (d->ndirectives - 1)) == 0)
						d->directives = realloc(d->directives,
												(d->ndirectives ? d->ndirectives * 2 : 1) * sizeof(TDir));
					if (d->directives == NULL)
						abort();
					d->directives[d->ndirectives] = dir;
					dec_push(&d->segments, &d->nsegments, PM_SEG_DIRECTIVE,
							 d->ndirectives, arg, pos);
					d->ndirectives++;
					pos += arg;
				}
				break;
		}
	}
	*pos_out = pos;
	return true;
}

/* The decoded view of tpl (valid until the next call with another one). */
static const Decoded *
DEC(const PmTemplate *tpl)
{
	uint32_t	line_no = 0;
	uint32_t	end_pos = 0;
	uint32_t	at = 0;
	Decoded    *d = &dec_view;

	if (dec_tpl == tpl)
		return d;
	free(d->segments);
	free(d->body_segments);
	free(d->directives);
	memset(d, 0, sizeof(*d));
	dec_tpl = tpl;
	if (tpl->code == NULL || tpl->pool == NULL)
	{
		d->error = "NULL code or pool";
		return d;
	}
	if (dec_list(tpl, d, 0, tpl->code_len, 0, false, &line_no, &end_pos) &&
		end_pos != tpl->pool_len)
	{
		at = tpl->code_len;
		d->error = "the segments do not cover the pool";
		d->error_at = at;
	}
	return d;
}

#endif							/* TEMPLATE_DECODE_H */
