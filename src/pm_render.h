/*-------------------------------------------------------------------------
 *
 * pm_render.h
 *		Rendering compiled prompts: parameters, includes, limits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_RENDER_H
#define PM_RENDER_H

#include "utils/array.h"
#include "utils/jsonb.h"

/*
 * Render the stored prompt prompt_id with params (NULL: none).  A missing
 * prompt raises, or gives prompt_manager.missing_prompt_text when
 * prompt_manager.raise_on_missing is off.
 */
extern text *pm_render_prompt(const char *prompt_id, Jsonb *params);

/* Render template_text given inline; its includes come from pm_prompts. */
extern text *pm_render_inline(text *template_text, Jsonb *params);

/* The keywords prompt_id and its includes use, in first-use order. */
extern ArrayType *pm_prompt_keywords(const char *prompt_id);

#endif							/* PM_RENDER_H */
