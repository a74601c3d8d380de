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
 * One piece of a compiled template.
 *	 literal:	off/len locate the bytes in PmTemplate.pool
 *	 keyword:	off is the keyword's index in PmTemplate.keywords
 *	 directive: off is the directive's index in PmTemplate.directives
 */
typedef struct PmSegment
{
	uint32_t	kind;
	uint32_t	off;
	uint32_t	len;
} PmSegment;

/* A distinct keyword, brackets included ("[NAME]"), stored in the pool. */
typedef struct PmKeyword
{
	uint32_t	off;
	uint32_t	len;
} PmKeyword;

/*
 * A directive line.  indent_off/indent_len locate its leading whitespace in
 * the pool (kept in the output before an included prompt).  body_first and
 * body_count locate, in PmTemplate.body_segments, the segments of the line
 * from its "//" to its end.  When the body has no keyword the directive is
 * static: name and argument words are known now (all in the pool).
 */
typedef struct PmDirective
{
	uint32_t	line_no;		/* 1-based line number in the source text */
	uint32_t	indent_off;
	uint32_t	indent_len;
	uint32_t	body_first;
	uint32_t	body_count;
	bool		is_static;
	uint32_t	name_off;		/* static only: directive name */
	uint32_t	name_len;
	uint32_t	nargs;			/* static only: number of argument words */
	uint32_t	arg_off;		/* static only: first argument word */
	uint32_t	arg_len;
} PmDirective;

/* Allocator supplied by the caller; alloc may return NULL (standalone). */
typedef struct PmAllocator
{
	void	   *(*alloc) (void *ctx, size_t size);
	void	   *ctx;
} PmAllocator;

typedef struct PmTemplate
{
	char	   *pool;			/* the kept text: literals, keyword names */
	uint32_t	pool_len;

	PmSegment  *segments;		/* the template, in output order */
	uint32_t	nsegments;

	PmSegment  *body_segments;	/* segments of directive lines */
	uint32_t	nbody_segments;

	PmKeyword  *keywords;		/* distinct keywords, first-use order */
	uint32_t	nkeywords;

	PmDirective *directives;
	uint32_t	ndirectives;

	/* open-addressing index over keywords: slot -> keyword index + 1 */
	uint32_t   *keyword_index;
	uint32_t	keyword_index_mask;

	uint64_t	literal_bytes;	/* sum of top-level literal lengths */
} PmTemplate;

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

/* Ruby's String#strip whitespace: space, \t, \n, \v, \f, \r and NUL. */
static inline bool
pm_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' ||
		c == '\f' || c == '\r' || c == '\0';
}

/*
 * Split a directive body (the text from "//" to the end of the line) into
 * its name and first argument.  Returns the number of argument words.
 */
extern uint32_t pm_directive_split(const char *body, size_t len,
								   const char **name, size_t *name_len,
								   const char **arg, size_t *arg_len);

#endif							/* PM_TEMPLATE_H */
