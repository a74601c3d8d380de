-- DROP EXTENSION prompt_manager drops pm_prompts and every prompt in it:
-- while the table holds prompts, the event trigger pm_drop_guard refuses
-- it unless the statement says CASCADE or the setting
-- prompt_manager.allow_drop_with_prompts is on.  Every refusal below
-- leaves every prompt in place.
INSERT INTO pm_prompts (prompt_id, content) VALUES
	('dg/a', 'a'), ('dg/b', 'b'), ('dg/c', 'c');
CREATE FUNCTION regress.dg_state(OUT installed boolean, OUT tables bigint)
LANGUAGE sql AS $$
	SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'prompt_manager'),
		(SELECT count(*) FROM pg_class WHERE relname = 'pm_prompts')
$$;

-- refused: plain, IF EXISTS, RESTRICT, and with another extension
SELECT regress.err('DROP EXTENSION prompt_manager');
SELECT regress.err('DROP EXTENSION IF EXISTS prompt_manager RESTRICT');
CREATE EXTENSION citext;
SELECT regress.err('DROP EXTENSION citext, prompt_manager');
SELECT regress.err('DROP EXTENSION IF EXISTS no_such_extension, prompt_manager');
SELECT extname FROM pg_extension WHERE extname IN ('citext', 'prompt_manager') ORDER BY 1;
-- also with session_replication_role = replica (the trigger is ENABLE ALWAYS)
SET session_replication_role = replica;
SELECT regress.err('DROP EXTENSION prompt_manager');
RESET session_replication_role;
-- a prompt inserted by the dropping transaction is counted too
BEGIN;
DELETE FROM pm_prompts WHERE prompt_id <> 'dg/a';
INSERT INTO pm_prompts (prompt_id, content) VALUES ('dg/new', 'new');
SELECT regress.err('DROP EXTENSION prompt_manager');
ROLLBACK;
SELECT count(*) AS prompts FROM pm_prompts;

-- other extensions, and other DDL, are left alone
DROP EXTENSION citext;
CREATE EXTENSION citext;
SET client_min_messages = warning;  -- the NOTICE names the version citext has
ALTER EXTENSION citext UPDATE;
RESET client_min_messages;
DROP EXTENSION IF EXISTS citext, no_such_extension;
CREATE TABLE regress.dg_t (i int);
DROP TABLE regress.dg_t;

-- a role that does not own the extension gets PostgreSQL's own error (and
-- no count of the prompts)
CREATE ROLE pm_dg_nobody;
SET ROLE pm_dg_nobody;
DROP EXTENSION prompt_manager;
RESET ROLE;

-- the owner is told of every row, whatever its privileges and policies:
-- a non-superuser owner under a policy that hides every row (FORCE ROW
-- LEVEL SECURITY), then without SELECT either
DROP EXTENSION prompt_manager CASCADE;
CREATE ROLE pm_dg_owner SUPERUSER;
SET ROLE pm_dg_owner;
CREATE EXTENSION prompt_manager;
RESET ROLE;
ALTER ROLE pm_dg_owner NOSUPERUSER;
INSERT INTO pm_prompts (prompt_id, content) VALUES ('dg/a', 'a'), ('dg/b', 'b');
ALTER TABLE pm_prompts ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY dg_none ON pm_prompts USING (false);
SET ROLE pm_dg_owner;
SELECT count(*) FROM pm_prompts;
DROP EXTENSION prompt_manager;
RESET ROLE;
REVOKE ALL ON pm_prompts FROM pm_dg_owner;
SET ROLE pm_dg_owner;
SELECT count(*) FROM pm_prompts;
DROP EXTENSION prompt_manager;
RESET ROLE;
SELECT * FROM regress.dg_state();

-- allowed: prompt_manager.allow_drop_with_prompts says so (for a DROP one
-- cannot add CASCADE to, as pg_restore --clean's)
SHOW prompt_manager.allow_drop_with_prompts;
BEGIN;
SET LOCAL prompt_manager.allow_drop_with_prompts = on;
DROP EXTENSION prompt_manager;
SELECT * FROM regress.dg_state();
ROLLBACK;
SELECT * FROM regress.dg_state();

-- allowed: CASCADE says so
DROP EXTENSION prompt_manager CASCADE;
SELECT * FROM regress.dg_state();
DROP ROLE pm_dg_owner;
DROP ROLE pm_dg_nobody;

-- allowed: an empty table (also emptied in the dropping transaction)
CREATE EXTENSION prompt_manager;
DROP EXTENSION prompt_manager;
CREATE EXTENSION prompt_manager;
INSERT INTO pm_prompts (prompt_id, content) VALUES ('dg/a', 'a');
BEGIN;
DELETE FROM pm_prompts;
DROP EXTENSION prompt_manager;
COMMIT;
SELECT * FROM regress.dg_state();

-- DROP SCHEMA ... CASCADE drops the extension in it: CASCADE says so
CREATE SCHEMA dg_schema;
CREATE EXTENSION prompt_manager SCHEMA dg_schema;
INSERT INTO dg_schema.pm_prompts (prompt_id, content) VALUES ('dg/a', 'a');
SELECT regress.err('DROP EXTENSION prompt_manager');
SELECT regress.err('DROP SCHEMA dg_schema');
DROP SCHEMA dg_schema CASCADE;
SELECT * FROM regress.dg_state();

-- the trigger and its function are members of the extension
CREATE EXTENSION prompt_manager;
SELECT pg_describe_object(classid, objid, objsubid) AS object
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'prompt_manager')
	AND (classid = 'pg_event_trigger'::regclass OR objid = 'pm_drop_guard()'::regprocedure)
ORDER BY 1;
SELECT evtname, evtevent, evtenabled, evttags FROM pg_event_trigger;
DROP FUNCTION regress.dg_state();
