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
 * pm_bulk_render_rows returns one row per call, and the memory of each
 * request is released before the next.  Users call the SQL function
 * pm_bulk_render, whose body calls it: in FROM, the planner inlines
 * pm_bulk_render into the calling query, and elsewhere its support function
 * (below) replaces the call with one of pm_bulk_render_rows.  Either way
 * pm_bulk_render_rows runs in a ProjectSet node, so no result is kept once
 * passed on, and a million requests never hold all their results in
 * memory.  (The forms that cannot be inlined in FROM, such as a sub-select
 * in the argument, become a function scan, whose rows the executor keeps
 * in a tuplestore that spills to disk past work_mem.)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/dependency.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/pathnodes.h"
#include "nodes/supportnodes.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "optimizer/planmain.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "pm_compat.h"
#include "pm_errors.h"
#include "pm_request.h"

PG_FUNCTION_INFO_V1(pm_bulk_render_rows);
PG_FUNCTION_INFO_V1(pm_bulk_render_support);

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

/* The keys a request may have. */
static const char *const pm_bulk_keys[] = {"prompt_id", "parameters"};

/*
 * The request key that key[0..len) was probably meant to be, or NULL: one
 * that it is within two edits of (ignoring case), or a common other name
 * for it ("params", "id").
 */
static const char *
pm_bulk_suggest_key(const char *key, int len)
{
	static const struct
	{
		const char *alias;
		const char *key;
	}			aliases[] = {
		{"params", "parameters"}, {"param", "parameters"},
		{"args", "parameters"}, {"arguments", "parameters"},
		{"vars", "parameters"}, {"variables", "parameters"},
		{"values", "parameters"},
		{"id", "prompt_id"}, {"prompt", "prompt_id"}, {"prompt_name", "prompt_id"},
	};
	char		lower[32];
	int			i;

	if (len >= (int) sizeof(lower))
		return NULL;
	for (i = 0; i < len; i++)
		lower[i] = pg_ascii_tolower((unsigned char) key[i]);
	lower[len] = '\0';
	for (i = 0; i < lengthof(aliases); i++)
	{
		if (strcmp(lower, aliases[i].alias) == 0)
			return aliases[i].key;
	}
	if (len < 3)
		return NULL;
	for (i = 0; i < lengthof(pm_bulk_keys); i++)
	{
		if (varstr_levenshtein_less_equal(lower, len, pm_bulk_keys[i],
										  strlen(pm_bulk_keys[i]),
										  1, 1, 1, 2, true) <= 2)
			return pm_bulk_keys[i];
	}
	return NULL;
}

/* Is key[0..len) one of pm_bulk_keys? */
static bool
pm_bulk_known_key(const char *key, int len)
{
	int			i;

	for (i = 0; i < lengthof(pm_bulk_keys); i++)
	{
		if (len == strlen(pm_bulk_keys[i]) && memcmp(key, pm_bulk_keys[i], len) == 0)
			return true;
	}
	return false;
}

/* Append "key" to buf, clipped to 64 bytes. */
static void
pm_bulk_append_key(StringInfo buf, const char *key, int len)
{
	int			clip = pg_mbcliplen(key, len, 64);

	appendStringInfo(buf, "\"%.*s%s\"", clip, key, clip < len ? "..." : "");
}

/*
 * Raise the error of request i (0-based), object, which has a key other
 * than pm_bulk_keys: named is the first such key that looks like a
 * misspelt request key (the hint then says which), or else the first; the
 * detail names the others.
 */
