/*-------------------------------------------------------------------------
 *
 * pm_cache.c
 *		The shared render cache: rendered prompts in shared memory, used by
 *		every backend of the server.
 *
 * What an entry is
 * ----------------
 * An entry is one rendering.  Its key (PmCacheKey) holds everything that
 * can change the output: the database, the pm_prompts table's OID (new
 * after DROP/CREATE EXTENSION) and shape (new after a rewrite, or after a
 * column rendering reads is replaced by another: a migration that drops
 * content and renames another column to it changes no row version, yet
 * every row's text), the root prompt and its revision (or the
 * text of an inline template), a hash of the exact bytes of the params
 * argument, and a hash of the output-changing settings.  Its blob, in a
 * DSA area, holds the prompt id (or template text) and params bytes, which
 * a lookup compares byte for byte (the hashes only find the entry), the
 * prompts the rendering included with their revisions, and the output.
 * The root may be a reference ("id@3", "id@production"): its key then
 * holds the value pm_visibility_ref gives it, and each include is recorded
 * under the key of the reference that read it (pm_ref_key: "id", "id@3",
 * "id@production", and "id@production?" for an include without '@' in a
 * render of a label, whose value says whether the label was set and what
 * it or the head resolved to).
 *
 * Why a hit is never wrong
 * ------------------------
 * Revisions come from a sequence: a new one on every insert and every
 * update of what a render reads; the caches compare a row's "version",
 * its revision combined with the transaction that wrote it, so that even a
 * sequence set back (a data-only restore) never makes two row versions
 * look alike (pm_row_version).  An entry is served only when the root
 * prompt (through the key) and every included prompt (checked on each
 * hit) have, under the caller's own snapshot, the versions the entry was
 * built from.  What the
 * caller's snapshot sees is learned from the table itself, once per
 * snapshot (pm_visibility.c), never from triggers or invalidation
 * messages: so a hit follows commits and rollbacks, REPEATABLE READ
 * snapshots, the caller's own uncommitted changes and a hot standby's
 * replay exactly as an uncached render would.  The cache is not used at
 * all for a role without SELECT on pm_prompts or subject to a row-level
 * security policy (pm_visibility_unrestricted), nor for a rendering that
 * read a version or a label unless the role reads pm_prompt_versions and
 * pm_labels as freely (pm_visibility_refs_unrestricted).  A render that failed, or
 * that met a missing prompt, is not stored.
 *
 * Invalidation (pm_invalidate), the TTL and eviction only free memory;
 * correctness never depends on them.
 *
 * Locking protocol
 * ----------------
 * The index is a shared hash table split into PM_CACHE_PARTITIONS
 * partitions, each with its own LWLock of the "prompt_manager" tranche; a
 * key's hash picks its partition.
 *	 - A lookup takes its partition's lock in shared mode, copies the blob
 *	   into backend memory, bumps the entry's atomic counters and releases
 *	   the lock.  Lookups never take an exclusive lock.
 *	 - A store allocates and fills its blob with no lock held, then takes
 *	   its partition's lock exclusively to enter it (freeing the blob of an
 *	   entry it replaces: no reader can be copying it then).
 *	 - Eviction, invalidation, reset and listing take every partition lock,
 *	   always in partition order (exclusive, or shared for listing).
 *	 - The DSA area has its own internal locks (a separate tranche); it is
 *	   called with or without our locks held, never the other way round.
 *	 - Counters are atomics, spread over PM_COUNTER_SHARDS cache lines so
 *	   that backends do not contend on one.
 *	 - The doorkeeper (see "Admission") takes no lock: its bits are set
 *	   with atomic OR and its window count is an atomic; the backend whose
 *	   compare-and-swap resets the count clears the older half with plain
 *	   atomic writes, then advances the epoch after a write barrier.  A
 *	   record lost in that race only delays an admission.
 *	 - A repeated hit is served from the backend's own copy of the entry
 *	   with no lock at all (see "Backend-local copies" below); removing an
 *	   entry advances an atomic generation counter, which drops the copies.
 * Rendering itself never happens under any of these locks, and no ERROR
 * is raised while holding one except by palloc running out of memory
 * (LWLocks are released by error recovery).
 *
 * Memory
 * ------
 * Rendered text lives in a DSA area created in place inside the main
 * shared memory segment, limited to prompt_manager.cache_size: the area
 * never grows beyond it (no extra DSM segments).  The index holds at most
 * prompt_manager.cache_max_entries entries.  When either is full, about
 * the least recently used tenth of the entries is evicted at once (found
 * from a sample, see pm_cache_evict), with every expired entry.  A
 * rendering larger than prompt_manager.cache_max_entry_size, or one that
 * still does not fit, is simply not cached.
 *
 * Admission
 * ---------
 * While the cache has room, every rendering is stored.  Once it is full
 * (seven eighths of cache_max_entries or of the area in use), storing
 * means evicting, so a rendering is admitted only the second time it is
 * missed within a recent window (a "doorkeeper", as in TinyLFU): a query
 * that renders a million rows once each neither pays for a million stores
 * and evictions nor pushes the renderings that other sessions repeat out of
 * the cache.  The doorkeeper is a bitmap in shared memory in two halves,
 * one per window of recorded keys (two bits per key, set with atomic OR,
 * so no lock); a window ends after as many keys as a sixteenth of a half's
 * bits, and the next one clears the half of the window before last, so a
 * key is remembered for one to two windows and keys seen once long ago
 * age out.  A false positive only admits a rendering early.  pm_preload
 * always stores.  Renderings turned away are counted as skipped.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/dsa.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pm_compat.h"
#include "pm_cache.h"
#include "pm_ref.h"
#include "pm_settings.h"
#include "pm_storage.h"
#include "pm_visibility.h"

#define PM_CACHE_PARTITIONS 16
#define PM_COUNTER_SHARDS	16
#define PM_LOCK_TRANCHE		"prompt_manager"
#define PM_DSA_TRANCHE		"prompt_manager_dsa"

/* Counters of the pm_cache view; one set per shard. */
typedef struct PmCacheCounters
{
	pg_atomic_uint64 hits;
	pg_atomic_uint64 misses;
	pg_atomic_uint64 inserts;
	pg_atomic_uint64 evictions;
	pg_atomic_uint64 expirations;
	pg_atomic_uint64 invalidations;
	pg_atomic_uint64 skipped;
} PmCacheCounters;

