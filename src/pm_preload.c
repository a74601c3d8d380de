/*-------------------------------------------------------------------------
 *
 * pm_preload.c
 *		Warming the shared render cache: pm_preload(), and a background
 *		worker that runs it at server start.
 *
 * A prompt is preloaded by rendering it with its stored parameters (the
 * params of pm_render(prompt_id) with no second argument) and keeping the
 * rendering in the shared cache, where the first pm_render(prompt_id)
 * after a restart finds it.  One worker per database named in
 * prompt_manager.preload_databases preloads the prompts marked
 * preload = true, once the server accepts read-only connections (so also
 * on a hot standby), then exits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "pm_cache.h"
#include "pm_preload.h"
#include "pm_request.h"
#include "pm_settings.h"
#include "pm_storage.h"

PGDLLEXPORT void pm_preload_worker_main(Datum arg);

/* The ids of the prompts marked preload = true, in id order. */
static List *
pm_preload_marked(void)
{
	List	   *ids = NIL;
	MemoryContext caller = CurrentMemoryContext;
	uint64		i;

	pm_storage_query("SELECT prompt_id FROM %s WHERE preload ORDER BY prompt_id");
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		MemoryContext old = MemoryContextSwitchTo(caller);

		ids = lappend(ids, TextDatumGetCString(d));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return ids;
}

/* Render each prompt of prompt_ids into the cache, through batch. */
static int
pm_preload_batch(PmRenderBatch *batch, List *prompt_ids, Jsonb *no_params)
{
	ListCell   *lc;
	int			loaded = 0;

	foreach(lc, prompt_ids)
	{
		const char *prompt_id = (const char *) lfirst(lc);
		PmRenderOptions opts;
		text	   *result;

		CHECK_FOR_INTERRUPTS();
		memset(&opts, 0, sizeof(opts));
		opts.batch = batch;
		opts.catch_errors = true;
		opts.no_stats = true;	/* warming up is not usage */
		opts.always_store = true;	/* asked for: no admission */
		result = pm_render_prompt_opts(prompt_id, no_params, &opts);
		if (result != NULL && opts.cached)
			loaded++;
		else if (result != NULL)
			ereport(WARNING,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("prompt \"%s\" was rendered but not kept in the cache", prompt_id),
					 errdetail("It is too large for the cache, it met a missing prompt, or the role reads pm_prompts under row-level security.")));
		else
			ereport(WARNING,
					(errcode(MAKE_SQLSTATE(opts.sqlstate[0], opts.sqlstate[1],
										   opts.sqlstate[2], opts.sqlstate[3],
										   opts.sqlstate[4])),
					 errmsg("prompt \"%s\" was not preloaded: %s", prompt_id, opts.error)));
	}
	return loaded;
}

int
pm_preload_prompts(List *requested_ids)
{
	List	   *volatile prompt_ids = requested_ids;
	Jsonb	   *volatile no_params;
	PmRenderBatch *batch;
	volatile int loaded = 0;

	if (!pm_cache_active())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the prompt_manager render cache is not available"),
				 errhint("It needs shared_preload_libraries = 'prompt_manager' and prompt_manager.cache = on.")));

	if (prompt_ids == NIL)
		prompt_ids = pm_preload_marked();

	/* the params of pm_render(prompt_id): the default '{}' */
	no_params = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));

	batch = pm_render_batch_begin();
	PG_TRY();
	{
		loaded = pm_preload_batch(batch, (List *) prompt_ids, no_params);
	}
	PG_FINALLY();
	{
		pm_render_batch_end(batch);
	}
	PG_END_TRY();
	return loaded;
}

/* pm_preload(prompt_ids text[] DEFAULT NULL) RETURNS integer */
PG_FUNCTION_INFO_V1(pm_preload);

Datum
pm_preload(PG_FUNCTION_ARGS)
{
	List	   *ids = NIL;

	if (!PG_ARGISNULL(0))
	{
		ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
		Datum	   *elems;
		bool	   *nulls;
		int			n;
		int			i;

		deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &n);
		for (i = 0; i < n; i++)
		{
			if (!nulls[i])
				ids = lappend(ids, TextDatumGetCString(elems[i]));
		}
		if (ids == NIL)
			PG_RETURN_INT32(0);
	}
	PG_RETURN_INT32(pm_preload_prompts(ids));
}

/* Register one worker per database of prompt_manager.preload_databases. */
void
pm_preload_register_workers(void)
{
	char	   *names;
	List	   *dbs;
	ListCell   *lc;

	if (pm_preload_databases == NULL || pm_preload_databases[0] == '\0')
		return;
	names = pstrdup(pm_preload_databases);
	if (!SplitIdentifierString(names, ',', &dbs))
	{
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("prompt_manager.preload_databases is not a list of database names"),
				 errdetail("No database is preloaded.")));
		return;
	}
	foreach(lc, dbs)
	{
		const char *db = (const char *) lfirst(lc);
		BackgroundWorker worker;

		if (strlen(db) >= BGW_EXTRALEN)
		{
			ereport(WARNING,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("database name \"%s\" in prompt_manager.preload_databases is too long", db)));
			continue;
		}
		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_ConsistentState;
		worker.bgw_restart_time = BGW_NEVER_RESTART;
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "prompt_manager");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "pm_preload_worker_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "prompt_manager preload %s", db);
		snprintf(worker.bgw_type, BGW_MAXLEN, "prompt_manager preload");
		strlcpy(worker.bgw_extra, db, BGW_EXTRALEN);
		RegisterBackgroundWorker(&worker);
	}
}

/* The worker: preload one database's preload = true prompts, then exit. */
void
pm_preload_worker_main(Datum arg)
{
	char		db[BGW_EXTRALEN];
	int			loaded;

	strlcpy(db, MyBgworkerEntry->bgw_extra, BGW_EXTRALEN);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(db, NULL, 0);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "prompt_manager preload");

	if (!OidIsValid(get_extension_oid("prompt_manager", true)))
	{
		ereport(LOG,
				(errmsg("prompt_manager preload: extension \"prompt_manager\" is not installed in database \"%s\"", db)));
		PopActiveSnapshot();
		CommitTransactionCommand();
		proc_exit(0);
	}
	loaded = pm_preload_prompts(NIL);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	ereport(LOG,
			(errmsg("prompt_manager preloaded %d prompt(s) of database \"%s\" into the render cache",
					loaded, db)));
	proc_exit(0);
}
