# Faults: what happens to renders, the shared cache, the statistics and
# the prompts when things go wrong.
#
# What a user relies on:
#  - a long render (one prompt whose includes fan out to half a million
#    leaves) and a long pm_bulk_render (200,000 requests) stop with 57014
#    when cancelled (pg_cancel_backend) or when statement_timeout expires,
#    inside or outside a transaction block; the session goes on rendering
#    right (the very templates it was rendering when stopped), the stopped
#    render is not cached, the backend keeps no lock on pm_prompts (pg_locks,
#    LOCK TABLE ... ACCESS EXCLUSIVE with lock_timeout from another session)
#    and no lock of the cache (pm_invalidate, which takes every partition
#    lock, goes through);
#  - a backend terminated (pg_terminate_backend) in the middle of a loop of
#    renders leaves the server and the cache consistent, with no restart;
#  - a backend killed with SIGKILL in the middle of renders makes the server
#    restart (crash recovery): the cache comes back empty and consistent,
#    every committed prompt is still there (count and md5 of every row's id,
#    content and parameters before = after), an uncommitted update is gone,
#    and renders are right, cached and uncached;
#  - a full cache (cache_size 1MB, cache_max_entries 100), a full statistics
#    table (stats_max 100, 300 prompts rendered) and renderings too large to
#    cache never fail or change a render, with pm_render and pm_bulk_render;
#  - DROP EXTENSION and CREATE EXTENSION again (also in a transaction that
#    rolls back) never serve a rendering of the old table, even to a session
#    that rendered it before and with the same revision numbers;
#  - pg_dump / pg_restore of a database with a warm cache, into a new
#    database and with --clean over the same database, renders right;
#  - TRUNCATE and pg_restore --data-only into the same table: the dump's
#    setval takes pm_prompts_revision_seq back, so the next update takes a
#    revision the prompt had before; the caches tell row versions apart by
#    the transaction that wrote them too, and render the new text.
#
# Figures (renders checked, time to stop) are printed with note(); how fast
# a cancel takes effect is not asserted.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;
use Time::HiRes qw(usleep time);

my $node = PostgreSQL::Test::Cluster->new('faults');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'prompt_manager'
max_connections = 20
restart_after_crash = on
});
$node->start;
my $guard = PmGuard->new($node);

my $checked = 0;	# renders compared with the text they must be

$node->safe_psql('postgres', q{
	CREATE EXTENSION prompt_manager;
	-- a render with the cache off, under the caller's snapshot
	CREATE FUNCTION uncached(id text, p jsonb DEFAULT '{}') RETURNS text
	LANGUAGE plpgsql STABLE SET prompt_manager.cache = off
	AS $$ BEGIN RETURN pm_render(id, p); END $$;
	-- the shared cache agrees with itself and stays in its bounds
	CREATE FUNCTION cache_consistent() RETURNS boolean LANGUAGE sql
	AS $$ SELECT (SELECT count(*) FROM pm_cache_entries) = entries
		AND (SELECT coalesce(sum(bytes), 0) FROM pm_cache_entries) = bytes_used
		AND entries <= max_entries AND bytes_used <= capacity_bytes
		FROM pm_cache $$;
	-- every row a render reads
	CREATE FUNCTION prompts_digest() RETURNS text LANGUAGE sql
	AS $$ SELECT count(*) || ':' || md5(string_agg(prompt_id || '=' || content || '=' || parameters::text,
		'|' ORDER BY prompt_id)) FROM pm_prompts $$;

	-- k/1..k/50 include k/inc
	INSERT INTO pm_prompts (prompt_id, content)
	SELECT 'k/' || g, 'K' || g || ' [N] ' || repeat('k', 100) || E'\n//include k/inc'
	FROM generate_series(1, 50) g;
	INSERT INTO pm_prompts (prompt_id, content, parameters)
	VALUES ('k/inc', 'inc [N] [T]', '{"[T]": "end"}');
	CREATE FUNCTION expected_k(g int, n int) RETURNS text LANGUAGE sql
	AS $$ SELECT 'K' || g || ' ' || n || ' ' || repeat('k', 100) || E'\ninc ' || n || ' end' $$;
	-- how many renderings of k/1..k/50 (n = 0..9) are not what they must be
	CREATE FUNCTION k_wrong() RETURNS bigint LANGUAGE sql
	AS $$ SELECT count(*) FILTER (WHERE pm_render('k/' || g, jsonb_build_object('n', n))
			IS DISTINCT FROM expected_k(g, n))
		+ count(*) FILTER (WHERE uncached('k/' || g, jsonb_build_object('n', n))
			IS DISTINCT FROM expected_k(g, n))
		FROM generate_series(1, 50) g, generate_series(0, 9) n $$;

	-- a long render: h/0 includes h/1 5 times, h/1..h/5 include the next
	-- level 10 times, h/6 has 5000 keyword slots: 2.5 billion slots, half a
	-- million lines of output
	INSERT INTO pm_prompts (prompt_id, content)
	SELECT 'h/' || d,
		CASE WHEN d = 6 THEN repeat('[E]', 5000)
			ELSE repeat('//include h/' || (d + 1) || E'\n', CASE WHEN d = 0 THEN 5 ELSE 10 END) END
	FROM generate_series(0, 6) d;

	-- a long pm_bulk_render: 200,000 requests of a prompt with 10,000 keyword
	-- slots, each with distinct params (every request misses the cache)
	INSERT INTO pm_prompts (prompt_id, content) VALUES ('b/leaf', repeat('[E]', 10000));
	CREATE TABLE reqs AS SELECT jsonb_agg(jsonb_build_object('prompt_id', 'b/leaf',
		'parameters', jsonb_build_object('e', '', 'n', g))) AS r
	FROM generate_series(1, 200000) g;
});
is($node->safe_psql('postgres', 'SELECT k_wrong()'), '0', 'k prompts render right');
$checked += 1000;
is($node->safe_psql('postgres', q{SELECT pm_render('h/4', '{"e": "x"}')
	= array_to_string(array_fill(repeat('x', 5000), ARRAY[100]), E'\n')}),
	't', 'the long-render prompts render right at a small scale');
