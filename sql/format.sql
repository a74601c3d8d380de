-- The text format, rule by rule (shared/reference/gem-format.md).  Results
-- are shown as JSON strings so that every newline and blank is visible.
CREATE FUNCTION regress.r(t text, p jsonb DEFAULT '{}') RETURNS json
LANGUAGE sql AS $$ SELECT to_json(pm_render_template(t, p)) $$;

-- 1. HTML comments are removed everywhere, non-greedy, across lines
SELECT regress.r(E'a<!-- one -->b<!-- two -->c');
SELECT regress.r(E'before\n<!-- multi\nline -->\nafter');
SELECT regress.r(E'x <!-- a --> y --> z');
SELECT regress.r(E'<!-->still open');
SELECT regress.r(E'<!--->still open');
SELECT regress.r(E'<!---->');
SELECT regress.r(E'keep <!-- unclosed\nto the end');
SELECT regress.r(E'[A]<!-- [B] -->[C]', '{"a": 1, "b": 2, "c": 3}');
SELECT regress.r(E'<!-- hide\n//include nowhere\n-->shown');

-- 2. __END__ alone on a line ends the prompt
SELECT regress.r(E'kept\n__END__\ndropped\n//include nowhere');
SELECT regress.r(E'kept\n __END__\n__END__ \nstill kept');
SELECT regress.r(E'kept\n```markdown\n__END__\nnot kept');
SELECT regress.r(E'__END__');
SELECT regress.r(E'kept\r\n__END__\r\ndropped');
SELECT regress.r(E'x <!-- c -->\n__END__<!-- c -->\ny');

-- 3. comment lines: stripped text starting with '#'
SELECT regress.r(E'# a comment\ntext\n  # indented\ntext # not a comment\n#');
SELECT regress.r(E'#[NAME] a commented keyword\n[NAME]', '{"name": "Ada"}');
-- kept inside ```markdown fences, which nest; other ``` lines close one level
SELECT regress.r(E'```markdown\n# Heading\n```\n# dropped');
SELECT regress.r(E'```markdown\n```markdown\n# in two\n```\n# in one\n```\n# out');
SELECT regress.r(E'```\n# a plain fence does not open\n```');
SELECT regress.r(E'  ```markdown  \n  # kept\n  ```python\n# dropped');
SELECT regress.r(E'```Markdown\n# not a markdown fence');

-- 4. lines joined with \n: CRLF becomes LF, one trailing newline is lost
SELECT regress.r(E'a\r\nb\r\n');
SELECT regress.r(E'a\rb\r');
SELECT regress.r(E'a\n');
SELECT regress.r(E'a\n\n');
SELECT regress.r(E'\n');
SELECT regress.r(E'');
SELECT regress.r(E'\n\na\n\n\nb');
SELECT regress.r(E'trailing blanks   \n\tand tabs\t');

-- the gem's own order: HTML comments, then lines, then keywords
SELECT regress.r(E'# [NAME]\n<!-- x -->[NAME]', '{"name": "v"}');
