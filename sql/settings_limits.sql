-- Every integer setting at both ends of its documented range, and one past
-- each end (an error from the GUC machinery, the value unchanged); renders
-- behave right at the ends.  The settings that size shared memory and
-- cache_ttl at its ends (it changes only with a reload): see
-- test/t/008_settings_limits.pl.
SELECT pm_render_template('loads the library');
SELECT name, min_val, max_val, unit, context
FROM pg_settings
WHERE name LIKE 'prompt_manager.%' AND vartype = 'integer' AND context <> 'postmaster'
ORDER BY name;

INSERT INTO pm_prompts (prompt_id, content) VALUES ('lim/leaf', 'leaf [X]');

-- max_include_depth: 0 allows no include, 1000 allows 1000 levels
SET prompt_manager.max_include_depth = 0;
SELECT pm_render_template('no include at depth 0');
SELECT regress.err($$SELECT pm_render_template('//include lim/leaf')$$);
SELECT regress.err($$SET prompt_manager.max_include_depth = -1$$);
SHOW prompt_manager.max_include_depth;
SET prompt_manager.max_include_depth = 1000;
SELECT pm_render_template('//include lim/leaf', '{"x": "at depth 1000"}');
SELECT regress.err($$SET prompt_manager.max_include_depth = 1001$$);
SHOW prompt_manager.max_include_depth;
RESET prompt_manager.max_include_depth;

-- render_timeout: 0 is no limit; its maximum, 2147483647 ms (24 days 20
-- hours), never fires on a render of a few seconds' work
SET prompt_manager.render_timeout = 0;
SELECT length(pm_render_template(repeat('[X]', 300000), '{"x": "y"}'));
SELECT regress.err($$SET prompt_manager.render_timeout = -1$$);
SHOW prompt_manager.render_timeout;
SET prompt_manager.render_timeout = 2147483647;
SHOW prompt_manager.render_timeout;
SELECT length(pm_render_template(repeat('[X]', 300000), '{"x": "y"}'));
SELECT pm_render_template('//include lim/leaf', '{"x": "with render_timeout at its maximum"}');
SELECT regress.err($$SET prompt_manager.render_timeout = 2147483648$$);
SELECT regress.err($$SET prompt_manager.render_timeout = '25d'$$);
SHOW prompt_manager.render_timeout;
-- in units: the largest value that fits, in seconds
SET prompt_manager.render_timeout = '2147483s';
SHOW prompt_manager.render_timeout;
SELECT pm_render_template('//include lim/leaf', '{"x": "with render_timeout = 2147483s"}');
RESET prompt_manager.render_timeout;

-- cache_max_entry_size (a superuser setting): 1kB to 1GB
SET prompt_manager.cache_max_entry_size = '1kB';
SHOW prompt_manager.cache_max_entry_size;
SELECT length(pm_render_template(repeat('x', 5000)));
SELECT regress.err($$SET prompt_manager.cache_max_entry_size = 0$$);
SHOW prompt_manager.cache_max_entry_size;
SET prompt_manager.cache_max_entry_size = '1GB';
SHOW prompt_manager.cache_max_entry_size;
SELECT length(pm_render_template(repeat('x', 5000)));
SELECT regress.err($$SET prompt_manager.cache_max_entry_size = '1048577kB'$$);
SHOW prompt_manager.cache_max_entry_size;
RESET prompt_manager.cache_max_entry_size;

-- cache_ttl changes only in postgresql.conf (or ALTER SYSTEM) and a reload;
-- ALTER SYSTEM checks the range before it writes anything
SELECT regress.err($$SET prompt_manager.cache_ttl = '30d'$$);
ALTER SYSTEM SET prompt_manager.cache_ttl = -1;
ALTER SYSTEM SET prompt_manager.cache_ttl = 2147483648;
ALTER SYSTEM SET prompt_manager.cache_ttl = '24856d';
SHOW prompt_manager.cache_ttl;

DELETE FROM pm_prompts WHERE prompt_id LIKE 'lim/%';
