/*-------------------------------------------------------------------------
 *
 * pm_template.c
 *		Template parsing: the prompt text format compiled into segments.
 *
 * Plain C over a byte buffer, no server calls (see pm_template.h).  One pass
 * removes HTML comments, one folds CRLF, and one walks the lines; each step
 * is linear in the size of the text, so the whole parse is too.
 *
 * The text is copied once, into the template's pool, without its HTML
 * comments; the line walk then moves the kept lines down over the dropped
 * ones, in place.  Literal segments, keyword names and directive words all
 * point into that one buffer.
 *
 *-------------------------------------------------------------------------
 */
#include "pm_template.h"

#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* Parser state: the template being built and the growth of its arrays. */
typedef struct PmParser
{
	const PmAllocator *allocator;
	PmTemplate *tpl;
	uint32_t	segments_cap;
	uint32_t	body_segments_cap;
	uint32_t	keywords_cap;
	uint32_t	directives_cap;
	bool		failed;			/* an allocation returned NULL */

	/*
	 * Newlines inside removed HTML comments: the line starting after pool
	 * position pos is lines further down in the source text.
	 */
	struct PmLineShift
	{
		uint32_t	pos;
		uint32_t	lines;
	}		   *line_shifts;
	uint32_t	nline_shifts;
	uint32_t	line_shifts_cap;
} PmParser;

static void *
pm_alloc(PmParser *parser, size_t size)
{
	void	   *ptr;

	if (parser->failed)
		return NULL;
	ptr = parser->allocator->alloc(parser->allocator->ctx, size ? size : 1);
	if (ptr == NULL)
		parser->failed = true;
	return ptr;
}

/*
 * Make room for one more element in a growable array, doubling its
 * capacity.  The allocator has no free: the old array stays in the caller's
 * memory until that is released, which at most doubles the space used.
 */
static bool
pm_grow(PmParser *parser, void **array, uint32_t *cap, uint32_t count,
		size_t elem_size)
{
	uint32_t	new_cap;
	void	   *new_array;

	if (count < *cap)
		return true;
	if (*cap >= UINT32_MAX / 2)
	{
		parser->failed = true;
		return false;
	}
	new_cap = *cap ? *cap * 2 : 16;
	new_array = pm_alloc(parser, (size_t) new_cap * elem_size);
	if (new_array == NULL)
		return false;
	if (count > 0)
		memcpy(new_array, *array, (size_t) count * elem_size);
	*array = new_array;
	*cap = new_cap;
	return true;
}

/* Characters allowed between the brackets of a keyword: [A-Z _|] */
static inline bool
pm_is_keyword_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == ' ' || c == '_' || c == '|';
}

bool
pm_is_keyword(const char *name, size_t len)
{
	size_t		i;

	if (len < 3 || name[0] != '[' || name[len - 1] != ']')
		return false;
	for (i = 1; i < len - 1; i++)
	{
		if (!pm_is_keyword_char(name[i]))
			return false;
	}
	return true;
}

/* Count the newlines in text[0..len). */
static uint32_t
pm_count_newlines(const char *text, size_t len)
{
	uint32_t	n = 0;
	const char *p = text;
	const char *end = text + len;

	while ((p = memchr(p, '\n', end - p)) != NULL)
	{
		n++;
		p++;
	}
	return n;
}

/*
 * Copy text to dst without its HTML comments (non-greedy "<!--.*?-->",
 * across lines).  An opening "<!--" without a closing "-->" stays, and so
 * does everything after it.  Comments that held newlines are recorded in
 * parser->line_shifts.  Returns the number of bytes written.
 */
