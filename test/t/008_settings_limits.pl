# The settings that size shared memory, and cache_ttl, at the ends of
# their ranges (the others: sql/settings_limits.sql).
#
# What a user relies on:
#  - prompt_manager.cache_ttl of 30 days, or at its maximum (2147483647 s,
#    68 years), keeps cached renderings: the second render is a hit (an
#    int overflow of the TTL in milliseconds once made every entry count
#    as expired past 24.8 days);
#  - cache_size, cache_max_entries and stats_max at their maximums give the
#    shared memory they say (no overflow in its size), at their minimums a
#    server that renders right, caches and counts within those bounds;
#  - one past either end is refused by the GUC machinery with a WARNING
#    naming the range, and the default is used;
#  - cache_max_entry_size at its minimum caches only tiny renderings, at
#    its maximum any rendering the cache has room for.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;

my $node = PostgreSQL::Test::Cluster->new('limits');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'prompt_manager'");

#----------------------------------------------------------------------
# shared memory at the ends of the ranges, computed by postgres -C on the
# stopped server (the maximums need more memory than this machine has)
#----------------------------------------------------------------------

# shared_memory_size (MB) with these settings (postgres -C logs nothing)
sub shmem_size
{
	my (%settings) = @_;
	my @cmd = ('postgres', '-D', $node->data_dir, '-C', 'shared_memory_size',
		map { ('-c', "prompt_manager.$_=$settings{$_}") } sort keys %settings);
	my ($stdout, $stderr);
	IPC::Run::run(\@cmd, '>', \$stdout, '2>', \$stderr)
	  or die "postgres -C failed: $stderr";
	chomp $stdout;
	return $stdout;
}

my $default_size = shmem_size();
my $max_size = shmem_size(cache_size => '64GB',
	cache_max_entries => 10000000, stats_max => 1000000);
cmp_ok($max_size, '>', 64 * 1024 + 1000,
	"at their maximums the settings reserve more than 64 GB + the index ($max_size MB)");
my $min_size = shmem_size(cache_size => '1MB',
	cache_max_entries => 100, stats_max => 100);
cmp_ok($min_size, '<', $default_size - 60,
	"at their minimums the settings reserve less than the defaults ($min_size MB, defaults $default_size MB)");

#----------------------------------------------------------------------
# one past either end: a WARNING naming the range, and the default
#----------------------------------------------------------------------
sub start_with
{
	my ($label, $expect_warnings, %settings) = @_;
	$node->append_conf('postgresql.conf',
		join('', map { "prompt_manager.$_ = '$settings{$_}'\n" } sort keys %settings));
	my $offset = -s $node->logfile;
	$node->start;
	my $guard = PmGuard->new($node);
	my $log = slurp_file($node->logfile, $offset);
	foreach my $w (@$expect_warnings)
	{
		like($log, $w->[1], "$label: a WARNING for $w->[0]");
	}
	is($node->safe_psql('postgres', q{
		SHOW prompt_manager.cache_size; SHOW prompt_manager.cache_max_entries;
		SHOW prompt_manager.stats_max}),
		"64MB\n10000\n5000", "$label: the server runs with the defaults");
	$node->safe_psql('postgres', 'CREATE EXTENSION IF NOT EXISTS prompt_manager');
	is($node->safe_psql('postgres', q{SELECT pm_render_template('still [OK]', '{"ok": "fine"}')}),
		'still fine', "$label: renders");
	$guard->check;
	$node->stop;
}

start_with('one past the maximums',
	[ [ 'cache_size', qr/WARNING:  68157440 kB is outside the valid range for parameter "prompt_manager.cache_size" \(1024(?: kB)? .. 67108864(?: kB)?\)/ ],
	  [ 'cache_max_entries', qr/WARNING:  10000001 is outside the valid range for parameter "prompt_manager.cache_max_entries" \(100 .. 10000000\)/ ],
	  [ 'stats_max', qr/WARNING:  1000001 is outside the valid range for parameter "prompt_manager.stats_max" \(100 .. 1000000\)/ ] ],
	cache_size => '65GB', cache_max_entries => 10000001, stats_max => 1000001);
start_with('one below the minimums',
	[ [ 'cache_size', qr/WARNING:  1023 kB is outside the valid range for parameter "prompt_manager.cache_size" \(1024(?: kB)? .. 67108864(?: kB)?\)/ ],
	  [ 'cache_max_entries', qr/WARNING:  99 is outside the valid range for parameter "prompt_manager.cache_max_entries" \(100 .. 10000000\)/ ],
	  [ 'stats_max', qr/WARNING:  99 is outside the valid range for parameter "prompt_manager.stats_max" \(100 .. 1000000\)/ ] ],
	cache_size => '1023kB', cache_max_entries => 99, stats_max => 99);

#----------------------------------------------------------------------
# a server at the minimums
#----------------------------------------------------------------------
$node->append_conf('postgresql.conf', q{
prompt_manager.cache_size = '1MB'
prompt_manager.cache_max_entries = 100
prompt_manager.stats_max = 100
});
$node->start;
my $guard = PmGuard->new($node);

