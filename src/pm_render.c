/*-------------------------------------------------------------------------
 *
 * pm_render.c
 *		Rendering compiled prompts: parameters, includes, limits.
 *
 * A render walks the segments of a compiled template once, appending to
 * one output buffer that is already laid out as a text datum (its varlena
 * header reserved up front), so the result is returned without a copy.
 *
 * Parameters are resolved once per template into one slot per distinct
 * keyword (pm_params_resolve); each keyword segment is then a copy of its
 * slot.  The work is linear in the size of the text plus the number of
 * parameters, whatever the number of keywords.
 *
 * Where values come from, highest priority first: the params argument, the
 * stored parameters of the root prompt, then those of each include down to
 * the prompt being rendered.  The prompt that includes another decides its
 * values; the caller decides over all.
 *
 * A value is inserted byte for byte and never read again: keywords and
 * directives are found in the template only, so a value cannot pull another
 * prompt into the output.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "portability/instr_time.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "parser/parse_func.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pm_cache.h"
#include "pm_errors.h"
#include "pm_stats.h"
#include "pm_params.h"
#include "pm_render.h"
#include "pm_settings.h"
#include "pm_storage.h"
#include "pm_template_cache.h"
#include "pm_visibility.h"

/* How many segments pass between two checks of render_timeout. */
#define PM_TIMEOUT_CHECK_INTERVAL 256

/* The largest text value, varlena header included. */
#define PM_MAX_OUTPUT_BYTES ((Size) MaxAllocSize - 1)

typedef struct PmRenderState
{
	StringInfo	out;			/* the result, VARHDRSZ bytes reserved */
	const char *root_id;		/* the prompt rendered, NULL if inline */

	/*
	 * The include chain: chain_ids[d] is the prompt rendered at depth d
	 * (NULL for an inline template), layers[0] the params argument and
	 * layers[d + 1] the stored parameters of chain_ids[d].
	 */
	const char **chain_ids;
	PmParamList **layers;
	int			max_depth;

	HTAB	   *loaded;			/* prompts read so far, by id hash */
	PmRenderBatch *batch;		/* prompts read by the whole batch, or NULL */
	TimestampTz started;
	uint32		ticks;

	/* for the shared cache: what the output was built from */
	List	   *deps;			/* PmCacheDependency *, one per include */
	bool		cacheable;		/* false once a prompt was missing */

	/* streaming (pm_render_lines): complete lines go to line_sink */
	PmLineSink	line_sink;
	void	   *line_sink_arg;
	bool		produced;		/* any output at all yet */
	int64		bytes;			/* output so far, streamed or not */
} PmRenderState;

/* A batch of renders: the prompts read so far, by id hash. */
struct PmRenderBatch
{
	MemoryContext cxt;			/* holds the batch, lives as long */
	HTAB	   *loaded;
};

/* A prompt read during this render (NULL: not visible). */
typedef struct PmLoadedEntry
{
	uint64		key;
	const char *prompt_id;
	PmCompiledPrompt *prompt;
} PmLoadedEntry;

/* Error context: which prompt was being rendered. */
typedef struct PmRenderFrame
{
	const char *prompt_id;
} PmRenderFrame;

static void pm_render_template(PmRenderState *state, const PmTemplate *tpl,
							   int depth);

/* "prompt "x"", or "the inline template" for pm_render_template's text. */
static char *
pm_describe(const char *prompt_id)
{
	if (prompt_id == NULL)
		return pstrdup("the inline template");
	return psprintf("prompt \"%s\"", prompt_id);
}

static void
pm_render_error_context(void *arg)
{
	PmRenderFrame *frame = (PmRenderFrame *) arg;

	if (frame->prompt_id != NULL)
		errcontext("rendering prompt \"%s\"", frame->prompt_id);
	else
		errcontext("rendering the inline template");
}

/* "a -> b -> c" for the chain down to depth, followed by next. */
static char *
pm_chain_text(PmRenderState *state, int depth, const char *next)
{
	StringInfoData buf;
	int			d;

	initStringInfo(&buf);
	for (d = 0; d <= depth; d++)
	{
		appendStringInfoString(&buf, state->chain_ids[d] ? state->chain_ids[d]
							   : "(inline template)");
		appendStringInfoString(&buf, " -> ");
	}
	appendStringInfoString(&buf, next);
	return buf.data;
}

static void
pm_check_timeout(PmRenderState *state)
{
	if (pm_render_timeout > 0 &&
		TimestampDifferenceExceeds(state->started, GetCurrentTimestamp(),
								   pm_render_timeout))
		ereport(ERROR,
				(errcode(ERRCODE_PM_RENDER_TIMEOUT),
				 errmsg("rendering %s took longer than prompt_manager.render_timeout (%d ms)",
						pm_describe(state->root_id), pm_render_timeout)));
}