typedef union PmCacheCountersPadded
{
	PmCacheCounters c;
	char		pad[PG_CACHE_LINE_SIZE];
} PmCacheCountersPadded;

/* The fixed part of the cache in shared memory; the DSA area follows. */
typedef struct PmCacheShared
{
	int			dsa_tranche;
	Size		area_size;
	int			max_entries;
	pg_atomic_uint64 nentries;
	pg_atomic_uint64 bytes_used;	/* sum of the entries' blob sizes */
	pg_atomic_uint64 clock;		/* advanced by every store: recency */
	pg_atomic_uint64 generation;	/* advanced when entries are removed */
	pg_atomic_uint64 stats_reset;	/* a TimestampTz */
	uint64		seen_bits;		/* bits in each half of the doorkeeper */
	/* the doorkeeper's, written by misses: not on the lines lookups read */
	char		pad[PG_CACHE_LINE_SIZE];
	pg_atomic_uint64 seen_recorded; /* keys recorded in this window */
	pg_atomic_uint64 seen_epoch;	/* windows so far: which half is this one */
	char		pad2[PG_CACHE_LINE_SIZE];
	PmCacheCountersPadded counters[PM_COUNTER_SHARDS];
} PmCacheShared;

/* An entry of the index. */
typedef struct PmCacheEntry
{
	PmCacheKey	key;			/* must be first */
	dsa_pointer blob;
	uint32		blob_size;
	TimestampTz created;
	pg_atomic_uint64 hits;
	pg_atomic_uint64 last_used; /* PmCacheShared.clock when last served */
} PmCacheEntry;

/*
 * The blob: this header, then the name (prompt id or template text), the
 * params bytes, ndeps PmCacheBlobDep, their names, and the output text
 * (a whole varlena, ready to return).
 */
typedef struct PmCacheBlob
{
	uint32		name_len;
	uint32		params_len;
	uint32		ndeps;
	uint32		dep_names_len;
	uint32		output_size;	/* VARSIZE of the output */
} PmCacheBlob;

typedef struct PmCacheBlobDep
{
	int64		revision;
	uint32		name_off;		/* in the dependency names */
	uint32		name_len;
} PmCacheBlobDep;

#define PM_BLOB_NAME(b)		((char *) (b) + MAXALIGN(sizeof(PmCacheBlob)))
#define PM_BLOB_PARAMS(b)	(PM_BLOB_NAME(b) + (b)->name_len)
#define PM_BLOB_DEPS(b) \
	((PmCacheBlobDep *) ((char *) (b) + MAXALIGN(sizeof(PmCacheBlob)) + \
						 MAXALIGN((b)->name_len + (b)->params_len)))
#define PM_BLOB_DEP_NAMES(b)	((char *) (PM_BLOB_DEPS(b) + (b)->ndeps))
#define PM_BLOB_OUTPUT(b) \
	((char *) (b) + MAXALIGN(sizeof(PmCacheBlob)) + \
	 MAXALIGN((b)->name_len + (b)->params_len) + \
	 MAXALIGN(sizeof(PmCacheBlobDep) * (b)->ndeps + (b)->dep_names_len))

static PmCacheShared *pm_shared = NULL;
static pg_atomic_uint64 *pm_seen = NULL;	/* the doorkeeper's words */
static HTAB *pm_index = NULL;
static LWLockPadded *pm_locks = NULL;
static dsa_area *pm_area = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*
 * Hash functions of the key: it is made of hashes already, so fold them
 * rather than hash the whole key again.  pm_key_fold leaves the root's
 * revision out: the backend's copies are found by it (PmCacheRequest's
 * local_hash), so that a lookup can start loading its copy before the
 * revision is looked up (pm_cache_prefetch).  The shared index's hash
 * (pm_key_hash) folds the revision in too, so that the entries of a
 * prompt's many revisions do not make one long chain.
 */
static inline uint64
pm_key_fold(const PmCacheKey *k)
{
	return k->name_hash ^ (k->params_hash * UINT64CONST(0x9E3779B97F4A7C15)) ^
		(k->settings_hash >> 1) ^
		((uint64) k->dbid << 32) ^ k->relid ^ k->table_shape ^ (k->is_inline ? 1 : 0);
}

static inline uint32
pm_fold32(uint64 h)
{
	return (uint32) (h ^ (h >> 32));
}

static uint32
pm_key_hash(const void *key, Size keysize)
{
	const PmCacheKey *k = (const PmCacheKey *) key;

	return pm_fold32(pm_key_fold(k) ^ ((uint64) k->root_revision << 17));
}

/* Size of the DSA area: the setting, but no less than DSA can work with. */
static Size
pm_area_size(void)
{
	return Max((Size) pm_cache_size_kb * 1024, dsa_minimum_size());
}

static Size
pm_shared_size(void)
{
	return add_size(MAXALIGN(sizeof(PmCacheShared)), pm_area_size());
}

/*
 * Bits in each half of the doorkeeper (see "Admission"): at least 8 per
 * entry the index may hold, rounded up to a power of two, between 2^16
 * (8 kB) and 2^26 (8 MB).
 */
static uint64
pm_seen_bits(void)
{
	uint64		bits = UINT64CONST(1) << 16;

	while (bits < (uint64) pm_cache_max_entries * 8 && bits < (UINT64CONST(1) << 26))
		bits <<= 1;
	return bits;
}

