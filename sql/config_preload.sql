-- Run with shared_preload_libraries = 'prompt_manager' (test/preload.conf).
SHOW shared_preload_libraries;
-- the settings exist before any function is called
SHOW prompt_manager.max_include_depth;
INSERT INTO pm_prompts (prompt_id, content) VALUES ('cfg/hello', 'Hello [NAME]');
SELECT pm_render('cfg/hello', '{"name": "preloaded"}');
DELETE FROM pm_prompts;
