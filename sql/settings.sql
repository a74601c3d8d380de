-- Settings under prompt_manager.*: defaults, each mode, the reserved prefix.
-- They exist once the library is loaded: at server start when preloaded,
-- at the first call of one of its functions otherwise.
SELECT pm_render_template('loads the library');
-- (the two that size the shared cache exist only when preloaded: see
-- config_preload)
SELECT name, setting, unit, context, vartype, enumvals
FROM pg_settings WHERE name LIKE 'prompt_manager.%' AND context <> 'postmaster'
ORDER BY name;

-- the prefix is reserved: a misspelt setting is an error, not a new variable
SELECT regress.err($$SET prompt_manager.max_include_dept = 3$$);
SELECT regress.err($$SET prompt_manager.missing_parameter = 'drop'$$);
SELECT regress.err($$SET prompt_manager.max_include_depth = -1$$);

-- missing_parameter: keep (default), empty, error
SELECT regress.r('[A] and [B]', '{"a": "x"}');
SET prompt_manager.missing_parameter = empty;
SELECT regress.r('[A] and [B]', '{"a": "x"}');
SET prompt_manager.missing_parameter = error;
SELECT regress.r('[A] and [B]', '{"a": "x", "b": null}');
SELECT regress.err($$SELECT pm_render_template('[A] and [B]', '{"a": "x"}')$$);
INSERT INTO pm_prompts (prompt_id, content) VALUES ('set/strict', E'line\n[MISSING]');
SELECT regress.err($$SELECT pm_render('set/strict')$$);
-- a keyword in a directive line needs its value too
SELECT regress.err($$SELECT pm_render_template('//include set/[WHICH]')$$);
RESET prompt_manager.missing_parameter;

-- raise_on_missing = off: a missing prompt renders as missing_prompt_text
SET prompt_manager.raise_on_missing = off;
SELECT to_json(pm_render('set/nowhere'));
SET prompt_manager.missing_prompt_text = '[prompt unavailable]';
SELECT pm_render('set/nowhere');
SELECT regress.r(E'before\n  //include set/nowhere\nafter');
RESET prompt_manager.raise_on_missing;
RESET prompt_manager.missing_prompt_text;

-- settings apply per call: SET LOCAL inside a transaction
BEGIN;
SET LOCAL prompt_manager.missing_parameter = empty;
SELECT regress.r('[GONE]x');
COMMIT;
SELECT regress.r('[GONE]x');

-- render_timeout: a render that cannot finish in 1 ms (3 million keyword
-- slots) is stopped with its own SQLSTATE, and the session goes on
SET prompt_manager.render_timeout = 1;
SELECT regress.err($$SELECT length(pm_render_template(repeat('[X]', 3000000), '{"x": "y"}'))$$);
RESET prompt_manager.render_timeout;
SELECT length(pm_render_template(repeat('[X]', 3000000), '{"x": "y"}'));

-- statement_timeout (a query cancel) stops a long render too
-- (where it stops varies, so the error's context is not shown)
\set SHOW_CONTEXT never
SET statement_timeout = '20ms';
SELECT length(pm_render_template(repeat('[X]', 3000000), '{"x": "y"}'));
RESET statement_timeout;
\set SHOW_CONTEXT errors
SELECT pm_render_template('still [OK]', '{"ok": "working"}');

DELETE FROM pm_prompts;
