/*-------------------------------------------------------------------------
 *
 * pm_visibility.c
 *		What the caller's snapshot sees of pm_prompts, learned once per
 *		snapshot.
 *
 * A cached rendering is valid for a caller exactly when every prompt it
 * was built from has, under the caller's snapshot, the revision it had
 * then (revisions come from a sequence: a new one on every insert and
 * update, so an uncommitted or rolled-back revision is never seen by
 * anyone else, and the same revision always means the same row).  Checking
 * that costs one primary-key probe per prompt; this module remembers the
 * answers for as long as they cannot change, so that a statement rendering
 * many rows probes each prompt once.
 *
 * The answers stay valid while the "snapshot identity" below is unchanged:
 *	 - the snapshot's view of other transactions (xmin, xmax and the lists
 *	   of transactions in progress), which fixes which commits are seen;
 *	 - our own transaction, its command id and how many of its
 *	   subtransactions were rolled back, which fix which of our own changes
 *	   are seen (a new statement after a change has a new command id; a
 *	   rolled-back savepoint takes its changes away);
 *	 - the role and row_security, which decide what the role may read;
 *	 - the table and its shape (PmTableInfo.shape), which decide what a
 *	   revision read from it means.
 * Nothing of this relies on triggers, so it holds on a hot standby too,
 * where the primary's changes arrive by WAL replay.
 *
 * Across snapshots: a statement-per-render application takes a new
 * snapshot for every render, and would read the table every time.  So a
 * memo is also kept across snapshots when it is proven that they see the
 * same pm_prompts (pm_writes.c gives the argument): the memo was built
 * under a snapshot with proof for the database's "last writer" mark L, and
 * the new snapshot has proof for the same L.  The rest of the identity
 * (role, row_security, table and shape, pm_storage_generation(), and
 * pm_writes_local_epoch(), which moves with our own writes) must be the
 * same too, and the access check below is kept as it is.  Before such a
 * reuse, invalidation messages are taken in (after the new snapshot was
 * taken): a DDL that let writes skip the note triggers is then seen (see
 * pm_writes.c).  Where no proof can be had (library not preloaded, the
 * 0.1.0 SQL without the note triggers, a hot standby, our own transaction
 * wrote pm_prompts, a writer committed since the oldest transaction still
 * running began) everything works per snapshot, as described above.
 *
 * Versions and labels (0.2.0) are learned the same way, in the same memo,
 * under names that are references' keys: "id" is a head's revision,
 * "id@3" the value of version 3 (pm_version_value), "id@production" the
 * version the label points to and that version's value.  Every lookup of a
 * version or a label enters here, one function per kind:
 * pm_visibility_version (a primary-key probe of pm_prompt_versions),
 * pm_visibility_label (of pm_labels), and pm_visibility_ref, which
 * combines them for a whole reference (a label's version, or for an
 * include of a label render the label when it is set, else the head) and
 * is what the shared cache keys a root on and checks an include against.
 * A memo that outlives a snapshot (when no write can have happened) must
 * therefore also know of writes to pm_labels and pm_prompt_versions: the
 * note triggers are on those tables too, and pm_storage.c counts pm_prompts
 * as noted (PmTableInfo.notes_writes) only when they are (its companions).
 *
 * Whether the cache may answer at all is learned once per identity too,
 * and again at any statement that follows a catalog change (a REVOKE, a
 * new policy), as a query would see it: the role must have SELECT on
 * pm_prompts and no row-level security may apply to it.  When a policy applies, the cache is not used: a policy can
 * depend on anything (a setting, the time), so only reading the table
 * through the executor is sure to apply it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "storage/sinval.h"
#include "utils/acl.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pm_compat.h"
#include "pm_ref.h"
#include "pm_storage.h"
#include "pm_visibility.h"
#include "pm_writes.h"

/* Past this many prompts the memo starts again (it is only a cache). */
#define PM_VISIBILITY_MAX_ENTRIES 100000

/*
 * Names longer than this are not remembered: no reference to a stored
 * prompt is that long (an id is at most 255 bytes, "@", a label of at most
 * 63, "?"), and the memo would otherwise keep every huge name a caller
 * sends, across statements; such a name is looked up in the table each
 * time instead.
 */
#define PM_MEMO_MAX_NAME 1024

