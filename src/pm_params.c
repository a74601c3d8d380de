/*-------------------------------------------------------------------------
 *
 * pm_params.c
 *		Render parameters: a jsonb object turned into keyword/value pairs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "pm_errors.h"
#include "pm_params.h"

/* The text a scalar JSON value is inserted as. */
static void
pm_scalar_text(JsonbValue *v, const char **value, uint32 *len)
{
	switch (v->type)
	{
		case jbvNull:
			*value = "";
			*len = 0;
			break;
		case jbvString:
			*value = v->val.string.val;
			*len = v->val.string.len;
			break;
		case jbvNumeric:
			*value = DatumGetCString(DirectFunctionCall1(numeric_out,
														 NumericGetDatum(v->val.numeric)));
			*len = strlen(*value);
			break;
		case jbvBool:
			*value = v->val.boolean ? "true" : "false";
			*len = v->val.boolean ? 4 : 5;
			break;
		case jbvBinary:
			/* an object, or an array inside the history: its JSON text */
			*value = JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
			*len = strlen(*value);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

/*
 * The text inserted for a parameter value: an array is a history whose last
 * element is used (an empty array gives the empty string); any other value
 * is converted by pm_scalar_text.
 */
static void
pm_value_text(JsonbValue *v, const char **value, uint32 *len)
{
	if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
	{
		uint32		n = JsonContainerSize(v->val.binary.data);
		JsonbValue *last;

		if (n == 0)
		{
			*value = "";
			*len = 0;
			return;
		}
		last = getIthJsonbValueFromContainer(v->val.binary.data, n - 1);
		pm_scalar_text(last, value, len);
		return;
	}
	pm_scalar_text(v, value, len);
}

/* Normalise a key: "[NAME]" stays, a bare "name" becomes "[NAME]". */
static void
pm_normalise_key(PmParam *param, const char *key, int len)
{
	if (len >= 2 && key[0] == '[' && key[len - 1] == ']')
	{
		param->key = key;
		param->key_len = len;
		param->bracketed = true;
	}
	else
	{
		char	   *buf = palloc(len + 3);
		int			i;

		buf[0] = '[';
		for (i = 0; i < len; i++)
			buf[i + 1] = pg_ascii_toupper((unsigned char) key[i]);
		buf[len + 1] = ']';
		buf[len + 2] = '\0';
		param->key = buf;
		param->key_len = len + 2;
		param->bracketed = false;
	}
}

bool
pm_params_check_object(Jsonb *jb, const char *what, PmErrorText *error)
{
	if (JB_ROOT_IS_OBJECT(jb) && !JB_ROOT_IS_SCALAR(jb))
		return true;
	error->sqlerrcode = ERRCODE_PM_INVALID_PARAMS;
	error->message = psprintf("%s must be a JSON object", what);
	error->detail = psprintf("The value given is a JSON %s.",
							 JB_ROOT_IS_ARRAY(jb) && !JB_ROOT_IS_SCALAR(jb) ? "array" : "scalar");
	error->hint = pstrdup("Pass parameters as an object, for example '{\"name\": \"Ada\"}' or '{\"[NAME]\": \"Ada\"}'.");
	return false;
}

PmParamList *
pm_params_from_jsonb(Jsonb *jb, const char *what)
{
	PmParamList *list = palloc0(sizeof(PmParamList));
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n;
	PmErrorText error;

	if (!pm_params_check_object(jb, what, &error))
		pm_error_text_report(ERROR, &error);

	n = JB_ROOT_COUNT(jb);
	if (n == 0)
		return list;
	list->params = palloc(sizeof(PmParam) * n);

	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		PmParam    *param;

		if (tok != WJB_KEY)
			continue;
		param = &list->params[list->nparams];
		param->name = v.val.string.val;
		param->name_len = v.val.string.len;
		pm_normalise_key(param, v.val.string.val, v.val.string.len);

		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		pm_value_text(&v, &param->value, &param->value_len);
		list->nparams++;
	}
	return list;
}

void
pm_params_resolve(const PmTemplate *tpl, PmParamList *const *layers,
				  int nlayers, PmSlot *slots)
{
	uint32		i;
	int			layer;

	for (i = 0; i < tpl->nkeywords; i++)
	{
		slots[i].value = NULL;
		slots[i].value_len = 0;
		slots[i].rank = -1;
	}
	if (tpl->nkeywords == 0)
		return;

	for (layer = 0; layer < nlayers; layer++)
	{
		PmParamList *list = layers[layer];
		int			j;

		if (list == NULL)
			continue;
		for (j = 0; j < list->nparams; j++)
		{
			PmParam    *param = &list->params[j];
			int			rank = (nlayers - layer) * 2 + (param->bracketed ? 1 : 0);
			int			k;

			k = pm_template_find_keyword(tpl, param->key, param->key_len);
			if (k < 0 || slots[k].rank > rank)
				continue;
			slots[k].value = param->value;
			slots[k].value_len = param->value_len;
			slots[k].rank = rank;
		}
	}
}

void
pm_params_match(const PmTemplate *tpl, const PmParamList *list,
				bool *matched, int *unmatched)
{
	int			j;

	for (j = 0; j < list->nparams && *unmatched > 0; j++)
	{
		CHECK_FOR_INTERRUPTS();
		if (matched[j] ||
			pm_template_find_keyword(tpl, list->params[j].key,
									 list->params[j].key_len) < 0)
			continue;
		matched[j] = true;
		(*unmatched)--;
	}
}

/* At most this many keys and keywords are named in one report. */
#define PM_REPORT_MAX_NAMES 20
/* and each at most this many bytes */
#define PM_REPORT_MAX_NAME_BYTES 64

/* Append "name" to buf, clipped to PM_REPORT_MAX_NAME_BYTES. */
static void
pm_append_quoted(StringInfo buf, const char *name, int len)
{
	int			clip = pg_mbcliplen(name, len, PM_REPORT_MAX_NAME_BYTES);

	appendStringInfo(buf, "\"%.*s%s\"", clip, name, clip < len ? "..." : "");
}

/* qsort comparator of keyword names (PmKeywordName) */
typedef struct PmKeywordName
{
	const char *name;
	uint32		len;
} PmKeywordName;

static int
pm_keyword_name_cmp(const void *a, const void *b)
{
	const PmKeywordName *x = (const PmKeywordName *) a;
	const PmKeywordName *y = (const PmKeywordName *) b;
	int			c = memcmp(x->name, y->name, Min(x->len, y->len));

	if (c != 0)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}

/*
 * The hint's list of the keywords of templates: sorted, without repeats,
 * at most PM_REPORT_MAX_NAMES of them ("[A], [B] and 3 more").  Empty when
 * there is none.
 */
static char *
pm_keyword_list(List *templates)
{
	StringInfoData buf;
	PmKeywordName *names;
	int			n = 0;
	int			distinct = 0;
	int			shown = 0;
	int			i;
	ListCell   *lc;

	foreach(lc, templates)
		n += ((const PmTemplate *) lfirst(lc))->nkeywords;
	initStringInfo(&buf);
	if (n == 0)
		return buf.data;
	names = palloc_extended(sizeof(PmKeywordName) * n, MCXT_ALLOC_HUGE);
	n = 0;
	foreach(lc, templates)
	{
		const PmTemplate *tpl = (const PmTemplate *) lfirst(lc);
		uint32		k;

		for (k = 0; k < tpl->nkeywords; k++)
		{
			names[n].name = tpl->pool + tpl->keywords[k].off;
			names[n].len = tpl->keywords[k].len;
			n++;
		}
	}
	qsort(names, n, sizeof(PmKeywordName), pm_keyword_name_cmp);
	for (i = 0; i < n; i++)
	{
		if (i > 0 && pm_keyword_name_cmp(&names[i - 1], &names[i]) == 0)
			continue;
		distinct++;
		if (shown == PM_REPORT_MAX_NAMES)
			continue;
		if (shown > 0)
			appendStringInfoString(&buf, ", ");
		appendBinaryStringInfo(&buf, names[i].name,
							   pg_mbcliplen(names[i].name, names[i].len,
											PM_REPORT_MAX_NAME_BYTES));
		shown++;
	}
	if (distinct > shown)
		appendStringInfo(&buf, " and %d more", distinct - shown);
	pfree(names);
	return buf.data;
}

bool
pm_params_describe_unknown(const PmParamList *list, const bool *matched,
						   const char *what, List *templates,
						   PmErrorText *error)
{
	StringInfoData keys;
	int			nunknown = 0;
	int			j;
	char	   *keywords;

	initStringInfo(&keys);
	for (j = 0; j < list->nparams; j++)
	{
		CHECK_FOR_INTERRUPTS();
		if (matched[j])
			continue;
		nunknown++;
		if (nunknown > PM_REPORT_MAX_NAMES)
			continue;
		if (nunknown > 1)
			appendStringInfoString(&keys, ", ");
		pm_append_quoted(&keys, list->params[j].name, list->params[j].name_len);
	}
	if (nunknown == 0)
	{
		pfree(keys.data);
		return false;
	}
	if (nunknown > PM_REPORT_MAX_NAMES)
		appendStringInfo(&keys, " and %d more", nunknown - PM_REPORT_MAX_NAMES);

	keywords = pm_keyword_list(templates);
	error->sqlerrcode = ERRCODE_PM_UNKNOWN_PARAMETER;
	error->message = nunknown == 1 ?
		psprintf("params key %s matches no keyword of %s or its includes",
				 keys.data, what) :
		psprintf("params keys %s match no keyword of %s or its includes",
				 keys.data, what);
	error->detail = keywords[0] != '\0' ?
		psprintf("The keywords are %s.", keywords) :
		pstrdup("There are no keywords.");
	error->hint = pstrdup("A keyword is written in upper case in brackets, such as [NAME] "
						  "([name] is plain text); a params key matches it as \"name\" in any case, "
						  "or as \"[NAME]\". Set prompt_manager.unknown_parameter to ignore to pass "
						  "keys that are not used.");
	pfree(keys.data);
	pfree(keywords);
	return true;
}

void
pm_params_report_unknown(const PmParamList *list, const bool *matched,
						 const char *what, List *templates, int elevel)
{
	PmErrorText error;

	if (pm_params_describe_unknown(list, matched, what, templates, &error))
		pm_error_text_report(elevel, &error);
}
