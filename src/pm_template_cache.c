/*-------------------------------------------------------------------------
 *
 * pm_template_cache.c
 *		Per-backend cache of compiled prompts, keyed by prompt and revision.
 *
 * A hash table keyed by the xxhash of the prompt id points at one compiled
 * prompt each, held in a memory context of its own.  An entry is valid for
 * a row when the row comes from the same pm_prompts table (its OID changes
 * when the extension is re-created) with the same revision (a new one on
 * every insert and update).  Two ids with the same hash simply take turns.
 *
 * Entries must stay put while a render uses them, so memory is only given
 * back between top-level renders: a replaced entry waits in a list, and the
 * whole cache is emptied when it passes its bounds, both at the next
 * pm_template_cache_begin() with no render in progress.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pm_storage.h"
#include "pm_template_cache.h"
#include "pm_visibility.h"

/* Bounds of the per-backend cache, past which it is emptied. */
#define PM_TEMPLATE_CACHE_MAX_ENTRIES	4096
#define PM_TEMPLATE_CACHE_MAX_BYTES		(64 * 1024 * 1024)

typedef struct PmTemplateCacheEntry
{
	uint64		key;			/* xxhash of the prompt id */
	PmCompiledPrompt *prompt;
} PmTemplateCacheEntry;

static HTAB *pm_template_cache = NULL;
static MemoryContext pm_template_cache_cxt = NULL;
static List *pm_retired_contexts = NIL; /* in pm_template_cache_cxt */
static Size pm_template_cache_bytes = 0;
static int	pm_render_nesting = 0;

/* Allocator handed to the plain-C parser: palloc in a given context. */
static void *
pm_palloc_allocator(void *ctx, size_t size)
{
	return MemoryContextAllocHuge((MemoryContext) ctx, size);
}

/* Its resize and release: repalloc and pfree (any context). */
static void *
pm_repalloc_allocator(void *ctx, void *ptr, size_t size)
{
	return repalloc_huge(ptr, size);
}

static void
pm_pfree_allocator(void *ctx, void *ptr)
{
	pfree(ptr);
}

/*
 * And its check hook: a cancel or statement_timeout stops a compile here.
 * The error leaves the parser (longjmp) holding nothing but palloc'd
 * blocks, which the memory context gives back.
 */
static void
pm_check_allocator(void *ctx)
{
	CHECK_FOR_INTERRUPTS();
}

/*
 * Compile text with the parser; its memory is about the text's size (the
 * pool) plus the code, grown with repalloc and cut to size (README,
 * Reliability).
 */
PmTemplate *
pm_compile_text(const char *text, size_t len)
{
	PmAllocator allocator = {
		.alloc = pm_palloc_allocator,
		.ctx = CurrentMemoryContext,
		.resize = pm_repalloc_allocator,
		.release = pm_pfree_allocator,
		.check = pm_check_allocator,
	};
	PmTemplate *tpl = pm_template_parse(text, len, &allocator);

	if (tpl == NULL)			/* palloc raises on failure: only size */
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("prompt text is too large to compile")));
	return tpl;
}