/* What the memo's answers depend on, whatever the snapshot. */
typedef struct PmMemoIdentity
{
	Oid			userid;
	bool		row_security;
	Oid			relid;
	uint64		shape;			/* PmTableInfo.shape: revisions read by attnum */
	uint64		table_generation;	/* pm_storage_generation() */
	uint64		write_epoch;	/* pm_writes_local_epoch() */
} PmMemoIdentity;

/* Which snapshot the memo describes (see pm_memo_matches). */
typedef struct PmSnapshotIdentity
{
	LocalTransactionId lxid;
	uint64		subxact_aborts;
	CommandId	curcid;
	TransactionId xmin;
	TransactionId xmax;
	uint32		xcnt;
	int32		subxcnt;
	bool		suboverflowed;
	bool		taken_during_recovery;
} PmSnapshotIdentity;

/*
 * One answer of the memo, for a name that is a reference's key
 * (pm_ref_key): "id" is the head's revision, "id@3" version 3's value
 * (pm_version_value), "id@production" the version the label points to
 * (in version) and that version's value.  What a lookup of a head reads
 * comes first, and a short name is kept in the entry itself: a session
 * that renders many prompts finds the entry in memory the CPU has not
 * cached, and each pointer followed would be one more wait.
 */
#define PM_MEMO_SHORT_NAME 24

typedef struct PmRevisionMemo
{
	uint64		key;			/* xxhash of the name */
	char		status;			/* simplehash's */
	bool		present;
	char		kind;			/* PmRefKind: HEAD, VERSION or LABEL */
	uint32		name_len;
	int64		revision;
	char		short_name[PM_MEMO_SHORT_NAME]; /* a short name */
	char	   *name;			/* a copy of a long one, else NULL */
	uint32		id_len;			/* the prompt id's bytes: those before '@' */
	uint64		id_hash;		/* xxhash of them (the statistics' key) */
	int32		version;		/* a label's version */
	/* a label's: its version's value, once looked up (pm_visibility_ref) */
	bool		has_value;
	bool		value_present;
	int64		value;
} PmRevisionMemo;

/*
 * The memo is a simplehash table (open addressing, inlined): it is looked
 * up on every render, so it must cost nanoseconds.  The key is already a
 * hash.
 */
#define SH_PREFIX		pm_revisions
#define SH_ELEMENT_TYPE PmRevisionMemo
#define SH_KEY_TYPE		uint64
#define SH_KEY			key
#define SH_HASH_KEY(tb, key) ((uint32) ((key) ^ ((key) >> 32)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

static MemoryContext pm_memo_cxt = NULL;
static pm_revisions_hash *pm_memo = NULL;
static bool pm_memo_valid = false;
static PmMemoIdentity pm_memo_identity;
static PmSnapshotIdentity pm_memo_snapshot;
static TransactionId *pm_memo_xip = NULL;	/* copies, in TopMemoryContext */
static TransactionId *pm_memo_subxip = NULL;
static uint32 pm_memo_xip_size = 0;		/* room in them */
static int32 pm_memo_subxip_size = 0;
static bool pm_memo_unrestricted = false;
static int	pm_memo_refs_access = -1;	/* pm_visibility_refs_unrestricted:
										 * -1 not known yet */

/* Proven: built under a snapshot with proof for pm_memo_mark (pm_writes.c). */
static bool pm_memo_proven = false;
static uint64 pm_memo_mark = 0;

/* Subtransactions rolled back in this backend (see pm_visibility_init). */
static uint64 pm_subxact_aborts = 0;

static void
pm_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		pm_subxact_aborts++;
}

void
pm_visibility_init(void)
{
	RegisterSubXactCallback(pm_subxact_callback, NULL);
}

/*
 * Privileges and policies are checked again at every new statement that
 * follows catalog invalidations: a REVOKE committed by another session
 * applies to our next statement, as it would to a query, even inside one
 * REPEATABLE READ transaction.
 */
static TimestampTz pm_access_statement = 0;
static uint64 pm_access_inval_counter = 0;

/* Is snapshot (with identity id) the one the memo last described? */
static bool
pm_memo_matches(Snapshot snapshot, const PmSnapshotIdentity *id)
{
	if (memcmp(&pm_memo_snapshot, id, sizeof(PmSnapshotIdentity)) != 0)
		return false;
	if (id->xcnt > 0 &&
		memcmp(pm_memo_xip, snapshot->xip, sizeof(TransactionId) * id->xcnt) != 0)
		return false;
	if (id->subxcnt > 0 &&
		memcmp(pm_memo_subxip, snapshot->subxip, sizeof(TransactionId) * id->subxcnt) != 0)
		return false;
	return true;
}