/* Fail cleanly, before allocating, when the output would pass 1 GB. */
static void
pm_check_output_size(PmRenderState *state, Size more)
{
	if (more > PM_MAX_OUTPUT_BYTES - (Size) state->out->len)
		ereport(ERROR,
				(errcode(ERRCODE_PM_OUTPUT_TOO_LARGE),
				 errmsg("rendered text of %s would exceed the maximum size of a text value (1 GB)",
						pm_describe(state->root_id))));
}

/*
 * Streaming: hand every complete line in state->out to the sink, the last
 * `appended` bytes being new, and keep only the unfinished line.
 */
static void
pm_flush_lines(PmRenderState *state, Size appended)
{
	StringInfo	out = state->out;
	char	   *end = out->data + out->len;
	char	   *line = out->data;
	char	   *scan = end - appended;
	char	   *nl;

	while ((nl = memchr(scan, '\n', end - scan)) != NULL)
	{
		state->line_sink(state->line_sink_arg, line, nl - line);
		line = scan = nl + 1;
	}
	if (line != out->data)
	{
		out->len = end - line;
		memmove(out->data, line, out->len);
		out->data[out->len] = '\0';
	}
}

static inline void
pm_append(PmRenderState *state, StringInfo buf, const char *data, Size len)
{
	if (len == 0)
		return;
	if (buf != state->out)
	{
		appendBinaryStringInfo(buf, data, len);
		return;
	}
	pm_check_output_size(state, len);
	appendBinaryStringInfo(buf, data, len);
	state->produced = true;
	state->bytes += len;
	if (state->line_sink != NULL)
		pm_flush_lines(state, len);
}

/* Append the text of keyword k to buf, as prompt_manager.missing_parameter says. */
static void
pm_emit_keyword(PmRenderState *state, StringInfo buf, const PmTemplate *tpl,
				const PmSlot *slots, uint32 k, const char *prompt_id)
{
	const PmKeyword *kw = &tpl->keywords[k];

	if (slots[k].rank >= 0)
	{
		pm_append(state, buf, slots[k].value, slots[k].value_len);
		return;
	}
	switch (pm_missing_parameter)
	{
		case PM_MISSING_KEEP:
			pm_append(state, buf, tpl->pool + kw->off, kw->len);
			break;
		case PM_MISSING_EMPTY:
			break;
		case PM_MISSING_ERROR:
			ereport(ERROR,
					(errcode(ERRCODE_PM_MISSING_PARAMETER),
					 errmsg("keyword \"%.*s\" in %s has no value",
							(int) kw->len, tpl->pool + kw->off,
							pm_describe(prompt_id)),
					 errhint("Pass it in params, store a default in pm_prompts.parameters, "
							 "or set prompt_manager.missing_parameter to keep or empty.")));
	}
}

/* Append literal and keyword segments segs[0..n) to buf. */
static void
pm_emit_segments(PmRenderState *state, StringInfo buf, const PmTemplate *tpl,
				 const PmSegment *segs, uint32 n, const PmSlot *slots,
				 const char *prompt_id)
{
	uint32		i;

	for (i = 0; i < n; i++)
	{
		if (segs[i].kind == PM_SEG_LITERAL)
			pm_append(state, buf, tpl->pool + segs[i].off, segs[i].len);
		else if (segs[i].kind == PM_SEG_KEYWORD)
			pm_emit_keyword(state, buf, tpl, slots, segs[i].off, prompt_id);
	}
}

