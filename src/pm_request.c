/*-------------------------------------------------------------------------
 *
 * pm_request.c
 *		A top-level render: the shared cache, statistics, the error
 *		handler and the subtransactions around the renderer.
 *
 * pm_render_top() is the whole life of one call of pm_render,
 * pm_render_template, a pm_bulk_render request or a preload:
 *	 1. ask the shared cache (pm_cache.c), when the caller may use it;
 *	 2. otherwise render (pm_render_job, in pm_render.c) in a work context
 *		of its own, with the compiled templates pinned until it ends;
 *	 3. with prompt_manager.error_handler set, asking the renderer to
 *		report the failures of the prompt itself (PM_SOFT_PROMPT) instead of
 *		raising them, and calling the handler with the one reported; for
 *		bulk and preload requests, inside a subtransaction, so that any
 *		failure of the request gives its row, or, in parallel mode (where
 *		no subtransaction may start), with every failure of the render
 *		itself reported (PM_SOFT_ALL) and the others raised;
 *	 4. store what was rendered in the shared cache, and count the call in
 *		pm_stats.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pm_cache.h"
#include "pm_compat.h"
#include "pm_errors.h"
#include "pm_ref.h"
#include "pm_render.h"
#include "pm_request.h"
#include "pm_settings.h"
#include "pm_stats.h"
#include "pm_storage.h"
#include "pm_template_cache.h"
#include "pm_visibility.h"

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
	bool		root_found;		/* the render (not from the cache) read its
								 * root prompt: set by pm_render_guarded */
	PmRenderSoft soft;			/* failures the renderer reports */
	PmErrorText *failure;		/* out: the one it reported, or NULL */
	PmCacheRequest cache;		/* its key, when keyed */

	/*
	 * Statistics count a reference ("id@production") under its prompt id,
	 * the first stats_len bytes of stats_id; stats_hash is their
	 * XXH3_64bits (set when keyed).
	 */
	const char *stats_id;
	size_t		stats_len;
	uint64		stats_hash;
} PmRenderRequest;

/*
 * Count req in pm_stats.  The prompt id's length and XXH3_64bits come from
 * the cache key when one was made, so a cache hit costs no strlen or hash.
 * Always inlined: an untimed cache hit is then counted without any call.
 * A render of a prompt that neither the cache's lookup (keyed) nor the
 * render itself found (not there, not visible, or a failure before it was
 * read) is counted under the database's one entry of missing prompts, not
 * under an id of the caller's choosing.
 */
static pg_attribute_always_inline void
pm_request_count(PmRenderRequest *req, bool cache_hit, bool error,
				 double elapsed_ms, int64 bytes)
{
	size_t		id_len = 0;
	uint64		id_hash = 0;

	if (req->prompt_id != NULL && req->keyed)
	{
		id_len = req->stats_len;
		id_hash = req->stats_hash;
		if (cache_hit && !error && elapsed_ms < 0)
		{
			/* the common case, inline */
			pm_stats_count_hit(req->stats_id, id_len, id_hash, bytes);
			return;
		}
	}
	if (req->prompt_id != NULL && !cache_hit && !req->keyed && !req->root_found)
	{
		pm_stats_count_missing(error, elapsed_ms, bytes);
		return;
	}
	if (req->prompt_id != NULL && !req->keyed)
	{
		const char *at = strchr(req->prompt_id, '@');

		req->stats_id = req->prompt_id;
		id_len = at != NULL ? at - req->prompt_id : strlen(req->prompt_id);
		id_hash = XXH3_64bits(req->prompt_id, id_len);
	}
	pm_stats_count(req->prompt_id != NULL ? req->stats_id : NULL, id_len,
				   id_hash, cache_hit, error, elapsed_ms, bytes);
}

