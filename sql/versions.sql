-- Versions, labels, history and protected labels: the data layer
-- (docs/versions.md).  Roles: a reader, an editor, a publisher and a
-- member of the role that protects "production", with the GRANTs that
-- docs/security.md gives them.
CREATE ROLE ver_reader;
CREATE ROLE ver_editor;
CREATE ROLE ver_publisher;
CREATE ROLE ver_releaser;
CREATE ROLE ver_release_managers;
GRANT ver_release_managers TO ver_releaser;
GRANT USAGE ON SCHEMA regress TO ver_reader, ver_editor, ver_publisher, ver_releaser;
GRANT SELECT ON pm_prompts, pm_prompt_versions, pm_labels, pm_label_history
	TO ver_reader, ver_editor, ver_publisher, ver_releaser;
GRANT INSERT, UPDATE, DELETE ON pm_prompts TO ver_editor;
GRANT USAGE ON SEQUENCE pm_prompts_revision_seq TO ver_editor;
GRANT INSERT, UPDATE, DELETE ON pm_labels TO ver_publisher, ver_releaser;

-- versions: every insert, and every update of content or parameters, byte
-- for byte, adds the next version, created by the editor
SET ROLE ver_editor;
INSERT INTO pm_prompts (prompt_id, content) VALUES ('v/a', 'one [X]');
UPDATE pm_prompts SET content = 'two [X]' WHERE prompt_id = 'v/a';
UPDATE pm_prompts SET status = 'archived', metadata = '{"k": 1}' WHERE prompt_id = 'v/a';
UPDATE pm_prompts SET parameters = '{"[X]": 1.0}' WHERE prompt_id = 'v/a';
UPDATE pm_prompts SET parameters = '{"[X]": 1.00}' WHERE prompt_id = 'v/a';
UPDATE pm_prompts SET parameters = '{"[X]": 1.00}' WHERE prompt_id = 'v/a';
UPDATE pm_prompts SET content = 'one [X]', parameters = '{}' WHERE prompt_id = 'v/a';
SELECT version, content, parameters::text, created_by FROM pm_prompt_versions
WHERE prompt_id = 'v/a' ORDER BY version;
-- the newest version has the head's revision
SELECT v.version FROM pm_prompt_versions v JOIN pm_prompts p USING (prompt_id, revision)
WHERE prompt_id = 'v/a';
-- nobody may write versions directly
SELECT regress.err($$INSERT INTO pm_prompt_versions (prompt_id, version, content, parameters, revision)
	VALUES ('v/a', 9, 'forged', '{}', 1)$$);
-- deleting the head keeps its versions; inserting it again with its last
-- text adds none and gives back that version's revision; another text
-- goes on with the next number
DELETE FROM pm_prompts WHERE prompt_id = 'v/a';
INSERT INTO pm_prompts (prompt_id, content) VALUES ('v/a', 'one [X]');
SELECT count(*) AS versions FROM pm_prompt_versions WHERE prompt_id = 'v/a';
SELECT v.version FROM pm_prompt_versions v JOIN pm_prompts p USING (prompt_id, revision)
WHERE prompt_id = 'v/a';
UPDATE pm_prompts SET content = 'six [X]' WHERE prompt_id = 'v/a';
INSERT INTO pm_prompts (prompt_id, content) VALUES ('v/b', 'b one'), ('v/c', 'c one');
UPDATE pm_prompts SET content = 'b two' WHERE prompt_id = 'v/b';
RESET ROLE;
SELECT prompt_id, version, content FROM pm_prompt_versions
WHERE prompt_id LIKE 'v/%' ORDER BY 1, 2;

-- versions are immutable, even for the owner; the newest is never deleted
SELECT regress.err($$UPDATE pm_prompt_versions SET content = 'x' WHERE prompt_id = 'v/a' AND version = 1$$);
SELECT regress.err($$DELETE FROM pm_prompt_versions WHERE prompt_id = 'v/c'$$);
SELECT regress.err($$DELETE FROM pm_prompt_versions WHERE prompt_id = 'v/a'$$);
SELECT count(*) AS versions FROM pm_prompt_versions WHERE prompt_id = 'v/a';
-- and under session_replication_role = replica
SET session_replication_role = replica;
SELECT regress.err($$UPDATE pm_prompt_versions SET content = 'x' WHERE prompt_id = 'v/a' AND version = 1$$);
RESET session_replication_role;

