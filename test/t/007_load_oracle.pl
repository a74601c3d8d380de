# The shared render cache under load, checked render by render.
#
# What a user relies on: with eight sessions rendering (pm_render,
# pm_render_template, pm_bulk_render) while others update prompts and the
# prompts they include (also in the scale of a number only: 9.9, 9.90),
# insert and delete prompts, and call pm_invalidate,
# every render, served from the cache or not, is exactly what an uncached
# render gives in the same snapshot, and what the prompt table says it must
# be; a prompt deleted meanwhile is reported missing (42704) the same way
# with and without the cache; and nothing else fails.
#
# pgbench drives 8 clients for PM_LOAD_SECONDS seconds (8 by default; for a
# longer run: PM_LOAD_SECONDS=600 make tapcheck PROVE_TESTS=test/t/007_load_oracle.pl).
# Each render transaction is REPEATABLE READ:
#   BEGIN ISOLATION LEVEL REPEATABLE READ;
#   render (the cache on);
#   SET LOCAL prompt_manager.cache = off;
#   render again; render with ref_render(), a reference renderer written in
#   PL/pgSQL that reads pm_prompts itself (so it shares no code, and no
#   per-session cache, with the C renderer);
#   record any difference among the three in the table mismatches;
#   COMMIT;
# pm_bulk_render is checked request by request the same way: its rows with
# the cache on are kept in a table, then compared with its rows with the
# cache off and with ref_render() of each request, in the same snapshot.
# The cache is small (1 MB, 100 entries), so that entries are evicted and
# replaced all the time.
#
# Labels: every l/r and l/i prompt has the label production.  Renders of
# l/r<n>@production (REPEATABLE READ, checked the same way: cached,
# uncached, and ref_render with the label, whose includes follow the label
# when the included prompt has it and the head otherwise) run among label
# moves (to another version, back to the one before, or in a transaction
# that rolls back) and pm_publish calls.
#
# The renders that meet a deleted prompt fail with 42704 (pm_render's error
# is caught in PL/pgSQL, pm_bulk_render reports it in its row) and are
# counted apart; one request of each bulk call has parameters that are not
# an object (22023, in its row).  None of these reach the server log, which
# must hold no error at all.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;

my $seconds = $ENV{PM_LOAD_SECONDS} // 8;
die "PM_LOAD_SECONDS must be a positive integer" unless $seconds =~ /^[1-9]\d*$/;
my $clients = 8;

my $node = PostgreSQL::Test::Cluster->new('load');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'prompt_manager'
prompt_manager.cache_size = '1MB'
prompt_manager.cache_max_entries = 100
max_connections = 30
});
$node->start;
my $guard = PmGuard->new($node);