static void
pm_bulk_unknown_key(JsonbContainer *object, uint32 i)
{
	JsonbIterator *it = JsonbIteratorInit(object);
	JsonbValue	v;
	JsonbIteratorToken token;
	const char *named = NULL;
	int			named_len = 0;
	const char *suggestion = NULL;
	List	   *unknown = NIL;
	StringInfoData key;
	StringInfoData others;
	ListCell   *lc;

	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		const char *s = NULL;

		CHECK_FOR_INTERRUPTS();
		if (token != WJB_KEY || pm_bulk_known_key(v.val.string.val, v.val.string.len))
			continue;
		if (suggestion == NULL)
			s = pm_bulk_suggest_key(v.val.string.val, v.val.string.len);
		if (s == NULL && list_length(unknown) > 10)
			continue;			/* enough to name */
		unknown = lappend(unknown, pnstrdup(v.val.string.val, v.val.string.len));
		if (s != NULL)
		{
			suggestion = s;
			named = llast(unknown);
			named_len = v.val.string.len;
		}
	}
	Assert(unknown != NIL);
	if (named == NULL)
	{
		named = linitial(unknown);
		named_len = strlen(named);
	}

	initStringInfo(&key);
	pm_bulk_append_key(&key, named, named_len);
	initStringInfo(&others);
	foreach(lc, unknown)
	{
		const char *k = lfirst(lc);

		if (k == named)
			continue;
		if (foreach_current_index(lc) >= 10)
		{
			appendStringInfoString(&others, " and more");
			break;
		}
		if (others.len > 0)
			appendStringInfoString(&others, ", ");
		pm_bulk_append_key(&others, k, strlen(k));
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("element %u of requests has unknown key %s", i + 1, key.data),
			 others.len > 0 ?
			 errdetail("A request has only the keys \"prompt_id\" and \"parameters\"; "
					   "this one also has %s.", others.data) :
			 errdetail("A request has only the keys \"prompt_id\" and \"parameters\"."),
			 suggestion != NULL ?
			 errhint("Did you mean \"%s\"?", suggestion) :
			 errhint("Each request is {\"prompt_id\": \"...\", \"parameters\": {...}}.")));
}

/*
 * Check request i (0-based) of the array, elem, and note where its parts
 * are, raising for a malformed element: that is an error of the call, not
 * of one request.  A key other than "prompt_id" and "parameters" is one
 * (found by counting the keys: the pass over them is for the error only).
 * Nothing is allocated: the parts point into the array.
 */
static void
pm_bulk_check_request(const JsonbValue *elem, uint32 i, PmBulkItem *item)
{
	JsonbContainer *object;
	JsonbValue	id;
	JsonbValue	params;
	bool		has_id;
	bool		has_params_key;

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("element %u of requests is not a JSON object", i + 1),
				 errhint("Each request is {\"prompt_id\": \"...\", \"parameters\": {...}}.")));
	object = elem->val.binary.data;
	has_id = getKeyJsonValueFromContainer(object, "prompt_id", strlen("prompt_id"), &id) != NULL;
	has_params_key =
		getKeyJsonValueFromContainer(object, "parameters", strlen("parameters"), &params) != NULL;
	if (JsonContainerSize(object) > (has_id ? 1 : 0) + (has_params_key ? 1 : 0))
		pm_bulk_unknown_key(object, i);
	if (!has_id || id.type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("element %u of requests has no \"prompt_id\" string", i + 1),
				 errhint("Each request is {\"prompt_id\": \"...\", \"parameters\": {...}}.")));
	item->id = id.val.string.val;
	item->id_len = id.val.string.len;
	item->has_params = has_params_key && params.type != jbvNull;
	if (item->has_params)
		item->params = params;	/* checked when rendered */
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

	/* the cache first; heap_form_tuple below copies what it returns */
	memset(&opts, 0, sizeof(opts));
	opts.batch = state->batch;
	opts.cache_only = true;
	opts.borrow_result = true;
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
	values[1] = PointerGetDatum(cstring_to_text_with_len(state->items[i].id,
														 state->items[i].id_len));
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
 * pm_bulk_render_rows(requests jsonb) RETURNS TABLE(ord bigint,
 *	 prompt_id text, ok boolean, result text, error text, sqlstate text)
 *
 * One row per call (value per call).  Called directly in FROM, without the
 * pm_bulk_render wrapper, the executor would keep its rows in a tuplestore,
 * spilled to disk past work_mem.
 */
