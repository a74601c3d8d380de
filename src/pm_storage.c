/*-------------------------------------------------------------------------
 *
 * pm_storage.c
 *		Reading prompts from the pm_prompts table.
 *
 * Two ways to read a row, both under the caller's active snapshot (as a
 * STABLE function should):
 *	 - pm_storage_fetch: one prepared SPI plan per backend reads the row by
 *	   primary key.  SPI runs the query as the current user, so table
 *	   privileges and row-level security apply to every prompt read, the
 *	   root and each include alike.
 *	 - pm_storage_fetch_unchecked / pm_storage_probe_revision: a direct
 *	   scan of the primary key index, several times cheaper.  They check
 *	   nothing: callers use them only when pm_visibility_unrestricted() says
 *	   the role may read the whole table (SELECT, no row-level security).
 *
 * The plan names the table with the extension's schema.  It is prepared
 * again when the table's schema or OID changes (DROP/CREATE EXTENSION);
 * a dropped extension is an error that says so.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "storage/lmgr.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pm_compat.h"
#include "pm_storage.h"

#define PM_TABLE_NAME "pm_prompts"

/*
 * The version of a row: its revision, told apart from a reused one by the
 * transaction that wrote the row.  Revisions are meant never to repeat, but
 * a sequence can be set back (a data-only restore of a dump sets it to its
 * value at dump time; so can ALTER SEQUENCE), and a cache keyed on the
 * revision alone would then serve text from before an edit.
 */
int64
pm_row_version(int64 revision, TransactionId xmin)
{
	struct
	{
		int64		revision;
		uint32		xmin;
		uint32		pad;
	}			v;

	v.revision = revision;
	v.xmin = xmin;
	v.pad = 0;
	return (int64) XXH3_64bits(&v, sizeof(v));
}

/* Where pm_prompts is, and the lookup prepared for it. */
static PmTableInfo pm_table;
static SPIPlanPtr pm_fetch_plan = NULL;
static Oid	pm_fetch_plan_relid = InvalidOid;

/*
 * pm_table stays valid until a relcache invalidation says pm_prompts (or
 * every relation) changed: DROP EXTENSION, a rename, a schema change.
 */
static bool pm_table_checked = false;
static bool pm_callback_registered = false;

static void
pm_table_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == pm_table.relid)
		pm_table_checked = false;
}

/* Is the cached table OID still pm_prompts in the same schema? */
static bool
pm_table_still_valid(void)
{
	HeapTuple	tuple;
	bool		valid = false;

	if (pm_table_checked)
		return true;
	if (!pm_callback_registered)
	{
		CacheRegisterRelcacheCallback(pm_table_invalidate, (Datum) 0);
		pm_callback_registered = true;
	}
	if (!OidIsValid(pm_table.relid))
		return false;
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(pm_table.relid));
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_class form = (Form_pg_class) GETSTRUCT(tuple);

		valid = form->relnamespace == pm_table.namespace &&
			strcmp(NameStr(form->relname), PM_TABLE_NAME) == 0;
		ReleaseSysCache(tuple);
	}
	pm_table_checked = valid;
	return valid;
}

/* Find pm_prompts, its primary key and its revision column. */
static void
pm_locate_table(void)
{
	Oid			ext_oid;
	Oid			nsp;
	Oid			relid;
	Oid			pkey;
	AttrNumber	revision_attnum;
	AttrNumber	content_attnum;
	AttrNumber	parameters_attnum;

	pm_table.relid = InvalidOid;

	ext_oid = get_extension_oid("prompt_manager", true);
	if (!OidIsValid(ext_oid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"prompt_manager\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION prompt_manager.")));
	nsp = pm_extension_schema(ext_oid);
	relid = get_relname_relid(PM_TABLE_NAME, nsp);
	pkey = get_relname_relid(PM_TABLE_NAME "_pkey", nsp);
	revision_attnum = OidIsValid(relid) ? get_attnum(relid, "revision") : InvalidAttrNumber;
	content_attnum = OidIsValid(relid) ? get_attnum(relid, "content") : InvalidAttrNumber;
	parameters_attnum = OidIsValid(relid) ? get_attnum(relid, "parameters") : InvalidAttrNumber;
	if (!OidIsValid(relid) || !OidIsValid(pkey) ||
		revision_attnum == InvalidAttrNumber ||
		content_attnum == InvalidAttrNumber ||
		parameters_attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table \"%s\" of extension \"prompt_manager\" does not exist",
						PM_TABLE_NAME)));

	pm_table.namespace = nsp;
	pm_table.pkey_index = pkey;
	pm_table.revision_attnum = revision_attnum;
	pm_table.content_attnum = content_attnum;
	pm_table.parameters_attnum = parameters_attnum;
	pm_table.relid = relid;
	pm_table_checked = true;
}

const PmTableInfo *
pm_storage_table(void)
{
	if (!pm_table_still_valid())
		pm_locate_table();
	return &pm_table;
}

