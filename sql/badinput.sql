-- Bad input at the SQL level: each call below gives a clear error (shown as
-- "SQLSTATE: message" with its DETAIL and HINT by regress.err) or the right
-- result, and leaves the session usable: after each error, a plain render
-- still works (regress.bad shows the error and the render that follows it).
-- Runs with and without preloading; what needs preloading (pm_preload,
-- pm_stats_reset, pm_frequent_prompts) is in badinput_preload.sql.
-- An output over 1 GB (54000) is in errors.sql, not repeated here.

INSERT INTO pm_prompts (prompt_id, content, parameters) VALUES
	('bad/hello', 'Hello [NAME]', '{"name": "stored"}'),
	('bad/value', E'<[X]>\n//include bad/tail', '{}'),
	('bad/tail', 'end', '{}');

-- The error of a query, then what a plain render gives right after it.
CREATE FUNCTION regress.bad(query text, width integer DEFAULT 300,
	OUT error text, OUT render_after text) LANGUAGE plpgsql AS $$
BEGIN
	error := left(regress.err(query), width);
	render_after := pm_render('bad/hello', '{"name": "again"}');
END
$$;

-- params that is not a JSON object: 22023, with what it is
SELECT * FROM regress.bad($$SELECT pm_render('bad/hello', '[1, 2]')$$);
SELECT * FROM regress.bad($$SELECT pm_render('bad/hello', '"Ada"')$$);
SELECT * FROM regress.bad($$SELECT pm_render('bad/hello', '42')$$);
SELECT * FROM regress.bad($$SELECT pm_render('bad/hello', 'true')$$);
SELECT * FROM regress.bad($$SELECT pm_render('bad/hello', 'null')$$);
SELECT * FROM regress.bad($$SELECT pm_render_template('[NAME]', '[{"name": "Ada"}]')$$);
SELECT * FROM regress.bad($$SELECT count(*) FROM pm_render_lines('bad/hello', '[]')$$);
-- in pm_bulk_render, only the request's own row fails
SELECT ord, ok, result, error, sqlstate FROM pm_bulk_render('[
	{"prompt_id": "bad/hello", "parameters": [1, 2]},
	{"prompt_id": "bad/hello", "parameters": "Ada"},
	{"prompt_id": "bad/hello", "parameters": 42},
	{"prompt_id": "bad/hello", "parameters": {"name": "fine"}}]');
-- text that is not JSON at all is refused by PostgreSQL before any call
SELECT * FROM regress.bad($$SELECT pm_render('bad/hello', '{"name": ')$$);

-- deeply nested values: 1000 levels render as their JSON text
SELECT length(v) AS length, left(v, 12) AS starts, right(v, 12) AS ends
FROM (SELECT pm_render_template('[X]', ('{"x": ' || repeat('{"a": ', 1000) || '"deep"' || repeat('}', 1000) || '}')::jsonb) AS v) s;
-- an array is a history: its last element, here the 999 levels inside
SELECT length(v) AS length, left(v, 12) AS starts, right(v, 12) AS ends
FROM (SELECT pm_render_template('[X]', ('{"x": ' || repeat('[', 1000) || '"deep"' || repeat(']', 1000) || '}')::jsonb) AS v) s;
-- the same in stored parameters, and in a request of pm_bulk_render
INSERT INTO pm_prompts (prompt_id, content, parameters) VALUES
	('bad/deep', '[X]', ('{"x": ' || repeat('{"a": ', 1000) || '1' || repeat('}', 1000) || '}')::jsonb);
SELECT length(pm_render('bad/deep')) AS stored_deep,
	md5(pm_render('bad/deep')) = md5(repeat('{"a": ', 1000) || '1' || repeat('}', 1000)) AS as_json_text;
SELECT ord, ok, length(result) AS length, sqlstate
FROM pm_bulk_render(('[{"prompt_id": "bad/value", "parameters": {"x": ' || repeat('[', 1000) || '7' || repeat(']', 1000) || '}}]')::jsonb);

