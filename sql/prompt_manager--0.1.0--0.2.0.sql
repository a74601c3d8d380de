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

-- The trigger that adds the next version of a prompt is in the part
-- "versions and labels: the data layer" below.

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

-- versions and labels: the data layer (docs/versions.md).  The triggers
-- that write versions and moves, immutability, protected labels, and
-- pm_set_label, pm_remove_label, pm_rollback, pm_prune_versions.

-- pm_prompt_versions and pm_label_history are written only by these C
-- triggers (src/pm_versions.c), which run their queries as the tables'
-- owner and record the role that fired them: no role needs, or should
-- get, INSERT on either table, so no client can forge a version or a
-- move.  EXECUTE is revoked so that no one attaches them to a table of
-- their own (they refuse any table but the extension's, too).
CREATE FUNCTION @extschema@.pm_prompts_version() RETURNS trigger
AS 'MODULE_PATHNAME', 'pm_prompts_version'
LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@.pm_prompts_version() FROM PUBLIC;

-- The next version on every insert and on every update that gave the head
-- a new revision (pm_prompts_stamp gives one exactly when prompt_id,
-- content or parameters change, byte for byte); none when the newest
-- version already holds the same bytes (a prompt deleted and inserted
-- again with its last text, a restore).  created_by is the editor.
CREATE TRIGGER pm_prompts_version
	AFTER INSERT OR UPDATE ON @extschema@.pm_prompts
	FOR EACH ROW EXECUTE FUNCTION @extschema@.pm_prompts_version();
ALTER TABLE @extschema@.pm_prompts ENABLE ALWAYS TRIGGER pm_prompts_version;
-- After pm_prompts_stamp (triggers fire in name order): an inserted head
-- whose bytes equal its newest version's takes that version's revision, so
-- that a restored head has the revision it had in the dump.
CREATE TRIGGER pm_prompts_version_revision
	BEFORE INSERT ON @extschema@.pm_prompts
	FOR EACH ROW EXECUTE FUNCTION @extschema@.pm_prompts_version();
ALTER TABLE @extschema@.pm_prompts ENABLE ALWAYS TRIGGER pm_prompts_version_revision;

-- Versions are immutable, and the newest version of a prompt is never
-- deleted, so that a version number never names two texts.  Even for the
-- owner; TRUNCATE (which fires no row trigger) is the owner's escape hatch.
CREATE FUNCTION @extschema@.pm_prompt_versions_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'UPDATE' THEN
		RAISE EXCEPTION USING
			ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'versions of prompts cannot be changed',
			DETAIL = format('Version %s of prompt "%s" is immutable.', OLD.version, OLD.prompt_id),
			HINT = 'Edit the head in pm_prompts instead: the change adds the next version.';
	END IF;
	IF OLD.version >= (SELECT max(v.version) FROM @extschema@.pm_prompt_versions AS v
					   WHERE v.prompt_id = OLD.prompt_id) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = format('cannot delete the newest version of prompt "%s"', OLD.prompt_id),
			DETAIL = format('Version %s is the newest version of prompt "%s": it is kept, so that its number is never given to another text.',
							OLD.version, OLD.prompt_id),
			HINT = 'pm_prune_versions deletes the older versions that no label and no foreign key refers to.';
	END IF;
	RETURN OLD;
END
$$;

CREATE TRIGGER pm_prompt_versions_guard
	BEFORE UPDATE OR DELETE ON @extschema@.pm_prompt_versions
	FOR EACH ROW EXECUTE FUNCTION @extschema@.pm_prompt_versions_guard();
ALTER TABLE @extschema@.pm_prompt_versions ENABLE ALWAYS TRIGGER pm_prompt_versions_guard;

-- The history is append-only, even for the owner (TRUNCATE empties it).
CREATE FUNCTION @extschema@.pm_label_history_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION USING
		ERRCODE = 'object_not_in_prerequisite_state',
		MESSAGE = 'pm_label_history is append-only',
		DETAIL = format('Move %s of label "%s" of prompt "%s" cannot be changed or deleted.',
						OLD.move_id, OLD.label, OLD.prompt_id),
		HINT = 'The owner of the table can empty it with TRUNCATE.';
END
$$;

CREATE TRIGGER pm_label_history_guard
	BEFORE UPDATE OR DELETE ON @extschema@.pm_label_history
	FOR EACH ROW EXECUTE FUNCTION @extschema@.pm_label_history_guard();
ALTER TABLE @extschema@.pm_label_history ENABLE ALWAYS TRIGGER pm_label_history_guard;

-- Every write of pm_labels, through the functions below or directly:
-- protected labels checked, moved_at/moved_by stamped (BEFORE), and each
-- move recorded in pm_label_history (AFTER).  ENABLE ALWAYS, as the
-- version trigger: session_replication_role = replica silences neither.
CREATE FUNCTION @extschema@.pm_labels_guard() RETURNS trigger
AS 'MODULE_PATHNAME', 'pm_labels_guard'
LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@.pm_labels_guard() FROM PUBLIC;
CREATE FUNCTION @extschema@.pm_labels_history() RETURNS trigger
AS 'MODULE_PATHNAME', 'pm_labels_history'
LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@.pm_labels_history() FROM PUBLIC;

CREATE TRIGGER pm_labels_guard
	BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.pm_labels
	FOR EACH ROW EXECUTE FUNCTION @extschema@.pm_labels_guard();
ALTER TABLE @extschema@.pm_labels ENABLE ALWAYS TRIGGER pm_labels_guard;
CREATE TRIGGER pm_labels_history
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.pm_labels
	FOR EACH ROW EXECUTE FUNCTION @extschema@.pm_labels_history();
ALTER TABLE @extschema@.pm_labels ENABLE ALWAYS TRIGGER pm_labels_history;

-- The arguments every label function takes: an error for a NULL prompt id
-- or label, and for a label that is not [a-z][a-z0-9_-]*, 63 characters at
-- most (pm_labels_label_check), so that a label never reads as a version.
CREATE FUNCTION @extschema@.pm_check_label(prompt_id text, label text) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF $1 IS NULL OR $2 IS NULL THEN
		RAISE EXCEPTION USING
			ERRCODE = 'null_value_not_allowed',
			MESSAGE = CASE WHEN $1 IS NULL THEN 'prompt id must not be null'
					  ELSE 'label must not be null' END;
	END IF;
	IF $2 !~ '^[a-z][a-z0-9_-]*$' OR length($2) > 63 THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('invalid label "%s"', $2),
			DETAIL = 'A label is 1 to 63 characters: lower-case ASCII letters, digits, "_" and "-", starting with a letter, so that it never reads as a version number.',
			HINT = 'For example "production" or "staging".';
	END IF;
END
$$;

-- Points label at version of prompt_id (NULL: the version that holds the
-- head's current text) and returns the version.  As the caller: it needs
-- SELECT on pm_prompts (for NULL) and pm_prompt_versions, and SELECT,
-- INSERT, UPDATE on pm_labels.
CREATE FUNCTION @extschema@.pm_set_label(prompt_id text, label text, version integer DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v integer := $3;
	lo integer;
	hi integer;
BEGIN
	PERFORM @extschema@.pm_check_label($1, $2);
	IF v IS NULL THEN
		SELECT ver.version INTO v
		FROM @extschema@.pm_prompts AS p
		JOIN @extschema@.pm_prompt_versions AS ver ON ver.prompt_id = p.prompt_id
		WHERE p.prompt_id = $1
		  AND NOT record_image_ne(ROW(ver.content, ver.parameters), ROW(p.content, p.parameters))
		ORDER BY ver.version DESC
		LIMIT 1;
		IF NOT FOUND THEN
			IF NOT EXISTS (SELECT FROM @extschema@.pm_prompts AS p WHERE p.prompt_id = $1) THEN
				RAISE EXCEPTION USING
					ERRCODE = 'undefined_object',
					MESSAGE = format('prompt "%s" does not exist', $1),
					HINT = 'Without a version, pm_set_label labels the version of the head in pm_prompts; give a version to label one of a prompt without a head.';
			END IF;
			RAISE EXCEPTION USING
				ERRCODE = 'object_not_in_prerequisite_state',
				MESSAGE = format('the head of prompt "%s" has no version', $1),
				DETAIL = 'No row of pm_prompt_versions holds its content and parameters.',
				HINT = 'Give the version to label.';
		END IF;
	ELSIF NOT EXISTS (SELECT FROM @extschema@.pm_prompt_versions AS ver
					  WHERE ver.prompt_id = $1 AND ver.version = v) THEN
		SELECT min(ver.version), max(ver.version) INTO lo, hi
		FROM @extschema@.pm_prompt_versions AS ver WHERE ver.prompt_id = $1;
		IF hi IS NULL THEN
			RAISE EXCEPTION USING
				ERRCODE = 'undefined_object',
				MESSAGE = format('prompt "%s" does not exist', $1),
				DETAIL = 'It has no versions.';
		END IF;
		RAISE EXCEPTION USING
			ERRCODE = 'undefined_object',
			MESSAGE = format('version %s of prompt "%s" does not exist', v, $1),
			DETAIL = CASE WHEN lo = hi
				THEN format('Prompt "%s" has version %s only.', $1, hi)
				ELSE format('The versions of prompt "%s" go from %s to %s; pm_prompt_versions lists those not pruned.', $1, lo, hi) END;
	END IF;
	INSERT INTO @extschema@.pm_labels AS l (prompt_id, label, version)
	VALUES ($1, $2, v)
	ON CONFLICT ON CONSTRAINT pm_labels_pkey DO UPDATE SET version = EXCLUDED.version;
	RETURN v;
END
$$;

-- Removes label from prompt_id; true when it existed, false when there was
-- nothing to remove.  Needs SELECT and DELETE on pm_labels.
CREATE FUNCTION @extschema@.pm_remove_label(prompt_id text, label text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM @extschema@.pm_check_label($1, $2);
	DELETE FROM @extschema@.pm_labels AS l WHERE l.prompt_id = $1 AND l.label = $2;
	RETURN FOUND;
END
$$;

-- Moves label back to the version it pointed to before its last move (as
-- recorded in pm_label_history) and returns it; a second rollback undoes
-- the first.  The label's row is locked first, so a rollback racing a move
-- sees that move's history once it committed.  Needs SELECT, UPDATE on
-- pm_labels, SELECT on pm_label_history and pm_prompt_versions.
CREATE FUNCTION @extschema@.pm_rollback(prompt_id text, label text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cur integer;
	last record;
BEGIN
	PERFORM @extschema@.pm_check_label($1, $2);
	SELECT l.version INTO cur FROM @extschema@.pm_labels AS l
	WHERE l.prompt_id = $1 AND l.label = $2
	FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING
			ERRCODE = 'undefined_object',
			MESSAGE = format('label "%s" of prompt "%s" does not exist', $2, $1),
			HINT = 'pm_label_history shows where it pointed; pm_set_label sets it again.';
	END IF;
	SELECT h.from_version, h.to_version INTO last
	FROM @extschema@.pm_label_history AS h
	WHERE h.prompt_id = $1 AND h.label = $2
	ORDER BY h.move_id DESC
	LIMIT 1;
	IF NOT FOUND OR last.to_version IS DISTINCT FROM cur THEN
		RAISE EXCEPTION USING
			ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = format('label "%s" of prompt "%s" has no earlier version', $2, $1),
			DETAIL = format('pm_label_history records no move that set it to version %s.', cur),
			HINT = 'pm_set_label points it at a version.';
	END IF;
	IF last.from_version IS NULL THEN
		RAISE EXCEPTION USING
			ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = format('label "%s" of prompt "%s" has no earlier version', $2, $1),
			DETAIL = format('Its last move set it for the first time, to version %s.', cur),
			HINT = 'pm_remove_label removes it; pm_set_label points it at another version.';
	END IF;
	IF NOT EXISTS (SELECT FROM @extschema@.pm_prompt_versions AS ver
				   WHERE ver.prompt_id = $1 AND ver.version = last.from_version) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'undefined_object',
			MESSAGE = format('version %s of prompt "%s" does not exist', last.from_version, $1),
			DETAIL = format('Label "%s" pointed to it before its last move; it was pruned since.', $2),
			HINT = 'pm_set_label points the label at another version.';
	END IF;
	UPDATE @extschema@.pm_labels AS l SET version = last.from_version
	WHERE l.prompt_id = $1 AND l.label = $2;
	RETURN last.from_version;
END
$$;

-- Deletes the versions of prompt_id older than its keep newest, except
-- those a foreign key refers to (a label, or a row of any table that
-- references pm_prompt_versions), and returns how many it deleted.  The
-- referencing tables are found in pg_constraint and read with the
-- caller's privileges: a referencing row that row-level security hides
-- from the caller makes the delete fail with the foreign key's error
-- rather than skip the version.  Needs SELECT and DELETE on
-- pm_prompt_versions and SELECT on each referencing table.
CREATE FUNCTION @extschema@.pm_prune_versions(prompt_id text, keep integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	oldest_kept integer;
	refs text := '';
	fk record;
	n integer;
BEGIN
	IF $1 IS NULL OR $2 IS NULL THEN
		RAISE EXCEPTION USING
			ERRCODE = 'null_value_not_allowed',
			MESSAGE = CASE WHEN $1 IS NULL THEN 'prompt id must not be null'
					  ELSE 'keep must not be null' END;
	END IF;
	IF $2 < 1 THEN
		RAISE EXCEPTION USING
			ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('keep must be at least 1, not %s', $2),
			DETAIL = 'The newest version of a prompt is always kept, so that its number is never given to another text.';
	END IF;
	SELECT v.version INTO oldest_kept
	FROM @extschema@.pm_prompt_versions AS v
	WHERE v.prompt_id = $1
	ORDER BY v.version DESC
	OFFSET $2 - 1 LIMIT 1;
	IF NOT FOUND THEN
		IF NOT EXISTS (SELECT FROM @extschema@.pm_prompt_versions AS v WHERE v.prompt_id = $1) THEN
			RAISE EXCEPTION USING
				ERRCODE = 'undefined_object',
				MESSAGE = format('prompt "%s" does not exist', $1),
				DETAIL = 'It has no versions.';
		END IF;
		RETURN 0;
	END IF;
	FOR fk IN
		SELECT c.conrelid::regclass::text AS tab,
			   string_agg(format('v.%I OPERATOR(%I.%s) r.%I',
								 pa.attname, opn.nspname, op.oprname, fa.attname),
						  ' AND ' ORDER BY k.i) AS cond
		FROM pg_constraint AS c
		CROSS JOIN LATERAL unnest(c.confkey, c.conkey, c.conpfeqop)
			WITH ORDINALITY AS k(pk, fk, eqop, i)
		JOIN pg_attribute AS pa ON pa.attrelid = c.confrelid AND pa.attnum = k.pk
		JOIN pg_attribute AS fa ON fa.attrelid = c.conrelid AND fa.attnum = k.fk
		JOIN pg_operator AS op ON op.oid = k.eqop
		JOIN pg_namespace AS opn ON opn.oid = op.oprnamespace
		WHERE c.contype = 'f'
		  AND c.confrelid = '@extschema@.pm_prompt_versions'::regclass
		  AND c.conparentid = 0
		GROUP BY c.oid, c.conrelid
		ORDER BY c.oid
	LOOP
		refs := refs || format(' AND NOT EXISTS (SELECT FROM %s AS r WHERE %s)', fk.tab, fk.cond);
	END LOOP;
	EXECUTE format('DELETE FROM @extschema@.pm_prompt_versions AS v'
				   ' WHERE v.prompt_id OPERATOR(pg_catalog.=) $1'
				   ' AND v.version OPERATOR(pg_catalog.<) $2%s', refs)
	USING $1, oldest_kept;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
-- per-statement hits: what one snapshot learned of pm_prompts is reused by
-- the next when no transaction that changed the table can have committed in
-- between (src/pm_writes.c).  Every change of pm_prompts' rows fires one of
-- the two note triggers, and every command that could let later changes
-- skip them fires the event trigger; each records the transaction as a
-- writer, published before it commits.  ENABLE ALWAYS: they fire under
-- session_replication_role = replica (pg_restore, a logical replication
-- subscriber) too.  Rendering checks that all three are in place, and
-- reads the table for every new snapshot otherwise.
CREATE FUNCTION @extschema@.pm_prompts_note_write() RETURNS trigger
AS 'MODULE_PATHNAME', 'pm_prompts_note_write'
LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@.pm_prompts_note_write() FROM PUBLIC;

CREATE TRIGGER pm_prompts_note_write
	BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.pm_prompts
	FOR EACH ROW EXECUTE FUNCTION @extschema@.pm_prompts_note_write();
ALTER TABLE @extschema@.pm_prompts ENABLE ALWAYS TRIGGER pm_prompts_note_write;
CREATE TRIGGER pm_prompts_note_truncate
	BEFORE TRUNCATE ON @extschema@.pm_prompts
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.pm_prompts_note_write();
ALTER TABLE @extschema@.pm_prompts ENABLE ALWAYS TRIGGER pm_prompts_note_truncate;

CREATE FUNCTION @extschema@.pm_prompts_note_ddl() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'pm_prompts_note_ddl'
LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@.pm_prompts_note_ddl() FROM PUBLIC;

-- the tags are those src/pm_storage.c checks for (pm_noted_ddl)
CREATE EVENT TRIGGER pm_prompts_note_ddl ON ddl_command_start
	WHEN TAG IN ('ALTER TABLE', 'CREATE TRIGGER', 'ALTER TRIGGER', 'DROP TRIGGER',
				 'CREATE FUNCTION', 'ALTER FUNCTION', 'DROP FUNCTION',
				 'ALTER EXTENSION', 'DROP EXTENSION')
	EXECUTE FUNCTION @extschema@.pm_prompts_note_ddl();
ALTER EVENT TRIGGER pm_prompts_note_ddl ENABLE ALWAYS;

-- pm_prompt_versions and pm_labels are read by renders too: the same note
-- triggers (src/pm_storage.c requires them on all three tables).
CREATE TRIGGER pm_prompt_versions_note_write
	BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.pm_prompt_versions
	FOR EACH ROW EXECUTE FUNCTION @extschema@.pm_prompts_note_write();
ALTER TABLE @extschema@.pm_prompt_versions ENABLE ALWAYS TRIGGER pm_prompt_versions_note_write;
CREATE TRIGGER pm_prompt_versions_note_truncate
	BEFORE TRUNCATE ON @extschema@.pm_prompt_versions
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.pm_prompts_note_write();
ALTER TABLE @extschema@.pm_prompt_versions ENABLE ALWAYS TRIGGER pm_prompt_versions_note_truncate;
CREATE TRIGGER pm_labels_note_write
	BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.pm_labels
	FOR EACH ROW EXECUTE FUNCTION @extschema@.pm_prompts_note_write();
ALTER TABLE @extschema@.pm_labels ENABLE ALWAYS TRIGGER pm_labels_note_write;
CREATE TRIGGER pm_labels_note_truncate
	BEFORE TRUNCATE ON @extschema@.pm_labels
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.pm_prompts_note_write();
ALTER TABLE @extschema@.pm_labels ENABLE ALWAYS TRIGGER pm_labels_note_truncate;

-- Existing prompts: each gets version 1, its current text.  Last, once the
-- note triggers are there: the upgrade itself, which the DDL note (created
-- by this script) did not see start, is then noted as a writer by these
-- rows, so that no snapshot taken before it committed is taken as seeing
-- what one taken after does (src/pm_writes.c).
INSERT INTO @extschema@.pm_prompt_versions
	(prompt_id, version, content, parameters, created_at, created_by, revision)
SELECT p.prompt_id, 1, p.content, p.parameters, p.updated_at, CURRENT_USER, p.revision
FROM @extschema@.pm_prompts AS p;
