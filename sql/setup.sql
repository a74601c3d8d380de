-- Installing the extension, and a helper the other tests use to show an
-- error's SQLSTATE, message, detail and hint on one line each.
CREATE EXTENSION prompt_manager;

-- everything the extension created, all prefixed pm_ (from PostgreSQL 17
-- on, the row and array types of its tables and views are members too:
-- expected/setup_1.out)
SELECT pg_describe_object(classid, objid, objsubid) AS object
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'prompt_manager')
  AND deptype = 'e'
ORDER BY 1;

-- all functions run as the caller
SELECT proname, prosecdef, provolatile, proisstrict
FROM pg_proc
WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'pm\_%'
ORDER BY proname;

CREATE SCHEMA regress;
CREATE FUNCTION regress.err(query text) RETURNS text
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
		|| CASE WHEN det <> '' AND det NOT LIKE 'Failing row contains%' THEN E'\nDETAIL: ' || det ELSE '' END
		|| CASE WHEN hnt <> '' THEN E'\nHINT: ' || hnt ELSE '' END;
END
$$;
