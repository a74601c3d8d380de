-- Run without shared_preload_libraries (test/nopreload.conf): the library
-- loads on the first call and renders all the same.
SHOW shared_preload_libraries;
INSERT INTO pm_prompts (prompt_id, content) VALUES ('cfg/hello', 'Hello [NAME]');
SELECT pm_render('cfg/hello', '{"name": "loaded on demand"}');
SHOW prompt_manager.max_include_depth;
-- without preloading there is no shared cache: the view says so, renders
-- go uncached, and pm_invalidate has nothing to drop
SELECT enabled, status, entries, hits FROM pm_cache;
SELECT pm_render('cfg/hello'), pm_render('cfg/hello');
SELECT hits, misses, inserts FROM pm_cache;
SELECT pm_invalidate();
-- statistics and preloading need the shared memory that only preloading gives
SELECT regress.err($$SELECT * FROM pm_stats$$);
SELECT regress.err($$SELECT pm_flush_usage()$$);
SELECT regress.err($$SELECT pm_preload()$$);
DELETE FROM pm_prompts;