-- huge values: a 10 MB value renders whole, in every function
SELECT length(v) AS length, md5(v) = md5('<' || repeat('0123456789', 1048576) || E'>\nend') AS same_text
FROM (SELECT pm_render('bad/value', jsonb_build_object('x', repeat('0123456789', 1048576))) AS v) s;
SELECT length(v) AS length, md5(v) = md5(repeat('0123456789', 1048576)) AS same_text
FROM (SELECT pm_render_template('[X]', jsonb_build_object('x', repeat('0123456789', 1048576))) AS v) s;
SELECT count(*) AS lines, sum(length(l)) AS length
FROM pm_render_lines('bad/value', jsonb_build_object('x', repeat(E'0123456789\n', 1048576))) AS l;
SELECT ord, ok, length(result) AS length
FROM pm_bulk_render(jsonb_build_array(jsonb_build_object('prompt_id', 'bad/value',
	'parameters', jsonb_build_object('x', repeat('0123456789', 1048576)))));
-- params with 100,000 keys, and a keyword of 1,000,000 characters
SELECT pm_render('bad/hello', (SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 100000) g)
	|| '{"name": "found among 100,001 keys"}');
SELECT pm_render_template('<[' || repeat('K', 1000000) || ']>', jsonb_build_object(repeat('k', 1000000), 'long keyword filled'));
-- a 10 MB template of unclosed comment openings is kept as it is
SELECT length(pm_render_template(repeat('<!--', 2621440))) AS unclosed_comments;

-- prompt ids are values, never SQL: quotes, semicolons, backslashes,
-- format directives, blanks, the empty string and 10,000 characters are
-- looked up like any id and reported as missing (42704)
SELECT * FROM regress.bad($$SELECT pm_render('x''; DROP TABLE pm_prompts; --')$$);
SELECT * FROM regress.bad($$SELECT pm_render(E'back\\slash\\')$$);
SELECT * FROM regress.bad($$SELECT pm_render('"double" "quotes"')$$);
SELECT * FROM regress.bad($$SELECT pm_render('%s%n%x%p%%')$$);
SELECT * FROM regress.bad($$SELECT pm_render(E'tab\there\nnewline')$$);
SELECT * FROM regress.bad($$SELECT pm_render('')$$);
SELECT * FROM regress.bad($$SELECT pm_render('bad/hello ')$$);
SELECT * FROM regress.bad($$SELECT pm_render(repeat('a', 10000))$$, 60);
SELECT * FROM regress.bad($$SELECT pm_keywords('x''; DROP TABLE pm_prompts; --')$$);
SELECT * FROM regress.bad($$SELECT pm_keywords(repeat('b', 10000))$$, 60);
SELECT * FROM regress.bad($$SELECT count(*) FROM pm_render_lines(E'semi;colon\\')$$);
SELECT * FROM regress.bad($$SELECT count(*) FROM pm_render_lines(repeat('c', 10000))$$, 60);
-- in an include line, and as the value that names an include
SELECT * FROM regress.bad($$SELECT pm_render_template(E'//include x'';DROP\\TABLE;%s')$$);
SELECT * FROM regress.bad($$SELECT pm_render_template('//include ' || repeat('d', 10000))$$, 60);
SELECT * FROM regress.bad($$SELECT pm_render_template('//include bad/[ID]', '{"id": "x''; --"}')$$);
SELECT * FROM regress.bad($$SELECT pm_render_template('//include [ID]', jsonb_build_object('id', repeat('e', 10000)))$$, 60);
-- format directives in directive names are text too
SELECT * FROM regress.bad($$SELECT pm_render_template('//%s%n%p')$$);
-- pm_bulk_render: each bad id fails its row
SELECT ord, left(prompt_id, 20) AS prompt_id, ok, left(error, 40) AS error, sqlstate
FROM pm_bulk_render(jsonb_build_array(
	jsonb_build_object('prompt_id', 'x''; DROP TABLE pm_prompts; --'),
	jsonb_build_object('prompt_id', E'back\\slash'),
	jsonb_build_object('prompt_id', ''),
	jsonb_build_object('prompt_id', repeat('f', 10000)),
	jsonb_build_object('prompt_id', 'bad/hello')));
