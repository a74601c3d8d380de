/*-------------------------------------------------------------------------
 *
 * pm_functions.c
 *		SQL-callable entry points.
 *
 * Thin wrappers: argument handling (NULLs, detoasting) here, the work in
 * pm_render.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "utils/array.h"
#include "utils/memutils.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/tuplestore.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "executor/spi.h"

#include "pm_cache.h"
#include "pm_functions.h"
#include "pm_params.h"
#include "pm_request.h"
#include "pm_settings.h"
#include "pm_stats.h"
#include "pm_storage.h"

PG_FUNCTION_INFO_V1(pm_render);
PG_FUNCTION_INFO_V1(pm_render_template);
PG_FUNCTION_INFO_V1(pm_keywords);
PG_FUNCTION_INFO_V1(pm_invalidate);
PG_FUNCTION_INFO_V1(pm_cache_reset_all);
PG_FUNCTION_INFO_V1(pm_cache_stats);
PG_FUNCTION_INFO_V1(pm_cache_entries);
PG_FUNCTION_INFO_V1(pm_render_lines);
PG_FUNCTION_INFO_V1(pm_stats_rows_fn);
PG_FUNCTION_INFO_V1(pm_stats_reset_fn);
PG_FUNCTION_INFO_V1(pm_stats_info_fn);
PG_FUNCTION_INFO_V1(pm_flush_usage);

/*
 * pm_render(prompt_id text, params jsonb DEFAULT '{}') RETURNS text
 *
 * A NULL prompt_id gives NULL; NULL params are no parameters.  NULL too
 * when prompt_manager.error_handler answers a failure with NULL.
 */
Datum
pm_render(PG_FUNCTION_ARGS)
{
	text	   *result;
	text	   *id_text;
	char		id_buf[256];	/* ids are at most 255 bytes: no palloc */
	char	   *prompt_id;
	Jsonb	   *params = NULL;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	id_text = PG_GETARG_TEXT_PP(0);
	if (VARSIZE_ANY_EXHDR(id_text) < sizeof(id_buf))
	{
		memcpy(id_buf, VARDATA_ANY(id_text), VARSIZE_ANY_EXHDR(id_text));
		id_buf[VARSIZE_ANY_EXHDR(id_text)] = '\0';
		prompt_id = id_buf;
	}
	else
		prompt_id = text_to_cstring(id_text);
	if (!PG_ARGISNULL(1))
		params = PG_GETARG_JSONB_P(1);

	result = pm_render_prompt(prompt_id, params);
	if (result == NULL)
		PG_RETURN_NULL();		/* the error handler's answer */
	PG_RETURN_TEXT_P(result);
}

/*
 * pm_render_template(template text, params jsonb DEFAULT '{}') RETURNS text
 *
 * A NULL template gives NULL; NULL params are no parameters.  NULL too
 * when prompt_manager.error_handler answers a failure with NULL.
 */
Datum
pm_render_template(PG_FUNCTION_ARGS)
{
	Jsonb	   *params = NULL;
	text	   *result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (!PG_ARGISNULL(1))
		params = PG_GETARG_JSONB_P(1);

	result = pm_render_inline(PG_GETARG_TEXT_PP(0), params);
	if (result == NULL)
		PG_RETURN_NULL();		/* the error handler's answer */
	PG_RETURN_TEXT_P(result);
}

/* pm_keywords(prompt_id text) RETURNS text[], STRICT */
Datum
pm_keywords(PG_FUNCTION_ARGS)
{
	char	   *prompt_id = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_ARRAYTYPE_P(pm_prompt_keywords(prompt_id));
}

/*
 * pm_invalidate(prompt_id text DEFAULT NULL, params jsonb DEFAULT NULL)
 * RETURNS bigint
 *
 * Drops cached renderings of this database: of one prompt with one params
 * value, of one prompt (and every rendering that includes it), or all.
 */
