/*-------------------------------------------------------------------------
 *
 * pm_stats.c
 *		Statistics per prompt in shared memory, in the manner of
 *		pg_stat_statements.
 *
 * A shared hash table, sized by prompt_manager.stats_max at server start,
 * holds one entry per database and prompt (inline templates count under
 * one entry per database, prompt_id NULL).
 *
 * Renders are first counted in this backend, in a local table of pending
 * counters keyed by the hash of the prompt id that the cache key computed
 * anyway, and added to the shared entries when a transaction commits, when
 * the local table holds PM_PENDING_MAX prompts, when the backend exits, and
 * before the statistics are read.  Counts pending in an aborted
 * transaction are kept for the next flush: renders happened either way.
 * A cache hit, the common case, writes one 32-byte slot of a 64 kB array
 * (PmPendingHot) and nothing else; bench/run measures what it costs.
 *
 * Render time is measured for every render that misses the shared cache
 * and for one in PM_STATS_HIT_SAMPLE cache hits (reading the clock twice
 * would cost a large part of a hit); the view reports how many renders
 * were timed and their mean and maximum.
 *
 * Locking protocol: the table is protected by one LWLock of the
 * "prompt_manager_stats" tranche.  Adding pending counts to existing
 * entries takes it in shared mode, and each entry's counters are changed
 * under the entry's spinlock (held for a few instructions, nothing in
 * between can fail).  Creating entries, evicting (the least rendered
 * twentieth when the table is full) and resetting take it exclusively.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pm_compat.h"
#include "pm_errors.h"
#include "pm_settings.h"
#include "pm_stats.h"

#define PM_STATS_TRANCHE	"prompt_manager_stats"
#define PM_STATS_NAME_MAX	256		/* prompt ids are at most 255 bytes */
#define PM_PENDING_MAX		1024	/* flush everything past this many */

typedef struct PmStatsKey
{
	Oid			dbid;
	bool		is_inline;
	uint64		id_hash;
} PmStatsKey;

typedef struct PmStatsEntry
{
	PmStatsKey	key;			/* must be first */
	slock_t		mutex;			/* protects the fields below */
	char		prompt_id[PM_STATS_NAME_MAX];
	PmStatsCounters counters;
	int64		flushed;		/* successful renders already added to
								 * usage_count */
} PmStatsEntry;

typedef struct PmStatsShared
{
	LWLock	   *lock;
	int			max_entries;
} PmStatsShared;

/*
 * A prompt's counts not yet added to the shared table, in three parallel
 * arrays indexed alike: pm_pending_hot (see pm_stats.h), the counters of
 * everything else (misses, errors, timed renders) and the ids.
 */
typedef struct PmPending
{
	PmStatsKey	key;
	PmStatsCounters counters;
} PmPending;

typedef char PmPendingName[PM_STATS_NAME_MAX];

static PmStatsShared *pm_stats_shared = NULL;

/* Read by the inline functions of pm_stats.h, on every render. */
bool		pm_stats_ready = false;
uint32		pm_stats_hit_counter = 0;
PmPendingHot *pm_pending_hot = NULL;
static HTAB *pm_stats_table = NULL;

/*
 * Pending counts: open addressing on the prompt id's hash (linear
 * probing), with the list of used slots so that a flush visits only them.
 * Allocated at the first count, in TopMemoryContext.
 */
static PmPending *pm_pending = NULL;
static PmPendingName *pm_pending_names = NULL;
static uint16 *pm_pending_used = NULL;
static int	pm_pending_count = 0;
static bool pm_pending_any = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void pm_stats_flush(void);

static void
pm_stats_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(MAXALIGN(sizeof(PmStatsShared)),
									hash_estimate_size(pm_stats_max,
													   sizeof(PmStatsEntry))));
	RequestNamedLWLockTranche(PM_STATS_TRANCHE, 1);
}

static void
pm_stats_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pm_stats_shared = ShmemInitStruct("prompt_manager stats",
									  sizeof(PmStatsShared), &found);
	if (!found)
	{
		pm_stats_shared->lock = &(GetNamedLWLockTranche(PM_STATS_TRANCHE))->lock;
		pm_stats_shared->max_entries = pm_stats_max;
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(PmStatsKey);
	info.entrysize = sizeof(PmStatsEntry);
	pm_stats_table = ShmemInitHash("prompt_manager stats table",
								   pm_stats_max, pm_stats_max, &info,
								   HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	LWLockRelease(AddinShmemInitLock);
	pm_stats_ready = true;
}

void
pm_stats_install_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pm_stats_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pm_stats_shmem_startup;
}