$node->safe_psql('postgres', q{
	CREATE EXTENSION prompt_manager;
	CREATE TABLE mismatches (kind text, id text, x bigint, cached text, uncached text, ref text,
		at timestamptz DEFAULT clock_timestamp());
	CREATE UNLOGGED TABLE bulk_seen (client int, ord bigint, h text);
	CREATE SEQUENCE checked_render;
	CREATE SEQUENCE checked_inline;
	CREATE SEQUENCE checked_bulk;
	CREATE SEQUENCE missing_seen;

	-- pm_render and pm_render_template, with a missing prompt (42704)
	-- returned as text rather than raised
	CREATE FUNCTION try_render(id text, p jsonb) RETURNS text LANGUAGE plpgsql STABLE
	AS $$ BEGIN RETURN pm_render(id, p);
	EXCEPTION WHEN undefined_object THEN RETURN 'ERROR 42704: ' || SQLERRM; END $$;
	CREATE FUNCTION try_render_uncached(id text, p jsonb) RETURNS text LANGUAGE plpgsql STABLE
	SET prompt_manager.cache = off
	AS $$ BEGIN RETURN try_render(id, p); END $$;
	CREATE FUNCTION try_template(t text, p jsonb) RETURNS text LANGUAGE plpgsql STABLE
	AS $$ BEGIN RETURN pm_render_template(t, p);
	EXCEPTION WHEN undefined_object THEN RETURN 'ERROR 42704: ' || SQLERRM; END $$;

	-- The reference renderer, for the prompts of this test: lines of text
	-- with the keywords [X], [Y] and [Z], and lines "//include ID".  The
	-- value of a keyword comes from the first layer that has it (the call's
	-- params, then the stored parameters of the root and of each include on
	-- the way down), as "[K]" or as the bare name in lower case; a keyword
	-- without a value is kept.
	CREATE FUNCTION ref_value(layers jsonb[], kw text) RETURNS text LANGUAGE plpgsql IMMUTABLE
	AS $$
	DECLARE
		l jsonb;
	BEGIN
		FOREACH l IN ARRAY layers LOOP
			IF l ? ('[' || kw || ']') THEN RETURN l ->> ('[' || kw || ']'); END IF;
			IF l ? lower(kw) THEN RETURN l ->> lower(kw); END IF;
		END LOOP;
		RETURN NULL;
	END $$;
	CREATE FUNCTION ref_body(content text, layers jsonb[], label text DEFAULT NULL) RETURNS text LANGUAGE plpgsql STABLE
	AS $$
	DECLARE
		line text;
		k text;
		v text;
		lines text[] := '{}';
	BEGIN
		FOREACH line IN ARRAY string_to_array(content, E'\n') LOOP
			IF line LIKE '//include %' THEN
				lines := lines || ref_prompt(substr(line, 11), layers, label);
			ELSE
				FOREACH k IN ARRAY ARRAY['X', 'Y', 'Z'] LOOP
					v := ref_value(layers, k);
					IF v IS NOT NULL THEN
						line := replace(line, '[' || k || ']', v);
					END IF;
				END LOOP;
				lines := lines || line;
			END IF;
		END LOOP;
		RETURN array_to_string(lines, E'\n');
	END $$;
	-- with a label: the version it points to when the prompt has it, else
	-- the head; its includes the same way
	CREATE FUNCTION ref_prompt(id text, layers jsonb[], label text DEFAULT NULL) RETURNS text LANGUAGE plpgsql STABLE
	AS $$
	DECLARE
		c text;
		p jsonb;
		v int;
	BEGIN
		SELECT l.version INTO v FROM pm_labels l WHERE l.prompt_id = id AND l.label = ref_prompt.label;
		IF v IS NOT NULL THEN
			SELECT x.content, x.parameters INTO c, p FROM pm_prompt_versions x
			WHERE x.prompt_id = id AND x.version = v;
		ELSE
			SELECT content, parameters INTO c, p FROM pm_prompts WHERE prompt_id = id;
		END IF;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'prompt "%" does not exist', id USING ERRCODE = 'undefined_object';
		END IF;
		RETURN ref_body(c, layers || p, label);
	END $$;
	CREATE FUNCTION ref_render_label(id text, label text, p jsonb) RETURNS text LANGUAGE plpgsql STABLE
	AS $$
	BEGIN
		IF NOT EXISTS (SELECT FROM pm_labels l WHERE l.prompt_id = id AND l.label = ref_render_label.label) THEN
			RETURN 'ERROR PM007: no label';
		END IF;
		RETURN ref_prompt(id, ARRAY[coalesce(p, '{}')], label);
	EXCEPTION WHEN undefined_object THEN RETURN 'ERROR 42704: ' || SQLERRM;
	END $$;
	CREATE FUNCTION ref_render(id text, p jsonb) RETURNS text LANGUAGE plpgsql STABLE
	AS $$
	BEGIN
		IF p IS NOT NULL AND jsonb_typeof(p) <> 'object' THEN
			RETURN 'ERROR 22023: params must be a JSON object';
		END IF;
		RETURN ref_prompt(id, ARRAY[coalesce(p, '{}')]);
	EXCEPTION WHEN undefined_object THEN RETURN 'ERROR 42704: ' || SQLERRM;
	END $$;
	CREATE FUNCTION ref_template(t text, p jsonb) RETURNS text LANGUAGE plpgsql STABLE
	AS $$
	BEGIN
		RETURN ref_body(t, ARRAY[coalesce(p, '{}')]);
	EXCEPTION WHEN undefined_object THEN RETURN 'ERROR 42704: ' || SQLERRM;
	END $$;
	-- what is compared: errors as they are, renderings by their md5
	CREATE FUNCTION h(r text) RETURNS text LANGUAGE sql IMMUTABLE
	AS $$ SELECT CASE WHEN r LIKE 'ERROR %' THEN r ELSE md5(r) END $$;

	-- the 12 requests of a bulk call: roots and deletable prompts, one
	-- without parameters, one with parameters that are not an object, the
	-- last one twice
	CREATE FUNCTION bulk_requests(a int, x int) RETURNS jsonb LANGUAGE sql IMMUTABLE
	AS $$
	SELECT jsonb_agg(CASE
			WHEN g = 1 THEN jsonb_build_object('prompt_id', id)
			WHEN g = 2 THEN jsonb_build_object('prompt_id', id, 'parameters', '[1, 2]'::jsonb)
			ELSE jsonb_build_object('prompt_id', id, 'parameters', jsonb_build_object('x', (x + least(g, 11)) % 8))
		END ORDER BY g)
	FROM (SELECT g, CASE WHEN least(g, 11) % 4 = 0 THEN 'l/d' || ((a + g) % 8 + 1)
			ELSE 'l/r' || ((a + least(g, 11)) % 20 + 1) END AS id
		FROM generate_series(1, 12) g) r
	$$;

	-- l/r1..l/r20 include l/i<k> or a deletable l/d<m>; l/i<k> may include
	-- l/i<k+1>; l/d<m> may include l/i<k>
	INSERT INTO pm_prompts (prompt_id, content, parameters)
	SELECT 'l/r' || g, 'R' || g || E' v0 [X] [Y]\n//include ' ||
			CASE WHEN g % 4 = 0 THEN 'l/d' || (g % 8 + 1) ELSE 'l/i' || (g % 6 + 1) END,
		jsonb_build_object('[Y]', 'y' || g)
	FROM generate_series(1, 20) g;
	INSERT INTO pm_prompts (prompt_id, content, parameters)
	SELECT 'l/i' || g, 'I' || g || ' v0 [X] [Y] [Z]' ||
			CASE WHEN g < 6 THEN E'\n//include l/i' || (g + 1) ELSE '' END,
		jsonb_build_object('[Z]', 'z' || g)
	FROM generate_series(1, 6) g;
	INSERT INTO pm_prompts (prompt_id, content, parameters)
	SELECT 'l/d' || g, 'D' || g || ' v0 [X] [Z]', '{}'
	FROM generate_series(1, 8, 2) g;
	INSERT INTO pm_labels (prompt_id, label, version)
	SELECT prompt_id, 'production', 1 FROM pm_prompts WHERE prompt_id NOT LIKE 'l/d%';
	CREATE SEQUENCE checked_label;
	-- a root whose include was deleted cannot be published (42704)
	CREATE FUNCTION try_publish(id text) RETURNS int LANGUAGE plpgsql
	AS $$ BEGIN RETURN pm_publish(id, 'production');
	EXCEPTION WHEN undefined_object THEN RETURN -1; END $$;
});

