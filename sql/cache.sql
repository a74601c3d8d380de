-- The shared render cache (this suite runs only with the library preloaded).
-- Every render below is checked against what the table says at that
-- moment; the counters show the cache really answered.
SELECT pm_cache_reset();
CREATE FUNCTION regress.counters(OUT hits bigint, OUT misses bigint, OUT inserts bigint,
	OUT entries bigint) LANGUAGE sql
AS $$ SELECT hits, misses, inserts, entries FROM pm_cache $$;
CREATE FUNCTION regress.uncached(id text, p jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	SET LOCAL prompt_manager.cache = off;
	RETURN pm_render(id, p);
END $$;

INSERT INTO pm_prompts (prompt_id, content, parameters) VALUES
	('c/root', E'Root [X]\n//include c/inc', '{"[X]": "default"}'),
	('c/inc', 'inc v1', '{}'),
	('c/deep', E'//include c/root', '{}');

-- a miss, then a hit, with the same text
SELECT pm_render('c/root');
SELECT * FROM regress.counters();
SELECT pm_render('c/root');
SELECT * FROM regress.counters();
SELECT pm_render('c/root') = regress.uncached('c/root') AS same_as_uncached;

-- the exact bytes of params are the key: 1.0 and 1.00 are equal jsonb
SELECT pm_render('c/root', '{"x": 1.0}'), pm_render('c/root', '{"x": 1.00}');
SELECT pm_render('c/root', '{"x": 1.0}'), pm_render('c/root', '{"x": 1.00}');

-- an update of the prompt, or of a prompt it includes at any depth, is seen
-- by the next render
UPDATE pm_prompts SET content = 'inc v2' WHERE prompt_id = 'c/inc';
SELECT pm_render('c/root'), pm_render('c/deep');
UPDATE pm_prompts SET content = E'Root v2 [X]\n//include c/inc' WHERE prompt_id = 'c/root';
SELECT pm_render('c/root'), pm_render('c/deep');
UPDATE pm_prompts SET parameters = '{"[X]": "new default"}' WHERE prompt_id = 'c/root';
SELECT pm_render('c/deep');

-- the updating transaction sees its own changes, each of two updates, and
-- a rolled-back savepoint takes its change away again
BEGIN;
UPDATE pm_prompts SET content = 'inc in txn 1' WHERE prompt_id = 'c/inc';
SELECT pm_render('c/root');
UPDATE pm_prompts SET content = 'inc in txn 2' WHERE prompt_id = 'c/inc';
SELECT pm_render('c/root');
SAVEPOINT s;
UPDATE pm_prompts SET content = 'inc in savepoint' WHERE prompt_id = 'c/inc';
SELECT pm_render('c/root');
ROLLBACK TO SAVEPOINT s;
SELECT pm_render('c/root');
ROLLBACK;
SELECT pm_render('c/root');

-- delete, then insert again: renders follow the table (TRUNCATE and
-- DROP/CREATE EXTENSION: see extension.sql, which runs with this cache)
DELETE FROM pm_prompts WHERE prompt_id = 'c/inc';
SELECT regress.err($$SELECT pm_render('c/root')$$);
INSERT INTO pm_prompts (prompt_id, content) VALUES ('c/inc', 'inc back');
SELECT pm_render('c/root');

-- a missing include with raise_on_missing = off is never cached (the
-- WARNING comes every time), and an include inserted later is seen
INSERT INTO pm_prompts (prompt_id, content) VALUES ('c/later', E'before\n//include c/not-yet');
SET prompt_manager.raise_on_missing = off;
SELECT pm_render('c/later');
SELECT pm_render('c/later');
INSERT INTO pm_prompts (prompt_id, content) VALUES ('c/not-yet', 'now here');
SELECT pm_render('c/later');
RESET prompt_manager.raise_on_missing;

-- output-changing settings are part of the key
INSERT INTO pm_prompts (prompt_id, content) VALUES ('c/strict', 'a [MISSING] b');
SELECT pm_render('c/strict');
SET prompt_manager.missing_parameter = empty;
SELECT pm_render('c/strict');
SET prompt_manager.missing_parameter = error;
SELECT regress.err($$SELECT pm_render('c/strict')$$);
RESET prompt_manager.missing_parameter;
SELECT pm_render('c/strict');

-- inline templates are cached too, keyed by their text
SELECT pm_cache_reset();
SELECT pm_render_template('inline [Y]', '{"y": 1}'), pm_render_template('inline [Y]', '{"y": 1}');
SELECT * FROM regress.counters();

-- prompt_manager.cache = off: neither read nor written
SET prompt_manager.cache = off;
SELECT pm_render('c/root');
SELECT * FROM regress.counters();
SELECT enabled, status FROM pm_cache;
RESET prompt_manager.cache;

-- too large to cache: rendered every time, counted as skipped
SET prompt_manager.cache_max_entry_size = '1kB';
SELECT length(pm_render_template(repeat('x', 5000)));
RESET prompt_manager.cache_max_entry_size;
SELECT skipped FROM pm_cache;

-- what is cached, and pm_invalidate: one rendering, one prompt (with what
-- includes it), or everything in this database
SELECT pm_cache_reset();
SELECT pm_render('c/inc'), pm_render('c/root'), pm_render('c/deep'),
	pm_render('c/root', '{"x": "other"}'), pm_render_template('//include c/inc');
SELECT prompt_id, version IS NOT NULL AS has_version, bytes > 0 AS has_bytes, hits
FROM pm_cache_entries ORDER BY prompt_id NULLS LAST, bytes;
SELECT pm_invalidate('c/root', '{"x": "other"}');
SELECT pm_invalidate('c/root');
SELECT prompt_id FROM pm_cache_entries ORDER BY prompt_id NULLS LAST;
SELECT pm_invalidate('c/inc');
SELECT count(*) FROM pm_cache_entries;
SELECT pm_render('c/inc'), pm_render('c/root');
SELECT pm_invalidate();
SELECT entries, invalidations FROM pm_cache;
SELECT regress.err($$SELECT pm_invalidate(NULL, '{}')$$);

-- privileges: the cache never widens what a role can read
SELECT pm_render('c/inc'), pm_render('c/root');
CREATE ROLE pm_cache_nobody;
CREATE ROLE pm_cache_reader;
GRANT USAGE ON SCHEMA regress TO pm_cache_nobody, pm_cache_reader;
GRANT SELECT ON pm_prompts TO pm_cache_reader;
SET ROLE pm_cache_nobody;
SELECT regress.err($$SELECT pm_render('c/root')$$);
-- the DBA's functions are not for everyone
SELECT regress.err($$SELECT pm_invalidate()$$);
SELECT regress.err($$SELECT pm_cache_reset()$$);
SELECT regress.err($$SELECT * FROM pm_cache_entries$$);
RESET ROLE;
-- row-level security: a role under a policy never gets its renders from the
-- cache, and sees only what its policy lets it read
ALTER TABLE pm_prompts ENABLE ROW LEVEL SECURITY;
CREATE POLICY pm_cache_only_inc ON pm_prompts FOR SELECT TO pm_cache_reader
	USING (prompt_id = 'c/inc');
SELECT hits AS hits_before FROM pm_cache \gset
SET ROLE pm_cache_reader;
SELECT pm_render('c/inc');
SELECT regress.err($$SELECT pm_render('c/root')$$);
RESET ROLE;
SELECT hits - :hits_before AS hits_for_the_reader FROM pm_cache;
DROP POLICY pm_cache_only_inc ON pm_prompts;
ALTER TABLE pm_prompts DISABLE ROW LEVEL SECURITY;
-- with SELECT and no policy, the role shares the cache
SET ROLE pm_cache_reader;
SELECT pm_render('c/root');
RESET ROLE;
SELECT hits - :hits_before AS hits_for_the_reader FROM pm_cache;
DROP OWNED BY pm_cache_nobody, pm_cache_reader;
DROP ROLE pm_cache_nobody;
DROP ROLE pm_cache_reader;

DELETE FROM pm_prompts;
