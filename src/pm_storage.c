/*-------------------------------------------------------------------------
 *
 * pm_storage.c
 *		Reading prompts from the pm_prompts table, and their versions and
 *		labels from pm_prompt_versions and pm_labels.
 *
 * Every table is read the same way (a version by its primary key
 * (prompt_id, version), a label by (prompt_id, label)); what follows says
 * it of pm_prompts.  Two ways to read a row, both under the caller's active snapshot (as a
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

/*
 * The tables rendering reads: pm_prompts (the heads), and from 0.2.0 on
 * pm_prompt_versions and pm_labels.  Each is described by its primary key
 * (the columns and types of a lookup) and the columns a lookup reads.
 */
typedef struct PmTableDef
{
	const char *name;
	int			nkeys;
	const char *key_names[2];
	Oid			key_types[2];
	Oid			key_eqproc[2];
	bool		has_text;		/* revision, content, parameters */
	const char *columns_text;	/* for the hint of a missing column */
	const char *key_text;		/* "prompt_id" or "prompt_id, version" */
} PmTableDef;

static const PmTableDef pm_table_defs[PM_NUM_TABLES] = {
	{PM_TABLE_NAME, 1, {"prompt_id", NULL}, {TEXTOID, InvalidOid},
	{F_TEXTEQ, InvalidOid}, true,
	"prompt_id, content, parameters and revision", "prompt_id"},
	{"pm_prompt_versions", 2, {"prompt_id", "version"}, {TEXTOID, INT4OID},
	{F_TEXTEQ, F_INT4EQ}, true,
	"prompt_id, version, content, parameters and revision", "prompt_id, version"},
	{"pm_labels", 2, {"prompt_id", "label"}, {TEXTOID, TEXTOID},
	{F_TEXTEQ, F_TEXTEQ}, false,
	"prompt_id, label and version", "prompt_id, label"},
};

/* Where each table is, and the lookup prepared for it. */
static PmTableInfo pm_tables[PM_NUM_TABLES];
static SPIPlanPtr pm_fetch_plans[PM_NUM_TABLES];
static Oid	pm_fetch_plan_relids[PM_NUM_TABLES];

#define pm_table (pm_tables[PM_TABLE_PROMPTS])

/*
 * A table's info stays valid until a relcache invalidation names the
 * table, its primary key index, or every relation (InvalidOid: a reset of
 * the invalidation queue).  Then its whole shape is looked up again, the
 * way PostgreSQL's own caches follow the relcache.
 */
static bool pm_tables_checked[PM_NUM_TABLES];
static bool pm_callback_registered = false;
static uint64 pm_table_generation = 0;

static void
pm_table_invalidate(Datum arg, Oid relid)
{
	int			t;

	for (t = 0; t < PM_NUM_TABLES; t++)
	{
		if (relid == InvalidOid || relid == pm_tables[t].relid ||
			relid == pm_tables[t].pkey_index ||
			relid == pm_tables[t].companions[0] ||
			relid == pm_tables[t].companions[1])
		{
			pm_tables_checked[t] = false;
			pm_table_generation++;
		}
	}
}

/*
 * Any change of pg_proc (a note trigger's function replaced) or of
 * pg_event_trigger (the DDL note disabled): look the triggers up again.
 */
static void
pm_table_syscache_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	int			t;

	for (t = 0; t < PM_NUM_TABLES; t++)
		pm_tables_checked[t] = false;
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

/*
 * Are pm_prompt_versions and pm_labels, which renders read too, noted as
 * well (pm_table_notes_writes)?  Their OIDs go to companions, so that an
 * invalidation of either drops what is known of pm_prompts (a DISABLE
 * TRIGGER on pm_labels must end the proofs as one on pm_prompts does).
 * False when either is missing (a database still at 0.1.0 has neither, nor
 * the note triggers of pm_prompts).
 */
static bool
pm_companions_noted(Oid nsp, Oid companions[2])
{
	static const char *const names[2] = {"pm_prompt_versions", "pm_labels"};
	bool		noted = true;
	int			i;

	for (i = 0; i < 2; i++)
	{
		Oid			relid = get_relname_relid(names[i], nsp);
		Relation	rel;

		companions[i] = relid;
		if (!OidIsValid(relid))
		{
			noted = false;
			continue;
		}
		/* locked as a query would, so that its triggers are current */
		LockRelationOid(relid, AccessShareLock);
		rel = try_relation_open(relid, NoLock);
		if (rel == NULL)
		{
			noted = false;
			continue;
		}
		if (rel->rd_rel->relkind != RELKIND_RELATION || !pm_table_notes_writes(rel))
			noted = false;
		relation_close(rel, NoLock);
	}
	return noted;
}

