/*-------------------------------------------------------------------------
 *
 * pm_ref.h
 *		References to prompts: "id" (the head), "id@3" (version 3) and
 *		"id@production" (the version a label points to).
 *
 * A reference is parsed in one place, here.  Prompt ids cannot hold '@'
 * (pm_prompts' check), so the first '@' splits it without ambiguity.  What
 * follows is a version when it is all digits (1 .. 2147483647), a label
 * when it is [a-z][a-z0-9_-]* of at most 63 bytes (so a label never looks
 * like a number), and an error otherwise.
 *
 * PM_REF_LABEL_OR_HEAD is never written: it is what an include without '@'
 * becomes in a render whose root is a label (the included prompt's version
 * with that label when it has it, else its head; see docs/versions-render.md).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_REF_H
#define PM_REF_H

typedef enum PmRefKind
{
	PM_REF_HEAD = 0,			/* "id" */
	PM_REF_VERSION = 1,			/* "id@3" */
	PM_REF_LABEL = 2,			/* "id@production" */
	PM_REF_LABEL_OR_HEAD = 3	/* an include "id" in a render of a label */
} PmRefKind;

#define PM_LABEL_MAX_LEN 63

typedef struct PmRef
{
	PmRefKind	kind;
	const char *id;				/* the prompt id (not NUL-terminated) */
	size_t		id_len;
	int32		version;		/* PM_REF_VERSION */
	const char *label;			/* the LABEL kinds (not NUL-terminated) */
	size_t		label_len;
} PmRef;

/*
 * Parse text[0..len) into *ref (which points into text).  NULL when it is
 * a reference; otherwise a sentence saying what is wrong with it (palloc'd,
 * for an errdetail), and *ref is undefined.
 */
extern const char *pm_ref_parse(const char *text, size_t len, PmRef *ref);

/*
 * pm_ref_parse for an argument of a SQL function: a bad reference is an
 * error (22023) naming it.
 */
extern void pm_ref_parse_arg(const char *text, size_t len, PmRef *ref);

/*
 * The reference's key, palloc'd and NUL-terminated: "id", "id@3",
 * "id@production", and for PM_REF_LABEL_OR_HEAD "id@production?" (a '?'
 * is in neither an id nor a label).  Two references with the same key
 * resolve alike in one snapshot.
 */
extern char *pm_ref_key(const PmRef *ref);

/*
 * A reference's kind and its key back (the inverse of pm_ref_key, for a
 * key that pm_ref_key made).
 */
extern void pm_ref_from_key(const char *key, size_t len, PmRef *ref);

#endif							/* PM_REF_H */
