-- Run with shared_preload_libraries = 'prompt_manager' (test/preload.conf).
SHOW shared_preload_libraries;
-- the settings exist before any function is called, with those that size
-- the shared cache
SHOW prompt_manager.max_include_depth;
SELECT name, setting, unit, context FROM pg_settings
WHERE name LIKE 'prompt_manager.%' AND context = 'postmaster' ORDER BY name;
-- the cache is on, and its memory is reserved in the main shared memory:
-- cache_size for the text (plus a small header), and the index
SELECT enabled, status, capacity_bytes, max_entries FROM pm_cache;
SELECT name,
	CASE name WHEN 'prompt_manager cache'
		THEN size - 64 * 1024 * 1024 BETWEEN 0 AND 65536
		ELSE size > 0 END AS size_as_configured
FROM pg_shmem_allocations WHERE name LIKE 'prompt_manager%' ORDER BY name;
INSERT INTO pm_prompts (prompt_id, content) VALUES ('cfg/hello', 'Hello [NAME]');
SELECT pm_render('cfg/hello', '{"name": "preloaded"}');
DELETE FROM pm_prompts;