static size_t
pm_strip_html_comments(PmParser *parser, const char *text, size_t len,
					   char *dst)
{
	size_t		pos = 0;
	size_t		out = 0;

	while (pos < len)
	{
		const char *open = NULL;
		const char *close = NULL;
		const char *p = text + pos;
		const char *end = text + len;
		uint32_t	newlines;

		/* find the next "<!--" */
		while ((p = memchr(p, '<', end - p)) != NULL)
		{
			if (end - p >= 4 && memcmp(p, "<!--", 4) == 0)
			{
				open = p;
				break;
			}
			p++;
		}
		/* and the first "-->" after it */
		if (open != NULL)
		{
			p = open + 4;
			while ((p = memchr(p, '-', end - p)) != NULL)
			{
				if (end - p >= 3 && memcmp(p, "-->", 3) == 0)
				{
					close = p;
					break;
				}
				p++;
			}
		}
		if (close == NULL)
		{
			/* no complete comment left: the rest is kept as it is */
			memcpy(dst + out, text + pos, len - pos);
			out += len - pos;
			break;
		}
		memcpy(dst + out, text + pos, open - (text + pos));
		out += open - (text + pos);
		pos = (close + 3) - text;

		newlines = pm_count_newlines(open, close - open);
		if (newlines > 0 &&
			pm_grow(parser, (void **) &parser->line_shifts,
					&parser->line_shifts_cap, parser->nline_shifts,
					sizeof(struct PmLineShift)))
		{
			parser->line_shifts[parser->nline_shifts].pos = (uint32_t) out;
			parser->line_shifts[parser->nline_shifts].lines = newlines;
			parser->nline_shifts++;
		}
	}
	return out;
}

/*
 * Fold every "\r\n" into "\n" in place; returns the new length.  The
 * recorded line shifts move with the bytes.
 */
static size_t
pm_fold_crlf(PmParser *parser, char *buf, size_t len)
{
	size_t		in;
	size_t		out = 0;
	uint32_t	shift = 0;

	for (in = 0; in < len; in++)
	{
		while (shift < parser->nline_shifts && parser->line_shifts[shift].pos == in)
			parser->line_shifts[shift++].pos = (uint32_t) out;
		if (buf[in] == '\r' && in + 1 < len && buf[in + 1] == '\n')
			continue;
		buf[out++] = buf[in];
	}
	while (shift < parser->nline_shifts)
		parser->line_shifts[shift++].pos = (uint32_t) out;
	return out;
}

/* Append a literal, merging it into the previous one when contiguous. */
static void
pm_add_literal(PmParser *parser, PmSegment **segs, uint32_t *nsegs,
			   uint32_t *cap, uint32_t off, uint32_t len)
{
	PmSegment  *last;

	if (len == 0)
		return;
	if (*nsegs > 0)
	{
		last = &(*segs)[*nsegs - 1];
		if (last->kind == PM_SEG_LITERAL && last->off + last->len == off)
		{
			last->len += len;
			return;
		}
	}
	if (!pm_grow(parser, (void **) segs, cap, *nsegs, sizeof(PmSegment)))
		return;
	(*segs)[*nsegs].kind = PM_SEG_LITERAL;
	(*segs)[*nsegs].off = off;
	(*segs)[*nsegs].len = len;
	(*nsegs)++;
}

static void
pm_add_segment(PmParser *parser, PmSegment **segs, uint32_t *nsegs,
			   uint32_t *cap, PmSegmentKind kind, uint32_t off)
{
	if (!pm_grow(parser, (void **) segs, cap, *nsegs, sizeof(PmSegment)))
		return;
	(*segs)[*nsegs].kind = kind;
	(*segs)[*nsegs].off = off;
	(*segs)[*nsegs].len = 0;
	(*nsegs)++;
}

