-- Run without shared_preload_libraries (test/nopreload.conf): the library
-- loads on the first call and renders all the same.
SHOW shared_preload_libraries;
INSERT INTO pm_prompts (prompt_id, content) VALUES ('cfg/hello', 'Hello [NAME]');
SELECT pm_render('cfg/hello', '{"name": "loaded on demand"}');
SHOW prompt_manager.max_include_depth;
DELETE FROM pm_prompts;