# the reference renderer agrees with pm_render before anything runs
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE h(try_render(id, p)) IS DISTINCT FROM h(ref_render(id, p))),
		count(*) FILTER (WHERE try_render(id, p) LIKE 'ERROR 42704%'), count(*)
	FROM (SELECT 'l/r' || g AS id, jsonb_build_object('x', x) AS p
		FROM generate_series(1, 20) g, generate_series(0, 7) x
		UNION ALL SELECT 'l/d' || g, NULL FROM generate_series(1, 8) g) s}),
	'0|4|168', 'the reference renderer agrees with pm_render at rest (missing prompts included)');
is($node->safe_psql('postgres', q{SELECT ref_render('l/r1', '{"x": 5}')}),
	"R1 v0 5 y1\nI2 v0 5 y1 z2\nI3 v0 5 y1 z2\nI4 v0 5 y1 z2\nI5 v0 5 y1 z2\nI6 v0 5 y1 z2",
	'the reference renderer gives the expected text');

my $render_script = q{
\set pick random(1, 28)
\set x random(0, 7)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT CASE WHEN :pick <= 20 THEN 'l/r' || :pick ELSE 'l/d' || (:pick - 20) END AS id \gset
SELECT h(try_render(':id', jsonb_build_object('x', :x))) AS cached \gset
SET LOCAL prompt_manager.cache = off;
INSERT INTO mismatches (kind, id, x, cached, uncached, ref)
	SELECT 'render', ':id', :x, ':cached', u, f
	FROM (SELECT h(try_render(':id', jsonb_build_object('x', :x))) AS u,
		h(ref_render(':id', jsonb_build_object('x', :x))) AS f) s
	WHERE u IS DISTINCT FROM ':cached' OR f IS DISTINCT FROM ':cached';
SELECT nextval('checked_render'), CASE WHEN ':cached' LIKE 'ERROR 42704%' THEN nextval('missing_seen') END;
COMMIT;
};

