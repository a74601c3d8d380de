/*-------------------------------------------------------------------------
 *
 * pm_storage.c
 *		Reading prompts from the pm_prompts table.
 *
 * One prepared SPI plan per backend reads a row by primary key.  SPI runs
 * the query as the current user, so table privileges and row-level
 * security apply to every prompt read, the root and each include alike.
 * It runs read-only, under the caller's active snapshot, as a STABLE
 * function should.
 *
 * The plan names the table with the extension's schema.  It is prepared
 * again when the table's schema or OID changes (DROP/CREATE EXTENSION);
 * a dropped extension is an error that says so.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "pm_storage.h"

#define PM_TABLE_NAME "pm_prompts"

/* The prepared lookup and the table it was prepared for. */
static SPIPlanPtr pm_fetch_plan = NULL;
static Oid	pm_table_relid = InvalidOid;
static Oid	pm_table_namespace = InvalidOid;

/*
 * The schema an extension is installed in.  PostgreSQL exports
 * get_extension_schema() from 16 on; before, read pg_extension here.
 */
static Oid
pm_extension_schema(Oid ext_oid)
{
#if PG_VERSION_NUM >= 160000
	return get_extension_schema(ext_oid);
#else
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key[1];
	HeapTuple	tuple;
	Oid			result = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_extension_oid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(ext_oid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		result = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
#endif
}

/* Is the cached table OID still pm_prompts in the same schema? */
static bool
pm_table_still_valid(void)
{
	HeapTuple	tuple;
	bool		valid = false;

	if (!OidIsValid(pm_table_relid))
		return false;
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(pm_table_relid));
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_class form = (Form_pg_class) GETSTRUCT(tuple);

		valid = form->relnamespace == pm_table_namespace &&
			strcmp(NameStr(form->relname), PM_TABLE_NAME) == 0;
		ReleaseSysCache(tuple);
	}
	return valid;
}

/*
 * Find pm_prompts in the extension's schema and prepare the lookup.  Must
 * be called inside an SPI connection.
 */
static void
pm_prepare_fetch(void)
{
	Oid			ext_oid;
	Oid			nsp;
	Oid			relid;
	char	   *nsp_name;
	StringInfoData query;
	Oid			argtypes[1] = {TEXTOID};
	SPIPlanPtr	plan;

	ext_oid = get_extension_oid("prompt_manager", true);
	if (!OidIsValid(ext_oid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"prompt_manager\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION prompt_manager.")));
	nsp = pm_extension_schema(ext_oid);
	nsp_name = get_namespace_name(nsp);
	relid = get_relname_relid(PM_TABLE_NAME, nsp);
	if (!OidIsValid(relid) || nsp_name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table \"%s\" of extension \"prompt_manager\" does not exist",
						PM_TABLE_NAME)));

	initStringInfo(&query);
	appendStringInfo(&query,
					 "SELECT revision, content, parameters FROM %s.%s WHERE prompt_id = $1",
					 quote_identifier(nsp_name), PM_TABLE_NAME);
	plan = SPI_prepare(query.data, 1, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 query.data, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");

	if (pm_fetch_plan != NULL)
		SPI_freeplan(pm_fetch_plan);
	pm_fetch_plan = plan;
	pm_table_relid = relid;
	pm_table_namespace = nsp;
}

bool
pm_storage_fetch(const char *prompt_id, PmStoredRowCallback callback, void *arg)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	Datum		values[1];
	int			ret;
	bool		found = false;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (pm_fetch_plan == NULL || !pm_table_still_valid())
		pm_prepare_fetch();

	values[0] = CStringGetTextDatum(prompt_id);
	ret = SPI_execute_plan(pm_fetch_plan, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));

	if (SPI_processed > 0)
	{
		HeapTuple	tuple = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		PmStoredRow row;
		bool		isnull;
		MemoryContext spi_cxt;

		row.relid = pm_table_relid;
		row.revision = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		if (isnull)
			row.revision = 0;
		row.content = SPI_getbinval(tuple, desc, 2, &isnull);
		Assert(!isnull);
		row.parameters = SPI_getbinval(tuple, desc, 3, &isnull);
		Assert(!isnull);

		/* the callback allocates in the caller's context, not SPI's */
		spi_cxt = MemoryContextSwitchTo(caller_cxt);
		callback(&row, arg);
		MemoryContextSwitchTo(spi_cxt);
		found = true;
	}

	SPI_finish();
	return found;
}