$checked += 1;

#----------------------------------------------------------------------
# cancel and statement_timeout during a long render and a long bulk render
#----------------------------------------------------------------------

# Run $sql in a new session, stop it ($how: 'cancel' or 'timeout'), and
# check what a user relies on afterwards.  $ready is a query that becomes
# true once the statement is doing its work (for a cancel); $after is a
# render (query, expected output) run in the stopped session right after.
sub stop_during
{
	my (%a) = @_;
	my $name = $a{name};
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	my $base_inserts = $node->safe_psql('postgres', 'SELECT inserts FROM pm_cache');

	$s->query_safe('BEGIN') if $a{in_transaction};
	$s->query_safe(q{SET statement_timeout = '1s'}) if $a{how} eq 'timeout';
	my $started = time;
	$s->query_until(qr/started/, "\\echo started\n$a{sql};\n");

	my $stop_at;
	if ($a{how} eq 'cancel')
	{
		my $ready = $a{ready};
		$ready =~ s/PID/$pid/g;
		$ready =~ s/BASE/$base_inserts/g;
		$node->poll_query_until('postgres', $ready)
		  or die "$name: the statement never got going";
		usleep(300_000);
		$stop_at = time;
		is($node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"), 't',
			"$name: cancel sent");
	}
	my ($sqlstate) = $s->query(q{\echo :LAST_ERROR_SQLSTATE});
	my $ended = time;
	$stop_at //= $started + 1;
	is($sqlstate, '57014', "$name: stopped with SQLSTATE 57014");
	like($s->{stderr}, $a{how} eq 'cancel'
		? qr/canceling statement due to user request/
		: qr/canceling statement due to statement timeout/, "$name: with the right message");
	note(sprintf("%s: ran %.2f s, stopped %.3f s after the %s", $name,
		$ended - $started, $ended - $stop_at,
		$a{how} eq 'cancel' ? 'cancel' : 'timeout expired'));
	$s->{stderr} = '';

	if ($a{in_transaction})
	{
		is($node->safe_psql('postgres', "SELECT count(*) FROM pg_locks
			WHERE pid = $pid AND locktype <> 'virtualxid'"), '0',
			"$name: the aborted transaction holds no lock but its virtualxid");
		$s->query_safe('ROLLBACK');
	}
	$s->query_safe('RESET statement_timeout');

	# the session goes on, with the templates it was rendering
	my ($query, $expect) = @{ $a{after} };
	is($s->query_safe($query), $expect, "$name: the session renders right afterwards");
	is($s->query_safe(q{SELECT pm_render('k/7', '{"n": 3}') = expected_k(7, 3)}), 't',
		"$name: and renders other prompts right");
	$checked += 2;

	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_locks WHERE pid = $pid
		AND locktype <> 'virtualxid'"), '0', "$name: no lock left but its virtualxid");
	is($node->safe_psql('postgres', q{
		SET lock_timeout = '5s';
		BEGIN;
		LOCK TABLE pm_prompts IN ACCESS EXCLUSIVE MODE;
		UPDATE pm_prompts SET metadata = jsonb_build_object('touched', 1)
			WHERE prompt_id LIKE 'h/%' OR prompt_id = 'b/leaf';
		COMMIT;
		SELECT 'locked and updated'}, timeout => 60),
		'locked and updated',
		"$name: another session locks pm_prompts exclusively and updates it (lock_timeout 5s)");
	ok(defined $node->safe_psql('postgres', q{SELECT pm_invalidate('k/1')}, timeout => 60),
		"$name: pm_invalidate takes every cache lock");
	is($node->safe_psql('postgres', 'SELECT cache_consistent()'), 't',
		"$name: the cache is consistent");
	if ($a{not_cached})
	{
		is($node->safe_psql('postgres', "SELECT count(*) FROM pm_cache_entries
			WHERE prompt_id = '$a{not_cached}'"), '0', "$name: the stopped render was not cached");
	}
	$s->quit;
}

my $h4 = ['SELECT md5(pm_render(\'h/4\', \'{"e": "x"}\'))',
	$node->safe_psql('postgres', q{SELECT md5(array_to_string(array_fill(repeat('x', 5000), ARRAY[100]), E'\n'))})];
my $after_bulk = [q{SELECT count(*) FILTER (WHERE ok AND result = repeat('y', 10000)) FROM pm_bulk_render(
		'[{"prompt_id": "b/leaf", "parameters": {"e": "y"}}, {"prompt_id": "b/leaf", "parameters": {"e": "y", "n": 2}}]')},
	'2'];
my $render_ready = q{SELECT state = 'active' AND query LIKE '%h/0%' FROM pg_stat_activity WHERE pid = PID};
my $render_sql = q{SELECT length(pm_render('h/0', '{"e": ""}'))};
my $bulk_ready = q{SELECT inserts >= BASE + 200 FROM pm_cache};
my $bulk_sql = q{SELECT count(*) FILTER (WHERE (b).ok) FROM (SELECT pm_bulk_render(r) AS b FROM reqs) s};

stop_during(name => 'long render, cancelled', how => 'cancel', sql => $render_sql,
	ready => $render_ready, after => $h4, not_cached => 'h/0');
stop_during(name => 'long render, statement_timeout', how => 'timeout', sql => $render_sql,
	after => $h4, not_cached => 'h/0');
stop_during(name => 'long render in a transaction block, cancelled', how => 'cancel',
	sql => $render_sql, ready => $render_ready, after => $h4, in_transaction => 1,
	not_cached => 'h/0');
stop_during(name => 'pm_bulk_render of 200,000 requests, cancelled', how => 'cancel',
	sql => $bulk_sql, ready => $bulk_ready, after => $after_bulk);
stop_during(name => 'pm_bulk_render of 200,000 requests, statement_timeout', how => 'timeout',
	sql => $bulk_sql, after => $after_bulk);
stop_during(name => 'pm_bulk_render in a transaction block, statement_timeout', how => 'timeout',
	sql => $bulk_sql, after => $after_bulk, in_transaction => 1);

#----------------------------------------------------------------------
# a backend terminated in the middle of renders
#----------------------------------------------------------------------
# (generate_series in the SELECT list: it streams, where in FROM it would be
# materialized first)
my $loop_sql = q{SELECT count(pm_render('k/' || (g % 50 + 1), jsonb_build_object('n', g % 10)))
	FROM (SELECT generate_series(1, 1000000000) AS g) s};
{
	$node->safe_psql('postgres', 'SELECT pm_cache_reset()');
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	$s->query_until(qr/started/, "\\echo started\n$loop_sql;\n");
	$node->poll_query_until('postgres', 'SELECT hits > 1000 FROM pm_cache')
	  or die 'the loop of renders never got going';
	is($node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)"), 't',
		'terminate: a backend in a loop of renders is terminated');
	$node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid")
	  or die 'the terminated backend is still there';
	eval { $s->quit };
	is($node->safe_psql('postgres', 'SELECT cache_consistent()'), 't',
		'terminate: the cache is consistent');
	cmp_ok($node->safe_psql('postgres', 'SELECT entries FROM pm_cache'), '>', 0,
		'terminate: and still holds its entries (no restart)');
	is($node->safe_psql('postgres', 'SELECT k_wrong()'), '0',
		'terminate: renders are right');
	$checked += 1000;
}

#----------------------------------------------------------------------
# a backend killed with SIGKILL in the middle of renders: crash recovery
#----------------------------------------------------------------------
{
	# renders of every kind going on in two sessions, an uncommitted update
	# in a third
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	my $bulk = $node->background_psql('postgres', on_error_stop => 0);
	my $writer = $node->background_psql('postgres', on_error_stop => 0);
	$writer->query_safe(q{BEGIN; UPDATE pm_prompts SET content = E'uncommitted [N]\n//include k/inc' WHERE prompt_id = 'k/50';
		INSERT INTO pm_prompts (prompt_id, content) VALUES ('k/new', 'uncommitted')});
	is($writer->query_safe(q{SELECT pm_render('k/50', '{"n": 1}')}),
		"uncommitted 1\ninc 1 end", 'kill: the writer sees its own update');
	$node->safe_psql('postgres', q{UPDATE pm_prompts SET parameters = '{"[T]": "fin"}' WHERE prompt_id = 'k/inc';
		UPDATE pm_prompts SET parameters = '{"[T]": "end"}' WHERE prompt_id = 'k/inc'});
	my $digest = $node->safe_psql('postgres', 'SELECT prompts_digest()');
	my $revisions = $node->safe_psql('postgres',
		'SELECT string_agg(prompt_id || revision, \',\' ORDER BY prompt_id) FROM pm_prompts');

	my $hits = $node->safe_psql('postgres', 'SELECT hits FROM pm_cache');
	$s->query_until(qr/started/, "\\echo started\n$loop_sql;\n");
	$bulk->query_until(qr/started/, "\\echo started\n" . q{SELECT count(*) FROM (SELECT generate_series(1, 100000000) AS i) s,
		LATERAL pm_bulk_render(jsonb_build_array(jsonb_build_object('prompt_id', 'k/' || (i % 50 + 1),
			'parameters', jsonb_build_object('n', i % 1000)))) b;} . "\n");
	$node->poll_query_until('postgres', "SELECT hits > $hits + 1000 AND inserts > 300 FROM pm_cache")
	  or die 'the renders never got going';
	my $before = $node->safe_psql('postgres', 'SELECT entries FROM pm_cache');
	note("kill: $before cache entries before the kill");
	my $log_offset = -s $node->logfile;

	$guard->expect_restart;
	ok(kill('KILL', $pid), "kill: SIGKILL sent to backend $pid in a loop of renders");
	# crash recovery, then connections again; a connection may still get in
	# before the postmaster has noticed the kill, so wait for its restart
	# first (a timeout fails the check below)
	eval { $node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset) };
	$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not come back';
	my $log = slurp_file($node->logfile, $log_offset);
	like($log, PmGuard::killed_re($pid, 9),
		'kill: the postmaster saw the backend killed');
	like($log, qr/all server processes terminated; reinitializing/, 'kill: the server restarted');
	$guard->restarted;
	eval { $s->quit };
	eval { $bulk->quit };
	eval { $writer->quit };

	is($node->safe_psql('postgres', 'SELECT entries, bytes_used FROM pm_cache'), '0|0',
		'kill: the cache came back empty');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM pm_cache_entries'), '0',
		'kill: pm_cache_entries lists nothing');
	is($node->safe_psql('postgres', 'SELECT cache_consistent()'), 't',
		'kill: the cache is consistent');
	is($node->safe_psql('postgres', 'SELECT prompts_digest()'), $digest,
		'kill: every committed prompt is still there, unchanged (count and md5)');
	is($node->safe_psql('postgres',
		'SELECT string_agg(prompt_id || revision, \',\' ORDER BY prompt_id) FROM pm_prompts'),
		$revisions, 'kill: with the same revisions');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pm_prompts
		WHERE prompt_id = 'k/new' OR content LIKE 'uncommitted%'}), '0',
		'kill: the uncommitted changes are gone');
	is($node->safe_psql('postgres', 'SELECT k_wrong()'), '0',
		'kill: renders are right, cached and uncached');
	is($node->safe_psql('postgres', 'SELECT k_wrong()'), '0',
		'kill: and right again, from the cache');
	$checked += 2000;
	cmp_ok($node->safe_psql('postgres', 'SELECT hits FROM pm_cache'), '>=', 500,
		'kill: the cache works again');
	is($node->safe_psql('postgres', 'SELECT cache_consistent()'), 't',
		'kill: the cache is consistent once filled');
	# a new revision after recovery is above every revision before it
	$node->safe_psql('postgres', q{UPDATE pm_prompts SET content = 'inc [N] [T] after' WHERE prompt_id = 'k/inc'});
	is($node->safe_psql('postgres', q{SELECT pm_render('k/2', '{"n": 5}')}),
		'K2 5 ' . ('k' x 100) . "\ninc 5 end after", 'kill: an update after recovery is rendered');
	$node->safe_psql('postgres', q{UPDATE pm_prompts SET content = 'inc [N] [T]' WHERE prompt_id = 'k/inc'});
	is($node->safe_psql('postgres', 'SELECT k_wrong()'), '0', 'kill: and undone');
	$checked += 1001;
}