-- pm_set_label: NULL version is the head's; returns the version
SET ROLE ver_publisher;
SELECT pm_set_label('v/a', 'staging');
SELECT pm_set_label('v/a', 'staging', 2);
SELECT pm_set_label('v/a', 'staging', 2);
SELECT pm_set_label('v/b', 'staging', 1);
SELECT pm_set_label('v/a', 'canary-1_x', 3);
-- bad input
SELECT regress.err($$SELECT pm_set_label('v/a', '3')$$);
SELECT regress.err($$SELECT pm_set_label('v/a', 'Production')$$);
SELECT regress.err($$SELECT pm_set_label('v/a', '')$$);
SELECT regress.err($$SELECT pm_set_label('v/a', repeat('x', 64))$$);
SELECT regress.err($$SELECT pm_set_label('v/a', 'staging', 99)$$);
SELECT regress.err($$SELECT pm_set_label('v/a', 'staging', 0)$$);
SELECT regress.err($$SELECT pm_set_label('v/c', 'staging', 2)$$);
SELECT regress.err($$SELECT pm_set_label('v/nope', 'staging')$$);
SELECT regress.err($$SELECT pm_set_label('v/nope', 'staging', 1)$$);
SELECT regress.err($$SELECT pm_set_label(NULL, 'staging')$$);
SELECT regress.err($$SELECT pm_set_label('v/a', NULL)$$);
-- a direct write with a bad label meets the check constraint
SELECT regress.err($$INSERT INTO pm_labels (prompt_id, label, version) VALUES ('v/a', '7', 1)$$);
-- a version that does not exist, written directly: the foreign key
SELECT regress.err($$INSERT INTO pm_labels (prompt_id, label, version) VALUES ('v/a', 'dev', 42)$$);
RESET ROLE;
-- a prompt whose head was deleted can be labelled by version only
DELETE FROM pm_prompts WHERE prompt_id = 'v/c';
SET ROLE ver_publisher;
SELECT regress.err($$SELECT pm_set_label('v/c', 'staging')$$);
SELECT pm_set_label('v/c', 'staging', 1);
SELECT prompt_id, label, version, moved_by FROM pm_labels ORDER BY 1, 2;

-- pm_remove_label: true when it existed
SELECT pm_remove_label('v/c', 'staging');
SELECT pm_remove_label('v/c', 'staging');
SELECT pm_remove_label('v/nope', 'staging');
SELECT regress.err($$SELECT pm_remove_label('v/a', '3')$$);
SELECT regress.err($$SELECT pm_remove_label('v/a', NULL)$$);

-- pm_rollback: back to where the label pointed before its last move; a
-- second rollback undoes the first
SELECT pm_set_label('v/a', 'staging', 4);
SELECT pm_rollback('v/a', 'staging');
SELECT pm_rollback('v/a', 'staging');
SELECT regress.err($$SELECT pm_rollback('v/b', 'staging')$$);
SELECT regress.err($$SELECT pm_rollback('v/b', 'nope')$$);
SELECT regress.err($$SELECT pm_rollback('v/b', '2')$$);
SELECT regress.err($$SELECT pm_rollback(NULL, 'staging')$$);

-- every move is in the history, by the functions or by direct writes, with
-- the role that made it; moved_by of pm_labels cannot be forged
INSERT INTO pm_labels (prompt_id, label, version, moved_by) VALUES ('v/b', 'dev', 2, 'someone_else');
SELECT label, version, moved_by FROM pm_labels WHERE prompt_id = 'v/b' AND label = 'dev';
UPDATE pm_labels SET version = 1 WHERE prompt_id = 'v/b' AND label = 'dev';
UPDATE pm_labels SET moved_by = 'someone_else' WHERE prompt_id = 'v/b' AND label = 'dev';
SELECT label, version, moved_by FROM pm_labels WHERE prompt_id = 'v/b' AND label = 'dev';
UPDATE pm_labels SET label = 'qa' WHERE prompt_id = 'v/b' AND label = 'dev';
DELETE FROM pm_labels WHERE prompt_id = 'v/b' AND label = 'qa';
SELECT prompt_id, label, version, moved_by FROM pm_labels WHERE prompt_id = 'v/b';
SELECT prompt_id, label, from_version, to_version, moved_by
FROM pm_label_history ORDER BY move_id;
-- moves of one transaction share its txid, in the order they were made
BEGIN;
SELECT pm_set_label('v/b', 'dev', 1), pm_set_label('v/b', 'dev', 2);
SELECT from_version, to_version FROM pm_label_history
WHERE txid = pg_current_xact_id() ORDER BY move_id;
ROLLBACK;
-- the history cannot be written by clients, nor changed by anyone
SELECT regress.err($$INSERT INTO pm_label_history (prompt_id, label, to_version) VALUES ('v/a', 'staging', 1)$$);
RESET ROLE;
SELECT regress.err($$UPDATE pm_label_history SET to_version = 1$$);
SELECT regress.err($$DELETE FROM pm_label_history$$);
-- the recording functions cannot be attached to other tables
CREATE TABLE regress.fake_labels (prompt_id text, label text, version integer,
	moved_at timestamptz, moved_by name);
