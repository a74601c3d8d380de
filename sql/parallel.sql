-- Renders in parallel workers (preloaded only): pm_render,
-- pm_render_template, pm_keywords and pm_render_lines are PARALLEL SAFE.
-- Every query that may run in parallel mode runs in a worker from here on
-- (debug_parallel_query = regress; force_parallel_mode on 15), and the
-- scans of par_users below are real parallel scans whose rows are all
-- rendered by workers (parallel_leader_participation = off).
DO $$
BEGIN
	IF current_setting('server_version_num')::int >= 160000 THEN
		EXECUTE 'SET debug_parallel_query = regress';
	ELSE
		EXECUTE 'SET force_parallel_mode = regress';
	END IF;
END
$$;
SELECT proname, proparallel FROM pg_proc
WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'pm\_%' AND proparallel <> 'r'
ORDER BY proname;

SELECT pm_cache_reset();
INSERT INTO pm_prompts (prompt_id, content) VALUES
	('par/welcome', 'Welcome [NAME], your plan is [PLAN].'),
	('par/outer', E'Dear [NAME],\n//include par/footer'),
	('par/footer', 'Regards, the [PLAN] team');
CREATE TABLE par_users (id int PRIMARY KEY, name text, plan text);
INSERT INTO par_users SELECT i, 'user' || i, CASE WHEN i % 2 = 0 THEN 'pro' END
FROM generate_series(1, 1000) i;
ANALYZE par_users;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;

-- pm_render is evaluated under the Gather, in the workers
EXPLAIN (COSTS OFF, VERBOSE)
SELECT count(pm_render('par/welcome', to_jsonb(u))) FROM par_users u;

-- uncached: every row rendered by a worker, each with its own row's data
SET prompt_manager.cache = off;
SELECT pm_stats_reset('par/welcome');
SELECT count(*) AS rows,
	count(*) FILTER (WHERE pm_render('par/welcome', to_jsonb(u)) =
		format('Welcome %s, your plan is %s.', name, coalesce(plan, ''))) AS correct
FROM par_users u;
-- counted exactly once each, though the workers counted them
SELECT renders, cache_hits, errors FROM pm_stats WHERE prompt_id = 'par/welcome';

-- cached: the workers store the renderings, then serve them
RESET prompt_manager.cache;
SELECT pm_stats_reset('par/welcome');
SELECT count(*) FILTER (WHERE pm_render('par/welcome', to_jsonb(u)) =
		format('Welcome %s, your plan is %s.', name, coalesce(plan, ''))) AS correct
FROM par_users u;
SELECT count(*) FILTER (WHERE pm_render('par/welcome', to_jsonb(u)) =
		format('Welcome %s, your plan is %s.', name, coalesce(plan, ''))) AS correct
FROM par_users u;
SELECT renders, cache_hits, errors FROM pm_stats WHERE prompt_id = 'par/welcome';
-- a new revision is seen by the workers, not the cached text
UPDATE pm_prompts SET content = 'Hi [NAME].' WHERE prompt_id = 'par/welcome';
SELECT count(*) FILTER (WHERE pm_render('par/welcome', to_jsonb(u)) = format('Hi %s.', name)) AS correct
FROM par_users u;

-- the other PARALLEL SAFE functions, in workers
SELECT count(*) FILTER (WHERE pm_render_template('[NAME] on [PLAN]', to_jsonb(u)) =
		format('%s on %s', name, coalesce(plan, ''))) AS correct
FROM par_users u;
SELECT count(*) FILTER (WHERE pm_keywords('par/outer') = '{[NAME],[PLAN]}') AS correct
FROM par_users u;
SELECT * FROM pm_render_lines('par/outer', '{"name": "Ada", "plan": "pro"}');

-- prompt_manager.error_handler answers failures inside a worker, without a
-- subtransaction (none may start in parallel mode)
CREATE FUNCTION regress.par_fallback(p text, s text, m text) RETURNS text
LANGUAGE sql PARALLEL SAFE AS $$ SELECT 'fallback ' || s || ': ' || m $$;
SET prompt_manager.error_handler = 'regress.par_fallback';
SET prompt_manager.missing_parameter = error;
SELECT pm_stats_reset('par/outer');
-- (a null plan is left out of the params: a keyword without a value)
SELECT regexp_replace(pm_render('par/outer', jsonb_strip_nulls(to_jsonb(u))),
		E'^Dear user[0-9]+,\nRegards, the pro team$', 'rendered') AS answer, count(*)
