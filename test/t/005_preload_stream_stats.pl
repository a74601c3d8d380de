# Preloading at server start, streaming a very large rendering, and the
# bound on statistics memory.
#
# What a user relies on:
#  - with prompt_manager.preload_databases set, the prompts marked
#    preload = true are in the shared cache right after a restart, before
#    any client renders them, and the first pm_render is a cache hit;
#  - pm_render_lines streams a rendering far larger than memory would
#    allow to build: the backend's peak memory stays far below its size;
#  - pm_bulk_render does not keep its results: 1000 MB of them leave the
#    backend's peak memory far below that, and nothing goes to disk;
#  - renders still pending when a session exits are added to pm_stats;
#  - pm_stats keeps at most prompt_manager.stats_max prompts, evicting the
#    least rendered.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;

my $node = PostgreSQL::Test::Cluster->new('preload');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'prompt_manager'
prompt_manager.preload_databases = 'app, nonexistent_db_is_skipped'
prompt_manager.stats_max = 100
});
$node->start;
my $guard = PmGuard->new($node);
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', q{
	CREATE EXTENSION prompt_manager;
	INSERT INTO pm_prompts (prompt_id, content, parameters, preload) VALUES
		('warm/a', E'Warm A for [WHO]\n//include warm/footer', '{"who": "everyone"}', true),
		('warm/b', 'Warm B', '{}', true),
		('warm/footer', '-- footer', '{}', false),
		('cold/c', 'Cold C', '{}', false);
});

# --- preload at server start ---------------------------------------------
$guard->restart;
ok($node->poll_query_until('app', 'SELECT entries >= 2 FROM pm_cache'),
	'the preload worker filled the cache after the restart');
is($node->safe_psql('app', 'SELECT hits, inserts, entries FROM pm_cache'),
	'0|2|2', 'two entries, stored by the worker, none served yet');
is($node->safe_psql('app', 'SELECT string_agg(prompt_id, \',\' ORDER BY prompt_id) FROM pm_cache_entries'),
	'warm/a,warm/b', 'exactly the prompts marked preload = true');
is($node->safe_psql('app', q{SELECT pm_render('warm/a')}),
	"Warm A for everyone\n-- footer", 'the preloaded rendering is right');
is($node->safe_psql('app', 'SELECT hits FROM pm_cache'), '1',
	'the first client render after the restart is a cache hit');
my $log = slurp_file($node->logfile);
like($log, qr/prompt_manager preloaded 2 prompt\(s\) of database "app"/,
	'the worker reports what it preloaded');
like($log, qr/database "nonexistent_db_is_skipped" does not exist/,
	'a database that does not exist is reported, not fatal to the others');
unlike($log, $PmGuard::CRASH_RE, 'no crash');

# --- streaming a rendering of over 100 MB ---------------------------------
$node->safe_psql('app', q{
	INSERT INTO pm_prompts (prompt_id, content)
	VALUES ('big/mb', repeat('0123456789abcdef', 65536)),
		('big/huge', (SELECT string_agg('//include big/mb', E'\n') FROM generate_series(1, 120)));
});

# Run the statement and read VmHWM of the same backend before and after.
my $bg = $node->background_psql('app');
my $pid = $bg->query_safe('SELECT pg_backend_pid()');
chomp $pid;
sub vmhwm_kb
{
	open my $fh, '<', "/proc/$pid/status" or die "cannot read /proc/$pid/status: $!";
	while (<$fh>) { return $1 if /^VmHWM:\s+(\d+) kB/; }
	die "no VmHWM in /proc/$pid/status";
}
my $before = vmhwm_kb();
my $streamed = $bg->query_safe(q{SELECT count(*) || ' ' || sum(octet_length(l)) FROM pm_render_lines('big/huge') AS l});
my $after_stream = vmhwm_kb();
is($streamed, '120 125829120', 'pm_render_lines streamed 120 lines, 120 MB');
my $growth_mb = ($after_stream - $before) / 1024;
note(sprintf('peak memory growth while streaming 120 MB: %.1f MB', $growth_mb));
cmp_ok($growth_mb, '<', 40, 'streaming 120 MB grew the backend by far less than that');

