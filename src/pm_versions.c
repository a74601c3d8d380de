/*-------------------------------------------------------------------------
 *
 * pm_versions.c
 *		The triggers that keep the versions of prompts and the history of
 *		their labels: they write tables no client may write, as the tables'
 *		owner, and record the role that made the change.
 *
 * pm_prompt_versions and pm_label_history are written by nobody but these
 * triggers (no role is granted INSERT on them), so a client cannot forge a
 * version or a move.  A trigger function runs with the privileges of the
 * role whose statement fired it; these switch to the owner of the table
 * they read or write for the duration of each query (as PostgreSQL's own
 * foreign key triggers do, ri_triggers.c), and name the role they were
 * called as, GetUserId() at entry, in created_by and moved_by: the current
 * user of the statement that changed the head or the label, which a
 * SECURITY DEFINER function would have lost.  Every query is
 * schema-qualified, operators included, so the session's search_path plays
 * no part while they run as the owner.
 *
 *	 pm_prompts_version			AFTER INSERT OR UPDATE ON pm_prompts: adds
 *								the next version when the head's revision
 *								changed and its bytes differ from the newest
 *								version's.  BEFORE INSERT: an inserted head
 *								whose bytes equal its newest version's takes
 *								that version's revision (see below).
 *	 pm_labels_guard			BEFORE INSERT OR UPDATE OR DELETE ON
 *								pm_labels: protected labels, and moved_at,
 *								moved_by stamped.
 *	 pm_labels_history			AFTER INSERT OR UPDATE OR DELETE ON
 *								pm_labels: one row of pm_label_history per
 *								move.
 *
 * A restore (pg_dump's data of pm_prompt_versions before pm_prompts, of
 * pm_label_history before pm_labels: the names sort so, and the foreign
 * key puts versions before labels) must neither add versions nor moves:
 * a head whose newest version already holds its bytes adds none, and a
 * label inserted at the version its last recorded move set it to records
 * none and keeps the moved_at and moved_by it is given.  The restored head
 * takes the revision of that version, the one it had in the dump: the
 * revision sequence is restored only after the data, and a fresh revision
 * could equal the revision of an older version of the same prompt.
 *
 * The functions refuse to run on any table but the extension's own (their
 * EXECUTE is revoked from PUBLIC as well): a trigger on another table
 * could otherwise have them write forged rows as the owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(pm_prompts_version);
PG_FUNCTION_INFO_V1(pm_labels_guard);
PG_FUNCTION_INFO_V1(pm_labels_history);

/* A table of the extension, next to the one a trigger fired on. */
typedef struct PmSibling
{
	const char *qualname;		/* quoted schema.name, for queries */
	Oid			owner;			/* the role queries on it run as */
} PmSibling;

/* The role of the current statement, saved while running as an owner. */
typedef struct PmAsOwner
{
	Oid			save_userid;
	int			save_sec_context;
} PmAsOwner;

/*
 * The TriggerData of a row trigger of function fn on the extension's
 * table relname; an error otherwise.
 */
static TriggerData *
pm_trigger_data(FunctionCallInfo fcinfo, const char *fn, const char *relname)
{
	TriggerData *trigdata;
	Relation	rel;
	Oid			ext_oid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s() must be called as a trigger", fn)));
	trigdata = (TriggerData *) fcinfo->context;
	rel = trigdata->tg_relation;
	ext_oid = get_extension_oid("prompt_manager", true);
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		strcmp(RelationGetRelationName(rel), relname) != 0 ||
		!OidIsValid(ext_oid) ||
		getExtensionOfObject(RelationRelationId, RelationGetRelid(rel)) != ext_oid)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s() fires only as a row trigger on table \"%s\" of extension \"prompt_manager\"",
						fn, relname)));
	return trigdata;
}

/* The extension's table name in the schema of rel. */
static PmSibling
pm_sibling(Relation rel, const char *name)
{
	Oid			nsp = RelationGetNamespace(rel);
	Oid			relid = get_relname_relid(name, nsp);
	HeapTuple	tp;
	PmSibling	s;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table \"%s\" of extension \"prompt_manager\" does not exist", name),
				 errhint("ALTER EXTENSION prompt_manager UPDATE creates it.")));
	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	s.owner = ((Form_pg_class) GETSTRUCT(tp))->relowner;
	ReleaseSysCache(tp);
	s.qualname = quote_qualified_identifier(get_namespace_name(nsp), name);
	return s;
}