static HTAB *
pm_loaded_create(const char *name)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(PmLoadedEntry);
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(name, 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * The compiled prompt prompt_id, read at most once per batch (when there
 * is one) and per render.  *first says whether this render asked for it
 * before.
 */
static PmCompiledPrompt *
pm_render_read(PmRenderState *state, const char *prompt_id, bool *first)
{
	uint64		key = XXH3_64bits(prompt_id, strlen(prompt_id));
	PmLoadedEntry *entry;
	bool		found;
	PmCompiledPrompt *prompt = NULL;
	bool		have = false;

	if (state->loaded == NULL)
		state->loaded = pm_loaded_create("prompt_manager prompts of one render");
	entry = hash_search(state->loaded, &key, HASH_ENTER, &found);
	if (found && entry->prompt_id != NULL && strcmp(entry->prompt_id, prompt_id) == 0)
	{
		*first = false;
		return entry->prompt;
	}
	*first = true;
	entry->prompt_id = NULL;	/* until read: an error may come first */

	/* read earlier in the batch? */
	if (state->batch != NULL)
	{
		PmLoadedEntry *shared;
		bool		shared_found;

		shared = hash_search(state->batch->loaded, &key, HASH_ENTER, &shared_found);
		if (shared_found && shared->prompt_id != NULL &&
			strcmp(shared->prompt_id, prompt_id) == 0)
			prompt = shared->prompt;
		else
		{
			/* new, or another id with the same hash: read again later */
			shared->prompt_id = NULL;
			prompt = pm_load_prompt(prompt_id);
			shared->prompt = prompt;
			shared->prompt_id = MemoryContextStrdup(state->batch->cxt, prompt_id);
		}
		have = true;
	}
	if (!have)
		prompt = pm_load_prompt(prompt_id);

	/* new, or another id with the same hash: that one is read again later */
	entry->prompt_id = pstrdup(prompt_id);
	entry->prompt = prompt;
	return prompt;
}

/* The compiled prompt prompt_id, recorded as a dependency of the output. */
static PmCompiledPrompt *
pm_render_load(PmRenderState *state, const char *prompt_id)
{
	bool		first;
	PmCompiledPrompt *prompt = pm_render_read(state, prompt_id, &first);

	if (first && prompt != NULL)
	{
		PmCacheDependency *dep = palloc(sizeof(PmCacheDependency));

		dep->prompt_id = prompt->prompt_id;
		dep->revision = prompt->revision;
		state->deps = lappend(state->deps, dep);
	}
	return prompt;
}

/*
 * A prompt that is not there (or not visible): an error, or the
 * missing_prompt_text with a WARNING when raise_on_missing is off.
 */
static void
pm_missing_prompt(PmRenderState *state, const char *prompt_id,
				  const char *parent_id, uint32 line_no, int depth,
				  bool unfilled_keyword)
{
	int			elevel = pm_raise_on_missing ? ERROR : WARNING;

	/* the WARNING must be seen on every render: never from the cache */
	state->cacheable = false;

	if (depth == 0)
		ereport(elevel,
				(errcode(ERRCODE_PM_PROMPT_NOT_FOUND),
				 errmsg("prompt \"%s\" does not exist", prompt_id)));
	else
		ereport(elevel,
				(errcode(ERRCODE_PM_PROMPT_NOT_FOUND),
				 errmsg("prompt \"%s\" does not exist", prompt_id),
				 errdetail("It is included by %s at line %u.",
						   pm_describe(parent_id), line_no),
				 unfilled_keyword ?
				 errhint("The include line uses a keyword that has no value: pass it in params.") : 0));

	pm_append(state, state->out, pm_missing_prompt_text,
			  strlen(pm_missing_prompt_text));
}

/* Is name[0..len) a directive that includes a prompt? */
static inline bool
pm_is_include(const char *name, size_t len)
{
	return (len == 7 && memcmp(name, "include", 7) == 0) ||
		(len == 6 && memcmp(name, "import", 6) == 0);
}

/*
 * Enter the prompt named by an include directive (on line line_no of the
 * prompt at depth - 1) at depth >= 1: check for a cycle, the depth limit
 * and the time limit, and read it.  NULL when it is missing (after the
 * error, or the WARNING and fallback text of raise_on_missing = off).
 */
static PmCompiledPrompt *
pm_enter_include(PmRenderState *state, const char *prompt_id, int depth,
				 uint32 line_no, bool unfilled_keyword)
{
	PmCompiledPrompt *prompt;
	int			d;

	for (d = 0; d < depth; d++)
	{
		if (state->chain_ids[d] != NULL &&
			strcmp(state->chain_ids[d], prompt_id) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_PM_INCLUDE_CYCLE),
					 errmsg("include cycle: %s",
							pm_chain_text(state, depth - 1, prompt_id))));
	}
	if (depth > state->max_depth)
		ereport(ERROR,
				(errcode(ERRCODE_PM_INCLUDE_DEPTH),
				 errmsg("includes are nested deeper than prompt_manager.max_include_depth (%d)",
						state->max_depth),
				 errdetail("Include chain: %s.",
						   pm_chain_text(state, depth - 1, prompt_id)),
				 errhint("Raise prompt_manager.max_include_depth, or include fewer levels.")));

	pm_check_timeout(state);
	prompt = pm_render_load(state, prompt_id);
	if (prompt == NULL)
	{
		pm_missing_prompt(state, prompt_id, state->chain_ids[depth - 1],
						  line_no, depth, unfilled_keyword);
		return NULL;
	}
	state->chain_ids[depth] = prompt->prompt_id;
	return prompt;
}

