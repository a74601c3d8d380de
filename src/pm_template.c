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
 * ones, in place, and appends the segments of each kept line to the code
 * (see pm_template.h for its encoding).
 *
 * Memory: the pool, the code and the keywords are grown with the
 * allocator's resize and cut to their exact size at the end, so a compile
 * leaves the pool (at most the text), the code (at most about 0.7 bytes per
 * byte of text, usually far less) and a few bytes per distinct keyword.
 * Every loop over the input calls the allocator's check hook, so that the
 * server can cancel a compile.
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
	uint32_t	code_cap;
	uint32_t	keywords_cap;
	bool		failed;			/* an allocation returned NULL */
	size_t		work;			/* since the last call of the check hook */

	uint32_t	pending_literal;	/* literal bytes not yet in the code */
	bool		in_body;		/* appending a directive's body */
	uint32_t	last_line_no;	/* of the last directive */

	/*
	 * Newlines inside removed HTML comments: the line starting after pool
	 * position pos is lines further down in the source text.  Entry i is
	 * the 8 bytes (pos, lines) that end 8 * i bytes before shifts_end, in
	 * the pool's own free tail: a comment that holds a newline is at least
	 * 8 bytes ("<!--\n-->") that the kept text does not take, so the
	 * entries never meet the kept text (nor its final NUL), and cost no
	 * memory of their own.
	 */
	char	   *shifts_end;		/* tpl->pool + the text's length + 1 */
	uint32_t	nline_shifts;
} PmParser;

/* Line shift i: its pool position and number of lines. */
static inline uint32_t
pm_shift_pos(const PmParser *parser, uint32_t i)
{
	uint32_t	v;

	memcpy(&v, parser->shifts_end - 8 * (i + 1), 4);
	return v;
}

static inline uint32_t
pm_shift_lines(const PmParser *parser, uint32_t i)
{
	uint32_t	v;

	memcpy(&v, parser->shifts_end - 8 * (i + 1) + 4, 4);
	return v;
}

static inline void
pm_shift_set(PmParser *parser, uint32_t i, uint32_t pos, uint32_t lines)
{
	memcpy(parser->shifts_end - 8 * (i + 1), &pos, 4);
	memcpy(parser->shifts_end - 8 * (i + 1) + 4, &lines, 4);
}

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
 * Resize ptr (old_size bytes, or NULL) to size bytes, with the allocator's
 * realloc when it has one, else with a new block (the old one is kept).
 */
static void *
pm_realloc(PmParser *parser, void *ptr, size_t old_size, size_t size)
{
	void	   *new_ptr;

	if (parser->failed)
		return NULL;
	if (ptr == NULL)
		return pm_alloc(parser, size);
	if (size == 0)
		size = 1;
	if (parser->allocator->resize != NULL)
	{
		new_ptr = parser->allocator->resize(parser->allocator->ctx, ptr, size);
		if (new_ptr == NULL)
			parser->failed = true;
		return new_ptr;
	}
	if (size <= old_size)
		return ptr;
	new_ptr = pm_alloc(parser, size);
	if (new_ptr != NULL)
		memcpy(new_ptr, ptr, old_size);
	return new_ptr;
}

/* Give ptr back, when the allocator can. */
static void
pm_free(PmParser *parser, void *ptr)
{
	if (ptr != NULL && parser->allocator->release != NULL)
		parser->allocator->release(parser->allocator->ctx, ptr);
}

/*
 * Count n units of work (bytes, lines...) and call the check hook every
 * PM_CHECK_INTERVAL of them.  The hook may not return.
 */
static inline void
pm_progress(PmParser *parser, size_t n)
{
	parser->work += n;
	if (parser->work >= PM_CHECK_INTERVAL)
	{
		parser->work = 0;
		if (parser->allocator->check != NULL)
			parser->allocator->check(parser->allocator->ctx);
	}
}

/*
 * Make room for more elements in a growable array, growing its capacity
 * by half (with the allocator's resize no old copy is kept; when resize
 * copies, old and new together stay under 2.5 times what is used).  The
 * array is cut to its exact size at the end of the parse.
 */