/*
 * Bytes of the doorkeeper's two halves of bits bits each, as words (a
 * pg_atomic_uint64 is larger than 8 bytes where it is emulated).
 */
static Size
pm_seen_size(uint64 bits)
{
	return mul_size(2 * bits / 64, sizeof(pg_atomic_uint64));
}

static void *
pm_area_place(void)
{
	return (char *) pm_shared + MAXALIGN(sizeof(PmCacheShared));
}

static void
pm_cache_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(add_size(pm_shared_size(),
											 hash_estimate_size(pm_cache_max_entries,
																sizeof(PmCacheEntry))),
									pm_seen_size(pm_seen_bits())));
	RequestNamedLWLockTranche(PM_LOCK_TRANCHE, PM_CACHE_PARTITIONS);
}

/* Create (in the postmaster) or find the shared state. */
static void
pm_cache_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pm_shared = ShmemInitStruct("prompt_manager cache", pm_shared_size(), &found);
	if (!found)
	{
		dsa_area   *area;
		int			i;

		memset(pm_shared, 0, sizeof(PmCacheShared));
		pm_shared->dsa_tranche = LWLockNewTrancheId();
		pm_shared->area_size = pm_area_size();
		pm_shared->max_entries = pm_cache_max_entries;
		pg_atomic_init_u64(&pm_shared->nentries, 0);
		pg_atomic_init_u64(&pm_shared->bytes_used, 0);
		pg_atomic_init_u64(&pm_shared->clock, 1);
		pg_atomic_init_u64(&pm_shared->generation, 1);
		pg_atomic_init_u64(&pm_shared->stats_reset, (uint64) GetCurrentTimestamp());
		pg_atomic_init_u64(&pm_shared->seen_recorded, 0);
		pg_atomic_init_u64(&pm_shared->seen_epoch, 0);
		pm_shared->seen_bits = pm_seen_bits();
		for (i = 0; i < PM_COUNTER_SHARDS; i++)
		{
			PmCacheCounters *c = &pm_shared->counters[i].c;

			pg_atomic_init_u64(&c->hits, 0);
			pg_atomic_init_u64(&c->misses, 0);
			pg_atomic_init_u64(&c->inserts, 0);
			pg_atomic_init_u64(&c->evictions, 0);
			pg_atomic_init_u64(&c->expirations, 0);
			pg_atomic_init_u64(&c->invalidations, 0);
			pg_atomic_init_u64(&c->skipped, 0);
		}

		/* the area may never grow past its place in the main segment */
		area = dsa_create_in_place(pm_area_place(), pm_shared->area_size,
								   pm_shared->dsa_tranche, NULL);
		dsa_pin(area);
		dsa_set_size_limit(area, pm_shared->area_size);
		dsa_detach(area);
	}

	pm_seen = ShmemInitStruct("prompt_manager cache doorkeeper",
							  pm_seen_size(pm_shared->seen_bits), &found);
	if (!found)
	{
		uint64		i;

		for (i = 0; i < 2 * pm_shared->seen_bits / 64; i++)
			pg_atomic_init_u64(&pm_seen[i], 0);
	}

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(PmCacheKey);
	info.entrysize = sizeof(PmCacheEntry);
	info.hash = pm_key_hash;
	info.num_partitions = PM_CACHE_PARTITIONS;
	pm_index = ShmemInitHash("prompt_manager cache index",
							 pm_cache_max_entries, pm_cache_max_entries,
							 &info,
							 HASH_ELEM | HASH_FUNCTION | HASH_PARTITION | HASH_FIXED_SIZE);
	pm_locks = GetNamedLWLockTranche(PM_LOCK_TRANCHE);
	LWLockRelease(AddinShmemInitLock);
}

void
pm_cache_install_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pm_cache_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pm_cache_shmem_startup;
}

/* Attach this backend to the DSA area, once. */
static bool
pm_cache_attach(void)
{
	MemoryContext old;

	if (pm_area != NULL)
		return true;
	if (pm_shared == NULL || pm_index == NULL)
		return false;

	LWLockRegisterTranche(pm_shared->dsa_tranche, PM_DSA_TRANCHE);
	old = MemoryContextSwitchTo(TopMemoryContext);
	pm_area = dsa_attach_in_place(pm_area_place(), NULL);
	MemoryContextSwitchTo(old);
	dsa_pin_mapping(pm_area);
	on_shmem_exit(dsa_on_shmem_exit_release_in_place,
				  PointerGetDatum(pm_area_place()));
	return true;
}

bool
pm_cache_active(void)
{
	return pm_cache_enabled && pm_cache_attach();
}

/* This backend's shard of the counters. */
static inline PmCacheCounters *
pm_counters(void)
{
	return &pm_shared->counters[PM_MY_PROC_NUMBER % PM_COUNTER_SHARDS].c;
}

static inline LWLock *
pm_partition_lock(uint32 hash)
{
	return &pm_locks[hash % PM_CACHE_PARTITIONS].lock;
}

static void
pm_lock_all(LWLockMode mode)
{
	int			i;

	for (i = 0; i < PM_CACHE_PARTITIONS; i++)
		LWLockAcquire(&pm_locks[i].lock, mode);
}

static void
pm_unlock_all(void)
{
	int			i;

	for (i = PM_CACHE_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&pm_locks[i].lock);
}

