/* prompt_manager 0.1.0 to 0.2.0 */

\echo Use "ALTER EXTENSION prompt_manager UPDATE TO '0.2.0'" to load this file. \quit

-- CREATE EXTENSION prompt_manager installs 0.1.0 and then runs this script,
-- so a new installation and an upgraded one are the same by construction.
-- Every object is schema-qualified with @extschema@ (or pg_catalog), as in
-- the 0.1.0 script.  Each part below is headed by what it is for.
