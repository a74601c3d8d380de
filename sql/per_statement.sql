-- A cache hit in a statement of its own (a new snapshot, as an application
-- rendering one prompt per statement takes) reads nothing of pm_prompts
-- when no transaction that changed the table can have committed since
-- what the session knows was learned (src/pm_writes.c).  Measured by the
-- index scans of pm_prompts' primary key, the only way rendering reads the
-- table: they do not move across such hits, and do move after a change.

-- A parallel worker never has proof (it cannot know whether its leader
-- wrote): under parallelcheck, keep the renders in this backend.
SET max_parallel_workers = 0;
-- no autovacuum ANALYZE (a relcache invalidation) in the middle
ALTER TABLE pm_prompts SET (autovacuum_enabled = off);
SELECT pm_cache_reset();
BEGIN;
INSERT INTO pm_prompts (prompt_id, content) VALUES
	('ps/root', E'Root [X]\n//include ps/leaf'),
	('ps/leaf', 'Leaf v1');
SELECT pg_current_xact_id() AS writer \gset
COMMIT;

-- Wait until no transaction older than ours runs (an autovacuum worker,
-- say), so that the next snapshot has proof (not a timed assertion: the
-- loop ends when the condition holds).
CREATE FUNCTION ps_wait_xmin_past(x xid8) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	WHILE pg_snapshot_xmin(pg_current_snapshot()) <= x LOOP
		PERFORM pg_sleep(0.01);
	END LOOP;
END $$;
-- the index scans of the primary key, flushed by the previous statement
CREATE FUNCTION ps_scans() RETURNS bigint LANGUAGE sql AS $$
	SELECT idx_scan FROM pg_stat_user_indexes
	WHERE indexrelid = 'pm_prompts_pkey'::regclass
$$;
SELECT ps_wait_xmin_past(:'writer');

-- the first render learns the revisions (and is stored in the cache)
SELECT pm_render('ps/root', '{"x": "one"}');
SELECT pg_stat_force_next_flush();
SELECT ps_scans() AS scans \gset

-- hits in statements of their own, with the cache on and off
SELECT pm_render('ps/root', '{"x": "one"}');
SELECT pm_render('ps/root', '{"x": "one"}');
SELECT pm_render('ps/leaf');
SET prompt_manager.cache = off;
SELECT pm_render('ps/root', '{"x": "two"}');
RESET prompt_manager.cache;
SELECT pg_stat_force_next_flush();
SELECT ps_scans() - :scans AS scans_across_hits;

-- a change committed: the next render reads the table again, and sees it
BEGIN;
UPDATE pm_prompts SET content = 'Leaf v2' WHERE prompt_id = 'ps/leaf';
SELECT pg_current_xact_id() AS writer \gset
COMMIT;
SELECT pg_stat_force_next_flush();
SELECT ps_scans() AS scans \gset
SELECT ps_wait_xmin_past(:'writer');
SELECT pm_render('ps/root', '{"x": "one"}');
SELECT pg_stat_force_next_flush();
SELECT ps_scans() - :scans > 0 AS read_after_change;
SELECT ps_scans() AS scans \gset
SELECT pm_render('ps/root', '{"x": "one"}');
SELECT pm_render('ps/root', '{"x": "one"}');
SELECT pg_stat_force_next_flush();
SELECT ps_scans() - :scans AS scans_across_hits;

-- our own change, not committed: seen by our statements, and gone after
-- the ROLLBACK
BEGIN;
UPDATE pm_prompts SET content = 'Leaf v3' WHERE prompt_id = 'ps/leaf';
SELECT pm_render('ps/root', '{"x": "one"}');
SELECT pm_render('ps/root', '{"x": "one"}');
ROLLBACK;
SELECT pm_render('ps/root', '{"x": "one"}');

-- without the note triggers (the state of a 0.1.0 installation): correct
-- renders, every new snapshot reads the table
ALTER TABLE pm_prompts DISABLE TRIGGER pm_prompts_note_write;
SELECT pm_render('ps/root', '{"x": "one"}');
SELECT pg_stat_force_next_flush();
SELECT ps_scans() AS scans \gset
SELECT pm_render('ps/root', '{"x": "one"}');
SELECT pm_render('ps/root', '{"x": "one"}');
SELECT pg_stat_force_next_flush();
SELECT ps_scans() - :scans > 0 AS read_every_statement;
ALTER TABLE pm_prompts ENABLE ALWAYS TRIGGER pm_prompts_note_write;

