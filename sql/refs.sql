-- References to versions and labels, the render side: "id" (the head),
-- "id@3" (version 3), "id@production" (the version the label points to),
-- wherever a prompt is named; the include rule of a render of a label;
-- pm_resolve, pm_publish and pm_render_as_of.  Labels are set by writing
-- pm_labels directly.
INSERT INTO pm_prompts (prompt_id, content, parameters) VALUES
	('refs/root', E'root v1 [X]\n//include refs/mid', '{"[X]": "x1"}'),
	('refs/mid', E'mid v1\n//include refs/leaf', '{}'),
	('refs/leaf', 'leaf v1', '{}');
UPDATE pm_prompts SET content = E'root v2 [X]\n//include refs/mid', parameters = '{"[X]": "x2"}'
	WHERE prompt_id = 'refs/root';
UPDATE pm_prompts SET content = E'mid v2\n//include refs/leaf' WHERE prompt_id = 'refs/mid';
UPDATE pm_prompts SET content = 'leaf v2' WHERE prompt_id = 'refs/leaf';
UPDATE pm_prompts SET content = 'leaf v3' WHERE prompt_id = 'refs/leaf';
SELECT prompt_id, version, replace(content, E'\n', ' / ') AS content
FROM pm_prompt_versions WHERE prompt_id LIKE 'refs/%' ORDER BY 1, 2;

-- every form: the head, a version (its stored parameters too), a label
SELECT to_json(pm_render('refs/root'));
SELECT to_json(pm_render('refs/root@1'));
SELECT to_json(pm_render('refs/root@2'));
INSERT INTO pm_labels (prompt_id, label, version) VALUES ('refs/root', 'production', 1);
SELECT to_json(pm_render('refs/root@production'));
-- twice: the second may come from the cache, and is the same
SELECT to_json(pm_render('refs/root@production'));

-- the include rule in a render of a label: an include without "@" is the
-- same label of the included prompt when it has it (refs/mid@production
-- is version 1, which includes refs/leaf: its label, version 2), else its
-- head (refs/leaf before it had the label)
SELECT to_json(pm_render('refs/root@production'));
INSERT INTO pm_labels (prompt_id, label, version) VALUES ('refs/mid', 'production', 1);
SELECT to_json(pm_render('refs/root@production'));
INSERT INTO pm_labels (prompt_id, label, version) VALUES ('refs/leaf', 'production', 2);
SELECT to_json(pm_render('refs/root@production'));
-- a label move is seen at once, by the cache too
UPDATE pm_labels SET version = 3 WHERE prompt_id = 'refs/leaf' AND label = 'production';
SELECT to_json(pm_render('refs/root@production'));
-- and a rolled-back move never
BEGIN;
UPDATE pm_labels SET version = 1 WHERE prompt_id = 'refs/leaf' AND label = 'production';
SELECT to_json(pm_render('refs/root@production'));
ROLLBACK;
SELECT to_json(pm_render('refs/root@production'));
BEGIN;
SAVEPOINT s;
UPDATE pm_labels SET version = 1 WHERE prompt_id = 'refs/leaf' AND label = 'production';
SELECT to_json(pm_render('refs/root@production'));
ROLLBACK TO SAVEPOINT s;
SELECT to_json(pm_render('refs/root@production'));
COMMIT;
-- an edit of a head changes no label render...
UPDATE pm_prompts SET content = 'leaf v4' WHERE prompt_id = 'refs/leaf';
SELECT to_json(pm_render('refs/root@production'));
-- ...but a label render still reads the head of an include without the label
DELETE FROM pm_labels WHERE prompt_id = 'refs/leaf';
SELECT to_json(pm_render('refs/root@production'));
-- in a render of a head or of a version, includes without "@" are heads
SELECT to_json(pm_render('refs/root'));
SELECT to_json(pm_render('refs/mid@1'));

