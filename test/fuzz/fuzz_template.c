/*-------------------------------------------------------------------------
 *
 * fuzz_template.c
 *		libFuzzer harness of the template parser (src/pm_template.c), built
 *		and run outside the server by "make fuzzcheck" (see README.md here).
 *
 * For each input:
 *
 *	1. The input is copied into a buffer of exactly its length (no NUL
 *	   after it), so that AddressSanitizer sees any read past its end, and
 *	   parsed with pm_template_parse.  Every allocation the parser makes
 *	   comes from a recording allocator that frees all of them once the input
 *	   is done, and is filled with garbage first (the parser must not expect
 *	   zeroed memory).
 *
 *	2. The compiled template is walked: every segment, keyword and
 *	   directive must lie inside the pool and the arrays; each keyword must
 *	   have keyword form, be distinct, be found by pm_template_find_keyword
 *	   at its own index, and be first used in index order; literals are
 *	   merged; literal_bytes adds up; static directives agree with
 *	   pm_directive_split of their body; line numbers increase.
 *
 *	3. The template is rendered by a small plain-C renderer over the
 *	   segments (as in test/unit), with a fixed parameter table, directives
 *	   shown as "<D:name|arg|nargs>"; the result is compared with an
 *	   independent, naive implementation of the text rules of README.md
 *	   working on the input directly (HTML comments, CRLF, __END__, '#'
 *	   comment lines and markdown fences, keywords, directive lines and
 *	   their source line numbers).  Any difference aborts, so it is
 *	   reported as a crash with the input that shows it.
 *
 *	4. pm_is_keyword, pm_template_find_keyword and pm_directive_split are
 *	   also called on slices of the raw input and checked against naive
 *	   versions.
 *
 *	5. The input is parsed again with the allocator refusing its k-th
 *	   allocation (k taken from the input): the parse must return NULL, and
 *	   leak or touch nothing.
 *
 *	6. The input is parsed again with the check hook jumping out of the
 *	   parse (longjmp, as a cancel does in the server) at one of its calls.
 *
 * Half of the inputs (by a hash of the input) are parsed with the
 * allocator's resize and release hooks, half without.
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_template.h"
#include "template_decode.h"


/* ------------------------------------------------------------------------
 * Failing loudly
 * ------------------------------------------------------------------------
 */

static const uint8_t *cur_data;
static size_t cur_size;

static void fail(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));

/* Report what is wrong and abort: libFuzzer saves the input as a crash. */
static void
fail(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "\nfuzz_template: check failed: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(input of %zu bytes)\n", cur_size);
	abort();
}

#define CHECK(cond, ...) \
	do { if (!(cond)) fail(__VA_ARGS__); } while (0)


/* ------------------------------------------------------------------------
 * A recording allocator: every block is freed when the input is done
 * ------------------------------------------------------------------------
 */

typedef struct Arena
{
	PmAllocator allocator;
	void	  **blocks;
	size_t		nblocks;
	size_t		capacity;
	size_t		ncalls;			/* requests, refused ones included */
	long		fail_at;		/* -1: never refuse */
	size_t		nchecks;		/* calls of the check hook */
	long		jump_at;		/* check hook call that longjmps, -1: none */
	jmp_buf		jump;
} Arena;

/* Each block starts with its index in blocks, so that it can be resized. */
#define BLOCK_HEADER 16

static void *
arena_alloc(void *ctx, size_t size)
{
	Arena	   *arena = (Arena *) ctx;
	char	   *p;

	CHECK(size > 0, "the parser asked for 0 bytes");
	if (arena->fail_at >= 0 && arena->ncalls >= (size_t) arena->fail_at)
	{
		arena->ncalls++;
		return NULL;
	}
	arena->ncalls++;
	if (arena->nblocks == arena->capacity)
	{
		arena->capacity = arena->capacity ? arena->capacity * 2 : 32;
		arena->blocks = realloc(arena->blocks, arena->capacity * sizeof(void *));
		if (arena->blocks == NULL)
			abort();
	}
	p = malloc(size + BLOCK_HEADER);
	if (p == NULL)
		abort();
	memset(p + BLOCK_HEADER, 0xa5, size);
	memcpy(p, &arena->nblocks, sizeof(size_t));
	memcpy(p + sizeof(size_t), &size, sizeof(size_t));
	arena->blocks[arena->nblocks++] = p;
	return p + BLOCK_HEADER;
}

