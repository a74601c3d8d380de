/*-------------------------------------------------------------------------
 *
 * pm_writes.c
 *		The "last writer" mark of each database, and the note triggers that
 *		move it: a proof that two snapshots see the same pm_prompts.
 *
 * Why
 * ---
 * pm_visibility.c learns what a snapshot sees of pm_prompts (each prompt's
 * row version) by reading the table, once per snapshot.  An application
 * rendering one prompt per statement takes a new snapshot every time, and
 * so read the table on every cache hit.  This module lets a snapshot reuse
 * what an earlier one learned, when it is proven that both see the same
 * pm_prompts.
 *
 * The mark
 * --------
 * Shared memory holds PM_WRITES_SLOTS marks, each a FullTransactionId (as
 * a pg_atomic_uint64); a database uses the slot hash(MyDatabaseId) picks.
 * A mark only grows (compare-and-swap to the maximum).  Databases that
 * share a slot move each other's mark: that only makes proofs fail more
 * often, never wrong.  0 is "not set since the server started": the first
 * backend to read it outside recovery sets it to ReadNextFullTransactionId()
 * minus one, which is at least the xid of every transaction that existed
 * before (prepared transactions kept over a restart or a promotion
 * included), as if they had all published; and a snapshot taken once they
 * all ended has proof at once, in a database nobody writes.
 *
 * Writers publish
 * ---------------
 * pm_prompts has two note triggers (and so have pm_prompt_versions and
 * pm_labels, which renders of versions and labels read: "pm_prompts" below
 * stands for all three), created ENABLE ALWAYS (so they fire
 * under session_replication_role = replica too, and in a logical
 * replication apply worker, which fires row triggers only):
 *	 - pm_prompts_note_write, BEFORE INSERT OR UPDATE OR DELETE FOR EACH ROW;
 *	 - pm_prompts_note_truncate, BEFORE TRUNCATE FOR EACH STATEMENT;
 * and the database has an event trigger pm_prompts_note_ddl, ENABLE
 * ALWAYS, ON ddl_command_start of the commands that could let later
 * writes skip the note triggers or change how the table is read
 * (ALTER TABLE, CREATE/ALTER/DROP TRIGGER, CREATE/ALTER/DROP FUNCTION,
 * ALTER/DROP EXTENSION: conservative, any such command in the database).
 * Each records in backend memory "this top-level transaction T wrote", with
 * T's FullTransactionId (assigned then if needed).  Before T's commit
 * record is written (XACT_EVENT_PRE_COMMIT) or T is prepared
 * (XACT_EVENT_PRE_PREPARE), so before any snapshot can see T as
 * committed, T publishes: mark := max(mark, fxid(T)), with a full barrier.
 * A note made after T published (a pre-commit callback of another
 * extension that writes) publishes at once.  The local record is cleared
 * when T ends; a subtransaction that wrote and was rolled back leaves it
 * set (conservative).  Parallel workers cannot write, and publish nothing.
 *
 * Readers prove
 * -------------
 * A snapshot S "has proof with mark L" (pm_writes_proof) when, with L read
 * after S was taken (after a read barrier):
 *	 (a) L is valid and L < S.xmin (every transaction with an xid up to L
 *		 had ended when S was taken);
 *	 (b) this backend's transaction has not written pm_prompts (the local
 *		 record is clear: our own xid is left out of S.xmin, so (a) says
 *		 nothing about our own changes);
 *	 (c) neither the server nor S is in recovery (on a hot standby no
 *		 trigger fires: changes arrive by WAL replay);
 * and, checked by the caller (pm_visibility.c) from the relcache
 * (PmTableInfo.notes_writes), the note triggers and the event trigger
 * exist, call our C functions, fire on every event above and are enabled
 * ALWAYS.
 *
 * Claim: S1 and S2 that both have proof with the same L see the same
 * committed writes of pm_prompts, namely those of the committed
 * transactions T that wrote it with fxid(T) <= L.
 *	 - Let T be committed and seen by S2.  T published before its commit
 *	   became visible to any snapshot, so before S2 was taken, so before L
 *	   was read for S2; the mark only grows, so fxid(T) <= L.  Then
 *	   fxid(T) <= L < S1.xmin: T had ended when S1 was taken, and being
 *	   committed, is seen by S1.  Symmetrically, with S2.xmin, for T seen by
 *	   S1.  Conversely a committed T with fxid(T) <= L < S.xmin is seen by
 *	   any such S.
 *	 - A transaction that changed pm_prompts and never published did not
 *	   fire the note triggers: it ran while they were missing or disabled,
 *	   which the relcache check refuses (see below), or on a standby, which
 *	   (c) refuses.  Aborted transactions are seen by no snapshot.
 *	 - Our own transaction: (b).  Its changes made before a memo was built
 *	   and published later also move pm_writes_local_epoch(), which is part
 *	   of the memo's identity: a memo built before our own change is never
 *	   taken as proven after it, even when our fxid is below the mark.
 * So what one snapshot learned of pm_prompts (which row version of each
 * prompt it sees) holds for the other.
 *
 * The 32-bit comparison: L < S.xmin is first tested on 32-bit xids
 * (TransactionIdPrecedes).  It can only be wrong when L is more than 2^31
 * xids older than S.xmin, and then it says "not precedes": a fallback, not
 * a wrong proof.  On that answer the slow path widens S.xmin to 64 bits
 * against ReadNextFullTransactionId() and compares again, so that a
 * database whose prompts are never edited keeps its proofs.
 *
 * DDL, and the relcache check
 * ---------------------------
 * Writes that skip the note triggers need a DDL first (ALTER TABLE ...
 * DISABLE TRIGGER, as pg_restore --disable-triggers does; DROP TRIGGER; a
 * replaced trigger function); that DDL sends a relcache (or syscache)
 * invalidation, and pm_storage.c's callbacks then bump a generation that is
 * part of the memo's identity and look the triggers up again.  The order
 * holds: such a DDL takes a lock on pm_prompts that conflicts with the
 * RowExclusiveLock of any write, and releases it only after its
 * invalidation messages were sent (CommitTransaction sends them before it
 * releases locks); so a write W that skipped the triggers started after
 * those messages were queued, and if W is seen by a snapshot S2, they were
 * queued before S2 was taken.  pm_visibility.c calls
 * AcceptInvalidationMessages() after S2 was taken, before it reuses a
 * proven memo for S2, so it sees the triggers disabled (or the generation
 * moved) and falls back.  The one remaining order, DDL and write and
 * re-enabling all committed between the moment S1 was taken and the moment
 * its memo was built (the relcache is then newer than S1), is closed by the
 * event trigger: the DDL transaction published, after S1 was taken, an xid
 * not below S1.xmin, so S1 has no proof.
 *
 * What moves no mark, rightly: pm_invalidate() and pm_cache_reset() act on
 * the shared cache, not on what a snapshot sees; VACUUM, ANALYZE, CLUSTER
 * and REINDEX change no row a snapshot sees (CLUSTER and VACUUM FULL give
 * the table a new relfilenode, which changes its shape anyway); sequence
 * changes (ALTER SEQUENCE, setval) change no row either.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "pm_writes.h"

#define PM_WRITES_SLOTS 64

typedef struct PmWritesShared
{
	pg_atomic_uint64 last_writer[PM_WRITES_SLOTS];	/* FullTransactionId */
} PmWritesShared;

