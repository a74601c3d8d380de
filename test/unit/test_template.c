/*-------------------------------------------------------------------------
 *
 * test_template.c
 *		Unit tests of the template parser (src/pm_template.c), built and run
 *		outside the server by "make unitcheck".
 *
 * Most tests parse a text, check that the compiled template is well formed
 * (template_is_well_formed: every offset in range, literals merged, keywords
 * distinct and in first-use order, directives consistent...), render it with
 * the small reference renderer below and compare the result with what
 * gem-format.md says the text renders to.  The renderer substitutes keywords
 * from a table (a keyword with no entry stays as written) and prints a
 * directive as its indentation followed by
 *
 *		<D:name|first argument|number of arguments>
 *
 * so that one expected string states both the text rules and the structure.
 * Direct checks on the struct fields complete the picture.  The last group
 * renders the gem's own conformance cases (test/data/gem_cases.json, or the
 * file named by argv[1]), with "//include ID" replaced by the included text.
 *
 * Every input is copied into a buffer of exactly its length (no terminating
 * NUL), and every allocation made by the parser is followed by guard bytes,
 * so that reads and writes out of bounds show up, under valgrind or not.
 *
 * Output: one line per group of checks (failures detailed above it), then
 * "N passed, M failed" alone on the last line.  The exit status is 1 when a
 * check failed.
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
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pm_template.h"
#include "template_decode.h"


/* ------------------------------------------------------------------------
 * Check bookkeeping
 * ------------------------------------------------------------------------
 */

static int	n_passed;
static int	n_failed;

static const char *group_name;
static int	group_checks;
static int	group_failures;

static void
begin_group(const char *name)
{
	group_name = name;
	group_checks = 0;
	group_failures = 0;
}

static void
end_group(void)
{
	if (group_failures == 0)
		printf("ok    %-44s %5d checks\n", group_name, group_checks);
	else
		printf("FAIL  %-44s %5d of %d checks failed\n",
			   group_name, group_failures, group_checks);
	fflush(stdout);
}

/*
 * Record one check.  On failure, print "line: message" under the group.
 * Returns ok, so that a caller can skip what depends on the check.
 */