void
pm_cache_request_init(PmCacheRequest *req, const char *name, uint32 name_len,
					  uint64 name_hash, bool is_inline, int64 root_revision,
					  Oid relid, Jsonb *params)
{
	memset(req, 0, sizeof(PmCacheRequest));
	req->key.dbid = MyDatabaseId;
	req->key.relid = relid;
	req->key.table_shape = pm_storage_table()->shape;
	req->key.root_revision = root_revision;
	req->key.name_hash = name_hash;
	req->key.is_inline = is_inline;
	req->key.settings_hash = pm_output_settings_hash();
	req->name = name;
	req->name_len = name_len;
	if (params != NULL)
	{
		req->params = VARDATA_ANY(params);
		req->params_len = VARSIZE_ANY_EXHDR(params);
		req->key.params_hash = XXH3_64bits(req->params, req->params_len);
	}
	req->local_hash = pm_fold32(pm_key_fold(&req->key));
	req->hash = pm_key_hash(&req->key, sizeof(PmCacheKey));
}

void
pm_cache_request_set_revision(PmCacheRequest *req, int64 root_revision)
{
	const PmTableInfo *table = pm_storage_table();

	req->key.root_revision = root_revision;
	if (unlikely(table->relid != req->key.relid ||
				 table->shape != req->key.table_shape))
	{
		/*
		 * Reading the revision took in a change of the table's shape:
		 * without proof for the snapshot, pm_visibility_unrestricted does
		 * not lock pm_prompts, and the read that does may wait for an
		 * ALTER TABLE to commit.  The key must name the table the revision
		 * was read from, or it could find a rendering of another column's
		 * text.
		 */
		req->key.relid = table->relid;
		req->key.table_shape = table->shape;
		req->local_hash = pm_fold32(pm_key_fold(&req->key));
	}
	req->hash = pm_key_hash(&req->key, sizeof(PmCacheKey));
}

/*
 * Is something created at created older than prompt_manager.cache_ttl at
 * now?  In 64-bit microseconds: the TTL goes up to INT_MAX seconds, and
 * TimestampDifferenceExceeds takes an int of milliseconds, which a TTL of
 * 25 days or more (times 1000) would overflow.
 */
static inline bool
pm_older_than_ttl(TimestampTz created, TimestampTz now)
{
	return pm_cache_ttl > 0 &&
		now - created >= (int64) pm_cache_ttl * USECS_PER_SEC;
}

/* Is the entry older than prompt_manager.cache_ttl? */
static inline bool
pm_entry_expired(const PmCacheEntry *entry, TimestampTz now)
{
	return pm_older_than_ttl(entry->created, now);
}

/* Do the blob's name and params match the request, byte for byte? */
static inline bool
pm_blob_matches(const PmCacheBlob *blob, const PmCacheRequest *req)
{
	return blob->name_len == req->name_len &&
		blob->params_len == req->params_len &&
		memcmp(PM_BLOB_NAME(blob), req->name, req->name_len) == 0 &&
		(req->params_len == 0 ||
		 memcmp(PM_BLOB_PARAMS(blob), req->params, req->params_len) == 0);
}

/*
 * Backend-local copies
 * --------------------
 * A backend keeps a copy of the entries it was served lately, so that a
 * repeated hit takes no lock at all.  A copy is used under exactly the
 * rules of the shared entry (same key and bytes, TTL, included prompts'
 * revisions checked against the caller's snapshot), and all copies are
 * dropped as soon as any entry leaves the shared cache (invalidation,
 * eviction, reset: the shared generation counter moves), so that a copy
 * never outlives its entry.  The copies are bounded in number and size.
 *
 * A hit of a session that renders many prompts finds its copy in memory
 * the CPU has not cached, so its layout is for few and overlapping loads:
 * the table's slot is 32 bytes at most, and the copy holds the key, then
 * the blob (its header, name, params, included prompts and output) in one
 * allocation, whose first PM_LOCAL_PREFETCH_BYTES the lookup asks for at
 * once (pm_prefetch) as soon as it has the slot.  The slot is found by a
 * hash without the root's revision (local_hash), so pm_cache_prefetch can
 * ask for it before the caller has looked the revision up; a copy of
 * another revision of the same rendering takes the same slot.
 */
#define PM_LOCAL_MAX_ENTRIES 1024
#define PM_LOCAL_MAX_BYTES	(8 * 1024 * 1024)

/* How much of a copy a lookup prefetches (the CPU streams the rest). */
#define PM_LOCAL_PREFETCH_BYTES 2048

typedef struct PmLocalEntry
{
	uint32		hash;			/* PmCacheRequest.local_hash */
	char		status;			/* simplehash's */
	uint32		copy_size;
	TimestampTz created;
	char	   *copy;			/* the key, then a copy of the shared blob */
} PmLocalEntry;

StaticAssertDecl(sizeof(PmLocalEntry) <= 32, "PmLocalEntry fits in 32 bytes");

#define PM_LOCAL_KEY(local)		((PmCacheKey *) (local)->copy)
#define PM_LOCAL_BLOB(local) \
	((PmCacheBlob *) ((local)->copy + MAXALIGN(sizeof(PmCacheKey))))

#define SH_PREFIX		pm_copies
#define SH_ELEMENT_TYPE PmLocalEntry
#define SH_KEY_TYPE		uint32
#define SH_KEY			hash
#define SH_HASH_KEY(tb, key) (key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

static MemoryContext pm_local_cxt = NULL;
static pm_copies_hash *pm_local = NULL;
static uint64 pm_local_generation = 0;
static Size pm_local_bytes = 0;

/* Drop every copy, and start again for generation. */
static void
pm_local_reset(uint64 generation)
{
	if (pm_local_cxt == NULL)
		pm_local_cxt = AllocSetContextCreate(TopMemoryContext,
											 "prompt_manager cache copies",
											 ALLOCSET_DEFAULT_SIZES);
	pm_local = NULL;			/* until it exists again (palloc may fail) */
	MemoryContextReset(pm_local_cxt);
	pm_local = pm_copies_create(pm_local_cxt, 64, NULL);
	pm_local_bytes = 0;
	pm_local_generation = generation;
}

