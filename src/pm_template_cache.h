/*-------------------------------------------------------------------------
 *
 * pm_template_cache.h
 *		Per-backend cache of compiled prompts, keyed by prompt and revision.
 *
 * The caller's snapshot, privileges and row-level security decide what is
 * rendered: the revision the snapshot sees is checked on every use (from
 * pm_visibility's per-snapshot memo, or by reading the row).  The cache
 * saves parsing the text again when that revision is one it compiled.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_TEMPLATE_CACHE_H
#define PM_TEMPLATE_CACHE_H

#include "pm_params.h"
#include "pm_template.h"

typedef struct PmCompiledPrompt
{
	char	   *prompt_id;
	int32		version;		/* 0 for the head, else the version read */
	char	   *name;			/* "id" for the head, "id@3" for a version */
	uint64		shape;			/* PmTableInfo.shape of the table read */
	int64		revision;
	PmTemplate *tpl;
	PmParamList *defaults;		/* the row's stored parameters */
	MemoryContext cxt;			/* holds all of the above */
} PmCompiledPrompt;

/*
 * Bracket a top-level render: compiled prompts returned in between stay
 * valid until the matching pm_template_cache_end(), which the caller must
 * reach however it leaves (PG_TRY).  Calls may nest.
 */
extern void pm_template_cache_begin(void);
extern void pm_template_cache_end(void);

/*
 * The same, for as long as cxt lives: compiled prompts returned stay valid
 * until cxt is reset or deleted, whatever ends it (an error, a rollback to
 * a savepoint, the executor freeing its memory).
 */
extern void pm_template_cache_pin_context(MemoryContext cxt);

/*
 * The compiled form of prompt_id as the caller sees it now, or NULL when
 * the caller cannot see a row with that id.
 */
extern PmCompiledPrompt *pm_load_prompt(const char *prompt_id);

/*
 * Version `version` of prompt_id[0..id_len) as the caller sees it now, or
 * NULL when the caller cannot see that version.
 */
extern PmCompiledPrompt *pm_load_version(const char *prompt_id, size_t id_len,
										 int32 version);

/* Why pm_load_ref found nothing. */
typedef enum PmLoadStatus
{
	PM_LOAD_FOUND = 0,
	PM_LOAD_NO_PROMPT,			/* the head is not there */
	PM_LOAD_NO_VERSION,			/* the version (a label's too) is not there */
	PM_LOAD_NO_LABEL			/* the prompt has no such label */
} PmLoadStatus;

/*
 * What reference ref names, as the caller sees it now: the head, a
 * version, or the version a label points to (*label_version, also when
 * that version is missing).  NULL with *status saying why.
 */
struct PmRef;
extern PmCompiledPrompt *pm_load_ref(const struct PmRef *ref,
									 PmLoadStatus *status,
									 int32 *label_version);

/* Compile a template given as text, in CurrentMemoryContext. */
extern PmTemplate *pm_compile_text(const char *text, size_t len);

#endif							/* PM_TEMPLATE_CACHE_H */