/* Render req with job (the caller's, so that it can read it after a failure). */
static text *
pm_render_request(PmRenderRequest *req, PmRenderJob *job)
{
	text	   *result;

	memset(job, 0, sizeof(PmRenderJob));
	job->prompt_id = req->prompt_id;
	job->template_text = req->template_text;
	job->params = req->params;
	job->result_cxt = req->result_cxt;
	job->soft = req->soft;
	if (req->opts != NULL)
	{
		job->batch = req->opts->batch;
		job->line_sink = req->opts->line_sink;
		job->line_sink_arg = req->opts->line_sink_arg;
		job->as_of_set = req->opts->as_of_set;
		job->as_of = req->opts->as_of;
	}
	result = pm_render_job(job);
	req->failure = job->failure;
	if (req->opts != NULL)
		req->opts->bytes = job->bytes;

	/*
	 * The key holds the revision the cache was asked for.  A render that
	 * read a version or a label is kept only for a role that reads them
	 * freely, as lookups check them only for such a role.
	 */
	if (req->store && job->cacheable &&
		(req->prompt_id == NULL || job->root_revision == req->cache.key.root_revision) &&
		(!job->uses_refs || pm_visibility_refs_unrestricted()))
	{
		bool		stored = pm_cache_store(&req->cache, job->deps, result,
											req->opts != NULL && req->opts->always_store);

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
	if ((req->opts != NULL && (req->opts->line_sink != NULL || req->opts->as_of_set)) ||
		!pm_cache_active() || !pm_visibility_unrestricted())
		return NULL;

	if (req->prompt_id != NULL)
	{
		int64		revision;
		size_t		len = strlen(req->prompt_id);
		uint64		id_hash = XXH3_64bits(req->prompt_id, len);
		const char *at = memchr(req->prompt_id, '@', len);

		/*
		 * The key but the root's revision, whose lookup then overlaps the
		 * loads of the backend's copy (and of the statistics' slot): for a
		 * session drawing from many prompts, those are cache misses.
		 */
		pm_cache_request_init(creq, req->prompt_id, len, id_hash,
							  false, 0, pm_storage_table()->relid,
							  req->params ? req->params : pm_no_params());
		pm_cache_prefetch(creq);

		if (at == NULL)
		{
			if (pm_stats_active())
				pm_prefetch(pm_stats_home_slot(id_hash));
			/* a head: a missing prompt is an error or a WARNING: render it */
			if (!pm_visibility_revision_hashed(req->prompt_id, id_hash, &revision))
				return NULL;
			req->stats_id = req->prompt_id;
			req->stats_len = len;
			req->stats_hash = id_hash;
		}
		else
		{
			/*
			 * A version or a label, for a role that reads them freely; a
			 * reference that does not parse, or names nothing, is rendered
			 * to raise its error.
			 */
			PmRef		ref;
			bool		present;

			if (!pm_visibility_ref_known(req->prompt_id, len, id_hash, &present,
										 &revision, &req->stats_len,
										 &req->stats_hash))
			{
				/* not learned yet in this snapshot (or not canonical) */
				if (pm_ref_parse(req->prompt_id, len, &ref) != NULL ||
					!pm_visibility_refs_unrestricted())
					return NULL;
				present = pm_visibility_ref(&ref, &revision);
				req->stats_len = ref.id_len;
				req->stats_hash = XXH3_64bits(req->prompt_id, ref.id_len);
			}
			if (!present)
				return NULL;
			req->stats_id = req->prompt_id; /* counted on its first id_len bytes */
		}
		pm_cache_request_set_revision(creq, revision);
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
 * Find prompt_manager.error_handler and check, before it is ever called,
 * that it can be called as the executor would call it: a plain function
 * (not an aggregate, window function or procedure) taking (text, text,
 * text), returning one text (not a set), that the current role may
 * execute.  Returns its OID; *strict is its STRICT mark.
 */
static Oid
pm_lookup_error_handler(const char *signature, bool *strict)
{
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	HeapTuple	tuple;
	Form_pg_proc proc;
	Oid			fn;
	AclResult	acl;

	fn = LookupFuncName(pm_qualified_name_list(pm_error_handler), 3, argtypes, true);
	if (!OidIsValid(fn))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("prompt_manager.error_handler names no function %s", signature),
				 errhint("The handler is a function (prompt_id text, sqlstate text, message text) RETURNS text.")));

	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for function %u", fn);
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	if (proc->prokind != PROKIND_FUNCTION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("prompt_manager.error_handler %s is not a plain function", signature),
				 errdetail("It is %s.",
						   proc->prokind == PROKIND_AGGREGATE ? "an aggregate function" :
						   proc->prokind == PROKIND_WINDOW ? "a window function" :
						   proc->prokind == PROKIND_PROCEDURE ? "a procedure" :
						   "not a function"),
				 errhint("The handler is a function (prompt_id text, sqlstate text, message text) RETURNS text.")));
	if (proc->prorettype != TEXTOID || proc->proretset)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("prompt_manager.error_handler function %s must return text", signature),
				 proc->proretset ? errdetail("It returns a set.") : 0));

	/*
	 * In parallel mode the handler runs where the render does: in a
	 * parallel worker it must be PARALLEL SAFE, in the leader of a parallel
	 * query at least PARALLEL RESTRICTED, as the planner would have
	 * required of a function written in the query.
	 */
	if (IsInParallelMode() &&
		(proc->proparallel == PROPARALLEL_UNSAFE ||
		 (IsParallelWorker() && proc->proparallel != PROPARALLEL_SAFE)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("prompt_manager.error_handler %s cannot be called in a parallel query", signature),
				 errdetail("%s", proc->proparallel == PROPARALLEL_UNSAFE ?
						   "It is PARALLEL UNSAFE, and this render runs inside a parallel query." :
						   "It is PARALLEL RESTRICTED, and this render runs in a parallel worker."),
				 errhint("Mark the handler PARALLEL SAFE if it only reads (ALTER FUNCTION ... PARALLEL SAFE), "
						 "or keep the query serial (SET max_parallel_workers_per_gather = 0).")));
	*strict = proc->proisstrict;
	ReleaseSysCache(tuple);

	acl = pm_function_aclcheck(fn, GetUserId());
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_FUNCTION, get_func_name(fn));
	return fn;
}

