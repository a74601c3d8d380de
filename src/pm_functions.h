/*-------------------------------------------------------------------------
 *
 * pm_functions.h
 *		What the SQL-callable functions of pm_functions.c share with those
 *		of other files (pm_refs.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PM_FUNCTIONS_H
#define PM_FUNCTIONS_H

#include "fmgr.h"
#include "utils/tuplestore.h"

/*
 * Set up a set-returning call to return its rows in a tuplestore.
 * tupdesc: the rows' descriptor, or NULL for the function's result type.
 * Returns the store; *desc_out is the descriptor to form rows with.
 */
extern Tuplestorestate *pm_materialize(FunctionCallInfo fcinfo, TupleDesc tupdesc,
									   TupleDesc *desc_out);

#endif							/* PM_FUNCTIONS_H */
