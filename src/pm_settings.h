/*-------------------------------------------------------------------------
 *
 * pm_settings.h
 *		Configuration parameters (GUCs) under the prompt_manager. prefix.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_SETTINGS_H
#define PM_SETTINGS_H

/* prompt_manager.missing_parameter */
typedef enum PmMissingParameter
{
	PM_MISSING_KEEP,			/* leave "[NAME]" in the output, as the gem */
	PM_MISSING_EMPTY,			/* render it as the empty string */
	PM_MISSING_ERROR			/* raise ERRCODE_PM_MISSING_PARAMETER */
} PmMissingParameter;

/* prompt_manager.unknown_directive */
typedef enum PmUnknownDirective
{
	PM_DIRECTIVE_ERROR,			/* raise ERRCODE_PM_UNKNOWN_DIRECTIVE */
	PM_DIRECTIVE_KEEP			/* leave the line in the output */
} PmUnknownDirective;

/* prompt_manager.unknown_parameter */
typedef enum PmUnknownParameter
{
	PM_UNKNOWN_IGNORE,			/* say nothing, as the gem */
	PM_UNKNOWN_WARNING,			/* a WARNING naming the keys */
	PM_UNKNOWN_ERROR			/* raise ERRCODE_PM_UNKNOWN_PARAMETER */
} PmUnknownParameter;

extern int	pm_max_include_depth;
extern int	pm_missing_parameter;
extern int	pm_unknown_directive;
extern int	pm_unknown_parameter;
extern int	pm_render_timeout;
extern bool pm_raise_on_missing;
extern char *pm_missing_prompt_text;

/* the shared render cache (pm_cache.c) */
extern bool pm_cache_enabled;
extern int	pm_cache_size_kb;
extern int	pm_cache_max_entries;
extern int	pm_cache_ttl;
extern int	pm_cache_max_entry_size_kb;

/* statistics, preloading, error handler (pm_stats.c, pm_preload.c) */
extern bool pm_stats_track;
extern int	pm_stats_max;
extern char *pm_preload_databases;
extern char *pm_error_handler;

/* DROP EXTENSION with prompts in the table (pm_guard.c) */
extern bool pm_allow_drop_with_prompts;

extern void pm_define_settings(void);

/*
 * A hash of every setting that changes what a render produces; part of the
 * key of a cached rendering.
 */
extern uint64 pm_output_settings_hash(void);

#endif							/* PM_SETTINGS_H */