/* May the role read the whole table (SELECT, no row-level security)? */
static void
pm_check_access(const PmMemoIdentity *id)
{
	pm_memo_unrestricted =
		pg_class_aclcheck(id->relid, id->userid, ACL_SELECT) == ACLCHECK_OK &&
		check_enable_rls(id->relid, InvalidOid, true) != RLS_ENABLED;
	pm_memo_refs_access = -1;
	pm_access_statement = GetCurrentStatementStartTimestamp();
	pm_access_inval_counter = SharedInvalidMessageCounter;
}

/* Make the memo describe snapshot (copying its lists of transactions). */
static void
pm_memo_set_snapshot(Snapshot snapshot, const PmSnapshotIdentity *sid)
{
	if (sid->xcnt > pm_memo_xip_size)
	{
		if (pm_memo_xip != NULL)
			pfree(pm_memo_xip);
		pm_memo_xip = MemoryContextAlloc(TopMemoryContext,
										 sizeof(TransactionId) * sid->xcnt);
		pm_memo_xip_size = sid->xcnt;
	}
	if (sid->subxcnt > pm_memo_subxip_size)
	{
		if (pm_memo_subxip != NULL)
			pfree(pm_memo_subxip);
		pm_memo_subxip = MemoryContextAlloc(TopMemoryContext,
											sizeof(TransactionId) * sid->subxcnt);
		pm_memo_subxip_size = sid->subxcnt;
	}
	if (sid->xcnt > 0)
		memcpy(pm_memo_xip, snapshot->xip, sizeof(TransactionId) * sid->xcnt);
	if (sid->subxcnt > 0)
		memcpy(pm_memo_subxip, snapshot->subxip, sizeof(TransactionId) * sid->subxcnt);
	memcpy(&pm_memo_snapshot, sid, sizeof(PmSnapshotIdentity));
}

/*
 * Start a new memo for snapshot and identity, proven when the snapshot has
 * proof (pm_writes.c) and the note triggers are in place.
 */
static void
pm_memo_reset(Snapshot snapshot, const PmSnapshotIdentity *sid,
			  const PmMemoIdentity *id, bool notes_writes)
{
	if (pm_memo_cxt == NULL)
		pm_memo_cxt = AllocSetContextCreate(TopMemoryContext,
											"prompt_manager visibility",
											ALLOCSET_SMALL_SIZES);
	pm_memo_valid = false;
	MemoryContextReset(pm_memo_cxt);
	pm_memo = NULL;

	pm_memo = pm_revisions_create(pm_memo_cxt, 64, NULL);
	pm_memo_set_snapshot(snapshot, sid);

	pm_check_access(id);
	memcpy(&pm_memo_identity, id, sizeof(PmMemoIdentity));
	pm_memo_proven = notes_writes && pm_writes_proof(snapshot, &pm_memo_mark);
	pm_memo_valid = true;
}

/* The identity of what the memo would answer now. */
static void
pm_memo_identity_now(PmMemoIdentity *id, const PmTableInfo *table)
{
	memset(id, 0, sizeof(PmMemoIdentity));
	id->userid = GetUserId();
	id->row_security = row_security;
	id->relid = table->relid;
	id->shape = table->shape;
	id->table_generation = pm_storage_generation();
	id->write_epoch = pm_writes_local_epoch();
}

