/*-------------------------------------------------------------------------
 *
 * pm_request.h
 *		A top-level render: the shared cache, statistics and the error
 *		handler around the renderer (pm_render.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_REQUEST_H
#define PM_REQUEST_H

#include "utils/jsonb.h"

#include "pm_render.h"

/*
 * Render the stored prompt that reference prompt_id ("id", "id@3",
 * "id@production") names, with params (NULL: none).  A missing
 * prompt raises, or gives prompt_manager.missing_prompt_text when
 * prompt_manager.raise_on_missing is off.  NULL (SQL NULL) when
 * prompt_manager.error_handler answers a failure with NULL.
 */
extern text *pm_render_prompt(const char *prompt_id, Jsonb *params);

/*
 * Render template_text given inline; its includes come from pm_prompts.
 * NULL as pm_render_prompt.
 */
extern text *pm_render_inline(text *template_text, Jsonb *params);

/* What else one render does, beyond pm_render_prompt(). */
typedef struct PmRenderOptions
{
	PmRenderBatch *batch;		/* read prompts through this batch, or NULL */
	PmLineSink	line_sink;		/* stream lines to it (no cache, no text) */
	void	   *line_sink_arg;
	bool		cache_only;		/* return a cached rendering or NULL */
	bool		cache_checked;	/* the cache was asked already: render */
	bool		catch_errors;	/* return NULL with error/sqlstate set */
	bool		no_stats;		/* not counted in pm_stats (pm_preload) */
	bool		always_store;	/* stored even in a full cache when not
								 * missed before (pm_preload) */
	bool		borrow_result;	/* a cache hit may be returned without a
								 * copy, valid until the next render */
	bool		as_of_set;		/* render as of as_of (never cached) */
	TimestampTz as_of;
	bool		from_cache;		/* out: the result came from the cache */
	bool		cached;			/* out: it is in the cache (hit or stored) */
	int64		bytes;			/* out: bytes rendered (streamed too) */
	char	   *error;			/* out, with catch_errors: the message */
	char	   *sqlstate;		/* out, with catch_errors: its SQLSTATE */
} PmRenderOptions;

/*
 * pm_render_prompt with options.  With a line sink, returns NULL: the
 * lines went to the sink.  With catch_errors, a failure of the prompt is
 * caught (in a subtransaction) and returned in opts->error and
 * opts->sqlstate with a NULL result; cancel, timeouts and resource errors
 * are still raised.  In parallel mode, where no subtransaction may start,
 * only the failures of the render itself are returned so (PM_SOFT_ALL,
 * pm_render.h); the others are raised.
 */
extern text *pm_render_prompt_opts(const char *prompt_id, Jsonb *params,
								   PmRenderOptions *opts);

#endif							/* PM_REQUEST_H */