/* resize: always to a new block (ASan then sees any use of the old one) */
static void *
arena_resize(void *ctx, void *ptr, size_t size)
{
	Arena	   *arena = (Arena *) ctx;
	char	   *old = (char *) ptr - BLOCK_HEADER;
	size_t		idx;
	size_t		old_size;
	char	   *p;

	memcpy(&idx, old, sizeof(size_t));
	memcpy(&old_size, old + sizeof(size_t), sizeof(size_t));
	CHECK(idx < arena->nblocks && arena->blocks[idx] == old,
		  "resize of a block the arena did not give");
	p = arena_alloc(ctx, size);
	if (p == NULL)
		return NULL;
	memcpy(p, ptr, old_size < size ? old_size : size);
	free(old);
	arena->blocks[idx] = NULL;
	return p;
}

static void
arena_release(void *ctx, void *ptr)
{
	Arena	   *arena = (Arena *) ctx;
	char	   *old = (char *) ptr - BLOCK_HEADER;
	size_t		idx;

	memcpy(&idx, old, sizeof(size_t));
	CHECK(idx < arena->nblocks && arena->blocks[idx] == old,
		  "release of a block the arena did not give");
	free(old);
	arena->blocks[idx] = NULL;
}

/* the check hook: counts, and leaves the parse at its jump_at'th call */
static void
arena_check(void *ctx)
{
	Arena	   *arena = (Arena *) ctx;

	if (arena->jump_at >= 0 && arena->nchecks == (size_t) arena->jump_at)
		longjmp(arena->jump, 1);
	arena->nchecks++;
}

static void
arena_init(Arena *arena, long fail_at)
{
	memset(arena, 0, sizeof(*arena));
	arena->allocator.alloc = arena_alloc;
	arena->allocator.ctx = arena;
	arena->allocator.check = arena_check;
	arena->fail_at = fail_at;
	arena->jump_at = -1;
}

/* Give the parser the resize and release hooks too. */
static void
arena_with_resize(Arena *arena)
{
	arena->allocator.resize = arena_resize;
	arena->allocator.release = arena_release;
}

static void
arena_free(Arena *arena)
{
	size_t		i;

	for (i = 0; i < arena->nblocks; i++)
		free(arena->blocks[i]);
	free(arena->blocks);
	dec_invalidate();
	arena->blocks = NULL;
	arena->nblocks = arena->capacity = 0;
}


/* ------------------------------------------------------------------------
 * A growable byte buffer
 * ------------------------------------------------------------------------
 */

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

static void
buf_append(Buf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 64;

		while (b->len + n + 1 > cap)
			cap *= 2;
		b->data = realloc(b->data, cap);
		if (b->data == NULL)
			abort();
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_puts(Buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

static void
buf_free(Buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}


/* ------------------------------------------------------------------------
 * Naive versions of the rules, written from README.md, not from the parser
 * ------------------------------------------------------------------------
 */

static bool
naive_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' ||
		c == '\f' || c == '\r' || c == '\0';
}

static bool
naive_keyword_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == ' ' || c == '_' || c == '|';
}

/* \[[A-Z _|]+\] over the whole of s[0..len) */
static bool
naive_is_keyword(const char *s, size_t len)
{
	size_t		i;

	if (len < 3 || s[0] != '[' || s[len - 1] != ']')
		return false;
	for (i = 1; i + 1 < len; i++)
		if (!naive_keyword_char(s[i]))
			return false;
	return true;
}

/*
 * Length of the keyword starting at s[0] (within s[0..len)), or 0 when no
 * keyword starts there.
 */
static size_t
naive_keyword_at(const char *s, size_t len)
{
	size_t		i = 1;

	if (len < 3 || s[0] != '[')
		return 0;
	while (i < len && naive_keyword_char(s[i]))
		i++;
	if (i < len && s[i] == ']' && i > 1)
		return i + 1;
	return 0;
}

/*
 * Split a directive body: skip blanks and one "//", then words separated by
 * blanks.  Returns the number of words after the name.
 */
static uint32_t
naive_split(const char *s, size_t len, const char **name, size_t *name_len,
			const char **arg, size_t *arg_len)
{
	size_t		i = 0;
	uint32_t	words = 0;

	*name = *arg = NULL;
	*name_len = *arg_len = 0;
	while (i < len && naive_space(s[i]))
		i++;
	if (i + 1 < len && s[i] == '/' && s[i + 1] == '/')
		i += 2;
	for (;;)
	{
		size_t		start;

		while (i < len && naive_space(s[i]))
			i++;
		if (i >= len)
			break;
		start = i;
		while (i < len && !naive_space(s[i]))
			i++;
		if (words == 0)
		{
			*name = s + start;
			*name_len = i - start;
		}
		else if (words == 1)
		{
			*arg = s + start;
			*arg_len = i - start;
		}
		words++;
	}
	return words > 0 ? words - 1 : 0;
}


