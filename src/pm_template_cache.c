/*-------------------------------------------------------------------------
 *
 * pm_template_cache.c
 *		Per-backend cache of compiled prompts, keyed by prompt and revision.
 *
 * A hash table keyed by the xxhash of the prompt id points at one compiled
 * prompt each, held in a memory context of its own.  An entry is valid for
 * a row when the row comes from a pm_prompts table of the same shape (see
 * PmTableInfo.shape: another after the extension is re-created, the table
 * rewritten or a column it reads replaced) with the same revision (a new
 * one on every insert and update).  Two ids with the same hash simply take turns.
 *
 * Entries must stay put while a render uses them, so a render holds a pin
 * for as long as it may use one, and memory is only given back when no pin
 * is held: a replaced entry waits in a list, and the whole cache is emptied
 * when it passes its bounds.  This happens as the last pin is released (at
 * the end of each outermost render, so between statements the cache is
 * within its bounds) and at the end of every top-level transaction.  A
 * prompt whose compiled form alone is past the byte bound is never entered:
 * it lives only until the render that compiled it ends.
 *
 * Pins are counted.  pm_template_cache_begin()/_end() is a pin its caller
 * releases itself, however it leaves (PG_TRY).  pm_template_cache_pin_context()
 * is a pin held for as long as a memory context lives: a batch of renders
 * (pm_bulk_render, a value-per-call set-returning function) that an error, a
 * ROLLBACK TO or a PL/pgSQL exception block abandons half-way releases it
 * when the executor's memory is freed, by the context's reset callback.  No
 * render outlives its top-level transaction, so the count starts again at
 * zero after each one (the pins of an older transaction no longer count).
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

#include "pm_ref.h"
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
static int	pm_pins = 0;			/* pins held now */
static uint64 pm_pin_generation = 0;	/* top-level transactions ended */

/* A pin held for the life of a memory context (in that context). */
typedef struct PmContextPin
{
	MemoryContextCallback callback;
	uint64		generation;		/* pm_pin_generation when taken */
} PmContextPin;

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

/*
 * Give back replaced entries, and everything when past the bounds.  Only
 * with no pin held: no render may be using an entry.
 */
static void
pm_template_cache_trim(void)
{
	ListCell   *lc;

	Assert(pm_pins == 0);
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
		pm_template_cache_bytes = 0;
	}
}

/* Release one pin; the last one trims the cache. */
static void
pm_template_cache_unpin(void)
{
	Assert(pm_pins > 0);
	if (pm_pins > 0 && --pm_pins == 0)
		pm_template_cache_trim();
}

/*
 * At the end of a top-level transaction no render is in progress any more,
 * whatever did not release its pin: the count starts again, and the cache
 * is brought within its bounds.
 */
static void
pm_template_cache_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			pm_pins = 0;
			pm_pin_generation++;
			pm_template_cache_trim();
			break;
		default:
			break;
	}
}

static void
pm_template_cache_register(void)
{
	static bool callback_registered = false;

	if (!callback_registered)
	{
		RegisterXactCallback(pm_template_cache_xact_callback, NULL);
		callback_registered = true;
	}
}

void
pm_template_cache_begin(void)
{
	pm_template_cache_register();
	pm_pins++;
}

void
pm_template_cache_end(void)
{
	pm_template_cache_unpin();
}

/* The reset callback of a context pin; a pin of an ended transaction is void. */
static void
pm_context_pin_release(void *arg)
{
	PmContextPin *pin = (PmContextPin *) arg;

	if (pin->generation == pm_pin_generation)
		pm_template_cache_unpin();
}

void
pm_template_cache_pin_context(MemoryContext cxt)
{
	PmContextPin *pin;

	pm_template_cache_register();
	pin = MemoryContextAlloc(cxt, sizeof(PmContextPin));
	pin->callback.func = pm_context_pin_release;
	pin->callback.arg = pin;
	pin->generation = pm_pin_generation;
	MemoryContextRegisterResetCallback(cxt, &pin->callback);
	pm_pins++;
}

/* What pm_load_prompt's storage callback hands back. */
typedef struct PmLoadState
{
	const char *prompt_id;		/* NUL-terminated */
	int32		version;		/* 0: the head */
	const char *name;			/* prompt_id, or "id@3" */
	uint64		key;			/* of name */
	PmCompiledPrompt *result;
} PmLoadState;

/* Retire a compiled prompt's context: freed once no render can use it. */
static void
pm_template_cache_retire(MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(pm_template_cache_cxt);

	pm_retired_contexts = lappend(pm_retired_contexts, cxt);
	MemoryContextSwitchTo(old);
}