/* Prepare the lookup for pm_table; inside an SPI connection. */
static void
pm_prepare_fetch(void)
{
	StringInfoData query;
	Oid			argtypes[1] = {TEXTOID};
	SPIPlanPtr	plan;
	char	   *nsp_name = get_namespace_name(pm_table.namespace);

	if (nsp_name == NULL)
		elog(ERROR, "cache lookup failed for namespace %u", pm_table.namespace);
	initStringInfo(&query);
	appendStringInfo(&query,
					 "SELECT revision, content, parameters, xmin FROM %s.%s "
					 "WHERE prompt_id OPERATOR(pg_catalog.=) $1",
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
	pm_fetch_plan_relid = pm_table.relid;
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

	pm_storage_table();
	if (pm_fetch_plan == NULL || pm_fetch_plan_relid != pm_table.relid)
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

		row.relid = pm_table.relid;
		row.revision = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		if (isnull)
			row.revision = 0;
		row.revision = pm_row_version(row.revision,
									  DatumGetTransactionId(SPI_getbinval(tuple, desc, 4, &isnull)));
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

/*
 * Read prompt_id's row straight from the primary key under the active
 * snapshot; call callback with it when callback is not NULL.  Returns
 * whether the row is there, and its revision.
 */
static bool
pm_storage_read_direct(const char *prompt_id, int64 *revision,
					   PmStoredRowCallback callback, void *arg)
{
	const PmTableInfo *table;
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	ScanKeyData key;
	TupleTableSlot *slot;
	bool		found = false;

	/*
	 * Lock the table first: taking the lock processes invalidations, so the
	 * table is then sure to be the current pm_prompts (another session may
	 * have re-created the extension since our last look).
	 */
	for (;;)
	{
		Oid			relid = pm_storage_table()->relid;

		LockRelationOid(relid, AccessShareLock);
		table = pm_storage_table();
		if (table->relid == relid)
			break;
		UnlockRelationOid(relid, AccessShareLock);
	}
	heap = table_open(table->relid, NoLock);
	index = index_open(table->pkey_index, AccessShareLock);
	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[0], F_TEXTEQ,
						   PointerGetDatum(cstring_to_text(prompt_id)));
	scan = pm_index_beginscan(heap, index, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	slot = table_slot_create(heap, NULL);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		PmStoredRow row;
		bool		isnull;

		row.relid = table->relid;
		row.revision = DatumGetInt64(slot_getattr(slot, table->revision_attnum, &isnull));
		if (isnull)
			row.revision = 0;
		row.revision = pm_row_version(row.revision,
									  DatumGetTransactionId(slot_getsysattr(slot, MinTransactionIdAttributeNumber,
																			&isnull)));
		*revision = row.revision;
		if (callback != NULL)
		{
			row.content = slot_getattr(slot, table->content_attnum, &isnull);
			Assert(!isnull);
			row.parameters = slot_getattr(slot, table->parameters_attnum, &isnull);
			Assert(!isnull);
			callback(&row, arg);
		}
		found = true;
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	/* like a query, keep the locks until the end of the transaction */
	index_close(index, NoLock);
	table_close(heap, NoLock);
	return found;
}

bool
pm_storage_probe_revision(const char *prompt_id, int64 *revision)
{
	return pm_storage_read_direct(prompt_id, revision, NULL, NULL);
}

bool
pm_storage_fetch_unchecked(const char *prompt_id,
						   PmStoredRowCallback callback, void *arg)
{
	int64		revision;

	return pm_storage_read_direct(prompt_id, &revision, callback, arg);
}

void
pm_storage_execute(const char *query_format, int nargs, Oid *argtypes,
				   Datum *values)
{
	const PmTableInfo *table = pm_storage_table();
	char	   *nsp_name = get_namespace_name(table->namespace);
	char	   *table_name;
	int			ret;

	if (nsp_name == NULL)
		elog(ERROR, "cache lookup failed for namespace %u", table->namespace);
	table_name = psprintf("%s.%s", quote_identifier(nsp_name), PM_TABLE_NAME);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args(psprintf(query_format, table_name), nargs,
								argtypes, values, NULL, false, 0);
	if (ret < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	SPI_finish();
}

int
pm_storage_execute_returning(const char *query_format, int nargs,
							 Oid *argtypes, Datum *values)
{
	const PmTableInfo *table = pm_storage_table();
	char	   *nsp_name = get_namespace_name(table->namespace);
	char	   *table_name;
	int			ret;

	if (nsp_name == NULL)
		elog(ERROR, "cache lookup failed for namespace %u", table->namespace);
	table_name = psprintf("%s.%s", quote_identifier(nsp_name), PM_TABLE_NAME);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args(psprintf(query_format, table_name), nargs,
								argtypes, values, NULL, false, 0);
	if (ret < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	return ret;
}

void
pm_storage_query(const char *query_format)
{
	const PmTableInfo *table = pm_storage_table();
	char	   *nsp_name = get_namespace_name(table->namespace);
	int			ret;

	if (nsp_name == NULL)
		elog(ERROR, "cache lookup failed for namespace %u", table->namespace);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute(psprintf(query_format,
							   psprintf("%s.%s", quote_identifier(nsp_name), PM_TABLE_NAME)),
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
}
