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
 * again when the table's OID changes (DROP/CREATE EXTENSION); a dropped
 * extension is an error that says so.
 *
 * What is known of the table's shape (PmTableInfo: its OID, its primary
 * key index, the attnums of the columns rendering reads) is dropped at any
 * relcache invalidation of the table or of that index and looked up again:
 * REINDEX CONCURRENTLY gives the primary key a new OID, ALTER TABLE can
 * drop, rename, add or retype columns.  The lookup checks that the shape
 * is one rendering can use (revision bigint, content text, parameters
 * jsonb, a btree primary key on prompt_id alone with text equality) and
 * says precisely what is wrong otherwise; a NULL content or parameters
 * read from a table whose NOT NULL was dropped is an error as well.  The
 * plan cache plans the SPI query again after such changes; its result
 * columns are checked on every run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_event_trigger.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "storage/lmgr.h"
#include "executor/tuptable.h"
#include "utils/array.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pm_compat.h"
#include "pm_errors.h"
#include "pm_storage.h"
#include "pm_writes.h"

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
 * pm_table stays valid until a relcache invalidation names pm_prompts, its
 * primary key index, or every relation (InvalidOid: a reset of the
 * invalidation queue).  Then the whole shape is looked up again, the way
 * PostgreSQL's own caches follow the relcache.
 */
static bool pm_table_checked = false;
static bool pm_callback_registered = false;
static uint64 pm_table_generation = 0;

static void
pm_table_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == pm_table.relid ||
		relid == pm_table.pkey_index)
	{
		pm_table_checked = false;
		pm_table_generation++;
	}
}

/*
 * Any change of pg_proc (a note trigger's function replaced) or of
 * pg_event_trigger (the DDL note disabled): look the triggers up again.
 */
static void
pm_table_syscache_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	pm_table_checked = false;
	pm_table_generation++;
}

uint64
pm_storage_generation(void)
{
	return pm_table_generation;
}

/* Is fn the C function at addr of this library (not a replacement)? */
static bool
pm_is_our_function(Oid fn, PGFunction addr)
{
	HeapTuple	tuple;
	bool		ours = false;

	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tuple))
		return false;
	if (((Form_pg_proc) GETSTRUCT(tuple))->prolang == ClanguageId)
	{
		bool		isnull_src;
		bool		isnull_bin;
		Datum		src = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_prosrc, &isnull_src);
		Datum		bin = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_probin, &isnull_bin);

		if (!isnull_src && !isnull_bin)
			ours = load_external_function(TextDatumGetCString(bin),
										  TextDatumGetCString(src),
										  false, NULL) == (void *) addr;
	}
	ReleaseSysCache(tuple);
	return ours;
}

/* The commands the DDL note must fire on (see pm_writes.c and the SQL). */
static const char *const pm_noted_ddl[] = {
	"ALTER TABLE", "CREATE TRIGGER", "ALTER TRIGGER", "DROP TRIGGER",
	"CREATE FUNCTION", "ALTER FUNCTION", "DROP FUNCTION",
	"ALTER EXTENSION", "DROP EXTENSION"
};

/* Is the DDL note event trigger there, ours, ALWAYS, on all those tags? */
static bool
pm_ddl_note_ok(void)
{
	HeapTuple	tuple;
	Form_pg_event_trigger evt;
	bool		ok;

	tuple = SearchSysCache1(EVENTTRIGGERNAME, CStringGetDatum("pm_prompts_note_ddl"));
	if (!HeapTupleIsValid(tuple))
		return false;
	evt = (Form_pg_event_trigger) GETSTRUCT(tuple);
	ok = evt->evtenabled == TRIGGER_FIRES_ALWAYS &&
		strcmp(NameStr(evt->evtevent), "ddl_command_start") == 0 &&
		pm_is_our_function(evt->evtfoid, pm_prompts_note_ddl);
	if (ok)
	{
		bool		isnull;
		Datum		tags = SysCacheGetAttr(EVENTTRIGGERNAME, tuple,
										   Anum_pg_event_trigger_evttags, &isnull);

		if (!isnull)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			n;
			int			i;
			int			j;

			deconstruct_array(DatumGetArrayTypeP(tags), TEXTOID, -1, false,
							  TYPALIGN_INT, &elems, &nulls, &n);
			for (i = 0; ok && i < lengthof(pm_noted_ddl); i++)
			{
				bool		found = false;

				for (j = 0; !found && j < n; j++)
					found = !nulls[j] &&
						pg_strcasecmp(TextDatumGetCString(elems[j]), pm_noted_ddl[i]) == 0;
				ok = found;
			}
		}
	}
	ReleaseSysCache(tuple);
	return ok;
}

