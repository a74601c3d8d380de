-- Rendering from application code in the database: a PL/pgSQL procedure
-- that renders a welcome message for each row of an application table into
-- an outbox, handles a missing prompt by its SQLSTATE and records the
-- failure, and runs inside the caller's transaction, where it renders what
-- that transaction has written.  The output is the same with and without
-- shared_preload_libraries.
CREATE TABLE regress.customers (
	id int PRIMARY KEY,
	name text NOT NULL,
	plan text,
	lang text NOT NULL
);
CREATE TABLE regress.outbox (
	seq int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	run text NOT NULL,
	customer_id int NOT NULL REFERENCES regress.customers,
	prompt_id text NOT NULL,
	body text,
	ok boolean NOT NULL,
	sqlstate text,
	error text
);
INSERT INTO regress.customers VALUES
	(1, 'Ada', 'pro', 'en'),
	(2, 'Grace', 'free', 'fr'),
	(3, 'Linus', 'pro', 'de'),		-- no proc/welcome/de: recorded as failed
	(4, 'O''Brien; DROP TABLE regress.customers; --', 'pro', 'en');
INSERT INTO pm_prompts (prompt_id, content, parameters) VALUES
	('proc/welcome/en', E'Welcome [NAME]! You are on the [PLAN] plan.\n//include proc/signature', '{}'),
	('proc/welcome/fr', E'Bienvenue [NAME] ! Votre offre : [PLAN].\n//include proc/signature', '{}'),
	('proc/signature', '-- [TEAM]', '{"team": "The Team"}');

-- One message per customer, its columns passed as parameters (a NULL column
-- is left out, so its keyword has no value).  A missing prompt (42704,
-- undefined_object) is caught in a block of its own, whose subtransaction is
-- rolled back, and recorded with its SQLSTATE and message; any other error
-- stops the call.
CREATE PROCEDURE regress.send_welcomes(run text)
LANGUAGE plpgsql AS $$
DECLARE
	c record;
	pid text;
	st text;
	msg text;
BEGIN
	FOR c IN SELECT * FROM regress.customers ORDER BY id LOOP
		pid := 'proc/welcome/' || c.lang;
		BEGIN
			INSERT INTO regress.outbox (run, customer_id, prompt_id, body, ok)
			VALUES (run, c.id, pid,
				pm_render(pid, jsonb_strip_nulls(jsonb_build_object('name', c.name, 'plan', c.plan))),
				true);
		EXCEPTION WHEN undefined_object THEN
			GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
			INSERT INTO regress.outbox (run, customer_id, prompt_id, ok, sqlstate, error)
			VALUES (run, c.id, pid, false, st, msg);
		END;
	END LOOP;
END
$$;

CREATE FUNCTION regress.show_outbox(r text)
RETURNS TABLE(customer_id int, ok boolean, sqlstate text, body_or_error text)
LANGUAGE sql AS $$
	SELECT customer_id, ok, sqlstate, coalesce(to_json(body)::text, error)
	FROM regress.outbox WHERE run = r ORDER BY seq
$$;

-- 1. a plain call: three messages, one failure recorded with its SQLSTATE;
-- the fourth customer's name is a parameter value, inserted as it is
CALL regress.send_welcomes('first');
SELECT * FROM regress.show_outbox('first');
SELECT count(*) AS customers_left FROM regress.customers;

-- 2. in one transaction: update a prompt, then call; the call renders the
-- updated text the transaction wrote, and so does a render after it
BEGIN;
UPDATE pm_prompts SET content = E'Hi [NAME], thanks for choosing [PLAN]!\n//include proc/signature'
WHERE prompt_id = 'proc/welcome/en';
CALL regress.send_welcomes('updated in txn');
SELECT * FROM regress.show_outbox('updated in txn');
SELECT pm_render('proc/welcome/en', '{"name": "Bob", "plan": "basic"}');
COMMIT;
-- committed: a new transaction renders it too
SELECT pm_render('proc/welcome/en', '{"name": "Bob", "plan": "basic"}');

