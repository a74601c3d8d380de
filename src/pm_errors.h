/*-------------------------------------------------------------------------
 *
 * pm_errors.h
 *		SQLSTATEs raised by prompt_manager.
 *
 * Standard codes where one says exactly what happened; class "PM" for
 * failures of the prompt format itself.  README.md lists them all.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_ERRORS_H
#define PM_ERRORS_H

#include "utils/elog.h"

/* a prompt (root or include) is not in pm_prompts, or not visible: 42704 */
#define ERRCODE_PM_PROMPT_NOT_FOUND		ERRCODE_UNDEFINED_OBJECT
/* a reference names a label the prompt does not have: PM007 (below) */
/* an include chain comes back to a prompt already being rendered: 42P19 */
#define ERRCODE_PM_INCLUDE_CYCLE		ERRCODE_INVALID_RECURSION
/* params is not a JSON object: 22023 */
#define ERRCODE_PM_INVALID_PARAMS		ERRCODE_INVALID_PARAMETER_VALUE
/* the rendered text would pass the 1 GB limit of a text value: 54000 */
#define ERRCODE_PM_OUTPUT_TOO_LARGE		ERRCODE_PROGRAM_LIMIT_EXCEEDED

/*
 * pm_prompts no longer has the shape rendering needs (pm_storage.c): a
 * column it reads is missing (42703) or of another type (42804), it has no
 * primary key on prompt_id (55000), it is not a table (42809), or a row
 * holds NULL in content or parameters after NOT NULL was dropped (22004).
 */
#define ERRCODE_PM_TABLE_NO_COLUMN		ERRCODE_UNDEFINED_COLUMN
#define ERRCODE_PM_TABLE_COLUMN_TYPE	ERRCODE_DATATYPE_MISMATCH
#define ERRCODE_PM_TABLE_NO_PKEY		ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
#define ERRCODE_PM_TABLE_NOT_TABLE		ERRCODE_WRONG_OBJECT_TYPE
#define ERRCODE_PM_NULL_COLUMN			ERRCODE_NULL_VALUE_NOT_ALLOWED

/* includes nested deeper than prompt_manager.max_include_depth */
#define ERRCODE_PM_INCLUDE_DEPTH		MAKE_SQLSTATE('P','M','0','0','1')
/* a '//' directive other than include/import (unknown_directive = error) */
#define ERRCODE_PM_UNKNOWN_DIRECTIVE	MAKE_SQLSTATE('P','M','0','0','2')
/* a keyword without a value (missing_parameter = error) */
#define ERRCODE_PM_MISSING_PARAMETER	MAKE_SQLSTATE('P','M','0','0','3')
/* a render took longer than prompt_manager.render_timeout */
#define ERRCODE_PM_RENDER_TIMEOUT		MAKE_SQLSTATE('P','M','0','0','4')
/* an include directive without exactly one prompt id */
#define ERRCODE_PM_INVALID_DIRECTIVE	MAKE_SQLSTATE('P','M','0','0','5')
/* a params key that matches no keyword (unknown_parameter = error) */
#define ERRCODE_PM_UNKNOWN_PARAMETER	MAKE_SQLSTATE('P','M','0','0','6')
/*
 * a reference id@label names a label that the prompt does not have (in the
 * caller's snapshot; for pm_render_as_of, at that time).  A version that
 * does not exist is 42704, as a prompt that does not exist.
 */
#define ERRCODE_PM_LABEL_NOT_FOUND		MAKE_SQLSTATE('P','M','0','0','7')

/*
 * An error described rather than raised: what ereport() would say.  The
 * renderer reports its own failures this way when asked to (pm_render.h),
 * since parallel mode allows no subtransaction to catch them in.
 */
typedef struct PmErrorText
{
	int			sqlerrcode;
	char	   *message;
	char	   *detail;			/* or NULL */
	char	   *hint;			/* or NULL */
} PmErrorText;

/* Report e at elevel (WARNING, or ERROR: then it does not return). */
static inline void
pm_error_text_report(int elevel, const PmErrorText *e)
{
	ereport(elevel,
			(errcode(e->sqlerrcode),
			 errmsg_internal("%s", e->message),
			 e->detail ? errdetail_internal("%s", e->detail) : 0,
			 e->hint ? errhint("%s", e->hint) : 0));
}

#endif							/* PM_ERRORS_H */