/* Run one directive line of the template rendered at depth. */
static void
pm_run_directive(PmRenderState *state, const PmTemplate *tpl,
				 const PmDirective *dir, const PmSlot *slots, int depth)
{
	const char *prompt_id = state->chain_ids[depth];
	const PmSegment *body = tpl->body_segments + dir->body_first;
	const char *name;
	const char *arg;
	size_t		name_len;
	size_t		arg_len;
	uint32		nargs;
	StringInfoData line;

	/* the line with its keywords filled in */
	initStringInfo(&line);
	pm_emit_segments(state, &line, tpl, body, dir->body_count, slots, prompt_id);
	if (dir->is_static)
	{
		name = tpl->pool + dir->name_off;
		name_len = dir->name_len;
		arg = tpl->pool + dir->arg_off;
		arg_len = dir->arg_len;
		nargs = dir->nargs;
	}
	else
		nargs = pm_directive_split(line.data, line.len, &name, &name_len,
								   &arg, &arg_len);

	if (pm_is_include(name, name_len))
	{
		PmCompiledPrompt *included;
		bool		unfilled = false;
		uint32		i;

		if (nargs != 1)
			ereport(ERROR,
					(errcode(ERRCODE_PM_INVALID_DIRECTIVE),
					 errmsg("directive \"//%.*s\" in %s at line %u needs exactly one prompt id",
							(int) name_len, name, pm_describe(prompt_id),
							dir->line_no),
					 errdetail("The line reads \"%s\".", line.data)));

		/* did a keyword of the line stay as written? */
		for (i = 0; i < dir->body_count; i++)
		{
			if (body[i].kind == PM_SEG_KEYWORD && slots[body[i].off].rank < 0)
				unfilled = true;
		}

		pm_append(state, state->out, tpl->pool + dir->indent_off, dir->indent_len);
		included = pm_enter_include(state, pnstrdup(arg, arg_len), depth + 1,
									dir->line_no, unfilled);
		if (included != NULL)
		{
			state->layers[depth + 2] = included->defaults;
			pm_render_template(state, included->tpl, depth + 1);
		}
	}
	else if (pm_unknown_directive == PM_DIRECTIVE_ERROR)
		ereport(ERROR,
				(errcode(ERRCODE_PM_UNKNOWN_DIRECTIVE),
				 name_len > 0 ?
				 errmsg("unknown directive \"//%.*s\" in %s at line %u",
						(int) name_len, name, pm_describe(prompt_id),
						dir->line_no) :
				 errmsg("directive line without a name in %s at line %u",
						pm_describe(prompt_id), dir->line_no),
				 errdetail("Only //include and //import are directives."),
				 errhint("Set prompt_manager.unknown_directive to keep to leave such lines in the text.")));
	else
	{
		pm_append(state, state->out, tpl->pool + dir->indent_off, dir->indent_len);
		pm_append(state, state->out, line.data, line.len);
	}
	pfree(line.data);
}

/*
 * Render tpl, the template of chain_ids[depth], into state->out.  Its
 * parameter layers are layers[0 .. depth + 1].
 */
static void
pm_render_template(PmRenderState *state, const PmTemplate *tpl, int depth)
{
	const char *prompt_id = state->chain_ids[depth];
	ErrorContextCallback errcallback;
	PmRenderFrame frame;
	PmSlot	   *slots = NULL;
	Size		need = tpl->literal_bytes;
	uint32		i;

	check_stack_depth();

	frame.prompt_id = prompt_id;
	errcallback.callback = pm_render_error_context;
	errcallback.arg = &frame;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	if (tpl->nkeywords > 0)
	{
		slots = palloc(sizeof(PmSlot) * tpl->nkeywords);
		pm_params_resolve(tpl, state->layers, depth + 2, slots);
	}

	/* reserve this level's output at once (includes add theirs) */
	for (i = 0; i < tpl->nsegments; i++)
	{
		const PmSegment *seg = &tpl->segments[i];

		if (seg->kind != PM_SEG_KEYWORD)
			continue;
		if (slots[seg->off].rank >= 0)
			need += slots[seg->off].value_len;
		else if (pm_missing_parameter == PM_MISSING_KEEP)
			need += tpl->keywords[seg->off].len;
	}
	if (state->line_sink == NULL)
	{
		pm_check_output_size(state, need);
		enlargeStringInfo(state->out, (int) need);
	}

	for (i = 0; i < tpl->nsegments; i++)
	{
		const PmSegment *seg = &tpl->segments[i];

		CHECK_FOR_INTERRUPTS();
		if (++state->ticks % PM_TIMEOUT_CHECK_INTERVAL == 0)
			pm_check_timeout(state);

		switch (seg->kind)
		{
			case PM_SEG_LITERAL:
				pm_append(state, state->out, tpl->pool + seg->off, seg->len);
				break;
			case PM_SEG_KEYWORD:
				pm_emit_keyword(state, state->out, tpl, slots, seg->off, prompt_id);
				break;
			case PM_SEG_DIRECTIVE:
				pm_run_directive(state, tpl, &tpl->directives[seg->off], slots, depth);
				break;
		}
	}

	if (slots != NULL)
		pfree(slots);
	error_context_stack = errcallback.previous;
}

/*
 * Set up a render of root (a stored prompt's id, or NULL for inline).
 * opts may be NULL.
 */
static void
pm_render_state_init(PmRenderState *state, MemoryContext result_cxt,
					 const char *root_id, Jsonb *params,
					 const PmRenderOptions *opts)
{
	MemoryContext old;

	memset(state, 0, sizeof(PmRenderState));
	state->max_depth = pm_max_include_depth;
	state->chain_ids = palloc0(sizeof(char *) * (state->max_depth + 2));
	state->layers = palloc0(sizeof(PmParamList *) * (state->max_depth + 3));
	state->chain_ids[0] = root_id;
	state->root_id = root_id;
	state->cacheable = true;
	if (params != NULL)
		state->layers[0] = pm_params_from_jsonb(params, "params");
	if (pm_render_timeout > 0)
		state->started = GetCurrentTimestamp();
	if (opts != NULL)
	{
		state->batch = opts->batch;
		state->line_sink = opts->line_sink;
		state->line_sink_arg = opts->line_sink_arg;
	}

	/*
	 * The result lives in the caller's context, laid out as a text datum;
	 * a streamed render keeps only its unfinished line.
	 */
	old = MemoryContextSwitchTo(result_cxt);
	state->out = makeStringInfo();
	if (state->line_sink == NULL)
		appendStringInfoSpaces(state->out, VARHDRSZ);
	MemoryContextSwitchTo(old);
}

