-- Bulk rendering, streaming, reading and the error handler.
INSERT INTO pm_prompts (prompt_id, content, parameters, metadata, category) VALUES
	('op/hello', E'Hello [NAME]\n//include op/footer', '{"name": "you"}', '{"team": "sales"}', 'greeting'),
	('op/footer', '-- the team', '{}', '{}', NULL),
	('op/strict', 'Dear [TITLE] [NAME]', '{}', '{"team": "legal"}', 'letter'),
	('op/loop', '//include op/loop', '{}', '{}', NULL);

-- pm_bulk_render: one row per request, in order; a bad request gives its
-- row ok = false with the error and its SQLSTATE, the others still render
SELECT ord, prompt_id, ok, to_json(result) AS result, error, sqlstate
FROM pm_bulk_render('[
	{"prompt_id": "op/hello"},
	{"prompt_id": "op/hello", "parameters": {"name": "Ada"}},
	{"prompt_id": "op/nowhere"},
	{"prompt_id": "op/loop"},
	{"prompt_id": "op/hello", "parameters": [1, 2]},
	{"prompt_id": "op/hello", "parameters": null},
	{"prompt_id": "op/hello", "parameters": {"name": "Bob"}}
]');
SET prompt_manager.missing_parameter = error;
SELECT ord, ok, result, error, sqlstate
FROM pm_bulk_render('[{"prompt_id": "op/strict", "parameters": {"name": "Lee"}},
	{"prompt_id": "op/strict", "parameters": {"name": "Lee", "title": "Dr"}}]');
RESET prompt_manager.missing_parameter;
-- in a SELECT list it returns one row at a time, and may be stopped early
SELECT (b).ord, (b).ok, (b).result
FROM (SELECT pm_bulk_render('[{"prompt_id": "op/footer"}, {"prompt_id": "op/hello"}, {"prompt_id": "op/nowhere"}]') AS b) s
LIMIT 2;
-- pm_bulk_render_rows, the C function behind it, gives the same rows
SELECT (b).ord, (b).ok, (b).result
FROM (SELECT pm_bulk_render_rows('[{"prompt_id": "op/footer"}, {"prompt_id": "op/hello"}, {"prompt_id": "op/nowhere"}]') AS b) s
LIMIT 2;
SELECT pm_render('op/footer');
-- a cursor read to its end, then another render before it closes
BEGIN;
DECLARE bulk CURSOR FOR SELECT (b).ord, (b).ok, (b).sqlstate
	FROM (SELECT pm_bulk_render_rows('[{"prompt_id": "op/nowhere", "parameters": {"x": 0}}]') AS b) s;