/* The error for a column rendering reads as another type. */
static void
pm_column_type_error(const char *table, const char *column, Oid actual, Oid expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_PM_TABLE_COLUMN_TYPE),
			 errmsg("column \"%s\" of table \"%s\" has type %s, not %s",
					column, table, format_type_be(actual),
					format_type_be(expected)),
			 errhint("Rendering reads column \"%s\" as %s. Change it back with ALTER TABLE %s ALTER COLUMN %s TYPE %s.",
					 column, format_type_be(expected), table, column,
					 format_type_be(expected))));
}

/*
 * The attnum of column name of rel (table def), which must have type type
 * (any type when type is InvalidOid); an error when it is missing or of
 * another type.
 */
static AttrNumber
pm_table_column(const PmTableDef *def, Relation rel, const char *name, Oid type)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), name) != 0)
			continue;
		if (OidIsValid(type) && att->atttypid != type)
			pm_column_type_error(def->name, name, att->atttypid, type);
		return att->attnum;
	}
	ereport(ERROR,
			(errcode(ERRCODE_PM_TABLE_NO_COLUMN),
			 errmsg("table \"%s\" of extension \"prompt_manager\" has no column \"%s\"",
					def->name, name),
			 errhint("Rendering reads the columns %s of %s.",
					 def->columns_text, def->name)));
	return InvalidAttrNumber;	/* keep the compiler quiet */
}

/*
 * Is index, locked, a btree on the key columns of def (attnums) and
 * nothing else, each compared with the equality a lookup scans it with?
 */
static bool
pm_index_is_key(const PmTableDef *def, Relation index, const AttrNumber *attnums)
{
	int			k;

	if (index->rd_rel->relam != BTREE_AM_OID ||
		IndexRelationGetNumberOfKeyAttributes(index) != def->nkeys)
		return false;
	for (k = 0; k < def->nkeys; k++)
	{
		Oid			eq;

		if (index->rd_index->indkey.values[k] != attnums[k] ||
			index->rd_opcintype[k] != def->key_types[k])
			return false;
		eq = get_opfamily_member(index->rd_opfamily[k], def->key_types[k],
								 def->key_types[k], BTEqualStrategyNumber);
		if (!OidIsValid(eq) || get_opcode(eq) != def->key_eqproc[k])
			return false;
	}
	return true;
}

/*
 * The primary key index of rel, locked in AccessShareLock; an error unless
 * it is a btree on the key columns of def, with their equality.
 */
static Oid
pm_table_pkey(const PmTableDef *def, Relation rel, const AttrNumber *attnums)
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
		usable = pm_index_is_key(def, index, attnums);
		index_close(index, NoLock);
	}
	if (!usable)
		ereport(ERROR,
				(errcode(ERRCODE_PM_TABLE_NO_PKEY),
				 errmsg("table \"%s\" of extension \"prompt_manager\" has no primary key on %s",
						def->name, def->key_text),
				 def->nkeys == 1 ?
				 errdetail("Rendering finds prompts through a primary key that is a btree index on prompt_id alone, compared as text.") :
				 errdetail("Rendering reads the table through a primary key that is a btree index on (%s).",
						   def->key_text),
				 errhint("Give the table that primary key again with ALTER TABLE %s ADD PRIMARY KEY (%s), after dropping any other.",
						 def->name, def->key_text)));
	return pkey;
}

/*
 * Find table t and its shape: the columns rendering reads, each of the
 * type it needs, and the primary key.  The table and the index are locked
 * in AccessShareLock (until the end of the transaction, as a query would)
 * before anything about them is read, so that what is read is current:
 * taking a lock takes in the invalidations of what committed before.
 */