my $label_script = q{
\set r random(1, 20)
\set x random(0, 7)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT h(try_render('l/r:r@production', jsonb_build_object('x', :x))) AS cached \gset
SET LOCAL prompt_manager.cache = off;
INSERT INTO mismatches (kind, id, x, cached, uncached, ref)
	SELECT 'label', 'l/r:r@production', :x, ':cached', u, f
	FROM (SELECT h(try_render('l/r:r@production', jsonb_build_object('x', :x))) AS u,
		h(ref_render_label('l/r:r', 'production', jsonb_build_object('x', :x))) AS f) s
	WHERE u IS DISTINCT FROM ':cached' OR f IS DISTINCT FROM ':cached';
SELECT nextval('checked_label'), CASE WHEN ':cached' LIKE 'ERROR 42704%' THEN nextval('missing_seen') END;
COMMIT;
};

# a label moved to a random version, moved back to the version before its
# own (a rollback of the label), or moved in a transaction rolled back;
# one prompt's label at a time: no two movers can deadlock
my $label_move_script = q{
\set k random(1, 26)
\set how random(1, 3)
SELECT CASE WHEN :k <= 20 THEN 'l/r' || :k ELSE 'l/i' || (:k - 20) END AS id \gset
BEGIN;
UPDATE pm_labels SET version = CASE :how
		WHEN 2 THEN greatest(version - 1, 1)
		ELSE (SELECT v.version FROM pm_prompt_versions v WHERE v.prompt_id = ':id' ORDER BY random() LIMIT 1) END
	WHERE prompt_id = ':id' AND label = 'production';
SELECT CASE WHEN :how = 3 THEN 'ROLLBACK' ELSE 'COMMIT' END AS finish \gset
:finish;
};

# the label on the heads of a root and of everything it includes
my $publish_script = q{
\set r random(1, 20)
SELECT try_publish('l/r' || :r);
};

my $inline_script = q{
\set pick random(1, 14)
\set x random(0, 7)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT CASE WHEN :pick <= 6 THEN 'l/i' || :pick ELSE 'l/d' || (:pick - 6) END AS id \gset
SELECT h(try_template(E'T [X] [Z]\n//include :id', jsonb_build_object('x', :x))) AS cached \gset
SET LOCAL prompt_manager.cache = off;
INSERT INTO mismatches (kind, id, x, cached, uncached, ref)
	SELECT 'inline', ':id', :x, ':cached', u, f
	FROM (SELECT h(try_template(E'T [X] [Z]\n//include :id', jsonb_build_object('x', :x))) AS u,
		h(ref_template(E'T [X] [Z]\n//include :id', jsonb_build_object('x', :x))) AS f) s
	WHERE u IS DISTINCT FROM ':cached' OR f IS DISTINCT FROM ':cached';
SELECT nextval('checked_inline'), CASE WHEN ':cached' LIKE 'ERROR 42704%' THEN nextval('missing_seen') END;
COMMIT;
};

