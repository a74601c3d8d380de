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

/* A visible row, valid only during the callback it is passed to. */
typedef struct PmStoredRow
{
	Oid			relid;			/* pm_prompts, which may be re-created */
	int64		revision;
	Datum		content;		/* text, possibly toasted */
	Datum		parameters;		/* jsonb, possibly toasted */
} PmStoredRow;

typedef void (*PmStoredRowCallback) (const PmStoredRow *row, void *arg);

/*
 * Look up prompt_id; when the caller can see it, call callback with the row
 * (in CurrentMemoryContext of the caller) and return true.
 */
extern bool pm_storage_fetch(const char *prompt_id,
							 PmStoredRowCallback callback, void *arg);

#endif							/* PM_STORAGE_H */
