-- Includes: rendered as prompts of their own, nested, shared, cycles, depth.
INSERT INTO pm_prompts (prompt_id, content, parameters) VALUES
	('inc/root', E'Dear [NAME],\n//include inc/body\n//include inc/footer', '{"[SIGNER]": "The root"}'),
	('inc/body', E'# comment of the body\n<!-- hidden -->Your order [ORDER] shipped.\n//include inc/footer', '{}'),
	('inc/footer', E'Regards, [SIGNER]', '{"[SIGNER]": "The footer", "[NAME]": "footer default"}');

-- an included prompt is rendered (comments removed, directives run,
-- keywords filled from the same parameters), and may be included twice
SELECT to_json(pm_render('inc/root', '{"name": "Ada", "order": "#42"}'));
-- the including prompt's stored values win over the included one's,
-- the caller's over both
SELECT to_json(pm_render('inc/footer'));
SELECT to_json(pm_render('inc/root', '{"signer": "The caller"}'));
SELECT pm_keywords('inc/root');

-- an include of a missing prompt says where it came from
SELECT regress.err($$SELECT pm_render_template(E'a\nb\n  //include inc/nowhere')$$);
INSERT INTO pm_prompts (prompt_id, content) VALUES ('inc/broken', E'x\n//include inc/nowhere');
SELECT regress.err($$SELECT pm_render('inc/broken')$$);
SELECT regress.err($$SELECT pm_keywords('inc/broken')$$);

-- cycles are errors that name the chain
INSERT INTO pm_prompts (prompt_id, content) VALUES
	('cyc/self', '//include cyc/self'),
	('cyc/a', E'a\n//include cyc/b'),
	('cyc/b', E'b\n//include cyc/c'),
	('cyc/c', E'c\n//include cyc/a');
SELECT regress.err($$SELECT pm_render('cyc/self')$$);
SELECT regress.err($$SELECT pm_render('cyc/a')$$);
SELECT regress.err($$SELECT pm_render('cyc/b')$$);
SELECT regress.err($$SELECT pm_keywords('cyc/a')$$);
-- the inline template is not part of the chain; its includes are
SELECT regress.err($$SELECT pm_render_template('//include cyc/c')$$);

-- nesting depth: prompt_manager.max_include_depth (default 10)
INSERT INTO pm_prompts (prompt_id, content)
SELECT 'deep/' || g, CASE WHEN g < 12 THEN format(E'%s\n//include deep/%s', g, g + 1) ELSE 'bottom' END
FROM generate_series(0, 12) g;
SELECT regress.err($$SELECT pm_render('deep/0')$$);
SELECT to_json(pm_render('deep/2'));
SET prompt_manager.max_include_depth = 12;
SELECT length(pm_render('deep/0'));
SET prompt_manager.max_include_depth = 0;
SELECT regress.err($$SELECT pm_render('inc/body')$$);
SELECT pm_render('inc/footer', '{"signer": "no includes needed"}');
RESET prompt_manager.max_include_depth;

-- renders follow the table: updates, in and out of a transaction
SELECT pm_render('inc/footer');
UPDATE pm_prompts SET content = 'Cheers, [SIGNER]' WHERE prompt_id = 'inc/footer';
SELECT pm_render('inc/footer');
BEGIN;
UPDATE pm_prompts SET content = 'first [SIGNER]' WHERE prompt_id = 'inc/footer';
SELECT pm_render('inc/footer');
UPDATE pm_prompts SET content = 'second [SIGNER]' WHERE prompt_id = 'inc/footer';
SELECT pm_render('inc/footer');
ROLLBACK;
SELECT pm_render('inc/footer');
-- stored parameters changed: the new defaults are used
UPDATE pm_prompts SET parameters = '{"[SIGNER]": "Updated"}' WHERE prompt_id = 'inc/footer';
SELECT pm_render('inc/footer');
-- deleted, then inserted again
DELETE FROM pm_prompts WHERE prompt_id = 'inc/footer';
SELECT regress.err($$SELECT pm_render('inc/footer')$$);
INSERT INTO pm_prompts (prompt_id, content) VALUES ('inc/footer', 'Back, [SIGNER]');
SELECT pm_render('inc/footer');
-- a prompt including another sees the included one's changes
SELECT to_json(pm_render('inc/root', '{"name": "Ada", "order": "#42"}'));
TRUNCATE pm_prompts;
SELECT regress.err($$SELECT pm_render('inc/root')$$);
-- one query rendering many rows
INSERT INTO pm_prompts (prompt_id, content) VALUES ('inc/row', 'row [N]');
SELECT string_agg(pm_render('inc/row', jsonb_build_object('n', g)), ', ' ORDER BY g)
FROM generate_series(1, 5) g;

DELETE FROM pm_prompts;