/*
 * Call prompt_manager.error_handler(prompt_id, sqlstate, message), the way
 * the executor would: a STRICT handler given a NULL prompt_id (an inline
 * template) is not called and answers NULL.  Its answer, NULL included, is
 * the render's: NULL here means SQL NULL.  A handler may render in turn
 * (and fail, and be called again): check_stack_depth() bounds that.
 */
static text *
pm_call_error_handler(const char *prompt_id, int sqlerrcode, const char *message)
{
	char	   *signature = psprintf("%s(text, text, text)", pm_error_handler);
	bool		strict;
	Oid			fn;
	LOCAL_FCINFO(fcinfo, 3);
	FmgrInfo	flinfo;
	Datum		result;

	check_stack_depth();
	fn = pm_lookup_error_handler(signature, &strict);
	if (strict && prompt_id == NULL)
		return NULL;			/* the other two arguments are never NULL */

	fmgr_info(fn, &flinfo);
	/* text arguments of the default collation, as in a query */
	InitFunctionCallInfoData(*fcinfo, &flinfo, 3, DEFAULT_COLLATION_OID, NULL, NULL);
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
 * counted in pm_stats, and raised again or, when the renderer reported it
 * (req->soft), left in req->failure with a NULL result.
 */
static text *
pm_render_guarded(PmRenderRequest *req, bool track, instr_time start)
{
	MemoryContext work_cxt;
	text	   *volatile result = NULL;
	PmRenderJob job;

	job.root_found = false;
	work_cxt = AllocSetContextCreate(req->result_cxt, "prompt_manager render",
									 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work_cxt);
	pm_template_cache_begin();
	PG_TRY();
	{
		result = pm_render_request(req, &job);
	}
	PG_CATCH();
	{
		pm_template_cache_end();
		req->root_found = job.root_found;
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
	req->root_found = job.root_found;
	MemoryContextSwitchTo(req->result_cxt);
	MemoryContextDelete(work_cxt);
	if (req->failure != NULL && track)
	{
		instr_time	elapsed;

		INSTR_TIME_SET_CURRENT(elapsed);
		INSTR_TIME_SUBTRACT(elapsed, start);
		pm_request_count(req, false, true, INSTR_TIME_GET_MILLISEC(elapsed), 0);
	}
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

	INSTR_TIME_SET_ZERO(start);
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
	if (req->opts != NULL && req->opts->catch_errors && IsInParallelMode())
	{
		/*
		 * pm_bulk_render in parallel mode (called by a PARALLEL SAFE
		 * wrapper): no subtransaction may start, so the failures of the
		 * render itself are reported by the renderer, and the others (the
		 * table, permissions, the server) stop the call.
		 */
		req->soft = PM_SOFT_ALL;
		result = pm_render_guarded(req, track, start);
		if (req->failure != NULL)
		{
			req->opts->error = req->failure->message;
			req->opts->sqlstate = pstrdup(unpack_sql_state(req->failure->sqlerrcode));
			return NULL;		/* counted as an error already */
		}
	}
	else if (req->opts != NULL && req->opts->catch_errors)
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
		/*
		 * The failures the handler answers are reported by the renderer,
		 * with no subtransaction (none may start in parallel mode, and
		 * none is needed: the render has changed nothing); any other
		 * failure is raised where it happens.
		 */
		req->soft = PM_SOFT_PROMPT;
		result = pm_render_guarded(req, track, start);
		if (req->failure != NULL)
			return pm_call_error_handler(req->prompt_id, req->failure->sqlerrcode,
										 req->failure->message);
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

text *
pm_render_inline(text *template_text, Jsonb *params)
{
	PmRenderRequest req = {.template_text = template_text, .params = params};

	return pm_render_top(&req);
}