FROM par_users u GROUP BY 1 ORDER BY 1;
SELECT renders, cache_hits, errors FROM pm_stats WHERE prompt_id = 'par/outer';
RESET prompt_manager.missing_parameter;
SELECT pm_render(CASE WHEN id % 2 = 0 THEN 'par/nowhere' ELSE 'par/welcome' END,
		to_jsonb(u)) LIKE 'fallback 42704: prompt "par/nowhere" does not exist' AS fallback,
	count(*)
FROM par_users u GROUP BY 1 ORDER BY 1;
SELECT DISTINCT pm_render_template(E'//include par/footer\n//include par/footer\n//bogus')
FROM par_users u;

-- a handler that may not run where the render does is a clear error: in a
-- worker it must be PARALLEL SAFE
ALTER FUNCTION regress.par_fallback(text, text, text) PARALLEL RESTRICTED;
SELECT regress.err($$SELECT count(pm_render('par/nowhere', to_jsonb(u))) FROM par_users u$$);
ALTER FUNCTION regress.par_fallback(text, text, text) PARALLEL UNSAFE;
SELECT regress.err($$SELECT count(pm_render('par/nowhere', to_jsonb(u))) FROM par_users u$$);
-- without failures the handler is never looked at
SELECT count(pm_render('par/welcome', to_jsonb(u))) FROM par_users u;
-- a serial plan calls it (no parallel mode at all)
SET max_parallel_workers_per_gather = 0;
SELECT pm_render('par/nowhere');
SET max_parallel_workers_per_gather = 2;
RESET prompt_manager.error_handler;

-- without a handler the failure is raised from the worker as usual
SELECT regress.err($$SELECT count(pm_render('par/nowhere', to_jsonb(u))) FROM par_users u$$);

-- a role under row-level security reads each prompt through SPI, in the
-- workers too: it sees only what its policy lets it see
CREATE ROLE pm_par_reader;
GRANT SELECT ON pm_prompts, par_users TO pm_par_reader;
GRANT USAGE ON SCHEMA regress TO pm_par_reader;
ALTER TABLE pm_prompts ENABLE ROW LEVEL SECURITY;
CREATE POLICY pm_par_only_footer ON pm_prompts FOR SELECT TO pm_par_reader
	USING (prompt_id <> 'par/welcome');
SET ROLE pm_par_reader;
SELECT count(*) FILTER (WHERE pm_render('par/outer', to_jsonb(u)) =
		format(E'Dear %s,\nRegards, the %s team', name, coalesce(plan, ''))) AS correct
FROM par_users u;
SELECT regress.err($$SELECT count(pm_render('par/welcome', to_jsonb(u))) FROM par_users u$$);
RESET ROLE;
DROP POLICY pm_par_only_footer ON pm_prompts;
ALTER TABLE pm_prompts DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON pm_prompts, par_users FROM pm_par_reader;
REVOKE ALL ON SCHEMA regress FROM pm_par_reader;
DROP ROLE pm_par_reader;

-- pm_bulk_render is PARALLEL UNSAFE: each failed request still has its row
-- (a subtransaction each), and the statement stays out of parallel mode
SELECT ord, ok, sqlstate FROM pm_bulk_render('[{"prompt_id": "par/welcome"}, {"prompt_id": "par/nowhere"}]');
-- even when a PARALLEL SAFE wrapper calls it in a worker: the failures of
-- the render itself are still rows
CREATE FUNCTION regress.par_bulk(requests jsonb) RETURNS SETOF text
LANGUAGE sql PARALLEL SAFE AS $$ SELECT ord || ' ' || coalesce(sqlstate, 'ok') FROM pm_bulk_render_rows(requests) $$;
SELECT regress.par_bulk('[{"prompt_id": "par/welcome"}, {"prompt_id": "par/nowhere"},
	{"prompt_id": "par/welcome", "parameters": [1]}]');

DROP FUNCTION regress.par_bulk(jsonb);
DROP FUNCTION regress.par_fallback(text, text, text);
DROP TABLE par_users;
DELETE FROM pm_prompts WHERE prompt_id LIKE 'par/%';
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