/* Flush pending counts at commit. */
static void
pm_stats_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && pm_pending_any)
		pm_stats_flush();
}

/*
 * Flush at backend exit (a before_shmem_exit callback: proc_exit_inprogress
 * is always set by then).  Counts still pending there are those of
 * transactions that rolled back, or of a last transaction that never
 * committed.  Skipped if this backend exits while holding the lock, which
 * it cannot take twice.
 */
static void
pm_stats_exit(int code, Datum arg)
{
	if (pm_pending_any && pm_stats_shared != NULL &&
		!LWLockHeldByMe(pm_stats_shared->lock))
		pm_stats_flush();
}

void
pm_stats_init_backend(void)
{
	RegisterXactCallback(pm_stats_xact_callback, NULL);
}

static void
pm_counters_add(PmStatsCounters *to, const PmStatsCounters *from)
{
	to->renders += from->renders;
	to->cache_hits += from->cache_hits;
	to->errors += from->errors;
	to->timed += from->timed;
	to->total_time_ms += from->total_time_ms;
	if (from->max_time_ms > to->max_time_ms)
		to->max_time_ms = from->max_time_ms;
	to->bytes += from->bytes;
	if (from->last_render > to->last_render)
		to->last_render = from->last_render;
}

/* Least rendered first. */
static int
pm_stats_evict_order(const void *a, const void *b)
{
	int64		x = (*(PmStatsEntry *const *) a)->counters.renders;
	int64		y = (*(PmStatsEntry *const *) b)->counters.renders;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* Remove the least rendered twentieth; the lock is held exclusively. */
static void
pm_stats_evict(void)
{
	HASH_SEQ_STATUS seq;
	PmStatsEntry *entry;
	PmStatsEntry **entries;
	long		n = hash_get_num_entries(pm_stats_table);
	long		i = 0;
	long		nvictims;

	entries = palloc(sizeof(PmStatsEntry *) * Max(n, 1));
	hash_seq_init(&seq, pm_stats_table);
	while ((entry = hash_seq_search(&seq)) != NULL)
		entries[i++] = entry;
	qsort(entries, i, sizeof(PmStatsEntry *), pm_stats_evict_order);
	nvictims = Max(i / 20, 1);
	for (n = 0; n < nvictims && n < i; n++)
		hash_search(pm_stats_table, &entries[n]->key, HASH_REMOVE, NULL);
	pfree(entries);
}

/* Add a pending slot to the shared table (the lock held, any mode). */
static bool
pm_stats_add_existing(PmPending *slot)
{
	PmStatsEntry *entry = hash_search(pm_stats_table, &slot->key, HASH_FIND, NULL);

	if (entry == NULL)
		return false;
	SpinLockAcquire(&entry->mutex);
	pm_counters_add(&entry->counters, &slot->counters);
	SpinLockRelease(&entry->mutex);
	return true;
}

/* Move the hits counted in slot i's hot part into its counters. */
static void
pm_pending_fold(int i)
{
	PmPendingHot *hot = &pm_pending_hot[i];
	PmStatsCounters *counters = &pm_pending[i].counters;

	counters->renders += hot->hits;
	counters->cache_hits += hot->hits;
	counters->bytes += hot->hit_bytes;
	if (hot->last_hit > counters->last_render)
		counters->last_render = hot->last_hit;
	hot->hits = 0;
	hot->hit_bytes = 0;
	hot->last_hit = 0;
}

/* Add every pending count to the shared table, and empty the local one. */
static void
pm_stats_flush(void)
{
	int			i;
	bool		missing = false;

	if (pm_stats_shared == NULL || pm_pending == NULL)
		return;

	for (i = 0; i < pm_pending_count; i++)
		pm_pending_fold(pm_pending_used[i]);

	LWLockAcquire(pm_stats_shared->lock, LW_SHARED);
	for (i = 0; i < pm_pending_count; i++)
	{
		PmPending  *slot = &pm_pending[pm_pending_used[i]];

		if (pm_stats_add_existing(slot))
			pm_pending_hot[pm_pending_used[i]].used = false;
		else
			missing = true;
	}
	LWLockRelease(pm_stats_shared->lock);

	if (missing)
	{
		LWLockAcquire(pm_stats_shared->lock, LW_EXCLUSIVE);
		for (i = 0; i < pm_pending_count; i++)
		{
			PmPending  *slot = &pm_pending[pm_pending_used[i]];
			const char *name = pm_pending_names[pm_pending_used[i]];
			PmStatsEntry *entry;
			bool		found;

			if (!pm_pending_hot[pm_pending_used[i]].used)
				continue;
			if (!pm_stats_add_existing(slot))
			{
				if (hash_get_num_entries(pm_stats_table) >= pm_stats_shared->max_entries)
					pm_stats_evict();
				entry = hash_search(pm_stats_table, &slot->key, HASH_ENTER_NULL, &found);
				if (entry != NULL)
				{
					SpinLockInit(&entry->mutex);
					strlcpy(entry->prompt_id, name, PM_STATS_NAME_MAX);
					memset(&entry->counters, 0, sizeof(PmStatsCounters));
					entry->flushed = 0;
					pm_counters_add(&entry->counters, &slot->counters);
				}
			}
			pm_pending_hot[pm_pending_used[i]].used = false;
		}
		LWLockRelease(pm_stats_shared->lock);
	}
	pm_pending_count = 0;
	pm_pending_any = false;
}

void
pm_stats_count(const char *prompt_id, size_t id_len, uint64 id_hash,
			   bool cache_hit, bool error, double elapsed_ms, int64 bytes)
{
	bool		is_inline = prompt_id == NULL;
	PmPendingHot *hot;
	PmPending  *slot;
	uint32		i;

	if (pm_pending == NULL)
	{
		/* the first count of this backend: flush what is pending at exit */
		if (IsUnderPostmaster)
			before_shmem_exit(pm_stats_exit, (Datum) 0);
		pm_pending_hot = MemoryContextAllocZero(TopMemoryContext,
												sizeof(PmPendingHot) * PM_PENDING_SLOTS);
		pm_pending = MemoryContextAllocZero(TopMemoryContext,
											sizeof(PmPending) * PM_PENDING_SLOTS);
		pm_pending_names = MemoryContextAlloc(TopMemoryContext,
											  sizeof(PmPendingName) * PM_PENDING_SLOTS);
		pm_pending_used = MemoryContextAlloc(TopMemoryContext,
											 sizeof(uint16) * PM_PENDING_MAX);
	}
	if (is_inline)
		id_hash = 0;			/* inline templates: one entry */
	else if (id_len >= PM_STATS_NAME_MAX)
		return;					/* no prompt has such an id (255 bytes at most) */

	i = (uint32) id_hash & (PM_PENDING_SLOTS - 1);
	for (;;)
	{
		hot = &pm_pending_hot[i];
		if (!hot->used)
			break;
		/* told apart by the 64-bit hash: a collision would only merge stats */
		if (hot->id_hash == id_hash && hot->is_inline == is_inline)
			break;
		i = (i + 1) & (PM_PENDING_SLOTS - 1);
	}
	pm_pending_any = true;
	if (!hot->used)
	{
		if (pm_pending_count >= PM_PENDING_MAX)
		{
			pm_stats_flush();
			pm_stats_count(prompt_id, id_len, id_hash, cache_hit, error,
						   elapsed_ms, bytes);
			return;
		}
		memset(hot, 0, sizeof(PmPendingHot));
		hot->used = true;
		hot->is_inline = is_inline;
		hot->id_hash = id_hash;
		slot = &pm_pending[i];
		memset(slot, 0, sizeof(PmPending));
		slot->key.dbid = MyDatabaseId;
		slot->key.is_inline = is_inline;
		slot->key.id_hash = id_hash;
		strlcpy(pm_pending_names[i], prompt_id ? prompt_id : "", PM_STATS_NAME_MAX);
		pm_pending_used[pm_pending_count++] = (uint16) i;
	}

	/* the common case, an untimed cache hit: the hot part only */
	if (cache_hit && !error && elapsed_ms < 0 && pm_pending_hot_add_hit(hot, bytes))
		return;

	slot = &pm_pending[i];
	slot->counters.renders++;
	if (cache_hit)
		slot->counters.cache_hits++;
	if (error)
		slot->counters.errors++;
	if (elapsed_ms >= 0)
	{
		slot->counters.timed++;
		slot->counters.total_time_ms += elapsed_ms;
		if (elapsed_ms > slot->counters.max_time_ms)
			slot->counters.max_time_ms = elapsed_ms;
	}
	slot->counters.bytes += bytes;
	slot->counters.last_render = GetCurrentStatementStartTimestamp();
}

/*
 * Statistics need the shared table: say so clearly without it.  Then add
 * this backend's pending counts, so that readers see them.
 */
static void
pm_stats_require_flushed(void)
{
	if (pm_stats_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("prompt_manager statistics need shared_preload_libraries"),
				 errhint("Add prompt_manager to shared_preload_libraries in postgresql.conf and restart the server.")));
	if (pm_pending_any)
		pm_stats_flush();
}