CREATE TRIGGER fake AFTER INSERT ON regress.fake_labels
	FOR EACH ROW EXECUTE FUNCTION pm_labels_history();
SELECT regress.err($$INSERT INTO regress.fake_labels VALUES ('v/a', 'staging', 1, now(), 'x')$$);
DROP TABLE regress.fake_labels;
GRANT CREATE ON SCHEMA regress TO ver_publisher;
SET ROLE ver_publisher;
CREATE TABLE regress.fake_labels (prompt_id text, label text, version integer);
SELECT regress.err($$CREATE TRIGGER fake AFTER INSERT ON regress.fake_labels
	FOR EACH ROW EXECUTE FUNCTION pm_labels_history()$$);
DROP TABLE regress.fake_labels;
RESET ROLE;
REVOKE CREATE ON SCHEMA regress FROM ver_publisher;

-- readers and editors cannot move labels
SET ROLE ver_reader;
SELECT label, version FROM pm_labels WHERE prompt_id = 'v/a' ORDER BY 1;
SELECT regress.err($$SELECT pm_set_label('v/a', 'staging', 1)$$);
RESET ROLE;
SET ROLE ver_editor;
SELECT regress.err($$SELECT pm_set_label('v/a', 'staging', 1)$$);
SELECT regress.err($$SELECT pm_rollback('v/a', 'staging')$$);
SELECT regress.err($$SELECT pm_prune_versions('v/a', 1)$$);
RESET ROLE;

-- protected labels: only members of the role set, move or remove them,
-- through the functions or directly; pm_protected_labels is the owner's
INSERT INTO pm_protected_labels (label, role) VALUES
	('production', 'ver_release_managers'), ('frozen', 'ver_no_such_role');
SET ROLE ver_publisher;
SELECT regress.err($$INSERT INTO pm_protected_labels VALUES ('staging', 'ver_publisher')$$);
SELECT regress.err($$DELETE FROM pm_protected_labels$$);
SELECT regress.err($$SELECT pm_set_label('v/a', 'production')$$);
SELECT regress.err($$INSERT INTO pm_labels (prompt_id, label, version) VALUES ('v/a', 'production', 1)$$);
RESET ROLE;
SET ROLE ver_releaser;
SELECT pm_set_label('v/a', 'production', 1);
SELECT pm_set_label('v/a', 'production');
RESET ROLE;
SET ROLE ver_publisher;
SELECT regress.err($$SELECT pm_set_label('v/a', 'production', 2)$$);
SELECT regress.err($$SELECT pm_rollback('v/a', 'production')$$);
SELECT regress.err($$SELECT pm_remove_label('v/a', 'production')$$);
SELECT regress.err($$UPDATE pm_labels SET version = 2 WHERE label = 'production'$$);
SELECT regress.err($$UPDATE pm_labels SET label = 'production' WHERE prompt_id = 'v/a' AND label = 'staging'$$);
SELECT regress.err($$DELETE FROM pm_labels WHERE label = 'production'$$);
SELECT regress.err($$SELECT pm_set_label('v/a', 'frozen', 1)$$);
RESET ROLE;
SET ROLE ver_releaser;
SELECT regress.err($$SELECT pm_set_label('v/a', 'frozen', 1)$$);
SELECT pm_rollback('v/a', 'production');
RESET ROLE;
-- a SECURITY DEFINER function of a member moves it for a non-member, as
-- the member (the current user of the statement that writes the label)
CREATE FUNCTION regress.release(v integer) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT public.pm_set_label('v/a', 'production', v) $$;
ALTER FUNCTION regress.release(integer) OWNER TO ver_releaser;
SET ROLE ver_publisher;
SELECT regress.release(2);
RESET ROLE;
-- superusers are members of every role
SELECT pm_set_label('v/a', 'frozen', 1);
SELECT label, from_version, to_version, moved_by FROM pm_label_history
WHERE label IN ('production', 'frozen') ORDER BY move_id;

-- pm_prune_versions: keeps the keep newest, the labelled ones and those
-- any foreign key refers to, whatever its ON DELETE action
CREATE TABLE regress.outputs (id int PRIMARY KEY, prompt_id text, version integer,
	FOREIGN KEY (prompt_id, version) REFERENCES pm_prompt_versions (prompt_id, version)
	ON DELETE CASCADE);