-- includes written with "@" resolve as written, in any render
INSERT INTO pm_prompts (prompt_id, content) VALUES
	('refs/pin', E'pin\n//include refs/leaf@1\n//include refs/mid@production'),
	('refs/pinlabel', E'pinlabel\n//include refs/leaf@staging');
SELECT to_json(pm_render('refs/pin'));
INSERT INTO pm_labels (prompt_id, label, version) VALUES ('refs/pin', 'production', 1);
SELECT to_json(pm_render('refs/pin@production'));
SELECT regress.err($$SELECT pm_render('refs/pinlabel')$$);
INSERT INTO pm_labels (prompt_id, label, version) VALUES ('refs/leaf', 'staging', 2);
SELECT to_json(pm_render('refs/pinlabel'));
-- an include of another label, in a render of a label: as written
INSERT INTO pm_labels (prompt_id, label, version) VALUES ('refs/pinlabel', 'production', 1);
SELECT to_json(pm_render('refs/pinlabel@production'));

-- bad references.  A label the prompt does not have is PM007 (a prompt
-- that exists may simply not be published yet: callers can tell the two
-- apart); a version that does not exist is 42704, as a missing prompt
SELECT regress.err($$SELECT pm_render('refs/root@nolabel')$$);
SELECT regress.err($$SELECT pm_render('refs/nowhere@production')$$);
SELECT regress.err($$SELECT pm_render('refs/root@99')$$);
SELECT regress.err($$SELECT pm_render('refs/root@0')$$);
SELECT regress.err($$SELECT pm_render('refs/root@2147483648')$$);
SELECT regress.err($$SELECT pm_render('refs/root@Production')$$);
SELECT regress.err($$SELECT pm_render('refs/root@3a')$$);
SELECT regress.err($$SELECT pm_render('refs/root@')$$);
SELECT regress.err($$SELECT pm_render('@production')$$);
SELECT regress.err($$SELECT pm_render('refs/root@a@b')$$);
SELECT regress.err($$SELECT pm_render('refs/root@' || repeat('a', 64))$$);
-- in an include: the including prompt's error (PM005), with where
INSERT INTO pm_prompts (prompt_id, content) VALUES
	('refs/badinc', E'x\n//include refs/leaf@01x'),
	('refs/numinc', E'x\n//include refs/leaf@2024'),
	('refs/nolabelinc', E'x\n//include refs/leaf@gone');
SELECT regress.err($$SELECT pm_render('refs/badinc')$$);
-- a label that looks like a number is a version number
SELECT regress.err($$SELECT pm_render('refs/numinc')$$);
SELECT regress.err($$SELECT pm_render('refs/nolabelinc')$$);
-- an include of a pruned version (deleted as the owner, to simulate)
INSERT INTO pm_prompts (prompt_id, content) VALUES ('refs/pruned', 'pruned v1'),
	('refs/oldinc', E'old\n//include refs/pruned@1');
UPDATE pm_prompts SET content = 'pruned v2' WHERE prompt_id = 'refs/pruned';
SELECT to_json(pm_render('refs/oldinc'));
DELETE FROM pm_prompt_versions WHERE prompt_id = 'refs/pruned' AND version = 1;
SELECT regress.err($$SELECT pm_render('refs/oldinc')$$);
-- a label whose version is gone (its foreign key dropped, to simulate)
ALTER TABLE pm_labels DROP CONSTRAINT pm_labels_version_fkey;
INSERT INTO pm_labels (prompt_id, label, version) VALUES ('refs/leaf', 'gone', 1);
SELECT regress.err($$SELECT pm_render('refs/nolabelinc')$$);
DELETE FROM pm_labels WHERE label = 'gone';
ALTER TABLE pm_labels ADD CONSTRAINT pm_labels_version_fkey FOREIGN KEY (prompt_id, version)
	REFERENCES pm_prompt_versions (prompt_id, version);