/* The rendered text; or NULL after the last line of a streamed render. */
static text *
pm_render_result(PmRenderState *state)
{
	if (state->line_sink != NULL)
	{
		if (state->produced)
			state->line_sink(state->line_sink_arg, state->out->data,
							 state->out->len);
		return NULL;
	}
	SET_VARSIZE(state->out->data, state->out->len);
	return (text *) state->out->data;
}

/*
 * What one top-level call renders.  prompt_id names a stored prompt, or is
 * NULL for template_text given inline.
 */
typedef struct PmRenderRequest
{
	const char *prompt_id;
	text	   *template_text;
	Jsonb	   *params;
	PmRenderOptions *opts;		/* or NULL */
	MemoryContext result_cxt;
	bool		store;			/* store the result in the shared cache */
	bool		keyed;			/* cache holds a key (and the id's hash) */
	PmCacheRequest cache;		/* its key, when keyed */
} PmRenderRequest;

/*
 * Count req in pm_stats.  The prompt id's length and XXH3_64bits come from
 * the cache key when one was made, so a cache hit costs no strlen or hash.
 * Always inlined: an untimed cache hit is then counted without any call.
 */
static pg_attribute_always_inline void
pm_request_count(PmRenderRequest *req, bool cache_hit, bool error,
				 double elapsed_ms, int64 bytes)
{
	size_t		id_len = 0;
	uint64		id_hash = 0;

	if (req->prompt_id != NULL && req->keyed)
	{
		id_len = req->cache.name_len;
		id_hash = req->cache.key.name_hash;
		if (cache_hit && !error && elapsed_ms < 0)
		{
			/* the common case, inline */
			pm_stats_count_hit(req->prompt_id, id_len, id_hash, bytes);
			return;
		}
	}
	else if (req->prompt_id != NULL)
	{
		id_len = strlen(req->prompt_id);
		id_hash = XXH3_64bits(req->prompt_id, id_len);
	}
	pm_stats_count(req->prompt_id, id_len, id_hash, cache_hit, error,
				   elapsed_ms, bytes);
}

static text *
pm_render_request(PmRenderRequest *req)
{
	PmRenderState state;
	text	   *result;

	pm_render_state_init(&state, req->result_cxt, req->prompt_id, req->params,
						 req->opts);
	if (req->prompt_id != NULL)
	{
		PmCompiledPrompt *prompt;
		bool		first;

		if (state.batch != NULL)
			prompt = pm_render_read(&state, req->prompt_id, &first);
		else
			prompt = pm_load_prompt(req->prompt_id);

		if (prompt == NULL)
			pm_missing_prompt(&state, req->prompt_id, NULL, 0, 0, false);
		else
		{
			state.layers[1] = prompt->defaults;
			pm_render_template(&state, prompt->tpl, 0);

			/* the key holds the revision the cache was asked for */
			if (req->store && prompt->revision != req->cache.key.root_revision)
				state.cacheable = false;
		}
	}
	else
	{
		PmTemplate *tpl = pm_compile_text(VARDATA_ANY(req->template_text),
										  VARSIZE_ANY_EXHDR(req->template_text));

		pm_render_template(&state, tpl, 0);
	}
	if (req->opts != NULL)
		req->opts->bytes = state.bytes;
	result = pm_render_result(&state);
	if (req->store && state.cacheable)
	{
		bool		stored = pm_cache_store(&req->cache, state.deps, result);

		if (req->opts != NULL)
			req->opts->cached = stored;
	}
	return result;
}

/*
 * '{}' as jsonb: the params of a render called without any, so that
 * pm_render(id), pm_render(id, NULL) and pm_render(id, '{}') (and
 * pm_preload, and a bulk request without "parameters") share one cached
 * rendering.
 */
static Jsonb *
pm_no_params(void)
{
	static Jsonb *empty = NULL;

	if (empty == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		empty = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
		MemoryContextSwitchTo(old);
	}
	return empty;
}

/*
 * Ask the shared cache first, when it may answer (see pm_cache.c).  On a
 * miss, req->store is set so that the rendering is stored.
 */
