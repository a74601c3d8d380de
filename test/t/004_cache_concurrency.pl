# The shared render cache under concurrent renders and updates.
#
# What a user relies on: with many sessions rendering while others update
# prompts and the prompts they include (and a DBA calls pm_invalidate), a
# render served from the shared cache is always exactly what an uncached
# render gives under the same snapshot, including when entries are being
# replaced, evicted (the cache here is small) and invalidated at the same
# time; and none of it causes an error or a crash.
#
# pgbench runs 4 clients for 5 seconds (PM_LOAD_SECONDS seconds when set,
# for a longer run; test/t/007_load_oracle.pl is the larger load test).
# Most transactions are REPEATABLE READ: render a random prompt (or an
# inline template) with the cache, then again with SET LOCAL
# prompt_manager.cache = off, and record any difference in a table.  The others update random prompts and includes
# (content, include structure and stored defaults).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;

my $node = PostgreSQL::Test::Cluster->new('concurrency');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'prompt_manager'
prompt_manager.cache_size = '1MB'
prompt_manager.cache_max_entries = 100
max_connections = 20
});
$node->start;
my $guard = PmGuard->new($node);

$node->safe_psql('postgres', q{
	CREATE EXTENSION prompt_manager;
	CREATE TABLE mismatches (kind text, id int, x int, cached text, uncached text);
	CREATE SEQUENCE compared;
	-- renders with the cache off, under the caller's snapshot (STABLE)
	CREATE FUNCTION uncached(id text, p jsonb) RETURNS text
	LANGUAGE plpgsql STABLE SET prompt_manager.cache = off
	AS $$ BEGIN RETURN pm_render(id, p); END $$;
	CREATE FUNCTION uncached_template(t text, p jsonb) RETURNS text
	LANGUAGE plpgsql STABLE SET prompt_manager.cache = off
	AS $$ BEGIN RETURN pm_render_template(t, p); END $$;
	-- c/p1..c/p10 include one of c/i1..c/i5; c/i<k> may include c/i<k+1>
	INSERT INTO pm_prompts (prompt_id, content, parameters)
	SELECT 'c/p' || g, 'P' || g || E' v0 [X] [Y]\n//include c/i' || (g % 5 + 1),
		jsonb_build_object('[Y]', 'y' || g)
	FROM generate_series(1, 10) g;
	INSERT INTO pm_prompts (prompt_id, content)
	SELECT 'c/i' || g, 'I' || g || ' v0 [X]' ||
		CASE WHEN g < 5 THEN E'\n//include c/i' || (g + 1) ELSE '' END
	FROM generate_series(1, 5) g;
});

my $render_script = q{
\set id random(1, 10)
\set x random(1, 8)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT md5(pm_render('c/p' || :id, jsonb_build_object('x', :x))) AS cached \gset
SET LOCAL prompt_manager.cache = off;
INSERT INTO mismatches
	SELECT 'prompt', :id, :x, ':cached', u
	FROM (SELECT md5(pm_render('c/p' || :id, jsonb_build_object('x', :x))) AS u) s
	WHERE u IS DISTINCT FROM ':cached';
SELECT nextval('compared');
COMMIT;
};

my $inline_script = q{
\set id random(1, 5)
\set x random(1, 8)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT md5(pm_render_template(E'T [X]\n//include c/i' || :id, jsonb_build_object('x', :x))) AS cached \gset
SET LOCAL prompt_manager.cache = off;
INSERT INTO mismatches
	SELECT 'inline', :id, :x, ':cached', u
	FROM (SELECT md5(pm_render_template(E'T [X]\n//include c/i' || :id, jsonb_build_object('x', :x))) AS u) s
	WHERE u IS DISTINCT FROM ':cached';
SELECT nextval('compared');
COMMIT;
};

# prompts first, includes second: no two of these can deadlock
my $update_script = q{
\set id random(1, 10)
\set k random(1, 5)
\set j random(1, 5)
\set v random(1, 1000000)
UPDATE pm_prompts SET content = 'P' || :id || ' v' || :v || E' [X] [Y]\n//include c/i' || :k
	WHERE prompt_id = 'c/p' || :id;
UPDATE pm_prompts SET content = 'I' || :j || ' v' || :v || ' [X]' ||
		CASE WHEN :j < 5 AND :v % 2 = 0 THEN E'\n//include c/i' || (:j + 1) ELSE '' END
	WHERE prompt_id = 'c/i' || :j;
BEGIN;
UPDATE pm_prompts SET parameters = jsonb_build_object('[Y]', 'y' || :v)
	WHERE prompt_id = 'c/p' || :id;
UPDATE pm_prompts SET content = 'I' || :j || ' w' || :v || ' [X] [Y]' ||
		CASE WHEN :j < 5 AND :v % 3 = 0 THEN E'\n//include c/i' || (:j + 1) ELSE '' END
	WHERE prompt_id = 'c/i' || :j;
COMMIT;
};

