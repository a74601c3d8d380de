/*-------------------------------------------------------------------------
 *
 * pm_template.h
 *		Template parsing: turn a prompt's text into a compiled template.
 *
 * This module is plain C over a byte buffer: it makes no server calls, so
 * it can be unit-tested and fuzzed outside PostgreSQL (see test/unit).  All
 * memory comes from the caller's allocator.
 *
 * The compiled form applies every rule of the text format that depends on
 * the template alone (HTML comments, __END__, '#' comment lines and markdown
 * fences, CRLF, joining lines with '\n') and leaves a flat list of segments:
 *
 *	 literal	bytes copied to the output as they are
 *	 keyword	a [KEYWORD] slot, filled from the parameters at render time
 *	 directive	a '//' line; its own segments (literal/keyword) describe the
 *				line after its indentation, so "//include [LANG]_footer" can
 *				be filled in before the directive is read
 *
 * Consecutive literal bytes (including the '\n' joining kept lines) are
 * merged into one segment, so a template without keywords or directives is
 * a single literal.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_TEMPLATE_H
#define PM_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum PmSegmentKind
{
	PM_SEG_LITERAL = 0,
	PM_SEG_KEYWORD,
	PM_SEG_DIRECTIVE
} PmSegmentKind;

/*
 * The compiled form is compact: its size is a small fraction of the text's
 * (README, Reliability).  The pool holds the kept text, and the top-level
 * segments cover it exactly, in order: so no segment stores an offset, only
 * a length.  PmTemplate.code is a byte string of operations, each a LEB128
 * varint v with the operation in v & 3 and its argument in v >> 2:
 *
 *	 PM_OP_LITERAL		argument: length of the literal
 *	 PM_OP_KEYWORD		argument: index in keywords (the name is its length)
 *	 PM_OP_DIRECTIVE	argument: length of the line, indentation included,
 *						times 2, plus 1 when the line number is the previous
 *						directive's plus 1; otherwise a varint follows: the
 *						line number minus the previous directive's (a static
 *						directive: no keyword in the line)
 *	 PM_OP_DIRECTIVE_KW as PM_OP_DIRECTIVE, then a varint n and n bytes of
 *						literal and keyword operations, the line's body from
 *						its "//" to its end
 *
 * A directive's indentation and, when it is static, its name and argument
 * are found again in its line when it is rendered.  Read the code with
 * pm_segments_begin/pm_segments_next, never directly.
 */
#define PM_OP_LITERAL		0
#define PM_OP_KEYWORD		1
#define PM_OP_DIRECTIVE		2
#define PM_OP_DIRECTIVE_KW	3

/*
 * One piece of a compiled template, as pm_segments_next decodes it.  off
 * and len locate in PmTemplate.pool the bytes it stands for:
 *	 literal:	the bytes copied to the output as they are
 *	 keyword:	this use of the keyword's name, brackets included
 *	 directive: the whole line, indentation included; the body is the line
 *				after its indent_len bytes of leading whitespace
 */
typedef struct PmSegment
{
	PmSegmentKind kind;
	uint32_t	off;
	uint32_t	len;
	uint32_t	keyword;		/* keyword: index in PmTemplate.keywords */
	uint32_t	line_no;		/* directive: 1-based line in the source */
	uint32_t	indent_len;		/* directive: leading whitespace */
	bool		is_static;		/* directive: no keyword in the body */
	uint32_t	body_code;		/* directive: its body's operations in code */
	uint32_t	body_code_len;	/* (0 when static) */
} PmSegment;

/* A distinct keyword, brackets included ("[NAME]"), stored in the pool. */
typedef struct PmKeyword
{
	uint32_t	off;
	uint32_t	len;
} PmKeyword;

/*
 * Allocator supplied by the caller.  alloc may return NULL (standalone).
 * The other hooks may be NULL:
 *	 resize		resize a block (NULL: a new block is taken and the old one
 *				kept until ctx is released)
 *	 release	give a block back (NULL: kept until ctx is released)
 *	 check		called at least every PM_CHECK_INTERVAL bytes (or lines, or
 *				keywords) of work; it may not return (a longjmp), and the
 *				parser holds nothing but the allocator's blocks
 */
typedef struct PmAllocator
{
	void	   *(*alloc) (void *ctx, size_t size);
	void	   *ctx;
	void	   *(*resize) (void *ctx, void *ptr, size_t size);
	void		(*release) (void *ctx, void *ptr);
	void		(*check) (void *ctx);
} PmAllocator;

#define PM_CHECK_INTERVAL	65536

typedef struct PmTemplate
{
	char	   *pool;			/* the kept text: literals, keyword names */
	uint32_t	pool_len;

	uint8_t    *code;			/* the segments, encoded (see above) */
	uint32_t	code_len;

	PmKeyword  *keywords;		/* distinct keywords, first-use order */
	uint32_t	nkeywords;

	/* open-addressing index over keywords: slot -> keyword index + 1 */
	uint32_t   *keyword_index;
	uint32_t	keyword_index_mask;

	/* counts, for information */
	uint32_t	nsegments;		/* top-level segments */
	uint32_t	nbody_segments; /* segments of directive bodies */
	uint32_t	ndirectives;

	uint64_t	literal_bytes;	/* sum of top-level literal lengths */
} PmTemplate;