/* ------------------------------------------------------------------------
 * The fixed parameter table
 *
 * Values with brackets, newlines, "//" and "#" check that a value is
 * inserted literally, once (the renderers never read it again).
 * ------------------------------------------------------------------------
 */

typedef struct Param
{
	const char *name;
	const char *value;
} Param;

static const Param params[] = {
	{"[NAME]", "Ada"},
	{"[A]", "[B]"},
	{"[B]", "x\n//include secret\n# not a comment\n__END__"},
	{"[LANG]", "fr"},
	{"[EMPTY]", ""},
	{"[A|B]", "two words"},
	{"[FIRST NAME]", "  spaced  "},
	{"[X]", "<!-- -->"},
	{"[Z_Z]", "//"},
	{NULL, NULL}
};

static const char *
param_lookup(const char *name, size_t len)
{
	const Param *p;

	for (p = params; p->name != NULL; p++)
	{
		if (strlen(p->name) == len && memcmp(p->name, name, len) == 0)
			return p->value;
	}
	return NULL;
}

/* Append s[0..len) with its keywords replaced (a keyword without value stays). */
static void
naive_fill(Buf *out, const char *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		size_t		k = naive_keyword_at(s + i, len - i);

		if (k > 0)
		{
			const char *v = param_lookup(s + i, k);

			if (v != NULL)
				buf_puts(out, v);
			else
				buf_append(out, s + i, k);
			i += k;
		}
		else
		{
			buf_append(out, s + i, 1);
			i++;
		}
	}
}

/* How a directive is shown: "<D:name|arg|nargs>" */
static void
put_directive(Buf *out, const char *name, size_t name_len,
			  const char *arg, size_t arg_len, uint32_t nargs)
{
	char		num[16];

	buf_puts(out, "<D:");
	buf_append(out, name, name_len);
	buf_puts(out, "|");
	if (nargs > 0)
		buf_append(out, arg, arg_len);
	snprintf(num, sizeof(num), "|%u>", nargs);
	buf_puts(out, num);
}

/* The model's directive, split the naive way. */
static void
show_directive(Buf *out, const char *body, size_t len)
{
	const char *name;
	const char *arg;
	size_t		name_len;
	size_t		arg_len;
	uint32_t	nargs;

	nargs = naive_split(body, len, &name, &name_len, &arg, &arg_len);
	put_directive(out, name, name_len, arg, arg_len, nargs);
}

/* ------------------------------------------------------------------------
 * The naive reference renderer
 * ------------------------------------------------------------------------
 */

typedef struct Expected
{
	Buf			text;			/* the rendering */
	uint32_t   *lines;			/* source line number of each directive */
	uint32_t	nlines;
	uint32_t	lines_cap;
} Expected;

/*
 * Render in[0..len) from the rules: remove HTML comments, fold CRLF, walk
 * the lines.  src_nl[i] is the number of newlines in the source before the
 * byte that ends up at position i of the cleaned text.
 */
