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

#endif							/* PM_VISIBILITY_H */
