-- The C functions' reads under row-level security go through a query:
-- that query names pg_catalog's operators, so a hostile search_path cannot
-- redirect it (or run code as the caller).
INSERT INTO pm_prompts (prompt_id, content) VALUES ('pub/a', 'text of pub/a'), ('pub/b', 'text of pub/b');
CREATE ROLE hp_reader;
GRANT SELECT ON pm_prompts TO hp_reader;
GRANT USAGE ON SCHEMA regress TO hp_reader;
ALTER TABLE pm_prompts ENABLE ROW LEVEL SECURITY;
CREATE POLICY hp_pub ON pm_prompts FOR SELECT TO hp_reader USING (prompt_id LIKE 'pub/%');
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.eq(text, text) RETURNS boolean LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil = called by %', current_user; RETURN true; END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq);
SET ROLE hp_reader;
SELECT pm_render('pub/b');
SET search_path = evil, pg_catalog, public;
SELECT pm_render('pub/b');
SELECT regress.err($$SELECT pm_render('no/such')$$);
SELECT regress.err($$SELECT pm_keywords('no/such')$$);
RESET search_path;
RESET ROLE;
ALTER TABLE pm_prompts DISABLE ROW LEVEL SECURITY;
DROP POLICY hp_pub ON pm_prompts;
DROP OWNED BY hp_reader;
DROP ROLE hp_reader;
SET client_min_messages = warning;
DROP SCHEMA evil CASCADE;
RESET client_min_messages;
DELETE FROM pm_prompts;
