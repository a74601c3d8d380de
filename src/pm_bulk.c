/*-------------------------------------------------------------------------
 *
 * pm_bulk.c
 *		pm_bulk_render: many renders in one call.
 *
 * The requests form one render batch (pm_render_batch_begin): every
 * prompt, root or include, is read once for the whole call, however many
 * requests use it.  Each request is first asked of the shared cache (which
 * looks at the request's bytes only, and cannot fail for a bad request).
 * A miss is rendered inside a subtransaction, so that a bad
 * request (missing prompt, bad parameters, cycle, missing keyword in error
 * mode...) gives its own row with the error and its SQLSTATE while the
 * other rows still render.  Query cancel, statement timeout and resource
 * errors are not caught: they stop the whole call.
 *
 * It returns one row per call, and the memory of each request is released
 * before the next: called in a SELECT list, no result is kept once passed
 * on; in FROM, the executor's tuplestore spills to disk past work_mem.
 * Either way a million requests never hold all their results in memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "pm_errors.h"
#include "pm_render.h"

PG_FUNCTION_INFO_V1(pm_bulk_render);

#define PM_BULK_COLUMNS 6

/* One request: its prompt id and its parameters (NULL: none). */
typedef struct PmBulkRequest
{
	char	   *prompt_id;
	Jsonb	   *params;
} PmBulkRequest;

/*
 * A request as found when the array was checked: its prompt id and its
 * "parameters" value, pointing into the requests jsonb.
 */
typedef struct PmBulkItem
{
	const char *id;
	int			id_len;
	bool		has_params;
	JsonbValue	params;
} PmBulkItem;

/* The value of key in the object container, or NULL. */
static JsonbValue *
pm_object_field(JsonbContainer *object, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(object, JB_FOBJECT, &k);
}

/*
 * Check request i (0-based) of the array and note where its parts are,
 * raising for a malformed element: that is an error of the call, not of
 * one request.
 */
static void
pm_bulk_check_request(Jsonb *requests, uint32 i, PmBulkItem *item)
{
	JsonbValue *elem = getIthJsonbValueFromContainer(&requests->root, i);
	JsonbValue *id;
	JsonbValue *params;

	if (elem == NULL || elem->type != jbvBinary ||
		!JsonContainerIsObject(elem->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("element %u of requests is not a JSON object", i + 1),
				 errhint("Each request is {\"prompt_id\": \"...\", \"parameters\": {...}}.")));
	id = pm_object_field(elem->val.binary.data, "prompt_id");
	if (id == NULL || id->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("element %u of requests has no \"prompt_id\" string", i + 1),
				 errhint("Each request is {\"prompt_id\": \"...\", \"parameters\": {...}}.")));
	item->id = id->val.string.val;
	item->id_len = id->val.string.len;
	params = pm_object_field(elem->val.binary.data, "parameters");
	item->has_params = params != NULL && params->type != jbvNull;
	if (item->has_params)
		item->params = *params; /* checked when rendered */
	pfree(elem);
	pfree(id);
	if (params != NULL)
		pfree(params);
}

/* The state of one pm_bulk_render call, across its rows. */
typedef struct PmBulkState
{
	Jsonb	   *requests;
	PmBulkItem *items;			/* one per request */
	PmRenderBatch *batch;		/* NULL once ended */
	MemoryContext request_cxt;	/* reset for each request */
} PmBulkState;

/* End the batch: after the last row, or when the query stops early. */
static void
pm_bulk_shutdown(Datum arg)
{
	PmBulkState *state = (PmBulkState *) DatumGetPointer(arg);

	if (state->batch != NULL)
	{
		pm_render_batch_end(state->batch);
		state->batch = NULL;
	}
}