-- with raise_on_missing off, a WARNING and the fallback text, as for a prompt
SET prompt_manager.raise_on_missing = off;
SELECT pm_render('refs/root@nolabel');
SELECT to_json(pm_render('refs/nolabelinc'));
RESET prompt_manager.raise_on_missing;

-- cycles and depth are counted on versions, not on how they are named:
-- a head may include an older version of itself, and that one its own
-- older version; the same version twice is a cycle
INSERT INTO pm_prompts (prompt_id, content) VALUES ('refs/self', 'self v1');
UPDATE pm_prompts SET content = E'self v2\n//include refs/self@1' WHERE prompt_id = 'refs/self';
UPDATE pm_prompts SET content = E'self v3\n//include refs/self@2' WHERE prompt_id = 'refs/self';
SELECT to_json(pm_render('refs/self'));
UPDATE pm_prompts SET content = E'self v4\n//include refs/self@4' WHERE prompt_id = 'refs/self';
SELECT regress.err($$SELECT pm_render('refs/self')$$);
-- a label resolved to the version being rendered: a cycle
INSERT INTO pm_prompts (prompt_id, content) VALUES ('refs/loop', E'loop\n//include refs/loop');
INSERT INTO pm_labels (prompt_id, label, version) VALUES ('refs/loop', 'production', 1);
SELECT regress.err($$SELECT pm_render('refs/loop@production')$$);
SELECT regress.err($$SELECT pm_render('refs/loop@1')$$);
SET prompt_manager.max_include_depth = 1;
SELECT regress.err($$SELECT pm_render('refs/self@3')$$);
RESET prompt_manager.max_include_depth;

-- pm_keywords, pm_render_lines, pm_bulk_render take references too
UPDATE pm_prompts SET content = 'leaf v5 [Y]' WHERE prompt_id = 'refs/leaf';
INSERT INTO pm_labels (prompt_id, label, version) VALUES ('refs/leaf', 'production', 5);
SELECT pm_keywords('refs/root@production'), pm_keywords('refs/root@1'), pm_keywords('refs/leaf');
SELECT regress.err($$SELECT pm_keywords('refs/root@nolabel')$$);
SELECT * FROM pm_render_lines('refs/root@production', '{"y": "why"}');
SELECT ord, prompt_id, ok, replace(result, E'\n', ' / ') AS result, error, sqlstate
FROM pm_bulk_render('[{"prompt_id": "refs/root@production"}, {"prompt_id": "refs/root@1"},
	{"prompt_id": "refs/root"}, {"prompt_id": "refs/root@nolabel"}, {"prompt_id": "refs/root@x y"},
	{"prompt_id": "refs/root@production", "parameters": {"y": "bulk"}}]');

-- pm_resolve: the versions a render reads, root first; for a head, the
-- version holding its current text
SELECT * FROM pm_resolve('refs/root@production');
SELECT * FROM pm_resolve('refs/root');
SELECT * FROM pm_resolve('refs/pin');
-- an include met twice is listed once per including prompt
INSERT INTO pm_prompts (prompt_id, content) VALUES
	('refs/twice', E'//include refs/leaf\n//include refs/mid\n//include refs/leaf');
SELECT * FROM pm_resolve('refs/twice');
-- an include chosen by a keyword: with the params of the render
INSERT INTO pm_prompts (prompt_id, content, parameters) VALUES
	('refs/pick', E'pick\n//include refs/[WHICH]', '{"[WHICH]": "leaf"}');
SELECT * FROM pm_resolve('refs/pick');
SELECT * FROM pm_resolve('refs/pick', '{"which": "mid@1"}');
SELECT regress.err($$SELECT * FROM pm_resolve('refs/nowhere')$$);
SELECT regress.err($$SELECT * FROM pm_resolve('refs/root@nolabel')$$);
SELECT count(*) FROM pm_resolve(NULL);