static text *
pm_render_from_cache(PmRenderRequest *req)
{
	PmCacheRequest *creq = &req->cache;
	text	   *hit;

	req->store = false;
	if ((req->opts != NULL && req->opts->line_sink != NULL) ||
		!pm_cache_active() || !pm_visibility_unrestricted())
		return NULL;

	if (req->prompt_id != NULL)
	{
		int64		revision;
		size_t		len = strlen(req->prompt_id);
		uint64		id_hash = XXH3_64bits(req->prompt_id, len);

		/* a missing prompt is an error or a WARNING: render it */
		if (!pm_visibility_revision_hashed(req->prompt_id, id_hash, &revision))
			return NULL;
		pm_cache_request_init(creq, req->prompt_id, len, id_hash,
							  false, revision, pm_storage_table()->relid,
							  req->params ? req->params : pm_no_params());
	}
	else
		pm_cache_request_init(creq, VARDATA_ANY(req->template_text),
							  VARSIZE_ANY_EXHDR(req->template_text),
							  XXH3_64bits(VARDATA_ANY(req->template_text),
										  VARSIZE_ANY_EXHDR(req->template_text)),
							  true, 0, pm_storage_table()->relid,
							  req->params ? req->params : pm_no_params());

	req->keyed = true;
	if (req->opts != NULL && req->opts->cache_checked)
		hit = NULL;				/* the caller looked it up already */
	else
		hit = pm_cache_lookup(creq, req->opts != NULL && req->opts->borrow_result);
	if (hit == NULL)
		req->store = true;
	return hit;
}

/*
 * The failures prompt_manager.error_handler answers: those of the prompt
 * itself (missing prompt or include, cycle, depth, unknown or malformed
 * directive, missing parameter in error mode), not bad arguments, limits
 * or the server's own errors.
 */
static bool
pm_prompt_level_error(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_PM_PROMPT_NOT_FOUND ||
		sqlerrcode == ERRCODE_PM_INCLUDE_CYCLE ||
		sqlerrcode == ERRCODE_PM_INCLUDE_DEPTH ||
		sqlerrcode == ERRCODE_PM_UNKNOWN_DIRECTIVE ||
		sqlerrcode == ERRCODE_PM_MISSING_PARAMETER ||
		sqlerrcode == ERRCODE_PM_INVALID_DIRECTIVE;
}

/* May the current role execute function fn? */
static AclResult
object_aclcheck_compat(Oid fn)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(ProcedureRelationId, fn, GetUserId(), ACL_EXECUTE);
#else
	return pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE);
#endif
}

/*
 * Call prompt_manager.error_handler(prompt_id, sqlstate, message); its
 * result (possibly NULL) is the render's.
 */
static text *
pm_call_error_handler(const char *prompt_id, int sqlerrcode, const char *message)
{
	char	   *signature = psprintf("%s(text, text, text)", pm_error_handler);
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	List	   *names;
	Oid			fn;
	AclResult	acl;
	LOCAL_FCINFO(fcinfo, 3);
	FmgrInfo	flinfo;
	Datum		result;

#if PG_VERSION_NUM >= 160000
	names = stringToQualifiedNameList(pm_error_handler, NULL);
#else
	names = stringToQualifiedNameList(pm_error_handler);
#endif
	fn = LookupFuncName(names, 3, argtypes, true);
	if (!OidIsValid(fn))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("prompt_manager.error_handler names no function %s", signature),
				 errhint("The handler is a function (prompt_id text, sqlstate text, message text) RETURNS text.")));
	if (get_func_rettype(fn) != TEXTOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("prompt_manager.error_handler function %s must return text", signature)));
	acl = object_aclcheck_compat(fn);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_FUNCTION, get_func_name(fn));

	fmgr_info(fn, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 3, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = prompt_id ? CStringGetTextDatum(prompt_id) : (Datum) 0;
	fcinfo->args[0].isnull = prompt_id == NULL;
	fcinfo->args[1].value = CStringGetTextDatum(unpack_sql_state(sqlerrcode));
	fcinfo->args[1].isnull = false;
	fcinfo->args[2].value = CStringGetTextDatum(message ? message : "");
	fcinfo->args[2].isnull = false;
	result = FunctionCallInvoke(fcinfo);
	if (fcinfo->isnull)
		return NULL;
	return DatumGetTextPP(result);
}

/*
 * Render req (not from the cache) in a work context of its own, with the
 * compiled templates it uses kept alive until it ends.  A failure is
 * counted in pm_stats and raised again.
 */