/* Render request i into a row, allocated in the current context. */
static HeapTuple
pm_bulk_row(PmBulkState *state, uint32 i, TupleDesc tupdesc)
{
	MemoryContext row_cxt = CurrentMemoryContext;
	PmBulkRequest req;
	PmRenderOptions opts;
	text	   *result;
	char	   *error = NULL;
	char	   *sqlstate = NULL;
	Datum		values[PM_BULK_COLUMNS];
	bool		nulls[PM_BULK_COLUMNS];

	CHECK_FOR_INTERRUPTS();
	MemoryContextReset(state->request_cxt);
	MemoryContextSwitchTo(state->request_cxt);

	req.prompt_id = pnstrdup(state->items[i].id, state->items[i].id_len);
	req.params = state->items[i].has_params ?
		JsonbValueToJsonb(&state->items[i].params) : NULL;

	/* the cache first */
	memset(&opts, 0, sizeof(opts));
	opts.batch = state->batch;
	opts.cache_only = true;
	MemoryContextSwitchTo(row_cxt);
	result = pm_render_prompt_opts(req.prompt_id, req.params, &opts);
	if (result == NULL)
	{
		memset(&opts, 0, sizeof(opts));
		opts.batch = state->batch;
		opts.cache_checked = true;
		opts.catch_errors = true;
		result = pm_render_prompt_opts(req.prompt_id, req.params, &opts);
		error = opts.error;
		sqlstate = opts.sqlstate;
	}

	memset(nulls, 0, sizeof(nulls));
	values[0] = Int64GetDatum((int64) i + 1);
	values[1] = CStringGetTextDatum(req.prompt_id);
	values[2] = BoolGetDatum(result != NULL);
	if (result != NULL)
		values[3] = PointerGetDatum(result);
	else
		nulls[3] = true;
	if (error != NULL)
	{
		values[4] = CStringGetTextDatum(error);
		values[5] = CStringGetTextDatum(sqlstate);
	}
	else
		nulls[4] = nulls[5] = true;
	return heap_form_tuple(tupdesc, values, nulls);
}

/*
 * pm_bulk_render(requests jsonb) RETURNS TABLE(ord bigint, prompt_id text,
 *	 ok boolean, result text, error text, sqlstate text)
 *
 * One row per call (value per call): called in a SELECT list, no result is
 * kept once passed on; in FROM, the executor keeps rows in a tuplestore,
 * which spills to disk past work_mem.
 */
Datum
pm_bulk_render(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	PmBulkState *state;

	if (SRF_IS_FIRSTCALL())
	{
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
		MemoryContext old;
		Jsonb	   *requests;
		TupleDesc	tupdesc;
		uint32		n;
		uint32		i;

		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);

		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		funcctx->tuple_desc = BlessTupleDesc(tupdesc);

		requests = PG_GETARG_JSONB_P_COPY(0);
		if (!JB_ROOT_IS_ARRAY(requests) || JB_ROOT_IS_SCALAR(requests))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("requests must be a JSON array"),
					 errhint("Pass '[{\"prompt_id\": \"...\", \"parameters\": {...}}, ...]'.")));
		n = JB_ROOT_COUNT(requests);

		/* a malformed element fails the call before anything is rendered */
		state = palloc0(sizeof(PmBulkState));
		state->requests = requests;
		state->items = palloc_extended(sizeof(PmBulkItem) * Max(n, 1),
									   MCXT_ALLOC_HUGE);
		for (i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			pm_bulk_check_request(requests, i, &state->items[i]);
		}

		state->request_cxt = AllocSetContextCreate(funcctx->multi_call_memory_ctx,
												   "prompt_manager bulk request",
												   ALLOCSET_DEFAULT_SIZES);
		state->batch = pm_render_batch_begin();
		if (rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) && rsinfo->econtext != NULL)
			RegisterExprContextCallback(rsinfo->econtext, pm_bulk_shutdown,
										PointerGetDatum(state));
		funcctx->user_fctx = state;
		funcctx->max_calls = n;
		MemoryContextSwitchTo(old);
	}

	funcctx = SRF_PERCALL_SETUP();
	state = (PmBulkState *) funcctx->user_fctx;
	if (funcctx->call_cntr < funcctx->max_calls)
	{
		HeapTuple	tuple = pm_bulk_row(state, (uint32) funcctx->call_cntr,
										funcctx->tuple_desc);

		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(tuple));
	}
	pm_bulk_shutdown(PointerGetDatum(state));
	{
		/* state lives in the memory SRF_RETURN_DONE frees: drop the callback */
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

		if (rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) && rsinfo->econtext != NULL)
			UnregisterExprContextCallback(rsinfo->econtext, pm_bulk_shutdown,
										  PointerGetDatum(state));
	}
	SRF_RETURN_DONE(funcctx);
}