-- pm_get and pm_search find nothing; pm_invalidate drops nothing
SELECT count(*) AS rows FROM pm_get('x''; DROP TABLE pm_prompts; --');
SELECT count(*) AS rows FROM pm_get(repeat('g', 10000));
SELECT count(*) AS rows FROM pm_search(category => E'x''; \\ --', status => NULL);
SELECT count(*) AS rows FROM pm_search('x''; DROP TABLE pm_prompts; --');
SELECT pm_invalidate('x''; DROP TABLE pm_prompts; --') AS dropped,
	pm_invalidate(repeat('h', 10000), '{"a": 1}') AS dropped_too;
SELECT count(*) >= 4 AS table_still_there FROM pm_prompts;

-- an include chain 10,000 deep, with max_include_depth at its maximum
INSERT INTO pm_prompts (prompt_id, content)
SELECT 'bad/chain/' || g,
	CASE WHEN g < 9999 THEN format(E'%s\n//include bad/chain/%s', g, g + 1) ELSE 'bottom' END
FROM generate_series(0, 9999) g;
SELECT * FROM regress.bad($$SET prompt_manager.max_include_depth = 1001$$);
SET prompt_manager.max_include_depth = 1000;
-- PM001, the chain named in full (its start and end shown)
SELECT left(e, 128) AS starts, right(e, 104) AS ends
FROM regress.err($$SELECT pm_render('bad/chain/0')$$) AS e;
SELECT * FROM regress.bad($$SELECT pm_keywords('bad/chain/0')$$, 78);
SELECT * FROM regress.bad($$SELECT pm_render_template('//include bad/chain/0')$$, 78);
SELECT * FROM regress.bad($$SELECT count(*) FROM pm_render_lines('bad/chain/0')$$, 78);
SELECT ord, ok, left(error, 80) AS error, sqlstate
FROM pm_bulk_render('[{"prompt_id": "bad/chain/0"}, {"prompt_id": "bad/chain/8999"}]');
-- exactly 1000 levels render
SELECT length(pm_render('bad/chain/8999')) AS depth_1000,
	pm_keywords('bad/chain/8999') AS keywords;
-- the C stack is checked at every level: with the smallest max_stack_depth
-- (and no cache, so that every level is really rendered) the render stops
-- with 54001 instead of crashing, and the session goes on
SET prompt_manager.cache = off;
SET max_stack_depth = '100kB';
SELECT * FROM regress.bad($$SELECT pm_render('bad/chain/8999')$$, 33);
SELECT * FROM regress.bad($$SELECT count(*) FROM pm_render_lines('bad/chain/8999')$$, 33);
SELECT * FROM regress.bad($$SELECT pm_render_template('//include bad/chain/9000')$$, 33);
SELECT ord, ok, error, sqlstate FROM pm_bulk_render('[{"prompt_id": "bad/chain/8999"}]');
RESET max_stack_depth;
RESET prompt_manager.cache;
SELECT length(pm_render('bad/chain/8999')) AS depth_1000_again;

-- cycles: a ring of 1000 prompts (at the maximum depth the cycle is found
-- first), and a prompt that includes itself through a parameter
INSERT INTO pm_prompts (prompt_id, content)
SELECT 'bad/ring/' || g, format(E'%s\n//include bad/ring/%s', g, (g + 1) % 1000)
FROM generate_series(0, 999) g;
SELECT left(e, 60) AS starts, right(e, 58) AS ends
FROM regress.err($$SELECT pm_render('bad/ring/0')$$) AS e;
SELECT left(e, 66) AS starts, right(e, 60) AS ends
FROM regress.err($$SELECT pm_keywords('bad/ring/500')$$) AS e;
INSERT INTO pm_prompts (prompt_id, content) VALUES ('bad/self', E'me\n//include [NEXT]');
SELECT * FROM regress.bad($$SELECT pm_render('bad/self', '{"next": "bad/self"}')$$);
SELECT pm_render('bad/self', '{"next": "bad/tail"}') AS no_cycle;
RESET prompt_manager.max_include_depth;

