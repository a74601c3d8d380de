/*-------------------------------------------------------------------------
 *
 * pm_render.c
 *		The renderer: compiled prompts to text, with parameters, includes,
 *		directives and limits.
 *
 * This file knows nothing of the shared cache, statistics or the error
 * handler: pm_request.c runs a top-level render around pm_render_job().
 *
 * A failure of the render itself goes through pm_fail(): an ERROR, or,
 * when the job asked for it (PmRenderJob.soft), a PmErrorText kept in the
 * state, after which every function returns at once and the render ends
 * with no output (PM_FAILED is checked after each step that can fail).
 * That lets the error handler and bulk requests answer failures without
 * a subtransaction, which parallel mode forbids.
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

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pm_cache.h"
#include "pm_errors.h"
#include "pm_params.h"
#include "pm_ref.h"
#include "pm_render.h"
#include "pm_storage.h"
#include "pm_settings.h"
#include "pm_template_cache.h"

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

	/*
	 * What each prompt of the chain is, for the cycle check: a prompt id
	 * and a version (0: the head).  A cycle is the same prompt at the same
	 * version twice, however it was referred to.
	 */
	const char **chain_pids;
	int32	   *chain_versions;

	/*
	 * References: the label of the root when it is a label (then an include
	 * without '@' is PM_REF_LABEL_OR_HEAD of it), whether a reference other
	 * than a head was read (the cache then needs the role to read versions
	 * and labels freely), the time of a render as of a past time.
	 */
	const char *root_label;
	size_t		root_label_len;
	bool		uses_refs;
	bool		as_of_set;
	TimestampTz as_of;

	/* pm_resolve and pm_publish: every prompt read, and who read it */
	PmResolveSink resolve_sink;
	void	   *resolve_arg;
	bool		walk;			/* keywords without a value are kept, no
								 * params check: only what is read matters */

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

	/*
	 * prompt_manager.unknown_parameter other than ignore: matched[j] says
	 * whether key j of the params argument matched a keyword of a template
	 * rendered so far; unmatched counts those that did not (0: no check).
	 */
	bool	   *matched;
	int			unmatched;

	/* failures reported rather than raised (see pm_fail) */
	PmRenderSoft soft;
	PmErrorText *failure;		/* the first one, in result_cxt */
	MemoryContext result_cxt;
} PmRenderState;

/* Has the render failed (with the failure reported, not raised)? */
#define PM_FAILED(state) unlikely((state)->failure != NULL)

/* A batch of renders: the prompts read so far, by id hash. */
struct PmRenderBatch
{
	MemoryContext cxt;			/* holds the batch, lives as long */
	HTAB	   *loaded;
};

/*
 * A prompt read during this render, by the key of the reference that read
 * it (pm_ref_key; NULL prompt: not visible, status says why).
 */
typedef struct PmLoadedEntry
{
	uint64		key;
	const char *prompt_id;		/* the reference's key */
	PmCompiledPrompt *prompt;
	PmLoadStatus status;
	int32		label_version;
} PmLoadedEntry;

/* Error context: which prompt was being rendered. */
typedef struct PmRenderFrame
{
	const char *prompt_id;
} PmRenderFrame;

static void pm_render_template(PmRenderState *state, const PmTemplate *tpl,
							   int depth);

bool
pm_render_answerable_error(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_PM_PROMPT_NOT_FOUND ||
		sqlerrcode == ERRCODE_PM_LABEL_NOT_FOUND ||
		sqlerrcode == ERRCODE_PM_INCLUDE_CYCLE ||
		sqlerrcode == ERRCODE_PM_INCLUDE_DEPTH ||
		sqlerrcode == ERRCODE_PM_UNKNOWN_DIRECTIVE ||
		sqlerrcode == ERRCODE_PM_MISSING_PARAMETER ||
		sqlerrcode == ERRCODE_PM_UNKNOWN_PARAMETER ||
		sqlerrcode == ERRCODE_PM_INVALID_DIRECTIVE;
}

/*
 * A failure of the render, described by error: raised, or, when the job
 * asked for failures of its kind (state->soft), kept as state->failure (a
 * copy in the result context), and then this returns.  The ERROR raised
 * is the one the description says, with the error context of the prompts
 * being rendered, as if ereport() had been called here.
 */
static void
pm_fail(PmRenderState *state, PmErrorText *error)
{
	MemoryContext old;
	PmErrorText *copy;

	if (state->soft == PM_SOFT_NONE ||
		(state->soft == PM_SOFT_PROMPT &&
		 !pm_render_answerable_error(error->sqlerrcode)))
		pm_error_text_report(ERROR, error);

	if (state->failure != NULL)
		return;					/* the first one is the render's */
	old = MemoryContextSwitchTo(state->result_cxt);
	copy = palloc(sizeof(PmErrorText));
	copy->sqlerrcode = error->sqlerrcode;
	copy->message = pstrdup(error->message);
	copy->detail = error->detail ? pstrdup(error->detail) : NULL;
	copy->hint = error->hint ? pstrdup(error->hint) : NULL;
	MemoryContextSwitchTo(old);
	state->failure = copy;
}