static void
naive_render(const char *in, size_t len, Expected *exp)
{
	char	   *clean = malloc(len + 1);
	uint32_t   *src_nl = malloc((len + 1) * sizeof(uint32_t));
	size_t		n = 0;
	size_t		i;
	uint32_t	nl = 0;
	size_t		pos;
	uint32_t	fence = 0;
	bool		any = false;

	if (clean == NULL || src_nl == NULL)
		abort();

	/* 1. HTML comments: the shortest <!-- ... -->, left to right */
	i = 0;
	while (i < len)
	{
		if (i + 4 <= len && memcmp(in + i, "<!--", 4) == 0)
		{
			size_t		j = i + 4;
			bool		closed = false;

			for (; j + 3 <= len; j++)
			{
				if (memcmp(in + j, "-->", 3) == 0)
				{
					closed = true;
					break;
				}
			}
			if (closed)
			{
				for (; i < j + 3; i++)
					if (in[i] == '\n')
						nl++;
				continue;
			}
			/* unclosed: the rest stays as it is */
			for (; i < len; i++)
			{
				clean[n] = in[i];
				src_nl[n++] = nl;
				if (in[i] == '\n')
					nl++;
			}
			break;
		}
		clean[n] = in[i];
		src_nl[n++] = nl;
		if (in[i] == '\n')
			nl++;
		i++;
	}

	/* 2. CRLF -> LF (on the cleaned text) */
	{
		size_t		m = 0;

		for (i = 0; i < n; i++)
		{
			if (clean[i] == '\r' && i + 1 < n && clean[i + 1] == '\n')
				continue;
			clean[m] = clean[i];
			src_nl[m] = src_nl[i];
			m++;
		}
		n = m;
	}

	/* 3. lines; a final '\n' starts no new line */
	pos = 0;
	while (pos < n)
	{
		const char *line = clean + pos;
		const char *eol = memchr(line, '\n', n - pos);
		size_t		ll = eol ? (size_t) (eol - line) : n - pos;
		size_t		s = 0;
		size_t		e = ll;
		uint32_t	line_no;

		/* the line begins right after the '\n' that ended the previous one */
		line_no = pos == 0 ? 1 : src_nl[pos - 1] + 2;

		if (ll == 7 && memcmp(line, "__END__", 7) == 0)
			break;
		while (s < e && naive_space(line[s]))
			s++;
		while (e > s && naive_space(line[e - 1]))
			e--;
		if (e - s >= 3 && memcmp(line + s, "```", 3) == 0)
		{
			if (e - s == 11 && memcmp(line + s, "```markdown", 11) == 0)
				fence++;
			else if (fence > 0)
				fence--;
		}
		if (fence > 0 || s == e || line[s] != '#')
		{
			if (any)
				buf_puts(&exp->text, "\n");
			any = true;
			if (e - s >= 2 && line[s] == '/' && line[s + 1] == '/')
			{
				Buf			body = {0};

				buf_append(&exp->text, line, s);	/* the indentation */
				naive_fill(&body, line + s, ll - s);
				show_directive(&exp->text, body.data ? body.data : "", body.len);
				buf_free(&body);
				if (exp->nlines == exp->lines_cap)
				{
					exp->lines_cap = exp->lines_cap ? exp->lines_cap * 2 : 16;
					exp->lines = realloc(exp->lines, exp->lines_cap * sizeof(uint32_t));
					if (exp->lines == NULL)
						abort();
				}
				exp->lines[exp->nlines++] = line_no;
			}
			else
				naive_fill(&exp->text, line, ll);
		}
		if (eol == NULL)
			break;
		pos += ll + 1;
	}
	if (exp->text.data == NULL)
		buf_append(&exp->text, "", 0);
	free(clean);
	free(src_nl);
}


/* ------------------------------------------------------------------------
 * The renderer over the compiled segments (as in test/unit)
 * ------------------------------------------------------------------------
 */

static void
render_segments(Buf *out, const PmTemplate *tpl, const TSeg *segs,
				uint32_t nsegs, bool in_body);

static void
render_directive(Buf *out, const PmTemplate *tpl, const TDir *d)
{
	Buf			body = {0};
	const char *name;
	const char *arg;
	size_t		name_len;
	size_t		arg_len;
	uint32_t	nargs;

	render_segments(&body, tpl, DEC(tpl)->body_segments + d->body_first,
					d->body_count, true);
	if (body.data == NULL)
		buf_append(&body, "", 0);
	nargs = pm_directive_split(body.data, body.len, &name, &name_len,
							   &arg, &arg_len);
	CHECK(name_len == 0 || (name >= body.data && name + name_len <= body.data + body.len),
		  "pm_directive_split: name outside the body");
	CHECK(nargs == 0 || (arg >= body.data && arg + arg_len <= body.data + body.len),
		  "pm_directive_split: argument outside the body");

	buf_append(out, tpl->pool + d->indent_off, d->indent_len);
	put_directive(out, name, name_len, arg, arg_len, nargs);
	buf_free(&body);
}

static void
render_segments(Buf *out, const PmTemplate *tpl, const TSeg *segs,
				uint32_t nsegs, bool in_body)
{
	uint32_t	i;

	for (i = 0; i < nsegs; i++)
	{
		const TSeg *seg = &segs[i];

		switch (seg->kind)
		{
			case PM_SEG_LITERAL:
				buf_append(out, tpl->pool + seg->off, seg->len);
				break;
			case PM_SEG_KEYWORD:
				{
					const PmKeyword *kw = &tpl->keywords[seg->off];
					const char *v = param_lookup(tpl->pool + kw->off, kw->len);

					if (v != NULL)
						buf_puts(out, v);
					else
						buf_append(out, tpl->pool + kw->off, kw->len);
				}
				break;
			case PM_SEG_DIRECTIVE:
				CHECK(!in_body, "a directive segment inside a directive body");
				render_directive(out, tpl, &DEC(tpl)->directives[seg->off]);
				break;
			default:
				fail("segment of kind %u", seg->kind);
		}
	}
}


