-- Statistics per prompt, pm_flush_usage and pm_preload (preloaded only).
SELECT pm_stats_reset() >= 0 AS reset;
SELECT pm_cache_reset();
INSERT INTO pm_prompts (prompt_id, content, parameters, preload) VALUES
	('st/a', E'A [X]\n//include st/inc', '{"x": "1"}', true),
	('st/b', 'B', '{}', true),
	('st/inc', 'inc', '{}', false),
	('st/broken', '//include st/nowhere', '{}', true);

-- renders, cache hits, errors, bytes; inline templates under a NULL prompt
SELECT pm_render('st/a'), pm_render('st/a'), pm_render('st/b');
SELECT regress.err($$SELECT pm_render('st/broken')$$);
SELECT pm_render_template('inline [Y]', '{"y": 2}');
SELECT count(*) FROM pm_bulk_render('[{"prompt_id": "st/a"}, {"prompt_id": "st/b"}, {"prompt_id": "st/broken"}]');
SELECT prompt_id, renders, cache_hits, errors, bytes, timed_renders >= renders - cache_hits AS misses_timed,
	mean_time_ms >= 0 AS has_mean, max_time_ms >= mean_time_ms AS max_ge_mean,
	last_render IS NOT NULL AS has_last_render
FROM pm_stats WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY prompt_id NULLS LAST;
SELECT prompt_id, renders, cache_hits FROM pm_frequent_prompts(2);

-- prompt_manager.track = off: nothing counted
SET prompt_manager.track = off;
SELECT pm_render('st/b');
RESET prompt_manager.track;
SELECT renders FROM pm_stats WHERE prompt_id = 'st/b';

-- pm_flush_usage adds the counted renders that did not fail to usage_count,
-- once; the revision and updated_at stay (it is not an edit of the prompt)
CREATE TEMP TABLE before_flush AS SELECT prompt_id, revision, updated_at FROM pm_prompts;
SELECT pm_flush_usage();
SELECT p.prompt_id, p.usage_count, p.revision = b.revision AS same_revision,
	p.updated_at = b.updated_at AS same_updated_at
FROM pm_prompts p JOIN before_flush b USING (prompt_id) ORDER BY 1;
SELECT pm_flush_usage();
SELECT pm_render('st/b');
-- a flush whose transaction rolls back is not lost
BEGIN;
SELECT pm_flush_usage();
ROLLBACK;
SELECT pm_flush_usage();
SELECT prompt_id, usage_count FROM pm_prompts ORDER BY 1;
-- two flushes in a transaction that rolls back: both are put back
SELECT pm_render('st/b');
BEGIN;
SELECT pm_flush_usage();
SELECT pm_render('st/b');
SELECT pm_flush_usage();
ROLLBACK;
SELECT pm_flush_usage();
SELECT usage_count FROM pm_prompts WHERE prompt_id = 'st/b';
-- a flush in a savepoint that rolls back is put back too
SELECT pm_render('st/b');
BEGIN;
SAVEPOINT s;
SELECT pm_flush_usage();
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT pm_flush_usage();

-- pm_stats_reset: one prompt of this database, or everything
SELECT pm_stats_reset('st/a');
SELECT prompt_id FROM pm_stats ORDER BY prompt_id NULLS LAST;
SELECT pm_stats_reset() > 0 AS reset_all;
SELECT count(*) FROM pm_stats;

-- pm_preload: the prompts marked preload = true (a failing one is skipped
-- with a WARNING), or those named; then pm_render(id) is a cache hit
SELECT pm_cache_reset();
SELECT pm_preload();
SELECT prompt_id FROM pm_cache_entries ORDER BY 1;
-- warming up is not usage: preloads are not counted in pm_stats
SELECT count(*) FROM pm_stats WHERE prompt_id LIKE 'st/%';
SELECT hits AS hits_before FROM pm_cache \gset
SELECT pm_render('st/a'), pm_render('st/b', NULL), pm_render('st/b', '{}');
SELECT hits - :hits_before AS hits FROM pm_cache;
SELECT pm_preload(ARRAY['st/inc', 'st/missing']);
SELECT pm_preload(ARRAY[]::text[]);

-- the DBA's functions
CREATE ROLE pm_stats_user;
GRANT USAGE ON SCHEMA regress TO pm_stats_user;
SET ROLE pm_stats_user;
SELECT regress.err($$SELECT * FROM pm_stats$$);
SELECT regress.err($$SELECT pm_stats_reset()$$);
SELECT regress.err($$SELECT pm_preload()$$);
SELECT regress.err($$SELECT pm_flush_usage()$$);
RESET ROLE;
DROP OWNED BY pm_stats_user;
DROP ROLE pm_stats_user;

DELETE FROM pm_prompts;
