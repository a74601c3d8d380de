-- Security, with and without preloading (security_preload.sql adds what
-- needs the statistics, and shows the shared cache holding what is read):
--   1. the install script is safe against a hostile search_path;
--   2. every function runs as the caller (SECURITY INVOKER), and the
--      functions that reset shared state are not for PUBLIC;
--   3. the SQL functions (and the C ones) give the same results under a
--      hostile search_path;
--   4. no role reads, through any function, view or cache, a prompt that
--      its privileges or row-level security hide, even right after a
--      superuser rendered it in the same session.
\c
DROP EXTENSION prompt_manager;

-- A schema of look-alikes of what the extension uses, first on the
-- search_path.  Each says when it is called (nothing below may print
-- "evil"), and gives a wrong answer.
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.to_tsvector(regconfig, text) RETURNS tsvector LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil.to_tsvector called'; RETURN 'secret'::tsvector; END $$;
CREATE FUNCTION evil.websearch_to_tsquery(regconfig, text) RETURNS tsquery LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil.websearch_to_tsquery called'; RETURN 'secret'::tsquery; END $$;
CREATE FUNCTION evil.ts_rank(tsvector, tsquery) RETURNS real LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil.ts_rank called'; RETURN 99; END $$;
CREATE FUNCTION evil.nextval(regclass) RETURNS bigint LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil.nextval called'; RETURN -1; END $$;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil.now called'; RETURN '1999-01-01'; END $$;
CREATE FUNCTION evil.current_database() RETURNS name LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil.current_database called'; RETURN 'nowhere'; END $$;
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF text LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil.unnest called'; RETURN NEXT 'evil'; END $$;
CREATE FUNCTION evil.length(text) RETURNS integer LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil.length called'; RETURN 0; END $$;
CREATE FUNCTION evil.jsonb_typeof(jsonb) RETURNS text LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil.jsonb_typeof called'; RETURN 'object'; END $$;
CREATE FUNCTION evil.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil = called'; RETURN true; END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_eq);
CREATE FUNCTION evil.text_match(text, text) RETURNS boolean LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil ~ called'; RETURN true; END $$;
CREATE OPERATOR evil.~ (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_match);
CREATE FUNCTION evil.contains(jsonb, jsonb) RETURNS boolean LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil @> called'; RETURN true; END $$;
CREATE OPERATOR evil.@> (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = evil.contains);
CREATE FUNCTION evil.matches(tsvector, tsquery) RETURNS boolean LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil @@ called'; RETURN true; END $$;
CREATE OPERATOR evil.@@ (LEFTARG = tsvector, RIGHTARG = tsquery, FUNCTION = evil.matches);
CREATE FUNCTION evil.int_le(integer, integer) RETURNS boolean LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil <= called'; RETURN true; END $$;
CREATE OPERATOR evil.<= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = evil.int_le);
CREATE FUNCTION evil.bigint_ge(bigint, integer) RETURNS boolean LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil >= called'; RETURN true; END $$;
CREATE OPERATOR evil.>= (LEFTARG = bigint, RIGHTARG = integer, FUNCTION = evil.bigint_ge);
CREATE TEXT SEARCH CONFIGURATION evil.english (COPY = pg_catalog.simple);

-- the trap is armed: unqualified names now find the look-alikes
SET search_path = evil, pg_catalog, public;
SELECT 'a' = 'b' AS equal, now() < '2000-01-01' AS past,
	'english'::regconfig::oid = 'pg_catalog.english'::regconfig::oid AS english_is_pg_catalogs;
RESET search_path;

-- 1. Installing under that search_path: nothing the extension creates
-- uses a look-alike (no NOTICE, no dependency on schema evil), and its
-- constraints, defaults, index and trigger behave
SET search_path = evil, pg_catalog, public;
CREATE EXTENSION prompt_manager SCHEMA public;
INSERT INTO public.pm_prompts (prompt_id, content) VALUES ('sec/installed', 'installed');
SELECT regress.err($$INSERT INTO public.pm_prompts (prompt_id, content) VALUES ('/rooted', 'x')$$);
SELECT regress.err($$INSERT INTO public.pm_prompts (prompt_id, content) VALUES (pg_catalog.repeat('a', 256), 'x')$$);
SELECT regress.err($$INSERT INTO public.pm_prompts (prompt_id, content, parameters) VALUES ('sec/p', 'x', '[]')$$);
SELECT regress.err($$INSERT INTO public.pm_prompts (prompt_id, content, usage_count) VALUES ('sec/u', 'x', -1)$$);
RESET search_path;
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS object,
	pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid) AS uses
