/*-------------------------------------------------------------------------
 *
 * pm_guard.c
 *		The event trigger that keeps DROP EXTENSION from deleting prompts
 *		without being asked to.
 *
 * pm_prompts is a member of the extension, so DROP EXTENSION prompt_manager
 * drops it, and every prompt in it, like any other member.  The install
 * script creates the event trigger pm_drop_guard (ddl_command_start, WHEN
 * TAG IN ('DROP EXTENSION'), ENABLE ALWAYS so that it also fires under
 * session_replication_role = replica); it is itself a member, dropped with
 * the extension.  It refuses a DROP EXTENSION that names prompt_manager
 * while pm_prompts holds rows, unless the statement says CASCADE or
 * prompt_manager.allow_drop_with_prompts is on (for statements one cannot
 * add CASCADE to, such as the DROP EXTENSION of pg_restore --clean).  The
 * refusal says how many prompts would be lost and how to dump them.
 *
 * The trigger fires before PostgreSQL checks anything: for a role that
 * does not own the extension it does nothing (DROP EXTENSION then refuses
 * with its own error, and the role learns nothing about the table).  Rows
 * are counted with a plain heap scan, which no privilege or row-level
 * security policy hides, under the table's AccessExclusiveLock (which the
 * drop takes anyway) and the latest snapshot, so that the count is what
 * the drop would delete: rows committed by anyone, and this transaction's
 * own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "commands/event_trigger.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "pm_compat.h"
#include "pm_settings.h"

PG_FUNCTION_INFO_V1(pm_drop_guard);

/* Does this DROP statement name the extension prompt_manager? */
static bool
pm_drop_names_us(DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
	{
		Node	   *name = (Node *) lfirst(lc);

		if (IsA(name, String) && strcmp(strVal(name), "prompt_manager") == 0)
			return true;
	}
	return false;
}

/* How many rows the table holds, whoever may see them. */
static int64
pm_count_prompts(Relation rel)
{
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	TableScanDesc scan = table_beginscan(rel, snapshot, 0, NULL);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	int64		n = 0;

	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		CHECK_FOR_INTERRUPTS();
		n++;
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	return n;
}

/*
 * pm_drop_guard(): the ddl_command_start event trigger described above.
 */
Datum
pm_drop_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	DropStmt   *stmt;
	Oid			ext_oid;
	Oid			nsp;
	Oid			relid;
	Relation	rel;
	int64		n;
	const char *nsp_name;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("pm_drop_guard() must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!IsA(trigdata->parsetree, DropStmt))
		PG_RETURN_VOID();
	stmt = (DropStmt *) trigdata->parsetree;
	if (stmt->behavior == DROP_CASCADE || pm_allow_drop_with_prompts ||
		!pm_drop_names_us(stmt))
		PG_RETURN_VOID();

	ext_oid = get_extension_oid("prompt_manager", true);
	if (!OidIsValid(ext_oid) || !pm_extension_ownercheck(ext_oid, GetUserId()))
		PG_RETURN_VOID();

	/* only the table the drop would delete: a member of the extension */
	nsp = pm_extension_schema(ext_oid);
	relid = get_relname_relid("pm_prompts", nsp);
	if (!OidIsValid(relid) ||
		getExtensionOfObject(RelationRelationId, relid) != ext_oid)
		PG_RETURN_VOID();
	rel = try_table_open(relid, AccessExclusiveLock);
	if (rel == NULL)
		PG_RETURN_VOID();		/* dropped while we waited for the lock */
	n = pm_count_prompts(rel);
	table_close(rel, NoLock);
	if (n == 0)
		PG_RETURN_VOID();

	nsp_name = quote_identifier(get_namespace_name(nsp));
	ereport(ERROR,
			(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
			 errmsg_plural("cannot drop extension \"prompt_manager\" because its table \"pm_prompts\" holds %lld prompt",
						   "cannot drop extension \"prompt_manager\" because its table \"pm_prompts\" holds %lld prompts",
						   n, (long long) n),
			 errdetail("Dropping the extension drops the table and every prompt in it."),
			 errhint("Dump the prompts first, for example with pg_dump --data-only --table=%s.pm_prompts --table=%s.pm_prompts_revision_seq. "
					 "To drop them with the extension, use DROP EXTENSION prompt_manager CASCADE, "
					 "or set prompt_manager.allow_drop_with_prompts to on (for pg_restore --clean, in PGOPTIONS).",
					 nsp_name, nsp_name)));
	PG_RETURN_VOID();
}