my $bulk_script = q{
\set a random(1, 1000)
\set x random(0, 7)
BEGIN ISOLATION LEVEL REPEATABLE READ;
INSERT INTO bulk_seen
	SELECT :client_id, ord, CASE WHEN ok THEN md5(result) ELSE 'ERROR ' || sqlstate || ': ' || error END
	FROM pm_bulk_render(bulk_requests(:a, :x));
SET LOCAL prompt_manager.cache = off;
INSERT INTO mismatches (kind, id, x, cached, uncached, ref)
	SELECT 'bulk', r.req->>'prompt_id', r.ord, c.h, u.h, h(ref_render(r.req->>'prompt_id', r.req->'parameters'))
	FROM jsonb_array_elements(bulk_requests(:a, :x)) WITH ORDINALITY AS r(req, ord)
	LEFT JOIN (SELECT ord, h FROM bulk_seen WHERE client = :client_id) c ON c.ord = r.ord
	LEFT JOIN (SELECT ord, CASE WHEN ok THEN md5(result) ELSE 'ERROR ' || sqlstate || ': ' || error END AS h
		FROM pm_bulk_render(bulk_requests(:a, :x))) u ON u.ord = r.ord
	WHERE c.h IS DISTINCT FROM u.h OR c.h IS DISTINCT FROM h(ref_render(r.req->>'prompt_id', r.req->'parameters'));
SELECT count(nextval('checked_bulk')), count(CASE WHEN h LIKE 'ERROR 42704%' THEN nextval('missing_seen') END)
	FROM bulk_seen WHERE client = :client_id;
DELETE FROM bulk_seen WHERE client = :client_id;
COMMIT;
};

# roots, then includes: no two writers can deadlock
my $update_script = q{
\set r random(1, 20)
\set k random(1, 6)
\set m random(1, 8)
\set t random(1, 10)
\set v random(1, 1000000)
UPDATE pm_prompts SET content = 'R' || :r || ' v' || :v || E' [X] [Y]\n//include ' ||
		CASE WHEN :t <= 7 THEN 'l/i' || :k ELSE 'l/d' || :m END
	WHERE prompt_id = 'l/r' || :r;
UPDATE pm_prompts SET content = 'I' || :k || ' v' || :v || ' [X] [Y] [Z]' ||
		CASE WHEN :k < 6 AND :v % 2 = 0 THEN E'\n//include l/i' || (:k + 1) ELSE '' END
	WHERE prompt_id = 'l/i' || :k;
BEGIN;
UPDATE pm_prompts SET parameters = jsonb_build_object('[Y]', 'y' || :v) WHERE prompt_id = 'l/r' || :r;
UPDATE pm_prompts SET parameters = CASE WHEN :v % 3 = 0 THEN '{}' ELSE jsonb_build_object('[Z]', 'z' || :v) END
	WHERE prompt_id = 'l/i' || :k;
COMMIT;
};