FROM pg_depend d
WHERE (d.refclassid = 'pg_proc'::regclass AND d.refobjid IN
		(SELECT oid FROM pg_proc WHERE pronamespace = 'evil'::regnamespace))
	OR (d.refclassid = 'pg_operator'::regclass AND d.refobjid IN
		(SELECT oid FROM pg_operator WHERE oprnamespace = 'evil'::regnamespace))
	OR (d.refclassid = 'pg_ts_config'::regclass AND d.refobjid IN
		(SELECT oid FROM pg_ts_config WHERE cfgnamespace = 'evil'::regnamespace))
	OR (d.refclassid = 'pg_namespace'::regclass AND d.refobjid = 'evil'::regnamespace)
EXCEPT
SELECT pg_describe_object(d.classid, d.objid, d.objsubid),
	pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid)
FROM pg_depend d
WHERE (d.classid = 'pg_operator'::regclass AND d.objid IN
		(SELECT oid FROM pg_operator WHERE oprnamespace = 'evil'::regnamespace))
	OR (d.classid = 'pg_proc'::regclass AND d.objid IN
		(SELECT oid FROM pg_proc WHERE pronamespace = 'evil'::regnamespace))
	OR (d.classid = 'pg_ts_config'::regclass AND d.objid IN
		(SELECT oid FROM pg_ts_config WHERE cfgnamespace = 'evil'::regnamespace))
	OR d.classid = 'pg_ts_config_map'::regclass;
SELECT prompt_id, revision BETWEEN 1 AND pg_sequence_last_value('pm_prompts_revision_seq') AS revision_from_sequence,
	created_at > '2000-01-01' AS real_now
FROM pm_prompts;
SELECT indexdef FROM pg_indexes WHERE indexname = 'pm_prompts_content_fts_idx';

-- 2. Every function runs as the caller: none is SECURITY DEFINER, and only
-- the trigger function sets a search_path of its own
SELECT p.oid::regprocedure AS function, l.lanname AS language,
	p.prosecdef AS security_definer, p.proconfig AS settings
FROM pg_proc p
JOIN pg_language l ON l.oid = p.prolang
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
	AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'prompt_manager')
ORDER BY p.proname;
-- what PUBLIC may call: rendering and reading, not what shows or resets
-- shared state (the cache, the statistics) or preloads it
SELECT p.oid::regprocedure AS function,
	has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
	AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'prompt_manager')
ORDER BY p.proname;
SELECT c.relname, c.relkind, has_table_privilege('public', c.oid, 'SELECT') AS public_select
FROM pg_class c
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
	AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'prompt_manager')
ORDER BY c.relname;