FETCH ALL FROM bulk;
SELECT pm_render('op/hello', '{"name": "after the cursor"}');
COMMIT;
-- an empty array renders nothing; NULL gives no rows
SELECT count(*) FROM pm_bulk_render('[]');
SELECT count(*) FROM pm_bulk_render(NULL);
SELECT pm_bulk_render(NULL);
-- in FROM, pm_bulk_render is inlined: its rows stream out of a ProjectSet
-- one at a time, not through a function scan that keeps them all
EXPLAIN (VERBOSE, COSTS OFF) SELECT b.ord, b.result FROM pm_bulk_render('[{"prompt_id": "op/hello"}]') b;
-- and so it is with its argument taken from another table (LATERAL)
EXPLAIN (COSTS OFF) SELECT b.ord FROM pm_prompts p, pm_bulk_render(jsonb_build_array(jsonb_build_object('prompt_id', p.prompt_id))) b;
-- in a SELECT list, the call becomes one of the C function itself
EXPLAIN (VERBOSE, COSTS OFF) SELECT pm_bulk_render('[{"prompt_id": "op/hello"}]');
-- a sub-select in its argument keeps it from being inlined: a function
-- scan of the C function (its rows collected first).  The plan's lines as
-- EXPLAIN prints them, but for the "(returns $0)" that follows "InitPlan 1"
-- before PostgreSQL 17 only.
CREATE FUNCTION regress.plan(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		RETURN NEXT regexp_replace(line, '^( *InitPlan [0-9]+) \(returns \$[0-9]+\)$', '\1');
	END LOOP;
END
$$;
SELECT regress.plan($$SELECT * FROM pm_bulk_render((SELECT '[{"prompt_id": "op/hello"}]'::jsonb))$$) AS "QUERY PLAN";
DROP FUNCTION regress.plan(text);
SELECT b.ord, b.ok, b.result FROM pm_bulk_render((SELECT '[{"prompt_id": "op/footer"}]'::jsonb)) b;
-- a malformed requests value is an error of the call, naming the element
SELECT regress.err($$SELECT * FROM pm_bulk_render('{"prompt_id": "op/hello"}')$$);
SELECT regress.err($$SELECT * FROM pm_bulk_render('[{"prompt_id": "op/hello"}, 42]')$$);
SELECT regress.err($$SELECT * FROM pm_bulk_render('[{"prompt_id": "op/hello"}, {"id": "x"}]')$$);
SELECT regress.err($$SELECT * FROM pm_bulk_render('[{"prompt_id": 7}]')$$);
-- each distinct prompt, root or include, is read once per call: 10,000
-- requests over 100 prompts (all including one footer) scan the primary
-- key 101 times (counted uncached, in a transaction of their own)
INSERT INTO pm_prompts (prompt_id, content)
SELECT 'op/many/' || g, format(E'Prompt %s for [WHO]\n//include op/footer', g)
FROM generate_series(1, 100) g;
SELECT pg_stat_force_next_flush();
SELECT idx_scan AS scans_before FROM pg_stat_user_indexes
WHERE indexrelid = 'pm_prompts_pkey'::regclass \gset
BEGIN;
SET LOCAL prompt_manager.cache = off;
SELECT count(*) AS rows, count(*) FILTER (WHERE ok) AS rendered,
	count(DISTINCT result) AS distinct_results
FROM pm_bulk_render((SELECT jsonb_agg(jsonb_build_object('prompt_id', 'op/many/' || (g % 100 + 1),
		'parameters', jsonb_build_object('who', 'client ' || (g % 7))))
	FROM generate_series(1, 10000) g));
COMMIT;
SELECT pg_stat_force_next_flush();
SELECT idx_scan - :scans_before AS primary_key_scans FROM pg_stat_user_indexes
WHERE indexrelid = 'pm_prompts_pkey'::regclass;
-- the same results as pm_render, one by one
SELECT bool_and(b.result IS NOT DISTINCT FROM pm_render(b.prompt_id, r.p)) AS same_as_pm_render
FROM (SELECT jsonb_agg(jsonb_build_object('prompt_id', 'op/many/' || g, 'parameters', jsonb_build_object('who', g)) ORDER BY g) AS req
	  FROM generate_series(1, 100) g) q,
	LATERAL pm_bulk_render(q.req) b,
	LATERAL (SELECT jsonb_build_object('who', b.ord) AS p) r;

-- pm_render_lines: the rows of string_to_table(pm_render(...), E'\n')
SELECT * FROM pm_render_lines('op/hello', '{"name": "multi\nline"}');
SELECT count(*) FROM pm_render_lines('op/footer');
SELECT count(*) FROM pm_render_lines(NULL);
SELECT (SELECT array_agg(l) FROM pm_render_lines('op/many/5', '{"who": "x"}') l)
	= (SELECT array_agg(l) FROM string_to_table(pm_render('op/many/5', '{"who": "x"}'), E'\n') l) AS same_lines;
SELECT regress.err($$SELECT * FROM pm_render_lines('op/loop')$$);

-- pm_get: the row, in one lookup
SELECT prompt_id, content, parameters, metadata, category, status, revision > 0 AS has_revision
FROM pm_get('op/hello');
SELECT count(*) FROM pm_get('op/nowhere');

-- pm_search: full text (websearch syntax, ranked), metadata, category, status
SELECT prompt_id, prompt_category, rank > 0 AS ranked FROM pm_search('hello');
SELECT prompt_id FROM pm_search('"the team" -hello') ORDER BY 1;
SELECT prompt_id FROM pm_search(metadata => '{"team": "legal"}');
SELECT prompt_id FROM pm_search(category => 'greeting');
SELECT count(*) FROM pm_search(max_results => 5);
UPDATE pm_prompts SET status = 'archived' WHERE prompt_id = 'op/strict';
SELECT prompt_id FROM pm_search(metadata => '{"team": "legal"}');
SELECT prompt_id FROM pm_search(metadata => '{"team": "legal"}', status => 'archived');

-- prompt_manager.error_handler: a function (prompt_id, sqlstate, message)
-- answers prompt-level failures instead of an error
CREATE FUNCTION regress.fallback(p text, s text, m text) RETURNS text
LANGUAGE sql PARALLEL SAFE AS $$ SELECT format('[fallback for %s: %s %s]', coalesce(p, 'inline'), s, m) $$;
SET prompt_manager.error_handler = 'regress.fallback';
SELECT pm_render('op/nowhere');
SELECT pm_render('op/loop');
SELECT pm_render_template('//frobnicate');
SET prompt_manager.missing_parameter = error;
SELECT pm_render('op/strict');
RESET prompt_manager.missing_parameter;
-- not for bad arguments
SELECT regress.err($$SELECT pm_render('op/hello', '[1]')$$);
-- a handler that raises: its error is the render's
CREATE FUNCTION regress.failing(p text, s text, m text) RETURNS text
LANGUAGE plpgsql PARALLEL SAFE AS $$ BEGIN RAISE EXCEPTION 'no fallback for %', p USING ERRCODE = 'P0001'; END $$;
SET prompt_manager.error_handler = 'regress.failing';
SELECT regress.err($$SELECT pm_render('op/nowhere')$$);
-- a handler that does not exist, or returns something else
SET prompt_manager.error_handler = 'regress.no_such_function';
SELECT regress.err($$SELECT pm_render('op/nowhere')$$);
CREATE FUNCTION regress.wrong_type(p text, s text, m text) RETURNS integer
LANGUAGE sql AS $$ SELECT 1 $$;
SET prompt_manager.error_handler = 'regress.wrong_type';
SELECT regress.err($$SELECT pm_render('op/nowhere')$$);
-- streaming does not use it: lines may already be out
SET prompt_manager.error_handler = 'regress.fallback';
SELECT regress.err($$SELECT * FROM pm_render_lines('op/loop')$$);
RESET prompt_manager.error_handler;
-- a successful render never calls it
SELECT pm_render('op/hello');

DELETE FROM pm_prompts;
