-- [KEYWORD] parameters: grammar, values, keys, defaults, literal insertion.

-- a keyword is \[[A-Z _|]+\]: uppercase letters, space, '_' and '|'
SELECT regress.r('[NAME] [FIRST NAME] [A|B] [Z_Z] [ ] [_]',
	'{"[NAME]": 1, "[FIRST NAME]": 2, "[A|B]": 3, "[Z_Z]": 4, "[ ]": 5, "[_]": 6}');
-- not keywords: lower case, digits, empty, other characters
SELECT regress.r('[name] [NAME2] [1] [] [NAME-X] [É] a[b [NAME',
	'{"[name]": "x", "[NAME2]": "x", "[1]": "x", "[]": "x", "[NAME-X]": "x", "[É]": "x"}');
-- nested and adjacent brackets
SELECT regress.r('[[NAME]] [A][B] [A [B]', '{"name": "n", "a": "1", "b": "2"}');

-- a keyword with no value stays as written (prompt_manager.missing_parameter = keep)
SELECT regress.r('Hello [NAME], [GREETING]', '{"name": "Ada"}');

-- keys: the gem's bracketed form, or a bare name in any case
SELECT regress.r('[NAME] / [FIRST NAME] / [A|B]', '{"name": "n", "First Name": "f", "a|b": "ab"}');
SELECT regress.r('[NAME]', '{"NaMe": "mixed"}');
-- a bracketed key is exact: "[name]" is not the keyword [NAME]
SELECT regress.r('[NAME]', '{"[name]": "lower"}');
-- both forms given: the bracketed one wins
SELECT regress.r('[NAME]', '{"name": "bare", "[NAME]": "bracketed"}');
-- keys that match no keyword are ignored
SELECT regress.r('plain', '{"unused": 1, "[UNUSED]": 2}');

-- values: an array is a history (the last element wins), null and [] are empty
SELECT regress.r('[A]|[B]|[C]|[D]', '{"a": ["old", "new"], "b": [], "c": null, "d": ["x", null]}');
-- numbers and booleans as their JSON text, objects as JSON
SELECT regress.r('[N] [F] [T] [B] [O] [L]',
	'{"n": 42, "f": 1.50, "t": true, "b": false, "o": {"k": [1, 2]}, "l": [[1, 2]]}');
-- exact bytes: 1.0 and 1.00 are equal as jsonb but render differently
SELECT regress.r('[X]', '{"x": 1.0}'), regress.r('[X]', '{"x": 1.00}');
-- the same keyword many times, unicode around and inside values
SELECT regress.r('[X]-[X]-日本語[X]', '{"x": "🎉é"}');

-- a value is inserted literally, once: never read again as a keyword or a
-- directive, and no back-references
SELECT regress.r('[A] [B]', '{"a": "[B]", "b": "[A]"}');
SELECT regress.r('[A]', jsonb_build_object('a', E'x\n//include secret\n# not a comment\n__END__'));
SELECT regress.r('[A]', '{"a": "\\0 \\1 \\& $1 \\\\"}');

-- stored parameters are defaults; params override them key by key
INSERT INTO pm_prompts (prompt_id, content, parameters) VALUES
	('kw/defaults', '[GREETING], [NAME]! ([LANG])',
	 '{"[GREETING]": ["Hi", "Hello"], "[NAME]": "you", "lang": "en"}');
SELECT to_json(pm_render('kw/defaults'));
SELECT to_json(pm_render('kw/defaults', '{"name": "Ada"}'));
SELECT to_json(pm_render('kw/defaults', '{"[NAME]": "Ada", "LANG": "fr", "greeting": null}'));

-- pm_keywords: first-use order, each keyword once
INSERT INTO pm_prompts (prompt_id, content) VALUES
	('kw/list', E'[B] [A] [B]\n# [COMMENTED]\n<!-- [HIDDEN] -->[C]\n//include kw/[LANG]');
SELECT pm_keywords('kw/list');
SELECT pm_keywords('kw/defaults');

-- 1000 distinct keywords in one template, and a 1 MB template
SELECT length(pm_render_template(t, p)) AS rendered_length,
	length(t) AS template_length
FROM (SELECT string_agg(format('[K%s] ', chr(65 + g % 26) || chr(65 + (g / 26) % 26) || chr(65 + g / 676)), '') AS t,
		jsonb_object_agg(format('k%s', chr(65 + g % 26) || chr(65 + (g / 26) % 26) || chr(65 + g / 676)), 'v') AS p
	  FROM generate_series(0, 999) g) s;
SELECT length(pm_render_template(repeat(E'line [A] and [B]\n', 60000), '{"a": "1", "b": "2"}'));

DELETE FROM pm_prompts;
