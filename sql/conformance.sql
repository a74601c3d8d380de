-- The 60 cases rendered by the PromptManager gem 0.5.8
-- (test/data/gem_cases.json, a copy of shared/conformance/gem_cases.json).
-- Each case's text is stored as prompt "id" with its includes, rendered with
-- its params, and compared with what the gem rendered.
\set cases `cat test/data/gem_cases.json`
CREATE TEMP TABLE gem_cases AS
SELECT c->>'id' AS id, c->>'text' AS text, c->'includes' AS includes,
	c->'params' AS params, c->>'expected' AS expected
FROM jsonb_array_elements(:'cases'::jsonb) AS c;

SELECT count(*) AS cases FROM gem_cases;

INSERT INTO pm_prompts (prompt_id, content)
SELECT DISTINCT ON (i.key) i.key, i.value
FROM gem_cases, jsonb_each_text(includes) AS i;
INSERT INTO pm_prompts (prompt_id, content) SELECT id, text FROM gem_cases;

-- stored prompts: every case renders exactly as the gem did
SELECT count(*) FILTER (WHERE pm_render(id, params) = expected) AS passed,
	count(*) FILTER (WHERE pm_render(id, params) IS DISTINCT FROM expected) AS failed
FROM gem_cases;
SELECT id, to_json(pm_render(id, params)) AS got, to_json(expected) AS expected
FROM gem_cases WHERE pm_render(id, params) IS DISTINCT FROM expected;

-- the same texts given inline
SELECT count(*) FILTER (WHERE pm_render_template(text, params) = expected) AS passed,
	count(*) FILTER (WHERE pm_render_template(text, params) IS DISTINCT FROM expected) AS failed
FROM gem_cases;

-- rendered a second time (compiled templates cached in the backend)
SELECT count(*) FILTER (WHERE pm_render(id, params) = expected) AS passed_again
FROM gem_cases;

DELETE FROM pm_prompts;
