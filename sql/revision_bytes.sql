-- A prompt's revision follows the stored bytes that a render reads, not the
-- type's equality: {"x": 9.9} and {"x": 9.90} are equal jsonb but render
-- 9.9 and 9.90, and a nondeterministic collation calls 'Price' and 'PRICE'
-- equal.  Every render below, with the shared cache on and off (and, with
-- the library preloaded, from the cache), must equal a fresh rendering of
-- what the table holds at that moment (fresh: pm_render_template of the
-- row's content with its parameters, which reads no compiled template of
-- the prompt).  Runs with and without preloading; the output is the same.
CREATE FUNCTION regress.rb(id text) RETURNS TABLE(cached text, uncached text, fresh text)
LANGUAGE plpgsql AS $$
BEGIN
	cached := pm_render(id);
	SET LOCAL prompt_manager.cache = off;
	uncached := pm_render(id);
	SET LOCAL prompt_manager.cache = on;
	SELECT pm_render_template(p.content, p.parameters) INTO fresh
	FROM pm_prompts AS p WHERE p.prompt_id = id;
	RETURN NEXT;
END $$;

-- The case of issue #9: a scale-only edit in the transaction that inserted
-- the prompt (one xmin for both rows).
BEGIN;
INSERT INTO pm_prompts (prompt_id, content, parameters)
	VALUES ('rb/price', 'Price: [X] EUR', '{"x": 9.9}');
SELECT * FROM regress.rb('rb/price');
SELECT revision AS rev FROM pm_prompts WHERE prompt_id = 'rb/price' \gset
UPDATE pm_prompts SET parameters = '{"x": 9.90}' WHERE prompt_id = 'rb/price';
SELECT revision <> :rev AS new_revision FROM pm_prompts WHERE prompt_id = 'rb/price';
SELECT * FROM regress.rb('rb/price');
SELECT result FROM pm_bulk_render('[{"prompt_id": "rb/price"}]');
SELECT * FROM pm_render_lines('rb/price');
COMMIT;
SELECT * FROM regress.rb('rb/price');
-- another session (with preloading, its first render is served by the shared cache)
\c
SELECT * FROM regress.rb('rb/price');

-- Its neighbours, each an UPDATE in one transaction after a render of the
-- old value.  new_revision is true exactly when the stored bytes change.
CREATE FUNCTION regress.rb_edit(id text, new_parameters jsonb,
	OUT new_revision boolean, OUT cached text, OUT uncached text, OUT fresh text)
LANGUAGE plpgsql AS $$
DECLARE
	rev bigint;
BEGIN
	PERFORM pm_render(id);
	SELECT p.revision INTO rev FROM pm_prompts AS p WHERE p.prompt_id = id;
	UPDATE pm_prompts AS p SET parameters = new_parameters WHERE p.prompt_id = id;
	SELECT p.revision <> rev INTO new_revision FROM pm_prompts AS p WHERE p.prompt_id = id;
	SELECT * INTO cached, uncached, fresh FROM regress.rb(id);
END $$;
INSERT INTO pm_prompts (prompt_id, content, parameters)
	VALUES ('rb/n', 'n=[X]', '{"x": 1.0}');
BEGIN;
-- scale: 1.0, 1.00, 1.000 are equal jsonb, three renderings
SELECT * FROM regress.rb_edit('rb/n', '{"x": 1.00}');
SELECT * FROM regress.rb_edit('rb/n', '{"x": 1.000}');
-- 1e2, 100 and 1.00e2 are all stored as 100: after the first edit, the
-- same bytes and the same revision
SELECT * FROM regress.rb_edit('rb/n', '{"x": 1e2}');
SELECT * FROM regress.rb_edit('rb/n', '{"x": 100}');
SELECT * FROM regress.rb_edit('rb/n', '{"x": 1.00e2}');
-- -0 is stored as 0 (same bytes, same revision), -0.0 as 0.0
SELECT * FROM regress.rb_edit('rb/n', '{"x": 0}');
SELECT * FROM regress.rb_edit('rb/n', '{"x": -0}');
SELECT * FROM regress.rb_edit('rb/n', '{"x": -0.0}');
-- the newest value of a list, changed in scale only
SELECT * FROM regress.rb_edit('rb/n', '{"x": [1, 2.5]}');
SELECT * FROM regress.rb_edit('rb/n', '{"x": [1, 2.50]}');
-- a nested value changed in scale only
SELECT * FROM regress.rb_edit('rb/n', '{"x": {"v": 2.5}}');
SELECT * FROM regress.rb_edit('rb/n', '{"x": {"v": 2.50}}');
-- key order, duplicate keys (the last one counts) and a unicode escape:
-- after the first edit, jsonb stores the same bytes, so the revision stays
SELECT * FROM regress.rb_edit('rb/n', '{"x": "\u00e9", "y": 1}');
SELECT * FROM regress.rb_edit('rb/n', '{"y": 1, "x": "é"}');
SELECT * FROM regress.rb_edit('rb/n', '{"x": "dup", "y": 1, "x": "é"}');
COMMIT;
SELECT * FROM regress.rb('rb/n');
\c
SELECT * FROM regress.rb('rb/n');

-- A scale-only edit is an edit: it sets updated_at too.
INSERT INTO pm_prompts (prompt_id, content, parameters, updated_at)
	VALUES ('rb/dated', '[X]', '{"x": 2.0}', '2020-01-01 00:00:00+00');
UPDATE pm_prompts SET parameters = '{"x": 2.00}' WHERE prompt_id = 'rb/dated';
SELECT updated_at > '2020-01-01 00:00:00+00' AS updated_now, pm_render('rb/dated')
FROM pm_prompts WHERE prompt_id = 'rb/dated';

-- content under a nondeterministic collation: 'Price: [X] euro' and
-- 'PRICE: [X] EURO' are equal to it, yet the second update of the row in
-- one transaction takes a new revision and renders the new text
CREATE COLLATION regress.rb_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
ALTER TABLE pm_prompts ALTER COLUMN content TYPE text COLLATE regress.rb_ci;
-- (a new session, so that the trigger's expressions are planned with the
-- column's new collation)
\c
SELECT 'Price: [X] euro' = 'PRICE: [X] EURO' COLLATE regress.rb_ci AS equal_to_the_collation;
BEGIN;
UPDATE pm_prompts SET content = 'Price: [X] euro' WHERE prompt_id = 'rb/price';
SELECT * FROM regress.rb('rb/price');
SELECT revision AS rev FROM pm_prompts WHERE prompt_id = 'rb/price' \gset
UPDATE pm_prompts SET content = 'PRICE: [X] EURO' WHERE prompt_id = 'rb/price';
SELECT revision <> :rev AS new_revision FROM pm_prompts WHERE prompt_id = 'rb/price';
SELECT * FROM regress.rb('rb/price');
COMMIT;
\c
SELECT * FROM regress.rb('rb/price');
ALTER TABLE pm_prompts ALTER COLUMN content TYPE text COLLATE "default";
DROP COLLATION regress.rb_ci;

-- Bookkeeping (usage_count, status, metadata) keeps the revision.
SELECT revision AS rev FROM pm_prompts WHERE prompt_id = 'rb/price' \gset
UPDATE pm_prompts SET usage_count = usage_count + 1, status = 'archived',
	metadata = '{"m": 1.0}' WHERE prompt_id = 'rb/price';
SELECT revision = :rev AS same_revision, pm_render('rb/price')
FROM pm_prompts WHERE prompt_id = 'rb/price';

DROP FUNCTION regress.rb_edit(text, jsonb);
DROP FUNCTION regress.rb(text);
DELETE FROM pm_prompts;
