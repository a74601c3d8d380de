/*-------------------------------------------------------------------------
 *
 * pm_storage.h
 *		Reading prompts from the pm_prompts table.
 *
 * The table is found through the schema prompt_manager is installed in,
 * never through search_path.  Rows are read with SPI under the caller's
 * snapshot, privileges and row-level security policies: a prompt the
 * caller may not read is reported exactly like a prompt that does not
 * exist.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_STORAGE_H
#define PM_STORAGE_H

#include "access/attnum.h"

/* The tables rendering reads. */
typedef enum PmTableId
{
	PM_TABLE_PROMPTS = 0,		/* the heads */
	PM_TABLE_VERSIONS = 1,		/* pm_prompt_versions */
	PM_TABLE_LABELS = 2,		/* pm_labels */
	PM_NUM_TABLES
} PmTableId;

/*
 * Where a table is and what shape it has, looked up again after any
 * relcache invalidation of the table or its primary key (see pm_storage.c).
 */
typedef struct PmTableInfo
{
	Oid			relid;			/* changes when the extension is re-created */
	Oid			namespace;
	Oid			pkey_index;		/* changes with REINDEX CONCURRENTLY */
	AttrNumber	revision_attnum;	/* bigint (pm_prompts, pm_prompt_versions) */
	AttrNumber	content_attnum; /* text (the same two) */
	AttrNumber	parameters_attnum;	/* jsonb (the same two) */
	AttrNumber	version_attnum; /* integer (pm_labels) */

	/*
	 * Hash of the table's OID, its relfilenode and the attnums above: the
	 * same in every backend for the same table, and different after a
	 * rewrite or after a column the renderer reads is replaced (drop and
	 * rename, two columns swapped), which change what a row version's
	 * bytes say.  The caches compare it along with the row versions.
	 */
	uint64		shape;

	/*
	 * The note triggers of pm_writes.c are there and will fire: the row
	 * and TRUNCATE triggers on the table and the DDL event trigger, each
	 * calling its C function, on every event it must, enabled ALWAYS.
	 * Only then may a snapshot reuse what another learned (pm_writes.c).
	 * For pm_prompts it is true only when pm_prompt_versions and pm_labels
	 * are noted as well (renders read them too): companions are their
	 * OIDs, so that an invalidation of either drops what is known of
	 * pm_prompts too.
	 */
	bool		notes_writes;
	Oid			companions[2];
} PmTableInfo;

/* A visible row, valid only during the callback it is passed to. */
typedef struct PmStoredRow
{
	uint64		shape;			/* PmTableInfo.shape of the table read */
	int64		revision;		/* pm_row_version() of the row */
	Datum		content;		/* text, possibly toasted */
	Datum		parameters;		/* jsonb, possibly toasted */
} PmStoredRow;

typedef void (*PmStoredRowCallback) (const PmStoredRow *row, void *arg);

/*
 * Moves whenever what is known of pm_prompts is dropped (a relcache
 * invalidation of the table or its primary key, a change of pg_proc or
 * pg_event_trigger): part of the identity of what pm_visibility.c learned.
 */
extern uint64 pm_storage_generation(void);

/*
 * The table as of now; an error when the extension or its table is gone,
 * or when the table no longer has the shape rendering needs (a column
 * missing or of another type, no primary key on prompt_id).
 */
extern const PmTableInfo *pm_storage_table(void);

/*
 * The same for any of the tables (pm_storage_table() is pm_prompts).
 * pm_prompt_versions and pm_labels are looked up only when a render needs
 * them: with the extension still at 0.1.0 they are missing, an error that
 * says to update it.
 */
extern const PmTableInfo *pm_storage_table_of(PmTableId t);

/*
 * What the caches compare for a version (pm_storage.c): never the value of
 * a head nor of another version.  A version row read by the functions
 * below has this as its PmStoredRow.revision.
 */
extern int64 pm_version_value(int64 rowversion, int32 version, uint64 shape);

/*
 * Version `version` of prompt_id[0..id_len): its row passed to callback as
 * pm_storage_fetch does.  unchecked: read straight from the primary key
 * (see pm_storage_probe_revision), else through SPI as the current user.
 */
extern bool pm_storage_fetch_version(const char *prompt_id, size_t id_len,
									 int32 version, bool unchecked,
									 PmStoredRowCallback callback, void *arg);

/* Its value (pm_version_value) only, read straight from the primary key. */
extern bool pm_storage_probe_version(const char *prompt_id, size_t id_len,
									 int32 version, int64 *revision);

/*
 * The version label points to for prompt_id, from pm_labels (false: no
 * such label visible).  unchecked as above.
 */
extern bool pm_storage_label_version(const char *prompt_id, size_t id_len,
									 const char *label, size_t label_len,
									 bool unchecked, int32 *version);

/*
 * pm_storage_table(), with pm_prompts locked in AccessShareLock as a query
 * would (see pm_storage.c); subxact_aborts counts the rolled-back
 * subtransactions of this backend.
 */
extern const PmTableInfo *pm_storage_lock_table(uint64 subxact_aborts);

/*
 * The revision of prompt_id visible to the active snapshot, read straight
 * from the primary key.  This checks no privilege and applies no row-level
 * security: only for callers that made sure neither matters
 * (pm_visibility_unrestricted).
 */
extern bool pm_storage_probe_revision(const char *prompt_id, int64 *revision);

/*
 * The version of a row: its revision combined with the transaction that
 * wrote it (see pm_storage.c).  What the caches compare; called the
 * "revision" of a prompt throughout the code.
 */
extern int64 pm_row_version(int64 revision, TransactionId xmin);

/*
 * Look up prompt_id; when the caller can see it, call callback with the row
 * (in CurrentMemoryContext of the caller) and return true.  A NULL content
 * or parameters (NOT NULL dropped from the table) is an error.
 */
extern bool pm_storage_fetch(const char *prompt_id,
							 PmStoredRowCallback callback, void *arg);

/* The same, read straight from the primary key: see pm_storage_probe_revision. */
extern bool pm_storage_fetch_unchecked(const char *prompt_id,
									   PmStoredRowCallback callback, void *arg);

/*
 * Run a statement with RETURNING on pm_prompts as the current user (%1$s
 * in query_format is the schema-qualified table, as many times as it is
 * needed): leaves its rows in
 * SPI_tuptable, and returns SPI's result code; the caller reads the rows,
 * then calls SPI_finish().
 */
extern int	pm_storage_execute_returning(const char *query_format, int nargs,
										 Oid *argtypes, Datum *values);

/*
 * Run a SELECT on pm_prompts as the current user (%s in query_format is
 * the table) and leave its rows in SPI_tuptable: the caller reads them,
 * then calls SPI_finish().
 */
extern void pm_storage_query(const char *query_format);

#endif							/* PM_STORAGE_H */