static bool
pm_grow(PmParser *parser, void **array, uint32_t *cap, uint32_t count,
		uint32_t more, size_t elem_size)
{
	uint32_t	new_cap;
	void	   *new_array;

	if ((uint64_t) count + more <= *cap)
		return true;
	if (*cap >= UINT32_MAX / 4)
	{
		parser->failed = true;
		return false;
	}
	new_cap = *cap ? *cap + *cap / 2 : 16;
	while ((uint64_t) count + more > new_cap)
		new_cap += new_cap / 2;
	new_array = pm_realloc(parser, *array, (size_t) *cap * elem_size,
						   (size_t) new_cap * elem_size);
	if (new_array == NULL)
		return false;
	*array = new_array;
	*cap = new_cap;
	return true;
}

/* Cut *array from cap to exactly count elements. */
static void
pm_trim(PmParser *parser, void **array, uint32_t cap, uint32_t count,
		size_t elem_size)
{
	void	   *new_array;

	if (*array == NULL || count == cap || parser->allocator->resize == NULL)
		return;
	new_array = pm_realloc(parser, *array, (size_t) cap * elem_size,
						   (size_t) count * elem_size);
	if (new_array != NULL)
		*array = new_array;
}

/* Append v to the code as a LEB128 varint. */
static void
pm_emit_varint(PmParser *parser, uint64_t v)
{
	PmTemplate *tpl = parser->tpl;

	if (!pm_grow(parser, (void **) &tpl->code, &parser->code_cap,
				 tpl->code_len, 5, 1))
		return;
	while (v >= 0x80)
	{
		tpl->code[tpl->code_len++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	tpl->code[tpl->code_len++] = (uint8_t) v;
}

/* Write v as a varint to buf; returns its length (at most 5). */
static uint32_t
pm_put_varint(uint8_t *buf, uint64_t v)
{
	uint32_t	n = 0;

	while (v >= 0x80)
	{
		buf[n++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	buf[n++] = (uint8_t) v;
	return n;
}

/* Put the literal bytes seen so far into the code, as one operation. */
static void
pm_flush_literal(PmParser *parser)
{
	PmTemplate *tpl = parser->tpl;

	if (parser->pending_literal == 0)
		return;
	pm_emit_varint(parser, (parser->pending_literal << 2) | PM_OP_LITERAL);
	if (parser->in_body)
		tpl->nbody_segments++;
	else
	{
		tpl->nsegments++;
		tpl->literal_bytes += parser->pending_literal;
	}
	parser->pending_literal = 0;
}

/*
 * The next len bytes of the pool are literal: they merge with the literal
 * bytes before them, the pool holding the segments in order.
 */
static inline void
pm_add_literal(PmParser *parser, uint32_t len)
{
	parser->pending_literal += len;
}

/* The next bytes of the pool are a use of keyword k. */
static void
pm_add_keyword(PmParser *parser, uint32_t k)
{
	pm_flush_literal(parser);
	pm_emit_varint(parser, (k << 2) | PM_OP_KEYWORD);
	if (parser->in_body)
		parser->tpl->nbody_segments++;
	else
		parser->tpl->nsegments++;
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
pm_count_newlines(PmParser *parser, const char *text, size_t len)
{
	uint32_t	n = 0;
	const char *p = text;
	const char *end = text + len;

	while ((p = memchr(p, '\n', end - p)) != NULL)
	{
		n++;
		p++;
		pm_progress(parser, 16);
	}
	return n;
}

/* The first "<!--" (or "-->" for close) in [p, end), or NULL. */
static const char *
pm_find_marker(PmParser *parser, const char *p, const char *end, bool close)
{
	const char *start = p;
	char		first = close ? '-' : '<';
	const char *marker = close ? "-->" : "<!--";
	size_t		mlen = close ? 3 : 4;

	while ((p = memchr(p, first, end - p)) != NULL)
	{
		if ((size_t) (end - p) >= mlen && memcmp(p, marker, mlen) == 0)
			break;
		p++;
		pm_progress(parser, 16);
	}
	pm_progress(parser, (p ? p : end) - start);
	return p;
}

/*
 * Copy text to dst without its HTML comments (non-greedy "<!--.*?-->",
 * across lines).  An opening "<!--" without a closing "-->" stays, and so
 * does everything after it.  Comments that held newlines are recorded in
 * the pool's tail (see PmParser).  Returns the number of bytes written.
 */
static size_t
pm_strip_html_comments(PmParser *parser, const char *text, size_t len,
					   char *dst)
{
	size_t		pos = 0;
	size_t		out = 0;
	const char *end = text + len;

	while (pos < len && !parser->failed)
	{
		const char *open;
		const char *close = NULL;
		uint32_t	newlines;

		/* the next "<!--", and the first "-->" after it */
		open = pm_find_marker(parser, text + pos, end, false);
		if (open != NULL)
			close = pm_find_marker(parser, open + 4, end, true);
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

		newlines = pm_count_newlines(parser, open, close - open);
		if (newlines > 0)
		{
			/* 8 * entries <= bytes removed = pos - out: below the text */
			pm_shift_set(parser, parser->nline_shifts, (uint32_t) out, newlines);
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
	size_t		in = 0;
	size_t		out = 0;
	uint32_t	shift = 0;

	while (in < len)
	{
		/* the bytes up to the next '\r' (or shift position) move as a block */
		const char *cr = memchr(buf + in, '\r', len - in);
		size_t		stop = cr ? (size_t) (cr - buf) : len;

		while (shift < parser->nline_shifts && pm_shift_pos(parser, shift) <= stop)
		{
			pm_shift_set(parser, shift,
						 (uint32_t) (out + (pm_shift_pos(parser, shift) - in)),
						 pm_shift_lines(parser, shift));
			shift++;
		}
		if (out != in)
			memmove(buf + out, buf + in, stop - in);
		out += stop - in;
		pm_progress(parser, stop - in + 16);
		in = stop;
		if (in >= len)
			break;
		/* buf[in] is '\r': dropped when a '\n' follows */
		if (!(in + 1 < len && buf[in + 1] == '\n'))
			buf[out++] = '\r';
		in++;
	}
	for (; shift < parser->nline_shifts; shift++)
		pm_shift_set(parser, shift, (uint32_t) out, pm_shift_lines(parser, shift));
	return out;
}

/* Rebuild the keyword index with nslots slots. */
static bool
pm_keyword_index_build(PmParser *parser, uint32_t nslots)
{
	PmTemplate *tpl = parser->tpl;
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
		pm_progress(parser, 16);
	}
	pm_free(parser, tpl->keyword_index);
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
		!pm_keyword_index_build(parser, (tpl->keyword_index_mask + 1) * 2))
		return 0;
	if (!pm_grow(parser, (void **) &tpl->keywords, &parser->keywords_cap,
				 tpl->nkeywords, 1, sizeof(PmKeyword)))
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
 * Append the literal and keyword segments of pool[start..end) to the code.
 * Returns the number of keywords found.
 */
static uint32_t
pm_scan_keywords(PmParser *parser, uint32_t start, uint32_t end)
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
		pm_progress(parser, p - pos + 16);
		if (p < end && pool[p] == ']' && p > name_start + 1)
		{
			uint32_t	kw;

			pm_add_literal(parser, name_start - lit_start);
			kw = pm_intern_keyword(parser, name_start, p + 1 - name_start);
			pm_add_keyword(parser, kw);
			nfound++;
			lit_start = pos = p + 1;
		}
		else
		{
			/* the bytes skipped are keyword characters: none is a '[' */
			pos = p;
		}
	}
	pm_add_literal(parser, end - lit_start);
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

/*
 * Compile one directive line, pool[ls..le) with its body from ns: its
 * header, and the operations of its body when the body has a keyword.
 */
static void
pm_add_directive(PmParser *parser, uint32_t line_no, uint32_t ls,
				 uint32_t ns, uint32_t le)
{
	PmTemplate *tpl = parser->tpl;
	uint32_t	hdr;
	uint32_t	nbody_before;
	uint32_t	nkw;
	uint32_t	delta = line_no - parser->last_line_no;
	uint64_t	line_arg;
	uint8_t		head[15];
	uint32_t	head_len;
	uint32_t	body_len;

	pm_flush_literal(parser);
	if (parser->failed)
		return;
	parser->last_line_no = line_no;
	tpl->ndirectives++;
	tpl->nsegments++;

	/* the body's operations first, at hdr; dropped again when static */
	hdr = tpl->code_len;
	nbody_before = tpl->nbody_segments;
	parser->in_body = true;
	nkw = pm_scan_keywords(parser, ns, le);
	pm_flush_literal(parser);
	parser->in_body = false;
	if (parser->failed)
		return;

	line_arg = ((uint64_t) (le - ls) << 1) | (delta == 1 ? 1 : 0);
	if (nkw == 0)
	{
		tpl->code_len = hdr;
		tpl->nbody_segments = nbody_before + 1;
		pm_emit_varint(parser, (line_arg << 2) | PM_OP_DIRECTIVE);
		if (delta != 1)
			pm_emit_varint(parser, delta);
		return;
	}

	/* move the body up to make room for the header in front of it */
	body_len = tpl->code_len - hdr;
	head_len = pm_put_varint(head, (line_arg << 2) | PM_OP_DIRECTIVE_KW);
	if (delta != 1)
		head_len += pm_put_varint(head + head_len, delta);
	head_len += pm_put_varint(head + head_len, body_len);
	if (!pm_grow(parser, (void **) &tpl->code, &parser->code_cap,
				 tpl->code_len, head_len, 1))
		return;
	memmove(tpl->code + hdr + head_len, tpl->code + hdr, body_len);
	memcpy(tpl->code + hdr, head, head_len);
	tpl->code_len += head_len;
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
 * back the newlines they held (see PmParser.shifts_end).
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

		pm_progress(parser, le - ls + 16);
		line_no++;
		while (next_shift < parser->nline_shifts &&
			   pm_shift_pos(parser, next_shift) < ls)
			line_no += pm_shift_lines(parser, next_shift++);

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
				pm_add_literal(parser, 1);
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
				pm_scan_keywords(parser, start, start + (le - ls));
		}
		if (nl == NULL)
			break;
		ls = le + 1;
	}
	pm_flush_literal(parser);
	tpl->pool_len = out;
	pool[out] = '\0';
}

PmTemplate *
pm_template_parse(const char *text, size_t len, const PmAllocator *allocator)
{
	PmParser	parser;
	PmTemplate *tpl;
	size_t		clean_len;

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
	parser.shifts_end = tpl->pool + len + 1;
	clean_len = pm_strip_html_comments(&parser, text, len, tpl->pool);
	if (parser.failed)
		return NULL;
	clean_len = pm_fold_crlf(&parser, tpl->pool, clean_len);
	tpl->pool[clean_len] = '\0';
	tpl->pool_len = (uint32_t) clean_len;

	/* an empty keyword index of 16 slots, and room for a few operations */
	if (!pm_keyword_index_build(&parser, 16))
		return NULL;
	tpl->code = pm_alloc(&parser, 16);
	if (tpl->code == NULL)
		return NULL;
	parser.code_cap = 16;

	pm_compile_lines(&parser);
	if (parser.failed)
		return NULL;

	/* give back what growth left over */
	pm_trim(&parser, (void **) &tpl->pool, (uint32_t) len + 1,
			tpl->pool_len + 1, 1);
	pm_trim(&parser, (void **) &tpl->code, parser.code_cap, tpl->code_len, 1);
	pm_trim(&parser, (void **) &tpl->keywords, parser.keywords_cap,
			tpl->nkeywords, sizeof(PmKeyword));
	if (parser.failed)
		return NULL;
	return tpl;
}
