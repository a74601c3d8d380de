/* prompt_manager 0.1.0: prompt templates stored in a table, rendered in C */

\echo Use "CREATE EXTENSION prompt_manager" to load this file. \quit

-- Every object is schema-qualified with @extschema@ (or pg_catalog), so the
-- script is safe whatever search_path the installing role has.

-- A new value on every insert and update of a prompt (set by the trigger
-- below).  Caches key on it: two updates of one row in one transaction keep
-- the same xmin, but never the same revision.
CREATE SEQUENCE @extschema@.pm_prompts_revision_seq;

CREATE TABLE @extschema@.pm_prompts (
	prompt_id	text NOT NULL,
	content		text NOT NULL,
	parameters	jsonb NOT NULL DEFAULT '{}',
	metadata	jsonb NOT NULL DEFAULT '{}',
	category	text,
	status		text NOT NULL DEFAULT 'active',
	preload		boolean NOT NULL DEFAULT false,
	usage_count bigint NOT NULL DEFAULT 0,
	revision	bigint NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT pm_prompts_pkey PRIMARY KEY (prompt_id),
	-- letters, digits, '_', '-' and '/', not starting with '/'
	CONSTRAINT pm_prompts_prompt_id_check
		CHECK (prompt_id OPERATOR(pg_catalog.~) '^[A-Za-z0-9_-][A-Za-z0-9_/-]*$'),
	CONSTRAINT pm_prompts_prompt_id_length_check
		CHECK (pg_catalog.length(prompt_id) OPERATOR(pg_catalog.<=) 255),
	CONSTRAINT pm_prompts_parameters_check
		CHECK (pg_catalog.jsonb_typeof(parameters) OPERATOR(pg_catalog.=) 'object'),
	CONSTRAINT pm_prompts_metadata_check
		CHECK (pg_catalog.jsonb_typeof(metadata) OPERATOR(pg_catalog.=) 'object'),
	CONSTRAINT pm_prompts_usage_count_check
		CHECK (usage_count OPERATOR(pg_catalog.>=) 0)
);

COMMENT ON TABLE @extschema@.pm_prompts IS
	'prompt templates rendered by pm_render(); parameters holds stored defaults';
COMMENT ON COLUMN @extschema@.pm_prompts.parameters IS
	'default parameter values, {"[NAME]": "value"} or {"[NAME]": ["older", "newest"]}';
COMMENT ON COLUMN @extschema@.pm_prompts.revision IS
	'new value from pm_prompts_revision_seq on every insert and update';

-- Lookups of active prompts by id.
CREATE INDEX pm_prompts_active_idx ON @extschema@.pm_prompts (prompt_id)
	WHERE status OPERATOR(pg_catalog.=) 'active';
-- Full-text search over the content.
CREATE INDEX pm_prompts_content_fts_idx ON @extschema@.pm_prompts
	USING gin (pg_catalog.to_tsvector('pg_catalog.english'::pg_catalog.regconfig, content));
-- Metadata containment (@>).
CREATE INDEX pm_prompts_metadata_idx ON @extschema@.pm_prompts
	USING gin (metadata pg_catalog.jsonb_path_ops);
-- Most used, most recently updated first.
CREATE INDEX pm_prompts_usage_idx ON @extschema@.pm_prompts
	(usage_count DESC, updated_at DESC);
-- Listing by category and status.
CREATE INDEX pm_prompts_category_idx ON @extschema@.pm_prompts
	(category, status, updated_at DESC);

