-- pm_stats and pm_flush_usage against hostile use (preloaded only): renders
-- of ids that are no prompt take no entry of their own; pm_flush_usage adds
-- every render exactly once, also when its transaction is prepared or when
-- row-level security hides rows from its caller.
SELECT pm_stats_reset() >= 0 AS reset;
SELECT pm_cache_reset();
INSERT INTO pm_prompts (prompt_id, content) VALUES
	('sh/a', 'A'), ('sh/b', 'B'), ('sh/c', 'C');
CREATE FUNCTION regress.my_stats() RETURNS TABLE(kind text, prompt_id text,
	renders bigint, errors bigint)
LANGUAGE sql AS $$
	SELECT s.kind, s.prompt_id, s.renders, s.errors FROM pm_stats s
	WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
	ORDER BY s.kind, s.prompt_id
$$;

-- ids that name no prompt: one "missing" row for them all, whatever their
-- bytes, failed or answered by missing_prompt_text; a failure before the
-- prompt is read (bad params) of an id that is no prompt counts there too
SELECT count(regress.err(format('SELECT pm_render(%L)', 'sh/nope-' || g)))
FROM generate_series(1, 50) g;
SELECT regress.err($$SELECT pm_render('sh/nope', '[1]')$$) LIKE '22023%' AS bad_params;
SET prompt_manager.raise_on_missing = off;
SET client_min_messages = error;
SELECT pm_render('sh/nope-quiet');
RESET client_min_messages;
RESET prompt_manager.raise_on_missing;
SELECT pm_render('sh/a'), pm_render('sh/a');
SELECT * FROM regress.my_stats();
-- the missing row has no usage: a flush adds the two renders of sh/a only
SELECT pm_flush_usage();
SELECT pm_stats_info() IS NOT NULL AS has_info;
SELECT entries > 0 AS some, entries <= max_entries AS bounded, dropped FROM pm_stats_info();

-- PREPARE TRANSACTION: refused after pm_flush_usage took counts, and the
-- counts are back (without this, ROLLBACK PREPARED would lose them)
SELECT pm_render('sh/a'), pm_render('sh/b'), pm_render('sh/b');
BEGIN;
SELECT pm_flush_usage();
PREPARE TRANSACTION 'pm_flush_usage_prepared';
SELECT count(*) AS prepared FROM pg_prepared_xacts WHERE gid = 'pm_flush_usage_prepared';
SELECT usage_count FROM pm_prompts WHERE prompt_id = 'sh/a';
-- the same try undone by ROLLBACK PREPARED, had it been allowed
ROLLBACK PREPARED 'pm_flush_usage_prepared';
SELECT pm_flush_usage();
SELECT prompt_id, usage_count FROM pm_prompts WHERE prompt_id LIKE 'sh/%' ORDER BY 1;
-- a flush undone by ROLLBACK TO SAVEPOINT took nothing: that transaction
-- may be prepared, and its counts are flushed afterwards
SELECT pm_render('sh/c');
BEGIN;
SAVEPOINT s;
SELECT pm_flush_usage();
ROLLBACK TO SAVEPOINT s;
PREPARE TRANSACTION 'pm_flush_usage_undone';
ROLLBACK PREPARED 'pm_flush_usage_undone';
SELECT pm_flush_usage();
-- nothing to take: nothing refused
BEGIN;
SELECT pm_flush_usage();
PREPARE TRANSACTION 'pm_flush_usage_empty';
COMMIT PREPARED 'pm_flush_usage_empty';

-- row-level security: a caller whose UPDATE reaches only some rows adds
-- only those, and returns what it added; the others stay for the next flush
CREATE ROLE pm_rls_flusher;
GRANT USAGE ON SCHEMA regress TO pm_rls_flusher;
GRANT EXECUTE ON FUNCTION pm_flush_usage() TO pm_rls_flusher;
GRANT SELECT, UPDATE ON pm_prompts TO pm_rls_flusher;
ALTER TABLE pm_prompts ENABLE ROW LEVEL SECURITY;
CREATE POLICY pm_rls_flusher_a ON pm_prompts TO pm_rls_flusher
	USING (prompt_id = 'sh/a');
SELECT pm_render('sh/a'), pm_render('sh/a'), pm_render('sh/b'), pm_render('sh/b'), pm_render('sh/b');
SET ROLE pm_rls_flusher;
SELECT pm_flush_usage();
RESET ROLE;
SELECT prompt_id, usage_count FROM pm_prompts WHERE prompt_id LIKE 'sh/%' ORDER BY 1;
SELECT pm_flush_usage();
SELECT prompt_id, usage_count FROM pm_prompts WHERE prompt_id LIKE 'sh/%' ORDER BY 1;
-- a caller without UPDATE: its flush fails, and puts back what it took
SELECT pm_render('sh/a'), pm_render('sh/b');
REVOKE UPDATE ON pm_prompts FROM pm_rls_flusher;
SET ROLE pm_rls_flusher;
SELECT regress.err($$SELECT pm_flush_usage()$$);
RESET ROLE;
SELECT pm_flush_usage();
DROP POLICY pm_rls_flusher_a ON pm_prompts;
ALTER TABLE pm_prompts DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON pm_prompts FROM pm_rls_flusher;
REVOKE ALL ON FUNCTION pm_flush_usage() FROM pm_rls_flusher;
REVOKE ALL ON SCHEMA regress FROM pm_rls_flusher;
DROP ROLE pm_rls_flusher;

-- a prompt deleted before the flush: its counts are not returned as
-- added, and are not kept for ever either (they have nowhere to go)
SELECT pm_render('sh/c'), pm_render('sh/c');
DELETE FROM pm_prompts WHERE prompt_id = 'sh/c';
SELECT pm_flush_usage();
INSERT INTO pm_prompts (prompt_id, content) VALUES ('sh/c', 'C again');
SELECT pm_flush_usage();

DROP FUNCTION regress.my_stats();
DELETE FROM pm_prompts;
SELECT pm_stats_reset() >= 0 AS reset;
