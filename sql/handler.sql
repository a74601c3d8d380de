-- prompt_manager.error_handler called the way the executor calls a
-- function: STRICT honoured (a NULL argument gives NULL, the function is
-- not called), a NULL answer is the render's SQL NULL, and the signature,
-- kind and return type are checked before the first call.  Everything runs
-- as a role created without any privilege; each case is followed by a
-- render that shows the session (and the server) is fine.
\pset null '(null)'
\set SHOW_CONTEXT never

INSERT INTO pm_prompts (prompt_id, content) VALUES ('h/ok', 'fine [X]');
CREATE ROLE pm_h_nobody NOLOGIN;
CREATE ROLE pm_h_owner NOLOGIN;

-- handlers: in schema pm_h (USAGE granted below) and pm_h_other (not yet)
CREATE SCHEMA pm_h;
CREATE SCHEMA pm_h_other;
-- an error as SQLSTATE, message, detail and hint (run as the caller)
CREATE FUNCTION pm_h.err(query text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; hnt text;
BEGIN
	EXECUTE query;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
		det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
	RETURN st || ': ' || msg
		|| CASE WHEN det <> '' THEN E'\nDETAIL: ' || det ELSE '' END
		|| CASE WHEN hnt <> '' THEN E'\nHINT: ' || hnt ELSE '' END;
END
$$;
CREATE FUNCTION pm_h.null_sql(p text, s text, m text) RETURNS text
LANGUAGE sql PARALLEL SAFE AS 'SELECT NULL::text';
CREATE FUNCTION pm_h.case_sql(p text, s text, m text) RETURNS text
LANGUAGE sql PARALLEL SAFE AS $$ SELECT CASE WHEN s = '42704' THEN '' END $$;
CREATE FUNCTION pm_h.null_plpgsql(p text, s text, m text) RETURNS text
LANGUAGE plpgsql PARALLEL SAFE AS $$ BEGIN RAISE NOTICE 'null_plpgsql(%, %)', p, s; RETURN NULL; END $$;
CREATE FUNCTION pm_h.strict_sql(p text, s text, m text) RETURNS text
LANGUAGE sql STRICT PARALLEL SAFE AS $$ SELECT 'strict_sql: ' || p || ' ' || s $$;
CREATE FUNCTION pm_h.strict_plpgsql(p text, s text, m text) RETURNS text
LANGUAGE plpgsql STRICT PARALLEL SAFE AS $$ BEGIN RAISE NOTICE 'strict_plpgsql called'; RETURN 'strict_plpgsql: ' || p; END $$;
CREATE FUNCTION pm_h.raising(p text, s text, m text) RETURNS text
LANGUAGE plpgsql PARALLEL SAFE AS $$ BEGIN RAISE EXCEPTION 'no answer for % (%)', coalesce(p, 'inline'), s USING ERRCODE = 'P0001'; END $$;
CREATE FUNCTION pm_h.recursing(p text, s text, m text) RETURNS text
LANGUAGE sql PARALLEL SAFE AS $$ SELECT pm_render_template('//again') $$;
-- SECURITY DEFINER: reads a table only its owner may read
CREATE TABLE pm_h.fallbacks (sqlstate text PRIMARY KEY, answer text);
INSERT INTO pm_h.fallbacks VALUES ('42704', 'no such prompt'), ('PM002', 'bad directive');
ALTER TABLE pm_h.fallbacks OWNER TO pm_h_owner;
CREATE FUNCTION pm_h.definer(p text, s text, m text) RETURNS text
LANGUAGE sql SECURITY DEFINER PARALLEL SAFE SET search_path = pg_catalog
AS $$ SELECT answer || ' (as ' || current_user || ')' FROM pm_h.fallbacks WHERE sqlstate = s $$;
ALTER FUNCTION pm_h.definer(text, text, text) OWNER TO pm_h_owner;
GRANT USAGE ON SCHEMA pm_h TO pm_h_owner;
CREATE FUNCTION pm_h_other.answer(p text, s text, m text) RETURNS text
LANGUAGE sql PARALLEL SAFE AS $$ SELECT 'other schema: ' || coalesce(p, 'inline') || ' ' || s $$;
-- wrong signatures, kinds, return types
CREATE FUNCTION pm_h.returns_int(p text, s text, m text) RETURNS integer
LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION pm_h.returns_set(p text, s text, m text) RETURNS SETOF text
LANGUAGE sql AS $$ VALUES ('a'), ('b') $$;
CREATE FUNCTION pm_h.two_args(p text, s text) RETURNS text
LANGUAGE sql AS $$ SELECT 'two' $$;
CREATE FUNCTION pm_h.state3(st text, p text, s text, m text) RETURNS text
LANGUAGE sql AS $$ SELECT coalesce(st, '') || s $$;
CREATE AGGREGATE pm_h.agg(text, text, text) (SFUNC = pm_h.state3, STYPE = text);
CREATE PROCEDURE pm_h.proc(p text, s text, m text) LANGUAGE sql AS 'SELECT 1';
GRANT USAGE ON SCHEMA pm_h TO pm_h_nobody;

SET ROLE pm_h_nobody;
SELECT has_table_privilege('pm_prompts', 'SELECT') AS may_read_prompts;

-- STRICT built-ins (text, text, text) RETURNS text: an inline template has
-- prompt_id NULL, so they answer NULL without being called
SET prompt_manager.error_handler = 'pg_catalog.replace';
SELECT pm_render_template('//bogus');
SELECT pm_render_template('fine after replace');
SET prompt_manager.error_handler = 'translate';
SELECT pm_render_template('//bogus');
SELECT pm_render_template('fine after translate');

-- STRICT SQL and PL/pgSQL handlers: not called for a NULL prompt_id
SET prompt_manager.error_handler = 'pm_h.strict_sql';
SELECT pm_render_template('//bogus');
SELECT pm_render_template('fine after strict_sql');
SET prompt_manager.error_handler = 'pm_h.strict_plpgsql';
SELECT pm_render_template('//bogus');
SELECT pm_render_template('fine after strict_plpgsql');

-- handlers that answer NULL: the render is SQL NULL
SET prompt_manager.error_handler = 'pm_h.null_sql';
SELECT pm_render_template('//bogus'), pm_render_template('//bogus') IS NULL AS is_null;
SELECT pm_render_template('fine after null_sql');
SET prompt_manager.error_handler = 'pm_h.case_sql';
SELECT pm_render_template('//bogus') IS NULL AS is_null;
SELECT pm_render_template('fine after case_sql');
SET prompt_manager.error_handler = 'pm_h.null_plpgsql';
SELECT pm_render_template('//bogus') IS NULL AS is_null;
SELECT pm_render_template('fine after null_plpgsql');

-- a handler that raises: its error is the render's
SET prompt_manager.error_handler = 'pm_h.raising';
SELECT pm_h.err($$SELECT pm_render_template('//bogus')$$);
SELECT pm_render_template('fine after raising');

-- a handler whose own render fails again: the stack depth limit, not a crash
SET prompt_manager.error_handler = 'pm_h.recursing';
SELECT pm_h.err($$SELECT pm_render_template('//bogus')$$);
SELECT pm_render_template('fine after recursing');

-- SECURITY DEFINER: runs as its owner, who may read what the caller may not
SELECT has_table_privilege('pm_h.fallbacks', 'SELECT') AS may_read_fallbacks;
SET prompt_manager.error_handler = 'pm_h.definer';
SELECT pm_render_template('//bogus');
SELECT current_user, pm_render_template('fine after definer');

-- a handler in a schema the role may not use, then may
SET prompt_manager.error_handler = 'pm_h_other.answer';
SELECT pm_h.err($$SELECT pm_render_template('//bogus')$$);
SELECT pm_render_template('fine after other schema, no usage');
RESET ROLE;
GRANT USAGE ON SCHEMA pm_h_other TO pm_h_nobody;
SET ROLE pm_h_nobody;
SELECT pm_render_template('//bogus');
SELECT pm_render_template('fine after other schema');
-- or found on the search_path
SET search_path = pm_h_other, public;
SET prompt_manager.error_handler = 'answer';
SELECT pm_render_template('//bogus');
RESET search_path;
SELECT pm_render_template('fine after search_path');

-- no EXECUTE privilege
RESET ROLE;
REVOKE EXECUTE ON FUNCTION pm_h_other.answer(text, text, text) FROM PUBLIC;
SET ROLE pm_h_nobody;
SET prompt_manager.error_handler = 'pm_h_other.answer';
SELECT pm_h.err($$SELECT pm_render_template('//bogus')$$);
SELECT pm_render_template('fine after no execute');

-- what is checked before the call: the name, the argument types, the kind
-- of routine, the return type
SET prompt_manager.error_handler = 'pm_h.no_such_function';
SELECT pm_h.err($$SELECT pm_render_template('//bogus')$$);
SET prompt_manager.error_handler = 'pg_catalog.split_part';  -- (text, text, integer)
SELECT pm_h.err($$SELECT pm_render_template('//bogus')$$);
SET prompt_manager.error_handler = 'pm_h.two_args';
SELECT pm_h.err($$SELECT pm_render_template('//bogus')$$);
SET prompt_manager.error_handler = 'pm_h.returns_int';
SELECT pm_h.err($$SELECT pm_render_template('//bogus')$$);
SET prompt_manager.error_handler = 'pm_h.returns_set';
SELECT pm_h.err($$SELECT pm_render_template('//bogus')$$);
SET prompt_manager.error_handler = 'pm_h.agg';
SELECT pm_h.err($$SELECT pm_render_template('//bogus')$$);
SET prompt_manager.error_handler = 'pm_h.proc';
SELECT pm_h.err($$SELECT pm_render_template('//bogus')$$);
SET prompt_manager.error_handler = 'not a "name';
SELECT pm_h.err($$SELECT pm_render_template('//bogus')$$);
SELECT pm_render_template('fine after bad signatures');

-- stored prompts: with SELECT on pm_prompts (the one privilege a render
-- needs), the handlers get the prompt id
RESET ROLE;
GRANT SELECT ON pm_prompts TO pm_h_nobody;
SET ROLE pm_h_nobody;
SET prompt_manager.error_handler = 'pg_catalog.replace';
-- replace(prompt_id, sqlstate, message)
SELECT pm_render('h/42704');
SET prompt_manager.error_handler = 'pg_catalog.translate';
SELECT pm_render('h/42704');
SET prompt_manager.error_handler = 'pm_h.strict_sql';
SELECT pm_render('h/nowhere');
SET prompt_manager.error_handler = 'pm_h.strict_plpgsql';
SELECT pm_render('h/nowhere');
SET prompt_manager.error_handler = 'pm_h.null_sql';
SELECT pm_render('h/nowhere'), pm_render('h/nowhere') IS NULL AS is_null;
SELECT pm_render('h/ok', '{"x": "after null_sql"}');
SET prompt_manager.error_handler = 'pm_h.case_sql';
-- '' for a missing prompt, NULL for anything else
SELECT pm_render('h/nowhere') = '' AS empty_text;
SELECT pm_render_template('//include h/nowhere') = '' AS empty_text;
SELECT pm_render_template('//include h/ok //bogus') IS NULL AS is_null;
SELECT pm_render('h/ok', '{"x": "after case_sql"}');
SET prompt_manager.error_handler = 'pm_h.null_plpgsql';
SELECT pm_render('h/nowhere') IS NULL AS is_null;
SET prompt_manager.error_handler = 'pm_h.raising';
SELECT pm_h.err($$SELECT pm_render('h/nowhere')$$);
SET prompt_manager.error_handler = 'pm_h.definer';
SELECT pm_render('h/nowhere');
-- (still no EXECUTE on it)
SET prompt_manager.error_handler = 'pm_h_other.answer';
SELECT pm_h.err($$SELECT pm_render('h/nowhere')$$);
-- a NULL answer in a query over many rows
SET prompt_manager.error_handler = 'pm_h.null_sql';
SELECT id, pm_render(id) FROM (VALUES ('h/ok'), ('h/nowhere'), ('h/ok')) AS v(id);
RESET prompt_manager.error_handler;
SELECT pm_render('h/ok', '{"x": "at the end"}');
RESET ROLE;

-- The support function of pm_bulk_render puts a call of
-- pm_bulk_render_rows, found by name, in its place: only the extension's
-- own.  A function of that name planted where the extension's was (by its
-- owner, in a transaction rolled back) is not used.
BEGIN;
ALTER EXTENSION prompt_manager DROP FUNCTION pm_bulk_render_rows(jsonb);
DROP FUNCTION pm_bulk_render_rows(jsonb);
CREATE FUNCTION pm_bulk_render_rows(requests jsonb) RETURNS integer
LANGUAGE sql AS 'SELECT 1';
SELECT regress.err($$SELECT pm_bulk_render('[{"prompt_id": "h/ok"}]')$$);
ROLLBACK;
SELECT pm_bulk_render('[{"prompt_id": "h/ok"}]');

DELETE FROM pm_prompts WHERE prompt_id LIKE 'h/%';
DROP SCHEMA pm_h, pm_h_other CASCADE;
REVOKE SELECT ON pm_prompts FROM pm_h_nobody;
DROP ROLE pm_h_nobody, pm_h_owner;