-- errors that abort the transaction (not caught): the next statement
-- renders as before
\set VERBOSITY sqlstate
SELECT pm_render('bad/hello', '[1]');
SELECT pm_render('bad/hello');
SELECT pm_render('bad/chain/0');
SELECT pm_render('bad/hello');
BEGIN;
SELECT pm_render('bad/self', '{"next": "bad/self"}');
SELECT pm_render('bad/hello');
ROLLBACK;
SELECT pm_render('bad/hello');
BEGIN;
SAVEPOINT s;
SET LOCAL max_stack_depth = '100kB';
SET LOCAL prompt_manager.cache = off;
SET LOCAL prompt_manager.max_include_depth = 1000;
SELECT pm_render('bad/chain/8999');
ROLLBACK TO SAVEPOINT s;
SELECT pm_render('bad/hello');
COMMIT;
\set VERBOSITY default

-- NULL in every argument of every function (the statistics and preload
-- functions, which need preloading, are in badinput_preload.sql)
SELECT pm_render(NULL) IS NULL AS render_null,
	pm_render(NULL, NULL) IS NULL AS render_null_null,
	pm_render(NULL, '{}') IS NULL AS render_null_params,
	pm_render('bad/hello', NULL) AS render_params_null;
SELECT pm_render_template(NULL) IS NULL AS template_null,
	pm_render_template(NULL, NULL) IS NULL AS template_null_null,
	pm_render_template(NULL, '{"name": "x"}') IS NULL AS template_null_params,
	pm_render_template('[NAME]', NULL) AS template_params_null;
SELECT pm_keywords(NULL) IS NULL AS keywords_null;
SELECT count(*) AS bulk_null FROM pm_bulk_render(NULL);
SELECT ord, ok, result FROM pm_bulk_render('[{"prompt_id": "bad/hello", "parameters": null}]');
-- JSON null where a request or an id should be: 22023, the whole call
SELECT * FROM regress.bad($$SELECT count(*) FROM pm_bulk_render('null')$$);
SELECT * FROM regress.bad($$SELECT count(*) FROM pm_bulk_render('[null]')$$);
SELECT * FROM regress.bad($$SELECT count(*) FROM pm_bulk_render('[{"prompt_id": null}]')$$);
SELECT * FROM regress.bad($$SELECT count(*) FROM pm_bulk_render('[{"prompt_id": "bad/hello"}, {}]')$$);
SELECT (SELECT count(*) FROM pm_render_lines(NULL)) AS lines_null,
	(SELECT count(*) FROM pm_render_lines(NULL, NULL)) AS lines_null_null,
	(SELECT count(*) FROM pm_render_lines(NULL, '{}')) AS lines_null_params;
SELECT * FROM pm_render_lines('bad/hello', NULL);
SELECT count(*) AS get_null FROM pm_get(NULL);
-- pm_search: a NULL filter is no filter, a NULL max_results no limit
SELECT (SELECT count(*) FROM pm_search(NULL, NULL, NULL, NULL, NULL)) =
	(SELECT count(*) FROM pm_prompts) AS search_all_nulls_finds_all;
SELECT count(*) AS search_default_limit FROM pm_search();
SELECT * FROM regress.bad($$SELECT count(*) FROM pm_search(max_results => -1)$$);
-- pm_invalidate: NULL is "all"; params without a prompt_id is an error
SELECT pm_invalidate(NULL) >= 0 AS invalidate_null,
	pm_invalidate(NULL, NULL) >= 0 AS invalidate_null_null,
	pm_invalidate('bad/hello', NULL) >= 0 AS invalidate_params_null;
SELECT * FROM regress.bad($$SELECT pm_invalidate(NULL, '{}')$$);

-- (regress.bad is used again by badinput_preload.sql)
DELETE FROM pm_prompts;