/* ------------------------------------------------------------------------
 * Structural checks of a compiled template
 * ------------------------------------------------------------------------
 */

static bool
in_pool(const PmTemplate *tpl, uint32_t off, uint32_t len)
{
	return (uint64_t) off + len <= tpl->pool_len;
}

/* The first use of each keyword comes in index order. */
static void
note_use(const PmTemplate *tpl, uint32_t k, bool *seen, uint32_t *next_new)
{
	CHECK(k < tpl->nkeywords, "keyword segment %u of %u keywords", k, tpl->nkeywords);
	if (!seen[k])
	{
		CHECK(k == *next_new, "keyword %u first used before keyword %u", k, *next_new);
		seen[k] = true;
		(*next_new)++;
	}
}

/* pm_segments_next (the renderer's reader) reads what DEC decoded. */
static void
check_iterator(const PmTemplate *tpl)
{
	const Decoded *d = DEC(tpl);
	PmSegmentIter it;
	PmSegment	seg;
	uint32_t	i = 0;

	pm_segments_begin(tpl, &it);
	while (pm_segments_next(tpl, &it, &seg))
	{
		const TSeg *t;

		CHECK(i < d->nsegments, "pm_segments_next: more than %u segments", d->nsegments);
		t = &d->segments[i];
		CHECK(t->kind == (uint32_t) seg.kind && t->pos == seg.off && t->len == seg.len &&
			  (seg.kind != PM_SEG_KEYWORD || seg.keyword == t->off),
			  "pm_segments_next: segment %u differs", i);
		if (seg.kind == PM_SEG_DIRECTIVE)
		{
			const TDir *dir = &d->directives[t->off];
			PmSegmentIter bit;
			PmSegment	b;
			uint32_t	j = 0;

			CHECK(seg.line_no == dir->line_no && seg.indent_len == dir->indent_len &&
				  seg.is_static == dir->is_static,
				  "pm_segments_next: directive %u differs", t->off);
			pm_segments_body(tpl, &seg, &bit);
			while (pm_segments_next(tpl, &bit, &b))
			{
				const TSeg *bt;

				CHECK(j < dir->body_count, "pm_segments_next: directive %u: too many body segments",
					  t->off);
				bt = &d->body_segments[dir->body_first + j];
				CHECK(bt->kind == (uint32_t) b.kind && bt->pos == b.off && bt->len == b.len &&
					  (b.kind != PM_SEG_KEYWORD || b.keyword == bt->off),
					  "pm_segments_next: directive %u: body segment %u differs", t->off, j);
				j++;
			}
			CHECK(j == dir->body_count, "pm_segments_next: directive %u: %u body segments, not %u",
				  t->off, j, dir->body_count);
		}
		i++;
	}
	CHECK(i == d->nsegments, "pm_segments_next: %u segments, not %u", i, d->nsegments);
}