#----------------------------------------------------------------------
# a full cache, a full statistics table, renderings too large to cache
#----------------------------------------------------------------------
$node->append_conf('postgresql.conf', q{
prompt_manager.cache_size = '1MB'
prompt_manager.cache_max_entries = 100
prompt_manager.stats_max = 100
});
$guard->restart;
is($node->safe_psql('postgres', q{SELECT capacity_bytes, max_entries,
	current_setting('prompt_manager.stats_max') FROM pm_cache}),
	'1048576|100|100', 'full: restarted with a 1 MB cache of 100 entries, stats_max 100');
$node->safe_psql('postgres', q{
	INSERT INTO pm_prompts (prompt_id, content)
	SELECT 's/' || g, 'S' || g || ' [N] ' || repeat('s', 3000) || E'\n//include k/inc'
	FROM generate_series(1, 300) g;
	CREATE FUNCTION expected_s(g int, n int) RETURNS text LANGUAGE sql
	AS $$ SELECT 'S' || g || ' ' || n || ' ' || repeat('s', 3000) || E'\ninc ' || n || ' end' $$;
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('big', 'big [N] ' || repeat('b', 400000)),
		('huge', 'huge [N] ' || repeat('h', 2000000));
});
# 300 prompts, two params each: 600 renderings of 3 kB through a cache of
# 100 entries and 1 MB, three times, each in its own transaction
my $s_wrong = q{SELECT count(*) FILTER (WHERE pm_render('s/' || g, jsonb_build_object('n', n))
		IS DISTINCT FROM expected_s(g, n))
	FROM generate_series(1, 300) g, generate_series(1, 2) n};