/* Run as owner from now on, row-level security not forced. */
static void
pm_become_owner(Oid owner, PmAsOwner *saved)
{
	GetUserIdAndSecContext(&saved->save_userid, &saved->save_sec_context);
	SetUserIdAndSecContext(owner, saved->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
}

/* Back to the role saved by pm_become_owner. */
static void
pm_restore_user(PmAsOwner *saved)
{
	SetUserIdAndSecContext(saved->save_userid, saved->save_sec_context);
}

/*
 * Run one query as the owner of s; SPI must be connected.  Returns
 * SPI_processed.
 */
static uint64
pm_spi_as_owner(const PmSibling *s, const char *sql, int nargs, Oid *types,
				Datum *values, const char *nulls, int expect)
{
	PmAsOwner	saved;
	int			rc;

	pm_become_owner(s->owner, &saved);
	rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	pm_restore_user(&saved);
	if (rc != expect)
		elog(ERROR, "SPI_execute_with_args returned %s for: %s",
			 SPI_result_code_string(rc), sql);
	return SPI_processed;
}

/* Attribute number of column name in rel; an error when it is missing. */
static int
pm_attnum(Relation rel, const char *name)
{
	int			attnum = SPI_fnumber(RelationGetDescr(rel), name);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist",
						name, RelationGetRelationName(rel))));
	return attnum;
}

/* Column name of tuple, with *isnull set. */
static Datum
pm_getattr(Relation rel, HeapTuple tuple, const char *name, bool *isnull)
{
	return heap_getattr(tuple, pm_attnum(rel, name), RelationGetDescr(rel), isnull);
}

/* A name Datum of the role roleid. */
static Datum
pm_role_name_datum(Oid roleid)
{
	NameData   *n = (NameData *) palloc0(NAMEDATALEN);

	namestrcpy(n, GetUserNameFromId(roleid, false));
	return NameGetDatum(n);
}

/*
 * pm_prompts_version(): the version trigger of pm_prompts (see the header
 * comment).
 */
