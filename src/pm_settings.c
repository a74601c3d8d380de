/*-------------------------------------------------------------------------
 *
 * pm_settings.c
 *		Configuration parameters (GUCs) under the prompt_manager. prefix.
 *
 * All of them can be changed per session (SET), per role or database, or in
 * postgresql.conf; none needs a restart.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "pm_settings.h"

int			pm_max_include_depth = 10;
int			pm_missing_parameter = PM_MISSING_KEEP;
int			pm_unknown_directive = PM_DIRECTIVE_ERROR;
int			pm_render_timeout = 0;
bool		pm_raise_on_missing = true;
char	   *pm_missing_prompt_text = NULL;

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
							NULL, NULL, NULL);

	DefineCustomEnumVariable("prompt_manager.missing_parameter",
							 "What a keyword without a value renders as.",
							 "keep leaves [KEYWORD] in the text (as the PromptManager gem does), "
							 "empty removes it, error raises an error.",
							 &pm_missing_parameter,
							 PM_MISSING_KEEP, missing_parameter_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("prompt_manager.unknown_directive",
							 "What a // directive other than include or import does.",
							 "error raises an error, keep leaves the line in the text.",
							 &pm_unknown_directive,
							 PM_DIRECTIVE_ERROR, unknown_directive_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

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
							 NULL, NULL, NULL);

	DefineCustomStringVariable("prompt_manager.missing_prompt_text",
							   "Text rendered for a missing prompt when raise_on_missing is off.",
							   NULL,
							   &pm_missing_prompt_text,
							   "",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("prompt_manager");
#else
	EmitWarningsOnPlaceholders("prompt_manager");
#endif
}
