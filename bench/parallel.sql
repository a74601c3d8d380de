-- bench/parallel.sql: one round of the parallel measure of bench/run:
-- every row of bench_users rendered with its own data, on 0 workers (the
-- leader alone) and on 1 worker (with the leader: two processes), with the
-- cache on (every row a miss, stored) and off.  The costs are set so that
-- the planner takes the parallel plan whenever a worker is allowed.
-- Prints "variant microseconds-for-all-rows".
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
\set q 'SELECT count(pm_render(''bench/welcome'', to_jsonb(u))) FROM bench_users u'
SET prompt_manager.cache = on;
SET max_parallel_workers_per_gather = 0;
SELECT 'PAR0', bench_time(:'q');
SET max_parallel_workers_per_gather = 1;
SELECT 'PAR1', bench_time(:'q');
SET prompt_manager.cache = off;
SET max_parallel_workers_per_gather = 0;
SELECT 'PAR0NC', bench_time(:'q');
SET max_parallel_workers_per_gather = 1;
SELECT 'PAR1NC', bench_time(:'q');