Datum
pm_prompts_version(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = pm_trigger_data(fcinfo, "pm_prompts_version", "pm_prompts");
	Relation	rel = trigdata->tg_relation;
	HeapTuple	newtup;
	PmSibling	versions;
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	Oid			types[5] = {TEXTOID, TEXTOID, JSONBOID, NAMEOID, INT8OID};
	bool		isnull[3];
	Oid			caller = GetUserId();

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		newtup = trigdata->tg_newtuple;
	else if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		newtup = trigdata->tg_trigtuple;
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("pm_prompts_version() fires only on INSERT and UPDATE")));

	values[0] = pm_getattr(rel, newtup, "prompt_id", &isnull[0]);
	values[1] = pm_getattr(rel, newtup, "content", &isnull[1]);
	values[2] = pm_getattr(rel, newtup, "parameters", &isnull[2]);
	if (isnull[0] || isnull[1] || isnull[2])
		return PointerGetDatum(newtup);	/* NOT NULL refuses the row */

	versions = pm_sibling(rel, "pm_prompt_versions");

	if (TRIGGER_FIRED_BEFORE(trigdata->tg_event))
	{
		/* an inserted head equal to its newest version takes its revision */
		char	   *sql;
		bool		found = false;
		int64		revision = 0;

		if (!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
			return PointerGetDatum(newtup);
		sql = psprintf("SELECT v.revision FROM %s AS v"
					   " WHERE v.prompt_id OPERATOR(pg_catalog.=) $1"
					   " AND pg_catalog.record_image_eq(ROW(v.content, v.parameters),"
					   " ROW($2, $3))"
					   " AND v.version OPERATOR(pg_catalog.=) (SELECT pg_catalog.max(w.version)"
					   " FROM %s AS w WHERE w.prompt_id OPERATOR(pg_catalog.=) $1)",
					   versions.qualname, versions.qualname);
		SPI_connect();
		if (pm_spi_as_owner(&versions, sql, 3, types, values, nulls, SPI_OK_SELECT) == 1)
		{
			bool		revnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &revnull);

			if (!revnull)
			{
				found = true;
				revision = DatumGetInt64(d);
			}
		}
		SPI_finish();
		if (found)
		{
			int			col = pm_attnum(rel, "revision");
			Datum		val = Int64GetDatum(revision);
			bool		valnull = false;

			newtup = heap_modify_tuple_by_cols(newtup, RelationGetDescr(rel),
											   1, &col, &val, &valnull);
		}
		return PointerGetDatum(newtup);
	}

	/* AFTER: an update that kept the revision changed nothing a render reads */
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		bool		n1,
					n2;
		Datum		newrev = pm_getattr(rel, newtup, "revision", &n1);
		Datum		oldrev = pm_getattr(rel, trigdata->tg_trigtuple, "revision", &n2);

		if (!n1 && !n2 && DatumGetInt64(newrev) == DatumGetInt64(oldrev))
			return PointerGetDatum(NULL);
	}
	values[3] = pm_role_name_datum(caller);
	values[4] = pm_getattr(rel, newtup, "revision", &isnull[0]);
	if (isnull[0])
		nulls[4] = 'n';

	SPI_connect();
	pm_spi_as_owner(&versions,
					psprintf("WITH newest AS (SELECT v.version, v.content, v.parameters"
							 " FROM %s AS v WHERE v.prompt_id OPERATOR(pg_catalog.=) $1"
							 " ORDER BY v.version DESC LIMIT 1)"
							 " INSERT INTO %s (prompt_id, version, content, parameters, created_by, revision)"
							 " SELECT $1, COALESCE((SELECT n.version FROM newest AS n), 0)"
							 " OPERATOR(pg_catalog.+) 1, $2, $3, $4, $5"
							 " WHERE NOT EXISTS (SELECT FROM newest AS n WHERE"
							 " pg_catalog.record_image_eq(ROW(n.content, n.parameters), ROW($2, $3)))",
							 versions.qualname, versions.qualname),
					5, types, values, nulls, SPI_OK_INSERT);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * The version the last recorded move of label of prompt_id set it to;
 * false when no move is recorded or the last one removed it.  SPI must be
 * connected.
 */
static bool
pm_last_move_to(const PmSibling *history, Datum prompt_id, Datum label,
				int32 *to_version)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {prompt_id, label};
	bool		isnull;
	Datum		d;

	if (pm_spi_as_owner(history,
						psprintf("SELECT h.to_version FROM %s AS h"
								 " WHERE h.prompt_id OPERATOR(pg_catalog.=) $1"
								 " AND h.label OPERATOR(pg_catalog.=) $2"
								 " ORDER BY h.move_id DESC LIMIT 1", history->qualname),
						2, types, values, NULL, SPI_OK_SELECT) != 1)
		return false;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return false;
	*to_version = DatumGetInt32(d);
	return true;
}

/*
 * Is this insert of a label a restore: does its last recorded move already
 * set it to this version?  SPI must be connected.
 */
static bool
pm_label_insert_recorded(Relation rel, const PmSibling *history, HeapTuple tup)
{
	bool		n1,
				n2,
				n3;
	Datum		prompt_id = pm_getattr(rel, tup, "prompt_id", &n1);
	Datum		label = pm_getattr(rel, tup, "label", &n2);
	Datum		version = pm_getattr(rel, tup, "version", &n3);
	int32		to_version;

	if (n1 || n2 || n3)
		return false;
	return pm_last_move_to(history, prompt_id, label, &to_version) &&
		to_version == DatumGetInt32(version);
}

/*
 * Refuse the write of label (of prompt_id) unless the caller is a member
 * of the role that protects it.  SPI must be connected.
 */