Datum
pm_bulk_render_rows(PG_FUNCTION_ARGS)
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

		requests = PG_GETARG_JSONB_P(0);	/* detoasted here, or the argument itself */
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
		if (n > 0)
		{
			JsonbIterator *it = JsonbIteratorInit(&requests->root);
			JsonbValue	elem;
			JsonbIteratorToken token;

			i = 0;
			while ((token = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
			{
				if (token != WJB_ELEM)
					continue;	/* the array's beginning and end */
				CHECK_FOR_INTERRUPTS();
				Assert(i < n);
				pm_bulk_check_request(&elem, i, &state->items[i]);
				i++;
			}
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

/*
 * Does the query have a function RTE that calls funcid alone, without
 * WITH ORDINALITY: one that the planner may inline?
 */
static bool
pm_query_calls_in_from(Query *query, Oid funcid)
{
	ListCell   *lc;

	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		RangeTblFunction *rtfunc;

		if (rte->rtekind != RTE_FUNCTION || rte->funcordinality ||
			list_length(rte->functions) != 1)
			continue;
		rtfunc = linitial_node(RangeTblFunction, rte->functions);
		if (IsA(rtfunc->funcexpr, FuncExpr) &&
			((FuncExpr *) rtfunc->funcexpr)->funcid == funcid)
			return true;
	}
	return false;
}

/*
 * pm_bulk_render_support(internal) RETURNS internal: the planner support
 * function of the SQL function pm_bulk_render.
 *
 * pm_bulk_render is a SQL function so that the planner inlines it in FROM,
 * where the rows of pm_bulk_render_rows then stream out of a ProjectSet
 * node.  Where it cannot be inlined (in a SELECT list, or in FROM with a
 * sub-select or a volatile function in its argument), a SQL function
 * would run through the SQL-function executor, slower and with a
 * tuplestore for every row; there, this replaces the call with one of the
 * C function pm_bulk_render_rows, which has the same argument and columns.
 *
 * How it tells FROM apart: the planner simplifies the function RTEs of a
 * query (preprocess_function_rtes) before it inlines them and before it
 * looks at the query's SELECT list.  So while an inlinable function RTE of
 * the query still calls pm_bulk_render, the call being simplified is that
 * one, and it is left alone.  (A query calling pm_bulk_render both in FROM
 * with ORDINALITY and in a plain function RTE may leave the first as a SQL
 * function: slower, same rows.)  Replacing the call is always correct: the
 * SQL function's body is a call of pm_bulk_render_rows.
 */
Datum
pm_bulk_render_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestSimplify *req;
	Oid			argtypes[1] = {JSONBOID};
	Oid			rows_oid;
	char	   *schema;
	FuncExpr   *call;

	if (!IsA(rawreq, SupportRequestSimplify))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestSimplify *) rawreq;
	if (req->root == NULL || req->root->parse == NULL)
		PG_RETURN_POINTER(NULL);
	if (pm_query_calls_in_from(req->root->parse, req->fcall->funcid) &&
		!contain_subplans((Node *) req->fcall->args) &&
		!contain_volatile_functions((Node *) req->fcall->args))
		PG_RETURN_POINTER(NULL);	/* in FROM: to be inlined */

	/* as inlining does: the caller must be allowed to call pm_bulk_render */
	if (pm_function_aclcheck(req->fcall->funcid, GetUserId()) != ACLCHECK_OK)
		PG_RETURN_POINTER(NULL);
	schema = get_namespace_name(get_func_namespace(req->fcall->funcid));
	if (schema == NULL)
		PG_RETURN_POINTER(NULL);
	rows_oid = LookupFuncName(list_make2(makeString(schema),
										 makeString("pm_bulk_render_rows")),
							  1, argtypes, true);
	if (!OidIsValid(rows_oid))
		PG_RETURN_POINTER(NULL);

	/*
	 * Only the extension's own pm_bulk_render_rows, which returns what
	 * pm_bulk_render returns: a function of that name put there by anyone
	 * else would be called with the plan of another result type.
	 */
	if (get_func_rettype(rows_oid) != req->fcall->funcresulttype ||
		get_func_retset(rows_oid) != req->fcall->funcretset ||
		!OidIsValid(getExtensionOfObject(ProcedureRelationId, req->fcall->funcid)) ||
		getExtensionOfObject(ProcedureRelationId, rows_oid) !=
		getExtensionOfObject(ProcedureRelationId, req->fcall->funcid))
		PG_RETURN_POINTER(NULL);

	/* the plan still depends on pm_bulk_render, as an inlined one does */
	record_plan_function_dependency(req->root, req->fcall->funcid);
	call = copyObject(req->fcall);
	call->funcid = rows_oid;
	PG_RETURN_POINTER(call);
}
