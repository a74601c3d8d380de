/* prompt_manager 0.1.0 to 0.2.0 */

\echo Use "ALTER EXTENSION prompt_manager UPDATE TO '0.2.0'" to load this file. \quit

-- CREATE EXTENSION prompt_manager installs 0.1.0 and then runs this script,
-- so a new installation and an upgraded one are the same by construction.
-- Every object is schema-qualified with @extschema@ (or pg_catalog), as in
-- the 0.1.0 script.  Each part below is headed by what it is for.

-- per-statement hits: what one snapshot learned of pm_prompts is reused by
-- the next when no transaction that changed the table can have committed in
-- between (src/pm_writes.c).  Every change of pm_prompts' rows fires one of
-- the two note triggers, and every command that could let later changes
-- skip them fires the event trigger; each records the transaction as a
-- writer, published before it commits.  ENABLE ALWAYS: they fire under
-- session_replication_role = replica (pg_restore, a logical replication
-- subscriber) too.  Rendering checks that all three are in place, and
-- reads the table for every new snapshot otherwise.
CREATE FUNCTION @extschema@.pm_prompts_note_write() RETURNS trigger
AS 'MODULE_PATHNAME', 'pm_prompts_note_write'
LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@.pm_prompts_note_write() FROM PUBLIC;

CREATE TRIGGER pm_prompts_note_write
	BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.pm_prompts
	FOR EACH ROW EXECUTE FUNCTION @extschema@.pm_prompts_note_write();
ALTER TABLE @extschema@.pm_prompts ENABLE ALWAYS TRIGGER pm_prompts_note_write;
CREATE TRIGGER pm_prompts_note_truncate
	BEFORE TRUNCATE ON @extschema@.pm_prompts
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.pm_prompts_note_write();
ALTER TABLE @extschema@.pm_prompts ENABLE ALWAYS TRIGGER pm_prompts_note_truncate;

CREATE FUNCTION @extschema@.pm_prompts_note_ddl() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'pm_prompts_note_ddl'
LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@.pm_prompts_note_ddl() FROM PUBLIC;

-- the tags are those src/pm_storage.c checks for (pm_noted_ddl)
CREATE EVENT TRIGGER pm_prompts_note_ddl ON ddl_command_start
	WHEN TAG IN ('ALTER TABLE', 'CREATE TRIGGER', 'ALTER TRIGGER', 'DROP TRIGGER',
				 'CREATE FUNCTION', 'ALTER FUNCTION', 'DROP FUNCTION',
				 'ALTER EXTENSION', 'DROP EXTENSION')
	EXECUTE FUNCTION @extschema@.pm_prompts_note_ddl();
ALTER EVENT TRIGGER pm_prompts_note_ddl ENABLE ALWAYS;
