/*-------------------------------------------------------------------------
 *
 * pm_stats.c
 *		Statistics per prompt in shared memory, in the manner of
 *		pg_stat_statements.
 *
 * A shared hash table, sized by prompt_manager.stats_max at server start,
 * holds one entry per database and prompt.  Inline templates count under
 * one entry per database, and so do the renders of ids that named no
 * prompt the caller could see (kind "missing"): an entry per such id would
 * let any role that may call pm_render fill the table with ids of its
 * choosing.  What a role can write here is thus bounded by the prompts it
 * can read.
 *
 * Each entry also holds the usage pm_flush_usage has not yet added to
 * pm_prompts.usage_count (renders less errors less flushed), and what it
 * took in transactions that have not ended (in_flight).  An entry with
 * either is never evicted: when the table is full of them, a new prompt is
 * not tracked and its renders are counted as dropped (pm_stats_info), so
 * that no render of one database can make another lose its usage.  A
 * reset removes entries anyway; the generation number of each entry tells
 * a flush ending later that the entry it took from is gone.
 *
 * An entry records the encoding of its database: its prompt_id is shown in
 * another database only converted to that database's encoding, or as NULL
 * when it cannot be (as pg_stat_statements does with query texts).
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
#include "catalog/namespace.h"
#include "common/string.h"
#include "mb/pg_wchar.h"
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

/* Hashed as bytes: always zeroed before it is filled in (padding). */
typedef struct PmStatsKey
{
	Oid			dbid;
	uint8		kind;			/* PmStatsKind */
	uint64		id_hash;		/* 0 unless kind is PM_STATS_PROMPT */
} PmStatsKey;

typedef struct PmStatsEntry
{
	PmStatsKey	key;			/* must be first */
	int			encoding;		/* of the database: prompt_id's bytes */
	uint64		generation;		/* set when the entry is created */
	char		prompt_id[PM_STATS_NAME_MAX];
	slock_t		mutex;			/* protects the fields below */
	PmStatsCounters counters;
	int64		flushed;		/* successful renders taken by
								 * pm_flush_usage (in flight included) */
	int64		in_flight;		/* of which taken by transactions that
								 * have not ended */
} PmStatsEntry;

typedef struct PmStatsShared
{
	LWLock	   *lock;
	int			max_entries;
	/* the fields below change under the lock held exclusively */
	uint64		next_generation;
	int64		evicted;
	int64		dropped;
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
		pm_stats_shared->next_generation = 1;
		pm_stats_shared->evicted = 0;
		pm_stats_shared->dropped = 0;
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

/*
 * May the entry be evicted: does it hold no usage that pm_flush_usage has
 * yet to add, nor any that a flush still in progress took?  The lock is
 * held exclusively: nothing changes the counters meanwhile.
 */
static bool
pm_stats_evictable(const PmStatsEntry *entry)
{
	if (entry->key.kind != PM_STATS_PROMPT)
		return true;
	return entry->in_flight == 0 &&
		entry->counters.renders - entry->counters.errors - entry->flushed <= 0;
}

/*
 * Remove the least rendered twentieth of the entries that may be evicted;
 * false when none may.  The lock is held exclusively.
 */
static bool
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
		if (pm_stats_evictable(entry))
			entries[i++] = entry;
	if (i == 0)
	{
		pfree(entries);
		return false;
	}
	qsort(entries, i, sizeof(PmStatsEntry *), pm_stats_evict_order);
	nvictims = Max(i / 20, 1);
	for (n = 0; n < nvictims && n < i; n++)
		hash_search(pm_stats_table, &entries[n]->key, HASH_REMOVE, NULL);
	pm_stats_shared->evicted += nvictims;
	pfree(entries);
	return true;
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
	bool		full = false;	/* and nothing could be evicted */

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
				if (!full &&
					hash_get_num_entries(pm_stats_table) >= pm_stats_shared->max_entries)
					full = !pm_stats_evict();
				entry = full ? NULL :
					hash_search(pm_stats_table, &slot->key, HASH_ENTER_NULL, &found);
				if (entry != NULL)
				{
					SpinLockInit(&entry->mutex);
					entry->encoding = GetDatabaseEncoding();
					entry->generation = pm_stats_shared->next_generation++;
					strlcpy(entry->prompt_id, name, PM_STATS_NAME_MAX);
					memset(&entry->counters, 0, sizeof(PmStatsCounters));
					entry->flushed = 0;
					entry->in_flight = 0;
					pm_counters_add(&entry->counters, &slot->counters);
				}
				else
					pm_stats_shared->dropped += slot->counters.renders;
			}
			pm_pending_hot[pm_pending_used[i]].used = false;
		}
		LWLockRelease(pm_stats_shared->lock);
	}
	pm_pending_count = 0;
	pm_pending_any = false;
}

