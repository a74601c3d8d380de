-- Security with the library preloaded (security.sql has the rest, and
-- defines regress.outcome: a query's first value, or its error): the shared
-- cache holds what a superuser rendered and preloaded, and serves it to no
-- role that may not read it; pm_frequent_prompts resists a hostile
-- search_path.
INSERT INTO pm_prompts (prompt_id, content, parameters, preload) VALUES
	('pub/ok', 'public [NAME]', '{"name": "text"}', false),
	('pub/leaky', E'Leak:\n//include sec/secret', '{}', false),
	('sec/secret', 'TOP SECRET [CODE]', '{"code": "s3cr3t"}', true);
SELECT pm_cache_reset();
SELECT pm_stats_reset() >= 0 AS reset;

CREATE ROLE secp_reader;
CREATE ROLE secp_nobody;
CREATE ROLE secp_bypass BYPASSRLS;
GRANT USAGE ON SCHEMA regress TO secp_reader, secp_nobody, secp_bypass;
GRANT SELECT ON pm_prompts TO secp_reader, secp_bypass;
ALTER TABLE pm_prompts ENABLE ROW LEVEL SECURITY;
CREATE POLICY secp_pub_only ON pm_prompts FOR SELECT TO secp_reader
	USING (prompt_id LIKE 'pub/%');

-- the superuser preloads and renders: the shared cache holds the secret
SELECT pm_preload() AS preloaded;
SELECT pm_render('sec/secret'), pm_render('pub/leaky'), pm_render_template('//include sec/secret'),
	pm_render('pub/ok');
SELECT ord, ok, result FROM pm_bulk_render('[{"prompt_id": "sec/secret", "parameters": {"code": "bulk"}}]');
SELECT coalesce(prompt_id, '(inline)') AS prompt_id FROM pm_cache_entries
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY 1;

-- The same renders by the roles.  Each is a cache hit for the superuser;
-- none is served to a role under a policy or without SELECT (the hit
-- counter does not move), only to the role that bypasses row-level security
CREATE TABLE regress.cache_reads (ord integer, query text);
GRANT SELECT ON regress.cache_reads TO PUBLIC;
INSERT INTO regress.cache_reads VALUES
	(1, $$SELECT pm_render('sec/secret')$$),
	(2, $$SELECT pm_render('pub/leaky')$$),
	(3, $$SELECT pm_render_template('//include sec/secret')$$),
	(4, $$SELECT string_agg(format('%s:%s', ok, coalesce(result, sqlstate)), ', ') FROM pm_bulk_render('[{"prompt_id": "sec/secret", "parameters": {"code": "bulk"}}]')$$),
	(5, $$SELECT pm_render('pub/ok')$$);
CREATE TABLE regress.hits (ord serial, role name, hits bigint);

INSERT INTO regress.hits (role, hits) SELECT 'before', hits FROM pm_cache;
SET ROLE secp_reader;
SELECT ord, regress.outcome(query) AS outcome FROM regress.cache_reads ORDER BY ord;
RESET ROLE;
INSERT INTO regress.hits (role, hits) SELECT 'secp_reader', hits FROM pm_cache;
SET ROLE secp_nobody;
SELECT ord, regress.outcome(query) AS outcome FROM regress.cache_reads ORDER BY ord;
RESET ROLE;
INSERT INTO regress.hits (role, hits) SELECT 'secp_nobody', hits FROM pm_cache;
SET ROLE secp_bypass;
SELECT ord, regress.outcome(query) AS outcome FROM regress.cache_reads ORDER BY ord;
RESET ROLE;
INSERT INTO regress.hits (role, hits) SELECT 'secp_bypass', hits FROM pm_cache;
SELECT role AS after, hits - lag(hits) OVER (ORDER BY ord) AS hits_added
FROM regress.hits ORDER BY ord;

-- pm_frequent_prompts under a hostile search_path: the same rows, and no
-- look-alike called
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.current_database() RETURNS name LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil.current_database called'; RETURN 'nowhere'; END $$;
CREATE FUNCTION evil.oid_eq(oid, oid) RETURNS boolean LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil = called'; RETURN true; END $$;
CREATE OPERATOR evil.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = evil.oid_eq);
CREATE FUNCTION evil.name_eq(name, name) RETURNS boolean LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil = called'; RETURN true; END $$;
CREATE OPERATOR evil.= (LEFTARG = name, RIGHTARG = name, FUNCTION = evil.name_eq);
SELECT prompt_id, renders, cache_hits FROM pm_frequent_prompts();
SET search_path = evil, pg_catalog, public;
SELECT current_database() AS armed;
SELECT prompt_id, renders, cache_hits FROM pm_frequent_prompts();
RESET search_path;

DROP POLICY secp_pub_only ON pm_prompts;
ALTER TABLE pm_prompts DISABLE ROW LEVEL SECURITY;
DROP OWNED BY secp_reader, secp_nobody, secp_bypass;
DROP ROLE secp_reader;
DROP ROLE secp_nobody;
DROP ROLE secp_bypass;
DROP TABLE regress.cache_reads, regress.hits;
DROP FUNCTION regress.outcome(text);
SET client_min_messages = warning;
DROP SCHEMA evil CASCADE;
RESET client_min_messages;
DELETE FROM pm_prompts;
SELECT pm_cache_reset();
SELECT pm_stats_reset() >= 0 AS reset;