# READ COMMITTED: each statement compares a cached and an uncached render
# under its own snapshot (uncached() is STABLE: it runs under the
# statement's snapshot); a commit by another client between the two
# statements must be seen by the second
my $rc_script = q{
\set id random(1, 10)
\set x random(1, 8)
BEGIN;
INSERT INTO mismatches
	SELECT 'rc1', :id, :x, c, u
	FROM (SELECT md5(pm_render('c/p' || :id, jsonb_build_object('x', :x))) AS c,
		md5(uncached('c/p' || :id, jsonb_build_object('x', :x))) AS u) s
	WHERE c IS DISTINCT FROM u;
INSERT INTO mismatches
	SELECT 'rc2', :id, :x, c, u
	FROM (SELECT md5(pm_render('c/p' || :id, jsonb_build_object('x', :x))) AS c,
		md5(uncached('c/p' || :id, jsonb_build_object('x', :x))) AS u) s
	WHERE c IS DISTINCT FROM u;
SELECT nextval('compared'), nextval('compared');
COMMIT;
};

# a transaction that changes an include itself: its renders see its own
# change, the change of a savepoint, and no longer the savepoint's change
# once it is rolled back; the others never see any of them uncommitted
my $own_script = q{
\set j random(1, 5)
\set x random(1, 8)
\set v random(1, 1000000)
BEGIN;
SELECT pm_render_template(E'O [X]\n//include c/i' || :j, jsonb_build_object('x', :x));
UPDATE pm_prompts SET content = 'I' || :j || ' own' || :v || ' [X]' WHERE prompt_id = 'c/i' || :j;
INSERT INTO mismatches
	SELECT 'own', :j, :x, c, u
	FROM (SELECT md5(pm_render_template(E'O [X]\n//include c/i' || :j, jsonb_build_object('x', :x))) AS c,
		md5(uncached_template(E'O [X]\n//include c/i' || :j, jsonb_build_object('x', :x))) AS u) s
	WHERE c IS DISTINCT FROM u OR c <> md5('O ' || :x || E'\nI' || :j || ' own' || :v || ' ' || :x);
SAVEPOINT s;
UPDATE pm_prompts SET content = 'I' || :j || ' sp' || :v || ' [X]' WHERE prompt_id = 'c/i' || :j;
INSERT INTO mismatches
	SELECT 'savepoint', :j, :x, c, u
	FROM (SELECT md5(pm_render_template(E'O [X]\n//include c/i' || :j, jsonb_build_object('x', :x))) AS c,
		md5(uncached_template(E'O [X]\n//include c/i' || :j, jsonb_build_object('x', :x))) AS u) s
	WHERE c IS DISTINCT FROM u OR c <> md5('O ' || :x || E'\nI' || :j || ' sp' || :v || ' ' || :x);
ROLLBACK TO SAVEPOINT s;
INSERT INTO mismatches
	SELECT 'rolled back', :j, :x, c, u
	FROM (SELECT md5(pm_render_template(E'O [X]\n//include c/i' || :j, jsonb_build_object('x', :x))) AS c,
		md5(uncached_template(E'O [X]\n//include c/i' || :j, jsonb_build_object('x', :x))) AS u) s
	WHERE c IS DISTINCT FROM u OR c <> md5('O ' || :x || E'\nI' || :j || ' own' || :v || ' ' || :x);
SELECT nextval('compared'), nextval('compared'), nextval('compared');
COMMIT;
};

my $invalidate_script = q{
\set j random(1, 5)
SELECT pm_invalidate('c/i' || :j);
};

# First, two interleavings that are easy to miss at random: another
# session commits between two renders of one transaction, so that the
# snapshot alone no longer tells the two renders apart.
$node->safe_psql('postgres', q{
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('s/root', E'S root\n//include s/leaf'),
		('s/leaf', 'S leaf v1');
});
my $s1 = $node->background_psql('postgres');
my $s2 = $node->background_psql('postgres');

