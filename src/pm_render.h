/*-------------------------------------------------------------------------
 *
 * pm_render.h
 *		The renderer: compiled prompts to text, with parameters, includes,
 *		directives and limits.  pm_request.h is the entry point for a
 *		top-level render (cache, statistics, error handler).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_RENDER_H
#define PM_RENDER_H

#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "pm_errors.h"

/*
 * A batch of renders (pm_bulk_render): every prompt, root or include, is
 * read once for the whole batch, and the compiled templates stay valid
 * until pm_render_batch_end().  The batch lives in a child of the context
 * current at pm_render_batch_begin(): when that context goes first (the
 * executor's memory, freed by an error or a rollback to a savepoint), the
 * batch ends with it.
 */
typedef struct PmRenderBatch PmRenderBatch;

extern PmRenderBatch *pm_render_batch_begin(void);
extern void pm_render_batch_end(PmRenderBatch *batch);

/* Called with each line of a streamed render, without its '\n'. */
typedef void (*PmLineSink) (void *arg, const char *line, Size len);

/*
 * Which failures of its own a render reports in PmRenderJob.failure
 * instead of raising them.  Parallel mode allows no subtransaction, so a
 * caller that must answer a failure (the error handler, a bulk request)
 * asks for it here rather than catching an ERROR.  Whatever is not
 * reported is raised as usual: reading the table, permissions, cancel,
 * out of memory.
 */
typedef enum PmRenderSoft
{
	PM_SOFT_NONE = 0,			/* raise every failure */
	PM_SOFT_PROMPT,				/* report those of the prompt itself, the
								 * ones prompt_manager.error_handler answers
								 * (pm_render_answerable_error) */
	PM_SOFT_ALL					/* report those too: params not an object,
								 * render_timeout, the 1 GB limit */
} PmRenderSoft;

/*
 * The failures of the prompt itself, which prompt_manager.error_handler
 * answers: missing prompt, version, label or include, cycle, depth, unknown
 * or malformed directive (a malformed reference in an include), missing
 * parameter or unknown params key in error mode.  Not
 * bad arguments, limits or the server's own errors.
 */
extern bool pm_render_answerable_error(int sqlerrcode);

/*
 * Called with each prompt a render reads (pm_resolve, pm_publish): at
 * depth, included by the prompt whose id is included_by (NULL for the
 * root).  Once per include line met, in render order.
 */
struct PmCompiledPrompt;
typedef void (*PmResolveSink) (void *arg, struct PmCompiledPrompt *prompt,
							   int depth, const char *included_by);

/* One render, and what it tells the caller about its output. */
typedef struct PmRenderJob
{
	const char *prompt_id;		/* a reference to a stored prompt, or NULL: */
	text	   *template_text;	/* the template given inline */
	Jsonb	   *params;			/* or NULL */
	MemoryContext result_cxt;	/* where the result is built */
	PmRenderBatch *batch;		/* read prompts through it, or NULL */
	PmLineSink	line_sink;		/* stream lines to it, or NULL */
	void	   *line_sink_arg;
	PmRenderSoft soft;			/* failures to report, not raise */
	PmResolveSink resolve_sink; /* or NULL */
	void	   *resolve_arg;
	bool		walk;			/* for resolve_sink only: keywords without a
								 * value kept, params not checked */
	bool		as_of_set;		/* render as of as_of (pm_render_as_of) */
	TimestampTz as_of;

	/* out */
	PmErrorText *failure;		/* a failure reported (in result_cxt): the
								 * result is then NULL; or NULL */
	List	   *deps;			/* PmCacheDependency *, one per include */
	bool		cacheable;		/* false once a prompt was missing */
	bool		root_found;		/* the root prompt was read: set before it
								 * is rendered, so also when that fails */
	int64		root_revision;	/* the root prompt's row version read */
	int64		bytes;			/* bytes rendered, streamed ones too */
	bool		uses_refs;		/* a version or label was read */
} PmRenderJob;

/*
 * Render a job.  Returns the text, laid out in job->result_cxt; NULL for
 * a streamed render (the lines went to the sink).  Compiled templates are
 * used between pm_template_cache_begin() and _end(), which the caller
 * brackets the call with.
 */
extern text *pm_render_job(PmRenderJob *job);

/*
 * The keywords the prompt reference prompt_id names and its includes use,
 * in first-use order.
 */
extern ArrayType *pm_prompt_keywords(const char *prompt_id);

#endif							/* PM_RENDER_H */