Datum
pm_invalidate(PG_FUNCTION_ARGS)
{
	char	   *prompt_id = NULL;
	Jsonb	   *params = NULL;

	if (!PG_ARGISNULL(0))
		prompt_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!PG_ARGISNULL(1))
		params = PG_GETARG_JSONB_P(1);
	if (prompt_id == NULL && params != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pm_invalidate needs a prompt_id when params is given"),
				 errhint("Call pm_invalidate(prompt_id, params) for one rendering, "
						 "pm_invalidate(prompt_id) for a prompt, pm_invalidate() for all.")));

	PG_RETURN_INT64(pm_cache_invalidate(prompt_id, params));
}

/* pm_cache_reset() RETURNS void: drop every entry, reset the counters. */
Datum
pm_cache_reset_all(PG_FUNCTION_ARGS)
{
	pm_cache_reset();
	PG_RETURN_VOID();
}

/* pm_cache_stats(): the one row of the pm_cache view. */
Datum
pm_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	PmCacheStats stats;
	Datum		values[15];
	bool		nulls[15];
	const char *status;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	pm_cache_get_stats(&stats);
	if (!stats.available)
		status = "off: prompt_manager is not in shared_preload_libraries";
	else if (!pm_cache_enabled)
		status = "off: prompt_manager.cache is off";
	else
		status = "on";

	memset(nulls, 0, sizeof(nulls));
	values[0] = BoolGetDatum(stats.available && pm_cache_enabled);
	values[1] = CStringGetTextDatum(status);
	values[2] = Int64GetDatum(stats.entries);
	values[3] = Int64GetDatum(stats.bytes_used);
	values[4] = Int64GetDatum(stats.capacity_bytes);
	values[5] = Int64GetDatum(stats.max_entries);
	values[6] = Int64GetDatum(stats.hits);
	values[7] = Int64GetDatum(stats.misses);
	values[8] = Int64GetDatum(stats.inserts);
	values[9] = Int64GetDatum(stats.evictions);
	values[10] = Int64GetDatum(stats.expirations);
	values[11] = Int64GetDatum(stats.invalidations);
	values[12] = Int64GetDatum(stats.skipped);
	values[13] = TimestampTzGetDatum(stats.stats_reset);
	nulls[13] = !stats.available;
	values[14] = Int64GetDatum(stats.available ? stats.capacity_bytes - stats.bytes_used : 0);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * Set up a set-returning call to return its rows in a tuplestore (which
 * spills to disk past work_mem); InitMaterializedSRF exists from 15 on
 * only.  tupdesc: the rows' descriptor, or NULL for the function's result
 * type.  Returns the store; *desc_out is the descriptor to form rows with.
 */
Tuplestorestate *
pm_materialize(FunctionCallInfo fcinfo, TupleDesc tupdesc, TupleDesc *desc_out)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Tuplestorestate *store;
	MemoryContext old;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (tupdesc == NULL &&
		get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTupleDescCopy(tupdesc);
	store = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = tupdesc;
	MemoryContextSwitchTo(old);
	*desc_out = tupdesc;
	return store;
}

/* pm_cache_entries(): one row per cached rendering. */
Datum
pm_cache_entries(PG_FUNCTION_ARGS)
{
	TimestampTz now = GetCurrentTimestamp();
	TupleDesc	tupdesc;
	Tuplestorestate *store = pm_materialize(fcinfo, NULL, &tupdesc);
	List	   *entries;
	ListCell   *lc;

	entries = pm_cache_list_entries();
	foreach(lc, entries)
	{
		PmCacheEntryInfo *info = (PmCacheEntryInfo *) lfirst(lc);
		Datum		values[7];
		bool		nulls[7];

		memset(nulls, 0, sizeof(nulls));
		values[0] = ObjectIdGetDatum(info->dbid);
		if (info->name != NULL)
			values[1] = CStringGetTextDatum(info->name);
		else
			nulls[1] = true;
		values[2] = Int64GetDatum(info->revision);
		nulls[2] = info->name == NULL;
		values[3] = Int64GetDatum(info->bytes);
		values[4] = Int64GetDatum(info->hits);
		values[5] = TimestampTzGetDatum(info->created);
		values[6] = IntervalPGetDatum(DatumGetIntervalP(
														DirectFunctionCall2(timestamp_mi,
																			TimestampTzGetDatum(now),
																			TimestampTzGetDatum(info->created))));
		tuplestore_putvalues(store, tupdesc, values, nulls);
	}
	return (Datum) 0;
}

