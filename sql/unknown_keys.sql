-- Errors that say what to do (issue #13): unknown keys of a pm_bulk_render
-- request, params keys that match no keyword
-- (prompt_manager.unknown_parameter), and the message of an invalid prompt
-- id.  The same output with and without preloading: where the shared cache
-- is on, a render is asked twice so that the second could be a cache hit.
INSERT INTO pm_prompts (prompt_id, content, parameters) VALUES
	('uk/greet', E'Hello [NAME] from [PLACE]\n//include uk/footer', '{}'),
	('uk/footer', '-- [TEAM]', '{"team": "the team", "stored_only": "x"}'),
	('uk/dyn', '//include uk/[WHICH]', '{}'),
	('uk/lower', 'Hello [name]', '{}'),
	('uk/none', 'no keywords at all', '{}'),
	('uk/missing', E'Hi [NAME]\n//include uk/nowhere', '{}');

-- 1. pm_bulk_render: a request key other than "prompt_id" and "parameters"
-- fails the call (as a malformed request does), naming the key and the
-- element; a misspelt or other common name gets a suggestion
SELECT regress.err($$SELECT * FROM pm_bulk_render('[{"prompt_id": "uk/greet"}, {"prompt_id": "uk/greet", "params": {"name": "Ada"}}]')$$);
SELECT regress.err($$SELECT * FROM pm_bulk_render('[{"prompt_id": "uk/greet", "paramters": {"name": "Ada"}}]')$$);
SELECT regress.err($$SELECT * FROM pm_bulk_render('[{"prompt_id": "uk/greet", "Parameters": {"name": "Ada"}}]')$$);
SELECT regress.err($$SELECT * FROM pm_bulk_render('[{"promptId": "uk/greet"}]')$$);
SELECT regress.err($$SELECT * FROM pm_bulk_render('[{"prompt_id": "uk/greet", "name": "Ada"}]')$$);
-- several unknown keys: the one with a suggestion is named, the others in the detail
SELECT regress.err($$SELECT * FROM pm_bulk_render('[{"prompt_id": "uk/greet"}, {"prompt_id": "uk/greet"}, {"prompt_id": "uk/greet", "foo": 1, "params": {}, "zzz": null}]')$$);
SELECT regress.err($$SELECT * FROM pm_bulk_render('[{"prompt_id": "uk/greet", "foo": 1, "bar": 2}]')$$);
-- valid requests are still fine, "parameters": null included
SELECT ord, ok, result, error, sqlstate
FROM pm_bulk_render('[{"prompt_id": "uk/greet", "parameters": {"name": "Ada", "place": "Paris"}},
	{"prompt_id": "uk/greet", "parameters": null}, {"prompt_id": "uk/footer"}]');

-- 2. prompt_manager.unknown_parameter
SHOW prompt_manager.unknown_parameter;
-- ignore (the default, as the gem): a typo is silently unused
SELECT pm_render('uk/greet', '{"nmae": "Ada", "place": "Paris"}');
-- warning: every render says so, also when the same render was stored in
-- the cache under ignore just before
SET prompt_manager.unknown_parameter = warning;
SELECT pm_render('uk/greet', '{"nmae": "Ada", "place": "Paris"}');
SELECT pm_render('uk/greet', '{"nmae": "Ada", "place": "Paris"}');
-- a key that matches only an include's keyword is used; keys match as the
-- renderer matches them: a bare name in any case, or bracketed upper case
SELECT pm_render('uk/greet', '{"name": "Ada", "Place": "Paris", "[TEAM]": "us"}');
SELECT pm_render('uk/greet', '{"name": "Ada", "Place": "Paris", "[TEAM]": "us"}');
-- a bracketed key in lower case is not a keyword's name
SELECT pm_render('uk/greet', '{"[name]": "Ada", "[PLACE]": "Paris"}');
-- a key losing to another form of the same keyword still matched it
SELECT pm_render('uk/greet', '{"name": "bare", "[NAME]": "bracketed", "place": "P"}');
-- several unknown keys at once
SELECT pm_render('uk/greet', '{"nmae": "Ada", "plcae": "Paris", "team": "us"}');
-- [name] in lower case in a template is text, not a keyword
SELECT pm_render('uk/lower', '{"name": "Ada"}');
SELECT pm_render('uk/none', '{"x": 1}');
-- the key that fills the id of a dynamic include is used
SELECT pm_render('uk/dyn', '{"which": "footer"}');
-- stored parameters are not checked: only the caller's keys
SELECT pm_render('uk/footer');
-- no params, or empty params: nothing to report
SELECT pm_render('uk/greet'), pm_render('uk/greet', '{}');
-- a missing include (raise_on_missing = off): its keywords are unknown, so
-- nothing is reported beyond the missing prompt
SET prompt_manager.raise_on_missing = off;
SELECT pm_render('uk/missing', '{"name": "Ada", "other": 1}');
RESET prompt_manager.raise_on_missing;
-- pm_render_template
SELECT pm_render_template('Hi [NAME]', '{"name": "Ada", "extra": 1}');
SELECT pm_render_template('Hi [NAME]', '{"name": "Ada", "extra": 1}');
SELECT pm_render_template(E'Hi [NAME]\n//include uk/footer', '{"name": "Ada", "team": "us"}');
-- pm_render_lines
SELECT * FROM pm_render_lines('uk/greet', '{"name": "Ada", "place": "P", "tema": "us"}');
-- pm_bulk_render: a WARNING per request that has unknown keys, rows ok
SELECT ord, ok, result, error, sqlstate
FROM pm_bulk_render('[{"prompt_id": "uk/greet", "parameters": {"nmae": "Ada"}},
	{"prompt_id": "uk/greet", "parameters": {"name": "Ada", "place": "P"}},
	{"prompt_id": "uk/greet", "parameters": {"nmae": "Ada"}}]');

-- error: raised (PM006), also where the same render is cached
SET prompt_manager.unknown_parameter = error;
SELECT regress.err($$SELECT pm_render('uk/greet', '{"nmae": "Ada", "place": "Paris"}')$$);
SELECT regress.err($$SELECT pm_render('uk/greet', '{"nmae": "Ada", "place": "Paris"}')$$);
SELECT pm_render('uk/greet', '{"name": "Ada", "Place": "Paris", "[TEAM]": "us"}');
SELECT pm_render('uk/greet', '{"name": "Ada", "Place": "Paris", "[TEAM]": "us"}');
SELECT regress.err($$SELECT pm_render('uk/lower', '{"name": "Ada"}')$$);
SELECT regress.err($$SELECT pm_render_template('Hi [NAME]', '{"name": "Ada", "extra": 1}')$$);
SELECT regress.err($$SELECT pm_render_template('Hi [NAME]', '{"name": "Ada", "extra": 1}')$$);
SELECT regress.err($$SELECT * FROM pm_render_lines('uk/greet', '{"name": "Ada", "tema": "us"}')$$);
-- pm_bulk_render: the request's row fails, the others render
SELECT ord, ok, result, error, sqlstate
FROM pm_bulk_render('[{"prompt_id": "uk/greet", "parameters": {"nmae": "Ada"}},
	{"prompt_id": "uk/greet", "parameters": {"name": "Ada", "place": "P"}},
	{"prompt_id": "uk/greet", "parameters": {"nmae": "Ada"}}]');
-- prompt_manager.error_handler answers it, as it answers a missing keyword
CREATE FUNCTION regress.uk_handler(p text, s text, m text) RETURNS text
LANGUAGE sql PARALLEL SAFE AS $$ SELECT 'handled ' || s || ': ' || m $$;
SET prompt_manager.error_handler = 'regress.uk_handler';
SELECT pm_render('uk/greet', '{"nmae": "Ada"}');
RESET prompt_manager.error_handler;
DROP FUNCTION regress.uk_handler(text, text, text);
-- back to ignore: the typo renders again, without a word
RESET prompt_manager.unknown_parameter;
SELECT pm_render('uk/greet', '{"nmae": "Ada", "place": "Paris"}');

-- 3. an invalid prompt id says which characters are allowed (23514, the
-- check constraint named in the error's constraint field)
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content) VALUES ('has space', 'x')$$);
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content) VALUES ('quote''s', 'x')$$);
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content) VALUES ('/rooted', 'x')$$);
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content) VALUES ('', 'x')$$);
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content) VALUES (repeat('a', 256), 'x')$$);
SELECT regress.err($$UPDATE pm_prompts SET prompt_id = 'uk/not valid' WHERE prompt_id = 'uk/none'$$);
DO $$
DECLARE
	con text; col text; tab text;
