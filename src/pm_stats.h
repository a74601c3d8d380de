/*-------------------------------------------------------------------------
 *
 * pm_stats.h
 *		Statistics per prompt in shared memory: renders, cache hits, errors,
 *		render time, bytes produced.
 *
 * Needs shared_preload_libraries = 'prompt_manager'.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_STATS_H
#define PM_STATS_H

#include "access/xact.h"
#include "nodes/pg_list.h"
#include "utils/timestamp.h"

#include "pm_settings.h"

/* What is counted per database and prompt. */
typedef struct PmStatsCounters
{
	int64		renders;
	int64		cache_hits;
	int64		errors;
	int64		timed;			/* renders whose time was measured */
	double		total_time_ms;	/* of the timed renders */
	double		max_time_ms;
	int64		bytes;
	TimestampTz last_render;
} PmStatsCounters;

/*
 * What an entry counts: the renders of one stored prompt, of every inline
 * template of a database, or of every id of a database that named no
 * (visible) prompt.  Only stored prompts have an id and a usage count.
 */
typedef enum PmStatsKind
{
	PM_STATS_PROMPT = 0,
	PM_STATS_INLINE,
	PM_STATS_MISSING
} PmStatsKind;

/* One row of the pm_stats view. */
typedef struct PmStatsRow
{
	Oid			dbid;
	PmStatsKind kind;
	char	   *prompt_id;		/* NULL: not a prompt, or an id that cannot
								 * be shown in this database's encoding */
	PmStatsCounters counters;
} PmStatsRow;

/* The one row of pm_stats_info(). */
typedef struct PmStatsInfo
{
	int64		entries;
	int64		max_entries;
	int64		evicted;		/* entries evicted to make room */
	int64		dropped;		/* renders not counted: the table was full
								 * of entries that could not be evicted */
} PmStatsInfo;

/* Called from _PG_init when preloading. */
extern void pm_stats_install_hooks(void);
extern void pm_stats_init_backend(void);

/*
 * Is tracking on and the shared table set up?  Inline, with the sampling
 * below: they run on every render, cache hits included.
 */
extern bool pm_stats_ready;
extern uint32 pm_stats_hit_counter;

static inline bool
pm_stats_active(void)
{
	return pm_stats_track && pm_stats_ready;
}

/*
 * Count one render of prompt_id (NULL: an inline template), id_len bytes
 * long (its first id_len bytes: the id of a reference "id@label"), whose
 * XXH3_64bits is id_hash.  elapsed_ms is < 0 when the render
 * was not timed.  Only for an id that names a prompt the caller can see:
 * any other id is counted with pm_stats_count_missing.
 */
extern void pm_stats_count(const char *prompt_id, size_t id_len, uint64 id_hash,
						   bool cache_hit, bool error, double elapsed_ms,
						   int64 bytes);

/*
 * Count one render of an id that named no prompt the caller could see,
 * in the one entry per database that counts them all (an id per entry
 * would let any role fill the shared table).
 */
extern void pm_stats_count_missing(bool error, double elapsed_ms, int64 bytes);

/*
 * Pending counts, per prompt, of this backend (pm_stats.c keeps the rest):
 * open addressing on the id's hash, PM_PENDING_SLOTS slots.  The part that
 * probing reads and that an untimed cache hit writes is 32 bytes, so that
 * a hit touches one cache line of a 64 kB array.
 */
#define PM_PENDING_SLOTS	2048	/* a power of two */

typedef struct PmPendingHot
{
	uint64		id_hash;
	int64		hit_bytes;		/* untimed cache hits not yet folded into */
	TimestampTz last_hit;		/* the slot's counters */
	uint32		hits;
	bool		used;
	uint8		kind;			/* PmStatsKind */
} PmPendingHot;

StaticAssertDecl(sizeof(PmPendingHot) == 32, "PmPendingHot is two to a cache line");

extern PmPendingHot *pm_pending_hot;

/*
 * Count an untimed cache hit of bytes in a slot's hot part; false when its
 * hit counter is full (the caller then counts it with the other counters).
 */
static inline bool
pm_pending_hot_add_hit(PmPendingHot *hot, int64 bytes)
{
	if (unlikely(hot->hits == PG_UINT32_MAX))
		return false;
	hot->hits++;
	hot->hit_bytes += bytes;
	hot->last_hit = GetCurrentStatementStartTimestamp();
	return true;
}

/*
 * Count an untimed cache hit of a stored prompt: pm_stats_count, inline
 * for the common case of a prompt already counted in its home slot.
 */
static inline void
pm_stats_count_hit(const char *prompt_id, size_t id_len, uint64 id_hash,
				   int64 bytes)
{
	PmPendingHot *hot;

	if (likely(pm_pending_hot != NULL && prompt_id != NULL))
	{
		hot = &pm_pending_hot[id_hash & (PM_PENDING_SLOTS - 1)];
		if (likely(hot->used && hot->id_hash == id_hash && hot->kind == PM_STATS_PROMPT) &&
			pm_pending_hot_add_hit(hot, bytes))
			return;
	}
	pm_stats_count(prompt_id, id_len, id_hash, true, false, -1, bytes);
}

/*
 * The slot a count of id_hash is looked for first (NULL before the first
 * count): a cache hit prefetches it when it starts, so that loading it
 * overlaps the lookup.
 */
static inline const void *
pm_stats_home_slot(uint64 id_hash)
{
	return pm_pending_hot != NULL ? &pm_pending_hot[id_hash & (PM_PENDING_SLOTS - 1)] : NULL;
}

/* Should this cache hit be timed?  One in PM_STATS_HIT_SAMPLE (every miss is). */
#define PM_STATS_HIT_SAMPLE	32

static inline bool
pm_stats_time_this_hit(void)
{
	return (++pm_stats_hit_counter % PM_STATS_HIT_SAMPLE) == 0;
}

extern List *pm_stats_rows(void);
extern void pm_stats_get_info(PmStatsInfo *info);
extern int64 pm_stats_reset(const char *prompt_id);

/* Renders of one prompt taken by pm_flush_usage, and which entry gave them. */
typedef struct PmUsageTaken
{
	char	   *prompt_id;
	int64		count;
	uint64		id_hash;
	uint64		generation;		/* of the entry: a reset one is not it */
	Oid			dbid;
} PmUsageTaken;

/*
 * Successful renders of this database's prompts counted since their last
 * flush (a List of PmUsageTaken *, allocated in CurrentMemoryContext),
 * marked as in flight: their entries are not evicted until
 * pm_stats_usage_done (the flush committed, or they are put back) is
 * called with them.  pm_stats_usage_done never raises an error.
 */
extern List *pm_stats_take_unflushed(void);
extern void pm_stats_usage_done(List *taken, bool put_back);

#endif							/* PM_STATS_H */
