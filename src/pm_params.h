/*-------------------------------------------------------------------------
 *
 * pm_params.h
 *		Render parameters: a jsonb object turned into keyword/value pairs.
 *
 * Keys are normalised once, when the list is built: the gem's bracketed
 * form ("[NAME]") is kept as written, a bare name in any case ("name",
 * "First Name") becomes "[NAME]", "[FIRST NAME]".  Values are resolved to
 * the text inserted into the output (array: its last element; null: empty).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_PARAMS_H
#define PM_PARAMS_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "pm_errors.h"
#include "pm_template.h"

typedef struct PmParam
{
	const char *name;			/* the key as given, for messages */
	uint32		name_len;
	const char *key;			/* normalised: "[NAME]" */
	uint32		key_len;
	bool		bracketed;		/* given as "[NAME]" rather than "name" */
	const char *value;			/* text inserted for the keyword */
	uint32		value_len;
} PmParam;

typedef struct PmParamList
{
	int			nparams;
	PmParam    *params;
} PmParamList;

/* The value chosen for one keyword of a template (see pm_params_resolve). */
typedef struct PmSlot
{
	const char *value;
	uint32		value_len;
	int			rank;			/* -1: no value */
} PmSlot;

/*
 * Build a list from a jsonb object, in CurrentMemoryContext.  The strings
 * may point into jb, which must outlive the list.  what names the argument
 * in the error raised when jb is not an object.
 */
extern PmParamList *pm_params_from_jsonb(Jsonb *jb, const char *what);

/*
 * Is jb an object, as pm_params_from_jsonb needs?  If not, *error says
 * what pm_params_from_jsonb would raise.
 */
extern bool pm_params_check_object(Jsonb *jb, const char *what,
								   PmErrorText *error);

/*
 * Fill slots[tpl->nkeywords] from layers[0..nlayers), highest priority
 * first: a value from an earlier layer wins, and inside one layer a
 * bracketed key wins over a bare name.
 */
extern void pm_params_resolve(const PmTemplate *tpl, PmParamList *const *layers,
							  int nlayers, PmSlot *slots);

/*
 * prompt_manager.unknown_parameter: mark in matched[list->nparams] the
 * params that match a keyword of tpl (as pm_params_resolve matches them),
 * counting down *unmatched.
 */
extern void pm_params_match(const PmTemplate *tpl, const PmParamList *list,
							bool *matched, int *unmatched);

/*
 * Report the params of list not marked in matched, at elevel (WARNING or
 * ERROR), as matching no keyword of what ("prompt "x"", "the inline
 * template") or its includes; templates (const PmTemplate *) are those
 * rendered, whose keywords the hint lists.
 */
extern void pm_params_report_unknown(const PmParamList *list,
									 const bool *matched, const char *what,
									 List *templates, int elevel);

/*
 * pm_params_report_unknown's check without the report: true, with *error
 * filled in, when a params key matches no keyword.
 */
extern bool pm_params_describe_unknown(const PmParamList *list,
									   const bool *matched, const char *what,
									   List *templates, PmErrorText *error);

#endif							/* PM_PARAMS_H */