static void
pm_check_protected(const PmSibling *protected, Oid caller, Datum prompt_id,
				   Datum label)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {label};
	bool		isnull;
	Datum		d;
	char	   *role;
	Oid			roleid;

	if (pm_spi_as_owner(protected,
						psprintf("SELECT p.role FROM %s AS p WHERE p.label OPERATOR(pg_catalog.=) $1",
								 protected->qualname),
						1, types, values, NULL, SPI_OK_SELECT) == 0)
		return;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return;					/* NOT NULL was dropped: protected by nobody */
	role = NameStr(*DatumGetName(d));
	roleid = get_role_oid(role, true);
	if (OidIsValid(roleid) ? is_member_of_role(caller, roleid) : superuser_arg(caller))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to move label \"%s\" of prompt \"%s\"",
					TextDatumGetCString(label), TextDatumGetCString(prompt_id)),
			 OidIsValid(roleid) ?
			 errdetail("Label \"%s\" is protected: only members of role \"%s\" may set, move or remove it.",
					   TextDatumGetCString(label), role) :
			 errdetail("Label \"%s\" is protected by role \"%s\", which does not exist: only superusers may set, move or remove it.",
					   TextDatumGetCString(label), role),
			 OidIsValid(roleid) ?
			 errhint("A member of role \"%s\" can move it, or grant you membership in the role (pm_protected_labels lists the protected labels).",
					 role) :
			 errhint("The owner of pm_protected_labels can name an existing role for it.")));
}

/*
 * pm_labels_guard(): BEFORE INSERT OR UPDATE OR DELETE ON pm_labels.
 * Protected labels are checked for every row written, old and new; an
 * insert or an update that moves a label gets moved_at and moved_by of
 * now and the caller, an update that moves nothing keeps the old ones,
 * and a restored label (see the header comment) keeps its own.
 */
Datum
pm_labels_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = pm_trigger_data(fcinfo, "pm_labels_guard", "pm_labels");
	Relation	rel = trigdata->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			caller = GetUserId();
	PmSibling	protected = pm_sibling(rel, "pm_protected_labels");
	HeapTuple	oldtup = NULL;
	HeapTuple	newtup = NULL;
	bool		stamp = false;
	bool		keep_old = false;
	bool		n1,
				n2;
	Datum		d1,
				d2;

	if (TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("pm_labels_guard() fires only BEFORE")));
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		newtup = trigdata->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		oldtup = trigdata->tg_trigtuple;
		newtup = trigdata->tg_newtuple;
	}
	else
		oldtup = trigdata->tg_trigtuple;

	SPI_connect();
	if (oldtup)
	{
		d1 = pm_getattr(rel, oldtup, "prompt_id", &n1);
		d2 = pm_getattr(rel, oldtup, "label", &n2);
		if (!n1 && !n2)
			pm_check_protected(&protected, caller, d1, d2);
	}
	if (newtup)
	{
		d1 = pm_getattr(rel, newtup, "prompt_id", &n1);
		d2 = pm_getattr(rel, newtup, "label", &n2);
		if (!n1 && !n2)
			pm_check_protected(&protected, caller, d1, d2);
	}
	if (newtup && !oldtup)
	{
		PmSibling	history = pm_sibling(rel, "pm_label_history");

		stamp = !pm_label_insert_recorded(rel, &history, newtup);
	}
	else if (newtup)
	{
		/* a move when the key or the version changed, byte for byte */
		static const char *const cols[] = {"prompt_id", "label", "version"};

		keep_old = true;
		for (int i = 0; i < lengthof(cols); i++)
		{
			int			attnum = pm_attnum(rel, cols[i]);
			Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
			bool		on,
						nn;
			Datum		o = heap_getattr(oldtup, attnum, desc, &on);
			Datum		n = heap_getattr(newtup, attnum, desc, &nn);

			if (on != nn ||
				(!on && !datum_image_eq(o, n, att->attbyval, att->attlen)))
				keep_old = false;
		}
		stamp = !keep_old;
	}
	SPI_finish();

	if (stamp || keep_old)
	{
		int			cols[2] = {pm_attnum(rel, "moved_at"), pm_attnum(rel, "moved_by")};
		Datum		vals[2];
		bool		nulls[2] = {false, false};

		if (stamp)
		{
			vals[0] = TimestampTzGetDatum(GetCurrentTimestamp());
			vals[1] = pm_role_name_datum(caller);
		}
		else
		{
			vals[0] = heap_getattr(oldtup, cols[0], desc, &nulls[0]);
			vals[1] = heap_getattr(oldtup, cols[1], desc, &nulls[1]);
		}
		newtup = heap_modify_tuple_by_cols(newtup, desc, 2, cols, vals, nulls);
	}
	return PointerGetDatum(newtup ? newtup : oldtup);
}