-- Explains an invalid prompt id before the check constraints reject it
-- with PostgreSQL's generic message (they stay, as the last line of
-- defence): the message names the id and the detail says what an id may
-- hold.  Checked on insert and when prompt_id changes; the constraint's
-- name is in the error's constraint field, as it would be.  A table owner
-- who dropped a constraint (to allow other ids) is not second-guessed: the
-- catalog is looked at only for an id that fails the check.
--
-- Stamps every inserted row, and every update of what a render reads
-- (prompt_id, content, parameters), with a new revision; every update but
-- one of usage_count alone sets updated_at.  Bookkeeping updates (usage_count, status, metadata, ...)
-- keep the revision.  An insert keeps the created_at/updated_at it is
-- given, so a pg_dump restore keeps the original times.
--
-- "Changes" means the stored bytes differ (record_image_ne, the function of
-- the *<> operator), not that the type's equality says so: jsonb calls
-- {"x": 9.9} and {"x": 9.90} equal and a nondeterministic collation calls
-- 'a' and 'A' equal, yet they render differently.  (jsonb stores keys
-- sorted and without duplicates, so a change of key order alone, or of
-- 1e2 into 100, stores the same bytes and keeps the revision.)
CREATE FUNCTION @extschema@.pm_prompts_stamp() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	too_long boolean;
	con text;
BEGIN
	IF (TG_OP = 'INSERT' OR NEW.prompt_id IS DISTINCT FROM OLD.prompt_id)
		AND NEW.prompt_id IS NOT NULL
		AND (pg_catalog.length(NEW.prompt_id) OPERATOR(pg_catalog.>) 255
			OR NEW.prompt_id OPERATOR(pg_catalog.!~) '^[A-Za-z0-9_-][A-Za-z0-9_/-]*$')
	THEN
		too_long := pg_catalog.length(NEW.prompt_id) OPERATOR(pg_catalog.>) 255;
		con := CASE WHEN too_long THEN 'pm_prompts_prompt_id_length_check'
			ELSE 'pm_prompts_prompt_id_check' END;
		IF EXISTS (SELECT FROM pg_catalog.pg_constraint AS c
				   WHERE c.conrelid OPERATOR(pg_catalog.=) TG_RELID
					 AND c.conname OPERATOR(pg_catalog.=) con)
		THEN
			RAISE EXCEPTION USING
				ERRCODE = 'check_violation',
				MESSAGE = CASE WHEN too_long
					THEN pg_catalog.format('prompt id is too long (%s characters)',
										   pg_catalog.length(NEW.prompt_id))
					ELSE pg_catalog.format('invalid prompt id "%s"', NEW.prompt_id) END,
				DETAIL = 'A prompt id is 1 to 255 characters: ASCII letters, digits, "_", "-" and "/", not starting with "/".',
				HINT = 'For example "greet" or "team/support/reply".',
				SCHEMA = TG_TABLE_SCHEMA,
				TABLE = TG_TABLE_NAME,
				COLUMN = 'prompt_id',
				CONSTRAINT = con;
		END IF;
	END IF;
	IF TG_OP = 'INSERT'
		OR pg_catalog.record_image_ne(
			ROW(NEW.prompt_id, NEW.content, NEW.parameters, NEW.revision),
			ROW(OLD.prompt_id, OLD.content, OLD.parameters, OLD.revision))
	THEN
		NEW.revision := pg_catalog.nextval('@extschema@.pm_prompts_revision_seq'::pg_catalog.regclass);
	END IF;
	-- pm_flush_usage() changes usage_count only: not an edit of the prompt
	IF TG_OP = 'UPDATE' AND pg_catalog.record_image_ne(
		ROW(NEW.prompt_id, NEW.content, NEW.parameters, NEW.metadata, NEW.category,
			NEW.status, NEW.preload, NEW.updated_at),
		ROW(OLD.prompt_id, OLD.content, OLD.parameters, OLD.metadata, OLD.category,
			OLD.status, OLD.preload, OLD.updated_at))
	THEN
		NEW.updated_at := pg_catalog.now();
	END IF;
	RETURN NEW;
END
$$;

CREATE TRIGGER pm_prompts_stamp
	BEFORE INSERT OR UPDATE ON @extschema@.pm_prompts
	FOR EACH ROW EXECUTE FUNCTION @extschema@.pm_prompts_stamp();
-- Also under session_replication_role = replica (a logical replication
-- subscriber applying changes, a tool that sets it): a change that kept its
-- revision would let caches serve the old text.
ALTER TABLE @extschema@.pm_prompts ENABLE ALWAYS TRIGGER pm_prompts_stamp;

-- Keep users' prompts (and the revision counter) in pg_dump.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pm_prompts', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pm_prompts_revision_seq', '');