/* Make the memo describe the active snapshot. */
static void
pm_memo_refresh(void)
{
	Snapshot	snapshot = GetActiveSnapshot();
	PmSnapshotIdentity sid;
	PmMemoIdentity id;
	const PmTableInfo *table;
	bool		accepted = false;

	/*
	 * At a new statement, take in catalog changes (a REVOKE, a new policy)
	 * as a query would when it opens its tables.
	 */
	if (GetCurrentStatementStartTimestamp() != pm_access_statement)
	{
		AcceptInvalidationMessages();
		pm_access_statement = GetCurrentStatementStartTimestamp();
		accepted = true;
	}

	memset(&sid, 0, sizeof(sid));
	sid.lxid = PM_MY_LXID;
	sid.subxact_aborts = pm_subxact_aborts;
	sid.curcid = snapshot->curcid;
	sid.xmin = snapshot->xmin;
	sid.xmax = snapshot->xmax;
	sid.xcnt = snapshot->xcnt;
	sid.subxcnt = snapshot->subxcnt;
	sid.suboverflowed = snapshot->suboverflowed;
	sid.taken_during_recovery = snapshot->takenDuringRecovery;

	if (pm_memo_valid && !pm_memo_matches(snapshot, &sid) && pm_memo_proven)
	{
		uint64		mark;

		/*
		 * Another snapshot: the memo holds for it too when it has proof for
		 * the same mark.  The table locked first, as a query reading it
		 * would (waiting for a TRUNCATE in progress), and invalidations
		 * taken in after the snapshot was taken (see pm_writes.c, "DDL, and
		 * the relcache check").
		 */
		table = pm_storage_lock_table(pm_subxact_aborts);
		if (!accepted)
		{
			AcceptInvalidationMessages();
			table = pm_storage_table();
		}
		pm_memo_identity_now(&id, table);
		if (table->notes_writes &&
			memcmp(&pm_memo_identity, &id, sizeof(PmMemoIdentity)) == 0 &&
			pm_memo->members <= PM_VISIBILITY_MAX_ENTRIES &&
			pm_writes_proof(snapshot, &mark) && mark == pm_memo_mark)
		{
			pm_memo_set_snapshot(snapshot, &sid);
			if (SharedInvalidMessageCounter != pm_access_inval_counter)
				pm_check_access(&id);	/* catalogs changed */
			return;
		}
		pm_memo_reset(snapshot, &sid, &id, table->notes_writes);
		return;
	}

	table = pm_storage_table();
	pm_memo_identity_now(&id, table);
	if (!pm_memo_valid || !pm_memo_matches(snapshot, &sid) ||
		memcmp(&pm_memo_identity, &id, sizeof(PmMemoIdentity)) != 0 ||
		pm_memo->members > PM_VISIBILITY_MAX_ENTRIES)
		pm_memo_reset(snapshot, &sid, &id, table->notes_writes);
	else if (SharedInvalidMessageCounter != pm_access_inval_counter)
		pm_check_access(&id);	/* same snapshot, catalogs changed */
}

bool
pm_visibility_unrestricted(void)
{
	if (!ActiveSnapshotSet())
		return false;
	pm_memo_refresh();
	return pm_memo_unrestricted;
}

bool
pm_visibility_refs_unrestricted(void)
{
	Assert(pm_memo_valid);
	if (!pm_memo_unrestricted)
		return false;
	if (pm_memo_refs_access < 0)
	{
		Oid			versions = pm_storage_table_of(PM_TABLE_VERSIONS)->relid;
		Oid			labels = pm_storage_table_of(PM_TABLE_LABELS)->relid;
		Oid			userid = pm_memo_identity.userid;

		pm_memo_refs_access =
			pg_class_aclcheck(versions, userid, ACL_SELECT) == ACLCHECK_OK &&
			pg_class_aclcheck(labels, userid, ACL_SELECT) == ACLCHECK_OK &&
			check_enable_rls(versions, InvalidOid, true) != RLS_ENABLED &&
			check_enable_rls(labels, InvalidOid, true) != RLS_ENABLED;
	}
	return pm_memo_refs_access == 1;
}

/* The memo's entry for name, or NULL (another name may hold its hash). */
static PmRevisionMemo *
pm_memo_find(const char *name, uint32 len, uint64 key)
{
	PmRevisionMemo *memo = pm_revisions_lookup(pm_memo, key);

	if (memo != NULL && memo->name_len == len &&
		memcmp(len < PM_MEMO_SHORT_NAME ? memo->short_name : memo->name, name, len) == 0)
		return memo;
	return NULL;
}