static void
pm_locate_table(PmTableId t)
{
	const PmTableDef *def = &pm_table_defs[t];
	Oid			ext_oid;
	Oid			nsp;
	Oid			relid;
	Relation	rel;
	PmTableInfo info;
	AttrNumber	keys[2];
	int			k;
	struct
	{
		Oid			relid;
		Oid			relfilenode;
		AttrNumber	attnums[4];
	}			shape;

	pm_tables_checked[t] = false;
	pm_tables[t].relid = InvalidOid;
	pm_tables[t].pkey_index = InvalidOid;

	ext_oid = get_extension_oid("prompt_manager", true);
	if (!OidIsValid(ext_oid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"prompt_manager\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION prompt_manager.")));
	nsp = pm_extension_schema(ext_oid);
	for (;;)
	{
		relid = get_relname_relid(def->name, nsp);
		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table \"%s\" of extension \"prompt_manager\" does not exist",
							def->name),
					 t != PM_TABLE_PROMPTS ?
					 errhint("Versions and labels need prompt_manager 0.2.0: run ALTER EXTENSION prompt_manager UPDATE.") : 0));
		LockRelationOid(relid, AccessShareLock);
		if (get_relname_relid(def->name, nsp) == relid)
			break;
		UnlockRelationOid(relid, AccessShareLock);	/* dropped meanwhile */
	}

	rel = relation_open(relid, NoLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_PM_TABLE_NOT_TABLE),
				 errmsg("\"%s\" of extension \"prompt_manager\" is not a table",
						def->name)));
	memset(&info, 0, sizeof(info));
	info.relid = relid;
	info.namespace = nsp;
	if (def->has_text)
	{
		info.revision_attnum = pm_table_column(def, rel, "revision", INT8OID);
		info.content_attnum = pm_table_column(def, rel, "content", TEXTOID);
		info.parameters_attnum = pm_table_column(def, rel, "parameters", JSONBOID);
	}
	else
		info.version_attnum = pm_table_column(def, rel, "version", INT4OID);
	for (k = 0; k < def->nkeys; k++)
		keys[k] = pm_table_column(def, rel, def->key_names[k],
								  k == 0 ? InvalidOid : def->key_types[k]);
	info.pkey_index = pm_table_pkey(def, rel, keys);

	memset(&shape, 0, sizeof(shape));
	shape.relid = relid;
	shape.relfilenode = rel->rd_rel->relfilenode;
	if (t == PM_TABLE_PROMPTS)
	{
		/* as before 0.2.0: the same shape, the same cache keys */
		struct
		{
			Oid			relid;
			Oid			relfilenode;
			AttrNumber	attnums[3];
			int16		pad;
		}			old_shape;

		memset(&old_shape, 0, sizeof(old_shape));
		old_shape.relid = relid;
		old_shape.relfilenode = rel->rd_rel->relfilenode;
		old_shape.attnums[0] = info.revision_attnum;
		old_shape.attnums[1] = info.content_attnum;
		old_shape.attnums[2] = info.parameters_attnum;
		info.shape = XXH3_64bits(&old_shape, sizeof(old_shape));
	}
	else
	{
		shape.attnums[0] = info.revision_attnum;
		shape.attnums[1] = info.content_attnum;
		shape.attnums[2] = info.parameters_attnum;
		shape.attnums[3] = def->has_text ? keys[1] : info.version_attnum;
		info.shape = XXH3_64bits(&shape, sizeof(shape));
	}
	if (t == PM_TABLE_PROMPTS)
		info.notes_writes = pm_table_notes_writes(rel) &&
			pm_companions_noted(nsp, info.companions);
	else
		info.notes_writes = pm_table_notes_writes(rel);
	relation_close(rel, NoLock);

	pm_tables[t] = info;
	pm_tables_checked[t] = true;
}

