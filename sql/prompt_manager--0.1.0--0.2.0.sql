/* prompt_manager 0.1.0 to 0.2.0 */

\echo Use "ALTER EXTENSION prompt_manager UPDATE TO '0.2.0'" to load this file. \quit

-- CREATE EXTENSION prompt_manager installs 0.1.0 and then runs this script,
-- so a new installation and an upgraded one are the same by construction.
-- Every object is schema-qualified with @extschema@ (or pg_catalog), as in
-- the 0.1.0 script.  Each part below is headed by what it is for.

-- parallel renders (issue #11): the renders run in parallel workers.  A
-- worker shares the leader's snapshot, reads pm_prompts as the leader's
-- role would, uses the shared cache, flushes its statistics before it ends,
-- and answers failures through prompt_manager.error_handler without a
-- subtransaction (docs/functions.md#parallel-queries).  pm_bulk_render
-- promises a row for any failure of a request, which needs a
-- subtransaction per request, and parallel mode allows none: it becomes
-- PARALLEL UNSAFE, so that a statement calling it never runs in parallel
-- mode (under PARALLEL RESTRICTED it failed whenever its statement had a
-- parallel plan).
ALTER FUNCTION @extschema@.pm_render(text, jsonb) PARALLEL SAFE;
ALTER FUNCTION @extschema@.pm_render_template(text, jsonb) PARALLEL SAFE;
ALTER FUNCTION @extschema@.pm_keywords(text) PARALLEL SAFE;
ALTER FUNCTION @extschema@.pm_render_lines(text, jsonb) PARALLEL SAFE;
ALTER FUNCTION @extschema@.pm_bulk_render(jsonb) PARALLEL UNSAFE;
ALTER FUNCTION @extschema@.pm_bulk_render_rows(jsonb) PARALLEL UNSAFE;