/* Remember what the snapshot sees of name (first come, first kept). */
static void
pm_memo_store(const char *name, uint32 len, uint64 key, bool present,
			  int64 revision, int32 version)
{
	PmRevisionMemo *memo;
	bool		found;

	if (len > PM_MEMO_MAX_NAME)
		return;					/* (every caller may find nothing after it) */
	memo = pm_revisions_insert(pm_memo, key, &found);
	if (!found)
	{
		const char *at = memchr(name, '@', len);
		bool		digit = at != NULL && at + 1 < name + len &&
			at[1] >= '0' && at[1] <= '9';

		if (len < PM_MEMO_SHORT_NAME)
		{
			memo->name = NULL;
			memcpy(memo->short_name, name, len);
		}
		else
		{
			memo->name = MemoryContextAlloc(pm_memo_cxt, len);
			memcpy(memo->name, name, len);
		}
		memo->name_len = len;
		/* names are references' keys: "id", "id@3", "id@production" */
		if (at == NULL)
		{
			memo->kind = PM_REF_HEAD;
			memo->id_len = len;
			memo->id_hash = key;
		}
		else
		{
			memo->kind = digit ? PM_REF_VERSION : PM_REF_LABEL;
			memo->id_len = at - name;
			memo->id_hash = XXH3_64bits(name, memo->id_len);
		}
		memo->present = present;
		memo->revision = revision;
		memo->version = version;
		memo->has_value = false;
	}
}

bool
pm_visibility_known(const char *prompt_id, bool *present, int64 *revision)
{
	return pm_visibility_known_name(prompt_id, strlen(prompt_id), present, revision);
}

bool
pm_visibility_known_name(const char *name, size_t len, bool *present,
						 int64 *revision)
{
	PmRevisionMemo *memo;

	Assert(pm_memo_valid && pm_memo_unrestricted);
	memo = pm_memo_find(name, len, XXH3_64bits(name, len));
	if (memo == NULL)
		return false;
	*present = memo->present;
	*revision = memo->revision;
	return true;
}

void
pm_visibility_remember(const char *prompt_id, bool present, int64 revision)
{
	pm_visibility_remember_name(prompt_id, strlen(prompt_id), present, revision);
}

void
pm_visibility_remember_name(const char *name, size_t len, bool present,
							int64 revision)
{
	Assert(pm_memo_valid && pm_memo_unrestricted);
	pm_memo_store(name, len, XXH3_64bits(name, len), present, revision, 0);
}

bool
pm_visibility_revision(const char *prompt_id, int64 *revision)
{
	return pm_visibility_revision_hashed(prompt_id,
										 XXH3_64bits(prompt_id, strlen(prompt_id)),
										 revision);
}

bool
pm_visibility_revision_hashed(const char *prompt_id, uint64 key, int64 *revision)
{
	PmRevisionMemo *memo;
	bool		present;
	int64		rev = 0;
	uint32		len = strlen(prompt_id);

	Assert(pm_memo_valid && pm_memo_unrestricted);
	memo = pm_memo_find(prompt_id, len, key);
	if (memo != NULL)
	{
		*revision = memo->revision;
		return memo->present;
	}

	present = pm_storage_probe_revision(prompt_id, &rev);
	pm_memo_store(prompt_id, len, key, present, rev, 0);
	*revision = rev;
	return present;
}

/*
 * name into buf ("id@3", "id@production"): buf when it fits, else palloc'd.
 */
static char *
pm_memo_name(char *buf, size_t bufsize, size_t *len, const char *id,
			 size_t id_len, const char *tail, size_t tail_len)
{
	char	   *name = buf;

	*len = id_len + 1 + tail_len;
	if (*len + 1 > bufsize)
		name = palloc(*len + 1);
	memcpy(name, id, id_len);
	name[id_len] = '@';
	memcpy(name + id_len + 1, tail, tail_len);
	name[*len] = '\0';
	return name;
}

bool
pm_visibility_version(const char *prompt_id, size_t id_len, int32 version,
					  int64 *revision)
{
	char		buf[384];
	char		digits[16];
	size_t		len;
	char	   *name;
	uint64		key;
	PmRevisionMemo *memo;
	bool		present;
	int64		rev = 0;

	Assert(pm_memo_valid && pm_memo_unrestricted);
	name = pm_memo_name(buf, sizeof(buf), &len, prompt_id, id_len, digits,
						snprintf(digits, sizeof(digits), "%d", version));
	key = XXH3_64bits(name, len);
	memo = pm_memo_find(name, len, key);
	if (memo != NULL)
		present = memo->present, rev = memo->revision;
	else
	{
		present = pm_storage_probe_version(prompt_id, id_len, version, &rev);
		pm_memo_store(name, len, key, present, rev, version);
	}
	if (name != buf)
		pfree(name);
	*revision = rev;
	return present;
}