-- 3. two calls in one transaction, with an update of an included prompt
-- and the creation of the missing prompt between them: the second call
-- renders the new signature and the new prompt
BEGIN;
CALL regress.send_welcomes('before');
UPDATE pm_prompts SET parameters = '{"team": "Support"}' WHERE prompt_id = 'proc/signature';
INSERT INTO pm_prompts (prompt_id, content) VALUES
	('proc/welcome/de', E'Willkommen [NAME]! Ihr Tarif: [PLAN].\n//include proc/signature');
CALL regress.send_welcomes('after');
SELECT * FROM regress.show_outbox('before');
SELECT * FROM regress.show_outbox('after');
-- rolled back: the prompts, and the messages of both calls, are gone
ROLLBACK;
SELECT count(*) AS messages_after_rollback FROM regress.outbox WHERE run IN ('before', 'after');
SELECT prompt_id FROM pm_prompts WHERE prompt_id LIKE 'proc/%' ORDER BY 1;
CALL regress.send_welcomes('after rollback');
SELECT * FROM regress.show_outbox('after rollback');

-- 4. a savepoint rolled back inside the transaction takes its update away
-- from the next call
BEGIN;
SAVEPOINT s;
UPDATE pm_prompts SET content = 'Savepoint text for [NAME]' WHERE prompt_id = 'proc/welcome/fr';
CALL regress.send_welcomes('in savepoint');
SELECT customer_id, body_or_error FROM regress.show_outbox('in savepoint') WHERE customer_id = 2;
ROLLBACK TO SAVEPOINT s;
CALL regress.send_welcomes('after savepoint');
SELECT customer_id, body_or_error FROM regress.show_outbox('after savepoint') WHERE customer_id = 2;
COMMIT;

-- 5. a customer without a plan: its [PLAN] has no value.  By default the
-- keyword is kept; with missing_parameter = error the render raises PM003,
-- which the procedure does not catch: the call fails as a whole and writes
-- nothing
INSERT INTO regress.customers VALUES (5, 'Noplan', NULL, 'fr');
CALL regress.send_welcomes('kept');
SELECT * FROM regress.show_outbox('kept') WHERE customer_id = 5;
SET prompt_manager.missing_parameter = error;
SELECT regress.err($$CALL regress.send_welcomes('strict')$$);
SELECT count(*) AS strict_messages FROM regress.outbox WHERE run = 'strict';
RESET prompt_manager.missing_parameter;

-- 6. a procedure that commits after each message (CALL outside a
-- transaction block) and changes a prompt between two of them: each
-- message is rendered in its own transaction, with what is committed then
CREATE PROCEDURE regress.send_each_committed(run text)
LANGUAGE plpgsql AS $$
DECLARE
	c record;
BEGIN
	FOR c IN SELECT * FROM regress.customers WHERE lang = 'en' ORDER BY id LOOP
		INSERT INTO regress.outbox (run, customer_id, prompt_id, body, ok)
		VALUES (run, c.id, 'proc/welcome/en',
			pm_render('proc/welcome/en', jsonb_build_object('name', c.name, 'plan', c.plan)), true);
		COMMIT;
		UPDATE pm_prompts SET content = 'Second version for [NAME]' WHERE prompt_id = 'proc/welcome/en';
		COMMIT;
	END LOOP;
END
$$;
CALL regress.send_each_committed('committed');
SELECT * FROM regress.show_outbox('committed');
-- it cannot commit inside the caller's transaction block
BEGIN;
SELECT regress.err($$CALL regress.send_each_committed('in block')$$);
ROLLBACK;

DROP PROCEDURE regress.send_welcomes(text);
DROP PROCEDURE regress.send_each_committed(text);
DROP FUNCTION regress.show_outbox(text);
DROP TABLE regress.outbox, regress.customers;
DELETE FROM pm_prompts WHERE prompt_id LIKE 'proc/%';
