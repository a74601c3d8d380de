/*-------------------------------------------------------------------------
 *
 * pm_settings.c
 *		Configuration parameters (GUCs) under the prompt_manager. prefix.
 *
 * The rendering settings can be changed per session (SET), per role or
 * database, or in postgresql.conf.  The ones that size shared memory
 * (cache_size, cache_max_entries, stats_max) and preload_databases are
 * defined only when the library is preloaded and need a restart;
 * cache_ttl is reloaded (sighup); cache_max_entry_size and track are for
 * superusers.  docs/settings.md lists each with its range and context.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "utils/guc.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "pm_settings.h"

int			pm_max_include_depth = 10;
int			pm_missing_parameter = PM_MISSING_KEEP;
int			pm_unknown_directive = PM_DIRECTIVE_ERROR;
int			pm_unknown_parameter = PM_UNKNOWN_IGNORE;
int			pm_render_timeout = 0;
bool		pm_raise_on_missing = true;
char	   *pm_missing_prompt_text = NULL;

bool		pm_cache_enabled = true;
int			pm_cache_size_kb = 64 * 1024;
int			pm_cache_max_entries = 10000;
int			pm_cache_ttl = 0;
int			pm_cache_max_entry_size_kb = 1024;

bool		pm_stats_track = true;
int			pm_stats_max = 5000;
char	   *pm_preload_databases = NULL;
char	   *pm_error_handler = NULL;

bool		pm_allow_drop_with_prompts = false;

/* pm_output_settings_hash() of the current values, while valid */
static bool pm_settings_hash_valid = false;
static uint64 pm_settings_hash;

/* Assign hook of every output-changing setting. */
static void
pm_output_setting_assigned(int newval, void *extra)
{
	pm_settings_hash_valid = false;
}

static void
pm_output_setting_assigned_bool(bool newval, void *extra)
{
	pm_settings_hash_valid = false;
}

static void
pm_output_setting_assigned_string(const char *newval, void *extra)
{
	pm_settings_hash_valid = false;
}

static const struct config_enum_entry missing_parameter_options[] = {
	{"keep", PM_MISSING_KEEP, false},
	{"empty", PM_MISSING_EMPTY, false},
	{"error", PM_MISSING_ERROR, false},
	{NULL, 0, false}
};

static const struct config_enum_entry unknown_directive_options[] = {
	{"error", PM_DIRECTIVE_ERROR, false},
	{"keep", PM_DIRECTIVE_KEEP, false},
	{NULL, 0, false}
};

static const struct config_enum_entry unknown_parameter_options[] = {
	{"ignore", PM_UNKNOWN_IGNORE, false},
	{"warning", PM_UNKNOWN_WARNING, false},
	{"error", PM_UNKNOWN_ERROR, false},
	{NULL, 0, false}
};

/*
 * The settings that size the shared cache: they can only be defined while
 * shared_preload_libraries is processed (PGC_POSTMASTER).
 */