/* pm_fail with the parts of the error given one by one (each may be NULL but message). */
static void
pm_fail_with(PmRenderState *state, int sqlerrcode, char *message,
			 char *detail, char *hint)
{
	PmErrorText error = {sqlerrcode, message, detail, hint};

	pm_fail(state, &error);
}

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

/* Fail (pm_fail) once the render has taken longer than render_timeout. */
static void
pm_check_timeout(PmRenderState *state)
{
	if (pm_render_timeout > 0 &&
		TimestampDifferenceExceeds(state->started, GetCurrentTimestamp(),
								   pm_render_timeout))
		pm_fail_with(state, ERRCODE_PM_RENDER_TIMEOUT,
					 psprintf("rendering %s took longer than prompt_manager.render_timeout (%d ms)",
							  pm_describe(state->root_id), pm_render_timeout),
					 NULL, NULL);
}

/*
 * Fail cleanly, before allocating, when the output would pass 1 GB.
 * Returns false when it failed (reported, see pm_fail).
 */
static bool
pm_check_output_size(PmRenderState *state, Size more)
{
	if (likely(more <= PM_MAX_OUTPUT_BYTES - (Size) state->out->len))
		return true;
	pm_fail_with(state, ERRCODE_PM_OUTPUT_TOO_LARGE,
				 psprintf("rendered text of %s would exceed the maximum size of a text value (1 GB)",
						  pm_describe(state->root_id)),
				 NULL, NULL);
	return false;
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
	if (!pm_check_output_size(state, len))
		return;
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
	switch (state->walk ? PM_MISSING_KEEP : pm_missing_parameter)
	{
		case PM_MISSING_KEEP:
			pm_append(state, buf, tpl->pool + kw->off, kw->len);
			break;
		case PM_MISSING_EMPTY:
			break;
		case PM_MISSING_ERROR:
			pm_fail_with(state, ERRCODE_PM_MISSING_PARAMETER,
						 psprintf("keyword \"%.*s\" in %s has no value",
								  (int) kw->len, tpl->pool + kw->off,
								  pm_describe(prompt_id)),
						 NULL,
						 pstrdup("Pass it in params, store a default in pm_prompts.parameters, "
								 "or set prompt_manager.missing_parameter to keep or empty."));
			break;
	}
}