/* Where pm_render_lines puts each line. */
typedef struct PmLinesSink
{
	Tuplestorestate *store;
	TupleDesc	tupdesc;
} PmLinesSink;

static void
pm_lines_put(void *arg, const char *line, Size len)
{
	PmLinesSink *sink = (PmLinesSink *) arg;
	Datum		value;
	bool		isnull = false;

	value = PointerGetDatum(cstring_to_text_with_len(line, len));
	tuplestore_putvalues(sink->store, sink->tupdesc, &value, &isnull);
	pfree(DatumGetPointer(value));
}

/*
 * pm_render_lines(prompt_id text, params jsonb DEFAULT '{}')
 * RETURNS SETOF text
 *
 * The rendering, one row per line (the rows of string_to_table(pm_render(),
 * E'\n')), without ever holding the whole text: lines go to a tuplestore,
 * which spills to disk past work_mem.  Never from the shared cache.
 */
Datum
pm_render_lines(PG_FUNCTION_ARGS)
{
	PmRenderOptions opts;
	PmLinesSink sink;
	TupleDesc	line_desc;
	char	   *prompt_id;
	Jsonb	   *params = NULL;

	line_desc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(line_desc, (AttrNumber) 1, "line", TEXTOID, -1, 0);
	sink.store = pm_materialize(fcinfo, line_desc, &sink.tupdesc);

	if (PG_ARGISNULL(0))
		return (Datum) 0;
	prompt_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!PG_ARGISNULL(1))
		params = PG_GETARG_JSONB_P(1);

	memset(&opts, 0, sizeof(opts));
	opts.line_sink = pm_lines_put;
	opts.line_sink_arg = &sink;
	pm_render_prompt_opts(prompt_id, params, &opts);
	return (Datum) 0;
}

/* pm_stats_rows(): the rows of the pm_stats view. */
Datum
pm_stats_rows_fn(PG_FUNCTION_ARGS)
{
	List	   *rows = pm_stats_rows();
	TupleDesc	tupdesc;
	Tuplestorestate *store = pm_materialize(fcinfo, NULL, &tupdesc);
	ListCell   *lc;

	foreach(lc, rows)
	{
		PmStatsRow *row = (PmStatsRow *) lfirst(lc);
		const PmStatsCounters *counts = &row->counters;
		Datum		values[12];
		bool		nulls[12];
		static const char *const kinds[] = {"prompt", "inline", "missing"};

		memset(nulls, 0, sizeof(nulls));
		values[0] = ObjectIdGetDatum(row->dbid);
		if (row->prompt_id != NULL)
			values[1] = CStringGetTextDatum(row->prompt_id);
		else
			nulls[1] = true;
		values[2] = Int64GetDatum(counts->renders);
		values[3] = Int64GetDatum(counts->cache_hits);
		values[4] = Int64GetDatum(counts->errors);
		values[5] = Int64GetDatum(counts->timed);
		values[6] = Float8GetDatum(counts->total_time_ms);
		values[7] = Float8GetDatum(counts->timed > 0 ? counts->total_time_ms / counts->timed : 0);
		nulls[7] = counts->timed == 0;
		values[8] = Float8GetDatum(counts->max_time_ms);
		values[9] = Int64GetDatum(counts->bytes);
		values[10] = TimestampTzGetDatum(counts->last_render);
		nulls[10] = counts->last_render == 0;
		values[11] = CStringGetTextDatum(kinds[row->kind]);
		tuplestore_putvalues(store, tupdesc, values, nulls);
	}
	return (Datum) 0;
}