for my $pass (1 .. 3)
{
	is($node->safe_psql('postgres', $s_wrong), '0', "full: pass $pass, 600 renderings right");
	$checked += 600;
}
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE pm_render('s/' || g, jsonb_build_object('n', 1))
		IS DISTINCT FROM uncached('s/' || g, jsonb_build_object('n', 1)))
	FROM generate_series(1, 300) g}), '0', 'full: as uncached renders give');
$checked += 300;
# pm_bulk_render, request by request
is($node->safe_psql('postgres', q{
	SELECT count(*), count(*) FILTER (WHERE b.ok AND b.result = expected_s(q.g, q.n))
	FROM (SELECT jsonb_agg(jsonb_build_object('prompt_id', 's/' || g, 'parameters', jsonb_build_object('n', n))
		ORDER BY n, g) AS r FROM generate_series(1, 300) g, generate_series(1, 3) n) req,
	LATERAL pm_bulk_render(req.r) b
	JOIN (SELECT row_number() OVER (ORDER BY n, g) AS ord, g, n
		FROM generate_series(1, 300) g, generate_series(1, 3) n) q ON q.ord = b.ord}),
	'900|900', 'full: pm_bulk_render of 900 requests, each right');
$checked += 900;
# too large: over a quarter of the cache, and over cache_max_entry_size
my $before = $node->safe_psql('postgres', 'SELECT skipped FROM pm_cache');
is($node->safe_psql('postgres', q{
	SELECT pm_render('big', '{"n": 1}') = 'big 1 ' || repeat('b', 400000),
	       pm_render('big', '{"n": 1}') = 'big 1 ' || repeat('b', 400000),
	       pm_render('huge', '{"n": 2}') = 'huge 2 ' || repeat('h', 2000000),
	       (SELECT bool_and(ok AND result = 'big 3 ' || repeat('b', 400000))
		FROM pm_bulk_render('[{"prompt_id": "big", "parameters": {"n": 3}},
			{"prompt_id": "big", "parameters": {"n": 3}}]'))}),
	't|t|t|t', 'full: renderings too large to cache render right');
$checked += 5;
is($node->safe_psql('postgres', 'SELECT skipped FROM pm_cache') - $before, 5,
	'full: and are skipped');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pm_cache_entries WHERE prompt_id IN ('big', 'huge')}),
	'0', 'full: never stored');