-- pm_publish: the label on the head's version of the prompt and of every
-- head it includes, in one go; the count of labels moved
UPDATE pm_prompts SET content = E'mid v3\n//include refs/leaf' WHERE prompt_id = 'refs/mid';
SELECT pm_publish('refs/root', 'production');
SELECT prompt_id, label, version FROM pm_labels
WHERE prompt_id IN ('refs/root', 'refs/mid', 'refs/leaf') AND label = 'production' ORDER BY 1;
SELECT pm_publish('refs/root', 'production');
SELECT to_json(pm_render('refs/root@production', '{"y": "y"}')) AS published;
-- afterwards, an edit of any head changes nothing the label renders
UPDATE pm_prompts SET content = 'root v9 [X]' WHERE prompt_id = 'refs/root';
UPDATE pm_prompts SET content = 'mid v9' WHERE prompt_id = 'refs/mid';
UPDATE pm_prompts SET content = 'leaf v9' WHERE prompt_id = 'refs/leaf';
SELECT to_json(pm_render('refs/root@production', '{"y": "y"}')) AS after_edits;
-- includes written with "@" are not relabelled; the heads below them are
SELECT pm_publish('refs/pin', 'staging');
SELECT prompt_id, label, version FROM pm_labels WHERE label = 'staging' ORDER BY 1;
SELECT regress.err($$SELECT pm_publish('refs/root@1', 'production')$$);
SELECT regress.err($$SELECT pm_publish('refs/root', 'Production')$$);
SELECT regress.err($$SELECT pm_publish('refs/nowhere', 'production')$$);
SELECT regress.err($$SELECT pm_publish('refs/root', NULL)$$);
-- in one transaction: a publish that fails halfway moves nothing
INSERT INTO pm_prompts (prompt_id, content) VALUES ('refs/half', E'half\n//include refs/leaf\n//include refs/missing');
SELECT regress.err($$SELECT pm_publish('refs/half', 'canary')$$);
SELECT count(*) FROM pm_labels WHERE label = 'canary';

-- pm_render_as_of: the label as its history says, the head as its newest
-- version then.  Times are taken between the steps (the history is
-- written here when no trigger on pm_labels did it)
CREATE TABLE refs_t (name text PRIMARY KEY, at timestamptz);
CREATE FUNCTION refs_mark(n text) RETURNS void LANGUAGE sql
AS $$ INSERT INTO refs_t VALUES (n, clock_timestamp()) $$;
CREATE FUNCTION refs_move(p text, l text, v int) RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
	INSERT INTO pm_labels AS x (prompt_id, label, version) VALUES (p, l, v)
	ON CONFLICT (prompt_id, label) DO UPDATE SET version = EXCLUDED.version;
	IF NOT EXISTS (SELECT FROM pm_label_history h WHERE h.prompt_id = p AND h.label = l
			AND h.to_version = v AND h.txid = pg_current_xact_id()) THEN
		INSERT INTO pm_label_history (prompt_id, label, to_version) VALUES (p, l, v);
	END IF;
END $$;
INSERT INTO pm_prompts (prompt_id, content) VALUES ('refs/tt', E'tt v1\n//include refs/ttinc'),
	('refs/ttinc', 'ttinc v1');
SELECT refs_mark('t1');
SELECT refs_move('refs/tt', 'production', 1);
SELECT refs_mark('t2');
UPDATE pm_prompts SET content = E'tt v2\n//include refs/ttinc' WHERE prompt_id = 'refs/tt';
UPDATE pm_prompts SET content = 'ttinc v2' WHERE prompt_id = 'refs/ttinc';
SELECT refs_mark('t3');
SELECT refs_move('refs/tt', 'production', 2);
SELECT refs_move('refs/ttinc', 'production', 1);
SELECT refs_mark('t4');
SELECT name, to_json(pm_render_as_of('refs/tt', NULL, at)) AS head,
	to_json(pm_render_as_of('refs/tt@1', NULL, at)) AS v1
