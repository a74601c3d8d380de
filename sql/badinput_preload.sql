-- Bad input to the functions that need shared_preload_libraries (this file
-- runs with the library preloaded only; badinput.sql has the others, and
-- defines regress.bad: an error, then a plain render).  Without preloading
-- these functions raise 55000 whatever their arguments (config_nopreload.sql).
INSERT INTO pm_prompts (prompt_id, content, parameters, preload) VALUES
	('bad/hello', 'Hello [NAME]', '{"name": "stored"}', true),
	('bad/marked', 'marked', '{}', true),
	('bad/broken', E'//include bad/nowhere', '{}', true),
	('bad/loop', E'//include bad/loop', '{}', false),
	('bad/unmarked', 'unmarked', '{}', false);
SELECT pm_cache_reset();

-- pm_preload: NULL means the prompts marked preload; NULL elements are
-- skipped; an empty array preloads nothing
SELECT pm_preload(NULL) AS marked;
SELECT pm_preload(ARRAY[NULL]::text[]) AS only_null,
	pm_preload(ARRAY[NULL, 'bad/unmarked', NULL]) AS one,
	pm_preload('{}'::text[]) AS empty;
-- a two-dimensional array is read element by element
SELECT pm_preload(ARRAY[['bad/hello', 'bad/marked'], ['bad/unmarked', NULL]]) AS two_dims;
-- ids that are not prompts: each is a WARNING, the others preload
SELECT pm_preload(ARRAY['x''; DROP TABLE pm_prompts; --', E'back\\slash', '%s%n%p', '', 'bad/marked']) AS weird_ids;
-- (the WARNING of a 10,000-character id is not shown)
SET client_min_messages = error;
SELECT pm_preload(ARRAY[repeat('a', 10000), 'bad/marked']) AS long_id;
RESET client_min_messages;
-- a prompt that fails for its own reason: a WARNING with the error
SELECT pm_preload(ARRAY['bad/loop', 'bad/broken']) AS failing;
SELECT pm_render('bad/hello', '{"name": "after preload"}');
SELECT prompt_id FROM pm_cache_entries
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY 1;

-- pm_invalidate with entries in the cache: params are matched as bytes,
-- whatever JSON they hold; NULL params drop every rendering of the prompt
SELECT pm_render('bad/hello', '{"name": "x"}'), pm_render('bad/hello', '{"name": "y"}');
SELECT pm_invalidate('bad/hello', '[1, 2]') AS array_params,
	pm_invalidate('bad/hello', 'null') AS json_null_params,
	pm_invalidate('bad/hello', '{"name": "x"}') AS one_rendering,
	pm_invalidate('bad/hello', NULL) AS all_of_prompt;
SELECT pm_invalidate(NULL, NULL) AS all_of_database;
SELECT pm_render('bad/hello', '{"name": "after invalidate"}');

-- pm_stats_reset: NULL forgets everything; an id never rendered, 0 rows;
-- odd ids that name no prompt have no row of their own (they count in the
-- database's one row of missing prompts, prompt_id NULL)
SELECT pm_stats_reset(NULL) >= 0 AS reset_all;
SELECT * FROM regress.bad($$SELECT pm_render('x''; DROP TABLE pm_prompts; --')$$);
SELECT * FROM regress.bad($$SELECT pm_render('')$$);
SELECT pm_stats_reset('x''; DROP TABLE pm_prompts; --') AS quoted_id,
	pm_stats_reset('') AS empty_id,
	pm_stats_reset('never/rendered') AS never_rendered,
	pm_stats_reset(repeat('z', 10000)) AS long_id_never_rendered;
SELECT prompt_id, renders FROM pm_stats
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY 1;

-- pm_frequent_prompts: NULL is no limit, a negative limit an error
SELECT pm_render('bad/marked'), pm_render('bad/marked');
SELECT prompt_id, renders FROM pm_frequent_prompts(NULL);
SELECT count(*) AS zero FROM pm_frequent_prompts(0);
SELECT * FROM regress.bad($$SELECT count(*) FROM pm_frequent_prompts(-1)$$);

DELETE FROM pm_prompts;
SELECT pm_cache_reset();
SELECT pm_stats_reset() >= 0 AS reset;
DROP FUNCTION regress.bad(text, integer);

-- pm_flush_usage's update names pg_catalog's operators: a hostile
-- search_path changes nothing (and runs no code)
CREATE SCHEMA evil_flush;
CREATE FUNCTION evil_flush.plus(bigint, bigint) RETURNS bigint LANGUAGE plpgsql
AS $$ BEGIN RAISE NOTICE 'evil + called by %', current_user; RETURN 1000000; END $$;
CREATE OPERATOR evil_flush.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil_flush.plus);
INSERT INTO pm_prompts (prompt_id, content) VALUES ('flush/a', 'a');
SELECT pm_flush_usage() >= 0 AS flushed_before;
SELECT count(pm_render('flush/a')) FROM generate_series(1, 3);
SET search_path = evil_flush, pg_catalog, public;
SELECT pm_flush_usage();
RESET search_path;
SELECT usage_count FROM pm_prompts WHERE prompt_id = 'flush/a';
SET client_min_messages = warning;
DROP SCHEMA evil_flush CASCADE;
RESET client_min_messages;

-- ids over 255 bytes (no prompt can have one) are not kept in pm_stats: so
-- nothing cut, nothing credited to another prompt
SELECT pm_stats_reset() >= 0 AS reset;
SELECT regress.err($$SELECT pm_render(repeat('é', 200))$$) LIKE '42704%' AS missing;
SELECT count(*) FROM pm_stats WHERE octet_length(prompt_id) >= 255;
INSERT INTO pm_prompts (prompt_id, content) VALUES (repeat('a', 255), 'the real one');
SELECT pm_flush_usage() >= 0 AS flushed_before;
SET prompt_manager.raise_on_missing = off;
SET client_min_messages = error;
SELECT count(pm_render(repeat('a', 300))) FROM generate_series(1, 5);
RESET client_min_messages;
RESET prompt_manager.raise_on_missing;
SELECT pm_flush_usage();
SELECT usage_count FROM pm_prompts WHERE prompt_id = repeat('a', 255);
DELETE FROM pm_prompts;
