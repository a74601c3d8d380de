/*-------------------------------------------------------------------------
 *
 * pm_writes.h
 *		The "last writer" mark of each database: which transactions may
 *		have changed pm_prompts, so that a snapshot can be proven to see
 *		the same pm_prompts as an earlier one without reading the table.
 *
 * See pm_writes.c for the argument.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_WRITES_H
#define PM_WRITES_H

#include "fmgr.h"
#include "utils/snapshot.h"

/* Called from _PG_init: the transaction callback that publishes writes. */
extern void pm_writes_init(void);

/* Called from _PG_init when preloading: reserve the shared marks. */
extern void pm_writes_install_hooks(void);

/*
 * A count of the writes (and DDL) this backend noted: it moves whenever
 * this backend's transaction changes pm_prompts, so that nothing learned
 * before the change is taken as proven after it.
 */
extern uint64 pm_writes_local_epoch(void);

/*
 * Does snapshot (the active one, taken before this call) allow a proof at
 * all, and what is the database's mark now?  True, with *mark set, when
 * the mark is valid and older than every transaction snapshot sees as in
 * progress (every transaction that published up to the mark had ended
 * before snapshot was taken), this transaction wrote nothing to
 * pm_prompts, and the server is not in recovery.  Two snapshots for which
 * this returns true with the same *mark see the same pm_prompts.
 */
extern bool pm_writes_proof(Snapshot snapshot, uint64 *mark);

/* The C functions of the note triggers, to recognise them in the catalogs. */
extern Datum pm_prompts_note_write(PG_FUNCTION_ARGS);
extern Datum pm_prompts_note_ddl(PG_FUNCTION_ARGS);

#endif							/* PM_WRITES_H */