static void
check_template(const PmTemplate *tpl)
{
	uint32_t	i;
	uint32_t	next_new = 0;
	uint32_t	next_dir = 0;
	uint64_t	literal_sum = 0;
	bool	   *seen;

	CHECK(tpl->pool != NULL, "NULL pool");
	CHECK(tpl->pool[tpl->pool_len] == '\0', "pool not NUL-terminated");
	CHECK(tpl->nkeywords == 0 || tpl->keywords != NULL, "NULL keywords");
	CHECK(tpl->keyword_index != NULL, "NULL keyword index");
	CHECK(((tpl->keyword_index_mask + 1) & tpl->keyword_index_mask) == 0,
		  "keyword index mask %u is not 2^n - 1", tpl->keyword_index_mask);
	CHECK((uint64_t) tpl->nkeywords * 2 <= (uint64_t) tpl->keyword_index_mask + 1,
		  "keyword index more than half full");

	/* keywords: in the pool, of keyword form, distinct, found at their index */
	for (i = 0; i < tpl->nkeywords; i++)
	{
		const PmKeyword *kw = &tpl->keywords[i];
		int			found;

		CHECK(in_pool(tpl, kw->off, kw->len), "keyword %u outside the pool", i);
		CHECK(pm_is_keyword(tpl->pool + kw->off, kw->len),
			  "keyword %u is not of keyword form", i);
		CHECK(naive_is_keyword(tpl->pool + kw->off, kw->len),
			  "keyword %u is not of keyword form (naive)", i);
		found = pm_template_find_keyword(tpl, tpl->pool + kw->off, kw->len);
		CHECK(found == (int) i, "find_keyword of keyword %u gives %d", i, found);
	}

	/* index slots: empty or a valid keyword index + 1, each keyword once */
	{
		uint32_t	nslots = tpl->keyword_index_mask + 1;
		uint32_t	filled = 0;

		for (i = 0; i < nslots; i++)
		{
			uint32_t	e = tpl->keyword_index[i];

			CHECK(e <= tpl->nkeywords, "index slot %u holds %u", i, e);
			if (e != 0)
				filled++;
		}
		CHECK(filled == tpl->nkeywords, "%u index slots for %u keywords",
			  filled, tpl->nkeywords);
	}

	/* the code: readable by the careful decoder, and the same read by
	 * pm_segments_next */
	CHECK(DEC(tpl)->error == NULL, "code at %u: %s", DEC(tpl)->error_at,
		  DEC(tpl)->error);
	CHECK(DEC(tpl)->nsegments == tpl->nsegments &&
		  DEC(tpl)->nbody_segments == tpl->nbody_segments &&
		  DEC(tpl)->ndirectives == tpl->ndirectives,
		  "counts differ from what the code holds");
	check_iterator(tpl);

	seen = calloc(tpl->nkeywords + 1, sizeof(bool));
	if (seen == NULL)
		abort();
	for (i = 0; i < tpl->nsegments; i++)
	{
		const TSeg *s = &DEC(tpl)->segments[i];

		switch (s->kind)
		{
			case PM_SEG_LITERAL:
				CHECK(in_pool(tpl, s->off, s->len), "segment %u outside the pool", i);
				CHECK(s->len > 0, "segment %u: empty literal", i);
				CHECK(i == 0 || DEC(tpl)->segments[i - 1].kind != PM_SEG_LITERAL,
					  "segment %u: literal not merged", i);
				literal_sum += s->len;
				break;
			case PM_SEG_KEYWORD:
				note_use(tpl, s->off, seen, &next_new);
				break;
			case PM_SEG_DIRECTIVE:
				{
					const TDir *d;
					uint32_t	j;
					bool		has_kw = false;

					CHECK(s->off == next_dir && s->off < tpl->ndirectives,
						  "segment %u: directive %u, expected %u of %u", i,
						  s->off, next_dir, tpl->ndirectives);
					d = &DEC(tpl)->directives[s->off];
					next_dir++;
					CHECK(in_pool(tpl, d->indent_off, d->indent_len),
						  "directive %u: indentation outside the pool", s->off);
					for (j = 0; j < d->indent_len; j++)
					{
						char		c = tpl->pool[d->indent_off + j];

						CHECK(naive_space(c) && c != '\n',
							  "directive %u: indentation byte 0x%02x", s->off,
							  (unsigned char) c);
					}
					CHECK((uint64_t) d->body_first + d->body_count <= tpl->nbody_segments,
						  "directive %u: body segments outside the array", s->off);
					CHECK(d->body_count > 0, "directive %u: empty body", s->off);
					for (j = 0; j < d->body_count; j++)
					{
						const TSeg *b = &DEC(tpl)->body_segments[d->body_first + j];

						if (b->kind == PM_SEG_LITERAL)
						{
							CHECK(in_pool(tpl, b->off, b->len),
								  "directive %u: body literal outside the pool", s->off);
							CHECK(b->len > 0, "directive %u: empty body literal", s->off);
							CHECK(memchr(tpl->pool + b->off, '\n', b->len) == NULL,
								  "directive %u: newline in the body", s->off);
							CHECK(j > 0 || (b->len >= 2 && memcmp(tpl->pool + b->off, "//", 2) == 0),
								  "directive %u: body does not start with //", s->off);
							CHECK(j == 0 || DEC(tpl)->body_segments[d->body_first + j - 1].kind != PM_SEG_LITERAL,
								  "directive %u: body literals not merged", s->off);
							/* the body directly follows the indentation */
							CHECK(j > 0 || b->off == d->indent_off + d->indent_len,
								  "directive %u: body not right after the indentation", s->off);
						}
						else if (b->kind == PM_SEG_KEYWORD)
						{
							CHECK(j > 0, "directive %u: body starts with a keyword", s->off);
							note_use(tpl, b->off, seen, &next_new);
							has_kw = true;
						}
						else
							fail("directive %u: body segment of kind %u", s->off, b->kind);
					}
					CHECK(d->is_static == !has_kw,
						  "directive %u: is_static %d with%s keyword", s->off,
						  d->is_static, has_kw ? " a" : "out a");
					if (d->is_static)
					{
						const TSeg *b = &DEC(tpl)->body_segments[d->body_first];
						const char *name;
						const char *arg;
						size_t		name_len;
						size_t		arg_len;
						uint32_t	nargs;

						/* a static body is one literal: its words are in the pool */
						CHECK(d->body_count == 1, "directive %u: static body of %u segments",
							  s->off, d->body_count);
						nargs = pm_directive_split(tpl->pool + b->off, b->len,
												   &name, &name_len, &arg, &arg_len);
						CHECK(in_pool(tpl, d->name_off, d->name_len) &&
							  in_pool(tpl, d->arg_off, d->arg_len),
							  "directive %u: name or argument outside the pool", s->off);
						CHECK(d->nargs == nargs, "directive %u: nargs %u, split says %u",
							  s->off, d->nargs, nargs);
						CHECK(d->name_len == name_len &&
							  (name_len == 0 || tpl->pool + d->name_off == name),
							  "directive %u: static name differs from the split", s->off);
						CHECK(nargs == 0 ||
							  (d->arg_len == arg_len && tpl->pool + d->arg_off == arg),
							  "directive %u: static argument differs from the split", s->off);
					}
					CHECK(s->off == 0 || d->line_no > DEC(tpl)->directives[s->off - 1].line_no,
						  "directive %u: line %u not after the previous one", s->off,
						  d->line_no);
					CHECK(d->line_no > 0, "directive %u: line 0", s->off);
				}
				break;
			default:
				fail("segment %u of kind %u", i, s->kind);
		}
	}
	free(seen);
	CHECK(next_dir == tpl->ndirectives, "%u directive segments for %u directives",
		  next_dir, tpl->ndirectives);
	CHECK(next_new == tpl->nkeywords, "%u keywords used, %u listed", next_new,
		  tpl->nkeywords);
	CHECK(literal_sum == tpl->literal_bytes, "literal_bytes %llu, literals add up to %llu",
		  (unsigned long long) tpl->literal_bytes, (unsigned long long) literal_sum);
}


