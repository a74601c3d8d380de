-- DROP EXTENSION and CREATE EXTENSION again in one session: the new table
-- restarts revisions at 1, so compiled templates of the old table must not
-- be taken for the new one.
DROP EXTENSION prompt_manager;
CREATE EXTENSION prompt_manager;
INSERT INTO pm_prompts (prompt_id, content) VALUES ('ext/same', 'first table');
SELECT revision, pm_render('ext/same') FROM pm_prompts;
DROP EXTENSION prompt_manager CASCADE;
CREATE EXTENSION prompt_manager;
INSERT INTO pm_prompts (prompt_id, content) VALUES ('ext/same', 'second table');
SELECT revision, pm_render('ext/same') FROM pm_prompts;

-- TRUNCATE, then the same id again
TRUNCATE pm_prompts;
INSERT INTO pm_prompts (prompt_id, content) VALUES ('ext/same', 'after truncate');
SELECT pm_render('ext/same');

-- the functions need their table: an extension without it says so
ALTER EXTENSION prompt_manager DROP TABLE pm_prompts;
ALTER TABLE pm_prompts RENAME TO pm_prompts_moved;
SELECT regress.err($$SELECT pm_render('ext/same')$$);
ALTER TABLE pm_prompts_moved RENAME TO pm_prompts;
ALTER EXTENSION prompt_manager ADD TABLE pm_prompts;
SELECT pm_render('ext/same');
DELETE FROM pm_prompts;
