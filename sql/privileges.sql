-- Privileges and row-level security: functions run as the caller.
INSERT INTO pm_prompts (prompt_id, content) VALUES
	('pub/hello', E'Hello\n//include pub/footer'),
	('pub/footer', '-- public footer'),
	('secret/plan', 'the secret plan'),
	('pub/leaky', E'Leak:\n//include secret/plan');

CREATE ROLE pm_reader;
CREATE ROLE pm_nobody;
GRANT USAGE ON SCHEMA regress TO pm_reader, pm_nobody;

-- no SELECT on pm_prompts: permission denied, even for a prompt already rendered
SELECT pm_render('pub/hello');
SET ROLE pm_nobody;
SELECT regress.err($$SELECT pm_render('pub/hello')$$);
SELECT regress.err($$SELECT pm_keywords('pub/hello')$$);
SELECT regress.err($$SELECT pm_render_template('//include pub/footer')$$);
-- an inline template that includes nothing reads no table
SELECT pm_render_template('no table needed');
RESET ROLE;

-- SELECT granted: renders
GRANT SELECT ON pm_prompts TO pm_reader;
SET ROLE pm_reader;
SELECT pm_render('pub/hello');
RESET ROLE;

-- row-level security: the policies decide, for the root and every include
ALTER TABLE pm_prompts ENABLE ROW LEVEL SECURITY;
CREATE POLICY pm_public_only ON pm_prompts FOR SELECT TO pm_reader
	USING (prompt_id LIKE 'pub/%');
SET ROLE pm_reader;
SELECT pm_render('pub/hello');
SELECT regress.err($$SELECT pm_render('secret/plan')$$);
SELECT regress.err($$SELECT pm_render('pub/leaky')$$);
SELECT regress.err($$SELECT pm_render_template('//include secret/plan')$$);
SELECT regress.err($$SELECT pm_keywords('pub/leaky')$$);
RESET ROLE;
-- the owner still sees everything
SELECT pm_render('pub/leaky');

-- a hostile search_path cannot redirect the lookup: the table is found
-- through the extension's schema (in a new session, so that the lookup is
-- prepared under that search_path)
\c
CREATE SCHEMA hostile;
CREATE TABLE hostile.pm_prompts (LIKE public.pm_prompts INCLUDING DEFAULTS);
INSERT INTO hostile.pm_prompts (prompt_id, content, revision) VALUES ('pub/hello', 'HIJACKED', 1);
CREATE TEMP TABLE pm_prompts (LIKE public.pm_prompts INCLUDING DEFAULTS);
INSERT INTO pg_temp.pm_prompts (prompt_id, content, revision) VALUES ('pub/hello', 'HIJACKED TOO', 1);
SET search_path = hostile, public;
SELECT pm_render('pub/hello');
RESET search_path;
DROP TABLE pg_temp.pm_prompts;
DROP SCHEMA hostile CASCADE;

-- installing into a schema with hostile objects: the install script names
-- pg_catalog's operators and functions explicitly
CREATE SCHEMA trap;
CREATE FUNCTION trap.always(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR trap.~ (LEFTARG = text, RIGHTARG = text, FUNCTION = trap.always);
CREATE FUNCTION trap.now() RETURNS timestamptz LANGUAGE sql AS $$SELECT '1999-01-01'::timestamptz$$;
DROP EXTENSION prompt_manager CASCADE;
SET search_path = trap, pg_catalog, public;
CREATE EXTENSION prompt_manager SCHEMA trap;
SELECT regress.err($$INSERT INTO trap.pm_prompts (prompt_id, content) VALUES ('/not valid', 'x')$$);
INSERT INTO trap.pm_prompts (prompt_id, content) VALUES ('trap/ok', 'in [WHERE]');
SELECT created_at > '2000-01-01' AS real_now FROM trap.pm_prompts;
SELECT trap.pm_render('trap/ok', '{"where": "schema trap"}');
RESET search_path;
DROP EXTENSION prompt_manager CASCADE;
DROP SCHEMA trap CASCADE;
CREATE EXTENSION prompt_manager;

-- once dropped, the functions are gone with it; re-created, renders work
INSERT INTO pm_prompts (prompt_id, content) VALUES ('pub/again', 'again');
SELECT pm_render('pub/again');

DROP OWNED BY pm_reader, pm_nobody;
DROP ROLE pm_reader;
DROP ROLE pm_nobody;
DELETE FROM pm_prompts;
