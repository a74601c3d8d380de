/* prompt_manager 0.1.0 to 0.2.0 */

\echo Use "ALTER EXTENSION prompt_manager UPDATE TO '0.2.0'" to load this file. \quit

-- CREATE EXTENSION prompt_manager installs 0.1.0 and then runs this script,
-- so a new installation and an upgraded one are the same by construction.
-- Every object is schema-qualified with @extschema@ (or pg_catalog), as in
-- the 0.1.0 script.  Each part below is headed by what it is for.

-- versions and labels: the tables (see docs/versions.md).  The functions
-- and triggers that keep them follow in their own parts.

-- Every text a prompt has had, immutable.  Version n+1 is added by the
-- trigger pm_prompts_version below, in the transaction that changed the
-- head.  revision is the head's revision the version was copied from
-- (unique, from pm_prompts_revision_seq): caches key on it, as on the
-- head's.
CREATE TABLE @extschema@.pm_prompt_versions (
	prompt_id	text NOT NULL,
	version		integer NOT NULL,
	content		text NOT NULL,
	parameters	jsonb NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	created_by	name NOT NULL DEFAULT CURRENT_USER,
	revision	bigint NOT NULL,
	CONSTRAINT pm_prompt_versions_pkey PRIMARY KEY (prompt_id, version),
	CONSTRAINT pm_prompt_versions_version_check
		CHECK (version OPERATOR(pg_catalog.>=) 1)
);
COMMENT ON TABLE @extschema@.pm_prompt_versions IS
	'every text of every prompt, immutable; version 1, 2, 3, ... per prompt';

-- Where each label of a prompt points.  The foreign key keeps a labelled
-- version from being pruned.
CREATE TABLE @extschema@.pm_labels (
	prompt_id	text NOT NULL,
	label		text NOT NULL,
	version		integer NOT NULL,
	moved_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	moved_by	name NOT NULL DEFAULT CURRENT_USER,
	CONSTRAINT pm_labels_pkey PRIMARY KEY (prompt_id, label),
	CONSTRAINT pm_labels_version_fkey FOREIGN KEY (prompt_id, version)
		REFERENCES @extschema@.pm_prompt_versions (prompt_id, version),
	-- never looks like a version number
	CONSTRAINT pm_labels_label_check
		CHECK (label OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_-]*$'
			   AND pg_catalog.length(label) OPERATOR(pg_catalog.<=) 63)
);
COMMENT ON TABLE @extschema@.pm_labels IS
	'movable names of prompt versions (production, staging, ...)';

-- Every move of a label, append-only.  move_id orders the moves (several
-- in one transaction share its txid); from_version is NULL for a label's
-- first setting, to_version NULL for its removal.
CREATE TABLE @extschema@.pm_label_history (
	move_id		bigint GENERATED ALWAYS AS IDENTITY,
	prompt_id	text NOT NULL,
	label		text NOT NULL,
	from_version integer,
	to_version	integer,
	moved_at	timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	moved_by	name NOT NULL DEFAULT CURRENT_USER,
	txid		xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
	CONSTRAINT pm_label_history_pkey PRIMARY KEY (move_id)
);
CREATE INDEX pm_label_history_label_idx ON @extschema@.pm_label_history
	(prompt_id, label, move_id);
COMMENT ON TABLE @extschema@.pm_label_history IS
	'every move of every label, append-only';

-- Labels that only members of a role may set, move or remove.
CREATE TABLE @extschema@.pm_protected_labels (
	label		text NOT NULL,
	role		name NOT NULL,
	CONSTRAINT pm_protected_labels_pkey PRIMARY KEY (label)
);
COMMENT ON TABLE @extschema@.pm_protected_labels IS
	'labels whose moves require membership in role';

-- Existing prompts: each gets version 1, its current text.
INSERT INTO @extschema@.pm_prompt_versions
	(prompt_id, version, content, parameters, created_at, created_by, revision)
SELECT p.prompt_id, 1, p.content, p.parameters, p.updated_at, CURRENT_USER, p.revision
FROM @extschema@.pm_prompts AS p;