my $stats = $node->safe_psql('postgres', q{SELECT format('entries %s/%s, bytes %s/%s, inserts %s, evictions %s, skipped %s',
	entries, max_entries, bytes_used, capacity_bytes, inserts, evictions, skipped) FROM pm_cache});
note("full: cache $stats");
cmp_ok($node->safe_psql('postgres', 'SELECT evictions FROM pm_cache'), '>', 0, 'full: the cache evicted');
is($node->safe_psql('postgres', 'SELECT cache_consistent()'), 't', 'full: the cache is consistent');
my $stat_rows = $node->safe_psql('postgres', 'SELECT count(*) FROM pm_stats');
note("full: pm_stats holds $stat_rows rows after 302 prompts were rendered");
cmp_ok($stat_rows, '<=', 100, 'full: pm_stats holds at most stats_max rows');
cmp_ok($stat_rows, '>', 0, 'full: and still counts');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pm_frequent_prompts(1000)}), $stat_rows,
	'full: pm_frequent_prompts lists them');
# the statistics go on after eviction: 50 new prompts rendered many times
# (once pm_flush_usage has added the renders counted so far: entries whose
# usage is not flushed yet are never evicted)
$node->safe_psql('postgres', 'SELECT pm_flush_usage()');
$node->safe_psql('postgres', q{SELECT count(pm_render('s/' || g, jsonb_build_object('n', r)))
	FROM generate_series(251, 300) g, generate_series(1, 20) r});