/* ------------------------------------------------------------------------
 * Checks on slices of the raw input
 * ------------------------------------------------------------------------
 */

static void
check_slices(const PmTemplate *tpl, const char *in, size_t len)
{
	size_t		i;
	size_t		probes = 0;

	/* every '[' of the input: is a keyword there, and is it in the template? */
	for (i = 0; i < len && probes < 256; i++)
	{
		size_t		k;
		size_t		end;

		if (in[i] != '[')
			continue;
		probes++;
		k = naive_keyword_at(in + i, len - i);
		/* pm_is_keyword on the slice up to the next ']' (or the end) */
		for (end = i + 1; end < len && in[end] != ']'; end++)
			;
		if (end < len)
			end++;
		CHECK(pm_is_keyword(in + i, end - i) == naive_is_keyword(in + i, end - i),
			  "pm_is_keyword differs from the naive test at byte %zu", i);
		if (k > 0)
		{
			int			found = pm_template_find_keyword(tpl, in + i, k);
			int			j;
			int			expect = -1;

			for (j = 0; j < (int) tpl->nkeywords; j++)
			{
				const PmKeyword *kw = &tpl->keywords[j];

				if (kw->len == k && memcmp(tpl->pool + kw->off, in + i, k) == 0)
				{
					expect = j;
					break;
				}
			}
			CHECK(found == expect, "find_keyword of a keyword of the input gives %d, not %d",
				  found, expect);
		}
	}
	/* a name that is not a keyword is never found */
	CHECK(pm_template_find_keyword(tpl, "[not a keyword]", 15) == -1,
		  "find_keyword found a name that is not a keyword");
	CHECK(pm_template_find_keyword(tpl, "", 0) == -1, "find_keyword found the empty name");

	/* pm_directive_split on the whole input and on each of its first lines */
	{
		const char *name;
		const char *arg;
		size_t		name_len;
		size_t		arg_len;
		const char *nname;
		const char *narg;
		size_t		nname_len;
		size_t		narg_len;
		uint32_t	a;
		uint32_t	b;
		size_t		start = 0;
		int			lines = 0;

		while (start <= len && lines++ < 32)
		{
			const char *nl = memchr(in + start, '\n', len - start);
			size_t		end = nl ? (size_t) (nl - in) : len;

			a = pm_directive_split(in + start, end - start, &name, &name_len, &arg, &arg_len);
			b = naive_split(in + start, end - start, &nname, &nname_len, &narg, &narg_len);
			CHECK(a == b && name == nname && name_len == nname_len &&
				  (a == 0 || (arg == narg && arg_len == narg_len)),
				  "pm_directive_split differs from the naive split on line %d", lines);
			if (nl == NULL)
				break;
			start = end + 1;
		}
		a = pm_directive_split(in, len, &name, &name_len, &arg, &arg_len);
		b = naive_split(in, len, &nname, &nname_len, &narg, &narg_len);
		CHECK(a == b && name == nname && name_len == nname_len &&
			  (a == 0 || (arg == narg && arg_len == narg_len)),
			  "pm_directive_split differs from the naive split on the whole input");
	}
}