static void
pm_define_cache_memory_settings(void)
{
	DefineCustomIntVariable("prompt_manager.cache_size",
							"Shared memory for the text of cached renderings.",
							"The index of the entries (cache_max_entries) comes on top.",
							&pm_cache_size_kb,
							64 * 1024, 1024, 64 * 1024 * 1024,
							PGC_POSTMASTER, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("prompt_manager.cache_max_entries",
							"Maximum number of cached renderings.",
							NULL,
							&pm_cache_max_entries,
							10000, 100, 10000000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("prompt_manager.stats_max",
							"Maximum number of prompts tracked by pm_stats.",
							"The least rendered are evicted when it is full.",
							&pm_stats_max,
							5000, 100, 1000000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("prompt_manager.preload_databases",
							   "Databases whose preload prompts are rendered into the cache at server start.",
							   "A comma-separated list of database names.",
							   &pm_preload_databases,
							   "",
							   PGC_POSTMASTER, GUC_LIST_INPUT,
							   NULL, NULL, NULL);
}

/* Define the settings; called once from _PG_init. */
void
pm_define_settings(void)
{
	DefineCustomIntVariable("prompt_manager.max_include_depth",
							"Maximum nesting depth of //include directives.",
							"A prompt rendered directly is at depth 0.",
							&pm_max_include_depth,
							10, 0, 1000,
							PGC_USERSET, 0,
							NULL, pm_output_setting_assigned, NULL);

	DefineCustomEnumVariable("prompt_manager.missing_parameter",
							 "What a keyword without a value renders as.",
							 "keep leaves [KEYWORD] in the text (as the PromptManager gem does), "
							 "empty removes it, error raises an error.",
							 &pm_missing_parameter,
							 PM_MISSING_KEEP, missing_parameter_options,
							 PGC_USERSET, 0,
							 NULL, pm_output_setting_assigned, NULL);

	DefineCustomEnumVariable("prompt_manager.unknown_directive",
							 "What a // directive other than include or import does.",
							 "error raises an error, keep leaves the line in the text.",
							 &pm_unknown_directive,
							 PM_DIRECTIVE_ERROR, unknown_directive_options,
							 PGC_USERSET, 0,
							 NULL, pm_output_setting_assigned, NULL);

	/*
	 * Output-changing (a WARNING or an error instead of the text): in the
	 * settings hash, so that a rendering stored under ignore, unchecked, is
	 * never served under warning or error.
	 */
	DefineCustomEnumVariable("prompt_manager.unknown_parameter",
							 "What a params key that matches no keyword of the prompt or its includes does.",
							 "ignore says nothing (as the PromptManager gem), warning raises a WARNING, "
							 "error raises an error.",
							 &pm_unknown_parameter,
							 PM_UNKNOWN_IGNORE, unknown_parameter_options,
							 PGC_USERSET, 0,
							 NULL, pm_output_setting_assigned, NULL);

	DefineCustomIntVariable("prompt_manager.render_timeout",
							"Maximum time one render may take.",
							"0 disables the limit.",
							&pm_render_timeout,
							0, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("prompt_manager.raise_on_missing",
							 "Raise an error when a prompt or an include does not exist.",
							 "When off, a missing prompt renders as prompt_manager.missing_prompt_text "
							 "and a WARNING is logged.",
							 &pm_raise_on_missing,
							 true,
							 PGC_USERSET, 0,
							 NULL, pm_output_setting_assigned_bool, NULL);

	DefineCustomStringVariable("prompt_manager.missing_prompt_text",
							   "Text rendered for a missing prompt when raise_on_missing is off.",
							   NULL,
							   &pm_missing_prompt_text,
							   "",
							   PGC_USERSET, 0,
							   NULL, pm_output_setting_assigned_string, NULL);

	DefineCustomBoolVariable("prompt_manager.cache",
							 "Use the shared render cache.",
							 "Needs shared_preload_libraries = 'prompt_manager'.",
							 &pm_cache_enabled,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("prompt_manager.cache_ttl",
							"Age after which a cached rendering is no longer served.",
							"0 keeps entries until they are evicted or invalidated.",
							&pm_cache_ttl,
							0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("prompt_manager.cache_max_entry_size",
							"Largest rendering kept in the shared cache.",
							"Larger renderings are rendered every time.",
							&pm_cache_max_entry_size_kb,
							1024, 1, 1024 * 1024,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("prompt_manager.track",
							 "Count renders in pm_stats.",
							 "Needs shared_preload_libraries = 'prompt_manager'.",
							 &pm_stats_track,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("prompt_manager.error_handler",
							   "Function called instead of raising when a render fails for a prompt-level reason.",
							   "The name of a function (prompt_id text, sqlstate text, message text) RETURNS text; "
							   "empty: errors are raised.",
							   &pm_error_handler,
							   "",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("prompt_manager.allow_drop_with_prompts",
							 "Let DROP EXTENSION prompt_manager drop the prompts without CASCADE.",
							 "When off, the event trigger pm_drop_guard refuses a DROP EXTENSION "
							 "without CASCADE while pm_prompts holds prompts.",
							 &pm_allow_drop_with_prompts,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	/* only now: reserving the prefix drops placeholders not defined yet */
	if (process_shared_preload_libraries_in_progress)
		pm_define_cache_memory_settings();

	MarkGUCPrefixReserved("prompt_manager");
}

/*
 * Kept up to date by the assign hooks above: a setting's assign hook runs
 * before its new value is stored, so the hash is recomputed on the next
 * call, from the new values.
 */
uint64
pm_output_settings_hash(void)
{
	struct
	{
		int32		max_include_depth;
		int32		missing_parameter;
		int32		unknown_directive;
		int32		raise_on_missing;
		int32		unknown_parameter;
	}			values;
	XXH3_state_t state;

	if (pm_settings_hash_valid)
		return pm_settings_hash;

	memset(&values, 0, sizeof(values));
	values.max_include_depth = pm_max_include_depth;
	values.missing_parameter = pm_missing_parameter;
	values.unknown_directive = pm_unknown_directive;
	values.raise_on_missing = pm_raise_on_missing;
	values.unknown_parameter = pm_unknown_parameter;

	XXH3_64bits_reset(&state);
	XXH3_64bits_update(&state, &values, sizeof(values));
	if (pm_missing_prompt_text != NULL)
		XXH3_64bits_update(&state, pm_missing_prompt_text,
						   strlen(pm_missing_prompt_text));
	pm_settings_hash = XXH3_64bits_digest(&state);
	pm_settings_hash_valid = true;
	return pm_settings_hash;
}
