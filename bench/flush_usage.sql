-- bench/flush_usage.sql: what pm_flush_usage() costs the caches.
--
--   psql -X -d scratch_db -f bench/flush_usage.sql
--
-- In a scratch database of a server with shared_preload_libraries =
-- 'prompt_manager' (it creates the extension if needed and 1000 prompts,
-- and deletes them at the end).  pm_flush_usage() updates usage_count only: the revision
-- stays, but every row it touches gets a new row version (the caches key on
-- revision and xmin), so the next render of each such prompt is a miss.
-- Prints, three times: the time of 1000 cached renders, of the flush, of
-- the same 1000 renders after it, and how many of those missed (1000).
\set QUIET on
CREATE EXTENSION IF NOT EXISTS prompt_manager;
INSERT INTO pm_prompts (prompt_id, content, parameters)
SELECT 'flush/' || g,
	repeat('You are a helpful assistant for [COMPANY]. Answer the [TOPIC] question of [NAME] politely. ', 5)
		|| E'\n//include flush/footer',
	'{"company": "ACME", "topic": "billing"}'
FROM generate_series(1, 1000) g;
INSERT INTO pm_prompts (prompt_id, content) VALUES ('flush/footer', 'Regards, [COMPANY]');
CREATE TEMP TABLE flush_ids AS SELECT 'flush/' || g AS id FROM generate_series(1, 1000) g;
-- warm: every prompt rendered, flushed, rendered again (each statement its
-- own transaction, as a scheduled flush and the renders are)
SELECT count(pm_render(id, '{"name": "Ann"}')) >= 0 AS warm FROM flush_ids \gset
SELECT pm_flush_usage() >= 0 AS warm \gset
SELECT count(pm_render(id, '{"name": "Ann"}')) >= 0 AS warm FROM flush_ids \gset
\set QUIET off
\ir flush_usage_round.sql
\ir flush_usage_round.sql
\ir flush_usage_round.sql
\set QUIET on
\set QUIET on
DELETE FROM pm_prompts WHERE prompt_id LIKE 'flush/%';
