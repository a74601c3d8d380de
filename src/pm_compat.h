/*-------------------------------------------------------------------------
 *
 * pm_compat.h
 *		Differences between the PostgreSQL major versions we build on.
 *
 * Supported: 15, 16, 17 and 18.  Every #if on PG_VERSION_NUM of the
 * extension lives here, each behind a name that says what it does, so the
 * rest of the code reads the same on every version.
 *
 *	 16: pg_proc_aclcheck() and friends gave way to object_aclcheck(),
 *		 pg_extension_ownercheck() and friends to object_ownercheck();
 *		 stringToQualifiedNameList() takes an escontext; the extension's
 *		 schema has an exported lookup (get_extension_schema).
 *	 17: PGPROC.lxid moved to PGPROC.vxid.lxid, PGPROC.pgprocno went away
 *		 (GetNumberFromPGProc).
 *	 18: index_beginscan() takes an IndexScanInstrumentation pointer;
 *		 RelationGetPrimaryKeyIndex() takes deferrable_ok.
 *
 * and one difference between compilers: pm_prefetch.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_COMPAT_H
#define PM_COMPAT_H

#include "access/genam.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "commands/extension.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/regproc.h"
#include "utils/relcache.h"

/*
 * Ask the CPU to start loading the cache line holding addr, which the
 * caller reads soon: a hint, never a fault (any address may be given).
 */
#if defined(__GNUC__) || defined(__clang__)
#define pm_prefetch(addr) __builtin_prefetch(addr)
#else
#define pm_prefetch(addr) ((void) (addr))
#endif

#if PG_VERSION_NUM < 150000
#error "prompt_manager needs PostgreSQL 15 or later"
#endif

/* May role execute function fn? */
static inline AclResult
pm_function_aclcheck(Oid fn, Oid role)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(ProcedureRelationId, fn, role, ACL_EXECUTE);
#else
	return pg_proc_aclcheck(fn, role, ACL_EXECUTE);
#endif
}

/* Does role own extension ext_oid? */
static inline bool
pm_extension_ownercheck(Oid ext_oid, Oid role)
{
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(ExtensionRelationId, ext_oid, role);
#else
	return pg_extension_ownercheck(ext_oid, role);
#endif
}

/* "schema.name" into a list of String nodes; an error when malformed. */
static inline List *
pm_qualified_name_list(const char *name)
{
#if PG_VERSION_NUM >= 160000
	return stringToQualifiedNameList(name, NULL);
#else
	return stringToQualifiedNameList(name);
#endif
}

/* This backend's local transaction id. */
#if PG_VERSION_NUM >= 170000
#define PM_MY_LXID (MyProc->vxid.lxid)
#else
#define PM_MY_LXID (MyProc->lxid)
#endif

/* This backend's PGPROC number (0 .. MaxBackends + ...). */
#if PG_VERSION_NUM >= 170000
#define PM_MY_PROC_NUMBER ((int) GetNumberFromPGProc(MyProc))
#else
#define PM_MY_PROC_NUMBER (MyProc->pgprocno)
#endif

/* index_beginscan without instrumentation. */
#if PG_VERSION_NUM >= 180000
#define pm_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), (norderbys))
#else
#define pm_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), (norderbys))
#endif

/* A table's primary key index, InvalidOid when it has none or a deferrable one. */
#if PG_VERSION_NUM >= 180000
#define pm_relation_primary_key(rel) RelationGetPrimaryKeyIndex((rel), false)
#else
#define pm_relation_primary_key(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/*
 * The schema an extension is installed in.  PostgreSQL exports
 * get_extension_schema() from 16 on; before, read pg_extension here.
 */
static inline Oid
pm_extension_schema(Oid ext_oid)
{
#if PG_VERSION_NUM >= 160000
	return get_extension_schema(ext_oid);
#else
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key[1];
	HeapTuple	tuple;
	Oid			result = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_extension_oid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(ext_oid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		result = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
#endif
}

#endif							/* PM_COMPAT_H */