/* Rebuild the keyword index with twice the slots. */
static bool
pm_keyword_index_grow(PmParser *parser)
{
	PmTemplate *tpl = parser->tpl;
	uint32_t	nslots = (tpl->keyword_index_mask + 1) * 2;
	uint32_t   *slots;
	uint32_t	i;

	slots = pm_alloc(parser, (size_t) nslots * sizeof(uint32_t));
	if (slots == NULL)
		return false;
	memset(slots, 0, (size_t) nslots * sizeof(uint32_t));
	for (i = 0; i < tpl->nkeywords; i++)
	{
		PmKeyword  *kw = &tpl->keywords[i];
		uint32_t	slot = (uint32_t) XXH3_64bits(tpl->pool + kw->off, kw->len) & (nslots - 1);

		while (slots[slot] != 0)
			slot = (slot + 1) & (nslots - 1);
		slots[slot] = i + 1;
	}
	tpl->keyword_index = slots;
	tpl->keyword_index_mask = nslots - 1;
	return true;
}

int
pm_template_find_keyword(const PmTemplate *tpl, const char *name, size_t len)
{
	uint32_t	slot;

	if (tpl->keyword_index == NULL)
		return -1;
	slot = (uint32_t) XXH3_64bits(name, len) & tpl->keyword_index_mask;
	for (;;)
	{
		uint32_t	entry = tpl->keyword_index[slot];
		const PmKeyword *kw;

		if (entry == 0)
			return -1;
		kw = &tpl->keywords[entry - 1];
		if (kw->len == len && memcmp(tpl->pool + kw->off, name, len) == 0)
			return (int) (entry - 1);
		slot = (slot + 1) & tpl->keyword_index_mask;
	}
}

/* The index of the keyword at pool[off..off+len), added when new. */
static uint32_t
pm_intern_keyword(PmParser *parser, uint32_t off, uint32_t len)
{
	PmTemplate *tpl = parser->tpl;
	int			found;

	found = pm_template_find_keyword(tpl, tpl->pool + off, len);
	if (found >= 0)
		return (uint32_t) found;

	/* keep the index at most half full */
	if ((tpl->nkeywords + 1) * 2 > tpl->keyword_index_mask + 1 &&
		!pm_keyword_index_grow(parser))
		return 0;
	if (!pm_grow(parser, (void **) &tpl->keywords, &parser->keywords_cap,
				 tpl->nkeywords, sizeof(PmKeyword)))
		return 0;

	tpl->keywords[tpl->nkeywords].off = off;
	tpl->keywords[tpl->nkeywords].len = len;
	{
		uint32_t	slot = (uint32_t) XXH3_64bits(tpl->pool + off, len) & tpl->keyword_index_mask;

		while (tpl->keyword_index[slot] != 0)
			slot = (slot + 1) & tpl->keyword_index_mask;
		tpl->keyword_index[slot] = tpl->nkeywords + 1;
	}
	return tpl->nkeywords++;
}

/*
 * Split pool[start..end) into literal and keyword segments, appended to
 * *segs.  Returns the number of keywords found.
 */
static uint32_t
pm_scan_keywords(PmParser *parser, uint32_t start, uint32_t end,
				 PmSegment **segs, uint32_t *nsegs, uint32_t *cap)
{
	const char *pool = parser->tpl->pool;
	uint32_t	lit_start = start;
	uint32_t	pos = start;
	uint32_t	nfound = 0;

	while (pos < end && !parser->failed)
	{
		const char *open = memchr(pool + pos, '[', end - pos);
		uint32_t	name_start;
		uint32_t	p;

		if (open == NULL)
			break;
		name_start = (uint32_t) (open - pool);
		p = name_start + 1;
		while (p < end && pm_is_keyword_char(pool[p]))
			p++;
		if (p < end && pool[p] == ']' && p > name_start + 1)
		{
			uint32_t	kw;

			pm_add_literal(parser, segs, nsegs, cap, lit_start,
						   name_start - lit_start);
			kw = pm_intern_keyword(parser, name_start, p + 1 - name_start);
			pm_add_segment(parser, segs, nsegs, cap, PM_SEG_KEYWORD, kw);
			nfound++;
			lit_start = pos = p + 1;
		}
		else
		{
			/* the bytes skipped are keyword characters: none is a '[' */
			pos = p;
		}
	}
	pm_add_literal(parser, segs, nsegs, cap, lit_start, end - lit_start);
	return nfound;
}