-- The next version of a prompt, on every insert and on every update that
-- gave the head a new revision (pm_prompts_stamp gives one exactly when
-- prompt_id, content or parameters change, byte for byte).  Not when the
-- newest version already holds the same bytes: a prompt deleted and
-- inserted again with its last text, or a restore that brings the
-- versions back before the heads, adds nothing.
CREATE FUNCTION @extschema@.pm_prompts_version() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	newest record;
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.revision OPERATOR(pg_catalog.=) OLD.revision THEN
		RETURN NULL;
	END IF;
	SELECT v.version, v.content, v.parameters INTO newest
	FROM @extschema@.pm_prompt_versions AS v
	WHERE v.prompt_id OPERATOR(pg_catalog.=) NEW.prompt_id
	ORDER BY v.version DESC
	LIMIT 1;
	IF FOUND AND NOT pg_catalog.record_image_ne(
			ROW(newest.content, newest.parameters),
			ROW(NEW.content, NEW.parameters)) THEN
		RETURN NULL;
	END IF;
	INSERT INTO @extschema@.pm_prompt_versions
		(prompt_id, version, content, parameters, revision)
	VALUES (NEW.prompt_id, COALESCE(newest.version, 0) OPERATOR(pg_catalog.+) 1,
			NEW.content, NEW.parameters, NEW.revision);
	RETURN NULL;
END
$$;

CREATE TRIGGER pm_prompts_version
	AFTER INSERT OR UPDATE ON @extschema@.pm_prompts
	FOR EACH ROW EXECUTE FUNCTION @extschema@.pm_prompts_version();
ALTER TABLE @extschema@.pm_prompts ENABLE ALWAYS TRIGGER pm_prompts_version;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.pm_prompt_versions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pm_labels', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pm_label_history', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pm_label_history_move_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pm_protected_labels', '');
-- parallel renders (issue #11): the renders run in parallel workers.  A
-- worker shares the leader's snapshot, reads pm_prompts as the leader's
-- role would, uses the shared cache, flushes its statistics before it ends,
-- and answers failures through prompt_manager.error_handler without a
-- subtransaction (docs/functions.md#parallel-queries).  pm_bulk_render
-- promises a row for any failure of a request, which needs a
-- subtransaction per request, and parallel mode allows none: it becomes
-- PARALLEL UNSAFE, so that a statement calling it never runs in parallel
-- mode (under PARALLEL RESTRICTED it failed whenever its statement had a
-- parallel plan).
ALTER FUNCTION @extschema@.pm_render(text, jsonb) PARALLEL SAFE;
ALTER FUNCTION @extschema@.pm_render_template(text, jsonb) PARALLEL SAFE;
ALTER FUNCTION @extschema@.pm_keywords(text) PARALLEL SAFE;
ALTER FUNCTION @extschema@.pm_render_lines(text, jsonb) PARALLEL SAFE;
ALTER FUNCTION @extschema@.pm_bulk_render(jsonb) PARALLEL UNSAFE;
ALTER FUNCTION @extschema@.pm_bulk_render_rows(jsonb) PARALLEL UNSAFE;

-- versions and labels, the render side: references ("id", "id@3",
-- "id@production") are taken by pm_render, pm_render_lines, pm_keywords,
-- pm_bulk_render requests and //include lines with no change of signature
-- (see docs/versions-render.md); the functions below are new.  All run as
-- the caller (SECURITY INVOKER) and read the tables with the caller's
-- privileges and row-level security policies.

CREATE FUNCTION @extschema@.pm_resolve(ref text, params jsonb DEFAULT '{}')
RETURNS TABLE(prompt_id text, version integer, depth integer, included_by text)
AS 'MODULE_PATHNAME', 'pm_resolve'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED ROWS 10;

COMMENT ON FUNCTION @extschema@.pm_resolve(text, jsonb) IS
	'the prompt versions a render of ref reads, root first, in render order';

CREATE FUNCTION @extschema@.pm_publish(prompt_id text, label text)
RETURNS integer
AS 'MODULE_PATHNAME', 'pm_publish'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.pm_publish(text, text) IS
	'point label at the current version of a prompt and of every prompt it includes; returns how many labels moved';

CREATE FUNCTION @extschema@.pm_render_as_of(ref text, params jsonb, at timestamptz)
RETURNS text
AS 'MODULE_PATHNAME', 'pm_render_as_of'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.pm_render_as_of(text, jsonb, timestamptz) IS
	'render ref as it rendered at a past time: labels from pm_label_history, heads from pm_prompt_versions';