const PmTableInfo *
pm_storage_table_of(PmTableId t)
{
	if (!pm_callback_registered)
	{
		CacheRegisterRelcacheCallback(pm_table_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(PROCOID, pm_table_syscache_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(EVENTTRIGGEROID, pm_table_syscache_invalidate, (Datum) 0);
		pm_callback_registered = true;
	}
	if (!pm_tables_checked[t])
		pm_locate_table(t);
	return &pm_tables[t];
}

const PmTableInfo *
pm_storage_table(void)
{
	return pm_storage_table_of(PM_TABLE_PROMPTS);
}

/*
 * The value the caches compare for version `version` of a prompt, whose
 * row has version rowversion (pm_row_version) in a pm_prompt_versions of
 * shape shape.  The version number is part of it, and the shape, so that
 * it never equals a head's value nor another version's.
 */
int64
pm_version_value(int64 rowversion, int32 version, uint64 shape)
{
	struct
	{
		int64		rowversion;
		uint64		shape;
		int32		version;
		uint32		tag;
	}			v;

	v.rowversion = rowversion;
	v.shape = shape;
	v.version = version;
	v.tag = 0x76657273;			/* "vers" */
	return (int64) XXH3_64bits(&v, sizeof(v));
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

/* The error for a row of table whose content or parameters is NULL. */
static void
pm_null_column_error(const char *table, const char *name, const char *column)
{
	ereport(ERROR,
			(errcode(ERRCODE_PM_NULL_COLUMN),
			 strcmp(column, "content") == 0 ?
			 errmsg("prompt \"%s\" has no content", name) :
			 errmsg("prompt \"%s\" has NULL parameters", name),
			 errdetail("Its row in %s holds NULL in column \"%s\".",
					   table, column),
			 errhint("Store a value in it (parameters '{}' for no defaults), and restore the constraint with ALTER TABLE %s ALTER COLUMN %s SET NOT NULL.",
					 table, column)));
}

/* Prepare the lookup for table t; inside an SPI connection. */
static void
pm_prepare_fetch(PmTableId t)
{
	const PmTableDef *def = &pm_table_defs[t];
	const PmTableInfo *info = &pm_tables[t];
	StringInfoData query;
	Oid			argtypes[2];
	SPIPlanPtr	plan;
	char	   *nsp_name = get_namespace_name(info->namespace);
	int			k;

	if (nsp_name == NULL)
		elog(ERROR, "cache lookup failed for namespace %u", info->namespace);
	initStringInfo(&query);
	appendStringInfo(&query, "SELECT %s FROM %s.%s WHERE ",
					 def->has_text ? "revision, content, parameters, xmin" : "version",
					 quote_identifier(nsp_name), def->name);
	for (k = 0; k < def->nkeys; k++)
	{
		argtypes[k] = def->key_types[k];
		appendStringInfo(&query, "%s%s OPERATOR(pg_catalog.=) $%d",
						 k > 0 ? " AND " : "", def->key_names[k], k + 1);
	}
	plan = SPI_prepare(query.data, def->nkeys, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 query.data, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");

	if (pm_fetch_plans[t] != NULL)
		SPI_freeplan(pm_fetch_plans[t]);
	pm_fetch_plans[t] = plan;
	pm_fetch_plan_relids[t] = info->relid;
}

/* Are the columns of the lookup's result of the types it reads them as? */
static void
pm_check_fetch_result(PmTableId t, TupleDesc desc)
{
	static const char *const names[] = {"revision", "content", "parameters", "xmin"};
	static const Oid types[] = {INT8OID, TEXTOID, JSONBOID, XIDOID};
	const PmTableDef *def = &pm_table_defs[t];
	int			n = def->has_text ? lengthof(types) : 1;
	int			i;

	if (desc->natts != n)
		elog(ERROR, "lookup in %s returned %d columns, not %d",
			 def->name, desc->natts, n);
	if (!def->has_text)
	{
		if (TupleDescAttr(desc, 0)->atttypid != INT4OID)
			pm_column_type_error(def->name, "version",
								 TupleDescAttr(desc, 0)->atttypid, INT4OID);
		return;
	}
	for (i = 0; i < lengthof(types); i++)
		if (TupleDescAttr(desc, i)->atttypid != types[i])
			pm_column_type_error(def->name, names[i], TupleDescAttr(desc, i)->atttypid,
								 types[i]);
}

/*
 * The lookup of table t by keys, through SPI as the current user: for
 * pm_prompts and pm_prompt_versions, callback is called with the row (in
 * the caller's memory context); for pm_labels, *version is set.  name is
 * what the messages call the row.  Returns whether a row was visible.
 */
static bool
pm_fetch_spi(PmTableId t, Datum *keys, const char *name, int32 version,
			 PmStoredRowCallback callback, void *arg, int32 *label_version)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	int			ret;
	bool		found = false;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	pm_storage_table_of(t);
	if (pm_fetch_plans[t] == NULL || pm_fetch_plan_relids[t] != pm_tables[t].relid)
		pm_prepare_fetch(t);

	ret = SPI_execute_plan(pm_fetch_plans[t], keys, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));

	/*
	 * The plan cache plans the query again after the table changed, and its
	 * columns may then have other types: read nothing but what was asked
	 * for.  The shape is taken after the run, which took in the changes.
	 */
	pm_check_fetch_result(t, SPI_tuptable->tupdesc);
	if (SPI_processed > 0 && !pm_table_defs[t].has_text)
	{
		bool		isnull;
		Datum		v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_PM_NULL_COLUMN),
					 errmsg("label row of \"%s\" holds NULL in column \"version\"", name)));
		*label_version = DatumGetInt32(v);
		found = true;
	}
	else if (SPI_processed > 0)
	{
		HeapTuple	tuple = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		PmStoredRow row;
		bool		isnull;
		MemoryContext spi_cxt;

		row.shape = pm_storage_table_of(t)->shape;
		row.revision = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		if (isnull)
			row.revision = 0;
		row.revision = pm_row_version(row.revision,
									  DatumGetTransactionId(SPI_getbinval(tuple, desc, 4, &isnull)));
		if (t == PM_TABLE_VERSIONS)
			row.revision = pm_version_value(row.revision, version, row.shape);
		row.content = SPI_getbinval(tuple, desc, 2, &isnull);
		if (isnull)
			pm_null_column_error(pm_table_defs[t].name, name, "content");
		row.parameters = SPI_getbinval(tuple, desc, 3, &isnull);
		if (isnull)
			pm_null_column_error(pm_table_defs[t].name, name, "parameters");

		/* the callback allocates in the caller's context, not SPI's */
		spi_cxt = MemoryContextSwitchTo(caller_cxt);
		callback(&row, arg);
		MemoryContextSwitchTo(spi_cxt);
		found = true;
	}

	SPI_finish();
	return found;
}

