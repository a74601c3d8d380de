-- One round of bench/flush_usage.sql (included three times by it).
SELECT misses AS m0 FROM pm_cache \gset
\echo 1000 cached renders, the flush, the same renders after it, their misses:
\timing on
SELECT count(pm_render(id, '{"name": "Ann"}')) AS cached FROM flush_ids;
SELECT pm_flush_usage() > 0 AS flushed;
SELECT count(pm_render(id, '{"name": "Ann"}')) AS after_flush FROM flush_ids;
\timing off
SELECT misses - :m0 AS misses FROM pm_cache;