# scale-only edits (9.9, 9.90, 9.900, 9.9000: equal as jsonb, rendered
# apart) of a root's and an include's stored parameters, twice in one
# transaction (the rows keep one xmin), with a render between the two and
# one checked after them in the writer's own transaction.  The writer is
# READ COMMITTED (REPEATABLE READ would fail on concurrent updates), so its
# three renders are compared in one statement, under one snapshot.
my $scale_script = q{
\set r random(1, 20)
\set k random(1, 6)
\set x random(0, 7)
\set s1 random(1, 4)
\set s2 random(1, 4)
BEGIN;
SELECT 'l/r' || :r AS id \gset
UPDATE pm_prompts SET parameters = jsonb_build_object('[Y]', round(9.9, :s1)) WHERE prompt_id = ':id';
UPDATE pm_prompts SET parameters = jsonb_build_object('[Z]', round(9.9, :s1)) WHERE prompt_id = 'l/i' || :k;
SELECT h(try_render(':id', jsonb_build_object('x', :x)));
UPDATE pm_prompts SET parameters = jsonb_build_object('[Y]', round(9.9, :s2)) WHERE prompt_id = ':id';
UPDATE pm_prompts SET parameters = jsonb_build_object('[Z]', round(9.9, :s2)) WHERE prompt_id = 'l/i' || :k;
INSERT INTO mismatches (kind, id, x, cached, uncached, ref)
	SELECT 'scale', ':id', :x, c, u, f
	FROM (SELECT h(try_render(':id', jsonb_build_object('x', :x))) AS c,
		h(try_render_uncached(':id', jsonb_build_object('x', :x))) AS u,
		h(ref_render(':id', jsonb_build_object('x', :x))) AS f) s
	WHERE u IS DISTINCT FROM c OR f IS DISTINCT FROM c;
SELECT nextval('checked_render');
COMMIT;
};

my $insert_delete_script = q{
\set m random(1, 8)
\set n random(1, 8)
\set k random(1, 6)
\set v random(1, 1000000)
INSERT INTO pm_prompts (prompt_id, content, parameters)
	VALUES ('l/d' || :m, 'D' || :m || ' v' || :v || ' [X] [Z]' ||
		CASE WHEN :v % 2 = 0 THEN E'\n//include l/i' || :k ELSE '' END,
		jsonb_build_object('[Z]', 'dz' || :v))
	ON CONFLICT (prompt_id) DO NOTHING;
DELETE FROM pm_prompts WHERE prompt_id = 'l/d' || :n;
};

my $invalidate_script = q{
\set k random(1, 8)
SELECT CASE WHEN :k <= 6 THEN pm_invalidate('l/i' || :k) WHEN :k = 7 THEN pm_invalidate('l/d1')
	ELSE pm_invalidate() END;
};

$node->safe_psql('postgres', 'SELECT pm_cache_reset()');
note("pgbench: $clients clients for $seconds s");
$node->pgbench(
	"--no-vacuum --client=$clients --jobs=2 --time=$seconds",
	0,
	[ qr{number of transactions actually processed: [1-9]\d*},
	  qr{number of failed transactions: 0 } ],
	[ qr{^(?!.*(ERROR|aborted))}s ],
	'pgbench: renders, bulk renders, renders of labels, updates, scale-only edits, inserts, deletes, invalidations, label moves and publishes',
	{
		'007_render@40' => $render_script,
		'007_inline@10' => $inline_script,
		'007_bulk@10' => $bulk_script,
		'007_update@2' => $update_script,
		'007_scale@2' => $scale_script,
		'007_insert_delete@2' => $insert_delete_script,
		'007_invalidate@1' => $invalidate_script,
		'007_label@12' => $label_script,
		'007_label_move@2' => $label_move_script,
		'007_publish@1' => $publish_script,
	});

sub seqval
{
	my ($seq) = @_;
	return $node->safe_psql('postgres', "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM $seq");
}
my %n = map { $_ => seqval($_) } qw(checked_render checked_inline checked_bulk checked_label missing_seen);
my $total = $n{checked_render} + $n{checked_inline} + $n{checked_bulk} + $n{checked_label};
my $mismatches = $node->safe_psql('postgres', 'SELECT count(*) FROM mismatches');
note("renders checked (cached = uncached = reference, same snapshot): $total "
	  . "($n{checked_render} pm_render, $n{checked_inline} pm_render_template, "
	  . "$n{checked_bulk} pm_bulk_render requests, $n{checked_label} renders of labels); of them $n{missing_seen} met a deleted prompt (42704, expected); "
	  . "mismatches: $mismatches");
