-- The prompt table: columns, constraints, revision trigger, indexes, dump marks.
\d pm_prompts

-- ids: letters, digits, '_', '-', '/', not starting with '/'
INSERT INTO pm_prompts (prompt_id, content) VALUES
	('simple', 'x'), ('with-dash_and_underscore', 'x'), ('team/support/reply', 'x'),
	('0digits', 'x'), ('-dash-first', 'x'), ('_under', 'x');
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content) VALUES ('/rooted', 'x')$$);
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content) VALUES ('has space', 'x')$$);
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content) VALUES ('quote''s', 'x')$$);
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content) VALUES ('semi;colon', 'x')$$);
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content) VALUES ('', 'x')$$);
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content) VALUES ('dot.ted', 'x')$$);
-- at most 255 characters
INSERT INTO pm_prompts (prompt_id, content) VALUES (repeat('a', 255), 'x');
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content) VALUES (repeat('a', 256), 'x')$$);
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content) VALUES ('no_content', NULL)$$);
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content, parameters) VALUES ('arr', 'x', '[]')$$);
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content, metadata) VALUES ('arr', 'x', '"s"')$$);
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content) VALUES ('simple', 'again')$$);

-- defaults
SELECT prompt_id, parameters, metadata, category, status, preload, usage_count,
	revision IS NOT NULL AS has_revision, created_at = updated_at AS same_times
FROM pm_prompts WHERE prompt_id = 'simple';

-- every insert and update takes a new revision, even twice in one transaction
CREATE TEMP TABLE revs (step text, revision bigint);
INSERT INTO revs SELECT 'insert', revision FROM pm_prompts WHERE prompt_id = 'simple';
BEGIN;
UPDATE pm_prompts SET content = 'y' WHERE prompt_id = 'simple';
INSERT INTO revs SELECT 'update 1', revision FROM pm_prompts WHERE prompt_id = 'simple';
UPDATE pm_prompts SET content = 'z' WHERE prompt_id = 'simple';
INSERT INTO revs SELECT 'update 2', revision FROM pm_prompts WHERE prompt_id = 'simple';
COMMIT;
SELECT count(DISTINCT revision) AS distinct_revisions,
	bool_and(revision > 0) AS positive,
	(SELECT array_agg(step ORDER BY revision) FROM revs) AS in_order
FROM revs;
-- a revision given by hand is replaced
UPDATE pm_prompts SET revision = 1 WHERE prompt_id = 'simple';
SELECT revision > (SELECT max(revision) FROM revs) AS replaced FROM pm_prompts WHERE prompt_id = 'simple';

-- the revision is taken even with session_replication_role = replica
SELECT revision AS rev_before FROM pm_prompts WHERE prompt_id = 'simple' \gset
SET session_replication_role = replica;
UPDATE pm_prompts SET content = 'replica' WHERE prompt_id = 'simple';
RESET session_replication_role;
SELECT revision > :rev_before AS new_revision FROM pm_prompts WHERE prompt_id = 'simple';

-- an update sets updated_at; an insert keeps the times it is given
INSERT INTO pm_prompts (prompt_id, content, created_at, updated_at)
VALUES ('dated', 'x', '2020-01-02 03:04:05+00', '2021-01-02 03:04:05+00');
SELECT created_at, updated_at FROM pm_prompts WHERE prompt_id = 'dated';
UPDATE pm_prompts SET content = 'y' WHERE prompt_id = 'dated';
SELECT created_at = '2020-01-02 03:04:05+00' AS created_kept,
	updated_at > '2021-01-02 03:04:05+00' AS updated_now
FROM pm_prompts WHERE prompt_id = 'dated';

-- the indexes a deployment needs
SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'pm_prompts' ORDER BY indexname;

-- pg_dump keeps the table's rows and the revision sequence
SELECT unnest(extconfig)::regclass AS dumped, unnest(extcondition) AS condition
FROM pg_extension WHERE extname = 'prompt_manager';

DELETE FROM pm_prompts;