is($node->safe_psql('postgres', q{SELECT count(*) FROM pm_stats WHERE prompt_id LIKE 's/%'
	AND substr(prompt_id, 3)::int > 250 AND renders >= 20}), '50',
	'full: prompts rendered often after the table filled are counted');
cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM pm_stats'), '<=', 100,
	'full: pm_stats still holds at most stats_max rows');
is($node->safe_psql('postgres', $s_wrong), '0', 'full: renders still right');
$checked += 600 + 1000;

#----------------------------------------------------------------------
# DROP EXTENSION and CREATE EXTENSION again
#----------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE dx');
my $dx_setup = q{
	CREATE EXTENSION prompt_manager;
	INSERT INTO pm_prompts (prompt_id, content) VALUES ('e/a', E'A%s [N]\n//include e/b');
	INSERT INTO pm_prompts (prompt_id, content) VALUES ('e/b', 'B%s');
};
$node->safe_psql('dx', sprintf($dx_setup, 1, 1));
my $rev = $node->safe_psql('dx', q{SELECT string_agg(prompt_id || ':' || revision, ',' ORDER BY prompt_id) FROM pm_prompts});
{
	my $s = $node->background_psql('dx');
	my $render = q{SELECT pm_render('e/a', '{"n": 1}')};
	is($s->query_safe($render), "A1 1\nB1", 'extension: renders');
	is($s->query_safe($render), "A1 1\nB1", 'extension: renders again (cached)');
	is($node->safe_psql('dx', $render), "A1 1\nB1", 'extension: another session renders');

	# dropped and re-created in a transaction that rolls back
	is($node->safe_psql('dx', q{
		BEGIN;
		DROP EXTENSION prompt_manager CASCADE;
		CREATE EXTENSION prompt_manager;
		INSERT INTO pm_prompts (prompt_id, content) VALUES ('e/a', E'Atx [N]\n//include e/b');
		INSERT INTO pm_prompts (prompt_id, content) VALUES ('e/b', 'Btx');
		SELECT pm_render('e/a', '{"n": 1}');
		ROLLBACK;
		SELECT pm_render('e/a', '{"n": 1}')}), "Atx 1\nBtx\nA1 1\nB1",
		'extension: re-created in a transaction: renders its rows, and the old ones after ROLLBACK');
	is($s->query_safe($render), "A1 1\nB1", 'extension: the first session still renders the old rows');

	$node->safe_psql('dx', 'DROP EXTENSION prompt_manager CASCADE');
	$node->safe_psql('dx', sprintf($dx_setup, 2, 2));
	is($node->safe_psql('dx', q{SELECT string_agg(prompt_id || ':' || revision, ',' ORDER BY prompt_id) FROM pm_prompts}),
		$rev, 'extension: re-created, the new rows have the old revisions');
	is($s->query_safe($render), "A2 1\nB2",
		'extension: the session that rendered the old table renders the new one');
	is($s->query_safe(q{SET prompt_manager.cache = off; SELECT pm_render('e/a', '{"n": 1}')}), "A2 1\nB2",
		'extension: and so it does uncached');
	is($node->safe_psql('dx', $render), "A2 1\nB2", 'extension: a new session renders the new table');
	is($node->safe_psql('dx', $render), "A2 1\nB2", 'extension: twice');
	$checked += 9;
	$s->quit;
}
is($node->safe_psql('postgres', 'SELECT cache_consistent()'), 't', 'extension: the cache is consistent');