/* Append the literal and keyword segments left in *it to buf. */
static void
pm_emit_segments(PmRenderState *state, StringInfo buf, const PmTemplate *tpl,
				 PmSegmentIter *it, const PmSlot *slots,
				 const char *prompt_id)
{
	PmSegment	seg;

	while (pm_segments_next(tpl, it, &seg))
	{
		if (seg.kind == PM_SEG_LITERAL)
			pm_append(state, buf, tpl->pool + seg.off, seg.len);
		else if (seg.kind == PM_SEG_KEYWORD)
			pm_emit_keyword(state, buf, tpl, slots, seg.keyword, prompt_id);
		if (PM_FAILED(state))
			return;
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
 * Resolve ref for a render as of state->as_of (pm_render_as_of): the
 * version each label pointed to then, from pm_label_history, and the head
 * as it was then, the newest version created by then.  Read through SPI as
 * the current user.  0 when there was none (*status says what).
 */
static int32
pm_resolve_as_of(PmRenderState *state, const PmRef *ref, PmLoadStatus *status)
{
	static const char *const label_query =
	"SELECT h.to_version FROM %s.pm_label_history h "
	"WHERE h.prompt_id OPERATOR(pg_catalog.=) $1 AND h.label OPERATOR(pg_catalog.=) $2 "
	"AND h.moved_at OPERATOR(pg_catalog.<=) $3 ORDER BY h.moved_at DESC, h.move_id DESC LIMIT 1";
	static const char *const head_query =
	"SELECT v.version FROM %s.pm_prompt_versions v "
	"WHERE v.prompt_id OPERATOR(pg_catalog.=) $1 AND v.created_at OPERATOR(pg_catalog.<=) $3 "
	"ORDER BY v.version DESC LIMIT 1";
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[3];
	char	   *nsp;
	int32		version = 0;
	bool		isnull;

	if (ref->kind == PM_REF_VERSION)
		return ref->version;
	nsp = get_namespace_name(pm_storage_table_of(PM_TABLE_VERSIONS)->namespace);
	if (nsp == NULL)
		elog(ERROR, "cache lookup failed for the schema of prompt_manager");
	values[0] = PointerGetDatum(cstring_to_text_with_len(ref->id, ref->id_len));
	values[1] = PointerGetDatum(cstring_to_text_with_len(ref->label ? ref->label : "",
														 ref->label_len));
	values[2] = TimestampTzGetDatum(state->as_of);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (ref->kind == PM_REF_LABEL || ref->kind == PM_REF_LABEL_OR_HEAD)
	{
		if (SPI_execute_with_args(psprintf(label_query, quote_identifier(nsp)),
								  3, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_with_args failed");
		if (SPI_processed > 0)
		{
			Datum		v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				version = DatumGetInt32(v);
		}
		if (version == 0 && ref->kind == PM_REF_LABEL)
			*status = PM_LOAD_NO_LABEL;
	}
	if (version == 0 && ref->kind != PM_REF_LABEL)
	{
		if (SPI_execute_with_args(psprintf(head_query, quote_identifier(nsp)),
								  3, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_with_args failed");
		if (SPI_processed > 0)
			version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
		if (version == 0)
			*status = PM_LOAD_NO_PROMPT;
	}
	SPI_finish();
	return version;
}

/* What ref names in this render (not remembered: see pm_render_read). */
static PmCompiledPrompt *
pm_render_resolve(PmRenderState *state, const PmRef *ref, PmLoadStatus *status,
				  int32 *label_version)
{
	PmCompiledPrompt *prompt;
	int32		version;

	if (!state->as_of_set)
		return pm_load_ref(ref, status, label_version);
	*status = PM_LOAD_FOUND;
	*label_version = 0;
	version = pm_resolve_as_of(state, ref, status);
	if (version == 0)
		return NULL;
	if (ref->kind == PM_REF_LABEL || ref->kind == PM_REF_LABEL_OR_HEAD)
		*label_version = version;
	prompt = pm_load_version(ref->id, ref->id_len, version);
	if (prompt == NULL)
		*status = PM_LOAD_NO_VERSION;
	return prompt;
}

/*
 * The compiled prompt ref names, read at most once per batch (when there
 * is one) and per render, by the reference's key.  *first says whether
 * this render asked for it before.
 */
static PmCompiledPrompt *
pm_render_read(PmRenderState *state, const PmRef *ref, bool *first,
			   PmLoadStatus *status, int32 *label_version)
{
	char	   *name = pm_ref_key(ref);
	uint64		key = XXH3_64bits(name, strlen(name));
	PmLoadedEntry *entry;
	bool		found;
	PmCompiledPrompt *prompt = NULL;
	bool		have = false;

	if (ref->kind != PM_REF_HEAD)
		state->uses_refs = true;
	if (state->loaded == NULL)
		state->loaded = pm_loaded_create("prompt_manager prompts of one render");
	entry = hash_search(state->loaded, &key, HASH_ENTER, &found);
	if (found && entry->prompt_id != NULL && strcmp(entry->prompt_id, name) == 0)
	{
		*first = false;
		*status = entry->status;
		*label_version = entry->label_version;
		pfree(name);
		return entry->prompt;
	}
	*first = true;
	if (found && entry->prompt_id != NULL)
		pfree((char *) entry->prompt_id);	/* another id, same hash */
	entry->prompt_id = NULL;	/* until read: an error may come first */

	/* read earlier in the batch? */
	if (state->batch != NULL && !state->as_of_set)
	{
		PmLoadedEntry *shared;
		bool		shared_found;

		shared = hash_search(state->batch->loaded, &key, HASH_ENTER, &shared_found);
		if (shared_found && shared->prompt_id != NULL &&
			strcmp(shared->prompt_id, name) == 0)
		{
			prompt = shared->prompt;
			*status = shared->status;
			*label_version = shared->label_version;
		}
		else
		{
			/* new, or another id with the same hash: read again later */
			if (shared_found && shared->prompt_id != NULL)
				pfree((char *) shared->prompt_id);
			shared->prompt_id = NULL;
			prompt = pm_render_resolve(state, ref, status, label_version);
			shared->prompt = prompt;
			shared->status = *status;
			shared->label_version = *label_version;
			shared->prompt_id = MemoryContextStrdup(state->batch->cxt, name);
		}
		have = true;
	}
	if (!have)
		prompt = pm_render_resolve(state, ref, status, label_version);

	/* new, or another id with the same hash: that one is read again later */
	entry->prompt_id = name;
	entry->prompt = prompt;
	entry->status = *status;
	entry->label_version = *label_version;
	return prompt;
}

/*
 * The compiled prompt ref names, recorded as a dependency of the output
 * under the reference's key: what the shared cache checks again on a hit
 * (pm_visibility_ref gives the prompt's revision for it).
 */
static PmCompiledPrompt *
pm_render_load(PmRenderState *state, const PmRef *ref, PmLoadStatus *status,
			   int32 *label_version)
{
	bool		first;
	PmCompiledPrompt *prompt = pm_render_read(state, ref, &first, status,
											  label_version);

	if (first && prompt != NULL)
	{
		PmCacheDependency *dep = palloc(sizeof(PmCacheDependency));

		dep->name = pm_ref_key(ref);
		dep->revision = prompt->revision;
		state->deps = lappend(state->deps, dep);
	}
	return prompt;
}

/* "prompt "x"", "version 3 of prompt "x"", for ref as it was read. */
static void
pm_missing_message(const PmRef *ref, PmLoadStatus status, int32 label_version,
				   int *sqlstate, char **msg, char **detail)
{
	*detail = NULL;
	*sqlstate = ERRCODE_PM_PROMPT_NOT_FOUND;
	switch (status)
	{
		case PM_LOAD_NO_LABEL:
			*sqlstate = ERRCODE_PM_LABEL_NOT_FOUND;
			*msg = psprintf("prompt \"%.*s\" has no label \"%.*s\"",
							(int) ref->id_len, ref->id,
							(int) ref->label_len, ref->label);
			break;
		case PM_LOAD_NO_VERSION:
			*msg = psprintf("version %d of prompt \"%.*s\" does not exist",
							ref->kind == PM_REF_VERSION ? ref->version : label_version,
							(int) ref->id_len, ref->id);
			if (ref->kind != PM_REF_VERSION)
				*detail = psprintf("Label \"%.*s\" points to it.",
								   (int) ref->label_len, ref->label);
			break;
		default:
			*msg = psprintf("prompt \"%.*s\" does not exist",
							(int) ref->id_len, ref->id);
			break;
	}
}

/*
 * A prompt that is not there (or not visible), or a version or label of
 * it: an error, or the missing_prompt_text with a WARNING when
 * raise_on_missing is off.
 */
static void
pm_missing_prompt(PmRenderState *state, const PmRef *ref, PmLoadStatus status,
				  int32 label_version, const char *parent_id, uint32 line_no,
				  int depth, bool unfilled_keyword)
{
	int			elevel = pm_raise_on_missing ? ERROR : WARNING;
	int			sqlstate;
	char	   *msg;
	char	   *detail;

	PmErrorText error;

	/* the WARNING must be seen on every render: never from the cache */
	state->cacheable = false;

	pm_missing_message(ref, status, label_version, &sqlstate, &msg, &detail);
	if (state->as_of_set && status != PM_LOAD_NO_VERSION)
		msg = psprintf("%s at %s", status == PM_LOAD_NO_LABEL ?
					   psprintf("prompt \"%.*s\" had no label \"%.*s\"",
								(int) ref->id_len, ref->id,
								(int) ref->label_len, ref->label) :
					   psprintf("prompt \"%.*s\" had no version",
								(int) ref->id_len, ref->id),
					   timestamptz_to_str(state->as_of));
	error.sqlerrcode = sqlstate;
	error.message = msg;
	error.detail = detail;
	error.hint = NULL;
	if (depth > 0)
	{
		error.detail = detail ?
			psprintf("%s It is included by %s at line %u.", detail,
					 pm_describe(parent_id), line_no) :
			psprintf("It is included by %s at line %u.",
					 pm_describe(parent_id), line_no);
		if (unfilled_keyword)
			error.hint = pstrdup("The include line uses a keyword that has no value: pass it in params.");
	}
	if (elevel == ERROR)
	{
		pm_fail(state, &error);
		return;
	}
	pm_error_text_report(elevel, &error);

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

/* ref as it was written: "id", "id@3", "id@production". */
static char *
pm_ref_written(const PmRef *ref)
{
	PmRef		written = *ref;

	if (written.kind == PM_REF_LABEL_OR_HEAD)
		written.kind = PM_REF_HEAD;
	return pm_ref_key(&written);
}

/*
 * Is (prompt_id, version) in the chain above depth?  Then the render fails
 * with the cycle error (pm_fail) and this returns true.
 */
static bool
pm_check_cycle(PmRenderState *state, const char *prompt_id, size_t id_len,
			   int32 version, int depth, const char *name)
{
	int			d;

	for (d = 0; d < depth; d++)
	{
		if (state->chain_pids[d] != NULL &&
			state->chain_versions[d] == version &&
			strlen(state->chain_pids[d]) == id_len &&
			memcmp(state->chain_pids[d], prompt_id, id_len) == 0)
		{
			pm_fail_with(state, ERRCODE_PM_INCLUDE_CYCLE,
						 psprintf("include cycle: %s",
								  pm_chain_text(state, depth - 1, name)),
						 NULL, NULL);
			return true;
		}
	}
	return false;
}

/*
 * Enter the prompt named by reference ref (of an include directive on line
 * line_no of the prompt at depth - 1) at depth >= 1: check for a cycle,
 * the depth limit and the time limit, and read it.  NULL when it is
 * missing (after the error, or the WARNING and fallback text of
 * raise_on_missing = off) or the render failed (PM_FAILED).  A head or a
 * version is checked for a cycle before it is read; a label once it is
 * known which version it names.
 */
static PmCompiledPrompt *
pm_enter_include(PmRenderState *state, const PmRef *ref, int depth,
				 uint32 line_no, bool unfilled_keyword)
{
	PmCompiledPrompt *prompt;
	PmLoadStatus status;
	int32		label_version;

	if (ref->kind == PM_REF_HEAD || ref->kind == PM_REF_VERSION)
	{
		char	   *name = pm_ref_written(ref);
		bool		cycle;

		cycle = pm_check_cycle(state, ref->id, ref->id_len,
							   ref->kind == PM_REF_VERSION ? ref->version : 0,
							   depth, name);
		pfree(name);
		if (cycle)
			return NULL;
	}
	if (depth > state->max_depth)
	{
		pm_fail_with(state, ERRCODE_PM_INCLUDE_DEPTH,
					 psprintf("includes are nested deeper than prompt_manager.max_include_depth (%d)",
							  state->max_depth),
					 psprintf("Include chain: %s.",
							  pm_chain_text(state, depth - 1, pm_ref_written(ref))),
					 pstrdup("Raise prompt_manager.max_include_depth, or include fewer levels."));
		return NULL;
	}

	pm_check_timeout(state);
	if (PM_FAILED(state))
		return NULL;
	prompt = pm_render_load(state, ref, &status, &label_version);
	if (prompt == NULL)
	{
		pm_missing_prompt(state, ref, status, label_version,
						  state->chain_ids[depth - 1], line_no, depth,
						  unfilled_keyword);
		return NULL;
	}
	if ((ref->kind == PM_REF_LABEL || ref->kind == PM_REF_LABEL_OR_HEAD) &&
		pm_check_cycle(state, prompt->prompt_id, strlen(prompt->prompt_id),
					   prompt->version, depth, prompt->name))
		return NULL;
	state->chain_ids[depth] = prompt->name;
	state->chain_pids[depth] = prompt->prompt_id;
	state->chain_versions[depth] = prompt->version;
	if (state->resolve_sink != NULL)
		state->resolve_sink(state->resolve_arg, prompt, depth,
							state->chain_pids[depth - 1]);
	return prompt;
}

/*
 * pm_enter_include for the reference arg[0..arg_len) of an include line of
 * the prompt at depth - 1: a reference that does not parse is an error of
 * that prompt (PM005).  In a render of a label, an include without '@' is
 * that label of the included prompt when it has it, else its head.  The
 * copies made to look it up are freed at once (the chain keeps the
 * compiled prompt's own names), so an include walked costs no memory that
 * stays.
 */
static PmCompiledPrompt *
pm_enter_include_id(PmRenderState *state, const char *arg, size_t arg_len,
					int depth, uint32 line_no, bool unfilled_keyword)
{
	PmRef		ref;
	const char *problem = pm_ref_parse(arg, arg_len, &ref);

	if (problem != NULL)
	{
		pm_fail_with(state, ERRCODE_PM_INVALID_DIRECTIVE,
					 psprintf("invalid prompt reference \"%.*s\" in an include of %s at line %u",
							  (int) Min(arg_len, 300), arg,
							  pm_describe(state->chain_ids[depth - 1]), line_no),
					 pstrdup(problem),
					 pstrdup("A reference is a prompt id, id@3 for version 3, or id@label for the version a label points to."));
		return NULL;
	}
	if (ref.kind == PM_REF_HEAD && state->root_label != NULL)
	{
		ref.kind = PM_REF_LABEL_OR_HEAD;
		ref.label = state->root_label;
		ref.label_len = state->root_label_len;
	}
	return pm_enter_include(state, &ref, depth, line_no, unfilled_keyword);
}

/* Run one directive line of the template rendered at depth. */
static void
pm_run_directive(PmRenderState *state, const PmTemplate *tpl,
				 const PmSegment *dir, const PmSlot *slots, int depth)
{
	const char *prompt_id = state->chain_ids[depth];
	PmSegmentIter body;
	PmSegment	seg;
	const char *name;
	const char *arg;
	size_t		name_len;
	size_t		arg_len;
	uint32		nargs;
	StringInfoData line;

	/* the line with its keywords filled in */
	initStringInfo(&line);
	pm_segments_body(tpl, dir, &body);
	pm_emit_segments(state, &line, tpl, &body, slots, prompt_id);
	if (PM_FAILED(state))
	{
		pfree(line.data);
		return;
	}
	nargs = pm_directive_split(line.data, line.len, &name, &name_len,
							   &arg, &arg_len);

	if (pm_is_include(name, name_len))
	{
		PmCompiledPrompt *included;
		bool		unfilled = false;

		if (nargs != 1)
		{
			pm_fail_with(state, ERRCODE_PM_INVALID_DIRECTIVE,
						 psprintf("directive \"//%.*s\" in %s at line %u needs exactly one prompt id",
								  (int) name_len, name, pm_describe(prompt_id),
								  dir->line_no),
						 psprintf("The line reads \"%s\".", line.data),
						 NULL);
			pfree(line.data);
			return;
		}

		/* did a keyword of the line stay as written? */
		pm_segments_body(tpl, dir, &body);
		while (pm_segments_next(tpl, &body, &seg))
		{
			if (seg.kind == PM_SEG_KEYWORD && slots[seg.keyword].rank < 0)
				unfilled = true;
		}

		pm_append(state, state->out, tpl->pool + dir->off, dir->indent_len);
		included = PM_FAILED(state) ? NULL :
			pm_enter_include_id(state, arg, arg_len, depth + 1,
								dir->line_no, unfilled);
		if (included != NULL)
		{
			state->layers[depth + 2] = included->defaults;
			pm_render_template(state, included->tpl, depth + 1);
		}
	}
	else if (pm_unknown_directive == PM_DIRECTIVE_ERROR)
		pm_fail_with(state, ERRCODE_PM_UNKNOWN_DIRECTIVE,
					 name_len > 0 ?
					 psprintf("unknown directive \"//%.*s\" in %s at line %u",
							  (int) name_len, name, pm_describe(prompt_id),
							  dir->line_no) :
					 psprintf("directive line without a name in %s at line %u",
							  pm_describe(prompt_id), dir->line_no),
					 pstrdup("Only //include and //import are directives."),
					 pstrdup("Set prompt_manager.unknown_directive to keep to leave such lines in the text."));
	else
	{
		pm_append(state, state->out, tpl->pool + dir->off, dir->indent_len);
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
	PmSegmentIter it;
	PmSegment	seg;

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
	if (state->unmatched > 0)
		pm_params_match(tpl, state->layers[0], state->matched, &state->unmatched);

	/* reserve this level's output at once (includes add theirs) */
	pm_segments_begin(tpl, &it);
	while (tpl->nkeywords > 0 && pm_segments_next(tpl, &it, &seg))
	{
		if (seg.kind != PM_SEG_KEYWORD)
			continue;
		if (slots[seg.keyword].rank >= 0)
			need += slots[seg.keyword].value_len;
		else if (pm_missing_parameter == PM_MISSING_KEEP)
			need += seg.len;
	}
	if (state->line_sink == NULL)
	{
		if (!pm_check_output_size(state, need))
			goto done;
		enlargeStringInfo(state->out, (int) need);
	}

	pm_segments_begin(tpl, &it);
	while (pm_segments_next(tpl, &it, &seg))
	{
		CHECK_FOR_INTERRUPTS();
		if (++state->ticks % PM_TIMEOUT_CHECK_INTERVAL == 0)
		{
			pm_check_timeout(state);
			if (PM_FAILED(state))
				break;
		}

		switch (seg.kind)
		{
			case PM_SEG_LITERAL:
				pm_append(state, state->out, tpl->pool + seg.off, seg.len);
				break;
			case PM_SEG_KEYWORD:
				pm_emit_keyword(state, state->out, tpl, slots, seg.keyword, prompt_id);
				break;
			case PM_SEG_DIRECTIVE:
				pm_run_directive(state, tpl, &seg, slots, depth);
				break;
		}
		if (PM_FAILED(state))
			break;
	}

done:
	if (slots != NULL)
		pfree(slots);
	error_context_stack = errcallback.previous;
}

/*
 * Set up a render of root (a stored prompt's id, or NULL for inline),
 * through batch (or NULL), streamed to line_sink (or NULL).
 */
static void
pm_render_state_init(PmRenderState *state, MemoryContext result_cxt,
					 const char *root_id, Jsonb *params,
					 PmRenderBatch *batch, PmLineSink line_sink,
					 void *line_sink_arg, PmRenderSoft soft)
{
	MemoryContext old;
	PmErrorText error;

	memset(state, 0, sizeof(PmRenderState));
	state->soft = soft;
	state->result_cxt = result_cxt;
	state->max_depth = pm_max_include_depth;
	state->chain_ids = palloc0(sizeof(char *) * (state->max_depth + 2));
	state->chain_pids = palloc0(sizeof(char *) * (state->max_depth + 2));
	state->chain_versions = palloc0(sizeof(int32) * (state->max_depth + 2));
	state->layers = palloc0(sizeof(PmParamList *) * (state->max_depth + 3));
	state->chain_ids[0] = root_id;
	state->root_id = root_id;
	state->cacheable = true;
	if (params != NULL && soft == PM_SOFT_ALL &&
		!pm_params_check_object(params, "params", &error))
		pm_fail(state, &error);
	else if (params != NULL)
		state->layers[0] = pm_params_from_jsonb(params, "params");
	if (pm_unknown_parameter != PM_UNKNOWN_IGNORE && state->layers[0] != NULL &&
		state->layers[0]->nparams > 0)
	{
		state->unmatched = state->layers[0]->nparams;
		state->matched = palloc0(sizeof(bool) * state->unmatched);
	}
	if (pm_render_timeout > 0)
		state->started = GetCurrentTimestamp();
	state->batch = batch;
	state->line_sink = line_sink;
	state->line_sink_arg = line_sink_arg;

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
 * prompt_manager.unknown_parameter: report the params keys that no
 * template rendered used.  Not when a prompt was missing (its keywords are
 * not known).  A WARNING keeps the rendering out of the shared cache, to be
 * seen on every render; a rendering stored under warning or error thus had
 * no unknown key, and a hit needs no check.
 */
static void
pm_check_unknown_params(PmRenderState *state, const PmTemplate *root_tpl)
{
	List	   *templates;
	HASH_SEQ_STATUS seq;
	PmLoadedEntry *entry;
	PmErrorText error;

	if (state->unmatched == 0 || !state->cacheable || PM_FAILED(state) ||
		state->walk)
		return;
	templates = list_make1((void *) root_tpl);
	/* the includes rendered: each prompt read, once */
	if (state->loaded != NULL)
	{
		hash_seq_init(&seq, state->loaded);
		while ((entry = hash_seq_search(&seq)) != NULL)
		{
			if (entry->prompt_id != NULL && entry->prompt != NULL)
				templates = lappend(templates, (void *) entry->prompt->tpl);
		}
	}
	if (pm_params_describe_unknown(state->layers[0], state->matched,
								   pm_describe(state->root_id), templates,
								   &error))
	{
		if (pm_unknown_parameter == PM_UNKNOWN_ERROR)
			pm_fail(state, &error);
		else
			pm_error_text_report(WARNING, &error);
	}
	state->cacheable = false;
}

/* The root of a render is ref: a label's includes follow the label. */
static void
pm_render_root_ref(PmRenderState *state, const PmRef *ref)
{
	if (ref->kind == PM_REF_LABEL)
	{
		state->root_label = ref->label;
		state->root_label_len = ref->label_len;
	}
	if (ref->kind != PM_REF_HEAD)
		state->uses_refs = true;
}

/* The root prompt read: it heads the chain. */
static void
pm_render_enter_root(PmRenderState *state, PmCompiledPrompt *prompt)
{
	state->chain_ids[0] = prompt->name;
	state->chain_pids[0] = prompt->prompt_id;
	state->chain_versions[0] = prompt->version;
	if (state->resolve_sink != NULL)
		state->resolve_sink(state->resolve_arg, prompt, 0, NULL);
}

/*
 * Render job->prompt_id (a reference, or job->template_text) into
 * job->result_cxt; see pm_render.h.
 */
text *
pm_render_job(PmRenderJob *job)
{
	PmRenderState state;
	text	   *result;

	pm_render_state_init(&state, job->result_cxt, job->prompt_id, job->params,
						 job->batch, job->line_sink, job->line_sink_arg,
						 job->soft);
	state.resolve_sink = job->resolve_sink;
	state.resolve_arg = job->resolve_arg;
	state.walk = job->walk;
	state.as_of_set = job->as_of_set;
	state.as_of = job->as_of;
	if (state.as_of_set)
		state.cacheable = false;
	job->root_revision = 0;
	job->root_found = false;
	job->failure = NULL;
	if (PM_FAILED(&state))
		;						/* params is not an object */
	else if (job->prompt_id != NULL)
	{
		PmCompiledPrompt *prompt;
		PmRef		ref;
		PmLoadStatus status;
		int32		label_version;
		bool		first;

		pm_ref_parse_arg(job->prompt_id, strlen(job->prompt_id), &ref);
		pm_render_root_ref(&state, &ref);
		if (state.batch != NULL || ref.kind != PM_REF_HEAD || state.as_of_set)
			prompt = pm_render_read(&state, &ref, &first, &status, &label_version);
		else
		{
			prompt = pm_load_prompt(job->prompt_id);
			status = PM_LOAD_NO_PROMPT;
		}

		if (prompt == NULL)
			pm_missing_prompt(&state, &ref, status, label_version, NULL, 0, 0, false);
		else
		{
			job->root_found = true;
			pm_render_enter_root(&state, prompt);
			state.layers[1] = prompt->defaults;
			pm_render_template(&state, prompt->tpl, 0);
			job->root_revision = prompt->revision;
			pm_check_unknown_params(&state, prompt->tpl);
		}
	}
	else
	{
		PmTemplate *tpl = pm_compile_text(VARDATA_ANY(job->template_text),
										  VARSIZE_ANY_EXHDR(job->template_text));

		pm_render_template(&state, tpl, 0);
		pm_check_unknown_params(&state, tpl);
	}
	job->uses_refs = state.uses_refs;
	job->bytes = state.bytes;
	job->deps = state.deps;
	job->cacheable = state.cacheable;
	if (PM_FAILED(&state))
	{
		/* nothing of a failed render is returned, nor cached */
		job->failure = state.failure;
		job->cacheable = false;
		return NULL;
	}
	result = pm_render_result(&state);
	return result;
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

	/*
	 * The batch holds compiled prompts for as long as its memory lives, so
	 * a batch abandoned by an error (its executor's memory freed by the
	 * abort of the statement or of a subtransaction) lets them go too.
	 */
	pm_template_cache_pin_context(cxt);
	return batch;
}

/* End a batch: its memory, and with it its pin on the compiled prompts. */
void
pm_render_batch_end(PmRenderBatch *batch)
{
	MemoryContextDelete(batch->cxt);
}

/* Keywords collected by pm_prompt_keywords, without repeats. */
typedef struct PmKeywordSet
{
	HTAB	   *seen;			/* xxhash of the name -> first name */
	ArrayBuildState *names;
	List	   *all;			/* every name added, for hash collisions */
	HTAB	   *walked;			/* prompts walked to the end: PmKeywordsWalked */
} PmKeywordSet;

/*
 * A prompt whose keywords and includes were all collected.  height is the
 * longest chain of include lines below it (a missing include counts as
 * one): entered again at depth d, it has nothing new to give and cannot
 * fail when d + height <= max_depth (a cycle through it would have been
 * met on its first walk).
 */
typedef struct PmKeywordsWalked
{
	const PmCompiledPrompt *prompt; /* the key: one per prompt in a render */
	int			height;
} PmKeywordsWalked;

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

/*
 * Collect the keywords of prompt (chain_ids[depth]) and of its includes;
 * returns its height (see PmKeywordsWalked).  The answer is a set, and a
 * prompt's keywords do not depend on the way it was reached (includes with
 * a keyword are not followed), so each prompt is walked once: a diamond of
 * includes costs its number of prompts, not of paths.  Where walking again
 * would fail (too deep from here), it is walked again, to fail as the
 * walk of every path did: at the same line, with the same chain.
 */
static int
pm_collect_keywords(PmRenderState *state, PmKeywordSet *set,
					const PmCompiledPrompt *prompt, int depth)
{
	const PmTemplate *tpl = prompt->tpl;
	PmKeywordsWalked *walked;
	int			height = 0;
	PmSegmentIter it;
	PmSegment	seg;

	check_stack_depth();
	pm_segments_begin(tpl, &it);
	while (pm_segments_next(tpl, &it, &seg))
	{
		PmSegmentIter body;
		PmSegment	b;
		const char *name;
		const char *arg;
		size_t		name_len;
		size_t		arg_len;

		CHECK_FOR_INTERRUPTS();
		if (seg.kind == PM_SEG_KEYWORD)
		{
			pm_keyword_set_add(set, tpl->pool + seg.off, seg.len);
			continue;
		}
		if (seg.kind != PM_SEG_DIRECTIVE)
			continue;

		pm_segments_body(tpl, &seg, &body);
		while (pm_segments_next(tpl, &body, &b))
		{
			if (b.kind == PM_SEG_KEYWORD)
				pm_keyword_set_add(set, tpl->pool + b.off, b.len);
		}

		/* follow includes whose target is known without parameters */
		if (seg.is_static &&
			pm_directive_split(tpl->pool + seg.off + seg.indent_len,
							   seg.len - seg.indent_len, &name, &name_len,
							   &arg, &arg_len) == 1 &&
			pm_is_include(name, name_len))
		{
			PmCompiledPrompt *child;
			PmKeywordsWalked *done;
			int			below;

			child = pm_enter_include_id(state, arg, arg_len, depth + 1,
										seg.line_no, false);
			if (child == NULL)
			{
				height = Max(height, 1);
				continue;
			}
			done = hash_search(set->walked, &child, HASH_FIND, NULL);
			if (done != NULL && depth + 1 + done->height <= state->max_depth)
				below = done->height;
			else
				below = pm_collect_keywords(state, set, child, depth + 1);
			height = Max(height, below + 1);
		}
	}

	walked = hash_search(set->walked, &prompt, HASH_ENTER, NULL);
	walked->height = height;
	return height;
}

/* pm_prompt_keywords' work, in the current (work) context. */
static ArrayType *
pm_prompt_keywords_work(const char *prompt_id, MemoryContext result_cxt)
{
	PmRenderState state;
	PmKeywordSet set;
	PmCompiledPrompt *prompt;
	HASHCTL		ctl;
	PmRef		ref;
	PmLoadStatus status;
	int32		label_version;

	pm_render_state_init(&state, CurrentMemoryContext, prompt_id, NULL,
						 NULL, NULL, NULL, PM_SOFT_NONE);
	memset(&set, 0, sizeof(set));
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(PmKeywordSeen);
	ctl.hcxt = CurrentMemoryContext;
	set.seen = hash_create("prompt_manager keywords", 64, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	set.names = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(PmCompiledPrompt *);
	ctl.entrysize = sizeof(PmKeywordsWalked);
	ctl.hcxt = CurrentMemoryContext;
	set.walked = hash_create("prompt_manager prompts walked for keywords", 16,
							 &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	pm_ref_parse_arg(prompt_id, strlen(prompt_id), &ref);
	pm_render_root_ref(&state, &ref);
	prompt = pm_load_ref(&ref, &status, &label_version);
	if (prompt == NULL)
	{
		int			sqlstate;
		char	   *msg;
		char	   *detail;

		pm_missing_message(&ref, status, label_version, &sqlstate, &msg, &detail);
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg_internal("%s", msg),
				 detail ? errdetail_internal("%s", detail) : 0));
	}
	pm_render_enter_root(&state, prompt);
	pm_collect_keywords(&state, &set, prompt, 0);

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