/*
 * Will every change of rel's rows be noted (PmTableInfo.notes_writes)?
 * A row trigger BEFORE INSERT, UPDATE and DELETE and a statement trigger
 * BEFORE TRUNCATE, both calling pm_prompts_note_write with no column list
 * and no WHEN condition, enabled ALWAYS; and the DDL note.
 */
static bool
pm_table_notes_writes(Relation rel)
{
	TriggerDesc *desc = rel->trigdesc;
	bool		row = false;
	bool		truncate = false;
	int			i;

	if (desc == NULL)
		return false;
	for (i = 0; i < desc->numtriggers; i++)
	{
		Trigger    *t = &desc->triggers[i];
		int16		type = t->tgtype;

		if (t->tgenabled != TRIGGER_FIRES_ALWAYS || t->tgnattr != 0 ||
			t->tgqual != NULL || !TRIGGER_FOR_BEFORE(type))
			continue;
		if (TRIGGER_FOR_ROW(type) && TRIGGER_FOR_INSERT(type) &&
			TRIGGER_FOR_UPDATE(type) && TRIGGER_FOR_DELETE(type) && !row)
			row = pm_is_our_function(t->tgfoid, pm_prompts_note_write);
		else if (!TRIGGER_FOR_ROW(type) && TRIGGER_FOR_TRUNCATE(type) && !truncate)
			truncate = pm_is_our_function(t->tgfoid, pm_prompts_note_write);
	}
	return row && truncate && pm_ddl_note_ok();
}

/* The error for a column rendering reads as another type. */
static void
pm_column_type_error(const char *column, Oid actual, Oid expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_PM_TABLE_COLUMN_TYPE),
			 errmsg("column \"%s\" of table \"%s\" has type %s, not %s",
					column, PM_TABLE_NAME, format_type_be(actual),
					format_type_be(expected)),
			 errhint("Rendering reads column \"%s\" as %s. Change it back with ALTER TABLE %s ALTER COLUMN %s TYPE %s.",
					 column, format_type_be(expected), PM_TABLE_NAME, column,
					 format_type_be(expected))));
}

/*
 * The attnum of column name of rel, which must have type type (any type
 * when type is InvalidOid); an error when it is missing or of another type.
 */
static AttrNumber
pm_table_column(Relation rel, const char *name, Oid type)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), name) != 0)
			continue;
		if (OidIsValid(type) && att->atttypid != type)
			pm_column_type_error(name, att->atttypid, type);
		return att->attnum;
	}
	ereport(ERROR,
			(errcode(ERRCODE_PM_TABLE_NO_COLUMN),
			 errmsg("table \"%s\" of extension \"prompt_manager\" has no column \"%s\"",
					PM_TABLE_NAME, name),
			 errhint("Rendering reads the columns prompt_id, content, parameters and revision of %s.",
					 PM_TABLE_NAME)));
	return InvalidAttrNumber;	/* keep the compiler quiet */
}

/*
 * Is index, locked, a btree on the column prompt_id alone, compared with
 * text equality (what pm_storage_read_direct scans it with)?
 */
static bool
pm_index_is_prompt_id_key(Relation index, AttrNumber prompt_id_attnum)
{
	Oid			eq;

	if (index->rd_rel->relam != BTREE_AM_OID ||
		IndexRelationGetNumberOfKeyAttributes(index) != 1 ||
		index->rd_index->indkey.values[0] != prompt_id_attnum ||
		index->rd_opcintype[0] != TEXTOID)
		return false;
	eq = get_opfamily_member(index->rd_opfamily[0], TEXTOID, TEXTOID,
							 BTEqualStrategyNumber);
	return OidIsValid(eq) && get_opcode(eq) == F_TEXTEQ;
}

/*
 * The primary key index of rel, locked in AccessShareLock; an error unless
 * it is a btree on prompt_id alone with text equality.
 */
