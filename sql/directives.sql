-- '//' directive lines: include, import, unknown directives.
INSERT INTO pm_prompts (prompt_id, content) VALUES
	('dir/footer', E'-- the team\nsupport@example.com'),
	('dir/en', 'Hello'),
	('dir/fr', 'Bonjour');

-- //include and its alias //import replace the line with the prompt
SELECT regress.r(E'top\n//include dir/footer\nbottom');
SELECT regress.r(E'top\n//import dir/footer');
-- indentation before the directive stays; words split on blanks
SELECT regress.r(E'  //include dir/en\n\t// include   dir/fr  ');
-- keywords in a directive line are filled first
SELECT regress.r('//include dir/[LANG]', '{"lang": "fr"}');
SELECT regress.r('//include [WHICH]', '{"which": "dir/en"}');
-- a directive inside a markdown fence still runs
SELECT regress.r(E'```markdown\n//include dir/en\n```');
-- a // later in a line, or after other text, is not a directive
SELECT regress.r(E'see http://example.com // not a directive\n# //include dir/en');

-- an include whose keyword has no value says so
SELECT regress.err($$SELECT pm_render_template('//include dir/[LANG]')$$);

-- line numbers are those of the source text, comments and all
SELECT regress.err($$SELECT pm_render_template(E'<!-- a\nmulti-line\ncomment -->\r\n# dropped\n\n//oops')$$);

-- an include needs exactly one prompt id
SELECT regress.err($$SELECT pm_render_template('//include')$$);
SELECT regress.err($$SELECT pm_render_template(E'ok\n//import a b')$$);

-- an unknown directive is an error by default ...
SELECT regress.err($$SELECT pm_render_template(E'one\n//shell rm -rf /')$$);
SELECT regress.err($$SELECT pm_render_template('//')$$);
-- ... or left as it is, keywords filled, with unknown_directive = keep
SET prompt_manager.unknown_directive = keep;
SELECT regress.r(E'  //note for [WHO]  \n//\n//include dir/en', '{"who": "editors"}');
RESET prompt_manager.unknown_directive;

-- a directive that a value would make does not run
SELECT regress.r('[X]', '{"x": "//include dir/en"}');

DELETE FROM pm_prompts;