/* pm_stats_info(): the size of the statistics table, what it evicted and dropped. */
Datum
pm_stats_info_fn(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	PmStatsInfo info;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	pm_stats_get_info(&info);
	values[0] = Int64GetDatum(info.entries);
	values[1] = Int64GetDatum(info.max_entries);
	values[2] = Int64GetDatum(info.evicted);
	values[3] = Int64GetDatum(info.dropped);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* pm_stats_reset(prompt_id text DEFAULT NULL) RETURNS bigint */
Datum
pm_stats_reset_fn(PG_FUNCTION_ARGS)
{
	char	   *prompt_id = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_INT64(pm_stats_reset(prompt_id));
}

/*
 * Counts taken by pm_flush_usage() calls whose transaction has not ended,
 * each with the subtransaction that took it: put back if that
 * subtransaction or the transaction rolls back, so that no render is lost
 * or counted twice.  A transaction that took some cannot be prepared: the
 * counts live in this server's memory, and a prepared transaction's fate
 * is decided later, maybe by another backend or after a restart.  In
 * TopMemoryContext.
 */
typedef struct PmFlushTaken
{
	SubTransactionId subid;		/* InvalidSubTransactionId: put back */
	List	   *rows;			/* PmUsageTaken * */
} PmFlushTaken;

static List *pm_flush_taken = NIL;
static bool pm_flush_callbacks_registered = false;

static void
pm_flush_free_rows(List *rows)
{
	ListCell   *lc;

	foreach(lc, rows)
		pfree(((PmUsageTaken *) lfirst(lc))->prompt_id);
	list_free_deep(rows);
}

/*
 * End of the transaction: what it took is flushed (commit) or put back
 * (abort).  Refuse to prepare a transaction that took counts.
 */
static void
pm_flush_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;
	bool		put_back;

	if (pm_flush_taken == NIL)
		return;
	if (event == XACT_EVENT_PRE_PREPARE)
	{
		foreach(lc, pm_flush_taken)
		{
			if (((PmFlushTaken *) lfirst(lc))->subid != InvalidSubTransactionId)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that has called pm_flush_usage"),
						 errdetail("The usage counts it took are kept in this server's memory, which a prepared transaction does not carry."),
						 errhint("Call pm_flush_usage() in a transaction of its own.")));
		}
		return;
	}
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		put_back = true;
	else if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
			 event == XACT_EVENT_PREPARE)
		put_back = false;		/* PREPARE: only counts already put back */
	else
		return;
	foreach(lc, pm_flush_taken)
	{
		PmFlushTaken *taken = (PmFlushTaken *) lfirst(lc);

		if (taken->subid != InvalidSubTransactionId)
			pm_stats_usage_done(taken->rows, put_back);
		pm_flush_free_rows(taken->rows);
		pfree(taken);
	}
	list_free(pm_flush_taken);
	pm_flush_taken = NIL;
}

/* A subtransaction that took counts commits (its parent owns them) or rolls back. */
static void
pm_flush_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	foreach(lc, pm_flush_taken)
	{
		PmFlushTaken *taken = (PmFlushTaken *) lfirst(lc);

		if (taken->subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			taken->subid = parentSubid;	/* the parent owns it now */
		else if (event == SUBXACT_EVENT_ABORT_SUB)
		{
			/* put back; freed with the others at the end of the transaction */
			pm_stats_usage_done(taken->rows, true);
			taken->subid = InvalidSubTransactionId;
		}
	}
}

static int
pm_usage_taken_cmp(const void *a, const void *b)
{
	return strcmp((*(PmUsageTaken *const *) a)->prompt_id,
				  (*(PmUsageTaken *const *) b)->prompt_id);
}

/*
 * pm_flush_usage() RETURNS bigint
 *
 * Adds the successful renders counted in pm_stats since the last flush to
 * pm_prompts.usage_count, in this transaction, and returns how many it
 * added.  A render is added once: the counts taken are marked, and put
 * back if the transaction (or the subtransaction that took them) rolls
 * back; those of prompts the UPDATE did not reach (row-level security, a
 * prompt deleted) are put back at once and not returned.  Rows are locked
 * in prompt_id order before they are updated, so that concurrent flushes
 * wait for each other instead of deadlocking; renders take no row lock and
 * never wait on a flush.
 */
