/*-------------------------------------------------------------------------
 *
 * prompt_manager.c
 *		Module entry point: load-time initialisation.
 *
 * The library works loaded on demand (the first call of one of its
 * functions) and from shared_preload_libraries; rendering needs nothing
 * that only preloading can give.  Preloading adds the shared render cache
 * and the "last writer" marks (pm_writes.c), whose memory can only be
 * reserved at server start.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "miscadmin.h"

#include "pm_cache.h"
#include "pm_preload.h"
#include "pm_settings.h"
#include "pm_stats.h"
#include "pm_visibility.h"
#include "pm_writes.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	pm_define_settings();
	pm_visibility_init();
	pm_writes_init();
	pm_stats_init_backend();
	if (process_shared_preload_libraries_in_progress)
	{
		pm_cache_install_hooks();
		pm_writes_install_hooks();
		pm_stats_install_hooks();
		pm_preload_register_workers();
	}
}
