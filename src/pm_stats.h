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

/* One row of the pm_stats view. */
typedef struct PmStatsRow
{
	Oid			dbid;
	char	   *prompt_id;		/* NULL: inline templates */
	PmStatsCounters counters;
} PmStatsRow;

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
 * long, whose XXH3_64bits is id_hash.  elapsed_ms is < 0 when the render
 * was not timed.
 */
extern void pm_stats_count(const char *prompt_id, size_t id_len, uint64 id_hash,
						   bool cache_hit, bool error, double elapsed_ms,
						   int64 bytes);

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
	bool		is_inline;
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
		if (likely(hot->used && hot->id_hash == id_hash && !hot->is_inline) &&
			pm_pending_hot_add_hit(hot, bytes))
			return;
	}
	pm_stats_count(prompt_id, id_len, id_hash, true, false, -1, bytes);
}

/* Should this cache hit be timed?  One in PM_STATS_HIT_SAMPLE (every miss is). */
#define PM_STATS_HIT_SAMPLE	32

static inline bool
pm_stats_time_this_hit(void)
{
	return (++pm_stats_hit_counter % PM_STATS_HIT_SAMPLE) == 0;
}

extern List *pm_stats_rows(void);
extern int64 pm_stats_reset(const char *prompt_id);

/*
 * Successful renders of this database counted since their last flush, per
 * prompt (a List of PmStatsRow * with counters.renders = the count), marked as
 * flushed.  pm_stats_unflush puts them back (the flush was rolled back).
 */
extern List *pm_stats_take_unflushed(void);
extern void pm_stats_unflush(List *rows);

#endif							/* PM_STATS_H */