-- Reads, each shown as its first value (or "SQLSTATE: message")
CREATE FUNCTION regress.outcome(query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r text;
	st text;
	msg text;
BEGIN
	EXECUTE query INTO r;
	RETURN coalesce(r, 'NULL');
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	RETURN st || ': ' || msg;
END
$$;

INSERT INTO pm_prompts (prompt_id, content, parameters, metadata, category) VALUES
	('pub/ok', 'public [NAME]', '{"name": "text"}', '{"level": "public"}', 'pub'),
	('pub/leaky', E'Leak:\n//include sec/secret', '{}', '{"level": "public"}', 'pub'),
	('pub/dynamic', '//include [WHICH]', '{"which": "pub/ok"}', '{"level": "public"}', 'pub'),
	('sec/secret', 'TOP SECRET [CODE]', '{"code": "s3cr3t"}', '{"level": "secret"}', 'sec');

-- 3. The same reads under the hostile search_path (in a new session, so
-- that nothing is prepared before): the same results, and no look-alike
-- is called
CREATE TABLE regress.path_reads (ord integer, read text, query text);
INSERT INTO regress.path_reads VALUES
	(1, 'pm_get', $$SELECT format('%s %s %s', prompt_id, content, revision > 0) FROM pm_get('pub/ok')$$),
	(2, 'pm_get missing', $$SELECT count(*) FROM pm_get('pub/nowhere')$$),
	(3, 'pm_search query', $$SELECT string_agg(format('%s %s', prompt_id, rank > 0), ', ') FROM pm_search('public')$$),
	(4, 'pm_search metadata', $$SELECT string_agg(prompt_id, ', ' ORDER BY prompt_id) FROM pm_search(metadata => '{"level": "secret"}')$$),
	(5, 'pm_search category', $$SELECT string_agg(prompt_id, ', ' ORDER BY prompt_id) FROM pm_search(category => 'pub')$$),
	(6, 'pm_search stemming', $$SELECT string_agg(prompt_id, ', ') FROM pm_search('publics')$$),
	(7, 'pm_search nothing', $$SELECT count(*) FROM pm_search('secret', status => 'archived')$$),
	(8, 'pm_render', $$SELECT pm_render('pub/leaky')$$),
	(9, 'pm_render missing', $$SELECT pm_render('pub/nowhere')$$),
	(10, 'pm_render_template', $$SELECT pm_render_template('//include pub/dynamic', '{"which": "sec/secret"}')$$),
	(11, 'pm_keywords', $$SELECT pm_keywords('pub/leaky')::text$$),
	(12, 'pm_bulk_render', $$SELECT string_agg(format('%s %s', ok, coalesce(result, sqlstate)), ', ' ORDER BY ord) FROM pm_bulk_render('[{"prompt_id": "pub/ok"}, {"prompt_id": "x"}]')$$),
	(13, 'pm_render_lines', $$SELECT string_agg(l, '|') FROM pm_render_lines('pub/leaky') l$$);
\c
CREATE TABLE regress.normal_reads AS SELECT ord, regress.outcome(query) AS outcome FROM regress.path_reads;
\c
SET search_path = evil, pg_catalog, public;
CREATE TABLE regress.hostile_reads AS SELECT ord, regress.outcome(query) AS outcome FROM regress.path_reads;
-- the trigger: an insert and updates take revisions from the extension's
-- sequence and the real time
INSERT INTO public.pm_prompts (prompt_id, content) VALUES ('pub/new', 'new');
UPDATE public.pm_prompts SET content = 'newer' WHERE prompt_id OPERATOR(pg_catalog.=) 'pub/new';
UPDATE public.pm_prompts SET status = 'draft' WHERE prompt_id OPERATOR(pg_catalog.=) 'pub/new';
RESET search_path;
SELECT r.ord, r.read, n.outcome, n.outcome IS NOT DISTINCT FROM h.outcome AS unchanged
FROM regress.path_reads r JOIN regress.normal_reads n USING (ord) JOIN regress.hostile_reads h USING (ord)
ORDER BY r.ord;
SELECT content, status, revision = pg_sequence_last_value('pm_prompts_revision_seq') AS revision_from_sequence,
	created_at > '2000-01-01' AS real_created_at, updated_at >= created_at AS real_updated_at
FROM pm_prompts WHERE prompt_id = 'pub/new';
DELETE FROM pm_prompts WHERE prompt_id IN ('pub/new', 'sec/installed');

-- 4. Roles: sec_reader may read pub/* only (a policy), sec_denied has
-- SELECT but no policy (row-level security hides every row), sec_cols may
-- read the prompt_id column only, sec_nobody has no privilege at all
CREATE ROLE sec_reader;
CREATE ROLE sec_denied;
CREATE ROLE sec_cols;
CREATE ROLE sec_nobody;
GRANT USAGE ON SCHEMA regress TO sec_reader, sec_denied, sec_cols, sec_nobody;
GRANT SELECT ON pm_prompts TO sec_reader, sec_denied;
GRANT SELECT (prompt_id) ON pm_prompts TO sec_cols;
ALTER TABLE pm_prompts ENABLE ROW LEVEL SECURITY;
CREATE POLICY sec_pub_only ON pm_prompts FOR SELECT TO sec_reader
	USING (prompt_id LIKE 'pub/%');

CREATE TABLE regress.role_reads (ord integer, read text, query text);
GRANT SELECT ON regress.role_reads TO PUBLIC;
INSERT INTO regress.role_reads VALUES
	(1, 'pm_render secret', $$SELECT pm_render('sec/secret')$$),
	(2, 'pm_render secret with params', $$SELECT pm_render('sec/secret', '{"code": "x"}')$$),
	(3, 'pm_render including it', $$SELECT pm_render('pub/leaky')$$),
	(4, 'pm_render including it by a value', $$SELECT pm_render('pub/dynamic', '{"which": "sec/secret"}')$$),
	(5, 'pm_render public', $$SELECT pm_render('pub/ok')$$),
	(6, 'pm_render_template', $$SELECT pm_render_template('//include sec/secret')$$),
	(7, 'pm_keywords secret', $$SELECT pm_keywords('sec/secret')::text$$),
	(8, 'pm_keywords including it', $$SELECT pm_keywords('pub/leaky')::text$$),
	(9, 'pm_bulk_render', $$SELECT string_agg(format('%s:%s', ok, coalesce(result, sqlstate)), ', ' ORDER BY ord) FROM pm_bulk_render('[{"prompt_id": "sec/secret"}, {"prompt_id": "pub/leaky"}, {"prompt_id": "pub/ok"}]')$$),
	(10, 'pm_render_lines secret', $$SELECT coalesce(string_agg(l, '|'), 'no rows') FROM pm_render_lines('sec/secret') l$$),
	(11, 'pm_render_lines including it', $$SELECT coalesce(string_agg(l, '|'), 'no rows') FROM pm_render_lines('pub/leaky') l$$),
	(12, 'pm_get', $$SELECT count(*) || ' rows ' || coalesce(string_agg(content, ''), '') FROM pm_get('sec/secret')$$),
	(13, 'pm_search query', $$SELECT count(*) || ' rows ' || coalesce(string_agg(prompt_id, ','), '') FROM pm_search('secret', status => NULL)$$),
	(14, 'pm_search metadata', $$SELECT count(*) || ' rows ' || coalesce(string_agg(prompt_id, ','), '') FROM pm_search(metadata => '{"level": "secret"}', status => NULL)$$),
	(15, 'pm_search category', $$SELECT count(*) || ' rows ' || coalesce(string_agg(prompt_id, ','), '') FROM pm_search(category => 'sec', status => NULL)$$),
	(16, 'pm_cache_entries', $$SELECT count(*) FROM pm_cache_entries$$),
	(17, 'pm_cache_entries()', $$SELECT count(*) FROM pm_cache_entries()$$),
	(18, 'pm_stats', $$SELECT count(*) FROM pm_stats$$),
	(19, 'pm_stats_rows()', $$SELECT count(*) FROM pm_stats_rows()$$),
	(20, 'pm_frequent_prompts', $$SELECT count(*) FROM pm_frequent_prompts()$$),
	(21, 'the table itself', $$SELECT count(*) FROM pm_prompts WHERE prompt_id = 'sec/secret'$$);

-- a superuser renders everything first, in this session: the compiled
-- templates are in the session's cache (and, preloaded, the renderings in
-- the shared cache)
SELECT pm_render('sec/secret'), pm_render('sec/secret', '{"code": "x"}'), pm_render('pub/leaky'),
	pm_render('pub/dynamic', '{"which": "sec/secret"}'), pm_render('pub/ok'),
	pm_render_template('//include sec/secret'), pm_keywords('sec/secret'), pm_keywords('pub/leaky');
SELECT ord, ok, result FROM pm_bulk_render('[{"prompt_id": "sec/secret"}, {"prompt_id": "pub/leaky"}, {"prompt_id": "pub/ok"}]');
SELECT * FROM pm_render_lines('pub/leaky');

SET ROLE sec_reader;
SELECT ord, read, regress.outcome(query) AS outcome FROM regress.role_reads ORDER BY ord;
-- with raise_on_missing off the hidden prompt is missing text, not itself
SET prompt_manager.raise_on_missing = off;
SET prompt_manager.missing_prompt_text = '(hidden)';
SELECT pm_render('sec/secret') AS secret, pm_render('pub/leaky') AS leaky;
RESET prompt_manager.raise_on_missing;
RESET prompt_manager.missing_prompt_text;
-- row_security = off does not let a role escape its policies
SET row_security = off;
SELECT regress.outcome($$SELECT pm_render('sec/secret')$$) AS secret,
	regress.outcome($$SELECT pm_render('pub/ok')$$) AS public;
RESET row_security;
RESET ROLE;

SET ROLE sec_denied;
SELECT ord, read, regress.outcome(query) AS outcome FROM regress.role_reads ORDER BY ord;
RESET ROLE;

SET ROLE sec_cols;
SELECT ord, read, regress.outcome(query) AS outcome FROM regress.role_reads ORDER BY ord;
RESET ROLE;

SET ROLE sec_nobody;
SELECT ord, read, regress.outcome(query) AS outcome FROM regress.role_reads ORDER BY ord;
-- an inline template without includes reads no table
SELECT pm_render_template('no table [X]', '{"x": "needed"}');
RESET ROLE;

-- the superuser's renders are unchanged by what the roles did
SELECT pm_render('sec/secret'), pm_render('pub/leaky');

-- Resetting shared state is not for PUBLIC: a role without a grant is
-- refused before anything is done
SET ROLE sec_nobody;
SELECT regress.err($$SELECT pm_cache_reset()$$);
SELECT regress.err($$SELECT pm_stats_reset()$$);
SELECT regress.err($$SELECT pm_stats_reset('sec/secret')$$);
SELECT regress.err($$SELECT pm_invalidate()$$);
SELECT regress.err($$SELECT pm_invalidate('sec/secret')$$);
SELECT regress.err($$SELECT pm_flush_usage()$$);
SELECT regress.err($$SELECT pm_preload()$$);
RESET ROLE;

DROP POLICY sec_pub_only ON pm_prompts;
ALTER TABLE pm_prompts DISABLE ROW LEVEL SECURITY;
DROP OWNED BY sec_reader, sec_denied, sec_cols, sec_nobody;
DROP ROLE sec_reader;
DROP ROLE sec_denied;
DROP ROLE sec_cols;
DROP ROLE sec_nobody;
DROP TABLE regress.path_reads, regress.normal_reads, regress.hostile_reads;
DROP TABLE regress.role_reads;
SET client_min_messages = warning;
DROP SCHEMA evil CASCADE;
RESET client_min_messages;
DELETE FROM pm_prompts;
-- (regress.outcome is used again by security_preload.sql)