Datum
pm_flush_usage(PG_FUNCTION_ARGS)
{
	List	   *rows;
	List	   *reached_rows = NIL;
	List	   *missed_rows = NIL;
	ListCell   *lc;
	PmFlushTaken *taken;
	PmUsageTaken **sorted;
	bool	   *reached;
	bool	   *kept;
	int64		total = 0;
	int			n;
	int			i = 0;
	uint64		j;
	int			ret;
	Datum	   *ids;
	Datum	   *counts;
	Datum		values[2];
	Oid			argtypes[2] = {TEXTARRAYOID, INT8ARRAYOID};
	MemoryContext old;

	if (!pm_flush_callbacks_registered)
	{
		RegisterXactCallback(pm_flush_xact_callback, NULL);
		RegisterSubXactCallback(pm_flush_subxact_callback, NULL);
		pm_flush_callbacks_registered = true;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	rows = pm_stats_take_unflushed();
	if (rows == NIL)
	{
		MemoryContextSwitchTo(old);
		PG_RETURN_INT64(0);
	}
	/* from here on, a failure puts them back */
	taken = palloc(sizeof(PmFlushTaken));
	taken->subid = GetCurrentSubTransactionId();
	taken->rows = rows;
	pm_flush_taken = lappend(pm_flush_taken, taken);
	MemoryContextSwitchTo(old);

	n = list_length(rows);
	ids = palloc(sizeof(Datum) * n);
	counts = palloc(sizeof(Datum) * n);
	sorted = palloc(sizeof(PmUsageTaken *) * n);
	foreach(lc, rows)
	{
		PmUsageTaken *t = (PmUsageTaken *) lfirst(lc);

		ids[i] = CStringGetTextDatum(t->prompt_id);
		counts[i] = Int64GetDatum(t->count);
		sorted[i] = t;
		i++;
	}
	values[0] = PointerGetDatum(construct_array(ids, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(counts, n, INT8OID, 8, FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));

	ret = pm_storage_execute_returning(
		"UPDATE %1$s AS p SET usage_count = p.usage_count OPERATOR(pg_catalog.+) d.n "
		"FROM (SELECT l.prompt_id, u.n FROM %1$s AS l, "
		"ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(id, n) "
		"WHERE l.prompt_id OPERATOR(pg_catalog.=) u.id "
		"ORDER BY l.prompt_id FOR UPDATE OF l) AS d "
		"WHERE p.prompt_id OPERATOR(pg_catalog.=) d.prompt_id "
		"RETURNING p.prompt_id",
		2, argtypes, values);
	if (ret != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "pm_flush_usage: unexpected SPI result %s", SPI_result_code_string(ret));

	/* which of the counts the update really added: by id, sorted */
	qsort(sorted, n, sizeof(PmUsageTaken *), pm_usage_taken_cmp);
	reached = palloc0(sizeof(bool) * n);
	for (j = 0; j < SPI_processed; j++)
	{
		bool		isnull;
		Datum		id = SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1, &isnull);
		PmUsageTaken key;
		PmUsageTaken *keyp = &key;
		PmUsageTaken **found;

		CHECK_FOR_INTERRUPTS();
		if (isnull)
			continue;
		key.prompt_id = TextDatumGetCString(id);
		found = bsearch(&keyp, sorted, n, sizeof(PmUsageTaken *), pm_usage_taken_cmp);
		if (found != NULL)
			reached[found - sorted] = true;
		pfree(key.prompt_id);
	}
	SPI_finish();

	/*
	 * Put back at once what the update did not reach (hidden from the
	 * caller, or not to be updated by it), but for prompts that are not in
	 * the table at all (deleted, renamed): their usage has nowhere to go, and
	 * would otherwise keep their entries from ever being evicted.
	 */
	kept = palloc0(sizeof(bool) * n);
	for (i = 0; i < n; i++)
	{
		int64		revision;

		CHECK_FOR_INTERRUPTS();
		if (reached[i])
			total += sorted[i]->count;
		/* gone: taken like the others, but not added */
		kept[i] = reached[i] || !pm_storage_probe_revision(sorted[i]->prompt_id, &revision);
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	for (i = 0; i < n; i++)
	{
		if (kept[i])
			reached_rows = lappend(reached_rows, sorted[i]);
		else
			missed_rows = lappend(missed_rows, sorted[i]);
	}
	MemoryContextSwitchTo(old);
	taken->rows = reached_rows;
	list_free(rows);
	pm_stats_usage_done(missed_rows, true);
	pm_flush_free_rows(missed_rows);
	PG_RETURN_INT64(total);
}
