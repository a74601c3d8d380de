-- bench/round.sql: one round of every variant; N calls each (psql -v N=...).
-- Prints "variant microseconds-for-all-calls".
\set params '''{"role": "a helpful assistant", "question": "the question", "language": "English", "audience": "developers"}'''
SET prompt_manager.cache = on;
-- warm: every prompt rendered twice, so A measures hits (a full cache, as
-- it is from the second round on, stores a rendering at its second miss)
SELECT bench_time($$SELECT sum(octet_length(pm_render('bench/' || g, $$ || :'params' || $$::jsonb))) FROM generate_series(0, 999) g, generate_series(1, 2) twice$$) IS NOT NULL AS warm \gset
-- A (pm_render, served by the shared cache) and A0 (the same with
-- prompt_manager.track off: what statistics cost a cached render), ten
-- times each, in the order A A0 A0 A, five times over (bench/setup.sql)
SELECT * FROM bench_time_tracked($$SELECT sum(octet_length(pm_render('bench/' || (g % 1000), $$ || :'params' || $$::jsonb))) FROM generate_series(1, $$ || :N || $$) g$$, 5);
-- AL (pm_render of 'bench/<n>@production', served by the shared cache)
-- against AH (the same calls of 'bench/<n>'), side by side (bench/setup.sql)
SELECT bench_time($$SELECT sum(octet_length(pm_render('bench/' || g || '@production', $$ || :'params' || $$::jsonb))) FROM generate_series(0, 999) g, generate_series(1, 2) twice$$) IS NOT NULL AS warm_labels \gset
SELECT * FROM bench_time_labels($$SELECT sum(octet_length(pm_render('bench/' || (g % 1000), $$ || :'params' || $$::jsonb))) FROM generate_series(1, $$ || :N || $$) g$$,
	$$SELECT sum(octet_length(pm_render('bench/' || (g % 1000) || '@production', $$ || :'params' || $$::jsonb))) FROM generate_series(1, $$ || :N || $$) g$$, 2);
-- the same N requests in one pm_bulk_render call: in FROM (inlined by the
-- planner, its rows streamed out of a ProjectSet) and in a SELECT list
-- (where its support function calls the C function directly).
-- The first two calls of a session also pay for the page faults of 40 MB
-- of new memory (the detoasted 30 MB requests array and the list of
-- requests): glibc maps the first such block on its own, and places the
-- second in a heap that it has to grow and then keeps.  BULKCOLD times the
-- first call; the second is untimed, as A's renders are warmed first.
SELECT 'BULKCOLD', bench_time($$SELECT sum(octet_length(b.result)) FROM bench_bulk, pm_bulk_render(bench_bulk.requests) b$$);
SELECT bench_time($$SELECT sum(octet_length(b.result)) FROM bench_bulk, pm_bulk_render(bench_bulk.requests) b$$) IS NOT NULL AS warm_bulk \gset
SELECT 'BULK', bench_time($$SELECT sum(octet_length(b.result)) FROM bench_bulk, pm_bulk_render(bench_bulk.requests) b$$);
SELECT 'BULKSL', bench_time($$SELECT sum(octet_length((b).result)) FROM (SELECT pm_bulk_render(requests) AS b FROM bench_bulk) s$$);
-- searches over 100,000 prompts, 100 calls each
SELECT 'SRCH_TEXT', bench_time($$SELECT count(*) FROM generate_series(1, 100) g, pm_search('zebra escalation')$$);
SELECT 'SRCH_META', bench_time($$SELECT count(*) FROM generate_series(1, 100) g, pm_search(metadata => '{"owner": "zebra-desk"}')$$);
SELECT 'F', bench_time($$SELECT sum(octet_length(pm_render('bench/' || (g % 1000), jsonb_build_object('role', g, 'question', 'q', 'language', 'English', 'audience', 'developers')))) FROM generate_series(1, $$ || :N || $$) g$$);
SET prompt_manager.cache = off;
SELECT 'B', bench_time($$SELECT sum(octet_length(pm_render('bench/' || (g % 1000), $$ || :'params' || $$::jsonb))) FROM generate_series(1, $$ || :N || $$) g$$);
SELECT 'G', bench_time($$SELECT sum(octet_length(pm_render('bench/' || (g % 1000), jsonb_build_object('role', g, 'question', 'q', 'language', 'English', 'audience', 'developers')))) FROM generate_series(1, $$ || :N || $$) g$$);
SET prompt_manager.cache = on;
SELECT 'C', bench_time($$SELECT sum(octet_length(bench_plpgsql_render('bench/' || (g % 1000), $$ || :'params' || $$::jsonb))) FROM generate_series(1, $$ || :N || $$) g$$);
SELECT 'D', bench_time($$SELECT sum(octet_length((SELECT content FROM pm_prompts WHERE prompt_id = 'bench/' || (g % 1000)))) FROM generate_series(1, $$ || :N || $$) g$$);
SELECT 'E', bench_time($$SELECT sum(octet_length(c.t || g::text)) FROM generate_series(1, $$ || :N || $$) g, (SELECT repeat('x', 1000) AS t) c$$);
-- linearity (uncached: the renderer itself), 20 renders each
SET prompt_manager.cache = off;
SELECT 'S1', bench_time($$SELECT sum(octet_length(pm_render('size/1mb', '{"a": "x"}'))) FROM generate_series(1, 20)$$);
SELECT 'S10', bench_time($$SELECT sum(octet_length(pm_render('size/10mb', '{"a": "x"}'))) FROM generate_series(1, 20)$$);
SELECT 'K100', bench_time($$SELECT sum(octet_length(pm_render('keywords/100', p))) FROM generate_series(1, 20), (SELECT jsonb_object_agg('k' || translate(g::text, '0123456789', 'ABCDEFGHIJ'), 'v') AS p FROM generate_series(1, 100) g) s$$);
SELECT 'K1000', bench_time($$SELECT sum(octet_length(pm_render('keywords/1000', p))) FROM generate_series(1, 20), (SELECT jsonb_object_agg('k' || translate(g::text, '0123456789', 'ABCDEFGHIJ'), 'v') AS p FROM generate_series(1, 1000) g) s$$);
SELECT 'K10000', bench_time($$SELECT sum(octet_length(pm_render('keywords/10000', p))) FROM generate_series(1, 20), (SELECT jsonb_object_agg('k' || translate(g::text, '0123456789', 'ABCDEFGHIJ'), 'v') AS p FROM generate_series(1, 10000) g) s$$);
SET prompt_manager.cache = on;