/* Keep a copy of a blob just served from the shared entry. */
static void
pm_local_keep(const PmCacheRequest *req, TimestampTz created,
			  const char *blob, Size blob_size)
{
	PmLocalEntry *local;
	bool		found;
	Size		copy_size = MAXALIGN(sizeof(PmCacheKey)) + blob_size;
	char	   *copy;

	if (pm_local->members >= PM_LOCAL_MAX_ENTRIES ||
		pm_local_bytes + copy_size > PM_LOCAL_MAX_BYTES)
		pm_local_reset(pm_local_generation);

	/* made before the table changes: an allocation may fail */
	copy = MemoryContextAlloc(pm_local_cxt, copy_size);
	memcpy(copy, &req->key, sizeof(PmCacheKey));
	memcpy(copy + MAXALIGN(sizeof(PmCacheKey)), blob, blob_size);
	local = pm_copies_insert(pm_local, req->local_hash, &found);
	if (found)
	{
		/* another key with the same hash (another revision of its root) */
		pm_local_bytes -= local->copy_size;
		pfree(local->copy);
	}
	local->created = created;
	local->copy_size = copy_size;
	local->copy = copy;
	pm_local_bytes += copy_size;
}

/*
 * The output of a blob (a copy, in the caller's context, unless borrow)
 * when every prompt it included still has the same revision for the
 * caller; else NULL.
 */
static text *
pm_blob_output(const PmCacheBlob *blob, bool borrow)
{
	PmCacheBlobDep *dep = PM_BLOB_DEPS(blob);
	char	   *names = PM_BLOB_DEP_NAMES(blob);
	uint32		i;
	text	   *output;

	for (i = 0; i < blob->ndeps; i++)
	{
		const char *name = names + dep[i].name_off;
		int64		revision;
		bool		same;

		if (memchr(name, '@', dep[i].name_len) == NULL)
		{
			/* a head, the common case */
			char	   *prompt_id = pnstrdup(name, dep[i].name_len);

			same = pm_visibility_revision(prompt_id, &revision) &&
				revision == dep[i].revision;
			pfree(prompt_id);
		}
		else
		{
			/* a version or a label: only for a role that reads them freely */
			PmRef		ref;

			pm_ref_from_key(name, dep[i].name_len, &ref);
			same = pm_visibility_refs_unrestricted() &&
				pm_visibility_ref(&ref, &revision) &&
				revision == dep[i].revision;
		}
		if (!same)
			return NULL;
	}
	if (borrow)
		return (text *) PM_BLOB_OUTPUT(blob);
	output = palloc(blob->output_size);
	memcpy(output, PM_BLOB_OUTPUT(blob), blob->output_size);
	return output;
}

void
pm_cache_prefetch(const PmCacheRequest *req)
{
	if (pm_local != NULL)
	{
		PmLocalEntry *slot = &pm_local->data[pm_copies_initial_bucket(pm_local, req->local_hash)];

		/* both ends: the array is not aligned to cache lines */
		pm_prefetch(slot);
		pm_prefetch((char *) (slot + 1) - 1);
	}
}

text *
pm_cache_lookup(const PmCacheRequest *req, bool borrow)
{
	LWLock	   *lock = pm_partition_lock(req->hash);
	PmCacheCounters *counters = pm_counters();
	PmCacheEntry *entry;
	PmLocalEntry *local;
	uint64		generation = pg_atomic_read_u64(&pm_shared->generation);
	text	   *output = NULL;
	char	   *copy = NULL;	/* of the shared blob */
	TimestampTz created = 0;
	bool		expired = false;

	/* a copy of our own first: no lock */
	if (pm_local == NULL || generation != pm_local_generation)
		pm_local_reset(generation);
	Assert(req->hash == pm_key_hash(&req->key, sizeof(PmCacheKey)));
	local = pm_copies_lookup(pm_local, req->local_hash);
	if (local != NULL)
	{
		Size		off;

		for (off = 0; off < Min(local->copy_size, PM_LOCAL_PREFETCH_BYTES);
			 off += PG_CACHE_LINE_SIZE)
			pm_prefetch(local->copy + off);
	}
	if (local != NULL && memcmp(PM_LOCAL_KEY(local), &req->key, sizeof(PmCacheKey)) == 0 &&
		pm_blob_matches(PM_LOCAL_BLOB(local), req))
	{
		if (pm_cache_ttl > 0 &&
			pm_older_than_ttl(local->created, GetCurrentTimestamp()))
		{
			expired = true;
			goto done;			/* the shared entry is as old */
		}
		output = pm_blob_output(PM_LOCAL_BLOB(local), borrow);
		if (output != NULL)
			goto done;
		/* an included prompt changed: the shared entry may be newer */
	}

	LWLockAcquire(lock, LW_SHARED);
	entry = hash_search_with_hash_value(pm_index, &req->key, req->hash,
										HASH_FIND, NULL);
	if (entry != NULL)
	{
		if (pm_cache_ttl > 0 && pm_entry_expired(entry, GetCurrentTimestamp()))
			expired = true;
		else
		{
			PmCacheBlob *blob = dsa_get_address(pm_area, entry->blob);

			if (pm_blob_matches(blob, req))
			{
				uint64		now_clock = pg_atomic_read_u64(&pm_shared->clock);

				copy = palloc(entry->blob_size);
				memcpy(copy, blob, entry->blob_size);
				created = entry->created;
				pg_atomic_fetch_add_u64(&entry->hits, 1);
				/* written only when it changes: the line is shared */
				if (pg_atomic_read_u64(&entry->last_used) != now_clock)
					pg_atomic_write_u64(&entry->last_used, now_clock);
			}
		}
	}
	LWLockRelease(lock);

	if (copy != NULL)
	{
		/* the included prompts must still have the same revisions for us */
		output = pm_blob_output((PmCacheBlob *) copy, false);
		if (output != NULL)
			pm_local_keep(req, created, copy,
						  MAXALIGN(sizeof(PmCacheBlob)) +
						  MAXALIGN(((PmCacheBlob *) copy)->name_len + ((PmCacheBlob *) copy)->params_len) +
						  MAXALIGN(sizeof(PmCacheBlobDep) * ((PmCacheBlob *) copy)->ndeps +
								   ((PmCacheBlob *) copy)->dep_names_len) +
						  ((PmCacheBlob *) copy)->output_size);
		pfree(copy);
	}

done:
	if (expired)
		pg_atomic_fetch_add_u64(&counters->expirations, 1);
	if (output != NULL)
		pg_atomic_fetch_add_u64(&counters->hits, 1);
	else
		pg_atomic_fetch_add_u64(&counters->misses, 1);
	return output;
}