static void
pm_template_cache_create(void)
{
	HASHCTL		ctl;

	if (pm_template_cache_cxt == NULL)
		pm_template_cache_cxt = AllocSetContextCreate(TopMemoryContext,
													  "prompt_manager templates",
													  ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(PmTemplateCacheEntry);
	ctl.hcxt = pm_template_cache_cxt;
	pm_template_cache = hash_create("prompt_manager compiled templates", 256,
									&ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	pm_template_cache_bytes = 0;
}

/* Give back replaced entries, and everything when past the bounds. */
static void
pm_template_cache_trim(void)
{
	ListCell   *lc;

	foreach(lc, pm_retired_contexts)
		MemoryContextDelete((MemoryContext) lfirst(lc));
	list_free(pm_retired_contexts);
	pm_retired_contexts = NIL;

	if (pm_template_cache != NULL &&
		(hash_get_num_entries(pm_template_cache) > PM_TEMPLATE_CACHE_MAX_ENTRIES ||
		 pm_template_cache_bytes > PM_TEMPLATE_CACHE_MAX_BYTES))
	{
		/* every entry's context is a child of pm_template_cache_cxt */
		MemoryContextReset(pm_template_cache_cxt);
		pm_template_cache = NULL;
	}
}

/*
 * At the end of a failed transaction no render is in progress any more,
 * whatever did not reach its pm_template_cache_end() (a set-returning
 * function stopped by an error).
 */
static void
pm_template_cache_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		pm_render_nesting = 0;
}

void
pm_template_cache_begin(void)
{
	static bool callback_registered = false;

	if (!callback_registered)
	{
		RegisterXactCallback(pm_template_cache_xact_callback, NULL);
		callback_registered = true;
	}
	if (pm_render_nesting == 0)
		pm_template_cache_trim();
	pm_render_nesting++;
}

void
pm_template_cache_end(void)
{
	Assert(pm_render_nesting > 0);
	pm_render_nesting--;
}

/* What pm_load_prompt's storage callback hands back. */
typedef struct PmLoadState
{
	const char *prompt_id;
	uint64		key;
	PmCompiledPrompt *result;
} PmLoadState;

/*
 * Use the cached entry when it is current for the row; otherwise compile
 * the row into a new entry.  The new entry is built in a context under the
 * caller's, and moved under the cache only once complete, so an error
 * half-way leaves nothing behind.
 */
static void
pm_load_row(const PmStoredRow *row, void *arg)
{
	PmLoadState *state = (PmLoadState *) arg;
	PmTemplateCacheEntry *entry;
	MemoryContext cxt;
	MemoryContext old;
	PmCompiledPrompt *prompt;
	text	   *content;
	Jsonb	   *parameters;
	bool		found;

	entry = hash_search(pm_template_cache, &state->key, HASH_FIND, NULL);
	if (entry != NULL)
	{
		PmCompiledPrompt *cached = entry->prompt;

		if (cached->relid == row->relid && cached->revision == row->revision &&
			strcmp(cached->prompt_id, state->prompt_id) == 0)
		{
			state->result = cached;
			return;
		}
	}

	cxt = AllocSetContextCreate(CurrentMemoryContext, "prompt_manager template",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	prompt = palloc0(sizeof(PmCompiledPrompt));
	prompt->prompt_id = pstrdup(state->prompt_id);
	prompt->relid = row->relid;
	prompt->revision = row->revision;
	prompt->cxt = cxt;
	content = DatumGetTextPCopy(row->content);
	parameters = DatumGetJsonbPCopy(row->parameters);
	prompt->tpl = pm_compile_text(VARDATA_ANY(content),
								  VARSIZE_ANY_EXHDR(content));
	prompt->defaults = pm_params_from_jsonb(parameters, "stored parameters");
	MemoryContextSwitchTo(old);

	MemoryContextSetParent(cxt, pm_template_cache_cxt);
	entry = hash_search(pm_template_cache, &state->key, HASH_ENTER, &found);
	if (found)
	{
		/* stale: retire it once no render can be using it */
		MemoryContext retired = entry->prompt->cxt;

		pm_template_cache_bytes -= MemoryContextMemAllocated(retired, true);
		old = MemoryContextSwitchTo(pm_template_cache_cxt);
		pm_retired_contexts = lappend(pm_retired_contexts, retired);
		MemoryContextSwitchTo(old);
	}
	entry->prompt = prompt;
	pm_template_cache_bytes += MemoryContextMemAllocated(cxt, true);
	state->result = prompt;
}

PmCompiledPrompt *
pm_load_prompt(const char *prompt_id)
{
	PmLoadState state;

	if (pm_template_cache == NULL)
		pm_template_cache_create();

	state.prompt_id = prompt_id;
	state.key = XXH3_64bits(prompt_id, strlen(prompt_id));
	state.result = NULL;
	if (pm_visibility_unrestricted())
	{
		int64		revision;
		bool		present;
		bool		found;

		/*
		 * The revision this snapshot sees is learned once per snapshot:
		 * when it is one we compiled, the row need not be read at all.
		 * Otherwise one read of the row gives both, and is remembered.
		 */
		if (pm_visibility_known(prompt_id, &present, &revision))
		{
			PmTemplateCacheEntry *entry;

			if (!present)
				return NULL;
			entry = hash_search(pm_template_cache, &state.key, HASH_FIND, NULL);
			if (entry != NULL && entry->prompt->revision == revision &&
				entry->prompt->relid == pm_storage_table()->relid &&
				strcmp(entry->prompt->prompt_id, prompt_id) == 0)
				return entry->prompt;
		}
		found = pm_storage_fetch_unchecked(prompt_id, pm_load_row, &state);
		pm_visibility_remember(prompt_id, found,
							   found ? state.result->revision : 0);
		return found ? state.result : NULL;
	}
	if (!pm_storage_fetch(prompt_id, pm_load_row, &state))
		return NULL;
	return state.result;
}