-- DROP EXTENSION prompt_manager drops pm_prompts with the extension: this
-- event trigger refuses it while the table holds prompts, unless the
-- statement says CASCADE (see src/pm_guard.c and README.md).  A member of
-- the extension, so pg_dump leaves it to CREATE EXTENSION; ENABLE ALWAYS
-- so that session_replication_role = replica does not silence it.
CREATE FUNCTION @extschema@.pm_drop_guard() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'pm_drop_guard'
LANGUAGE C;

CREATE EVENT TRIGGER pm_drop_guard ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION')
	EXECUTE FUNCTION @extschema@.pm_drop_guard();
ALTER EVENT TRIGGER pm_drop_guard ENABLE ALWAYS;
-- an event trigger runs its function without checking EXECUTE
REVOKE ALL ON FUNCTION @extschema@.pm_drop_guard() FROM PUBLIC;

-- Rendering.  All functions run as the caller (SECURITY INVOKER): they read
-- pm_prompts with the caller's privileges and row-level security policies.

CREATE FUNCTION @extschema@.pm_render(prompt_id text, params jsonb DEFAULT '{}')
RETURNS text
AS 'MODULE_PATHNAME', 'pm_render'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.pm_render(text, jsonb) IS
	'render a stored prompt with parameters (params override the stored defaults)';

CREATE FUNCTION @extschema@.pm_render_template(template text, params jsonb DEFAULT '{}')
RETURNS text
AS 'MODULE_PATHNAME', 'pm_render_template'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.pm_render_template(text, jsonb) IS
	'render a template given inline; its includes resolve against pm_prompts';

