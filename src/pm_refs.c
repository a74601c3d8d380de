/*-------------------------------------------------------------------------
 *
 * pm_refs.c
 *		The SQL functions of references to versions and labels:
 *		pm_resolve, pm_publish and pm_render_as_of.
 *
 * pm_resolve and pm_publish walk a render: the renderer itself reads the
 * root and every include exactly as pm_render would (the same references,
 * the same include rule, in the caller's snapshot) and reports each prompt
 * it reads (PmRenderJob.resolve_sink); the text is thrown away.  So what
 * they list or publish is what a render reads, by construction.  The walk
 * keeps keywords without a value as written and does not check params
 * keys (prompt_manager.missing_parameter and unknown_parameter are about
 * the text, not about which prompts are read).
 *
 * pm_render_as_of is a render with PmRenderOptions.as_of: it resolves
 * every reference from pm_label_history and pm_prompt_versions as of that
 * time (pm_render.c), and is never served from nor stored in the shared
 * cache.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "pm_functions.h"
#include "pm_ref.h"
#include "pm_render.h"
#include "pm_request.h"
#include "pm_storage.h"
#include "pm_template_cache.h"

PG_FUNCTION_INFO_V1(pm_resolve);
PG_FUNCTION_INFO_V1(pm_publish);
PG_FUNCTION_INFO_V1(pm_render_as_of);

/* One row of pm_resolve. */
typedef struct PmResolveRow
{
	char	   *prompt_id;
	int32		version;		/* 0: the head (its version looked up after) */
	int			depth;
	char	   *included_by;	/* NULL for the root */
} PmResolveRow;

/* What a walk collects: each distinct (prompt, version, included_by) once. */
typedef struct PmResolveWalk
{
	HTAB	   *seen;			/* by the row's key text */
	List	   *rows;			/* PmResolveRow *, in first-use order */
} PmResolveWalk;

typedef struct PmResolveSeen
{
	char		key[NAMEDATALEN * 12];
} PmResolveSeen;

/* The resolve sink of a walk. */
static void
pm_walk_sink(void *arg, PmCompiledPrompt *prompt, int depth,
			 const char *included_by)
{
	PmResolveWalk *walk = (PmResolveWalk *) arg;
	char		key[sizeof(((PmResolveSeen *) NULL)->key)];
	bool		found;
	PmResolveRow *row;

	CHECK_FOR_INTERRUPTS();
	memset(key, 0, sizeof(key));
	snprintf(key, sizeof(key), "%s@%d<%s%s", prompt->prompt_id, prompt->version,
			 included_by ? "=" : "", included_by ? included_by : "");
	(void) hash_search(walk->seen, key, HASH_ENTER, &found);
	if (found)
		return;
	row = palloc(sizeof(PmResolveRow));
	row->prompt_id = pstrdup(prompt->prompt_id);
	row->version = prompt->version;
	row->depth = depth;
	row->included_by = included_by ? pstrdup(included_by) : NULL;
	walk->rows = lappend(walk->rows, row);
}

/*
 * Walk a render of ref with params (NULL: none); the rows, in the current
 * memory context.
 */