#----------------------------------------------------------------------
# pg_dump and pg_restore with a warm cache
#----------------------------------------------------------------------
my $tempdir = PostgreSQL::Test::Utils::tempdir;
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
	CREATE EXTENSION prompt_manager;
	INSERT INTO pm_prompts (prompt_id, content, parameters)
	SELECT 'd/' || g, 'D' || g || E' [N] [M]\n//include d/inc', jsonb_build_object('[M]', 'm' || g)
	FROM generate_series(1, 50) g;
	INSERT INTO pm_prompts (prompt_id, content) VALUES ('d/inc', 'inc [N] [M]');
});
my $d_renders = q{SELECT count(*), md5(string_agg(pm_render('d/' || g, jsonb_build_object('n', n)), '|' ORDER BY g, n))
	FROM generate_series(1, 50) g, generate_series(1, 4) n};
my $d_uncached = q{SET prompt_manager.cache = off;} . $d_renders;
my $src_renders = $node->safe_psql('src', $d_renders);
is($node->safe_psql('src', $d_renders), $src_renders, 'dump: the source renders, warm');
is($node->safe_psql('src', $d_uncached), $src_renders, 'dump: as uncached renders do');
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$tempdir/src.dump", '-d', $node->connstr('src') ],
	'dump: pg_dump -Fc with the cache warm');
# changed after the dump, and rendered again: the cache holds both
$node->safe_psql('src', q{UPDATE pm_prompts SET content = 'inc [N] changed' WHERE prompt_id = 'd/inc';
	UPDATE pm_prompts SET parameters = '{"[M]": "changed"}' WHERE prompt_id IN ('d/1', 'd/2')});
my $changed_renders = $node->safe_psql('src', $d_renders);
isnt($changed_renders, $src_renders, 'dump: the source renders its changes');
is($node->safe_psql('src', $d_renders), $changed_renders, 'dump: twice');

$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), "$tempdir/src.dump" ],
	'dump: pg_restore into a new database');
for my $pass (1 .. 2)
{
	is($node->safe_psql('dst', $d_renders), $src_renders, "dump: the new database renders what was dumped ($pass)");
}
is($node->safe_psql('dst', $d_uncached), $src_renders, 'dump: as uncached renders do');
{
	# its DROP EXTENSION drops the prompts it restores: say so (the drop
	# guard refuses it otherwise)
	local $ENV{PGOPTIONS} = '-c prompt_manager.allow_drop_with_prompts=on';
	$node->command_ok([ 'pg_restore', '--exit-on-error', '--clean', '--if-exists', '-d', $node->connstr('src'),
		"$tempdir/src.dump" ], 'dump: pg_restore --clean over the source database');
}
for my $pass (1 .. 2)
{
	is($node->safe_psql('src', $d_renders), $src_renders, "dump: the source renders what was dumped ($pass)");
}
is($node->safe_psql('src', $d_uncached), $src_renders, 'dump: as uncached renders do');
$checked += 200 * 10;