/* Remove an entry whose partition lock is held exclusively. */
static void
pm_remove_entry(PmCacheEntry *entry)
{
	pg_atomic_fetch_add_u64(&pm_shared->generation, 1);
	dsa_free(pm_area, entry->blob);
	pg_atomic_fetch_sub_u64(&pm_shared->bytes_used, entry->blob_size);
	pg_atomic_fetch_sub_u64(&pm_shared->nentries, 1);
	hash_search(pm_index, &entry->key, HASH_REMOVE, NULL);
}

static int
pm_uint64_order(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * Evict every expired entry and about the least recently used tenth of the
 * rest (at least one entry).  Takes every partition lock.  The tenth is
 * found without sorting the whole index: a sorted sample of the entries'
 * last_used values gives the threshold, then one pass removes the entries
 * at or below it.
 */
#define PM_EVICT_SAMPLE 512

static void
pm_cache_evict(void)
{
	HASH_SEQ_STATUS seq;
	PmCacheEntry *entry;
	uint64		sample[PM_EVICT_SAMPLE];
	int			nsample = 0;
	long		n;
	long		i = 0;
	long		step;
	long		evicted = 0;
	uint64		threshold;
	TimestampTz now = GetCurrentTimestamp();

	pm_lock_all(LW_EXCLUSIVE);
	n = hash_get_num_entries(pm_index);
	if (n == 0)
	{
		pm_unlock_all();
		return;
	}

	/* an evenly spread sample of last_used */
	step = Max(n / PM_EVICT_SAMPLE, 1);
	hash_seq_init(&seq, pm_index);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		if (i++ % step == 0 && nsample < PM_EVICT_SAMPLE)
			sample[nsample++] = pg_atomic_read_u64(&entry->last_used);
	}
	qsort(sample, nsample, sizeof(uint64), pm_uint64_order);
	threshold = sample[nsample / 10];

	hash_seq_init(&seq, pm_index);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		if (pg_atomic_read_u64(&entry->last_used) <= threshold ||
			pm_entry_expired(entry, now))
		{
			pm_remove_entry(entry);
			evicted++;
		}
	}
	pg_atomic_fetch_add_u64(&pm_counters()->evictions, evicted);
	pm_unlock_all();
}

/*
 * Records are counted by sampling: a key whose hash has its top five bits
 * clear (one in 32) counts for 32, so that backends rarely write the shared
 * count, and no count is lost when a backend exits.
 */
#define PM_SEEN_SAMPLE_SHIFT 59
#define PM_SEEN_SAMPLE_WEIGHT 32

/*
 * The doorkeeper (see "Admission"): was the key recorded in this window or
 * the one before?  Records it in this window.  Two bits per key in each
 * window's half of the bitmap, set with atomic OR; whichever backend
 * records the key that fills the window starts the next one, clearing the
 * half that held the window before last.  A key recorded at most a window
 * ago is therefore found.  Lock-free: a record racing with the switch may
 * land in either half or be cleared, which only delays that key's
 * admission.  As the count is sampled, a window holds about, not exactly,
 * a sixteenth of a half's bits in keys.
 */
static bool
pm_seen_before(const PmCacheKey *key)
{
	uint64		h = XXH3_64bits(key, sizeof(PmCacheKey));
	uint64		bits = pm_shared->seen_bits;
	uint64		b1 = h & (bits - 1);
	uint64		b2 = ((h >> 32) | (h << 32)) & (bits - 1);
	uint64		bit1 = UINT64CONST(1) << (b1 % 64);
	uint64		bit2 = UINT64CONST(1) << (b2 % 64);
	uint64		epoch = pg_atomic_read_u64(&pm_shared->seen_epoch);
	pg_atomic_uint64 *now = pm_seen + (epoch % 2) * (bits / 64);
	pg_atomic_uint64 *before = pm_seen + ((epoch + 1) % 2) * (bits / 64);
	bool		seen_now;
	bool		seen_before;
	uint64		recorded;

	seen_now = (pg_atomic_fetch_or_u64(&now[b1 / 64], bit1) & bit1) != 0;
	seen_now = ((pg_atomic_fetch_or_u64(&now[b2 / 64], bit2) & bit2) != 0) && seen_now;
	if (seen_now)
		return true;
	seen_before = (pg_atomic_read_u64(&before[b1 / 64]) & bit1) != 0 &&
		(pg_atomic_read_u64(&before[b2 / 64]) & bit2) != 0;

	if ((h >> PM_SEEN_SAMPLE_SHIFT) != 0)
		return seen_before;
	recorded = pg_atomic_add_fetch_u64(&pm_shared->seen_recorded, PM_SEEN_SAMPLE_WEIGHT);
	if (recorded >= bits / 16 &&
		pg_atomic_compare_exchange_u64(&pm_shared->seen_recorded, &recorded, 0))
	{
		uint64		i;

		/*
		 * This backend starts the next window, in the half of the window
		 * before last (of the epoch as it is now); the key just recorded
		 * stays in what becomes the window before.  The half is cleared
		 * before the new epoch is published.
		 */
		epoch = pg_atomic_read_u64(&pm_shared->seen_epoch);
		before = pm_seen + ((epoch + 1) % 2) * (bits / 64);
		for (i = 0; i < bits / 64; i++)
			pg_atomic_write_u64(&before[i], 0);
		pg_write_barrier();
		pg_atomic_fetch_add_u64(&pm_shared->seen_epoch, 1);
	}
	return seen_before;
}

