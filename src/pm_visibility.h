/*-------------------------------------------------------------------------
 *
 * pm_visibility.h
 *		What the caller's snapshot sees of pm_prompts, learned once per
 *		snapshot: each prompt's revision, and whether the shared cache may
 *		answer for this role at all.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_VISIBILITY_H
#define PM_VISIBILITY_H

/* Called from _PG_init: watch for rolled-back subtransactions. */
extern void pm_visibility_init(void);

/*
 * May the current role read all of pm_prompts, under the current snapshot?
 * True when it has SELECT on the table and no row-level security policy
 * applies to it.  Then prompts may be read straight from the primary key
 * and the shared cache may answer; otherwise every read goes through the
 * executor, where privileges and policies are enforced.
 */
extern bool pm_visibility_unrestricted(void);

/*
 * The revision of prompt_id under the active snapshot (false: no such row).
 * Only valid after pm_visibility_unrestricted() returned true.
 */
extern bool pm_visibility_revision(const char *prompt_id, int64 *revision);

/* The same, with XXH3_64bits(prompt_id) already computed. */
extern bool pm_visibility_revision_hashed(const char *prompt_id, uint64 id_hash,
										  int64 *revision);

/*
 * What the memo already knows of prompt_id (false: nothing yet), and
 * telling it what a read of the row found.  Same condition as above.
 */
extern bool pm_visibility_known(const char *prompt_id, bool *present,
								int64 *revision);
extern void pm_visibility_remember(const char *prompt_id, bool present,
								   int64 revision);

/* The same for any name a reference's key (pm_ref_key) can be. */
extern bool pm_visibility_known_name(const char *name, size_t len,
									 bool *present, int64 *revision);
extern void pm_visibility_remember_name(const char *name, size_t len,
										bool present, int64 revision);

/*
 * Versions and labels.  May the role also read all of pm_prompt_versions
 * and pm_labels (SELECT on both, no row-level security on either)?  Only
 * then are versions and labels read straight from their primary keys and
 * renders of references served from the shared cache.  Call after
 * pm_visibility_unrestricted() (false when that was false).
 */
extern bool pm_visibility_refs_unrestricted(void);

/*
 * The lookups of versions and labels, each learned once per snapshot like
 * the heads' revisions (the memo's names are "id@3" and "id@production").
 * Only valid after pm_visibility_refs_unrestricted() returned true.
 *	 - pm_visibility_version: version's value (pm_version_value), false
 *	   when there is no such version;
 *	 - pm_visibility_label: the version label points to, false when the
 *	   prompt has no such label;
 *	 - pm_visibility_ref: what a reference renders, as one value: a head's
 *	   revision, a version's value, a label's version's value; for
 *	   PM_REF_LABEL_OR_HEAD the label's when it is set, else the head's.
 *	   This is what the shared cache keys a root on and checks an include
 *	   against.
 */
struct PmRef;
extern bool pm_visibility_version(const char *prompt_id, size_t id_len,
								  int32 version, int64 *revision);
extern bool pm_visibility_label(const char *prompt_id, size_t id_len,
								const char *label, size_t label_len,
								int32 *version);
extern bool pm_visibility_ref(const struct PmRef *ref, int64 *revision);

/*
 * pm_visibility_ref for a version or a label named by the bytes of its
 * reference, text[0..len) (key: their xxhash), without parsing them: true
 * when the memo holds the whole answer under exactly that name (names are
 * canonical: "id@3", "id@production"; "id@03" is not one, and is parsed by
 * the caller as before).  Gives pm_visibility_ref's result in *present and
 * *revision, the prompt id's length and its hash.  False too while the
 * role is not yet known to read versions and labels freely (the caller
 * then parses the reference and asks pm_visibility_refs_unrestricted()).
 */
extern bool pm_visibility_ref_known(const char *text, size_t len, uint64 key,
									bool *present, int64 *revision,
									size_t *id_len, uint64 *id_hash);

#endif							/* PM_VISIBILITY_H */