static bool check(bool ok, int line, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

static bool
check(bool ok, int line, const char *fmt,...)
{
	va_list		ap;

	group_checks++;
	if (ok)
	{
		n_passed++;
		return true;
	}
	n_failed++;
	group_failures++;
	printf("  line %d: ", line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	return false;
}

/*
 * Printable form of s[0..len): C escapes for control bytes, UTF-8 kept as
 * is, cut after 160 bytes.  The result lives in one of a few rotating static
 * buffers, so up to four calls can appear in one printf.
 */
static const char *
esc(const char *s, size_t len)
{
	static char bufs[4][800];
	static int	next;
	char	   *out = bufs[next++ % 4];
	size_t		o = 0;
	size_t		i;

	out[o++] = '"';
	for (i = 0; i < len && i < 160; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '\n')
			o += sprintf(out + o, "\\n");
		else if (c == '\r')
			o += sprintf(out + o, "\\r");
		else if (c == '\t')
			o += sprintf(out + o, "\\t");
		else if (c == '"' || c == '\\')
			o += sprintf(out + o, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			o += sprintf(out + o, "\\x%02x", c);
		else
			out[o++] = (char) c;
	}
	out[o++] = '"';
	if (len > 160)
		o += sprintf(out + o, "... (%zu bytes)", len);
	out[o] = '\0';
	return out;
}

/*
 * Check that got[0..got_len) equals exp[0..exp_len).  On failure show both,
 * around the first difference when they are long.
 */
static bool
check_mem(int line, const char *what, const char *got, size_t got_len,
		  const char *exp, size_t exp_len)
{
	size_t		i = 0;
	size_t		from;

	if (got_len == exp_len && (exp_len == 0 || memcmp(got, exp, exp_len) == 0))
		return check(true, line, "%s", what);

	while (i < got_len && i < exp_len && got[i] == exp[i])
		i++;
	from = i > 40 ? i - 40 : 0;
	return check(false, line,
				 "%s\n      expected %s\n      got      %s\n"
				 "      (lengths %zu and %zu, first difference at byte %zu%s)",
				 what,
				 esc(exp + from, exp_len - from),
				 esc(got + from, got_len - from),
				 exp_len, got_len, i,
				 from > 0 ? ", shown from 40 bytes before it" : "");
}

static bool
check_str(int line, const char *what, const char *got, size_t got_len,
		  const char *exp)
{
	return check_mem(line, what, got, got_len, exp, strlen(exp));
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}


/* ------------------------------------------------------------------------
 * A recording allocator
 *
 * Every block is remembered so that arena_free can release all of them,
 * is filled with garbage (the parser must not expect zeroed memory) and is
 * followed by guard bytes checked when the arena is freed.  fail_at makes
 * the fail_at'th allocation (0-based) and all later ones return NULL.
 * ------------------------------------------------------------------------
 */

#define GUARD_SIZE	16
#define GUARD_BYTE	0x5a
#define FILL_BYTE	0xa5

typedef struct TestBlock
{
	char	   *ptr;
	size_t		size;
	bool		dead;			/* given back by resize or release */
} TestBlock;

typedef struct TestArena
{
	PmAllocator allocator;		/* what the parser is given */
	TestBlock  *blocks;
	size_t		nblocks;
	size_t		capacity;
	size_t		ncalls;			/* allocation requests, failed ones too */
	size_t		nrefused;		/* requests answered with NULL */
	size_t		bytes;			/* total bytes handed out */
	size_t		live;			/* bytes not given back (resize/release) */
	size_t		peak;			/* the most live at any time */
	long		fail_at;		/* -1: never fail */
} TestArena;

static void *
arena_alloc(void *ctx, size_t size)
{
	TestArena  *arena = (TestArena *) ctx;
	char	   *p;

	if (arena->fail_at >= 0 && arena->ncalls >= (size_t) arena->fail_at)
	{
		arena->ncalls++;
		arena->nrefused++;
		return NULL;
	}
	arena->ncalls++;

	if (arena->nblocks == arena->capacity)
	{
		arena->capacity = arena->capacity ? arena->capacity * 2 : 64;
		arena->blocks = realloc(arena->blocks,
								arena->capacity * sizeof(TestBlock));
		if (arena->blocks == NULL)
		{
			fprintf(stderr, "out of memory in the test allocator\n");
			exit(2);
		}
	}
	p = malloc(size + GUARD_SIZE);
	if (p == NULL)
	{
		fprintf(stderr, "out of memory (%zu bytes) in the test allocator\n",
				size);
		exit(2);
	}
	memset(p, FILL_BYTE, size);
	memset(p + size, GUARD_BYTE, GUARD_SIZE);
	arena->blocks[arena->nblocks].ptr = p;
	arena->blocks[arena->nblocks].size = size;
	arena->blocks[arena->nblocks].dead = false;
	arena->nblocks++;
	arena->bytes += size;
	arena->live += size;
	if (arena->live > arena->peak)
		arena->peak = arena->live;
	return p;
}

/* The block starting at ptr, or NULL (a failed check). */
static TestBlock *
arena_find(TestArena *arena, void *ptr)
{
	size_t		i;

	for (i = arena->nblocks; i-- > 0;)
	{
		if (arena->blocks[i].ptr == ptr && !arena->blocks[i].dead)
			return &arena->blocks[i];
	}
	check(false, __LINE__, "the parser resized or released a block it was not given");
	return NULL;
}

/* resize: a new block, the old one given back (its bytes poisoned) */
static void *
arena_resize(void *ctx, void *ptr, size_t size)
{
	TestArena  *arena = (TestArena *) ctx;
	TestBlock  *b = arena_find(arena, ptr);
	size_t		old_size;
	char	   *p;

	if (b == NULL)
		return NULL;
	old_size = b->size;
	p = arena_alloc(ctx, size);
	if (p == NULL)
		return NULL;
	b = arena_find(arena, ptr);	/* arena_alloc may move the array */
	memcpy(p, ptr, old_size < size ? old_size : size);
	memset(ptr, FILL_BYTE, old_size);
	b->dead = true;
	arena->live -= old_size;
	return p;
}

static void
arena_release(void *ctx, void *ptr)
{
	TestArena  *arena = (TestArena *) ctx;
	TestBlock  *b = arena_find(arena, ptr);

	if (b == NULL)
		return;
	memset(ptr, FILL_BYTE, b->size);
	arena->live -= b->size;
	b->dead = true;
}

/* The size of the live block at ptr (0 when unknown). */
static size_t
arena_block_size(TestArena *arena, const void *ptr)
{
	size_t		i;

	for (i = arena->nblocks; i-- > 0;)
	{
		if (arena->blocks[i].ptr == ptr && !arena->blocks[i].dead)
			return arena->blocks[i].size;
	}
	return 0;
}

static void
arena_init(TestArena *arena, long fail_at)
{
	memset(arena, 0, sizeof(*arena));
	arena->allocator.alloc = arena_alloc;
	arena->allocator.ctx = arena;
	arena->fail_at = fail_at;
}

/* Free every block, checking its guard bytes first. */
static void
arena_free(TestArena *arena, int line)
{
	size_t		i;
	size_t		bad = 0;

	for (i = 0; i < arena->nblocks; i++)
	{
		TestBlock  *b = &arena->blocks[i];
		size_t		g;

		for (g = 0; g < GUARD_SIZE; g++)
		{
			if ((unsigned char) b->ptr[b->size + g] != GUARD_BYTE)
			{
				bad++;
				break;
			}
		}
		free(b->ptr);
	}
	free(arena->blocks);
	arena->blocks = NULL;
	dec_invalidate();
	arena->nblocks = arena->capacity = 0;
	if (bad > 0)
		check(false, line, "parser wrote past the end of %zu allocation(s)",
			  bad);
}


/* ------------------------------------------------------------------------
 * A growable byte buffer
 * ------------------------------------------------------------------------
 */

typedef struct StrBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} StrBuf;

static void
sb_init(StrBuf *sb)
{
	sb->cap = 64;
	sb->len = 0;
	sb->data = malloc(sb->cap);
	if (sb->data == NULL)
		exit(2);
	sb->data[0] = '\0';
}

static void
sb_append(StrBuf *sb, const char *p, size_t n)
{
	if (sb->len + n + 1 > sb->cap)
	{
		while (sb->len + n + 1 > sb->cap)
			sb->cap *= 2;
		sb->data = realloc(sb->data, sb->cap);
		if (sb->data == NULL)
			exit(2);
	}
	if (n > 0)
		memcpy(sb->data + sb->len, p, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

static void
sb_puts(StrBuf *sb, const char *s)
{
	sb_append(sb, s, strlen(s));
}

/* Append s n times. */
static void
sb_repeat(StrBuf *sb, const char *s, size_t n)
{
	size_t		len = strlen(s);
	size_t		i;

	for (i = 0; i < n; i++)
		sb_append(sb, s, len);
}

static void
sb_free(StrBuf *sb)
{
	free(sb->data);
	sb->data = NULL;
	sb->len = sb->cap = 0;
}

/* An exact-size copy of s[0..len), with no terminating NUL. */
static char *
exact_copy(const char *s, size_t len)
{
	char	   *p = malloc(len > 0 ? len : 1);

	if (p == NULL)
		exit(2);
	if (len > 0)
		memcpy(p, s, len);
	return p;
}


/* ------------------------------------------------------------------------
 * The reference renderer
 * ------------------------------------------------------------------------
 */

/* A name -> value pair; tables end with {NULL, NULL}. */
typedef struct Param
{
	const char *name;
	const char *value;
} Param;

static const char *
param_lookup(const Param *params, const char *name, size_t len)
{
	if (params == NULL)
		return NULL;
	for (; params->name != NULL; params++)
	{
		if (strlen(params->name) == len && memcmp(params->name, name, len) == 0)
			return params->value;
	}
	return NULL;
}

static void render_segments(StrBuf *out, const PmTemplate *tpl,
							const TSeg *segs, uint32_t nsegs,
							const Param *params, const Param *includes);

/*
 * A directive: its indentation, then either "<D:name|arg|nargs>" or, when
 * includes is given (gem conformance), the text of the included prompt.
 * Keywords in the body are filled in before the body is split, as the
 * extension does.
 */
static void
render_directive(StrBuf *out, const PmTemplate *tpl, const TDir *d,
				 const Param *params, const Param *includes)
{
	StrBuf		body;
	const char *name;
	const char *arg;
	size_t		name_len;
	size_t		arg_len;
	uint32_t	nargs;

	sb_init(&body);
	render_segments(&body, tpl, DEC(tpl)->body_segments + d->body_first,
					d->body_count, params, NULL);
	name = arg = NULL;
	name_len = arg_len = 0;
	nargs = pm_directive_split(body.data, body.len,
							   &name, &name_len, &arg, &arg_len);

	sb_append(out, tpl->pool + d->indent_off, d->indent_len);
	if (includes != NULL)
	{
		const char *text = NULL;

		if (nargs >= 1 &&
			((name_len == 7 && memcmp(name, "include", 7) == 0) ||
			 (name_len == 6 && memcmp(name, "import", 6) == 0)))
			text = param_lookup(includes, arg, arg_len);
		sb_puts(out, text != NULL ? text : "<UNRESOLVED DIRECTIVE>");
	}
	else
	{
		char		num[16];

		sb_puts(out, "<D:");
		sb_append(out, name, name_len);
		sb_puts(out, "|");
		if (nargs > 0)
			sb_append(out, arg, arg_len);
		snprintf(num, sizeof(num), "|%u>", nargs);
		sb_puts(out, num);
	}
	sb_free(&body);
}

static void
render_segments(StrBuf *out, const PmTemplate *tpl,
				const TSeg *segs, uint32_t nsegs,
				const Param *params, const Param *includes)
{
	uint32_t	i;

	for (i = 0; i < nsegs; i++)
	{
		const TSeg *seg = &segs[i];

		switch (seg->kind)
		{
			case PM_SEG_LITERAL:
				sb_append(out, tpl->pool + seg->off, seg->len);
				break;
			case PM_SEG_KEYWORD:
				{
					const PmKeyword *kw = &tpl->keywords[seg->off];
					const char *value = param_lookup(params,
													 tpl->pool + kw->off,
													 kw->len);

					if (value != NULL)
						sb_puts(out, value);
					else
						sb_append(out, tpl->pool + kw->off, kw->len);
				}
				break;
			case PM_SEG_DIRECTIVE:
				render_directive(out, tpl, &DEC(tpl)->directives[seg->off],
								 params, includes);
				break;
			default:
				sb_puts(out, "<BAD SEGMENT>");
				break;
		}
	}
}

/* Render the whole template into out (which must be initialized). */
static void
render(StrBuf *out, const PmTemplate *tpl, const Param *params,
	   const Param *includes)
{
	render_segments(out, tpl, DEC(tpl)->segments, tpl->nsegments, params, includes);
}


/* ------------------------------------------------------------------------
 * Invariants of a compiled template
 * ------------------------------------------------------------------------
 */

static int	nproblems;
static int	nfatal;

static void problem(bool fatal, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/*
 * Report one way in which a template is malformed (the first few only).
 * A fatal problem (an offset out of range...) means the template cannot be
 * rendered safely; the others are reported and rendering goes on.
 */
static void
problem(bool fatal, const char *fmt,...)
{
	va_list		ap;

	if (fatal)
		nfatal++;
	if (nproblems++ >= 5)
		return;
	printf("    malformed template: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static bool
in_pool(const PmTemplate *tpl, uint32_t off, uint32_t len)
{
	return (uint64_t) off + len <= tpl->pool_len &&
		(len == 0 || tpl->pool != NULL);
}

static const PmTemplate *sort_tpl;

static int
cmp_keyword_index(const void *a, const void *b)
{
	const PmKeyword *ka = &sort_tpl->keywords[*(const uint32_t *) a];
	const PmKeyword *kb = &sort_tpl->keywords[*(const uint32_t *) b];

	if (ka->len != kb->len)
		return ka->len < kb->len ? -1 : 1;
	return memcmp(sort_tpl->pool + ka->off, sort_tpl->pool + kb->off, ka->len);
}

/*
 * Note a keyword use in document order: the first use of each keyword must
 * come in index order (keywords are listed in first-use order).
 */
static void
note_keyword_use(const PmTemplate *tpl, uint32_t k, bool *seen,
				 uint32_t *next_new)
{
	if (k >= tpl->nkeywords)
		return;					/* reported elsewhere */
	if (!seen[k])
	{
		if (k != *next_new)
			problem(false, "keyword %u is first used before keyword %u", k,
					*next_new);
		seen[k] = true;
		(*next_new)++;
	}
}

/* Check the body segments of directive d; returns whether it has a keyword */
static bool
check_directive_body(const PmTemplate *tpl, uint32_t di, bool *seen,
					 uint32_t *next_new)
{
	const TDir *d = &DEC(tpl)->directives[di];
	bool		has_keyword = false;
	uint32_t	j;

	if ((uint64_t) d->body_first + d->body_count > tpl->nbody_segments)
	{
		problem(true, "directive %u: body segments %u+%u out of range (%u)",
				di, d->body_first, d->body_count, tpl->nbody_segments);
		return false;
	}
	if (d->body_count == 0)
		problem(false, "directive %u: empty body", di);

	for (j = 0; j < d->body_count; j++)
	{
		const TSeg *s = &DEC(tpl)->body_segments[d->body_first + j];

		if (s->kind == PM_SEG_LITERAL)
		{
			if (!in_pool(tpl, s->off, s->len))
				problem(true, "directive %u: body literal out of the pool", di);
			else
			{
				if (s->len == 0)
					problem(false, "directive %u: empty body literal", di);
				if (memchr(tpl->pool + s->off, '\n', s->len) != NULL)
					problem(false, "directive %u: body contains a newline", di);
				if (j == 0 &&
					(s->len < 2 || memcmp(tpl->pool + s->off, "//", 2) != 0))
					problem(false, "directive %u: body does not start with //",
							di);
			}
			if (j > 0 && DEC(tpl)->body_segments[d->body_first + j - 1].kind ==
				PM_SEG_LITERAL)
				problem(false, "directive %u: adjacent body literals", di);
		}
		else if (s->kind == PM_SEG_KEYWORD)
		{
			if (j == 0)
				problem(false, "directive %u: body does not start with //", di);
			if (s->off >= tpl->nkeywords)
				problem(true, "directive %u: keyword %u out of range",
						di, s->off);
			else
				note_keyword_use(tpl, s->off, seen, next_new);
			has_keyword = true;
		}
		else
			problem(true, "directive %u: body segment of kind %u", di, s->kind);
	}
	return has_keyword;
}

/* Check the fields of directive di other than its body. */
static void
check_directive_fields(const PmTemplate *tpl, uint32_t di, bool has_keyword)
{
	const TDir *d = &DEC(tpl)->directives[di];
	uint32_t	j;

	if (d->line_no == 0)
		problem(false, "directive %u: line_no 0", di);
	if (di > 0 && d->line_no <= DEC(tpl)->directives[di - 1].line_no)
		problem(false, "directive %u: line_no %u not after %u", di, d->line_no,
				DEC(tpl)->directives[di - 1].line_no);

	if (!in_pool(tpl, d->indent_off, d->indent_len))
		problem(true, "directive %u: indent out of the pool", di);
	else
	{
		for (j = 0; j < d->indent_len; j++)
		{
			char		c = tpl->pool[d->indent_off + j];

			if (!pm_is_space(c) || c == '\n')
				problem(false,
						"directive %u: indent byte 0x%02x is not a blank",
						di, (unsigned char) c);
		}
	}

	if (d->is_static == has_keyword)
		problem(false, "directive %u: is_static is %d but body %s a keyword",
				di, d->is_static, has_keyword ? "has" : "has no");

	/* A static directive's name and argument agree with its body. */
	if (d->is_static && !has_keyword && d->body_count > 0)
	{
		StrBuf		body;
		const char *name = NULL;
		const char *arg = NULL;
		size_t		name_len = 0;
		size_t		arg_len = 0;
		uint32_t	nargs;

		sb_init(&body);
		render_segments(&body, tpl, DEC(tpl)->body_segments + d->body_first,
						d->body_count, NULL, NULL);
		nargs = pm_directive_split(body.data, body.len,
								   &name, &name_len, &arg, &arg_len);
		if (!in_pool(tpl, d->name_off, d->name_len) ||
			!in_pool(tpl, d->arg_off, d->arg_len))
			problem(true, "directive %u: name or argument out of the pool", di);
		else
		{
			if (d->name_len != name_len ||
				memcmp(tpl->pool + d->name_off, name, name_len) != 0)
				problem(false, "directive %u: static name %s, body says %s", di,
						esc(tpl->pool + d->name_off, d->name_len),
						esc(name, name_len));
			if (d->nargs != nargs)
				problem(false, "directive %u: static nargs %u, body says %u",
						di, d->nargs, nargs);
			if (nargs > 0 &&
				(d->arg_len != arg_len ||
				 memcmp(tpl->pool + d->arg_off, arg, arg_len) != 0))
				problem(false,
						"directive %u: static argument %s, body says %s", di,
						esc(tpl->pool + d->arg_off, d->arg_len),
						esc(arg, arg_len));
		}
		sb_free(&body);
	}
}

/* Same segments, read by pm_segments_next (the renderer's way) and DEC? */
static void
iterator_agrees(const PmTemplate *tpl)
{
	const Decoded *d = DEC(tpl);
	PmSegmentIter it;
	PmSegment	seg;
	uint32_t	i = 0;

	pm_segments_begin(tpl, &it);
	while (pm_segments_next(tpl, &it, &seg))
	{
		const TSeg *t = i < d->nsegments ? &d->segments[i] : NULL;

		if (t == NULL || t->kind != (uint32_t) seg.kind || t->pos != seg.off ||
			t->len != seg.len ||
			(seg.kind == PM_SEG_KEYWORD && seg.keyword != t->off))
		{
			problem(true, "pm_segments_next: segment %u differs", i);
			return;
		}
		if (seg.kind == PM_SEG_DIRECTIVE)
		{
			const TDir *dir = &d->directives[t->off];
			PmSegmentIter bit;
			PmSegment	b;
			uint32_t	j = 0;

			if (seg.line_no != dir->line_no ||
				seg.indent_len != dir->indent_len ||
				seg.is_static != dir->is_static)
				problem(false, "pm_segments_next: directive %u differs", t->off);
			pm_segments_body(tpl, &seg, &bit);
			while (pm_segments_next(tpl, &bit, &b))
			{
				const TSeg *bt = j < dir->body_count ?
				&d->body_segments[dir->body_first + j] : NULL;

				if (bt == NULL || bt->kind != (uint32_t) b.kind ||
					bt->pos != b.off || bt->len != b.len ||
					(b.kind == PM_SEG_KEYWORD && b.keyword != bt->off))
				{
					problem(true, "pm_segments_next: body segment %u of directive %u differs",
							j, t->off);
					return;
				}
				j++;
			}
			if (j != dir->body_count)
				problem(true, "pm_segments_next: %u body segments of directive %u, not %u",
						j, t->off, dir->body_count);
		}
		i++;
	}
	if (i != d->nsegments)
		problem(true, "pm_segments_next: %u segments, not %u", i, d->nsegments);
}

/*
 * Is tpl a well-formed compiled template?  Prints what is wrong, if
 * anything.
 */
static bool
template_is_well_formed(const PmTemplate *tpl)
{
	bool	   *seen;
	uint32_t	next_new = 0;
	uint32_t	next_directive = 0;
	uint64_t	literal_sum = 0;
	uint32_t	i;

	nproblems = 0;
	nfatal = 0;

	if (tpl->nkeywords > 0 && tpl->keywords == NULL)
	{
		problem(true, "NULL keywords with a non-zero count");
		return false;
	}
	/* keywords are checked before the code is read: it trusts them */
	for (i = 0; i < tpl->nkeywords; i++)
	{
		if (!in_pool(tpl, tpl->keywords[i].off, tpl->keywords[i].len))
		{
			problem(true, "keyword %u out of the pool", i);
			return false;
		}
	}
	if (DEC(tpl)->error != NULL)
	{
		problem(true, "code at %u: %s", DEC(tpl)->error_at, DEC(tpl)->error);
		return false;
	}
	if (DEC(tpl)->nsegments != tpl->nsegments ||
		DEC(tpl)->nbody_segments != tpl->nbody_segments ||
		DEC(tpl)->ndirectives != tpl->ndirectives)
		problem(false, "counts %u/%u/%u, the code holds %u/%u/%u segments/"
				"body segments/directives", tpl->nsegments,
				tpl->nbody_segments, tpl->ndirectives, DEC(tpl)->nsegments,
				DEC(tpl)->nbody_segments, DEC(tpl)->ndirectives);
	iterator_agrees(tpl);

	/* keywords: in the pool, of keyword form, distinct, found by the index */
	for (i = 0; i < tpl->nkeywords; i++)
	{
		const PmKeyword *kw = &tpl->keywords[i];

		if (!in_pool(tpl, kw->off, kw->len))
		{
			problem(true, "keyword %u out of the pool", i);
			return false;
		}
		if (!pm_is_keyword(tpl->pool + kw->off, kw->len))
			problem(false, "keyword %u %s is not of keyword form", i,
					esc(tpl->pool + kw->off, kw->len));
		if (pm_template_find_keyword(tpl, tpl->pool + kw->off, kw->len) !=
			(int) i)
			problem(false, "find_keyword(%s) is %d, not %u",
					esc(tpl->pool + kw->off, kw->len),
					pm_template_find_keyword(tpl, tpl->pool + kw->off,
											 kw->len), i);
	}
	if (nfatal > 0)
		return false;
	if (tpl->nkeywords > 1)
	{
		uint32_t   *order = malloc(tpl->nkeywords * sizeof(uint32_t));

		for (i = 0; i < tpl->nkeywords; i++)
			order[i] = i;
		sort_tpl = tpl;
		qsort(order, tpl->nkeywords, sizeof(uint32_t), cmp_keyword_index);
		for (i = 1; i < tpl->nkeywords; i++)
		{
			if (cmp_keyword_index(&order[i - 1], &order[i]) == 0)
				problem(false, "keyword %s listed twice",
						esc(tpl->pool + tpl->keywords[order[i]].off,
							tpl->keywords[order[i]].len));
		}
		free(order);
	}
	if (nfatal > 0)
		return false;

	/* top-level segments, in document order, directive bodies included */
	seen = calloc(tpl->nkeywords + 1, sizeof(bool));
	for (i = 0; i < tpl->nsegments; i++)
	{
		const TSeg *s = &DEC(tpl)->segments[i];

		switch (s->kind)
		{
			case PM_SEG_LITERAL:
				if (!in_pool(tpl, s->off, s->len))
					problem(true, "segment %u: literal out of the pool", i);
				if (s->len == 0)
					problem(false, "segment %u: empty literal", i);
				if (i > 0 && DEC(tpl)->segments[i - 1].kind == PM_SEG_LITERAL)
					problem(false,
							"segment %u: literal not merged with the previous",
							i);
				literal_sum += s->len;
				break;
			case PM_SEG_KEYWORD:
				if (s->off >= tpl->nkeywords)
					problem(true, "segment %u: keyword %u out of range",
							i, s->off);
				else
					note_keyword_use(tpl, s->off, seen, &next_new);
				break;
			case PM_SEG_DIRECTIVE:
				if (s->off != next_directive || s->off >= tpl->ndirectives)
					problem(true, "segment %u: directive %u, expected %u", i,
							s->off, next_directive);
				else
				{
					bool		has_keyword;

					has_keyword = check_directive_body(tpl, s->off, seen,
													   &next_new);
					check_directive_fields(tpl, s->off, has_keyword);
				}
				next_directive++;
				break;
			default:
				problem(true, "segment %u: kind %u", i, s->kind);
				break;
		}
	}
	free(seen);

	if (next_directive != tpl->ndirectives)
		problem(false, "%u directive segments for %u directives",
				next_directive, tpl->ndirectives);
	if (next_new != tpl->nkeywords)
		problem(false, "%u keywords listed, %u used", tpl->nkeywords, next_new);
	if (literal_sum != tpl->literal_bytes)
		problem(false, "literal_bytes is %llu, the literals add up to %llu",
				(unsigned long long) tpl->literal_bytes,
				(unsigned long long) literal_sum);

	return nproblems == 0;
}


/* ------------------------------------------------------------------------
 * Test helpers
 * ------------------------------------------------------------------------
 */

/*
 * Parse text[0..len) (from an exact-size copy) into a fresh arena; check
 * that it succeeds and that the result is well formed.  Returns the
 * template, or NULL when it is missing or cannot be rendered safely (a
 * malformed template that is still safe to walk is returned, so that the
 * tests of its rendered meaning still run).  The caller frees the arena.
 */
static PmTemplate *
parse_checked(int line, TestArena *arena, const char *text, size_t len)
{
	char	   *copy = exact_copy(text, len);
	PmTemplate *tpl;

	arena_init(arena, -1);
	tpl = pm_template_parse(copy, len, &arena->allocator);
	free(copy);
	if (!check(tpl != NULL, line, "pm_template_parse(%s) returned NULL",
			   esc(text, len)))
		return NULL;
	if (!check(template_is_well_formed(tpl), line,
			   "malformed template for %s", esc(text, len)) && nfatal > 0)
		return NULL;
	return tpl;
}

#define PARSE(arena, text) \
	parse_checked(__LINE__, &(arena), (text), sizeof(text) - 1)

/*
 * Parse text, render it with params and compare with expected.  Both are
 * given with their lengths, so that they may contain NUL bytes.
 */
static void
expect_render(int line, const char *text, size_t text_len,
			  const Param *params, const char *expected, size_t expected_len)
{
	TestArena	arena;
	PmTemplate *tpl = parse_checked(line, &arena, text, text_len);

	if (tpl != NULL)
	{
		StrBuf		out;
		char		what[1024];

		sb_init(&out);
		render(&out, tpl, params, NULL);
		snprintf(what, sizeof(what), "render of %s", esc(text, text_len));
		check_mem(line, what, out.data, out.len, expected, expected_len);
		sb_free(&out);
	}
	arena_free(&arena, line);
}

/* T: no parameters; TP: with a parameter table.  Literals only. */
#define T(text, expected) \
	expect_render(__LINE__, (text), sizeof(text) - 1, NULL, \
				  (expected), sizeof(expected) - 1)
#define TP(text, params, expected) \
	expect_render(__LINE__, (text), sizeof(text) - 1, (params), \
				  (expected), sizeof(expected) - 1)

/*
 * Shape of a list of segments: "L(bytes)" for a literal, "K([NAME])" for a
 * keyword, "D" for a directive, separated by single spaces.
 */
static void
shape_of(StrBuf *out, const PmTemplate *tpl, const TSeg *segs,
		 uint32_t n)
{
	uint32_t	i;

	for (i = 0; i < n; i++)
	{
		if (i > 0)
			sb_puts(out, " ");
		if (segs[i].kind == PM_SEG_LITERAL)
		{
			sb_puts(out, "L(");
			sb_append(out, tpl->pool + segs[i].off, segs[i].len);
			sb_puts(out, ")");
		}
		else if (segs[i].kind == PM_SEG_KEYWORD)
		{
			const PmKeyword *kw = &tpl->keywords[segs[i].off];

			sb_puts(out, "K(");
			sb_append(out, tpl->pool + kw->off, kw->len);
			sb_puts(out, ")");
		}
		else
			sb_puts(out, "D");
	}
}

/* Check the shape of the template's top-level segments. */
static void
expect_shape_len(int line, const PmTemplate *tpl, const char *expected,
				 size_t expected_len)
{
	StrBuf		shape;

	if (tpl == NULL)
		return;
	sb_init(&shape);
	shape_of(&shape, tpl, DEC(tpl)->segments, tpl->nsegments);
	check_mem(line, "segments", shape.data, shape.len, expected,
			  expected_len);
	sb_free(&shape);
}

static void
expect_shape(int line, const PmTemplate *tpl, const char *expected)
{
	expect_shape_len(line, tpl, expected, strlen(expected));
}

/* Check the shape of the body of directive di. */
static void
expect_body_shape(int line, const PmTemplate *tpl, uint32_t di,
				  const char *expected)
{
	StrBuf		shape;
	const TDir *d;

	if (tpl == NULL ||
		!check(di < tpl->ndirectives, line, "no directive %u", di))
		return;
	d = &DEC(tpl)->directives[di];
	sb_init(&shape);
	shape_of(&shape, tpl, DEC(tpl)->body_segments + d->body_first, d->body_count);
	check_str(line, "directive body segments", shape.data, shape.len,
			  expected);
	sb_free(&shape);
}

/* Check the keyword list: expected names separated by commas, in order. */
static void
expect_keywords(int line, const PmTemplate *tpl, const char *expected)
{
	StrBuf		list;
	uint32_t	i;

	if (tpl == NULL)
		return;
	sb_init(&list);
	for (i = 0; i < tpl->nkeywords; i++)
	{
		if (i > 0)
			sb_puts(&list, ",");
		sb_append(&list, tpl->pool + tpl->keywords[i].off,
				  tpl->keywords[i].len);
	}
	check_str(line, "keyword list", list.data, list.len, expected);
	sb_free(&list);
}

/*
 * Check directive di's line number, indentation, static-ness and, when
 * static, its name, first argument and number of arguments.
 */
static void
expect_directive(int line, const PmTemplate *tpl, uint32_t di,
				 uint32_t line_no, const char *indent, bool is_static,
				 const char *name, const char *arg, uint32_t nargs)
{
	const TDir *d;

	if (tpl == NULL ||
		!check(di < tpl->ndirectives, line, "no directive %u", di))
		return;
	d = &DEC(tpl)->directives[di];
	check(d->line_no == line_no, line, "directive %u: line_no %u, expected %u",
		  di, d->line_no, line_no);
	check_str(line, "directive indent", tpl->pool + d->indent_off,
			  d->indent_len, indent);
	if (!check(d->is_static == is_static, line,
			   "directive %u: is_static %d, expected %d",
			   di, d->is_static, is_static) || !is_static)
		return;
	check_str(line, "directive name", tpl->pool + d->name_off, d->name_len,
			  name);
	check(d->nargs == nargs, line, "directive %u: nargs %u, expected %u",
		  di, d->nargs, nargs);
	if (nargs > 0)
		check_str(line, "directive first argument", tpl->pool + d->arg_off,
				  d->arg_len, arg);
}

/* Check the counts of a template. */
static void
expect_counts(int line, const PmTemplate *tpl, uint32_t nsegments,
			  uint32_t nkeywords, uint32_t ndirectives)
{
	if (tpl == NULL)
		return;
	check(tpl->nsegments == nsegments, line, "nsegments %u, expected %u",
		  tpl->nsegments, nsegments);
	check(tpl->nkeywords == nkeywords, line, "nkeywords %u, expected %u",
		  tpl->nkeywords, nkeywords);
	check(tpl->ndirectives == ndirectives, line,
		  "ndirectives %u, expected %u", tpl->ndirectives, ndirectives);
}


/* ------------------------------------------------------------------------
 * Empty text, newlines and joining lines with '\n'
 * ------------------------------------------------------------------------
 */

static void
test_lines(void)
{
	TestArena	arena;
	PmTemplate *tpl;

	begin_group("empty text and joining lines");

	/* exactly one trailing newline is lost */
	T("", "");
	T("\n", "");
	T("\n\n", "\n");
	T("\n\n\n", "\n\n");
	T("a", "a");
	T("a\n", "a");
	T("a\n\n", "a\n");
	T("a\n\n\n", "a\n\n");
	T("\na", "\na");
	T("a\nb", "a\nb");
	T("a\n\nb\n", "a\n\nb");

	/* blank lines are kept, blanks too */
	T("  ", "  ");
	T(" \n", " ");
	T("\t\n \n", "\t\n ");
	T("a  \nb\t\n", "a  \nb\t");

	/* the empty text and a text of newlines compile to nothing */
	tpl = PARSE(arena, "");
	expect_counts(__LINE__, tpl, 0, 0, 0);
	if (tpl)
		check(tpl->literal_bytes == 0, __LINE__, "literal_bytes %llu",
			  (unsigned long long) tpl->literal_bytes);
	arena_free(&arena, __LINE__);

	tpl = PARSE(arena, "\n");
	expect_counts(__LINE__, tpl, 0, 0, 0);
	arena_free(&arena, __LINE__);

	/* several lines without keywords or directives are one literal */
	tpl = PARSE(arena, "one\ntwo\n\nthree\n");
	expect_counts(__LINE__, tpl, 1, 0, 0);
	expect_shape(__LINE__, tpl, "L(one\ntwo\n\nthree)");
	if (tpl)
		check(tpl->literal_bytes == 14, __LINE__, "literal_bytes %llu",
			  (unsigned long long) tpl->literal_bytes);
	arena_free(&arena, __LINE__);

	tpl = PARSE(arena, "\n\n");
	expect_shape(__LINE__, tpl, "L(\n)");
	arena_free(&arena, __LINE__);

	/* the parser honours len: nothing after it is read */
	expect_render(__LINE__, "abc[NAME]", 5, NULL, "abc[N", 5);
	expect_render(__LINE__, "ab\n# c", 3, NULL, "ab", 2);

	end_group();
}


/* ------------------------------------------------------------------------
 * HTML comments: <!--.*?--> removed everywhere, an unclosed <!-- stays
 * ------------------------------------------------------------------------
 */

static void
test_html_comments(void)
{
	static const Param name_ada[] = {{"[NAME]", "Ada"}, {NULL, NULL}};
	TestArena	arena;
	PmTemplate *tpl;

	begin_group("HTML comments");

	T("<!-- x -->", "");
	T("<!-- x -->\n", "");
	T("a<!-- x -->b", "ab");
	T("a<!--x-->b<!--y-->c", "abc");
	T("x<!---->y", "xy");
	T("<!-- -- -->x", "x");

	/* non-greedy: the first --> closes */
	T("<!-- a --> b -->", " b -->");
	T("<!-- <!-- x --> -->", " -->");
	T("<!-- a -->b<!-- c -->", "b");

	/* "-->" must come after "<!--": <!--> and <!---> open but do not close */
	T("<!-->", "<!-->");
	T("<!--->", "<!--->");
	T("<!---->", "");
	T("<!-->x-->y", "y");
	T("<!--->-->y", "y");
	T("a<!-->b", "a<!-->b");

	/* unclosed comments stay, with what follows them */
	T("a <!-- never closed", "a <!-- never closed");
	T("<!--x--", "<!--x--");
	T("<!-- a -->b<!-- unclosed", "b<!-- unclosed");
	T("a <!-- open\nb\n# c", "a <!-- open\nb");
	T("-->a<!--", "-->a<!--");

	/* across lines */
	T("a<!--\nb\n-->c", "ac");
	T("a\n<!-- x\ny -->\nb", "a\n\nb");
	T("<!-- multi\nline the -->", "");
	T("a<!-- x\r\n-->b", "ab");
	T("a\n<!-- x -->\nb\n", "a\n\nb");

	/* removal happens first: it can build a keyword, a CRLF, a comment... */
	TP("[NA<!-- x -->ME]", name_ada, "Ada");
	T("a\r<!-- x -->\nb", "a\nb");
	T("<!-- x --># comment\nb", "b");
	T("#<!--\nb\n-->c\nd", "d");
	T("<!-- x -->  //include y", "  <D:include|y|1>");
	T("<!-- //include x -->", "");

	/* a keyword inside a comment is not a keyword of the template */
	tpl = PARSE(arena, "<!-- [NAME] -->[A]");
	expect_shape(__LINE__, tpl, "K([A])");
	expect_keywords(__LINE__, tpl, "[A]");
	arena_free(&arena, __LINE__);

	/* the literal bytes on both sides of a comment are one segment */
	tpl = PARSE(arena, "a<!-- x -->b\n<!-- y\n-->c");
	expect_shape(__LINE__, tpl, "L(ab\nc)");
	arena_free(&arena, __LINE__);

	end_group();
}


/* ------------------------------------------------------------------------
 * __END__: the first line exactly "__END__" ends the prompt
 * ------------------------------------------------------------------------
 */

static void
test_end_marker(void)
{
	TestArena	arena;
	PmTemplate *tpl;

	begin_group("__END__");

	T("a\n__END__\nb", "a");
	T("__END__", "");
	T("__END__\n", "");
	T("__END__\nb", "");
	T("a\n__END__", "a");
	T("a\n__END__\n", "a");
	T("a\n\n__END__\nb", "a\n");
	T("a\n__END__\nb\n__END__\nc", "a");
	T("a\n# c\n__END__\nd", "a");
	T("#x\n__END__\n", "");

	/* only the exact line: no blanks, no other text, case matters */
	T("a\n __END__\nb", "a\n __END__\nb");
	T("a\n__END__ \nb", "a\n__END__ \nb");
	T("a\n\t__END__\nb", "a\n\t__END__\nb");
	T("a\n__END__x\nb", "a\n__END__x\nb");
	T("a __END__\nb", "a __END__\nb");
	T("__end__\nb", "__end__\nb");
	T("_END_\n__END\nEND__", "_END_\n__END\nEND__");

	/* also inside a markdown fence */
	T("```markdown\n__END__\nb", "```markdown");
	T("```markdown\nx\n__END__\n```", "```markdown\nx");

	/* CRLF: the line is "__END__" once its \r\n is removed */
	T("a\r\n__END__\r\nb\r\n", "a");

	/* a \r not directly before \n is text, so this line is not __END__ */
	T("a\n__END__\r", "a\n__END__\r");

	/* found after HTML comments are removed */
	T("a\n__<!-- x -->END__\nb", "a");
	T("a\n<!-- x -->__END__\nb", "a");
	T("a<!--\n__END__\n-->b", "ab");
	T("a <!-- b\n__END__\nc", "a <!-- b");

	/* nothing after __END__ is compiled */
	tpl = PARSE(arena, "a\n__END__\n[NAME]\n//include x\n");
	expect_counts(__LINE__, tpl, 1, 0, 0);
	expect_shape(__LINE__, tpl, "L(a)");
	arena_free(&arena, __LINE__);

	end_group();
}


/* ------------------------------------------------------------------------
 * '#' comment lines
 * ------------------------------------------------------------------------
 */

static void
test_comment_lines(void)
{
	TestArena	arena;
	PmTemplate *tpl;

	begin_group("# comment lines");

	T("# c", "");
	T("#", "");
	T("# c\n", "");
	T("# a\n# b\n# c\n", "");
	T("# c\na", "a");
	T("a\n# c", "a");
	T("a\n# c\n", "a");
	T("a\n#\n", "a");
	T("a\n# c\nb", "a\nb");
	T("a\n\n# c\n\nb", "a\n\n\nb");
	T("#x\n\ny", "\ny");
	T("##\na", "a");
	T("#!x\na", "a");
	T("# c  \na", "a");

	/* indented: the stripped text starts with '#' */
	T("  # c\na", "a");
	T("\t#c\na", "a");
	T(" \t # c\t \na", "a");
	T("\v\f #c\na", "a");

	/* a '#' later in a line is text */
	T("a # b", "a # b");
	T("a#b", "a#b");
	T(" x#\n", " x#");
	T("\\# x", "\\# x");
	T("[NAME] # [X]", "[NAME] # [X]");

	/* with CRLF */
	T("# c\r\n", "");
	T("a\r\n# c\r\nb\r\n", "a\nb");

	/* a keyword on a comment line is not a keyword of the template */
	tpl = PARSE(arena, "#[NAME]\n[A]\n  # [B]\n");
	expect_shape(__LINE__, tpl, "K([A])");
	expect_keywords(__LINE__, tpl, "[A]");
	if (tpl)
		check(pm_template_find_keyword(tpl, "[NAME]", 6) == -1, __LINE__,
			  "commented [NAME] is found");
	arena_free(&arena, __LINE__);

	/* a directive on a comment line is not a directive */
	tpl = PARSE(arena, "#//include x\n# //include y\na");
	expect_counts(__LINE__, tpl, 1, 0, 0);
	arena_free(&arena, __LINE__);

	/* lines on both sides of a comment line are one literal */
	tpl = PARSE(arena, "a\n# c\nb\n");
	expect_shape(__LINE__, tpl, "L(a\nb)");
	arena_free(&arena, __LINE__);

	end_group();
}


/* ------------------------------------------------------------------------
 * ```markdown fences: '#' lines kept inside
 * ------------------------------------------------------------------------
 */

static void
test_markdown_fences(void)
{
	static const Param name_ada[] = {{"[NAME]", "Ada"}, {NULL, NULL}};
	TestArena	arena;
	PmTemplate *tpl;
	StrBuf		text;
	StrBuf		expected;

	begin_group("markdown fences");

	T("```markdown\n# a\n```\n# b", "```markdown\n# a\n```");
	T("```markdown\n# a\n```\n# b\n", "```markdown\n# a\n```");
	T("```markdown\n  # a\n```", "```markdown\n  # a\n```");

	/* unclosed: kept to the end */
	T("```markdown\n# a\n\n# b\n", "```markdown\n# a\n\n# b");

	/* nested: depth counts opens and closes */
	T("```markdown\n```markdown\n# a\n```\n# b\n```\n# c",
	  "```markdown\n```markdown\n# a\n```\n# b\n```");

	/* a closing line with depth 0 is kept and has no effect */
	T("```\n# a\nb", "```\nb");
	T("```\n```markdown\n# a", "```\n```markdown\n# a");
	T("```markdown\n```\n```\n# a", "```markdown\n```\n```");

	/* any other line starting with ``` closes */
	T("```markdown\n```ruby\n# a", "```markdown\n```ruby");
	T("```markdown\n````\n# a", "```markdown\n````");
	T("```markdown\n```markdown x\n# a", "```markdown\n```markdown x");

	/* only a stripped line exactly ```markdown opens */
	T("  ```markdown  \n# a", "  ```markdown  \n# a");
	T("\t```markdown\r\n# a\r\n", "\t```markdown\n# a");
	T("```markdown x\n# a", "```markdown x");
	T("```Markdown\n# a", "```Markdown");
	T("````markdown\n# a", "````markdown");
	T("```ruby\n# a", "```ruby");
	T("a ```markdown\n# b", "a ```markdown");
	T("``markdown\n# b", "``markdown");

	/* a comment line is never a fence line */
	T("#```markdown\n# a", "");
	T("```markdown\n#```\n# a", "```markdown\n#```\n# a");
	T("```markdown\n# ```\n# a", "```markdown\n# ```\n# a");

	/* HTML comments are removed before fences are seen */
	T("<!-- ```markdown -->\n# a", "");
	T("```markdown\n<!-- x -->\n# a", "```markdown\n\n# a");
	T("```markdown<!-- x -->\n# a", "```markdown\n# a");

	/* keywords and directives work inside a fence */
	TP("```markdown\n# [NAME]\n```", name_ada, "```markdown\n# Ada\n```");
	T("```markdown\n//include x\n```", "```markdown\n<D:include|x|1>\n```");
	T("```markdown\n  // include x\n```",
	  "```markdown\n  <D:include|x|1>\n```");

	tpl = PARSE(arena, "```markdown\n# [NAME]\n//include x\n```\n# [B]\n");
	expect_keywords(__LINE__, tpl, "[NAME]");
	expect_shape(__LINE__, tpl,
				 "L(```markdown\n# ) K([NAME]) L(\n) D L(\n```)");
	expect_directive(__LINE__, tpl, 0, 3, "", true, "include", "x", 1);
	arena_free(&arena, __LINE__);

	/* deep nesting: 1000 opens, 999 closes, still inside */
	sb_init(&text);
	sb_init(&expected);
	sb_repeat(&text, "```markdown\n", 1000);
	sb_repeat(&text, "```\n", 999);
	sb_puts(&text, "# in\n```\n# out\n");
	sb_repeat(&expected, "```markdown\n", 1000);
	sb_repeat(&expected, "```\n", 999);
	sb_puts(&expected, "# in\n```");
	expect_render(__LINE__, text.data, text.len, NULL,
				  expected.data, expected.len);
	sb_free(&text);
	sb_free(&expected);

	end_group();
}


/* ------------------------------------------------------------------------
 * CRLF: only a \r directly before \n is dropped
 * ------------------------------------------------------------------------
 */

static void
test_crlf(void)
{
	static const Param params[] = {
		{"[NAME]", "Ada"}, {"[LANG]", "fr"}, {NULL, NULL}
	};
	TestArena	arena;
	PmTemplate *tpl;

	begin_group("CRLF");

	T("a\r\nb\r\n", "a\nb");
	T("a\r\nb", "a\nb");
	T("\r\n", "");
	T("\r\n\r\n", "\n");
	T("a\r\n\r\n", "a\n");
	T("a\r\n\r\nb", "a\n\nb");

	/* a lone \r is text */
	T("a\rb", "a\rb");
	T("a\r", "a\r");
	T("\r", "\r");
	T("a\n\rb", "a\n\rb");
	T("a\r\r\nb", "a\r\nb");
	T("\r\r\n", "\r");

	/* everything else works the same with CRLF */
	TP("[NAME]\r\n", params, "Ada");
	TP("x [NAME]\r\ny\r\n", params, "x Ada\ny");
	T("# c\r\na\r\n", "a");
	T("```markdown\r\n# a\r\n```\r\n# b\r\n", "```markdown\n# a\n```");
	T("  //include x\r\n", "  <D:include|x|1>");
	T("//include x\r\nb\r\n", "<D:include|x|1>\nb");
	TP("//include [LANG]\r\nb", params, "<D:include|fr|1>\nb");

	/* the directive's body does not keep the \r of its CRLF */
	tpl = PARSE(arena, "a\r\n  //include x\r\nb");
	expect_directive(__LINE__, tpl, 0, 2, "  ", true, "include", "x", 1);
	expect_shape(__LINE__, tpl, "L(a\n) D L(\nb)");
	if (tpl && tpl->ndirectives == 1)
	{
		TDir *d = &DEC(tpl)->directives[0];
		uint32_t	j;
		bool		has_cr = false;

		for (j = 0; j < d->body_count; j++)
		{
			TSeg  *s = &DEC(tpl)->body_segments[d->body_first + j];

			if (s->kind == PM_SEG_LITERAL &&
				memchr(tpl->pool + s->off, '\r', s->len) != NULL)
				has_cr = true;
		}
		check(!has_cr, __LINE__, "directive body keeps the \\r of CRLF");
	}
	arena_free(&arena, __LINE__);

	/* no \r of a CRLF is left in the literals */
	tpl = PARSE(arena, "a\r\nb\r\n\r\nc");
	expect_shape(__LINE__, tpl, "L(a\nb\n\nc)");
	arena_free(&arena, __LINE__);

	end_group();
}


/* ------------------------------------------------------------------------
 * Keywords: \[[A-Z _|]+\]
 * ------------------------------------------------------------------------
 */

static void
test_keywords(void)
{
	static const Param params[] = {
		{"[NAME]", "Ada"}, {"[FIRST NAME]", "Ada L."}, {"[A|B]", "ab"},
		{"[Z_Z]", "zz"}, {"[A]", "1"}, {"[B]", "2"}, {"[EMPTY]", ""},
		{NULL, NULL}
	};
	TestArena	arena;
	PmTemplate *tpl;
	StrBuf		text;

	begin_group("keywords");

	/* substitution, at line start and end, missing ones kept */
	TP("Hello [NAME]!", params, "Hello Ada!");
	TP("[NAME]", params, "Ada");
	TP("[NAME] at start", params, "Ada at start");
	TP("at end [NAME]", params, "at end Ada");
	TP("[NAME]\n[NAME]\n", params, "Ada\nAda");
	TP("[FIRST NAME], [A|B], [Z_Z]", params, "Ada L., ab, zz");
	TP("[MISSING] [NAME]", params, "[MISSING] Ada");
	TP("a[EMPTY]b", params, "ab");

	/* not keywords */
	TP("[name] [Name] [NAME_2] [1] [] a[b [NAME-X] [\xc3\x89]",
	   params,
	   "[name] [Name] [NAME_2] [1] [] a[b [NAME-X] [\xc3\x89]");
	TP("[A\tB] [A\nB]", params, "[A\tB] [A\nB]");

	/* overlapping brackets */
	TP("[[NAME]", params, "[Ada");
	TP("[NAME]]", params, "Ada]");
	TP("[[NAME]]", params, "[Ada]");
	TP("[A][B]", params, "12");
	TP("[A [B]", params, "[A 2");
	TP("[a[B]", params, "[a2");
	TP("[NAME_2][NAME]", params, "[NAME_2]Ada");

	/* unicode around keywords */
	TP("h\xc3\xa9llo [NAME] \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
	   "\xf0\x9f\x8e\x89[X]\xf0\x9f\x8e\x89",
	   params,
	   "h\xc3\xa9llo Ada \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
	   "\xf0\x9f\x8e\x89[X]\xf0\x9f\x8e\x89");

	/* structure: keyword names with brackets, in first-use order */
	tpl = PARSE(arena, "[NAME]");
	expect_counts(__LINE__, tpl, 1, 1, 0);
	expect_shape(__LINE__, tpl, "K([NAME])");
	if (tpl)
		check(tpl->literal_bytes == 0, __LINE__, "literal_bytes %llu",
			  (unsigned long long) tpl->literal_bytes);
	arena_free(&arena, __LINE__);

	tpl = PARSE(arena, "Hello [NAME]!\n");
	expect_shape(__LINE__, tpl, "L(Hello ) K([NAME]) L(!)");
	arena_free(&arena, __LINE__);

	tpl = PARSE(arena, "[ ] [_] [|] [FIRST NAME] [A|B] [Z_Z]");
	expect_keywords(__LINE__, tpl, "[ ],[_],[|],[FIRST NAME],[A|B],[Z_Z]");
	arena_free(&arena, __LINE__);

	tpl = PARSE(arena, "[A] [B] [A] [C] [B]");
	expect_keywords(__LINE__, tpl, "[A],[B],[C]");
	expect_shape(__LINE__, tpl,
				 "K([A]) L( ) K([B]) L( ) K([A]) L( ) K([C]) L( ) K([B])");
	if (tpl && tpl->nsegments == 9)
		check(DEC(tpl)->segments[0].off == 0 && DEC(tpl)->segments[2].off == 1 &&
			  DEC(tpl)->segments[4].off == 0 && DEC(tpl)->segments[6].off == 2 &&
			  DEC(tpl)->segments[8].off == 1, __LINE__,
			  "keyword segments do not point at the right keywords");
	arena_free(&arena, __LINE__);

	tpl = PARSE(arena, "[A][B]");
	expect_shape(__LINE__, tpl, "K([A]) K([B])");
	arena_free(&arena, __LINE__);

	tpl = PARSE(arena, "[A [B]");
	expect_shape(__LINE__, tpl, "L([A ) K([B])");
	arena_free(&arena, __LINE__);

	tpl = PARSE(arena, "[[NAME]");
	expect_shape(__LINE__, tpl, "L([) K([NAME])");
	arena_free(&arena, __LINE__);

	tpl = PARSE(arena, "[name] [NAME_2] [1] [] a[b");
	expect_counts(__LINE__, tpl, 1, 0, 0);
	arena_free(&arena, __LINE__);

	/* a repeated keyword is one entry */
	sb_init(&text);
	sb_repeat(&text, "[NAME] and ", 1000);
	tpl = parse_checked(__LINE__, &arena, text.data, text.len);
	expect_keywords(__LINE__, tpl, "[NAME]");
	if (tpl)
		check(tpl->nsegments == 2000, __LINE__, "nsegments %u",
			  tpl->nsegments);
	arena_free(&arena, __LINE__);
	sb_free(&text);

	/* a keyword used only in a directive is listed, in document order */
	tpl = PARSE(arena, "//include [B]\n[A] [B]");
	expect_keywords(__LINE__, tpl, "[B],[A]");
	arena_free(&arena, __LINE__);

	end_group();
}


/* ------------------------------------------------------------------------
 * Directives: lines whose stripped text starts with //
 * ------------------------------------------------------------------------
 */

static void
test_directives(void)
{
	static const Param params[] = {
		{"[LANG]", "fr"}, {"[CMD]", "include"}, {"[TWO]", "x y"},
		{NULL, NULL}
	};
	TestArena	arena;
	PmTemplate *tpl;

	begin_group("directives");

	/* rendered meaning */
	T("//include x", "<D:include|x|1>");
	T("// include x", "<D:include|x|1>");
	T("//include", "<D:include||0>");
	T("//", "<D:||0>");
	T("//  ", "<D:||0>");
	T("//include a b", "<D:include|a|2>");
	T("//include   a \t b  ", "<D:include|a|2>");
	T("//include x  ", "<D:include|x|1>");
	T("//include\tx", "<D:include|x|1>");
	T("//import x\n", "<D:import|x|1>");
	T("  //include x", "  <D:include|x|1>");
	T("\t //include x", "\t <D:include|x|1>");
	T("a\n  //include x\nb", "a\n  <D:include|x|1>\nb");
	T("//a\n//b c\n//d", "<D:a||0>\n<D:b|c|1>\n<D:d||0>");
	T("///x", "<D:/x||0>");
	T("//#x", "<D:#x||0>");
	T("//include h\xc3\xa9llo", "<D:include|h\xc3\xa9llo|1>");
	T("//include [lower]", "<D:include|[lower]|1>");
	T("//include a[b", "<D:include|a[b|1>");

	/* not directives */
	T("a // b", "a // b");
	T("/ /x", "/ /x");
	T("/x", "/x");
	T("x//", "x//");
	T("#//include x", "");

	/* keywords in the body are filled in before the body is read */
	TP("//include [LANG]_footer", params, "<D:include|fr_footer|1>");
	TP("//[CMD] x", params, "<D:include|x|1>");
	TP("  //include [LANG] [LANG]", params, "  <D:include|fr|2>");
	T("//include [LANG]", "<D:include|[LANG]|1>");

	/* static directive, one argument */
	tpl = PARSE(arena, "//include x");
	expect_counts(__LINE__, tpl, 1, 0, 1);
	expect_shape(__LINE__, tpl, "D");
	expect_directive(__LINE__, tpl, 0, 1, "", true, "include", "x", 1);
	if (tpl)
		check(tpl->literal_bytes == 0, __LINE__, "literal_bytes %llu",
			  (unsigned long long) tpl->literal_bytes);
	arena_free(&arena, __LINE__);

	/* words are split on runs of whitespace after // */
	tpl = PARSE(arena, "// include x");
	expect_directive(__LINE__, tpl, 0, 1, "", true, "include", "x", 1);
	arena_free(&arena, __LINE__);

	/* no argument, two arguments, nothing at all */
	tpl = PARSE(arena, "//include\n//include a  b\n//\n//  \n");
	expect_counts(__LINE__, tpl, 7, 0, 4);
	expect_directive(__LINE__, tpl, 0, 1, "", true, "include", "", 0);
	expect_directive(__LINE__, tpl, 1, 2, "", true, "include", "a", 2);
	expect_directive(__LINE__, tpl, 2, 3, "", true, "", "", 0);
	expect_directive(__LINE__, tpl, 3, 4, "", true, "", "", 0);
	expect_shape(__LINE__, tpl, "D L(\n) D L(\n) D L(\n) D");
	arena_free(&arena, __LINE__);

	/* the indentation belongs to the directive, not to a literal */
	tpl = PARSE(arena, "a\n  //include x\nb\n");
	expect_shape(__LINE__, tpl, "L(a\n) D L(\nb)");
	expect_directive(__LINE__, tpl, 0, 2, "  ", true, "include", "x", 1);
	expect_body_shape(__LINE__, tpl, 0, "L(//include x)");
	if (tpl)
		check(tpl->literal_bytes == 4, __LINE__, "literal_bytes %llu",
			  (unsigned long long) tpl->literal_bytes);
	arena_free(&arena, __LINE__);

	tpl = PARSE(arena, "\t \v//x");
	expect_directive(__LINE__, tpl, 0, 1, "\t \v", true, "x", "", 0);
	arena_free(&arena, __LINE__);

	/* a keyword in the body: not static, body segments around it */
	tpl = PARSE(arena, "  //include [LANG]_footer\n");
	expect_counts(__LINE__, tpl, 1, 1, 1);
	expect_keywords(__LINE__, tpl, "[LANG]");
	expect_directive(__LINE__, tpl, 0, 1, "  ", false, NULL, NULL, 0);
	expect_body_shape(__LINE__, tpl, 0, "L(//include ) K([LANG]) L(_footer)");
	arena_free(&arena, __LINE__);

	tpl = PARSE(arena, "//[CMD] [LANG]");
	expect_directive(__LINE__, tpl, 0, 1, "", false, NULL, NULL, 0);
	expect_body_shape(__LINE__, tpl, 0, "L(//) K([CMD]) L( ) K([LANG])");
	expect_keywords(__LINE__, tpl, "[CMD],[LANG]");
	arena_free(&arena, __LINE__);

	/* brackets that are not a keyword leave the directive static */
	tpl = PARSE(arena, "//include [lower] [1]");
	expect_directive(__LINE__, tpl, 0, 1, "", true, "include", "[lower]", 2);
	arena_free(&arena, __LINE__);

	/* line numbers count source lines, comments and CRLF included */
	tpl = PARSE(arena, "a\nb\n//x\n# c\n//y\r\n\r\n//z");
	expect_directive(__LINE__, tpl, 0, 3, "", true, "x", "", 0);
	expect_directive(__LINE__, tpl, 1, 5, "", true, "y", "", 0);
	expect_directive(__LINE__, tpl, 2, 7, "", true, "z", "", 0);
	arena_free(&arena, __LINE__);

	tpl = PARSE(arena, "<!-- a\nb -->\n//x");
	expect_directive(__LINE__, tpl, 0, 3, "", true, "x", "", 0);
	arena_free(&arena, __LINE__);

	/* inside a markdown fence: still a directive */
	tpl = PARSE(arena, "```markdown\n# kept\n  //include x\n```");
	expect_counts(__LINE__, tpl, 3, 0, 1);
	expect_directive(__LINE__, tpl, 0, 3, "  ", true, "include", "x", 1);
	arena_free(&arena, __LINE__);

	/* after __END__ or in an HTML comment: none */
	tpl = PARSE(arena, "//include x\n__END__\n//include y");
	expect_counts(__LINE__, tpl, 1, 0, 1);
	arena_free(&arena, __LINE__);

	tpl = PARSE(arena, "<!-- //include x -->\n<!--\n//include y\n-->\na");
	expect_counts(__LINE__, tpl, 1, 0, 0);
	expect_shape(__LINE__, tpl, "L(\n\na)");
	arena_free(&arena, __LINE__);

	/* a final newline after a directive is lost, blank lines are not */
	tpl = PARSE(arena, "//include x\n");
	expect_shape(__LINE__, tpl, "D");
	arena_free(&arena, __LINE__);

	tpl = PARSE(arena, "\n//x\n\n");
	expect_shape(__LINE__, tpl, "L(\n) D L(\n)");
	expect_directive(__LINE__, tpl, 0, 2, "", true, "x", "", 0);
	arena_free(&arena, __LINE__);

	end_group();
}


/* ------------------------------------------------------------------------
 * Bytes: NUL and other binary data are ordinary text
 * ------------------------------------------------------------------------
 */

static void
test_binary(void)
{
	TestArena	arena;
	PmTemplate *tpl;

	begin_group("NUL and binary bytes");

	T("a\0b", "a\0b");
	T("a\0b\n", "a\0b");
	T("\xff\xfe\x80\n", "\xff\xfe\x80");

	tpl = PARSE(arena, "[A]\0[B]");
	expect_shape_len(__LINE__, tpl, "K([A]) L(\0) K([B])", 18);
	if (tpl && tpl->nsegments == 3)
		check(DEC(tpl)->segments[1].len == 1, __LINE__, "NUL literal of length %u",
			  DEC(tpl)->segments[1].len);
	arena_free(&arena, __LINE__);

	end_group();
}


/* ------------------------------------------------------------------------
 * pm_is_keyword
 * ------------------------------------------------------------------------
 */

static void
expect_is_keyword(int line, const char *name, size_t len, bool expected)
{
	char	   *copy = exact_copy(name, len);

	check(pm_is_keyword(copy, len) == expected, line,
		  "pm_is_keyword(%s) should be %s", esc(name, len),
		  expected ? "true" : "false");
	free(copy);
}

#define KW_YES(s) expect_is_keyword(__LINE__, (s), sizeof(s) - 1, true)
#define KW_NO(s) expect_is_keyword(__LINE__, (s), sizeof(s) - 1, false)

static void
test_is_keyword(void)
{
	begin_group("pm_is_keyword");

	KW_YES("[NAME]");
	KW_YES("[FIRST NAME]");
	KW_YES("[A|B]");
	KW_YES("[Z_Z]");
	KW_YES("[A]");
	KW_YES("[ ]");
	KW_YES("[_]");
	KW_YES("[|]");
	KW_YES("[ABCDEFGHIJKLMNOPQRSTUVWXYZ _|]");

	KW_NO("");
	KW_NO("[");
	KW_NO("]");
	KW_NO("[]");
	KW_NO("NAME");
	KW_NO("[NAME");
	KW_NO("NAME]");
	KW_NO("[name]");
	KW_NO("[Name]");
	KW_NO("[NAME_2]");
	KW_NO("[1]");
	KW_NO("[NAME-X]");
	KW_NO("[A\tB]");
	KW_NO("[A\nB]");
	KW_NO("[\xc3\x89]");
	KW_NO("[[NAME]");
	KW_NO("[NAME]]");
	KW_NO("[NAME]x");
	KW_NO("x[NAME]");
	KW_NO(" [NAME]");
	KW_NO("[NAME] ");
	KW_NO("[A][B]");
	KW_NO("[A\0]");

	/* only len bytes are looked at */
	expect_is_keyword(__LINE__, "[NAME]xyz", 6, true);
	expect_is_keyword(__LINE__, "[NAME]", 5, false);
	expect_is_keyword(__LINE__, "[NAME]", 0, false);

	end_group();
}


/* ------------------------------------------------------------------------
 * pm_template_find_keyword
 * ------------------------------------------------------------------------
 */

static void
expect_find(int line, const PmTemplate *tpl, const char *name, size_t len,
			int expected)
{
	char	   *copy = exact_copy(name, len);
	int			got = pm_template_find_keyword(tpl, copy, len);

	check(got == expected, line, "find_keyword(%s) is %d, expected %d",
		  esc(name, len), got, expected);
	free(copy);
}

#define FIND(tpl, s, expected) \
	expect_find(__LINE__, (tpl), (s), sizeof(s) - 1, (expected))

static void
test_find_keyword(void)
{
	TestArena	arena;
	PmTemplate *tpl;

	begin_group("pm_template_find_keyword");

	tpl = PARSE(arena, "[A] [B] [A] [FIRST NAME]\n//include [LANG]\n# [C]");
	if (tpl)
	{
		FIND(tpl, "[A]", 0);
		FIND(tpl, "[B]", 1);
		FIND(tpl, "[FIRST NAME]", 2);
		FIND(tpl, "[LANG]", 3);
		FIND(tpl, "[C]", -1);	/* only on a comment line */
		FIND(tpl, "[D]", -1);
		FIND(tpl, "A", -1);
		FIND(tpl, "[a]", -1);
		FIND(tpl, "[A", -1);
		FIND(tpl, "[A] ", -1);
		FIND(tpl, "[FIRST]", -1);
		FIND(tpl, "", -1);
		expect_find(__LINE__, tpl, "[B]xyz", 3, 1);
		expect_find(__LINE__, tpl, "[A]", 2, -1);
	}
	arena_free(&arena, __LINE__);

	/* templates without keywords */
	tpl = PARSE(arena, "");
	if (tpl)
	{
		FIND(tpl, "[A]", -1);
		FIND(tpl, "", -1);
	}
	arena_free(&arena, __LINE__);

	tpl = PARSE(arena, "plain text\n//include x");
	if (tpl)
		FIND(tpl, "[A]", -1);
	arena_free(&arena, __LINE__);

	end_group();
}


/* ------------------------------------------------------------------------
 * pm_directive_split
 * ------------------------------------------------------------------------
 */

static void
expect_split(int line, const char *body, size_t len, const char *ename,
			 const char *earg, uint32_t enargs)
{
	char	   *copy = exact_copy(body, len);
	const char *name = NULL;
	const char *arg = NULL;
	size_t		name_len = 0;
	size_t		arg_len = 0;
	uint32_t	nargs;

	nargs = pm_directive_split(copy, len, &name, &name_len, &arg, &arg_len);
	check(nargs == enargs, line, "split(%s): %u arguments, expected %u",
		  esc(body, len), nargs, enargs);
	if (check(name_len == 0 || (name >= copy && name + name_len <= copy + len),
			  line, "split(%s): name outside the body", esc(body, len)))
		check_mem(line, "split: name", name, name_len, ename, strlen(ename));
	if (enargs > 0 &&
		check(arg != NULL && arg >= copy && arg + arg_len <= copy + len,
			  line, "split(%s): argument outside the body", esc(body, len)))
		check_mem(line, "split: first argument", arg, arg_len, earg,
				  strlen(earg));
	free(copy);
}

#define SPLIT(body, name, arg, nargs) \
	expect_split(__LINE__, (body), sizeof(body) - 1, (name), (arg), (nargs))

static void
test_directive_split(void)
{
	begin_group("pm_directive_split");

	SPLIT("//include x", "include", "x", 1);
	SPLIT("// include x", "include", "x", 1);
	SPLIT("//  include   x  ", "include", "x", 1);
	SPLIT("//include", "include", "", 0);
	SPLIT("//include ", "include", "", 0);
	SPLIT("//", "", "", 0);
	SPLIT("//   ", "", "", 0);
	SPLIT("//include a b c", "include", "a", 3);
	SPLIT("//include\ta\t\tb", "include", "a", 2);
	SPLIT("//include\va\fb\rc", "include", "a", 3);
	SPLIT("//import fr_footer", "import", "fr_footer", 1);
	SPLIT("///x y", "/x", "y", 1);
	SPLIT("//h\xc3\xa9llo w\xc3\xb6rld", "h\xc3\xa9llo", "w\xc3\xb6rld", 1);
	SPLIT("//include [lower]", "include", "[lower]", 1);

	/* only len bytes are looked at */
	expect_split(__LINE__, "//include x y", 11, "include", "x", 1);

	end_group();
}


/* ------------------------------------------------------------------------
 * Limits: allocation failures, the maximum length
 * ------------------------------------------------------------------------
 */

static void
test_allocation_failures(void)
{
	static const Param params[] = {{"[NAME]", "Ada"}, {NULL, NULL}};
	static const char text[] =
		"Hello [NAME] <!-- c -->\n# comment\n```markdown\n# kept\n```\n"
		"  //include [LANG]_x\n//include y z\n[A] [B] [C] [D] [E] [F] [G]\n"
		"__END__\nrest";
	static const char expected[] =
		"Hello Ada \n```markdown\n# kept\n```\n"
		"  <D:include|[LANG]_x|1>\n<D:include|y|2>\n"
		"[A] [B] [C] [D] [E] [F] [G]";
	long		fail_at;
	int			nnull = 0;
	bool		succeeded = false;

	begin_group("allocation failures");

	for (fail_at = 0; fail_at < 100000 && !succeeded; fail_at++)
	{
		TestArena	arena;
		PmTemplate *tpl;

		arena_init(&arena, fail_at);
		tpl = pm_template_parse(text, sizeof(text) - 1, &arena.allocator);
		if (tpl == NULL)
		{
			nnull++;
			check(arena.nrefused > 0, __LINE__,
				  "parse returned NULL though no allocation failed");
		}
		else
		{
			StrBuf		out;

			succeeded = true;
			if (check(template_is_well_formed(tpl), __LINE__,
					  "malformed template when allocation %ld fails",
					  fail_at) || nfatal == 0)
			{
				sb_init(&out);
				render(&out, tpl, params, NULL);
				check_str(__LINE__, "render", out.data, out.len, expected);
				sb_free(&out);
			}
		}
		arena_free(&arena, __LINE__);
	}
	check(succeeded, __LINE__, "parse never succeeded");
	check(nnull > 0, __LINE__, "parse made no allocation at all");

	end_group();
}

static void
test_max_length(void)
{
	static const char text[] = "x";
	pid_t		pid;
	int			status = 0;

	begin_group("maximum length");

	/*
	 * A text longer than PM_TEMPLATE_MAX_LEN gives NULL without being read.
	 * Run in a child so that a parser reading the (short) buffer cannot take
	 * the other tests down with it.
	 */
	fflush(stdout);
	pid = fork();
	if (pid == 0)
	{
		TestArena	arena;
		PmTemplate *tpl;

		arena_init(&arena, -1);
		tpl = pm_template_parse(text, PM_TEMPLATE_MAX_LEN + 1,
								&arena.allocator);
		arena_free(&arena, __LINE__);
		_exit(tpl == NULL ? 0 : 1);
	}
	if (check(pid > 0, __LINE__, "fork failed"))
	{
		waitpid(pid, &status, 0);
		check(WIFEXITED(status) && WEXITSTATUS(status) == 0, __LINE__,
			  "parse of PM_TEMPLATE_MAX_LEN + 1 bytes did not return NULL "
			  "(child status 0x%x)", status);
	}

	end_group();
}


/* ------------------------------------------------------------------------
 * Memory and the check hook
 *
 * With the resize and release hooks (the server's repalloc and pfree), a
 * parse keeps at most 3 bytes per byte of text live at any time (the pool
 * is one), and leaves its pool, code and keywords at their exact sizes.
 * The check hook is called at least once per PM_CHECK_INTERVAL bytes of
 * text, and may leave the parse with a longjmp (as a cancel does in the
 * server): the parse then holds nothing but the arena's blocks.
 * ------------------------------------------------------------------------
 */

typedef struct CheckCounter
{
	TestArena	arena;			/* first: the hook's ctx is the arena */
	size_t		calls;
	long		jump_at;
	jmp_buf		jump;
} CheckCounter;

static void
count_check(void *ctx)
{
	CheckCounter *cc = (CheckCounter *) ctx;

	if (cc->jump_at >= 0 && cc->calls == (size_t) cc->jump_at)
		longjmp(cc->jump, 1);
	cc->calls++;
}

static void
counter_init(CheckCounter *cc)
{
	arena_init(&cc->arena, -1);
	cc->arena.allocator.ctx = cc;	/* arena_* take the arena: it is first */
	cc->arena.allocator.resize = arena_resize;
	cc->arena.allocator.release = arena_release;
	cc->arena.allocator.check = count_check;
	cc->calls = 0;
	cc->jump_at = -1;
}

/* A text of about n bytes: shape repeated. */
static void
repeat_to(StrBuf *sb, const char *shape, size_t n)
{
	size_t		len = strlen(shape);

	sb_init(sb);
	sb_repeat(sb, shape, n / len);
}

static void
test_memory_and_checks(void)
{
	static const struct
	{
		const char *what;
		const char *shape;
	}			shapes[] = {
		{"//\\n", "//\n"},
		{"[A]", "[A]"},
		{"[A]x", "[A]x"},
		{"x\\n", "x\n"},
		{"//include a\\n", "//include a\n"},
		{"//x [A]\\n", "//x [A]\n"},
		{"#\\n (comment lines)", "#\n"},
		{"<!--\\n-->x", "<!--\n-->x"},
		{"\\r\\n", "\r\n"},
		{"<", "<"},
		{"[", "["},
		{"mix", "Hello [NAME],\n//include a\n# c\n<!-- c\n-->x\r\n//note [A]\n"},
	};
	size_t		i;
	const size_t n = 3 * 1024 * 1024;

	begin_group("memory and the check hook");

	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
	{
		CheckCounter cc;
		StrBuf		text;
		PmTemplate *tpl;
		char	   *copy;

		repeat_to(&text, shapes[i].shape, n);
		copy = exact_copy(text.data, text.len);
		counter_init(&cc);
		tpl = pm_template_parse(copy, text.len, &cc.arena.allocator);
		if (check(tpl != NULL, __LINE__, "%s: parse returned NULL", shapes[i].what))
		{
			printf("      %-24s %4.1f MB: peak %.2f x the text, %.2f x kept, "
				   "%zu checks\n", shapes[i].what, text.len / 1048576.0,
				   (double) cc.arena.peak / text.len,
				   (double) cc.arena.live / text.len, cc.calls);
			check(cc.arena.peak <= 3 * text.len, __LINE__,
				  "%s: %zu bytes live at the peak for %zu bytes of text",
				  shapes[i].what, cc.arena.peak, text.len);
			check(cc.calls >= text.len / PM_CHECK_INTERVAL, __LINE__,
				  "%s: %zu calls of the check hook for %zu bytes",
				  shapes[i].what, cc.calls, text.len);
			/* exact sizes: no room left over from growth */
			check(arena_block_size(&cc.arena, tpl->pool) == tpl->pool_len + 1,
				  __LINE__, "%s: pool block of %zu bytes for %u", shapes[i].what,
				  arena_block_size(&cc.arena, tpl->pool), tpl->pool_len + 1);
			check(arena_block_size(&cc.arena, tpl->code) ==
				  (tpl->code_len ? tpl->code_len : 1), __LINE__,
				  "%s: code block of %zu bytes for %u", shapes[i].what,
				  arena_block_size(&cc.arena, tpl->code), tpl->code_len);
			check(tpl->nkeywords == 0 ||
				  arena_block_size(&cc.arena, tpl->keywords) ==
				  tpl->nkeywords * sizeof(PmKeyword), __LINE__,
				  "%s: keywords block of %zu bytes for %u keywords",
				  shapes[i].what, arena_block_size(&cc.arena, tpl->keywords),
				  tpl->nkeywords);
			check(template_is_well_formed(tpl), __LINE__, "%s: malformed",
				  shapes[i].what);
		}
		arena_free(&cc.arena, __LINE__);

		/* a longjmp out of the check hook half-way leaves nothing behind */
		if (cc.calls > 0)
		{
			size_t		calls = cc.calls;
			PmTemplate *volatile got = NULL;
			bool		jumped = false;

			counter_init(&cc);
			cc.jump_at = (long) (calls / 2);
			if (setjmp(cc.jump) == 0)
				got = pm_template_parse(copy, text.len, &cc.arena.allocator);
			else
				jumped = true;
			check(jumped && got == NULL, __LINE__,
				  "%s: the parse did not stop at check %ld of %zu",
				  shapes[i].what, cc.jump_at, calls);
			arena_free(&cc.arena, __LINE__);
		}
		free(copy);
		sb_free(&text);
	}

	/* without a check hook, resize or release: the same template */
	{
		TestArena	arena;
		StrBuf		text;
		PmTemplate *tpl;

		repeat_to(&text, "a [B] c\n//include [D]\n", 100000);
		tpl = parse_checked(__LINE__, &arena, text.data, text.len);
		if (tpl != NULL)
			check(tpl->nkeywords == 2 && tpl->ndirectives == text.len / 22,
				  __LINE__, "%u keywords, %u directives", tpl->nkeywords,
				  tpl->ndirectives);
		arena_free(&arena, __LINE__);
		sb_free(&text);
	}

	end_group();
}


/* ------------------------------------------------------------------------
 * Large inputs: the parser must be linear.  No timing is asserted; the
 * times are printed for information.
 * ------------------------------------------------------------------------
 */

#define TEN_MB	(10 * 1024 * 1024)

/*
 * Parse text, check it, render it and compare.  Returns the template (the
 * caller frees the arena) for more checks.
 */
static PmTemplate *
large_case(int line, TestArena *arena, const char *what, const StrBuf *text,
		   const Param *params, const StrBuf *expected)
{
	double		t0 = now_seconds();
	double		t1;
	PmTemplate *tpl;
	char	   *copy = exact_copy(text->data, text->len);

	arena_init(arena, -1);
	tpl = pm_template_parse(copy, text->len, &arena->allocator);
	t1 = now_seconds();
	free(copy);
	printf("      %-46s %6.1f MB  %.3f s\n", what, text->len / 1048576.0,
		   t1 - t0);
	if (!check(tpl != NULL, line, "%s: parse returned NULL", what))
		return NULL;
	if (!check(template_is_well_formed(tpl), line, "%s: malformed", what) &&
		nfatal > 0)
		return NULL;
	if (expected != NULL)
	{
		StrBuf		out;

		sb_init(&out);
		render(&out, tpl, params, NULL);
		check_mem(line, what, out.data, out.len, expected->data,
				  expected->len);
		sb_free(&out);
	}
	return tpl;
}

static void
test_large_inputs(void)
{
	static const Param params[] = {{"[NAME]", "X"}, {NULL, NULL}};
	static const char block[] =
		"Line with [NAME] and <!-- c --> text\n# comment line\n"
		"  //include part_[NAME]\n```markdown\n# kept\n```\n";
	static const char block_out[] =
		"Line with X and  text\n  <D:include|part_X|1>\n"
		"```markdown\n# kept\n```\n";
	TestArena	arena;
	PmTemplate *tpl;
	StrBuf		text;
	StrBuf		expected;
	size_t		n;
	size_t		i;

	begin_group("large inputs (linear time)");

	/* a mix of every rule, 10 MB */
	n = TEN_MB / (sizeof(block) - 1);
	sb_init(&text);
	sb_init(&expected);
	sb_repeat(&text, block, n);
	sb_repeat(&expected, block_out, n);
	expected.len--;				/* the last newline is lost */
	tpl = large_case(__LINE__, &arena, "mixed rules", &text, params, &expected);
	if (tpl)
	{
		bool		lines_ok = true;

		expect_counts(__LINE__, tpl, (uint32_t) (4 * n + 1), 1, (uint32_t) n);
		for (i = 0; i < tpl->ndirectives && i < n; i++)
		{
			if (DEC(tpl)->directives[i].line_no != 6 * i + 3)
			{
				lines_ok = false;
				break;
			}
		}
		check(lines_ok, __LINE__, "directive %zu has line_no %u, expected %zu",
			  i, i < tpl->ndirectives ? DEC(tpl)->directives[i].line_no : 0,
			  6 * i + 3);
	}
	arena_free(&arena, __LINE__);
	sb_free(&text);
	sb_free(&expected);

	/* one 10 MB line */
	sb_init(&text);
	sb_repeat(&text, "abc ", TEN_MB / 4);
	tpl = large_case(__LINE__, &arena, "one long line", &text, NULL, &text);
	if (tpl)
		expect_counts(__LINE__, tpl, 1, 0, 0);
	arena_free(&arena, __LINE__);
	sb_free(&text);

	/* 10 MB of unclosed comment openings: all stay */
	sb_init(&text);
	sb_repeat(&text, "<!--", TEN_MB / 4);
	tpl = large_case(__LINE__, &arena, "unclosed <!-- repeated", &text, NULL,
					 &text);
	arena_free(&arena, __LINE__);
	sb_free(&text);

	/* the same, one line each: the '#' lines after them are dropped */
	sb_init(&text);
	sb_init(&expected);
	sb_repeat(&text, "<!-- a\n# b\n", TEN_MB / 11);
	sb_repeat(&expected, "<!-- a\n", TEN_MB / 11);
	expected.len--;
	tpl = large_case(__LINE__, &arena, "unclosed <!-- on many lines", &text,
					 NULL, &expected);
	arena_free(&arena, __LINE__);
	sb_free(&text);
	sb_free(&expected);

	/* a 10 MB comment */
	sb_init(&text);
	sb_init(&expected);
	sb_puts(&text, "a<!--");
	sb_repeat(&text, "x- -\n", TEN_MB / 5);
	sb_puts(&text, "-->b");
	sb_puts(&expected, "ab");
	tpl = large_case(__LINE__, &arena, "one huge comment", &text, NULL,
					 &expected);
	arena_free(&arena, __LINE__);
	sb_free(&text);
	sb_free(&expected);

	/* 10 MB of newlines, of comment lines, of fence openings */
	sb_init(&text);
	sb_init(&expected);
	sb_repeat(&text, "\n", TEN_MB);
	sb_repeat(&expected, "\n", TEN_MB - 1);
	tpl = large_case(__LINE__, &arena, "newlines", &text, NULL, &expected);
	arena_free(&arena, __LINE__);
	sb_free(&text);
	sb_free(&expected);

	sb_init(&text);
	sb_init(&expected);
	sb_repeat(&text, "# c\n", TEN_MB / 4);
	tpl = large_case(__LINE__, &arena, "comment lines", &text, NULL,
					 &expected);
	if (tpl)
		expect_counts(__LINE__, tpl, 0, 0, 0);
	arena_free(&arena, __LINE__);
	sb_free(&text);
	sb_free(&expected);

	sb_init(&text);
	sb_init(&expected);
	sb_repeat(&text, "```markdown\n", TEN_MB / 12);
	sb_puts(&text, "# kept\n");
	sb_repeat(&expected, "```markdown\n", TEN_MB / 12);
	sb_puts(&expected, "# kept");
	tpl = large_case(__LINE__, &arena, "nested fences", &text, NULL,
					 &expected);
	arena_free(&arena, __LINE__);
	sb_free(&text);
	sb_free(&expected);

	/* unclosed brackets: "[AAAA..." and "[A[A[A..." */
	sb_init(&text);
	sb_puts(&text, "[");
	sb_repeat(&text, "A B|", TEN_MB / 4);
	tpl = large_case(__LINE__, &arena, "one unclosed bracket", &text, NULL,
					 &text);
	if (tpl)
		expect_counts(__LINE__, tpl, 1, 0, 0);
	arena_free(&arena, __LINE__);
	sb_free(&text);

	sb_init(&text);
	sb_repeat(&text, "[A", TEN_MB / 2);
	tpl = large_case(__LINE__, &arena, "many unclosed brackets", &text, NULL,
					 &text);
	arena_free(&arena, __LINE__);
	sb_free(&text);

	/* 100,000 distinct keywords, each used twice */
	{
		const uint32_t nkw = 100000;
		char		name[8];
		uint32_t	pass;
		bool		order_ok = true;
		bool		find_ok = true;

		sb_init(&text);
		for (pass = 0; pass < 2; pass++)
		{
			for (i = 0; i < nkw; i++)
			{
				snprintf(name, sizeof(name), "[%c%c%c%c]",
						 'A' + (int) (i / 17576 % 26),
						 'A' + (int) (i / 676 % 26),
						 'A' + (int) (i / 26 % 26), 'A' + (int) (i % 26));
				sb_puts(&text, name);
				sb_puts(&text, " ");
			}
		}
		tpl = large_case(__LINE__, &arena, "100,000 distinct keywords",
						 &text, NULL, &text);
		if (tpl)
		{
			expect_counts(__LINE__, tpl, 4 * nkw, nkw, 0);
			for (i = 0; i < tpl->nkeywords && i < nkw; i++)
			{
				PmKeyword  *kw = &tpl->keywords[i];

				snprintf(name, sizeof(name), "[%c%c%c%c]",
						 'A' + (int) (i / 17576 % 26),
						 'A' + (int) (i / 676 % 26),
						 'A' + (int) (i / 26 % 26), 'A' + (int) (i % 26));
				if (kw->len != 6 || memcmp(tpl->pool + kw->off, name, 6) != 0)
					order_ok = false;
				if (pm_template_find_keyword(tpl, name, 6) != (int) i)
					find_ok = false;
			}
			check(order_ok, __LINE__, "keywords not in first-use order");
			check(find_ok, __LINE__, "find_keyword misses a keyword");
			check(pm_template_find_keyword(tpl, "[ZZZZ]", 6) == -1 &&
				  pm_template_find_keyword(tpl, "[GAAA]", 6) == -1, __LINE__,
				  "find_keyword finds an unused keyword");
		}
		arena_free(&arena, __LINE__);
		sb_free(&text);
	}

	/* 100,000 directive lines */
	{
		const uint32_t ndir = 100000;
		char		line[64];
		bool		ok = true;

		sb_init(&text);
		sb_init(&expected);
		for (i = 0; i < ndir; i++)
		{
			snprintf(line, sizeof(line), " //include p%zu\n", i);
			sb_puts(&text, line);
			snprintf(line, sizeof(line), " <D:include|p%zu|1>\n", i);
			sb_puts(&expected, line);
		}
		expected.len--;
		tpl = large_case(__LINE__, &arena, "100,000 directives", &text, NULL,
						 &expected);
		if (tpl)
		{
			expect_counts(__LINE__, tpl, 2 * ndir - 1, 0, ndir);
			for (i = 0; i < tpl->ndirectives; i++)
				if (DEC(tpl)->directives[i].line_no != i + 1 ||
					!DEC(tpl)->directives[i].is_static)
					ok = false;
			check(ok, __LINE__, "directive line numbers or static-ness wrong");
		}
		arena_free(&arena, __LINE__);
		sb_free(&text);
		sb_free(&expected);
	}

	end_group();
}


/* ------------------------------------------------------------------------
 * The gem's conformance cases
 *
 * test/data/gem_cases.json is read with the small JSON reader below (just
 * enough for that file: objects, arrays, strings, null, and numbers and
 * literals skipped over).  Each case is rendered with its parameters (a
 * history array gives its last element, null the empty string) and its
 * includes ("//include ID" and "//import ID" give the included text, after
 * the directive's indentation, as the gem does), and compared with what the
 * gem rendered.
 * ------------------------------------------------------------------------
 */

typedef struct JsonValue
{
	char		kind;			/* 'n' null, 's' string, 'a' array, 'o' object,
								 * 'x' anything else */
	char	   *str;			/* 's': decoded bytes, NUL-terminated */
	size_t		len;
	size_t		count;			/* 'a', 'o' */
	char	  **keys;			/* 'o' */
	struct JsonValue *items;	/* 'a', 'o' */
} JsonValue;

typedef struct JsonReader
{
	const char *p;
	const char *end;
} JsonReader;

static void
json_skip_blanks(JsonReader *r)
{
	while (r->p < r->end &&
		   (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static void
json_put_utf8(StrBuf *sb, unsigned long cp)
{
	char		b[4];
	size_t		n;

	if (cp < 0x80)
	{
		b[0] = (char) cp;
		n = 1;
	}
	else if (cp < 0x800)
	{
		b[0] = (char) (0xc0 | (cp >> 6));
		b[1] = (char) (0x80 | (cp & 0x3f));
		n = 2;
	}
	else if (cp < 0x10000)
	{
		b[0] = (char) (0xe0 | (cp >> 12));
		b[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char) (0x80 | (cp & 0x3f));
		n = 3;
	}
	else
	{
		b[0] = (char) (0xf0 | (cp >> 18));
		b[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char) (0x80 | (cp & 0x3f));
		n = 4;
	}
	sb_append(sb, b, n);
}

static bool
json_hex4(JsonReader *r, unsigned long *cp)
{
	int			i;

	*cp = 0;
	if (r->end - r->p < 4)
		return false;
	for (i = 0; i < 4; i++)
	{
		char		c = *r->p++;

		*cp <<= 4;
		if (c >= '0' && c <= '9')
			*cp |= c - '0';
		else if (c >= 'a' && c <= 'f')
			*cp |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			*cp |= c - 'A' + 10;
		else
			return false;
	}
	return true;
}

/* Read a string (r->p at its opening quote) into sb. */
static bool
json_string(JsonReader *r, StrBuf *sb)
{
	r->p++;
	while (r->p < r->end && *r->p != '"')
	{
		char		c = *r->p++;
		unsigned long cp;
		unsigned long lo;

		if (c != '\\')
		{
			sb_append(sb, &c, 1);
			continue;
		}
		if (r->p >= r->end)
			return false;
		c = *r->p++;
		switch (c)
		{
			case 'n':
				sb_puts(sb, "\n");
				break;
			case 'r':
				sb_puts(sb, "\r");
				break;
			case 't':
				sb_puts(sb, "\t");
				break;
			case 'b':
				sb_puts(sb, "\b");
				break;
			case 'f':
				sb_puts(sb, "\f");
				break;
			case 'u':
				if (!json_hex4(r, &cp))
					return false;
				if (cp >= 0xd800 && cp < 0xdc00 &&
					r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u')
				{
					r->p += 2;
					if (!json_hex4(r, &lo))
						return false;
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				}
				if (cp == 0)
					sb_append(sb, "\0", 1);
				else
					json_put_utf8(sb, cp);
				break;
			default:			/* \" \\ \/ */
				sb_append(sb, &c, 1);
				break;
		}
	}
	if (r->p >= r->end)
		return false;
	r->p++;
	return true;
}

static bool
json_value(JsonReader *r, JsonValue *v)
{
	memset(v, 0, sizeof(*v));
	json_skip_blanks(r);
	if (r->p >= r->end)
		return false;

	if (*r->p == '"')
	{
		StrBuf		sb;

		sb_init(&sb);
		v->kind = 's';
		v->str = sb.data;
		if (!json_string(r, &sb))
		{
			v->str = sb.data;
			return false;
		}
		v->str = sb.data;
		v->len = sb.len;
		return true;
	}
	if (*r->p == '[' || *r->p == '{')
	{
		bool		is_object = (*r->p == '{');
		char		close = is_object ? '}' : ']';
		size_t		cap = 0;

		v->kind = is_object ? 'o' : 'a';
		r->p++;
		json_skip_blanks(r);
		if (r->p < r->end && *r->p == close)
		{
			r->p++;
			return true;
		}
		for (;;)
		{
			if (v->count == cap)
			{
				cap = cap ? cap * 2 : 8;
				v->items = realloc(v->items, cap * sizeof(JsonValue));
				v->keys = realloc(v->keys, cap * sizeof(char *));
				if (v->items == NULL || v->keys == NULL)
					exit(2);
			}
			v->keys[v->count] = NULL;
			memset(&v->items[v->count], 0, sizeof(JsonValue));
			v->count++;
			if (is_object)
			{
				StrBuf		key;

				json_skip_blanks(r);
				if (r->p >= r->end || *r->p != '"')
					return false;
				sb_init(&key);
				v->keys[v->count - 1] = key.data;
				if (!json_string(r, &key))
				{
					v->keys[v->count - 1] = key.data;
					return false;
				}
				v->keys[v->count - 1] = key.data;
				json_skip_blanks(r);
				if (r->p >= r->end || *r->p++ != ':')
					return false;
			}
			if (!json_value(r, &v->items[v->count - 1]))
				return false;
			json_skip_blanks(r);
			if (r->p < r->end && *r->p == ',')
			{
				r->p++;
				continue;
			}
			if (r->p < r->end && *r->p == close)
			{
				r->p++;
				return true;
			}
			return false;
		}
	}
	if (r->end - r->p >= 4 && memcmp(r->p, "null", 4) == 0)
	{
		v->kind = 'n';
		r->p += 4;
		return true;
	}
	/* numbers, true, false: skipped */
	v->kind = 'x';
	while (r->p < r->end && *r->p != ',' && *r->p != ']' && *r->p != '}')
		r->p++;
	return true;
}

static void
json_free(JsonValue *v)
{
	size_t		i;

	free(v->str);
	for (i = 0; i < v->count; i++)
	{
		if (v->keys)
			free(v->keys[i]);
		json_free(&v->items[i]);
	}
	free(v->keys);
	free(v->items);
}

static const JsonValue *
json_get(const JsonValue *obj, const char *key)
{
	size_t		i;

	if (obj->kind != 'o')
		return NULL;
	for (i = 0; i < obj->count; i++)
		if (obj->keys[i] && strcmp(obj->keys[i], key) == 0)
			return &obj->items[i];
	return NULL;
}

/*
 * Turn a JSON object into a Param table (the caller frees the table, not
 * the strings, which belong to the JSON value).  A history array gives its
 * last element, null or an empty array the empty string.
 */
static Param *
json_params(const JsonValue *obj)
{
	Param	   *params;
	size_t		i;
	size_t		n = 0;

	params = calloc((obj && obj->kind == 'o' ? obj->count : 0) + 1,
					sizeof(Param));
	if (params == NULL)
		exit(2);
	for (i = 0; obj && obj->kind == 'o' && i < obj->count; i++)
	{
		const JsonValue *v = &obj->items[i];

		if (v->kind == 'a')
			v = v->count > 0 ? &v->items[v->count - 1] : NULL;
		params[n].name = obj->keys[i];
		params[n].value = (v != NULL && v->kind == 's') ? v->str : "";
		n++;
	}
	return params;
}

static char *
read_whole_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	StrBuf		sb;
	char		buf[65536];
	size_t		n;

	if (f == NULL)
		return NULL;
	sb_init(&sb);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sb_append(&sb, buf, n);
	fclose(f);
	*len = sb.len;
	return sb.data;
}

static void
test_gem_conformance(const char *path)
{
	char	   *data;
	size_t		len = 0;
	JsonReader	reader;
	JsonValue	root;
	size_t		i;

	begin_group("gem conformance cases");

	data = read_whole_file(path, &len);
	if (!check(data != NULL, __LINE__,
			   "cannot read %s (run from the repository root, or give the "
			   "path as the first argument)", path))
	{
		end_group();
		return;
	}
	reader.p = data;
	reader.end = data + len;
	if (check(json_value(&reader, &root) && root.kind == 'a' &&
			  root.count > 0, __LINE__, "%s is not a JSON array of cases",
			  path))
	{
		for (i = 0; i < root.count; i++)
		{
			const JsonValue *c = &root.items[i];
			const JsonValue *id = json_get(c, "id");
			const JsonValue *text = json_get(c, "text");
			const JsonValue *expected = json_get(c, "expected");
			Param	   *params;
			Param	   *includes;
			TestArena	arena;
			PmTemplate *tpl;
			char		what[200];

			if (!check(id && id->kind == 's' && text && text->kind == 's' &&
					   expected && expected->kind == 's', __LINE__,
					   "case %zu: missing id, text or expected", i))
				continue;
			params = json_params(json_get(c, "params"));
			includes = json_params(json_get(c, "includes"));
			tpl = parse_checked(__LINE__, &arena, text->str, text->len);
			if (tpl != NULL)
			{
				StrBuf		out;

				sb_init(&out);
				render(&out, tpl, params, includes);
				snprintf(what, sizeof(what), "gem case %s", id->str);
				check_mem(__LINE__, what, out.data, out.len,
						  expected->str, expected->len);
				sb_free(&out);
			}
			arena_free(&arena, __LINE__);
			free(params);
			free(includes);
		}
	}
	json_free(&root);
	free(data);

	end_group();
}


/* ------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------
 */

int
main(int argc, char **argv)
{
	const char *gem_cases = argc > 1 ? argv[1] : "test/data/gem_cases.json";

	setvbuf(stdout, NULL, _IOLBF, 0);

	test_lines();
	test_html_comments();
	test_end_marker();
	test_comment_lines();
	test_markdown_fences();
	test_crlf();
	test_keywords();
	test_directives();
	test_binary();
	test_is_keyword();
	test_find_keyword();
	test_directive_split();
	test_allocation_failures();
	test_max_length();
	test_memory_and_checks();
	test_large_inputs();
	test_gem_conformance(gem_cases);

	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed > 0 ? 1 : 0;
}