/* ------------------------------------------------------------------------
 * The entry point
 * ------------------------------------------------------------------------
 */

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *in = malloc(size ? size : 1);
	Arena		arena;
	PmTemplate *volatile tpl;
	size_t		ncalls;
	size_t		nchecks;
	uint32_t	hash;

	if (in == NULL)
		abort();
	cur_data = data;
	cur_size = size;
	if (size > 0)
		memcpy(in, data, size);

	/* 1. parse, with the resize and release hooks for half of the inputs */
	{
		uint32_t	h = 2166136261u;
		size_t		i;

		for (i = 0; i < size; i++)
			h = (h ^ data[i]) * 16777619u;
		hash = h;
	}
	arena_init(&arena, -1);
	if (hash & 0x100)
		arena_with_resize(&arena);
	tpl = pm_template_parse(in, size, &arena.allocator);
	CHECK(tpl != NULL, "pm_template_parse returned NULL");
	ncalls = arena.ncalls;
	nchecks = arena.nchecks;
	CHECK(nchecks >= size / (2 * PM_CHECK_INTERVAL),
		  "%zu calls of the check hook for %zu bytes", nchecks, size);

	/* 2. the structure */
	check_template(tpl);

	/* 3. the rendering, against the naive reference */
	{
		Buf			got = {0};
		Expected	exp;
		uint32_t	i;

		memset(&exp, 0, sizeof(exp));
		render_segments(&got, tpl, DEC(tpl)->segments, tpl->nsegments, false);
		if (got.data == NULL)
			buf_append(&got, "", 0);
		naive_render(in, size, &exp);
		if (got.len != exp.text.len || memcmp(got.data, exp.text.data, got.len) != 0)
		{
			size_t		d = 0;

			while (d < got.len && d < exp.text.len && got.data[d] == exp.text.data[d])
				d++;
			fail("rendering differs from the reference at byte %zu "
				 "(lengths %zu and %zu)\n  got: %.*s\n  expected: %.*s",
				 d, got.len, exp.text.len,
				 (int) (got.len - d < 80 ? got.len - d : 80), got.data + d,
				 (int) (exp.text.len - d < 80 ? exp.text.len - d : 80), exp.text.data + d);
		}
		CHECK(exp.nlines == tpl->ndirectives, "%u directives, the reference finds %u",
			  tpl->ndirectives, exp.nlines);
		for (i = 0; i < exp.nlines; i++)
			CHECK(DEC(tpl)->directives[i].line_no == exp.lines[i],
				  "directive %u at line %u, the reference says line %u", i,
				  DEC(tpl)->directives[i].line_no, exp.lines[i]);
		buf_free(&got);
		buf_free(&exp.text);
		free(exp.lines);
	}

	/* 4. the helpers on slices of the input */
	check_slices(tpl, in, size);
	arena_free(&arena);

	/* 5. a refused allocation: NULL, and nothing touched or leaked */
	if (ncalls > 0)
	{
		uint32_t	h = 2166136261u;
		size_t		i;
		long		k;

		for (i = 0; i < size; i++)
			h = (h ^ data[i]) * 16777619u;
		k = (long) (h % ncalls);
		arena_init(&arena, k);
		if (hash & 0x100)
			arena_with_resize(&arena);
		tpl = pm_template_parse(in, size, &arena.allocator);
		CHECK(tpl == NULL, "parse succeeded although allocation %ld of %zu was refused",
			  k, ncalls);
		arena_free(&arena);
	}

	/*
	 * 6. the check hook leaves the parse (a longjmp, as a cancel does in the
	 * server) at one of its calls: nothing is touched or leaked after it.
	 */
	if (nchecks > 0)
	{
		arena_init(&arena, -1);
		if (hash & 0x100)
			arena_with_resize(&arena);
		arena.jump_at = (long) (hash % nchecks);
		tpl = NULL;
		if (setjmp(arena.jump) == 0)
		{
			tpl = pm_template_parse(in, size, &arena.allocator);
			fail("the parse returned after its check hook jumped out");
		}
		arena_free(&arena);
	}

	free(in);
	return 0;
}
