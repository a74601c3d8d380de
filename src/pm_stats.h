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

#include "nodes/pg_list.h"
#include "utils/timestamp.h"

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

/* Is tracking on and the shared table set up? */
extern bool pm_stats_active(void);

/*
 * Count one render of prompt_id (NULL: an inline template), whose
 * XXH3_64bits is id_hash.  elapsed_ms is < 0 when the render was not timed.
 */
extern void pm_stats_count(const char *prompt_id, uint64 id_hash,
						   bool cache_hit, bool error, double elapsed_ms,
						   int64 bytes);

/* Should this render be timed?  Every miss; one in 32 cache hits. */
extern bool pm_stats_time_this_hit(void);

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