static List *
pm_walk(const char *ref, Jsonb *params)
{
	MemoryContext cxt = CurrentMemoryContext;
	PmResolveWalk walk;
	PmRenderJob job;
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(((PmResolveSeen *) NULL)->key);
	ctl.entrysize = sizeof(PmResolveSeen);
	ctl.hcxt = cxt;
	walk.seen = hash_create("prompt_manager resolve", 16, &ctl,
							HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	walk.rows = NIL;

	memset(&job, 0, sizeof(job));
	job.prompt_id = ref;
	job.params = params;
	job.result_cxt = cxt;
	job.resolve_sink = pm_walk_sink;
	job.resolve_arg = &walk;
	job.walk = true;
	pm_template_cache_begin();
	PG_TRY();
	{
		pm_render_job(&job);
	}
	PG_FINALLY();
	{
		pm_template_cache_end();
	}
	PG_END_TRY();
	return walk.rows;
}

/* "schema".pm_prompt_versions and "schema".pm_prompts, for SPI queries. */
static char *
pm_refs_schema(void)
{
	char	   *nsp = get_namespace_name(pm_storage_table()->namespace);

	if (nsp == NULL)
		elog(ERROR, "cache lookup failed for the schema of prompt_manager");
	return (char *) quote_identifier(nsp);
}

/*
 * The version of prompt_id that holds its head's current text, byte for
 * byte (the newest such), under the active snapshot; 0 when there is none
 * (no head, or it was written with the version trigger disabled).  Inside
 * an SPI connection.
 */
static int32
pm_head_version(const char *schema, const char *prompt_id)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	int			ret;

	values[0] = CStringGetTextDatum(prompt_id);
	ret = SPI_execute_with_args(psprintf("SELECT v.version FROM %s.pm_prompts p "
										 "JOIN %s.pm_prompt_versions v ON v.prompt_id OPERATOR(pg_catalog.=) p.prompt_id "
										 "WHERE p.prompt_id OPERATOR(pg_catalog.=) $1 "
										 "AND NOT pg_catalog.record_image_ne(ROW(v.content, v.parameters), ROW(p.content, p.parameters)) "
										 "ORDER BY v.version DESC LIMIT 1",
										 schema, schema),
								1, argtypes, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return 0;
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * pm_resolve(ref text, params jsonb DEFAULT '{}')
 * RETURNS TABLE(prompt_id text, version integer, depth integer, included_by text)
 *
 * The prompts a render of ref with params reads: root first (depth 0,
 * included_by NULL), then each distinct (prompt, version, included_by) in
 * the order the render first reads it.  For a head, version is the
 * version holding its current text (NULL if none).  No row for a NULL ref.
 */
Datum
pm_resolve(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Tuplestorestate *store = pm_materialize(fcinfo, NULL, &tupdesc);
	List	   *rows;
	ListCell   *lc;
	char	   *schema = NULL;

	if (PG_ARGISNULL(0))
		return (Datum) 0;
	rows = pm_walk(text_to_cstring(PG_GETARG_TEXT_PP(0)),
				   PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1));
	foreach(lc, rows)
	{
		PmResolveRow *row = (PmResolveRow *) lfirst(lc);
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		int32		version = row->version;

		CHECK_FOR_INTERRUPTS();
		if (version == 0)
		{
			if (schema == NULL)
			{
				pm_storage_table_of(PM_TABLE_VERSIONS);
				schema = pm_refs_schema();
			}
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			version = pm_head_version(schema, row->prompt_id);
			SPI_finish();
		}
		values[0] = CStringGetTextDatum(row->prompt_id);
		values[1] = Int32GetDatum(version);
		nulls[1] = version == 0;
		values[2] = Int32GetDatum(row->depth);
		if (row->included_by != NULL)
			values[3] = CStringGetTextDatum(row->included_by);
		else
			nulls[3] = true;
		tuplestore_putvalues(store, tupdesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * pm_publish(prompt_id text, label text) RETURNS integer
 *
 * Point label at the version holding the current text of prompt_id's head
 * and of every head its render reads (its includes without '@', and
 * theirs, through includes with '@' too; a version or label an include
 * names is fixed and not moved).  Returns how many labels moved (one
 * already there is not counted).  It writes pm_labels as the current user,
 * in the caller's transaction, so the triggers on pm_labels (history,
 * protected labels) see every move.
 */
Datum
pm_publish(PG_FUNCTION_ARGS)
{
	char	   *prompt_id;
	char	   *label;
	char	   *ref_text;
	PmRef		ref;
	List	   *rows;
	List	   *heads = NIL;
	List	   *versions = NIL;
	ListCell   *lc;
	ListCell   *lv;
	char	   *schema;
	int32		moved = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("pm_publish needs a prompt_id and a label")));
	prompt_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	label = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strchr(prompt_id, '@') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pm_publish takes a prompt id, not the reference \"%s\"", prompt_id),
				 errdetail("It publishes the head of the prompt and of the prompts it includes.")));
	ref_text = psprintf("%s@%s", prompt_id, label);
	if (pm_ref_parse(ref_text, strlen(ref_text), &ref) != NULL || ref.kind != PM_REF_LABEL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid label \"%s\"", label),
				 errdetail("A label starts with a lower-case letter a-z, holds only a-z, 0-9, \"_\" and \"-\", and is at most %d bytes long.",
						   PM_LABEL_MAX_LEN)));

	/* the heads a render of prompt_id reads, in first-use order */
	rows = pm_walk(prompt_id, NULL);
	foreach(lc, rows)
	{
		PmResolveRow *row = (PmResolveRow *) lfirst(lc);
		ListCell   *lh;
		bool		dup = false;

		if (row->version != 0)
			continue;
		foreach(lh, heads)
		{
			if (strcmp((char *) lfirst(lh), row->prompt_id) == 0)
				dup = true;
		}
		if (!dup)
			heads = lappend(heads, row->prompt_id);
	}

	pm_storage_table_of(PM_TABLE_LABELS);
	schema = pm_refs_schema();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* every version first, in the walk's snapshot */
	foreach(lc, heads)
	{
		const char *id = (const char *) lfirst(lc);
		int32		version = pm_head_version(schema, id);

		if (version == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("prompt \"%s\" has no version of its current text", id),
					 errdetail("Its head was written while the trigger pm_prompts_version was disabled."),
					 errhint("Update the prompt (any change of content or parameters adds a version), then publish again.")));
		versions = lappend_int(versions, version);
	}
	forboth(lc, heads, lv, versions)
	{
		Oid			argtypes[3] = {TEXTOID, TEXTOID, INT4OID};
		Datum		values[3];
		int			ret;

		values[0] = CStringGetTextDatum((const char *) lfirst(lc));
		values[1] = CStringGetTextDatum(label);
		values[2] = Int32GetDatum(lfirst_int(lv));
		ret = SPI_execute_with_args(psprintf("INSERT INTO %s.pm_labels AS l (prompt_id, label, version) "
											 "VALUES ($1, $2, $3) ON CONFLICT (prompt_id, label) DO UPDATE "
											 "SET version = EXCLUDED.version, moved_at = pg_catalog.clock_timestamp(), "
											 "moved_by = CURRENT_USER "
											 "WHERE l.version OPERATOR(pg_catalog.<>) EXCLUDED.version",
											 schema),
									3, argtypes, values, NULL, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
		moved += (int32) SPI_processed;
	}
	SPI_finish();
	PG_RETURN_INT32(moved);
}

/*
 * pm_render_as_of(ref text, params jsonb, at timestamptz) RETURNS text
 *
 * What ref rendered at time at (see pm_render.c, pm_resolve_as_of).  NULL
 * for a NULL ref or at; NULL params are no parameters.
 */
Datum
pm_render_as_of(PG_FUNCTION_ARGS)
{
	PmRenderOptions opts;
	text	   *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	memset(&opts, 0, sizeof(opts));
	opts.as_of_set = true;
	opts.as_of = PG_GETARG_TIMESTAMPTZ(2);
	pm_storage_table_of(PM_TABLE_VERSIONS);
	result = pm_render_prompt_opts(text_to_cstring(PG_GETARG_TEXT_PP(0)),
								   PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1),
								   &opts);
	if (result == NULL)
		PG_RETURN_NULL();		/* the error handler's answer */
	PG_RETURN_TEXT_P(result);
}