$node->safe_psql('postgres', q{
	CREATE EXTENSION IF NOT EXISTS prompt_manager;
	-- one render, and what the cache counters did meanwhile (nothing else
	-- runs on this server)
	CREATE FUNCTION probe(id text, p jsonb DEFAULT '{}',
		OUT output text, OUT hit boolean, OUT miss boolean, OUT expired boolean,
		OUT skipped boolean)
	LANGUAGE plpgsql AS $$
	DECLARE
		h bigint; m bigint; e bigint; s bigint;
	BEGIN
		SELECT hits, misses, expirations, pm_cache.skipped INTO h, m, e, s FROM pm_cache;
		output := pm_render(id, p);
		SELECT hits > h, misses > m, expirations > e, pm_cache.skipped > s
		INTO hit, miss, expired, skipped FROM pm_cache;
	END $$;
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('t', E'TTL [A]\n//include t/leaf'),
		('t/leaf', 'leaf'),
		('big', '[TEXT]'),
		('big/200k', repeat('y', 200000));
	INSERT INTO pm_prompts (prompt_id, content)
	SELECT 's/' || i, 'prompt ' || i || ' [A]' FROM generate_series(1, 150) AS i;
});

sub probe
{
	my ($id, $params, $set) = @_;
	$params //= '{}';
	$set //= '';
	my @f = split /\|/, $node->safe_psql('postgres',
		"$set SELECT output, hit, miss, expired, skipped FROM probe('$id', '$params')");
	return { output => $f[0], hit => $f[1], miss => $f[2], expired => $f[3],
		skipped => $f[4] };
}

is($node->safe_psql('postgres', 'SELECT capacity_bytes, max_entries FROM pm_cache'),
	'1048576|100', 'pm_cache shows the minimum cache_size and cache_max_entries');

# 150 prompts with 3 params each: 450 renderings through a cache of 100,
# each asked for twice (a full cache stores what it misses a second time)
my $wrong = $node->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(1, 150) AS i, generate_series(1, 3) AS j, generate_series(1, 2) AS twice
	WHERE pm_render('s/' || i, jsonb_build_object('a', j + 0 * twice)) IS DISTINCT FROM 'prompt ' || i || ' ' || j});
is($wrong, '0', 'at the minimums every render is right');
my $cache = $node->safe_psql('postgres', 'SELECT entries <= 100, evictions > 0, bytes_used <= capacity_bytes FROM pm_cache');
is($cache, 't|t|t', 'the cache keeps within cache_max_entries, evicting');
is($node->safe_psql('postgres', 'SELECT count(*) <= 100, count(*) > 0 FROM pm_stats'),
	't|t', 'pm_stats keeps within stats_max');

# cache_max_entry_size (a superuser setting) at its ends, in an emptied
# cache (which stores a rendering at its first miss)
$node->safe_psql('postgres', 'SELECT pm_cache_reset()');
my $small = '{"text": "' . ('x' x 10) . '"}';
my $large = '{"text": "' . ('x' x 2000) . '"}';
my $p = probe('big', $large, "SET prompt_manager.cache_max_entry_size = '1kB';");
ok($p->{skipped} eq 't' && length($p->{output}) == 2000,
	'cache_max_entry_size 1kB: a 2000-byte rendering is right and not cached');
$p = probe('big', $small, "SET prompt_manager.cache_max_entry_size = '1kB';");
$p = probe('big', $small, "SET prompt_manager.cache_max_entry_size = '1kB';");
ok($p->{hit} eq 't' && $p->{output} eq 'x' x 10,
	'cache_max_entry_size 1kB: a 10-byte rendering is cached');
$p = probe('big/200k', '{}', "SET prompt_manager.cache_max_entry_size = '1GB';");
$p = probe('big/200k', '{}', "SET prompt_manager.cache_max_entry_size = '1GB';");
ok($p->{hit} eq 't' && length($p->{output}) == 200000,
	'cache_max_entry_size 1GB: a 200 kB rendering (under a quarter of the cache) is cached');

#----------------------------------------------------------------------
# cache_ttl: 30 days and its maximum keep entries
#----------------------------------------------------------------------

# set a setting with ALTER SYSTEM, reload, and wait until new sessions see it
sub alter_system
{
	my ($name, $value, $show) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET $name = '$value'");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	$node->poll_query_until('postgres', "SELECT current_setting('$name') = '$show'")
	  or die "$name did not become $show";
}

# 30 days, the maximum, and 2149200 s (24 days 21 hours: just past where
# the TTL in milliseconds overflowed an int)
foreach my $ttl (['30d', '30d'], ['2147483647', '2147483647s'], ['2149200', '597h'])
{
	alter_system('prompt_manager.cache_ttl', $ttl->[0], $ttl->[1]);
	$node->safe_psql('postgres', 'SELECT pm_cache_reset()');
	$p = probe('t', '{"a": 1}');
	ok($p->{miss} eq 't' && $p->{output} eq "TTL 1\nleaf", "cache_ttl $ttl->[1]: first render is a right miss");
	$p = probe('t', '{"a": 1}');
	ok($p->{hit} eq 't' && $p->{expired} eq 'f' && $p->{output} eq "TTL 1\nleaf",
		"cache_ttl $ttl->[1]: second render is a hit, nothing expired");
}

# one past its maximum: refused, the value unchanged
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	"ALTER SYSTEM SET prompt_manager.cache_ttl = 2147483648");
isnt($ret, 0, 'cache_ttl one past its maximum: ALTER SYSTEM fails');
like($stderr, qr/invalid value for parameter "prompt_manager.cache_ttl": "2147483648"/,
	'cache_ttl one past its maximum: the error names the setting');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
is($node->safe_psql('postgres', 'SHOW prompt_manager.cache_ttl'), '597h',
	'cache_ttl keeps its value');

$guard->check;
done_testing();