FROM refs_t ORDER BY name;
SELECT name, to_json(pm_render_as_of('refs/tt@production', NULL, at)) AS production
FROM refs_t WHERE name <> 't1' ORDER BY name;
SELECT regexp_replace(regress.err(format('SELECT pm_render_as_of(%L, NULL, %L)', 'refs/tt@production', at)),
	'at .*', 'at (t1)') FROM refs_t WHERE name = 't1';
SELECT regexp_replace(regress.err($$SELECT pm_render_as_of('refs/tt', NULL, '2000-01-01')$$), ' at .*', ' at (2000)');
SELECT pm_render_as_of(NULL, NULL, now()) IS NULL, pm_render_as_of('refs/tt', NULL, NULL) IS NULL;

-- the error handler is called with the reference as it was given
CREATE FUNCTION refs_handler(prompt_id text, sqlstate text, message text) RETURNS text
LANGUAGE sql PARALLEL SAFE AS $$ SELECT format('handled %s %s: %s', prompt_id, sqlstate, message) $$;
SET prompt_manager.error_handler = 'refs_handler';
SELECT pm_render('refs/root@nolabel');
SELECT pm_render('refs/root@99');
SELECT pm_render('refs/badinc');
-- a bad argument is not the prompt's failure: raised
SELECT regress.err($$SELECT pm_render('refs/root@0')$$);
RESET prompt_manager.error_handler;

-- row-level security on pm_labels and pm_prompt_versions is honoured: a
-- role under a policy reads them through the executor
CREATE ROLE refs_reader;
GRANT SELECT ON pm_prompts, pm_prompt_versions, pm_labels TO refs_reader;
GRANT USAGE ON SCHEMA regress TO refs_reader;
ALTER TABLE pm_labels ENABLE ROW LEVEL SECURITY;
CREATE POLICY refs_no_staging ON pm_labels FOR SELECT TO refs_reader USING (label <> 'staging');
ALTER TABLE pm_prompt_versions ENABLE ROW LEVEL SECURITY;
CREATE POLICY refs_no_v1 ON pm_prompt_versions FOR SELECT TO refs_reader
	USING (NOT (prompt_id = 'refs/root' AND version = 1));
SELECT to_json(pm_render('refs/pinlabel')) AS superuser_sees_staging;
SELECT to_json(pm_render('refs/root@1')) AS superuser_sees_v1;
SET ROLE refs_reader;
SELECT regress.err($$SELECT pm_render('refs/pinlabel')$$);
SELECT regress.err($$SELECT pm_render('refs/root@1')$$);
SELECT to_json(pm_render('refs/root@production', '{"y": "y"}'));
SELECT * FROM pm_resolve('refs/root@production');
RESET ROLE;
-- without SELECT on pm_labels: refused as a query would be
REVOKE SELECT ON pm_labels FROM refs_reader;
SET ROLE refs_reader;
SELECT regress.err($$SELECT pm_render('refs/root@production')$$);
SELECT to_json(pm_render('refs/leaf')) AS heads_still_render;
RESET ROLE;
DROP POLICY refs_no_staging ON pm_labels;
DROP POLICY refs_no_v1 ON pm_prompt_versions;
ALTER TABLE pm_labels DISABLE ROW LEVEL SECURITY;
ALTER TABLE pm_prompt_versions DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON pm_prompts, pm_prompt_versions FROM refs_reader;
REVOKE ALL ON SCHEMA regress FROM refs_reader;
DROP ROLE refs_reader;

DROP TABLE refs_t;
DROP FUNCTION refs_mark(text);
DROP FUNCTION refs_move(text, text, int);
DROP FUNCTION refs_handler(text, text, text);
DELETE FROM pm_labels;
DELETE FROM pm_prompts;
-- leave no versions, labels or history behind (TRUNCATE: the owner's way)
TRUNCATE pm_labels, pm_label_history, pm_prompt_versions RESTART IDENTITY;