bool
pm_storage_fetch(const char *prompt_id, PmStoredRowCallback callback, void *arg)
{
	Datum		keys[1];

	keys[0] = CStringGetTextDatum(prompt_id);
	return pm_fetch_spi(PM_TABLE_PROMPTS, keys, prompt_id, 0, callback, arg, NULL);
}

/*
 * Read the row of table t with keys straight from the primary key under
 * the active snapshot.  For pm_prompts and pm_prompt_versions, *revision
 * is its value for the caches (for a version, pm_version_value) and
 * callback, when not NULL, is called with it; for pm_labels, *version is
 * the version it points to.  Returns whether the row is there.
 */
static bool
pm_read_direct(PmTableId t, Datum *keyvals, const char *name, int32 version,
			   int64 *revision, PmStoredRowCallback callback, void *arg,
			   int32 *label_version)
{
	const PmTableDef *def = &pm_table_defs[t];
	const PmTableInfo *table;
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	ScanKeyData keys[2];
	TupleTableSlot *slot;
	bool		found = false;
	int			k;

	/*
	 * Lock the table and its primary key first: taking the locks processes
	 * invalidations, so they are then sure to be the current table and its
	 * current primary key, with the current attnums (another session may
	 * have re-created the extension, run REINDEX CONCURRENTLY or ALTER
	 * TABLE since our last look).
	 */
	for (;;)
	{
		Oid			relid;
		Oid			pkey;

		table = pm_storage_table_of(t);
		relid = table->relid;
		pkey = table->pkey_index;
		LockRelationOid(relid, AccessShareLock);
		LockRelationOid(pkey, AccessShareLock);
		table = pm_storage_table_of(t);
		if (table->relid == relid && table->pkey_index == pkey)
			break;
		UnlockRelationOid(pkey, AccessShareLock);
		UnlockRelationOid(relid, AccessShareLock);
	}
	heap = table_open(table->relid, NoLock);
	index = index_open(table->pkey_index, NoLock);
	for (k = 0; k < def->nkeys; k++)
		ScanKeyEntryInitialize(&keys[k], 0, k + 1, BTEqualStrategyNumber, InvalidOid,
							   index->rd_indcollation[k], def->key_eqproc[k],
							   keyvals[k]);
	scan = pm_index_beginscan(heap, index, GetActiveSnapshot(), def->nkeys, 0);
	index_rescan(scan, keys, def->nkeys, NULL, 0);
	slot = table_slot_create(heap, NULL);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;

		if (!def->has_text)
		{
			Datum		v = slot_getattr(slot, table->version_attnum, &isnull);

			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_PM_NULL_COLUMN),
						 errmsg("label row of \"%s\" holds NULL in column \"version\"", name)));
			*label_version = DatumGetInt32(v);
		}
		else
		{
			PmStoredRow row;

			row.shape = table->shape;
			row.revision = DatumGetInt64(slot_getattr(slot, table->revision_attnum, &isnull));
			if (isnull)
				row.revision = 0;
			row.revision = pm_row_version(row.revision,
										  DatumGetTransactionId(slot_getsysattr(slot, MinTransactionIdAttributeNumber,
																				&isnull)));
			if (t == PM_TABLE_VERSIONS)
				row.revision = pm_version_value(row.revision, version, row.shape);
			*revision = row.revision;
			if (callback != NULL)
			{
				row.content = slot_getattr(slot, table->content_attnum, &isnull);
				if (isnull)
					pm_null_column_error(def->name, name, "content");
				row.parameters = slot_getattr(slot, table->parameters_attnum, &isnull);
				if (isnull)
					pm_null_column_error(def->name, name, "parameters");
				callback(&row, arg);
			}
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
	Datum		keys[1];

	keys[0] = PointerGetDatum(cstring_to_text(prompt_id));
	return pm_read_direct(PM_TABLE_PROMPTS, keys, prompt_id, 0, revision,
						  NULL, NULL, NULL);
}

