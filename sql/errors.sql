-- Every error a caller can cause, with its SQLSTATE.  Each is caught and
-- shown as "SQLSTATE: message", DETAIL and HINT lines.

-- 42704: the prompt does not exist
SELECT regress.err($$SELECT pm_render('errors/nowhere')$$);
SELECT regress.err($$SELECT pm_keywords('errors/nowhere')$$);
-- ids are data: quotes, semicolons and long ids are looked up, not run
SELECT regress.err($$SELECT pm_render('x''; DROP TABLE pm_prompts; --')$$);
SELECT left(regress.err($$SELECT pm_render(repeat('a', 10000))$$), 40);
SELECT count(*) >= 0 AS table_still_there FROM pm_prompts;

-- 22023: params is not a JSON object
SELECT regress.err($$SELECT pm_render_template('x', '[1, 2]')$$);
SELECT regress.err($$SELECT pm_render_template('x', '"text"')$$);
SELECT regress.err($$SELECT pm_render_template('x', '42')$$);
SELECT regress.err($$SELECT pm_render_template('x', 'null')$$);

-- 42P19 include cycle, PM001 include depth: see includes.sql
-- PM002 unknown directive, PM005 bad include: see directives.sql
-- PM003 missing parameter, PM004 render timeout: see settings.sql

-- 54000: the output would pass the 1 GB limit of a text value; the check
-- comes before the memory is taken, and the session goes on
SELECT regress.err($$SELECT pm_render_template(repeat('[X]', 1100), jsonb_build_object('x', repeat('a', 1000000)))$$);
INSERT INTO pm_prompts (prompt_id, content) VALUES
	('errors/big', repeat('[X]', 600)),
	('errors/twice', E'//include errors/big\n//include errors/big');
SELECT regress.err($$SELECT pm_render('errors/twice', jsonb_build_object('x', repeat('a', 1000000)))$$);

-- NULL arguments: a NULL prompt or template gives NULL, NULL params are none
SELECT pm_render(NULL) IS NULL AS null_id,
	pm_render(NULL, '{}') IS NULL AS null_id_with_params,
	pm_render_template(NULL) IS NULL AS null_template,
	pm_keywords(NULL) IS NULL AS null_keywords;
SELECT pm_render_template('[A]', NULL);
INSERT INTO pm_prompts (prompt_id, content, parameters) VALUES ('errors/null', '[A]', '{"a": "stored"}');
SELECT pm_render('errors/null', NULL);

DELETE FROM pm_prompts;