uint32_t
pm_directive_split(const char *body, size_t len,
				   const char **name, size_t *name_len,
				   const char **arg, size_t *arg_len)
{
	size_t		pos = 0;
	uint32_t	nwords = 0;

	*name = NULL;
	*name_len = 0;
	*arg = NULL;
	*arg_len = 0;

	/* skip the leading whitespace and the "//" */
	while (pos < len && pm_is_space(body[pos]))
		pos++;
	if (pos + 2 <= len && body[pos] == '/' && body[pos + 1] == '/')
		pos += 2;

	while (pos < len)
	{
		size_t		word_start;

		while (pos < len && pm_is_space(body[pos]))
			pos++;
		if (pos >= len)
			break;
		word_start = pos;
		while (pos < len && !pm_is_space(body[pos]))
			pos++;
		if (nwords == 0)
		{
			*name = body + word_start;
			*name_len = pos - word_start;
		}
		else if (nwords == 1)
		{
			*arg = body + word_start;
			*arg_len = pos - word_start;
		}
		nwords++;
	}
	return nwords > 0 ? nwords - 1 : 0;
}

/* Compile one directive line: indent pool[ls..ns), body pool[ns..le). */
static void
pm_add_directive(PmParser *parser, uint32_t line_no, uint32_t ls,
				 uint32_t ns, uint32_t le)
{
	PmTemplate *tpl = parser->tpl;
	PmDirective *dir;
	uint32_t	nkw;

	if (!pm_grow(parser, (void **) &tpl->directives, &parser->directives_cap,
				 tpl->ndirectives, sizeof(PmDirective)))
		return;
	dir = &tpl->directives[tpl->ndirectives];
	memset(dir, 0, sizeof(PmDirective));
	dir->line_no = line_no;
	dir->indent_off = ls;
	dir->indent_len = ns - ls;
	dir->body_first = tpl->nbody_segments;

	nkw = pm_scan_keywords(parser, ns, le, &tpl->body_segments,
						   &tpl->nbody_segments, &parser->body_segments_cap);
	if (parser->failed)
		return;
	/* pm_scan_keywords may have reallocated: take the pointer again */
	dir = &tpl->directives[tpl->ndirectives];
	dir->body_count = tpl->nbody_segments - dir->body_first;

	if (nkw == 0)
	{
		const char *name;
		const char *arg;
		size_t		name_len;
		size_t		arg_len;

		dir->is_static = true;
		dir->nargs = pm_directive_split(tpl->pool + ns, le - ns,
										&name, &name_len, &arg, &arg_len);
		dir->name_off = name ? (uint32_t) (name - tpl->pool) : ns;
		dir->name_len = (uint32_t) name_len;
		dir->arg_off = arg ? (uint32_t) (arg - tpl->pool) : ns;
		dir->arg_len = (uint32_t) arg_len;
	}
	pm_add_segment(parser, &tpl->segments, &tpl->nsegments,
				   &parser->segments_cap, PM_SEG_DIRECTIVE, tpl->ndirectives);
	tpl->ndirectives++;
}

/*
 * Walk the cleaned text line by line: stop at __END__, drop comment lines
 * outside markdown fences, compile directive lines and keyword lines.
 *
 * Kept lines are moved down in place, each after a '\n' joining it to the
 * previous kept line, so that the pool ends up holding exactly the kept
 * text and consecutive literal bytes always merge into one segment.  The
 * write position never passes the read position: only bytes are dropped.
 *
 * Line numbers are those of the source text: removed HTML comments give
 * back the newlines they held (see PmParser.line_shifts).
 */