/* Insert one move into pm_label_history.  SPI must be connected. */
static void
pm_record_move(const PmSibling *history, HeapTuple keytup, Relation rel,
			   HeapTuple fromtup, HeapTuple totup, Oid caller)
{
	Oid			types[6] = {TEXTOID, TEXTOID, INT4OID, INT4OID, TIMESTAMPTZOID, NAMEOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;

	values[0] = pm_getattr(rel, keytup, "prompt_id", &isnull);
	values[1] = pm_getattr(rel, keytup, "label", &isnull);
	values[2] = values[3] = (Datum) 0;
	if (fromtup)
		values[2] = pm_getattr(rel, fromtup, "version", &isnull);
	else
		nulls[2] = 'n';
	if (totup)
	{
		values[3] = pm_getattr(rel, totup, "version", &isnull);
		/* the moved_at that pm_labels_guard gave the row */
		values[4] = pm_getattr(rel, totup, "moved_at", &isnull);
		if (isnull)
			values[4] = TimestampTzGetDatum(GetCurrentTimestamp());
	}
	else
	{
		nulls[3] = 'n';
		values[4] = TimestampTzGetDatum(GetCurrentTimestamp());
	}
	values[5] = pm_role_name_datum(caller);
	pm_spi_as_owner(history,
					psprintf("INSERT INTO %s (prompt_id, label, from_version, to_version, moved_at, moved_by)"
							 " VALUES ($1, $2, $3, $4, $5, $6)", history->qualname),
					6, types, values, nulls, SPI_OK_INSERT);
}

/*
 * pm_labels_history(): AFTER INSERT OR UPDATE OR DELETE ON pm_labels, one
 * row of pm_label_history per move: a set (from NULL), a move, a removal
 * (to NULL); an update that changes prompt_id or label is the removal of
 * the old label and the setting of the new one.  An update that changes
 * neither them nor the version records nothing, nor does a restored label.
 */
Datum
pm_labels_history(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = pm_trigger_data(fcinfo, "pm_labels_history", "pm_labels");
	Relation	rel = trigdata->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			caller = GetUserId();
	PmSibling	history = pm_sibling(rel, "pm_label_history");

	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("pm_labels_history() fires only AFTER")));

	SPI_connect();
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		HeapTuple	newtup = trigdata->tg_trigtuple;

		if (!pm_label_insert_recorded(rel, &history, newtup))
			pm_record_move(&history, newtup, rel, NULL, newtup, caller);
	}
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
	{
		HeapTuple	oldtup = trigdata->tg_trigtuple;

		pm_record_move(&history, oldtup, rel, oldtup, NULL, caller);
	}
	else
	{
		HeapTuple	oldtup = trigdata->tg_trigtuple;
		HeapTuple	newtup = trigdata->tg_newtuple;
		bool		same_key = true;
		bool		same_version;
		static const char *const keys[] = {"prompt_id", "label"};
		int			vatt = pm_attnum(rel, "version");
		bool		on,
					nn;
		Datum		o,
					n;

		for (int i = 0; i < lengthof(keys); i++)
		{
			int			attnum = pm_attnum(rel, keys[i]);
			Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);

			o = heap_getattr(oldtup, attnum, desc, &on);
			n = heap_getattr(newtup, attnum, desc, &nn);
			if (on != nn || (!on && !datum_image_eq(o, n, att->attbyval, att->attlen)))
				same_key = false;
		}
		o = heap_getattr(oldtup, vatt, desc, &on);
		n = heap_getattr(newtup, vatt, desc, &nn);
		same_version = (on == nn) && (on || DatumGetInt32(o) == DatumGetInt32(n));
		if (!same_key)
		{
			pm_record_move(&history, oldtup, rel, oldtup, NULL, caller);
			pm_record_move(&history, newtup, rel, NULL, newtup, caller);
		}
		else if (!same_version)
			pm_record_move(&history, newtup, rel, oldtup, newtup, caller);
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}