/*
 * pm_visibility_label, and the value of the version the label points to
 * (*revision, when it returns true).  The label's memo entry keeps that
 * value too, so that a repeated render of a label costs one lookup, as a
 * head's does.
 */
static bool
pm_visibility_label_value(const char *prompt_id, size_t id_len,
						  const char *label, size_t label_len, int64 *revision,
						  bool *labelled)
{
	char		buf[384];
	size_t		len;
	char	   *name;
	uint64		key;
	PmRevisionMemo *memo;
	int32		version;
	bool		present;
	int64		value = 0;

	name = pm_memo_name(buf, sizeof(buf), &len, prompt_id, id_len, label, label_len);
	key = XXH3_64bits(name, len);
	memo = pm_memo_find(name, len, key);
	if (memo != NULL && memo->has_value)
	{
		*labelled = memo->present;
		*revision = memo->value;
		present = memo->value_present;
	}
	else
	{
		*labelled = pm_visibility_label(prompt_id, id_len, label, label_len, &version);
		present = *labelled &&
			pm_visibility_version(prompt_id, id_len, version, &value);
		/* the entries may have moved: find the label's again */
		memo = pm_memo_find(name, len, key);
		if (memo != NULL)
		{
			memo->has_value = true;
			memo->value_present = present;
			memo->value = value;
		}
		*revision = value;
	}
	if (name != buf)
		pfree(name);
	return present;
}

bool
pm_visibility_label(const char *prompt_id, size_t id_len, const char *label,
					size_t label_len, int32 *version)
{
	char		buf[384];
	size_t		len;
	char	   *name;
	uint64		key;
	PmRevisionMemo *memo;
	bool		present;
	int32		v = 0;

	Assert(pm_memo_valid && pm_memo_unrestricted);
	name = pm_memo_name(buf, sizeof(buf), &len, prompt_id, id_len, label, label_len);
	key = XXH3_64bits(name, len);
	memo = pm_memo_find(name, len, key);
	if (memo != NULL)
		present = memo->present, v = memo->version;
	else
	{
		present = pm_storage_label_version(prompt_id, id_len, label, label_len,
										   true, &v);
		pm_memo_store(name, len, key, present, 0, v);
	}
	if (name != buf)
		pfree(name);
	*version = v;
	return present;
}

bool
pm_visibility_ref_known(const char *text, size_t len, uint64 key,
						bool *present, int64 *revision, size_t *id_len,
						uint64 *id_hash)
{
	PmRevisionMemo *memo;

	Assert(pm_memo_valid);
	if (!pm_memo_unrestricted || pm_memo_refs_access != 1)
		return false;			/* not known to be allowed (yet) */
	memo = pm_memo_find(text, len, key);
	if (memo == NULL)
		return false;
	switch (memo->kind)
	{
		case PM_REF_VERSION:
			*present = memo->present;
			*revision = memo->revision;
			break;
		case PM_REF_LABEL:
			if (!memo->has_value)
				return false;
			*present = memo->value_present;
			*revision = memo->value;
			break;
		default:
			return false;		/* a head's: text has no '@' */
	}
	*id_len = memo->id_len;
	*id_hash = memo->id_hash;
	return true;
}

bool
pm_visibility_ref(const PmRef *ref, int64 *revision)
{
	char		buf[256];
	char	   *id;
	bool		present;
	bool		labelled;

	switch (ref->kind)
	{
		case PM_REF_VERSION:
			return pm_visibility_version(ref->id, ref->id_len, ref->version,
										 revision);
		case PM_REF_LABEL:
		case PM_REF_LABEL_OR_HEAD:
			present = pm_visibility_label_value(ref->id, ref->id_len, ref->label,
												ref->label_len, revision,
												&labelled);
			if (labelled || ref->kind == PM_REF_LABEL)
				return present;
			/* no such label: the head */
			break;
		case PM_REF_HEAD:
			break;
	}
	id = ref->id_len < sizeof(buf) ? buf : palloc(ref->id_len + 1);
	memcpy(id, ref->id, ref->id_len);
	id[ref->id_len] = '\0';
	present = pm_visibility_revision_hashed(id, XXH3_64bits(id, ref->id_len),
											revision);
	if (id != buf)
		pfree(id);
	return present;
}
