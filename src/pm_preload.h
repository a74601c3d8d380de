/*-------------------------------------------------------------------------
 *
 * pm_preload.h
 *		Warming the shared render cache at will and at server start.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_PRELOAD_H
#define PM_PRELOAD_H

#include "nodes/pg_list.h"

/*
 * Render prompt_ids (a List of char *; NIL: the prompts marked
 * preload = true) with their stored parameters into the shared cache.
 * A prompt that cannot be rendered is reported as a WARNING and skipped.
 * Returns how many were loaded.
 */
extern int	pm_preload_prompts(List *prompt_ids);

/* Called from _PG_init when preloading. */
extern void pm_preload_register_workers(void);

#endif							/* PM_PRELOAD_H */