-- Renders of a label (0.2.0) reuse what was learned the same way: no
-- index scan of pm_labels or pm_prompt_versions across hits in statements
-- of their own; a label moved and committed is seen at the next render.
CREATE FUNCTION ps_ref_scans() RETURNS bigint LANGUAGE sql AS $$
	SELECT sum(idx_scan)::bigint FROM pg_stat_user_indexes
	WHERE indexrelid IN ('pm_labels_pkey'::regclass, 'pm_prompt_versions_pkey'::regclass,
						 'pm_prompts_pkey'::regclass)
$$;
BEGIN;
UPDATE pm_prompts SET content = E'Root v2 [X]\n//include ps/leaf' WHERE prompt_id = 'ps/root';
SELECT pm_set_label('ps/root', 'production', 1);
SELECT pg_current_xact_id() AS writer \gset
COMMIT;
SELECT ps_wait_xmin_past(:'writer');
SELECT pm_render('ps/root@production', '{"x": "one"}');
SELECT pg_stat_force_next_flush();
SELECT ps_ref_scans() AS scans \gset
SELECT pm_render('ps/root@production', '{"x": "one"}');
SELECT pm_render('ps/root@production', '{"x": "one"}');
SELECT pm_render('ps/root@1', '{"x": "one"}');
SELECT pg_stat_force_next_flush();
SELECT ps_ref_scans() - :scans AS scans_across_label_hits;
BEGIN;
SELECT pm_set_label('ps/root', 'production');
SELECT pg_current_xact_id() AS writer \gset
COMMIT;
SELECT ps_wait_xmin_past(:'writer');
SELECT pm_render('ps/root@production', '{"x": "one"}');

-- without the note triggers of pm_labels: correct, and read every time
ALTER TABLE pm_labels DISABLE TRIGGER pm_labels_note_write;
SELECT pm_render('ps/root@production', '{"x": "one"}');
SELECT pg_stat_force_next_flush();
SELECT ps_ref_scans() AS scans \gset
SELECT pm_render('ps/root@production', '{"x": "one"}');
SELECT pm_render('ps/root@production', '{"x": "one"}');
SELECT pg_stat_force_next_flush();
SELECT ps_ref_scans() - :scans > 0 AS read_every_statement;
ALTER TABLE pm_labels ENABLE ALWAYS TRIGGER pm_labels_note_write;

-- ids and references of 21 to 27 bytes, each a prefix of the next,
-- around the 24 bytes up to which the memo keeps a name in its entry:
-- each is answered as itself, in one snapshot and across snapshots
INSERT INTO pm_prompts (prompt_id, content)
	SELECT 'ps/n-' || repeat('x', n - 5), 'length ' || n FROM generate_series(21, 25) n;
SELECT n, pm_render('ps/n-' || repeat('x', n - 5)) AS head,
	pm_render('ps/n-' || repeat('x', n - 5) || '@1') AS version_1
	FROM generate_series(21, 25) n, generate_series(1, 2) r ORDER BY n, r;
UPDATE pm_prompts SET content = 'length 24, changed' WHERE prompt_id = 'ps/n-' || repeat('x', 19);
SELECT n, pm_render('ps/n-' || repeat('x', n - 5)) AS head,
	pm_render('ps/n-' || repeat('x', n - 5) || '@1') AS version_1
	FROM generate_series(21, 25) n, generate_series(1, 2) r ORDER BY n, r;

DROP FUNCTION ps_wait_xmin_past(xid8);
DROP FUNCTION ps_scans();
DROP FUNCTION ps_ref_scans();
DELETE FROM pm_labels WHERE prompt_id LIKE 'ps/%';
DELETE FROM pm_prompts WHERE prompt_id LIKE 'ps/%';
ALTER TABLE pm_prompts RESET (autovacuum_enabled);
RESET max_parallel_workers;