/*
 * Is the cache full (see "Admission")?  Seven eighths of its entries or of
 * its area in use: an eviction frees a tenth of the entries, so a cache
 * that evicts stays full, rather than admitting everything again until
 * the next eviction.
 */
static bool
pm_cache_full(Size size)
{
	uint64		max = (uint64) pm_shared->max_entries;

	return pg_atomic_read_u64(&pm_shared->nentries) >= max - max / 8 ||
		pg_atomic_read_u64(&pm_shared->bytes_used) + size >
		pm_shared->area_size - pm_shared->area_size / 8;
}

bool
pm_cache_store(const PmCacheRequest *req, List *deps, text *output,
			   bool always_admit)
{
	PmCacheCounters *counters = pm_counters();
	LWLock	   *lock = pm_partition_lock(req->hash);
	uint32		ndeps = list_length(deps);
	uint32		dep_names_len = 0;
	Size		size;
	dsa_pointer dp;
	PmCacheBlob *blob;
	PmCacheBlobDep *blob_deps;
	char	   *names;
	PmCacheEntry *entry;
	bool		found;
	ListCell   *lc;
	uint32		i;

	Assert(req->hash == pm_key_hash(&req->key, sizeof(PmCacheKey)));
	foreach(lc, deps)
		dep_names_len += strlen(((PmCacheDependency *) lfirst(lc))->name);

	size = MAXALIGN(sizeof(PmCacheBlob)) +
		MAXALIGN((Size) req->name_len + req->params_len) +
		MAXALIGN(sizeof(PmCacheBlobDep) * ndeps + dep_names_len) +
		VARSIZE_ANY(output);
	if (size > (Size) pm_cache_max_entry_size_kb * 1024 ||
		size > pm_shared->area_size / 4)
	{
		pg_atomic_fetch_add_u64(&counters->skipped, 1);
		return false;
	}

	/* when it is full, only what was missed before (see "Admission") */
	if (!always_admit && pm_cache_full(size) && !pm_seen_before(&req->key))
	{
		pg_atomic_fetch_add_u64(&counters->skipped, 1);
		return false;
	}

	/* room first: in the index, then in the area */
	if (pg_atomic_read_u64(&pm_shared->nentries) >= (uint64) pm_shared->max_entries)
		pm_cache_evict();
	dp = dsa_allocate_extended(pm_area, size, DSA_ALLOC_NO_OOM);
	if (!DsaPointerIsValid(dp))
	{
		pm_cache_evict();
		dp = dsa_allocate_extended(pm_area, size, DSA_ALLOC_NO_OOM);
		if (!DsaPointerIsValid(dp))
		{
			pg_atomic_fetch_add_u64(&counters->skipped, 1);
			return false;
		}
	}

	blob = dsa_get_address(pm_area, dp);
	blob->name_len = req->name_len;
	blob->params_len = req->params_len;
	blob->ndeps = ndeps;
	blob->dep_names_len = dep_names_len;
	blob->output_size = VARSIZE_ANY(output);
	memcpy(PM_BLOB_NAME(blob), req->name, req->name_len);
	if (req->params_len > 0)
		memcpy(PM_BLOB_PARAMS(blob), req->params, req->params_len);
	blob_deps = PM_BLOB_DEPS(blob);
	names = PM_BLOB_DEP_NAMES(blob);
	i = 0;
	dep_names_len = 0;
	foreach(lc, deps)
	{
		PmCacheDependency *dep = (PmCacheDependency *) lfirst(lc);
		uint32		len = strlen(dep->name);

		blob_deps[i].revision = dep->revision;
		blob_deps[i].name_off = dep_names_len;
		blob_deps[i].name_len = len;
		memcpy(names + dep_names_len, dep->name, len);
		dep_names_len += len;
		i++;
	}
	memcpy(PM_BLOB_OUTPUT(blob), output, VARSIZE_ANY(output));

	LWLockAcquire(lock, LW_EXCLUSIVE);
	entry = hash_search_with_hash_value(pm_index, &req->key, req->hash,
										HASH_ENTER_NULL, &found);
	if (entry == NULL)
	{
		LWLockRelease(lock);
		dsa_free(pm_area, dp);
		pg_atomic_fetch_add_u64(&counters->skipped, 1);
		return false;
	}
	if (found)
	{
		dsa_free(pm_area, entry->blob);
		pg_atomic_fetch_sub_u64(&pm_shared->bytes_used, entry->blob_size);
	}
	else
	{
		pg_atomic_init_u64(&entry->hits, 0);
		pg_atomic_init_u64(&entry->last_used, 0);
		pg_atomic_fetch_add_u64(&pm_shared->nentries, 1);
	}
	entry->blob = dp;
	entry->blob_size = (uint32) size;
	entry->created = GetCurrentTimestamp();
	pg_atomic_write_u64(&entry->hits, 0);
	pg_atomic_write_u64(&entry->last_used,
						pg_atomic_fetch_add_u64(&pm_shared->clock, 1));
	LWLockRelease(lock);

	pg_atomic_fetch_add_u64(&pm_shared->bytes_used, size);
	pg_atomic_fetch_add_u64(&counters->inserts, 1);
	return true;
}

/*
 * Is name[0..name_len) a reference to prompt_id (the prompt itself, or a
 * version or label of it)?
 */
