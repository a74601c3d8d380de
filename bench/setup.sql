-- bench/setup.sql: the data and helpers of bench/run.
-- 1000 prompts of about 1 KB with four keywords each.
CREATE EXTENSION IF NOT EXISTS prompt_manager;
TRUNCATE pm_prompts;
INSERT INTO pm_prompts (prompt_id, content)
SELECT 'bench/' || g,
	'You are [ROLE]. Prompt number ' || g || '. '
	|| repeat('Lorem ipsum dolor sit amet, consectetur adipiscing elit. ', 8)
	|| 'Answer [QUESTION] in [LANGUAGE] for [AUDIENCE]. '
	|| repeat('Sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. ', 6)
FROM generate_series(0, 999) g;
ANALYZE pm_prompts;

-- C: what an application would write without prompt_manager: read the
-- content, then replace() each key from jsonb_each_text.
CREATE OR REPLACE FUNCTION bench_plpgsql_render(p_id text, p_params jsonb)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
	t text;
	k text;
	v text;
BEGIN
	SELECT content INTO t FROM pm_prompts WHERE prompt_id = p_id;
	FOR k, v IN SELECT key, value FROM jsonb_each_text(p_params) LOOP
		t := replace(t, '[' || upper(k) || ']', v);
	END LOOP;
	RETURN t;
END
$$;

-- Microseconds a query takes inside the server (its one result discarded).
CREATE OR REPLACE FUNCTION bench_time(q text) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	r bigint;
BEGIN
	t0 := clock_timestamp();
	EXECUTE q INTO r;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6;
END
$$;

-- Time q with prompt_manager.track on (variant A) and off (A0), in the
-- order A A0 A0 A, blocks times: the drift of the machine's speed cancels
-- out, and many runs make a difference of a few per cent stand out.
CREATE OR REPLACE FUNCTION bench_time_tracked(q text, blocks integer)
RETURNS TABLE(variant text, us float8)
LANGUAGE plpgsql AS $$
DECLARE
	track text;
BEGIN
	FOR i IN 1 .. blocks LOOP
		FOREACH track IN ARRAY ARRAY['on', 'off', 'off', 'on'] LOOP
			PERFORM set_config('prompt_manager.track', track, false);
			variant := CASE track WHEN 'on' THEN 'A' ELSE 'A0' END;
			us := bench_time(q);
			RETURN NEXT;
		END LOOP;
	END LOOP;
	PERFORM set_config('prompt_manager.track', 'on', false);
END
$$;

-- The label production on every bench prompt (its version 1), for AL:
-- cached renders of 'bench/<n>@production' timed against AH, the same
-- calls of 'bench/<n>', in the order AH AL AL AH, blocks times over.
INSERT INTO pm_labels (prompt_id, label, version)
SELECT prompt_id, 'production', 1 FROM pm_prompts WHERE prompt_id LIKE 'bench/%';
CREATE OR REPLACE FUNCTION bench_time_labels(q_head text, q_label text, blocks integer)
RETURNS TABLE(variant text, us float8)
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. blocks LOOP
		FOREACH variant IN ARRAY ARRAY['AH', 'AL', 'AL', 'AH'] LOOP
			us := bench_time(CASE variant WHEN 'AH' THEN q_head ELSE q_label END);
			RETURN NEXT;
		END LOOP;
	END LOOP;
END
$$;

-- Large and keyword-heavy prompts for the linearity checks.
INSERT INTO pm_prompts (prompt_id, content)
SELECT 'size/' || mb || 'mb', repeat('Lorem ipsum [A] dolor sit amet, consectetur adipiscing. ', mb * 1048576 / 57)
FROM unnest(ARRAY[1, 10]) AS mb;
INSERT INTO pm_prompts (prompt_id, content)
SELECT 'keywords/' || k,
	(SELECT string_agg(format('[K%s] filler text here. ', translate(g::text, '0123456789', 'ABCDEFGHIJ')), '')
	 FROM generate_series(1, k) g)
FROM unnest(ARRAY[100, 1000, 10000]) AS k;

-- Bulk requests: the A calls as one pm_bulk_render array.
CREATE TABLE bench_bulk AS
SELECT jsonb_agg(jsonb_build_object('prompt_id', 'bench/' || (g % 1000),
		'parameters', '{"role": "a helpful assistant", "question": "the question", "language": "English", "audience": "developers"}'::jsonb)) AS requests
FROM generate_series(1, :N) g;

-- 100,000 more prompts to search.
INSERT INTO pm_prompts (prompt_id, content, metadata, category)
SELECT 'search/' || g,
	format('Prompt %s about %s for %s customers.', g,
		(ARRAY['billing', 'shipping', 'refunds', 'onboarding', 'security'])[g % 5 + 1],
		(ARRAY['new', 'returning', 'enterprise'])[g % 3 + 1])
		|| CASE WHEN g % 10000 = 0 THEN ' Mentions the zebra escalation.' ELSE '' END,
	jsonb_build_object('team', 'team-' || (g % 50))
		|| CASE WHEN g % 10000 = 5 THEN '{"owner": "zebra-desk"}'::jsonb ELSE '{}' END,
	(ARRAY['support', 'sales', 'ops'])[g % 3 + 1]
FROM generate_series(1, 100000) g;
ANALYZE pm_prompts;

-- The parallel measure (bench/parallel.sql): an application's table of
-- :PAR_ROWS users (bench/run sets it; none when it is not set, as for
-- bench/clients/run), each rendered with its own row as the params.
\if :{?PAR_ROWS}
\else
\set PAR_ROWS 0
\endif
INSERT INTO pm_prompts (prompt_id, content) VALUES ('bench/welcome',
	E'Welcome [NAME] to [COMPANY]!\nYour [PLAN] plan started on [SIGNUP]; your account is number [ID].\n'
	|| 'Reply to this message if you have any question.');
DROP TABLE IF EXISTS bench_users;
CREATE TABLE bench_users (id int PRIMARY KEY, name text, company text, plan text, signup date);
INSERT INTO bench_users
SELECT g, 'user ' || g, 'Company ' || (g % 997), (ARRAY['free', 'pro', 'team'])[g % 3 + 1],
	date '2024-01-01' + (g % 365)
FROM generate_series(1, :PAR_ROWS) g;
VACUUM ANALYZE bench_users;