static text *
pm_render_guarded(PmRenderRequest *req, bool track, instr_time start)
{
	MemoryContext work_cxt;
	text	   *volatile result = NULL;

	work_cxt = AllocSetContextCreate(req->result_cxt, "prompt_manager render",
									 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work_cxt);
	pm_template_cache_begin();
	PG_TRY();
	{
		result = pm_render_request(req);
	}
	PG_CATCH();
	{
		pm_template_cache_end();
		if (track)
		{
			instr_time	elapsed;

			INSTR_TIME_SET_CURRENT(elapsed);
			INSTR_TIME_SUBTRACT(elapsed, start);
			pm_request_count(req, false, true, INSTR_TIME_GET_MILLISEC(elapsed), 0);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	pm_template_cache_end();
	MemoryContextSwitchTo(req->result_cxt);
	MemoryContextDelete(work_cxt);
	return result;
}

/*
 * pm_render_guarded inside a subtransaction.  A failure is caught and
 * returned in *edata (the result is then NULL), except the failures that
 * must stop the whole statement: query cancel and timeouts, shutdown,
 * resource and internal errors (classes 53, 57, 58, XX), raised again.
 */
static text *
pm_render_in_subxact(PmRenderRequest *req, bool track, instr_time start,
					 ErrorData **edata)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	text	   *volatile result = NULL;
	ErrorData  *volatile caught = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		result = pm_render_guarded(req, track, start);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		caught = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_END_TRY();

	*edata = caught;
	if (caught != NULL)
	{
		char		class0 = PGUNSIXBIT(caught->sqlerrcode);
		char		class1 = PGUNSIXBIT(caught->sqlerrcode >> 6);

		if ((class0 == '5' && (class1 == '3' || class1 == '7' || class1 == '8')) ||
			(class0 == 'X' && class1 == 'X'))
			ReThrowError(caught);
		return NULL;
	}
	return result;
}

/*
 * Run a top-level render: from the shared cache when it has the answer,
 * otherwise rendered (answered by the error handler when one is set and
 * the render fails for a prompt-level reason), counted in pm_stats.
 */
static text *
pm_render_top(PmRenderRequest *req)
{
	bool		track = pm_stats_active();
	bool		timed_lookup = track && pm_stats_time_this_hit();
	instr_time	start;
	text	   *result;

	req->result_cxt = CurrentMemoryContext;
	if (req->opts != NULL && req->opts->no_stats)
		track = timed_lookup = false;
	if (timed_lookup)
		INSTR_TIME_SET_CURRENT(start);
	result = pm_render_from_cache(req);
	if (req->opts != NULL)
	{
		req->opts->from_cache = result != NULL;
		req->opts->cached = result != NULL;
	}
	if (result != NULL)
	{
		if (track)
		{
			double		ms = -1;

			if (timed_lookup)
			{
				instr_time	elapsed;

				INSTR_TIME_SET_CURRENT(elapsed);
				INSTR_TIME_SUBTRACT(elapsed, start);
				ms = INSTR_TIME_GET_MILLISEC(elapsed);
			}
			pm_request_count(req, true, false, ms, VARSIZE_ANY_EXHDR(result));
		}
		return result;
	}
	if (req->opts != NULL && req->opts->cache_only)
		return NULL;

	if (track && !timed_lookup)
		INSTR_TIME_SET_CURRENT(start);
	if (req->opts != NULL && req->opts->catch_errors)
	{
		/* pm_bulk_render, pm_preload: the caller reports the failure */
		ErrorData  *edata;

		result = pm_render_in_subxact(req, track, start, &edata);
		if (edata != NULL)
		{
			req->opts->error = edata->message ? pstrdup(edata->message) : pstrdup("unknown error");
			req->opts->sqlstate = pstrdup(unpack_sql_state(edata->sqlerrcode));
			return NULL;		/* counted as an error already */
		}
	}
	else if (pm_error_handler != NULL && pm_error_handler[0] != '\0' &&
			 (req->opts == NULL || req->opts->line_sink == NULL))
	{
		ErrorData  *edata;

		result = pm_render_in_subxact(req, track, start, &edata);
		if (edata != NULL)
		{
			if (!pm_prompt_level_error(edata->sqlerrcode))
				ReThrowError(edata);
			return pm_call_error_handler(req->prompt_id, edata->sqlerrcode,
										 edata->message);
		}
	}
	else
		result = pm_render_guarded(req, track, start);

	if (track)
	{
		instr_time	elapsed;

		INSTR_TIME_SET_CURRENT(elapsed);
		INSTR_TIME_SUBTRACT(elapsed, start);
		pm_request_count(req, false, false, INSTR_TIME_GET_MILLISEC(elapsed),
					   result != NULL ? VARSIZE_ANY_EXHDR(result) :
					   (req->opts != NULL ? req->opts->bytes : 0));
	}
	return result;
}

text *
pm_render_prompt(const char *prompt_id, Jsonb *params)
{
	PmRenderRequest req = {.prompt_id = prompt_id, .params = params};

	return pm_render_top(&req);
}

text *
pm_render_prompt_opts(const char *prompt_id, Jsonb *params,
					  PmRenderOptions *opts)
{
	PmRenderRequest req = {.prompt_id = prompt_id, .params = params, .opts = opts};

	return pm_render_top(&req);
}

PmRenderBatch *
pm_render_batch_begin(void)
{
	MemoryContext cxt;
	MemoryContext old;
	PmRenderBatch *batch;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "prompt_manager batch",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	batch = palloc0(sizeof(PmRenderBatch));
	batch->cxt = cxt;
	batch->loaded = pm_loaded_create("prompt_manager prompts of one batch");
	MemoryContextSwitchTo(old);
	pm_template_cache_begin();
	return batch;
}

void
pm_render_batch_end(PmRenderBatch *batch)
{
	pm_template_cache_end();
	MemoryContextDelete(batch->cxt);
}

text *
pm_render_inline(text *template_text, Jsonb *params)
{
	PmRenderRequest req = {.template_text = template_text, .params = params};

	return pm_render_top(&req);
}

/* Keywords collected by pm_prompt_keywords, without repeats. */
typedef struct PmKeywordSet
{
	HTAB	   *seen;			/* xxhash of the name -> first name */
	ArrayBuildState *names;
	List	   *all;			/* every name added, for hash collisions */
} PmKeywordSet;

typedef struct PmKeywordSeen
{
	uint64		key;
	const char *name;
	uint32		len;
} PmKeywordSeen;

static void
pm_keyword_set_add(PmKeywordSet *set, const char *name, uint32 len)
{
	uint64		key = XXH3_64bits(name, len);
	PmKeywordSeen *entry;
	bool		found;

	entry = hash_search(set->seen, &key, HASH_ENTER, &found);
	if (found)
	{
		ListCell   *lc;

		if (entry->len == len && memcmp(entry->name, name, len) == 0)
			return;
		/* same hash, other name: compare with all of them */
		foreach(lc, set->all)
		{
			text	   *t = (text *) lfirst(lc);

			if (VARSIZE_ANY_EXHDR(t) == len && memcmp(VARDATA_ANY(t), name, len) == 0)
				return;
		}
	}
	else
	{
		entry->name = name;
		entry->len = len;
	}
	set->all = lappend(set->all, cstring_to_text_with_len(name, len));
	set->names = accumArrayResult(set->names,
								  PointerGetDatum(llast(set->all)), false,
								  TEXTOID, CurrentMemoryContext);
}

/* Collect the keywords of tpl (chain_ids[depth]) and of its includes. */
static void
pm_collect_keywords(PmRenderState *state, PmKeywordSet *set,
					const PmTemplate *tpl, int depth)
{
	uint32		i;

	check_stack_depth();
	for (i = 0; i < tpl->nsegments; i++)
	{
		const PmSegment *seg = &tpl->segments[i];
		const PmDirective *dir;
		uint32		j;

		CHECK_FOR_INTERRUPTS();
		if (seg->kind == PM_SEG_KEYWORD)
		{
			const PmKeyword *kw = &tpl->keywords[seg->off];

			pm_keyword_set_add(set, tpl->pool + kw->off, kw->len);
			continue;
		}
		if (seg->kind != PM_SEG_DIRECTIVE)
			continue;

		dir = &tpl->directives[seg->off];
		for (j = 0; j < dir->body_count; j++)
		{
			const PmSegment *b = &tpl->body_segments[dir->body_first + j];

			if (b->kind == PM_SEG_KEYWORD)
			{
				const PmKeyword *kw = &tpl->keywords[b->off];

				pm_keyword_set_add(set, tpl->pool + kw->off, kw->len);
			}
		}

		/* follow includes whose target is known without parameters */
		if (dir->is_static && dir->nargs == 1 &&
			pm_is_include(tpl->pool + dir->name_off, dir->name_len))
		{
			PmCompiledPrompt *child;

			child = pm_enter_include(state,
									 pnstrdup(tpl->pool + dir->arg_off, dir->arg_len),
									 depth + 1, dir->line_no, false);
			if (child == NULL)
				continue;
			pm_collect_keywords(state, set, child->tpl, depth + 1);
		}
	}
}

/* pm_prompt_keywords' work, in the current (work) context. */
static ArrayType *
pm_prompt_keywords_work(const char *prompt_id, MemoryContext result_cxt)
{
	PmRenderState state;
	PmKeywordSet set;
	PmCompiledPrompt *prompt;
	HASHCTL		ctl;

	pm_render_state_init(&state, CurrentMemoryContext, prompt_id, NULL, NULL);
	memset(&set, 0, sizeof(set));
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(PmKeywordSeen);
	ctl.hcxt = CurrentMemoryContext;
	set.seen = hash_create("prompt_manager keywords", 64, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	set.names = initArrayResult(TEXTOID, CurrentMemoryContext, false);

	prompt = pm_load_prompt(prompt_id);
	if (prompt == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PM_PROMPT_NOT_FOUND),
				 errmsg("prompt \"%s\" does not exist", prompt_id)));
	pm_collect_keywords(&state, &set, prompt->tpl, 0);

	return DatumGetArrayTypeP(makeArrayResult(set.names, result_cxt));
}

ArrayType *
pm_prompt_keywords(const char *prompt_id)
{
	MemoryContext result_cxt = CurrentMemoryContext;
	MemoryContext work_cxt;
	ArrayType  *volatile result = NULL;

	work_cxt = AllocSetContextCreate(result_cxt, "prompt_manager keywords",
									 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work_cxt);
	pm_template_cache_begin();
	PG_TRY();
	{
		result = pm_prompt_keywords_work(prompt_id, result_cxt);
	}
	PG_FINALLY();
	{
		pm_template_cache_end();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(result_cxt);
	MemoryContextDelete(work_cxt);
	return result;
}