bool
pm_storage_fetch_unchecked(const char *prompt_id,
						   PmStoredRowCallback callback, void *arg)
{
	int64		revision;
	Datum		keys[1];

	keys[0] = PointerGetDatum(cstring_to_text(prompt_id));
	return pm_read_direct(PM_TABLE_PROMPTS, keys, prompt_id, 0, &revision,
						  callback, arg, NULL);
}

/* "id@3", for messages. */
static char *
pm_version_name(const char *prompt_id, size_t id_len, int32 version)
{
	return psprintf("%.*s@%d", (int) id_len, prompt_id, version);
}

bool
pm_storage_fetch_version(const char *prompt_id, size_t id_len, int32 version,
						 bool unchecked, PmStoredRowCallback callback, void *arg)
{
	Datum		keys[2];
	char	   *name = pm_version_name(prompt_id, id_len, version);
	int64		revision;
	bool		found;

	keys[0] = PointerGetDatum(cstring_to_text_with_len(prompt_id, id_len));
	keys[1] = Int32GetDatum(version);
	if (unchecked)
		found = pm_read_direct(PM_TABLE_VERSIONS, keys, name, version, &revision,
							   callback, arg, NULL);
	else
		found = pm_fetch_spi(PM_TABLE_VERSIONS, keys, name, version, callback,
							 arg, NULL);
	pfree(name);
	return found;
}

bool
pm_storage_probe_version(const char *prompt_id, size_t id_len, int32 version,
						 int64 *revision)
{
	Datum		keys[2];
	char	   *name = pm_version_name(prompt_id, id_len, version);
	bool		found;

	keys[0] = PointerGetDatum(cstring_to_text_with_len(prompt_id, id_len));
	keys[1] = Int32GetDatum(version);
	found = pm_read_direct(PM_TABLE_VERSIONS, keys, name, version, revision,
						   NULL, NULL, NULL);
	pfree(name);
	return found;
}

bool
pm_storage_label_version(const char *prompt_id, size_t id_len,
						 const char *label, size_t label_len, bool unchecked,
						 int32 *version)
{
	Datum		keys[2];
	char	   *name = psprintf("%.*s@%.*s", (int) id_len, prompt_id,
								(int) label_len, label);
	bool		found;

	keys[0] = PointerGetDatum(cstring_to_text_with_len(prompt_id, id_len));
	keys[1] = PointerGetDatum(cstring_to_text_with_len(label, label_len));
	if (unchecked)
		found = pm_read_direct(PM_TABLE_LABELS, keys, name, 0, NULL, NULL, NULL,
							   version);
	else
		found = pm_fetch_spi(PM_TABLE_LABELS, keys, name, 0, NULL, NULL, version);
	pfree(name);
	return found;
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
