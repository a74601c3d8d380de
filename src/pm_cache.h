/*-------------------------------------------------------------------------
 *
 * pm_cache.h
 *		The shared render cache: rendered prompts in shared memory, used by
 *		every backend of the server.
 *
 * Needs shared_preload_libraries = 'prompt_manager'.  Without it every
 * function here reports the cache as unavailable and renders go uncached.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_CACHE_H
#define PM_CACHE_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

/* Everything that identifies one rendering (see pm_cache.c). */
typedef struct PmCacheKey
{
	Oid			dbid;
	Oid			relid;			/* pm_prompts: new after DROP/CREATE EXTENSION */
	uint64		table_shape;	/* PmTableInfo.shape of pm_prompts */
	int64		root_revision;	/* 0 for an inline template */
	uint64		name_hash;		/* prompt id, or inline template text */
	uint64		params_hash;	/* exact bytes of the params argument */
	uint64		settings_hash;	/* pm_output_settings_hash() */
	bool		is_inline;
} PmCacheKey;

/* One lookup (and, on a miss, the store that follows it). */
typedef struct PmCacheRequest
{
	PmCacheKey	key;
	uint32		hash;			/* of key, picks the partition */
	uint32		local_hash;		/* of key without root_revision: finds the
								 * backend's copy */
	const char *name;			/* prompt id or template text */
	uint32		name_len;
	const char *params;			/* jsonb bytes, or NULL */
	uint32		params_len;
} PmCacheRequest;

/*
 * A prompt a rendering was built from: the key of the reference that read
 * it (pm_ref_key: "id", "id@3", "id@production", "id@production?"), with
 * the revision it had (pm_visibility_ref).
 */
typedef struct PmCacheDependency
{
	const char *name;
	int64		revision;
} PmCacheDependency;

/* Counters shown by the pm_cache view. */
typedef struct PmCacheStats
{
	bool		available;		/* shared memory set up (preloaded) */
	int64		entries;
	int64		bytes_used;
	int64		capacity_bytes;
	int64		max_entries;
	int64		hits;
	int64		misses;
	int64		inserts;
	int64		evictions;
	int64		expirations;
	int64		invalidations;
	int64		skipped;
	TimestampTz stats_reset;
} PmCacheStats;

/* One cached rendering, for the pm_cache_entries view. */
typedef struct PmCacheEntryInfo
{
	Oid			dbid;
	char	   *name;			/* prompt id; NULL for an inline template */
	int64		revision;
	int64		bytes;
	int64		hits;
	TimestampTz created;
} PmCacheEntryInfo;

/* Called from _PG_init when preloading: reserve and set up shared memory. */
extern void pm_cache_install_hooks(void);

/* Is the cache set up, and switched on for this session? */
extern bool pm_cache_active(void);

/*
 * Fill req for a stored prompt at root_revision, or an inline template;
 * name_hash is XXH3_64bits of the name.  The key takes the shape of
 * pm_prompts from pm_storage_table().
 */
extern void pm_cache_request_init(PmCacheRequest *req, const char *name,
								  uint32 name_len, uint64 name_hash,
								  bool is_inline, int64 root_revision,
								  Oid relid, Jsonb *params);

/*
 * Set the root's revision of a request made before it was known (its
 * local_hash does not depend on it, its hash is computed again), and the
 * table's shape as reading the revision left it.
 */
extern void pm_cache_request_set_revision(PmCacheRequest *req,
										  int64 root_revision);

/*
 * Start loading what a lookup of req will read first in this backend (a
 * hint: call it before looking up the root's revision, so that the two
 * overlap).
 */
extern void pm_cache_prefetch(const PmCacheRequest *req);

/*
 * A copy of the cached rendering for req, when there is one and every
 * prompt it was built from still has the same revision for the caller;
 * else NULL.  With borrow, a rendering served from the session's own copy
 * of the entry is returned without copying it: it stays valid until the
 * next call of pm_cache_lookup or pm_cache_store.
 */
extern text *pm_cache_lookup(const PmCacheRequest *req, bool borrow);

/*
 * Keep output for req, built from deps (a List of PmCacheDependency *).
 * False when it was not kept (too large, no room, or, in a full cache, not
 * missed before: see "Admission" in pm_cache.c; always_admit skips that).
 */
extern bool pm_cache_store(const PmCacheRequest *req, List *deps, text *output,
						   bool always_admit);

/* Drop renderings; see pm_invalidate() in README.md. */
extern int64 pm_cache_invalidate(const char *prompt_id, Jsonb *params);

/* Drop every entry and reset the counters. */
extern void pm_cache_reset(void);

extern void pm_cache_get_stats(PmCacheStats *stats);

/* Every entry, as a List of PmCacheEntryInfo *. */
extern List *pm_cache_list_entries(void);

#endif							/* PM_CACHE_H */