static PmWritesShared *pm_writes_shared = NULL;
static pg_atomic_uint64 *pm_my_slot = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* This backend's top-level transaction and what it wrote. */
static bool pm_xact_wrote = false;
static bool pm_xact_published = false;
static FullTransactionId pm_xact_fxid;
static uint64 pm_local_epoch = 0;

static void
pm_writes_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(PmWritesShared)));
}

/* Create (in the postmaster) or find the marks. */
static void
pm_writes_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pm_writes_shared = ShmemInitStruct("prompt_manager last writers",
									   sizeof(PmWritesShared), &found);
	if (!found)
	{
		int			i;

		for (i = 0; i < PM_WRITES_SLOTS; i++)
			pg_atomic_init_u64(&pm_writes_shared->last_writer[i], 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
pm_writes_install_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pm_writes_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pm_writes_shmem_startup;
}

/* This database's mark, or NULL without shared memory (not preloaded). */
static inline pg_atomic_uint64 *
pm_slot(void)
{
	if (pm_my_slot == NULL && pm_writes_shared != NULL && OidIsValid(MyDatabaseId))
		pm_my_slot = &pm_writes_shared->last_writer[hash_bytes_uint32((uint32) MyDatabaseId) %
													PM_WRITES_SLOTS];
	return pm_my_slot;
}

/* mark := max(mark, our transaction's fxid), then a full barrier. */
static void
pm_publish(void)
{
	pg_atomic_uint64 *slot = pm_slot();
	uint64		fxid = U64FromFullTransactionId(pm_xact_fxid);
	uint64		cur;

	if (slot != NULL)
	{
		cur = pg_atomic_read_u64(slot);
		while (cur < fxid)
		{
			if (pg_atomic_compare_exchange_u64(slot, &cur, fxid))
				break;
		}
	}
	/* before the commit record, before the commit can become visible */
	pg_memory_barrier();
	pm_xact_published = true;
}

/* Record that this top-level transaction changes what readers may see. */
static void
pm_note(void)
{
	pm_xact_fxid = GetTopFullTransactionId();
	pm_xact_wrote = true;
	pm_local_epoch++;
	if (pm_xact_published)
		pm_publish();			/* written after our pre-commit callback ran */
}

static void
pm_writes_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (pm_xact_wrote)
				pm_publish();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			if (pm_xact_wrote)
				pm_local_epoch++;	/* what was learned in it is done with */
			pm_xact_wrote = false;
			pm_xact_published = false;
			break;
		default:
			break;				/* parallel workers write nothing */
	}
}