cmp_ok($n{checked_render}, '>', 0, 'pm_render renders were checked');
cmp_ok($n{checked_inline}, '>', 0, 'pm_render_template renders were checked');
cmp_ok($n{checked_bulk}, '>', 0, 'pm_bulk_render requests were checked');
cmp_ok($n{checked_label}, '>', 0, 'renders of labels were checked');
cmp_ok($node->safe_psql('postgres', q{SELECT count(*) FROM pm_labels l JOIN pm_prompt_versions v USING (prompt_id, version)
	WHERE v.version > 1}), '>', 0, 'labels were moved');
cmp_ok($n{missing_seen}, '>', 0, 'some renders met a deleted prompt');
is($mismatches, '0', 'no render differed between the cache, no cache and the reference')
  or diag($node->safe_psql('postgres', 'SELECT * FROM mismatches ORDER BY at LIMIT 10'));

my $stats = $node->safe_psql('postgres',
	q{SELECT format('hits %s, misses %s, inserts %s, evictions %s, invalidations %s, skipped %s, entries %s/%s, bytes %s/%s',
		hits, misses, inserts, evictions, invalidations, skipped, entries, max_entries, bytes_used, capacity_bytes)
	  FROM pm_cache});
note("cache: $stats");
cmp_ok($node->safe_psql('postgres', 'SELECT hits FROM pm_cache'), '>', 0, 'the cache answered renders');
cmp_ok($node->safe_psql('postgres', 'SELECT evictions FROM pm_cache'), '>', 0, 'the cache evicted');
is($node->safe_psql('postgres', q{SELECT (SELECT count(*) FROM pm_cache_entries) = entries
	AND (SELECT coalesce(sum(bytes), 0) FROM pm_cache_entries) = bytes_used
	AND entries <= max_entries AND bytes_used <= capacity_bytes FROM pm_cache}),
	't', 'the cache is consistent and within its bounds');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pm_prompts WHERE prompt_id LIKE 'l/r%' OR prompt_id LIKE 'l/i%'}),
	'26', 'the prompts never deleted are all there');

# at rest: every rendering, twice (the second from the cache), agrees with
# the reference
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE h(try_render(id, p)) IS DISTINCT FROM h(ref_render(id, p)))
	FROM (SELECT 'l/r' || g AS id, jsonb_build_object('x', x) AS p
		FROM generate_series(1, 20) g, generate_series(0, 7) x
		UNION ALL SELECT 'l/d' || g, NULL FROM generate_series(1, 8) g) s, generate_series(1, 2) pass}),
	'0', 'after the run, every rendering agrees with the reference, cached and not');
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE h(try_render(id || '@production', p)) IS DISTINCT FROM h(ref_render_label(id, 'production', p)))
	FROM (SELECT 'l/r' || g AS id, jsonb_build_object('x', x) AS p
		FROM generate_series(1, 20) g, generate_series(0, 7) x) s, generate_series(1, 2) pass}),
	'0', 'after the run, every rendering of a label agrees with the reference, cached and not');

$guard->check;
# smart: the backend of the last psql call may still be exiting, and a fast
# shutdown would end it with a FATAL of its own (seen under load)
$node->stop('smart');

# pm_render's 42704 is caught in PL/pgSQL and pm_bulk_render's in its row:
# neither reaches the log, which holds no error, warning or crash at all
# (an autovacuum worker stopped by the shutdown is no error)
my @errors = grep { (/\b(ERROR|FATAL|PANIC|WARNING):|TRAP:|terminated by signal|was terminated/ || $_ =~ $PmGuard::CRASH_RE)
	  && !/FATAL:  terminating autovacuum process due to administrator command/ }
  split /\n/, slurp_file($node->logfile);
is(scalar(@errors), 0, 'no error in the server log')
  or diag(join("\n", @errors[0 .. ($#errors < 9 ? $#errors : 9)]));

done_testing();