CREATE FUNCTION @extschema@.pm_keywords(prompt_id text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'pm_keywords'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.pm_keywords(text) IS
	'keywords a prompt and its includes expect, in first-use order';

-- The shared render cache (needs shared_preload_libraries = 'prompt_manager').

CREATE FUNCTION @extschema@.pm_invalidate(prompt_id text DEFAULT NULL, params jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pm_invalidate'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.pm_invalidate(text, jsonb) IS
	'drop cached renderings of this database: of one prompt and params, of one prompt and what includes it, or all; returns how many';

CREATE FUNCTION @extschema@.pm_cache_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'pm_cache_reset_all'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.pm_cache_reset() IS
	'drop every cached rendering of every database and reset the pm_cache counters';

CREATE FUNCTION @extschema@.pm_cache_stats(
	OUT enabled boolean, OUT status text,
	OUT entries bigint, OUT bytes_used bigint, OUT capacity_bytes bigint,
	OUT max_entries bigint, OUT hits bigint, OUT misses bigint,
	OUT inserts bigint, OUT evictions bigint, OUT expirations bigint,
	OUT invalidations bigint, OUT skipped bigint, OUT stats_reset timestamptz,
	OUT bytes_free bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'pm_cache_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW @extschema@.pm_cache AS
	SELECT enabled, status, entries, bytes_used, capacity_bytes, bytes_free,
		max_entries, hits, misses, inserts, evictions, expirations,
		invalidations, skipped, stats_reset
	FROM @extschema@.pm_cache_stats();

COMMENT ON VIEW @extschema@.pm_cache IS
	'the shared render cache: whether it is on (and why not), memory, counters';

CREATE FUNCTION @extschema@.pm_cache_entries(
	OUT dbid oid, OUT prompt_id text, OUT version bigint, OUT bytes bigint,
	OUT hits bigint, OUT created_at timestamptz, OUT age interval)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pm_cache_entries'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW @extschema@.pm_cache_entries AS
	SELECT * FROM @extschema@.pm_cache_entries();

COMMENT ON VIEW @extschema@.pm_cache_entries IS
	'one row per cached rendering (prompt_id is NULL for inline templates)';

-- Resetting shared state, and listing what every database has cached, are
-- for the DBA: grant them to the roles that need them.
REVOKE ALL ON FUNCTION @extschema@.pm_cache_reset() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pm_invalidate(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pm_cache_entries() FROM PUBLIC;
REVOKE ALL ON @extschema@.pm_cache_entries FROM PUBLIC;

-- Many renders in one call (see README.md).

-- pm_bulk_render_rows does the work, one row per call.  pm_bulk_render is
-- a SQL function that the planner inlines when it is called in FROM (it is
-- STABLE, not STRICT, has no SET clause and names everything with its
-- schema): the C function then runs in a ProjectSet node and its rows
-- stream to the query one at a time, instead of going through the
-- tuplestore in which the executor keeps every row of a function scan
-- (written to disk past work_mem).  OFFSET 0 keeps the set-returning call
-- in a subquery of its own, so that it runs once per request, not once per
-- column.  Where it cannot be inlined (a SELECT list, or an argument with
-- a sub-select), its support function replaces the call with one of
-- pm_bulk_render_rows, so that it never runs as a (slower) SQL function.

CREATE FUNCTION @extschema@.pm_bulk_render_rows(requests jsonb)
RETURNS TABLE(ord bigint, prompt_id text, ok boolean, result text, error text, sqlstate text)
AS 'MODULE_PATHNAME', 'pm_bulk_render_rows'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED ROWS 100;

COMMENT ON FUNCTION @extschema@.pm_bulk_render_rows(jsonb) IS
	'the rows of pm_bulk_render, one per call: call pm_bulk_render instead';

CREATE FUNCTION @extschema@.pm_bulk_render_support(internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'pm_bulk_render_support'
LANGUAGE C IMMUTABLE STRICT;

CREATE FUNCTION @extschema@.pm_bulk_render(requests jsonb)
RETURNS TABLE(ord bigint, prompt_id text, ok boolean, result text, error text, sqlstate text)
LANGUAGE sql STABLE PARALLEL RESTRICTED ROWS 100
SUPPORT @extschema@.pm_bulk_render_support
AS $$
SELECT (r).ord, (r).prompt_id, (r).ok, (r).result, (r).error, (r).sqlstate
FROM (SELECT @extschema@.pm_bulk_render_rows($1) AS r OFFSET 0) AS s
$$;

COMMENT ON FUNCTION @extschema@.pm_bulk_render(jsonb) IS
	'render [{"prompt_id": ..., "parameters": {...}}, ...]: one row per request, in order; a bad request gives ok = false with its error';

CREATE FUNCTION @extschema@.pm_render_lines(prompt_id text, params jsonb DEFAULT '{}')
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'pm_render_lines'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED ROWS 1000;

COMMENT ON FUNCTION @extschema@.pm_render_lines(text, jsonb) IS
	'the rendering of a stored prompt, one row per line, streamed without building the whole text';

-- Reading and search.  SQL functions, inlined by the planner (no SET
-- clause, every name schema-qualified), so that the indexes of pm_prompts
-- serve them and EXPLAIN shows it.

CREATE FUNCTION @extschema@.pm_get(prompt_id text)
RETURNS SETOF @extschema@.pm_prompts
LANGUAGE sql STABLE PARALLEL SAFE ROWS 1
AS $$
	SELECT p.* FROM @extschema@.pm_prompts AS p
	WHERE p.prompt_id OPERATOR(pg_catalog.=) $1
$$;

COMMENT ON FUNCTION @extschema@.pm_get(text) IS
	'one prompt: content, parameters, metadata, revision and times';

CREATE FUNCTION @extschema@.pm_search(query text DEFAULT NULL, metadata jsonb DEFAULT NULL,
	category text DEFAULT NULL, status text DEFAULT 'active', max_results integer DEFAULT 20)
RETURNS TABLE(prompt_id text, prompt_category text, prompt_status text,
	prompt_metadata jsonb, rank real, updated_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT p.prompt_id, p.category, p.status, p.metadata,
		CASE WHEN $1 IS NULL THEN NULL::real
			ELSE pg_catalog.ts_rank(pg_catalog.to_tsvector('pg_catalog.english'::pg_catalog.regconfig, p.content),
				pg_catalog.websearch_to_tsquery('pg_catalog.english'::pg_catalog.regconfig, $1)) END,
		p.updated_at
	FROM @extschema@.pm_prompts AS p
	WHERE ($1 IS NULL OR pg_catalog.to_tsvector('pg_catalog.english'::pg_catalog.regconfig, p.content)
			OPERATOR(pg_catalog.@@) pg_catalog.websearch_to_tsquery('pg_catalog.english'::pg_catalog.regconfig, $1))
		AND ($2 IS NULL OR p.metadata OPERATOR(pg_catalog.@>) $2)
		AND ($3 IS NULL OR p.category OPERATOR(pg_catalog.=) $3)
		AND ($4 IS NULL OR p.status OPERATOR(pg_catalog.=) $4)
	ORDER BY 5 DESC NULLS LAST, p.updated_at DESC, p.prompt_id
	LIMIT $5
$$;

COMMENT ON FUNCTION @extschema@.pm_search(text, jsonb, text, text, integer) IS
	'full-text search (websearch syntax, ranked) with metadata containment, category and status filters';

-- Preloading the shared cache.

CREATE FUNCTION @extschema@.pm_preload(prompt_ids text[] DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'pm_preload'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.pm_preload(text[]) IS
	'render prompts (default: those with preload = true) with their stored parameters into the shared cache; returns how many';

-- Statistics per prompt (need shared_preload_libraries = 'prompt_manager').

CREATE FUNCTION @extschema@.pm_stats_rows(
	OUT dbid oid, OUT prompt_id text, OUT renders bigint, OUT cache_hits bigint,
	OUT errors bigint, OUT timed_renders bigint, OUT total_time_ms double precision,
	OUT mean_time_ms double precision, OUT max_time_ms double precision,
	OUT bytes bigint, OUT last_render timestamptz, OUT kind text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pm_stats_rows_fn'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW @extschema@.pm_stats AS
	SELECT * FROM @extschema@.pm_stats_rows();

COMMENT ON VIEW @extschema@.pm_stats IS
	'renders per database and prompt: cache hits, errors, render time (every miss and one in 32 hits timed), bytes';

CREATE FUNCTION @extschema@.pm_stats_info(
	OUT entries bigint, OUT max_entries bigint, OUT evicted bigint, OUT dropped bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'pm_stats_info_fn'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.pm_stats_info() IS
	'entries in pm_stats and its maximum; entries evicted, renders dropped because nothing could be evicted';

CREATE FUNCTION @extschema@.pm_stats_reset(prompt_id text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pm_stats_reset_fn'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.pm_stats_reset(text) IS
	'forget the statistics of one prompt of this database, or of everything (NULL); returns how many entries';

CREATE FUNCTION @extschema@.pm_frequent_prompts(max_results integer DEFAULT 100)
RETURNS TABLE(prompt_id text, renders bigint, cache_hits bigint, last_render timestamptz)
LANGUAGE sql STABLE PARALLEL RESTRICTED
AS $$
	SELECT s.prompt_id, s.renders, s.cache_hits, s.last_render
	FROM @extschema@.pm_stats AS s
	WHERE s.dbid OPERATOR(pg_catalog.=)
		(SELECT d.oid FROM pg_catalog.pg_database AS d
		 WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
		AND s.prompt_id IS NOT NULL
	ORDER BY s.renders DESC, s.prompt_id
	LIMIT $1
$$;

COMMENT ON FUNCTION @extschema@.pm_frequent_prompts(integer) IS
	'the most rendered prompts of this database';

CREATE FUNCTION @extschema@.pm_flush_usage()
RETURNS bigint
AS 'MODULE_PATHNAME', 'pm_flush_usage'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.pm_flush_usage() IS
	'add the renders counted since the last flush to pm_prompts.usage_count; returns how many';

-- Statistics name the prompts of every database: for the DBA and the roles
-- it grants them to.  Resetting them is for the DBA.
REVOKE ALL ON FUNCTION @extschema@.pm_stats_rows() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pm_stats_info() FROM PUBLIC;
REVOKE ALL ON @extschema@.pm_stats FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pm_stats_reset(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pm_frequent_prompts(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pm_flush_usage() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pm_preload(text[]) FROM PUBLIC;