/* pm_stats_count and pm_stats_count_missing: one render of an entry's kind. */
static void
pm_stats_count_kind(PmStatsKind kind, const char *prompt_id, size_t id_len,
					uint64 id_hash, bool cache_hit, bool error,
					double elapsed_ms, int64 bytes)
{
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
	if (kind != PM_STATS_PROMPT)
	{
		prompt_id = NULL;
		id_hash = 0;			/* one entry per database */
	}
	else if (id_len >= PM_STATS_NAME_MAX)
		return;					/* no prompt has such an id (255 bytes at most) */

	i = (uint32) id_hash & (PM_PENDING_SLOTS - 1);
	for (;;)
	{
		hot = &pm_pending_hot[i];
		if (!hot->used)
			break;
		/* told apart by the 64-bit hash: a collision would only merge stats */
		if (hot->id_hash == id_hash && hot->kind == kind)
			break;
		i = (i + 1) & (PM_PENDING_SLOTS - 1);
	}
	pm_pending_any = true;
	if (!hot->used)
	{
		if (pm_pending_count >= PM_PENDING_MAX)
		{
			pm_stats_flush();
			pm_stats_count_kind(kind, prompt_id, id_len, id_hash, cache_hit,
								error, elapsed_ms, bytes);
			return;
		}
		memset(hot, 0, sizeof(PmPendingHot));
		hot->used = true;
		hot->kind = (uint8) kind;
		hot->id_hash = id_hash;
		slot = &pm_pending[i];
		memset(slot, 0, sizeof(PmPending));
		slot->key.dbid = MyDatabaseId;
		slot->key.kind = (uint8) kind;
		slot->key.id_hash = id_hash;
		/* id_len bytes: a reference "id@label" is counted under its id */
		strlcpy(pm_pending_names[i], prompt_id ? prompt_id : "",
				Min(id_len + 1, PM_STATS_NAME_MAX));
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

void
pm_stats_count(const char *prompt_id, size_t id_len, uint64 id_hash,
			   bool cache_hit, bool error, double elapsed_ms, int64 bytes)
{
	pm_stats_count_kind(prompt_id != NULL ? PM_STATS_PROMPT : PM_STATS_INLINE,
						prompt_id, id_len, id_hash, cache_hit, error,
						elapsed_ms, bytes);
}

void
pm_stats_count_missing(bool error, double elapsed_ms, int64 bytes)
{
	pm_stats_count_kind(PM_STATS_MISSING, NULL, 0, 0, false, error,
						elapsed_ms, bytes);
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

/*
 * A prompt id counted in a database of the given encoding, as text of
 * this database: as it is when it is ASCII (every server encoding agrees
 * on those bytes) or the encodings are the same, converted otherwise;
 * NULL when it is not valid in its encoding or cannot be converted.
 */
static char *
pm_stats_name_here(char *name, int encoding)
{
	int			here = GetDatabaseEncoding();
	int			len = strlen(name);
	Oid			proc;
	char	   *converted;

	if (encoding == here || here == PG_SQL_ASCII || pg_is_ascii(name))
		return name;
	if (encoding == PG_SQL_ASCII)	/* unknown bytes: keep them if valid here */
		return pg_verify_mbstr(here, name, len, true) ? name : NULL;
	if (!pg_verify_mbstr(encoding, name, len, true))
		return NULL;
	proc = FindDefaultConversionProc(encoding, here);
	if (!OidIsValid(proc))
		return NULL;
	converted = palloc((len + 1) * MAX_CONVERSION_GROWTH + 1);
	if (pg_do_encoding_conversion_buf(proc, encoding, here,
									  (unsigned char *) name, len,
									  (unsigned char *) converted,
									  (len + 1) * MAX_CONVERSION_GROWTH + 1,
									  true) != len)
		return NULL;
	return converted;
}

List *
pm_stats_rows(void)
{
	HASH_SEQ_STATUS seq;
	PmStatsEntry *entry;
	List	   *rows = NIL;
	List	   *encodings = NIL;
	ListCell   *lc;
	ListCell   *lc2;

	pm_stats_require_flushed();

	LWLockAcquire(pm_stats_shared->lock, LW_SHARED);
	hash_seq_init(&seq, pm_stats_table);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		PmStatsRow *row = palloc0(sizeof(PmStatsRow));

		row->dbid = entry->key.dbid;
		row->kind = (PmStatsKind) entry->key.kind;
		row->prompt_id = entry->key.kind != PM_STATS_PROMPT ? NULL : pstrdup(entry->prompt_id);
		SpinLockAcquire(&entry->mutex);
		row->counters = entry->counters;
		SpinLockRelease(&entry->mutex);
		rows = lappend(rows, row);
		encodings = lappend_int(encodings, entry->encoding);
	}
	LWLockRelease(pm_stats_shared->lock);

	/* converting may read the catalogs: not under the lock */
	forboth(lc, rows, lc2, encodings)
	{
		PmStatsRow *row = (PmStatsRow *) lfirst(lc);

		if (row->prompt_id != NULL)
			row->prompt_id = pm_stats_name_here(row->prompt_id, lfirst_int(lc2));
	}
	return rows;
}

void
pm_stats_get_info(PmStatsInfo *info)
{
	pm_stats_require_flushed();

	LWLockAcquire(pm_stats_shared->lock, LW_SHARED);
	info->entries = hash_get_num_entries(pm_stats_table);
	info->max_entries = pm_stats_shared->max_entries;
	info->evicted = pm_stats_shared->evicted;
	info->dropped = pm_stats_shared->dropped;
	LWLockRelease(pm_stats_shared->lock);
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
			(entry->key.dbid != MyDatabaseId || entry->key.kind != PM_STATS_PROMPT ||
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
	List	   *taken = NIL;

	pm_stats_require_flushed();

	LWLockAcquire(pm_stats_shared->lock, LW_SHARED);
	hash_seq_init(&seq, pm_stats_table);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		int64		delta;

		if (entry->key.dbid != MyDatabaseId || entry->key.kind != PM_STATS_PROMPT)
			continue;
		SpinLockAcquire(&entry->mutex);
		/* usage is the renders that did not fail */
		delta = entry->counters.renders - entry->counters.errors - entry->flushed;
		if (delta > 0)
		{
			entry->flushed += delta;
			entry->in_flight += delta;
		}
		SpinLockRelease(&entry->mutex);
		if (delta > 0)
		{
			PmUsageTaken *t = palloc(sizeof(PmUsageTaken));

			t->prompt_id = pstrdup(entry->prompt_id);
			t->count = delta;
			t->id_hash = entry->key.id_hash;
			t->generation = entry->generation;
			t->dbid = entry->key.dbid;
			taken = lappend(taken, t);
		}
	}
	LWLockRelease(pm_stats_shared->lock);
	return taken;
}

/*
 * The flush that took these counts has ended: they are no longer in
 * flight, and with put_back they are usage not yet flushed again.  An
 * entry removed by a reset meanwhile (or re-created since: another
 * generation) is left alone.  Runs in transaction callbacks: nothing here
 * may fail.
 */
void
pm_stats_usage_done(List *taken, bool put_back)
{
	ListCell   *lc;

	if (pm_stats_shared == NULL || taken == NIL)
		return;
	LWLockAcquire(pm_stats_shared->lock, LW_SHARED);
	foreach(lc, taken)
	{
		PmUsageTaken *t = (PmUsageTaken *) lfirst(lc);
		PmStatsKey	key;
		PmStatsEntry *entry;

		memset(&key, 0, sizeof(key));
		key.dbid = t->dbid;
		key.kind = PM_STATS_PROMPT;
		key.id_hash = t->id_hash;
		entry = hash_search(pm_stats_table, &key, HASH_FIND, NULL);
		if (entry == NULL || entry->generation != t->generation)
			continue;
		SpinLockAcquire(&entry->mutex);
		entry->in_flight -= t->count;
		if (put_back)
			entry->flushed -= t->count;
		SpinLockRelease(&entry->mutex);
	}
	LWLockRelease(pm_stats_shared->lock);
}