List *
pm_stats_rows(void)
{
	HASH_SEQ_STATUS seq;
	PmStatsEntry *entry;
	List	   *rows = NIL;

	pm_stats_require_flushed();

	LWLockAcquire(pm_stats_shared->lock, LW_SHARED);
	hash_seq_init(&seq, pm_stats_table);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		PmStatsRow *row = palloc0(sizeof(PmStatsRow));

		row->dbid = entry->key.dbid;
		row->prompt_id = entry->key.is_inline ? NULL : pstrdup(entry->prompt_id);
		SpinLockAcquire(&entry->mutex);
		row->counters = entry->counters;
		SpinLockRelease(&entry->mutex);
		rows = lappend(rows, row);
	}
	LWLockRelease(pm_stats_shared->lock);
	return rows;
}

int64
pm_stats_reset(const char *prompt_id)
{
	HASH_SEQ_STATUS seq;
	PmStatsEntry *entry;
	int64		count = 0;

	/* this backend's pending counts first, so that they are reset too */
	pm_stats_require_flushed();

	LWLockAcquire(pm_stats_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, pm_stats_table);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		if (prompt_id != NULL &&
			(entry->key.dbid != MyDatabaseId || entry->key.is_inline ||
			 strcmp(entry->prompt_id, prompt_id) != 0))
			continue;
		hash_search(pm_stats_table, &entry->key, HASH_REMOVE, NULL);
		count++;
	}
	LWLockRelease(pm_stats_shared->lock);
	return count;
}

