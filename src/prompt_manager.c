/*-------------------------------------------------------------------------
 *
 * prompt_manager.c
 *		Module entry point: load-time initialisation.
 *
 * The library works loaded on demand (the first call of one of its
 * functions) and from shared_preload_libraries; rendering needs nothing
 * that only preloading can give.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "pm_settings.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	pm_define_settings();
}