BEGIN
	INSERT INTO pm_prompts (prompt_id, content) VALUES ('has space', 'x');
EXCEPTION WHEN check_violation THEN
	GET STACKED DIAGNOSTICS con = CONSTRAINT_NAME, col = COLUMN_NAME, tab = TABLE_NAME;
	RAISE NOTICE 'constraint %, column %, table %', con, col, tab;
END
$$;
-- valid ids, and updates that leave the id alone, are not affected
INSERT INTO pm_prompts (prompt_id, content) VALUES (repeat('a', 254) || '/', 'x');
UPDATE pm_prompts SET content = 'no keywords, still' WHERE prompt_id = 'uk/none';
DELETE FROM pm_prompts WHERE prompt_id = repeat('a', 254) || '/';
-- NULL is left to the NOT NULL constraint
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content) VALUES (NULL, 'x')$$);
-- an owner who dropped the check allows other ids: the trigger agrees
BEGIN;
ALTER TABLE pm_prompts DROP CONSTRAINT pm_prompts_prompt_id_check;
INSERT INTO pm_prompts (prompt_id, content) VALUES ('uk/dot.ted', 'x');
SELECT regress.err($$INSERT INTO pm_prompts (prompt_id, content) VALUES (repeat('a', 256), 'x')$$);
ROLLBACK;

DELETE FROM pm_prompts WHERE prompt_id LIKE 'uk/%';