/* Where pm_segments_next is in a list of segments. */
typedef struct PmSegmentIter
{
	const uint8_t *p;			/* next operation */
	const uint8_t *end;
	uint32_t	pos;			/* pool offset of the next segment */
	uint32_t	line_no;		/* of the last directive */
	uint32_t	rest;			/* a static body: its one literal, to come */
} PmSegmentIter;

/* Read a varint (up to 35 bits: a directive's operation) at *p. */
static inline uint64_t
pm_read_varint(const uint8_t **p)
{
	const uint8_t *q = *p;
	uint64_t	v = *q & 0x7f;
	int			shift = 7;

	while (*q++ & 0x80)
	{
		v |= (uint64_t) (*q & 0x7f) << shift;
		shift += 7;
	}
	*p = q;
	return v;
}

/* Ruby's String#strip whitespace: space, \t, \n, \v, \f, \r and NUL. */
static inline bool
pm_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' ||
		c == '\f' || c == '\r' || c == '\0';
}

/* Start reading the top-level segments of tpl. */
static inline void
pm_segments_begin(const PmTemplate *tpl, PmSegmentIter *it)
{
	it->p = tpl->code;
	it->end = tpl->code + tpl->code_len;
	it->pos = 0;
	it->line_no = 0;
	it->rest = 0;
}

/* Start reading the body segments of directive dir (literals, keywords). */
static inline void
pm_segments_body(const PmTemplate *tpl, const PmSegment *dir,
				 PmSegmentIter *it)
{
	it->p = tpl->code + dir->body_code;
	it->end = it->p + dir->body_code_len;
	it->pos = dir->off + dir->indent_len;
	it->line_no = dir->line_no;
	it->rest = dir->is_static ? dir->len - dir->indent_len : 0;
}

/* Decode the next segment into *seg; false at the end of the list. */
static inline bool
pm_segments_next(const PmTemplate *tpl, PmSegmentIter *it, PmSegment *seg)
{
	uint64_t	v;
	uint64_t	arg;

	if (it->rest > 0)
	{
		seg->kind = PM_SEG_LITERAL;
		seg->off = it->pos;
		seg->len = it->rest;
		it->pos += it->rest;
		it->rest = 0;
		return true;
	}
	if (it->p >= it->end)
		return false;
	v = pm_read_varint(&it->p);
	arg = v >> 2;
	seg->off = it->pos;
	switch (v & 3)
	{
		case PM_OP_LITERAL:
			seg->kind = PM_SEG_LITERAL;
			seg->len = (uint32_t) arg;
			break;
		case PM_OP_KEYWORD:
			seg->kind = PM_SEG_KEYWORD;
			seg->keyword = (uint32_t) arg;
			seg->len = tpl->keywords[arg].len;
			break;
		default:
			seg->kind = PM_SEG_DIRECTIVE;
			seg->len = (uint32_t) (arg >> 1);
			it->line_no += (arg & 1) ? 1 : (uint32_t) pm_read_varint(&it->p);
			seg->line_no = it->line_no;
			seg->indent_len = 0;
			while (seg->indent_len < seg->len &&
				   pm_is_space(tpl->pool[it->pos + seg->indent_len]))
				seg->indent_len++;
			seg->is_static = (v & 3) == PM_OP_DIRECTIVE;
			seg->body_code_len = seg->is_static ? 0 :
				(uint32_t) pm_read_varint(&it->p);
			seg->body_code = (uint32_t) (it->p - tpl->code);
			it->p += seg->body_code_len;
			break;
	}
	it->pos += seg->len;
	return true;
}

/*
 * Parse text[0..len) into a compiled template.  Returns NULL only when the
 * allocator returns NULL or the text is larger than PM_TEMPLATE_MAX_LEN.
 */
#define PM_TEMPLATE_MAX_LEN ((size_t) 0x3fffffff)
extern PmTemplate *pm_template_parse(const char *text, size_t len,
									 const PmAllocator *allocator);

/*
 * Index of the keyword named name[0..len) (brackets included) in the
 * template, or -1 when the template does not use it.
 */
extern int	pm_template_find_keyword(const PmTemplate *tpl,
									 const char *name, size_t len);

/* Does name[0..len) have the form of a keyword: \[[A-Z _|]+\] ? */
extern bool pm_is_keyword(const char *name, size_t len);

/*
 * Split a directive body (the text from "//" to the end of the line) into
 * its name and first argument.  Returns the number of argument words.
 */
extern uint32_t pm_directive_split(const char *body, size_t len,
								   const char **name, size_t *name_len,
								   const char **arg, size_t *arg_len);

#endif							/* PM_TEMPLATE_H */