static Oid
pm_table_pkey(Relation rel, AttrNumber prompt_id_attnum)
{
	Oid			pkey;
	Relation	index;
	bool		usable;

	for (;;)
	{
		pkey = pm_relation_primary_key(rel);
		if (!OidIsValid(pkey))
			break;
		/* taking the lock may take in a swap by REINDEX CONCURRENTLY */
		LockRelationOid(pkey, AccessShareLock);
		if (pm_relation_primary_key(rel) == pkey)
			break;
		UnlockRelationOid(pkey, AccessShareLock);
	}
	usable = false;
	if (OidIsValid(pkey))
	{
		index = index_open(pkey, NoLock);
		usable = pm_index_is_prompt_id_key(index, prompt_id_attnum);
		index_close(index, NoLock);
	}
	if (!usable)
		ereport(ERROR,
				(errcode(ERRCODE_PM_TABLE_NO_PKEY),
				 errmsg("table \"%s\" of extension \"prompt_manager\" has no primary key on prompt_id",
						PM_TABLE_NAME),
				 errdetail("Rendering finds prompts through a primary key that is a btree index on prompt_id alone, compared as text."),
				 errhint("Give the table that primary key again with ALTER TABLE %s ADD PRIMARY KEY (prompt_id), after dropping any other.",
						 PM_TABLE_NAME)));
	return pkey;
}

/*
 * Find pm_prompts and its shape: the columns rendering reads, each of the
 * type it needs, and the primary key.  The table and the index are locked
 * in AccessShareLock (until the end of the transaction, as a query would)
 * before anything about them is read, so that what is read is current:
 * taking a lock takes in the invalidations of what committed before.
 */
static void
pm_locate_table(void)
{
	Oid			ext_oid;
	Oid			nsp;
	Oid			relid;
	Relation	rel;
	PmTableInfo info;
	struct
	{
		Oid			relid;
		Oid			relfilenode;
		AttrNumber	attnums[3];
		int16		pad;
	}			shape;

	pm_table_checked = false;
	pm_table.relid = InvalidOid;
	pm_table.pkey_index = InvalidOid;

	ext_oid = get_extension_oid("prompt_manager", true);
	if (!OidIsValid(ext_oid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"prompt_manager\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION prompt_manager.")));
	nsp = pm_extension_schema(ext_oid);
	for (;;)
	{
		relid = get_relname_relid(PM_TABLE_NAME, nsp);
		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table \"%s\" of extension \"prompt_manager\" does not exist",
							PM_TABLE_NAME)));
		LockRelationOid(relid, AccessShareLock);
		if (get_relname_relid(PM_TABLE_NAME, nsp) == relid)
			break;
		UnlockRelationOid(relid, AccessShareLock);	/* dropped meanwhile */
	}

	rel = relation_open(relid, NoLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_PM_TABLE_NOT_TABLE),
				 errmsg("\"%s\" of extension \"prompt_manager\" is not a table",
						PM_TABLE_NAME)));
	memset(&info, 0, sizeof(info));
	info.relid = relid;
	info.namespace = nsp;
	info.revision_attnum = pm_table_column(rel, "revision", INT8OID);
	info.content_attnum = pm_table_column(rel, "content", TEXTOID);
	info.parameters_attnum = pm_table_column(rel, "parameters", JSONBOID);
	info.pkey_index = pm_table_pkey(rel, pm_table_column(rel, "prompt_id", InvalidOid));

	memset(&shape, 0, sizeof(shape));
	shape.relid = relid;
	shape.relfilenode = rel->rd_rel->relfilenode;
	shape.attnums[0] = info.revision_attnum;
	shape.attnums[1] = info.content_attnum;
	shape.attnums[2] = info.parameters_attnum;
	info.shape = XXH3_64bits(&shape, sizeof(shape));
	info.notes_writes = pm_table_notes_writes(rel);
	relation_close(rel, NoLock);

	pm_table = info;
	pm_table_checked = true;
}