# TRUNCATE and a data-only restore into the same table: the dump's setval
# takes pm_prompts_revision_seq back, and revisions taken after the dump
# are taken again
$node->safe_psql('postgres', 'CREATE DATABASE rs');
$node->safe_psql('rs', q{CREATE EXTENSION prompt_manager;
	INSERT INTO pm_prompts (prompt_id, content) VALUES ('r/solo', 'solo v1')});
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$tempdir/rs.dump", '-d', $node->connstr('rs') ],
	'data-only: pg_dump -Fc');
$node->safe_psql('rs', q{UPDATE pm_prompts SET content = 'solo v2' WHERE prompt_id = 'r/solo'});
is($node->safe_psql('rs', q{SELECT pm_render('r/solo')}), 'solo v2', 'data-only: renders the change after the dump');
# (every table of the extension: the data-only restore loads the versions too)
$node->safe_psql('rs', 'TRUNCATE pm_prompts, pm_prompt_versions, pm_labels, pm_label_history, pm_protected_labels');
$node->command_ok([ 'pg_restore', '--exit-on-error', '--data-only', '-d', $node->connstr('rs'),
	"$tempdir/rs.dump" ], 'data-only: TRUNCATE, then pg_restore --data-only');
is($node->safe_psql('rs', q{SELECT pm_render('r/solo')}), 'solo v1', 'data-only: renders what was dumped');
my ($seq_after, $max_rev) = split /\|/, $node->safe_psql('rs',
	'SELECT (SELECT last_value FROM pm_prompts_revision_seq), max(revision) FROM pm_prompts');
note("data-only: after the restore, the sequence is at $seq_after, the highest revision is $max_rev");
$node->safe_psql('rs', q{UPDATE pm_prompts SET content = 'solo v3' WHERE prompt_id = 'r/solo'});
is($node->safe_psql('rs', q{SELECT pm_render('r/solo')}), 'solo v3',
	'data-only: an update after the restore is rendered, though its revision was used before');
is($node->safe_psql('rs', q{SET prompt_manager.cache = off; SELECT pm_render('r/solo')}), 'solo v3',
	'data-only: uncached, in a new session, the update is rendered');
$checked += 4;

note("renders checked against the text they must be: $checked");

#----------------------------------------------------------------------
# the server log: the errors this test causes, and nothing else
#----------------------------------------------------------------------
$guard->check;
$node->stop;
my @expected = (
	qr/ERROR:  canceling statement due to (user request|statement timeout)/,
	qr/FATAL:  terminating connection due to administrator command/,
	qr/FATAL:  the database system is (in recovery mode|not yet accepting connections|starting up)/,
	qr/WARNING:  terminating connection because of crash of another server process/,
	qr/FATAL:  terminating autovacuum process due to administrator command/,
);
my %count;
my @unexpected;
for my $line (split /\n/, slurp_file($node->logfile))
{
	next unless $line =~ /\b(ERROR|FATAL|PANIC|WARNING):|TRAP:|terminated by signal/ || $line =~ $PmGuard::CRASH_RE;
	my ($i) = grep { $line =~ $expected[$_] } 0 .. $#expected;
	if (defined $i)
	{
		$count{$i}++;
	}
	elsif ($line =~ PmGuard::killed_re('\d+', 9))
	{
		$count{kill}++;
	}
	# the crash restart that follows the kill (PmGuard::CRASH_RE sees it)
	elsif ($line =~ /LOG:  (terminating any other active server processes|all server processes terminated; reinitializing)$/)
	{
		$count{reinit}++;
	}
	else
	{
		push @unexpected, $line;
	}
}
note('expected in the log: ' . join(', ', map { ($_ eq 'kill' ? 'killed backend' : $_ eq 'reinit' ? 'crash restart' : $expected[$_]) . " x $count{$_}" } sort keys %count));
is($count{0}, 6, 'log: one cancel or timeout for each of the six stopped statements');
is($count{kill} // 0, 1, 'log: one backend killed, by this test');
is($count{reinit} // 0, 2, 'log: one crash restart, after that kill');
is(scalar(@unexpected), 0, 'log: no other error, warning, crash or assertion failure')
  or diag(join("\n", @unexpected[0 .. ($#unexpected < 19 ? $#unexpected : 19)]));

done_testing();