List *
pm_stats_take_unflushed(void)
{
	HASH_SEQ_STATUS seq;
	PmStatsEntry *entry;
	List	   *rows = NIL;

	pm_stats_require_flushed();

	LWLockAcquire(pm_stats_shared->lock, LW_SHARED);
	hash_seq_init(&seq, pm_stats_table);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		int64		delta;

		if (entry->key.dbid != MyDatabaseId || entry->key.is_inline)
			continue;
		SpinLockAcquire(&entry->mutex);
		/* usage is the renders that did not fail */
		delta = entry->counters.renders - entry->counters.errors - entry->flushed;
		entry->flushed = entry->counters.renders - entry->counters.errors;
		SpinLockRelease(&entry->mutex);
		if (delta > 0)
		{
			PmStatsRow *row = palloc0(sizeof(PmStatsRow));

			row->dbid = entry->key.dbid;
			row->prompt_id = pstrdup(entry->prompt_id);
			row->counters.renders = delta;
			rows = lappend(rows, row);
		}
	}
	LWLockRelease(pm_stats_shared->lock);
	return rows;
}

void
pm_stats_unflush(List *rows)
{
	ListCell   *lc;

	if (pm_stats_shared == NULL)
		return;
	LWLockAcquire(pm_stats_shared->lock, LW_SHARED);
	foreach(lc, rows)
	{
		PmStatsRow *row = (PmStatsRow *) lfirst(lc);
		PmStatsKey	key;
		PmStatsEntry *entry;

		memset(&key, 0, sizeof(key));
		key.dbid = row->dbid;
		key.id_hash = XXH3_64bits(row->prompt_id, strlen(row->prompt_id));
		entry = hash_search(pm_stats_table, &key, HASH_FIND, NULL);
		if (entry == NULL)
			continue;
		SpinLockAcquire(&entry->mutex);
		entry->flushed -= row->counters.renders;
		SpinLockRelease(&entry->mutex);
	}
	LWLockRelease(pm_stats_shared->lock);
}
