/*-------------------------------------------------------------------------
 *
 * pm_ref.c
 *		Parsing references to prompts ("id", "id@3", "id@production").
 *
 * Plain C over a byte buffer but for palloc and ereport; see pm_ref.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "pm_ref.h"

/* Is c a byte a label may hold after its first? */
static inline bool
pm_label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

const char *
pm_ref_parse(const char *text, size_t len, PmRef *ref)
{
	const char *at = memchr(text, '@', len);
	const char *tail;
	size_t		tail_len;
	size_t		i;
	bool		digits = true;

	memset(ref, 0, sizeof(PmRef));
	ref->id = text;
	if (at == NULL)
	{
		ref->kind = PM_REF_HEAD;
		ref->id_len = len;
		return NULL;
	}
	ref->id_len = at - text;
	tail = at + 1;
	tail_len = len - ref->id_len - 1;
	if (ref->id_len == 0)
		return pstrdup("It has no prompt id before \"@\".");
	if (tail_len == 0)
		return pstrdup("Nothing follows \"@\": write a version number or a label.");
	for (i = 0; i < tail_len; i++)
	{
		if (tail[i] < '0' || tail[i] > '9')
			digits = false;
	}
	if (digits)
	{
		int64		v = 0;

		for (i = 0; i < tail_len; i++)
		{
			v = v * 10 + (tail[i] - '0');
			if (v > PG_INT32_MAX)
				break;
		}
		if (v < 1 || v > PG_INT32_MAX)
			return pstrdup("Versions are numbered from 1 to 2147483647.");
		ref->kind = PM_REF_VERSION;
		ref->version = (int32) v;
		return NULL;
	}
	if (memchr(tail, '@', tail_len) != NULL)
		return pstrdup("It holds more than one \"@\".");
	if (tail_len > PM_LABEL_MAX_LEN)
		return psprintf("A label is at most %d bytes long.", PM_LABEL_MAX_LEN);
	if (!(tail[0] >= 'a' && tail[0] <= 'z'))
		return pstrdup("What follows \"@\" is neither a version number nor a label: a label starts with a lower-case letter a-z.");
	for (i = 1; i < tail_len; i++)
	{
		if (!pm_label_char(tail[i]))
			return pstrdup("What follows \"@\" is neither a version number nor a label: a label holds only a-z, 0-9, \"_\" and \"-\".");
	}
	ref->kind = PM_REF_LABEL;
	ref->label = tail;
	ref->label_len = tail_len;
	return NULL;
}

void
pm_ref_parse_arg(const char *text, size_t len, PmRef *ref)
{
	const char *problem = pm_ref_parse(text, len, ref);

	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid prompt reference \"%.*s\"", (int) Min(len, 300), text),
				 errdetail_internal("%s", problem),
				 errhint("A reference is a prompt id, id@3 for version 3, or id@label for the version a label points to.")));
}

char *
pm_ref_key(const PmRef *ref)
{
	switch (ref->kind)
	{
		case PM_REF_HEAD:
			return pnstrdup(ref->id, ref->id_len);
		case PM_REF_VERSION:
			return psprintf("%.*s@%d", (int) ref->id_len, ref->id, ref->version);
		case PM_REF_LABEL:
			return psprintf("%.*s@%.*s", (int) ref->id_len, ref->id,
							(int) ref->label_len, ref->label);
		case PM_REF_LABEL_OR_HEAD:
			return psprintf("%.*s@%.*s?", (int) ref->id_len, ref->id,
							(int) ref->label_len, ref->label);
	}
	return NULL;				/* keep the compiler quiet */
}

void
pm_ref_from_key(const char *key, size_t len, PmRef *ref)
{
	const char *at = memchr(key, '@', len);
	const char *tail;
	size_t		tail_len;
	size_t		i;
	int64		v = 0;

	memset(ref, 0, sizeof(PmRef));
	ref->id = key;
	if (at == NULL)
	{
		ref->kind = PM_REF_HEAD;
		ref->id_len = len;
		return;
	}
	ref->id_len = at - key;
	tail = at + 1;
	tail_len = len - ref->id_len - 1;
	if (tail_len > 0 && tail[0] >= '0' && tail[0] <= '9')
	{
		for (i = 0; i < tail_len; i++)
			v = v * 10 + (tail[i] - '0');
		ref->kind = PM_REF_VERSION;
		ref->version = (int32) v;
		return;
	}
	ref->label = tail;
	ref->label_len = tail_len;
	ref->kind = PM_REF_LABEL;
	if (tail_len > 0 && tail[tail_len - 1] == '?')
	{
		ref->kind = PM_REF_LABEL_OR_HEAD;
		ref->label_len--;
	}
}