# a rolled-back savepoint, with a later transaction id committed meanwhile
$s1->query_safe('BEGIN');
is($s1->query_safe(q{SELECT pm_render('s/root')}), "S root\nS leaf v1", 'savepoint: before');
$s1->query_safe('SAVEPOINT s');
$s1->query_safe(q{UPDATE pm_prompts SET content = 'S leaf savepoint' WHERE prompt_id = 's/leaf'});
$s2->query_safe('BEGIN; SELECT txid_current(); COMMIT');
is($s1->query_safe(q{SELECT pm_render('s/root')}), "S root\nS leaf savepoint",
	'savepoint: its own change is seen');
$s1->query_safe('ROLLBACK TO SAVEPOINT s');
is($s1->query_safe(q{SELECT pm_render('s/root')}), "S root\nS leaf v1",
	'savepoint: rolled back, its change is gone from the render');
$s1->query_safe('COMMIT');

# READ COMMITTED: a commit between two statements of one transaction
$s1->query_safe('BEGIN');
is($s1->query_safe(q{SELECT pm_render('s/root')}), "S root\nS leaf v1", 'RC: first statement');
$s2->query_safe(q{UPDATE pm_prompts SET content = 'S leaf v2' WHERE prompt_id = 's/leaf'});
is($s1->query_safe(q{SELECT pm_render('s/root')}), "S root\nS leaf v2",
	'RC: the next statement sees the commit');
$s1->query_safe('COMMIT');
$s1->quit;
$s2->quit;

my $seconds = $ENV{PM_LOAD_SECONDS} // 5;
die "PM_LOAD_SECONDS must be a positive integer" unless $seconds =~ /^[1-9]\d*$/;
$node->safe_psql('postgres', 'SELECT pm_cache_reset()');
$node->pgbench(
	"--no-vacuum --client=4 --jobs=2 --time=$seconds",
	0,
	[ qr{number of transactions actually processed: [1-9]\d*},
	  qr{number of failed transactions: 0 } ],
	[ qr{^(?!.*(ERROR|aborted))}s ],
	'pgbench: concurrent cached/uncached renders and updates',
	{
		'004_render@40' => $render_script,
		'004_inline@10' => $inline_script,
		'004_update@2' => $update_script,
		'004_invalidate@1' => $invalidate_script,
		'004_rc@10' => $rc_script,
		'004_own@4' => $own_script,
	});

my $compared = $node->safe_psql('postgres',
	'SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM compared');
note("renders compared with an uncached render: $compared");
cmp_ok($compared, '>', 0, 'renders were compared');
is($node->safe_psql('postgres', 'SELECT count(*) FROM mismatches'), '0',
	'no cached render differed from the uncached one')
  or diag($node->safe_psql('postgres', 'SELECT * FROM mismatches LIMIT 10'));
is($node->safe_psql('postgres', 'SELECT count(*) FROM pm_prompts'), '17', 'prompts all there');

my $stats = $node->safe_psql('postgres',
	q{SELECT format('hits %s, misses %s, inserts %s, evictions %s, invalidations %s, skipped %s, entries %s/%s, bytes %s/%s',
		hits, misses, inserts, evictions, invalidations, skipped, entries, max_entries, bytes_used, capacity_bytes)
	  FROM pm_cache});
note("cache: $stats");
cmp_ok($node->safe_psql('postgres', 'SELECT hits FROM pm_cache'), '>', 0,
	'the cache answered some of the renders');
is($node->safe_psql('postgres',
	'SELECT entries <= max_entries AND bytes_used <= capacity_bytes FROM pm_cache'),
	't', 'the cache stayed within its bounds');

# at rest: every rendering, cached or not, is what the table says now
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(1, 10) id, generate_series(1, 40) x, generate_series(1, 2) pass
	WHERE pm_render('c/p' || id, jsonb_build_object('x', x))
		IS DISTINCT FROM uncached('c/p' || id, jsonb_build_object('x', x))}),
	'0', 'after the run, every rendering agrees with an uncached one');

$guard->check;
$node->stop;

# no ERROR, crash or assertion failure in the server log
my $log = slurp_file($node->logfile);
# (an autovacuum worker stopped by the shutdown is no error)
my @errors = grep { (/\b(ERROR|FATAL|PANIC):|TRAP:|terminated by signal|was terminated/ || $_ =~ $PmGuard::CRASH_RE)
	  && !/FATAL:  terminating autovacuum process due to administrator command/ } split /\n/, $log;
is(scalar(@errors), 0, 'no error in the server log') or diag(join("\n", @errors[0 .. ($#errors < 9 ? $#errors : 9)]));

done_testing();