INSERT INTO regress.outputs VALUES (1, 'v/a', 3);
SELECT label, version FROM pm_labels WHERE prompt_id = 'v/a' ORDER BY 1;
SELECT regress.err($$SELECT pm_prune_versions('v/a', 0)$$);
SELECT regress.err($$SELECT pm_prune_versions('v/a', NULL)$$);
SELECT regress.err($$SELECT pm_prune_versions(NULL, 1)$$);
SELECT regress.err($$SELECT pm_prune_versions('v/nope', 1)$$);
SELECT pm_prune_versions('v/a', 100);
CREATE ROLE ver_pruner;
GRANT SELECT ON pm_prompt_versions, pm_labels TO ver_pruner;
GRANT DELETE ON pm_prompt_versions TO ver_pruner;
GRANT USAGE ON SCHEMA regress TO ver_pruner;
SET ROLE ver_pruner;
-- SELECT on every table that refers to the versions is needed
SELECT regress.err($$SELECT pm_prune_versions('v/a', 1)$$);
RESET ROLE;
GRANT SELECT ON regress.outputs TO ver_pruner;
SET ROLE ver_pruner;
SELECT pm_prune_versions('v/a', 1);
SELECT pm_prune_versions('v/a', 1);
RESET ROLE;
SELECT version FROM pm_prompt_versions WHERE prompt_id = 'v/a' ORDER BY 1;
SELECT * FROM regress.outputs;
-- a labelled version, or one an application row refers to, cannot be
-- deleted directly either
SELECT regress.err($$DELETE FROM pm_prompt_versions WHERE prompt_id = 'v/a' AND version = 1$$);
-- numbers are never reused
UPDATE pm_prompts SET content = 'seven [X]' WHERE prompt_id = 'v/a';
SELECT max(version) FROM pm_prompt_versions WHERE prompt_id = 'v/a';

-- a rollback to a pruned version
SELECT pm_remove_label('v/b', 'staging');
SELECT pm_set_label('v/b', 'dev', 1);
SELECT pm_set_label('v/b', 'dev', 2);
SELECT pm_prune_versions('v/b', 1);
SELECT regress.err($$SELECT pm_rollback('v/b', 'dev')$$);
-- a move the history does not record (the owner disabled the trigger):
-- no earlier version to go back to
ALTER TABLE pm_labels DISABLE TRIGGER pm_labels_history;
UPDATE pm_labels SET version = 1 WHERE prompt_id = 'v/a' AND label = 'staging';
ALTER TABLE pm_labels ENABLE ALWAYS TRIGGER pm_labels_history;
SELECT regress.err($$SELECT pm_rollback('v/a', 'staging')$$);

-- row-level security on pm_labels applies to the functions (invoker)
ALTER TABLE pm_labels ENABLE ROW LEVEL SECURITY;
CREATE POLICY ver_only_b ON pm_labels TO ver_publisher
	USING (prompt_id = 'v/b') WITH CHECK (prompt_id = 'v/b');
SET ROLE ver_publisher;
SELECT pm_set_label('v/b', 'dev', 2);
SELECT regress.err($$SELECT pm_set_label('v/a', 'dev', 2)$$);
SELECT pm_remove_label('v/a', 'staging');
RESET ROLE;
DROP POLICY ver_only_b ON pm_labels;
ALTER TABLE pm_labels DISABLE ROW LEVEL SECURITY;

-- cleanup
DROP TABLE regress.outputs;
DROP FUNCTION regress.release(integer);
-- (the owner's escape hatch: the guards disabled)
DELETE FROM pm_labels WHERE prompt_id LIKE 'v/%';
DELETE FROM pm_protected_labels WHERE role LIKE 'ver\_%';
ALTER TABLE pm_label_history DISABLE TRIGGER pm_label_history_guard;
DELETE FROM pm_label_history WHERE prompt_id LIKE 'v/%';
ALTER TABLE pm_label_history ENABLE ALWAYS TRIGGER pm_label_history_guard;
DELETE FROM pm_prompts WHERE prompt_id LIKE 'v/%';
ALTER TABLE pm_prompt_versions DISABLE TRIGGER pm_prompt_versions_guard;
DELETE FROM pm_prompt_versions WHERE prompt_id LIKE 'v/%';
ALTER TABLE pm_prompt_versions ENABLE ALWAYS TRIGGER pm_prompt_versions_guard;
REVOKE ALL ON pm_prompts, pm_prompt_versions, pm_labels, pm_label_history
	FROM ver_reader, ver_editor, ver_publisher, ver_releaser, ver_pruner;
REVOKE ALL ON SEQUENCE pm_prompts_revision_seq FROM ver_editor;
REVOKE ALL ON SCHEMA regress FROM ver_reader, ver_editor, ver_publisher, ver_releaser, ver_pruner;
DROP ROLE ver_reader, ver_editor, ver_publisher, ver_releaser, ver_pruner, ver_release_managers;
