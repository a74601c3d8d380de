/*-------------------------------------------------------------------------
 *
 * pm_functions.c
 *		SQL-callable entry points.
 *
 * Thin wrappers: argument handling (NULLs, detoasting) here, the work in
 * pm_render.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "pm_render.h"

PG_FUNCTION_INFO_V1(pm_render);
PG_FUNCTION_INFO_V1(pm_render_template);
PG_FUNCTION_INFO_V1(pm_keywords);

/*
 * pm_render(prompt_id text, params jsonb DEFAULT '{}') RETURNS text
 *
 * A NULL prompt_id gives NULL; NULL params are no parameters.
 */
Datum
pm_render(PG_FUNCTION_ARGS)
{
	char	   *prompt_id;
	Jsonb	   *params = NULL;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	prompt_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!PG_ARGISNULL(1))
		params = PG_GETARG_JSONB_P(1);

	PG_RETURN_TEXT_P(pm_render_prompt(prompt_id, params));
}

/*
 * pm_render_template(template text, params jsonb DEFAULT '{}') RETURNS text
 *
 * A NULL template gives NULL; NULL params are no parameters.
 */
Datum
pm_render_template(PG_FUNCTION_ARGS)
{
	Jsonb	   *params = NULL;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (!PG_ARGISNULL(1))
		params = PG_GETARG_JSONB_P(1);

	PG_RETURN_TEXT_P(pm_render_inline(PG_GETARG_TEXT_PP(0), params));
}

/* pm_keywords(prompt_id text) RETURNS text[], STRICT */
Datum
pm_keywords(PG_FUNCTION_ARGS)
{
	char	   *prompt_id = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_ARRAYTYPE_P(pm_prompt_keywords(prompt_id));
}