void
pm_writes_init(void)
{
	RegisterXactCallback(pm_writes_xact_callback, NULL);
}

uint64
pm_writes_local_epoch(void)
{
	return pm_local_epoch;
}

/*
 * xmin widened to 64 bits against the next xid (xmin is never more than
 * 2^31 xids behind it).
 */
static uint64
pm_full_xmin(TransactionId xmin)
{
	FullTransactionId next = ReadNextFullTransactionId();
	uint32		behind = XidFromFullTransactionId(next) - xmin;

	return U64FromFullTransactionId(next) - behind;
}

bool
pm_writes_proof(Snapshot snapshot, uint64 *mark)
{
	pg_atomic_uint64 *slot = pm_slot();
	uint64		l;

	if (slot == NULL || pm_xact_wrote || IsParallelWorker() ||
		snapshot->snapshot_type != SNAPSHOT_MVCC ||
		snapshot->takenDuringRecovery || RecoveryInProgress())
		return false;

	/* read the mark after the snapshot was taken */
	pg_read_barrier();
	l = pg_atomic_read_u64(slot);
	if (l == 0)
	{
		uint64		expected = 0;

		/* the first look since the server started (see the header) */
		if (!pg_atomic_compare_exchange_u64(slot, &expected,
											U64FromFullTransactionId(ReadNextFullTransactionId()) - 1))
			l = expected;
		else
			l = pg_atomic_read_u64(slot);
	}
	*mark = l;
	if (TransactionIdPrecedes((TransactionId) (l & 0xFFFFFFFF), snapshot->xmin))
		return true;
	/* the slow path: the mark may be more than 2^31 xids old */
	return l < pm_full_xmin(snapshot->xmin);
}

/*
 * pm_prompts_note_write() RETURNS trigger: BEFORE INSERT OR UPDATE OR
 * DELETE FOR EACH ROW, and BEFORE TRUNCATE FOR EACH STATEMENT.  Notes the
 * write and lets the row through unchanged.
 */
PG_FUNCTION_INFO_V1(pm_prompts_note_write);

Datum
pm_prompts_note_write(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("pm_prompts_note_write() must be called as a trigger")));
	pm_note();
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		return PointerGetDatum(NULL);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_newtuple);
	return PointerGetDatum(trigdata->tg_trigtuple);
}

/*
 * pm_prompts_note_ddl() RETURNS event_trigger: a command that could change
 * how pm_prompts is written or read; counts as a write.
 */
PG_FUNCTION_INFO_V1(pm_prompts_note_ddl);

Datum
pm_prompts_note_ddl(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("pm_prompts_note_ddl() must be called as an event trigger")));
	pm_note();
	PG_RETURN_VOID();
}