# the same rendering built whole needs it all at once (so the measure works)
my $whole = $bg->query_safe(q{SELECT octet_length(pm_render('big/huge'))});
my $after_whole = vmhwm_kb();
is($whole, 125829239, 'pm_render builds the same 120 MB (plus 119 newlines)');
note(sprintf('peak memory growth building it whole: %.1f MB', ($after_whole - $after_stream) / 1024));
cmp_ok(($after_whole - $before) / 1024, '>', 100, 'building it whole does take over 100 MB');
$bg->quit;

# --- pm_bulk_render streams its rows ----------------------------------------
# 1000 requests of big/mb: 1000 MB of results.  With work_mem at 1 MB, a
# function scan would collect them in a tuplestore written to temporary
# files; inlined in FROM, and in a SELECT list, rows pass one at a time.
my $requests = q{(SELECT jsonb_agg(jsonb_build_object('prompt_id', 'big/mb', 'parameters', jsonb_build_object('n', g % 2))) FROM generate_series(1, 1000) g)};
my %bulk_forms = (
	'pm_bulk_render in FROM' =>
	  "SELECT count(*) || ' ' || sum(octet_length(b.result)) FROM (SELECT $requests AS r) q, pm_bulk_render(q.r) b",
	'pm_bulk_render_rows in a SELECT list' =>
	  "SELECT count(*) || ' ' || sum(octet_length((b).result)) FROM (SELECT pm_bulk_render_rows($requests) AS b) s",
	'pm_bulk_render in a SELECT list' =>
	  "SELECT count(*) || ' ' || sum(octet_length((b).result)) FROM (SELECT pm_bulk_render($requests) AS b) s");
foreach my $form (sort keys %bulk_forms)
{
	$bg = $node->background_psql('app');
	$pid = $bg->query_safe('SELECT pg_backend_pid()');
	chomp $pid;
	$bg->query_safe('SET work_mem = 1024');
	$bg->query_safe('SET log_temp_files = 0');
	my $log_offset = -s $node->logfile;
	$before = vmhwm_kb();
	is($bg->query_safe($bulk_forms{$form}), '1000 1048576000',
		"$form: 1000 requests, 1000 MB of results");
	$growth_mb = (vmhwm_kb() - $before) / 1024;
	note(sprintf('%s: peak memory growth %.1f MB', $form, $growth_mb));
	cmp_ok($growth_mb, '<', 100, "$form: the backend grew by far less than 1000 MB");
	unlike(slurp_file($node->logfile, $log_offset), qr/temporary file/,
		"$form: no row went to a temporary file");
	$bg->quit;
}

# --- counts a session leaves pending are flushed when it exits -------------
# renders of a transaction that rolls back stay pending (they did happen);
# the session then ends without another commit: its exit flushes them
$node->safe_psql('app', q{SELECT pm_stats_reset('cold/c')});
$node->safe_psql('app', q{
	BEGIN;
	SELECT pm_render('cold/c');
	SELECT pm_render('cold/c');
	ROLLBACK;
});
ok($node->poll_query_until('app', q{SELECT renders = 2 FROM pm_stats WHERE prompt_id = 'cold/c'}),
	'renders of a rolled-back transaction are counted once the session exits');

# --- statistics stay within prompt_manager.stats_max ---------------------
$node->safe_psql('app', q{
	INSERT INTO pm_prompts (prompt_id, content)
	SELECT 'many/' || g, 'prompt ' || g FROM generate_series(1, 300) g;
	SELECT pm_stats_reset();
});
$node->safe_psql('app', q{SELECT count(pm_render('many/' || g)) FROM generate_series(1, 300) g});
# a few prompts rendered much more often: they must survive evictions
$node->safe_psql('app', q{SELECT count(pm_render('many/' || (g % 3 + 1))) FROM generate_series(1, 3000) g});
$node->safe_psql('app', q{SELECT count(pm_render('many/' || g)) FROM generate_series(101, 300) g});
my $count = $node->safe_psql('app', 'SELECT count(*) FROM pm_stats');
cmp_ok($count, '<=', 100, "pm_stats holds at most stats_max prompts ($count)");
is($node->safe_psql('app', q{SELECT string_agg(prompt_id, ',' ORDER BY prompt_id) FROM pm_stats WHERE renders > 500}),
	'many/1,many/2,many/3', 'the most rendered prompts were kept');

$guard->check;
$node->stop;
done_testing();