static inline bool
pm_names_prompt(const char *name, uint32 name_len, const char *prompt_id,
				uint32 len)
{
	return (name_len == len || (name_len > len && name[len] == '@')) &&
		memcmp(name, prompt_id, len) == 0;
}

/* Does the entry's rendering include prompt_id (any version of it)? */
static bool
pm_entry_depends_on(const PmCacheBlob *blob, const char *prompt_id, uint32 len)
{
	PmCacheBlobDep *deps = PM_BLOB_DEPS(blob);
	char	   *names = PM_BLOB_DEP_NAMES(blob);
	uint32		i;

	for (i = 0; i < blob->ndeps; i++)
	{
		if (pm_names_prompt(names + deps[i].name_off, deps[i].name_len,
							prompt_id, len))
			return true;
	}
	return false;
}

int64
pm_cache_invalidate(const char *prompt_id, Jsonb *params)
{
	HASH_SEQ_STATUS seq;
	PmCacheEntry *entry;
	int64		count = 0;
	uint32		id_len = prompt_id ? strlen(prompt_id) : 0;
	uint64		id_hash = prompt_id ? XXH3_64bits(prompt_id, id_len) : 0;
	const char *params_bytes = params ? VARDATA_ANY(params) : NULL;
	uint32		params_len = params ? VARSIZE_ANY_EXHDR(params) : 0;

	if (!pm_cache_attach())
		return 0;

	pm_lock_all(LW_EXCLUSIVE);
	hash_seq_init(&seq, pm_index);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		PmCacheBlob *blob;
		bool		match;

		if (entry->key.dbid != MyDatabaseId)
			continue;
		blob = dsa_get_address(pm_area, entry->blob);
		if (prompt_id == NULL)
			match = true;
		else if (params != NULL)
			match = !entry->key.is_inline &&
				entry->key.name_hash == id_hash &&
				blob->name_len == id_len &&
				memcmp(PM_BLOB_NAME(blob), prompt_id, id_len) == 0 &&
				blob->params_len == params_len &&
				memcmp(PM_BLOB_PARAMS(blob), params_bytes, params_len) == 0;
		else
			match = (!entry->key.is_inline &&
					 pm_names_prompt(PM_BLOB_NAME(blob), blob->name_len,
									 prompt_id, id_len)) ||
				pm_entry_depends_on(blob, prompt_id, id_len);
		if (match)
		{
			pm_remove_entry(entry);
			count++;
		}
	}
	pm_unlock_all();

	pg_atomic_fetch_add_u64(&pm_counters()->invalidations, count);
	return count;
}

void
pm_cache_reset(void)
{
	HASH_SEQ_STATUS seq;
	PmCacheEntry *entry;
	int			i;

	if (!pm_cache_attach())
		return;

	pm_lock_all(LW_EXCLUSIVE);
	hash_seq_init(&seq, pm_index);
	while ((entry = hash_seq_search(&seq)) != NULL)
		pm_remove_entry(entry);
	for (i = 0; i < PM_COUNTER_SHARDS; i++)
	{
		PmCacheCounters *c = &pm_shared->counters[i].c;

		pg_atomic_write_u64(&c->hits, 0);
		pg_atomic_write_u64(&c->misses, 0);
		pg_atomic_write_u64(&c->inserts, 0);
		pg_atomic_write_u64(&c->evictions, 0);
		pg_atomic_write_u64(&c->expirations, 0);
		pg_atomic_write_u64(&c->invalidations, 0);
		pg_atomic_write_u64(&c->skipped, 0);
	}
	pg_atomic_write_u64(&pm_shared->stats_reset, (uint64) GetCurrentTimestamp());
	pm_unlock_all();
}

void
pm_cache_get_stats(PmCacheStats *stats)
{
	int			i;

	memset(stats, 0, sizeof(PmCacheStats));
	if (pm_shared == NULL || pm_index == NULL)
		return;

	stats->available = true;
	stats->entries = (int64) pg_atomic_read_u64(&pm_shared->nentries);
	stats->bytes_used = (int64) pg_atomic_read_u64(&pm_shared->bytes_used);
	stats->capacity_bytes = (int64) pm_shared->area_size;
	stats->max_entries = pm_shared->max_entries;
	for (i = 0; i < PM_COUNTER_SHARDS; i++)
	{
		PmCacheCounters *c = &pm_shared->counters[i].c;

		stats->hits += (int64) pg_atomic_read_u64(&c->hits);
		stats->misses += (int64) pg_atomic_read_u64(&c->misses);
		stats->inserts += (int64) pg_atomic_read_u64(&c->inserts);
		stats->evictions += (int64) pg_atomic_read_u64(&c->evictions);
		stats->expirations += (int64) pg_atomic_read_u64(&c->expirations);
		stats->invalidations += (int64) pg_atomic_read_u64(&c->invalidations);
		stats->skipped += (int64) pg_atomic_read_u64(&c->skipped);
	}
	stats->stats_reset = (TimestampTz) pg_atomic_read_u64(&pm_shared->stats_reset);
}

List *
pm_cache_list_entries(void)
{
	HASH_SEQ_STATUS seq;
	PmCacheEntry *entry;
	List	   *result = NIL;

	if (!pm_cache_attach())
		return NIL;

	pm_lock_all(LW_SHARED);
	hash_seq_init(&seq, pm_index);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		PmCacheBlob *blob = dsa_get_address(pm_area, entry->blob);
		PmCacheEntryInfo *info = palloc0(sizeof(PmCacheEntryInfo));

		info->dbid = entry->key.dbid;
		if (!entry->key.is_inline)
			info->name = pnstrdup(PM_BLOB_NAME(blob), blob->name_len);
		info->revision = entry->key.root_revision;
		info->bytes = entry->blob_size;
		info->hits = (int64) pg_atomic_read_u64(&entry->hits);
		info->created = entry->created;
		result = lappend(result, info);
	}
	pm_unlock_all();
	return result;
}