static void
pm_compile_lines(PmParser *parser)
{
	PmTemplate *tpl = parser->tpl;
	char	   *pool = tpl->pool;
	uint32_t	len = tpl->pool_len;
	uint32_t	ls = 0;			/* read position: start of the line */
	uint32_t	out = 0;		/* write position */
	uint32_t	line_no = 0;
	uint32_t	next_shift = 0;
	uint32_t	fence_depth = 0;
	bool		any_kept = false;

	/* "a\n" is one line: a final '\n' starts no new line */
	while (ls < len && !parser->failed)
	{
		const char *nl = memchr(pool + ls, '\n', len - ls);
		uint32_t	le = nl ? (uint32_t) (nl - pool) : len;
		uint32_t	ns = ls;
		uint32_t	ne = le;
		uint32_t	start;

		line_no++;
		while (next_shift < parser->nline_shifts &&
			   parser->line_shifts[next_shift].pos < ls)
			line_no += parser->line_shifts[next_shift++].lines;

		if (le - ls == 7 && memcmp(pool + ls, "__END__", 7) == 0)
			break;

		while (ns < ne && pm_is_space(pool[ns]))
			ns++;
		while (ne > ns && pm_is_space(pool[ne - 1]))
			ne--;

		if (ne - ns >= 3 && memcmp(pool + ns, "```", 3) == 0)
		{
			if (ne - ns == 11 && memcmp(pool + ns, "```markdown", 11) == 0)
				fence_depth++;
			else if (fence_depth > 0)
				fence_depth--;
		}

		if (fence_depth > 0 || ns == ne || pool[ns] != '#')
		{
			bool		directive = ne - ns >= 2 && pool[ns] == '/' && pool[ns + 1] == '/';

			if (any_kept)
			{
				pool[out] = '\n';
				pm_add_literal(parser, &tpl->segments, &tpl->nsegments,
							   &parser->segments_cap, out, 1);
				out++;
			}
			any_kept = true;

			/* move the line down to out; offsets below are the new ones */
			start = out;
			if (out != ls)
				memmove(pool + out, pool + ls, le - ls);
			out += le - ls;

			if (directive)
				pm_add_directive(parser, line_no, start, start + (ns - ls),
								 start + (le - ls));
			else
				pm_scan_keywords(parser, start, start + (le - ls),
								 &tpl->segments, &tpl->nsegments,
								 &parser->segments_cap);
		}
		if (nl == NULL)
			break;
		ls = le + 1;
	}
	tpl->pool_len = out;
	pool[out] = '\0';
}

PmTemplate *
pm_template_parse(const char *text, size_t len, const PmAllocator *allocator)
{
	PmParser	parser;
	PmTemplate *tpl;
	size_t		clean_len;
	uint32_t	i;

	if (len > PM_TEMPLATE_MAX_LEN)
		return NULL;

	memset(&parser, 0, sizeof(parser));
	parser.allocator = allocator;

	tpl = pm_alloc(&parser, sizeof(PmTemplate));
	if (tpl == NULL)
		return NULL;
	memset(tpl, 0, sizeof(PmTemplate));
	parser.tpl = tpl;

	tpl->pool = pm_alloc(&parser, len + 1);
	if (tpl->pool == NULL)
		return NULL;
	clean_len = pm_strip_html_comments(&parser, text, len, tpl->pool);
	if (parser.failed)
		return NULL;
	clean_len = pm_fold_crlf(&parser, tpl->pool, clean_len);
	tpl->pool[clean_len] = '\0';
	tpl->pool_len = (uint32_t) clean_len;

	/* an empty keyword index of 16 slots */
	tpl->keyword_index = pm_alloc(&parser, 16 * sizeof(uint32_t));
	if (tpl->keyword_index == NULL)
		return NULL;
	memset(tpl->keyword_index, 0, 16 * sizeof(uint32_t));
	tpl->keyword_index_mask = 15;

	pm_compile_lines(&parser);
	if (parser.failed)
		return NULL;

	for (i = 0; i < tpl->nsegments; i++)
	{
		if (tpl->segments[i].kind == PM_SEG_LITERAL)
			tpl->literal_bytes += tpl->segments[i].len;
	}
	return tpl;
}