const PmTableInfo *
pm_storage_table(void)
{
	if (!pm_callback_registered)
	{
		CacheRegisterRelcacheCallback(pm_table_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(PROCOID, pm_table_syscache_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(EVENTTRIGGEROID, pm_table_syscache_invalidate, (Datum) 0);
		pm_callback_registered = true;
	}
	if (!pm_table_checked)
		pm_locate_table();
	return &pm_table;
}

/*
 * pm_storage_table(), with pm_prompts locked in AccessShareLock until the
 * end of the transaction, as a query reading it would be: so that a render
 * waits for an uncommitted TRUNCATE, ALTER TABLE or DROP EXTENSION as a
 * query would, and takes in the invalidations of what committed before.
 * Once per transaction (and again after a rolled-back subtransaction,
 * which releases the locks it took): subxact_aborts is the caller's count.
 */
const PmTableInfo *
pm_storage_lock_table(uint64 subxact_aborts)
{
	static LocalTransactionId locked_lxid = InvalidLocalTransactionId;
	static uint64 locked_aborts = 0;
	static Oid	locked_relid = InvalidOid;
	const PmTableInfo *table;

	table = pm_storage_table();
	if (locked_lxid == PM_MY_LXID && locked_aborts == subxact_aborts &&
		locked_relid == table->relid)
		return table;
	for (;;)
	{
		Oid			relid = table->relid;

		LockRelationOid(relid, AccessShareLock);
		table = pm_storage_table();
		if (table->relid == relid)
			break;
		UnlockRelationOid(relid, AccessShareLock);	/* re-created meanwhile */
	}
	locked_lxid = PM_MY_LXID;
	locked_aborts = subxact_aborts;
	locked_relid = table->relid;
	return table;
}

/* The error for a row whose content or parameters is NULL. */
static void
pm_null_column_error(const char *prompt_id, const char *column)
{
	ereport(ERROR,
			(errcode(ERRCODE_PM_NULL_COLUMN),
			 strcmp(column, "content") == 0 ?
			 errmsg("prompt \"%s\" has no content", prompt_id) :
			 errmsg("prompt \"%s\" has NULL parameters", prompt_id),
			 errdetail("Its row in %s holds NULL in column \"%s\".",
					   PM_TABLE_NAME, column),
			 errhint("Store a value in it (parameters '{}' for no defaults), and restore the constraint with ALTER TABLE %s ALTER COLUMN %s SET NOT NULL.",
					 PM_TABLE_NAME, column)));
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

/* Are the columns of the lookup's result of the types it reads them as? */
static void
pm_check_fetch_result(TupleDesc desc)
{
	static const char *const names[] = {"revision", "content", "parameters", "xmin"};
	static const Oid types[] = {INT8OID, TEXTOID, JSONBOID, XIDOID};
	int			i;

	if (desc->natts != lengthof(types))
		elog(ERROR, "lookup in %s returned %d columns, not %d",
			 PM_TABLE_NAME, desc->natts, (int) lengthof(types));
	for (i = 0; i < lengthof(types); i++)
		if (TupleDescAttr(desc, i)->atttypid != types[i])
			pm_column_type_error(names[i], TupleDescAttr(desc, i)->atttypid,
								 types[i]);
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

	/*
	 * The plan cache plans the query again after the table changed, and its
	 * columns may then have other types: read nothing but what was asked
	 * for.  The shape is taken after the run, which took in the changes.
	 */
	pm_check_fetch_result(SPI_tuptable->tupdesc);
	if (SPI_processed > 0)
	{
		HeapTuple	tuple = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		PmStoredRow row;
		bool		isnull;
		MemoryContext spi_cxt;

		row.shape = pm_storage_table()->shape;
		row.revision = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		if (isnull)
			row.revision = 0;
		row.revision = pm_row_version(row.revision,
									  DatumGetTransactionId(SPI_getbinval(tuple, desc, 4, &isnull)));
		row.content = SPI_getbinval(tuple, desc, 2, &isnull);
		if (isnull)
			pm_null_column_error(prompt_id, "content");
		row.parameters = SPI_getbinval(tuple, desc, 3, &isnull);
		if (isnull)
			pm_null_column_error(prompt_id, "parameters");

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
	 * Lock the table and its primary key first: taking the locks processes
	 * invalidations, so they are then sure to be the current pm_prompts and
	 * its current primary key, with the current attnums (another session
	 * may have re-created the extension, run REINDEX CONCURRENTLY or ALTER
	 * TABLE since our last look).
	 */
	for (;;)
	{
		Oid			relid;
		Oid			pkey;

		table = pm_storage_table();
		relid = table->relid;
		pkey = table->pkey_index;
		LockRelationOid(relid, AccessShareLock);
		LockRelationOid(pkey, AccessShareLock);
		table = pm_storage_table();
		if (table->relid == relid && table->pkey_index == pkey)
			break;
		UnlockRelationOid(pkey, AccessShareLock);
		UnlockRelationOid(relid, AccessShareLock);
	}
	heap = table_open(table->relid, NoLock);
	index = index_open(table->pkey_index, NoLock);
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

		row.shape = table->shape;
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
			if (isnull)
				pm_null_column_error(prompt_id, "content");
			row.parameters = slot_getattr(slot, table->parameters_attnum, &isnull);
			if (isnull)
				pm_null_column_error(prompt_id, "parameters");
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