/*
 * Use the cached entry when it is current for the row; otherwise compile
 * the row into a new entry.  The new entry is built in a context under the
 * caller's, and moved under the cache only once complete, so an error
 * half-way leaves nothing behind.  One larger than the cache's byte bound
 * is not entered, only retired at once: the render that asked has it, and
 * it is freed as soon as that render ends.
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
	Size		size;
	bool		found;

	entry = hash_search(pm_template_cache, &state->key, HASH_FIND, NULL);
	if (entry != NULL)
	{
		PmCompiledPrompt *cached = entry->prompt;

		if (cached->shape == row->shape && cached->revision == row->revision &&
			strcmp(cached->name, state->name) == 0)
		{
			state->result = cached;
			return;
		}
	}

	/* the text is only read by the parser (which copies what it keeps) */
	content = DatumGetTextPP(row->content);

	cxt = AllocSetContextCreate(CurrentMemoryContext, "prompt_manager template",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	prompt = palloc0(sizeof(PmCompiledPrompt));
	prompt->prompt_id = pstrdup(state->prompt_id);
	prompt->version = state->version;
	prompt->name = state->version == 0 ? prompt->prompt_id : pstrdup(state->name);
	prompt->shape = row->shape;
	prompt->revision = row->revision;
	prompt->cxt = cxt;
	parameters = DatumGetJsonbPCopy(row->parameters);
	prompt->tpl = pm_compile_text(VARDATA_ANY(content),
								  VARSIZE_ANY_EXHDR(content));
	prompt->defaults = pm_params_from_jsonb(parameters, "stored parameters");
	MemoryContextSwitchTo(old);
	if ((Pointer) content != DatumGetPointer(row->content))
		pfree(content);			/* detoasted for us */

	MemoryContextSetParent(cxt, pm_template_cache_cxt);
	size = MemoryContextMemAllocated(cxt, true);
	entry = hash_search(pm_template_cache, &state->key,
						size > PM_TEMPLATE_CACHE_MAX_BYTES ? HASH_FIND : HASH_ENTER,
						&found);
	if (entry != NULL && found)
	{
		/* stale: retire it once no render can be using it */
		pm_template_cache_bytes -= MemoryContextMemAllocated(entry->prompt->cxt, true);
		pm_template_cache_retire(entry->prompt->cxt);
		if (size > PM_TEMPLATE_CACHE_MAX_BYTES)
			hash_search(pm_template_cache, &state->key, HASH_REMOVE, NULL);
	}
	if (size > PM_TEMPLATE_CACHE_MAX_BYTES)
		pm_template_cache_retire(cxt);	/* too large to keep */
	else
	{
		entry->prompt = prompt;
		pm_template_cache_bytes += size;
	}
	state->result = prompt;
}

PmCompiledPrompt *
pm_load_prompt(const char *prompt_id)
{
	PmLoadState state;

	if (pm_template_cache == NULL)
		pm_template_cache_create();

	state.prompt_id = prompt_id;
	state.version = 0;
	state.name = prompt_id;
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
				entry->prompt->shape == pm_storage_table()->shape &&
				strcmp(entry->prompt->name, prompt_id) == 0)
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

PmCompiledPrompt *
pm_load_version(const char *prompt_id, size_t id_len, int32 version)
{
	PmLoadState state;
	bool		found;

	if (pm_template_cache == NULL)
		pm_template_cache_create();

	state.prompt_id = pnstrdup(prompt_id, id_len);
	state.version = version;
	state.name = psprintf("%s@%d", state.prompt_id, version);
	state.key = XXH3_64bits(state.name, strlen(state.name));
	state.result = NULL;
	if (pm_visibility_unrestricted() && pm_visibility_refs_unrestricted())
	{
		int64		revision;
		bool		present;

		/* as pm_load_prompt: the memo knows the version's value */
		if (pm_visibility_known_name(state.name, strlen(state.name), &present,
									 &revision))
		{
			PmTemplateCacheEntry *entry;

			if (!present)
				return NULL;
			entry = hash_search(pm_template_cache, &state.key, HASH_FIND, NULL);
			if (entry != NULL && entry->prompt->revision == revision &&
				entry->prompt->shape == pm_storage_table_of(PM_TABLE_VERSIONS)->shape &&
				strcmp(entry->prompt->name, state.name) == 0)
				return entry->prompt;
		}
		found = pm_storage_fetch_version(prompt_id, id_len, version, true,
										 pm_load_row, &state);
		pm_visibility_remember_name(state.name, strlen(state.name), found,
									found ? state.result->revision : 0);
		return found ? state.result : NULL;
	}
	if (!pm_storage_fetch_version(prompt_id, id_len, version, false,
								  pm_load_row, &state))
		return NULL;
	return state.result;
}

PmCompiledPrompt *
pm_load_ref(const PmRef *ref, PmLoadStatus *status, int32 *label_version)
{
	PmCompiledPrompt *prompt;
	int32		version;
	bool		labelled;

	*status = PM_LOAD_FOUND;
	*label_version = 0;
	switch (ref->kind)
	{
		case PM_REF_VERSION:
			prompt = pm_load_version(ref->id, ref->id_len, ref->version);
			if (prompt == NULL)
				*status = PM_LOAD_NO_VERSION;
			return prompt;
		case PM_REF_LABEL:
		case PM_REF_LABEL_OR_HEAD:
			if (pm_visibility_unrestricted() && pm_visibility_refs_unrestricted())
				labelled = pm_visibility_label(ref->id, ref->id_len, ref->label,
											   ref->label_len, &version);
			else
				labelled = pm_storage_label_version(ref->id, ref->id_len,
													ref->label, ref->label_len,
													false, &version);
			if (labelled)
			{
				*label_version = version;
				prompt = pm_load_version(ref->id, ref->id_len, version);
				if (prompt == NULL)
					*status = PM_LOAD_NO_VERSION;
				return prompt;
			}
			if (ref->kind == PM_REF_LABEL)
			{
				*status = PM_LOAD_NO_LABEL;
				return NULL;
			}
			break;				/* no such label: the head */
		case PM_REF_HEAD:
			break;
	}
	prompt = pm_load_prompt(pnstrdup(ref->id, ref->id_len));
	if (prompt == NULL)
		*status = PM_LOAD_NO_PROMPT;
	return prompt;
}
