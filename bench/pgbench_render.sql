-- bench/pgbench_render.sql: one transaction renders 100 cached prompts.
\set id random(0, 999)
SELECT sum(octet_length(pm_render('bench/' || ((:id + g) % 1000), '{"role": "a helpful assistant", "question": "the question", "language": "English", "audience": "developers"}'::jsonb))) FROM generate_series(1, 100) g;
