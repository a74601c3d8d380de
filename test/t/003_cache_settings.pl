# The shared render cache: its settings and its bounds, on one server.
#
# What a user relies on:
#  - prompt_manager.cache_ttl changed with ALTER SYSTEM and a reload takes
#    effect at once: no rendering older than the TTL is ever served, even
#    one cached before the TTL was set, and a fresh one is cached again;
#  - the settings that change a rendering (missing_parameter,
#    unknown_directive, max_include_depth, missing_prompt_text, ...) changed
#    server-wide with ALTER SYSTEM and a reload are honoured by the next
#    render, in new sessions and in sessions already connected, and never
#    answered with a rendering cached under the old value;
#  - the cache stays inside prompt_manager.cache_size and
#    prompt_manager.cache_max_entries however many distinct renderings go
#    through it (its shared memory is what cache_size says, plus a little),
#    evicting as it must, while every render still returns the right text;
#  - a full cache stores a rendering the second time it is missed, not the
#    first (pm_preload always stores): a query that renders thousands of
#    rows once each does not push out what is rendered again and again;
#  - a rendering larger than prompt_manager.cache_max_entry_size (or than a
#    quarter of the cache) is rendered right and simply not cached;
#  - with prompt_manager.cache = off renders are right and the cache is not
#    touched at all.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('settings');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'prompt_manager'");
$node->start;
my $guard = PmGuard->new($node);

$node->safe_psql('postgres', q{
	CREATE EXTENSION prompt_manager;
	-- a render with the cache off, for comparison (SET clause: only for the call)
	CREATE FUNCTION uncached(id text, p jsonb DEFAULT '{}') RETURNS text
	LANGUAGE plpgsql SET prompt_manager.cache = off
	AS $$ BEGIN RETURN pm_render(id, p); END $$;
	-- one render, and what the cache counters did meanwhile (nothing else
	-- runs on this server)
	CREATE FUNCTION probe(id text, p jsonb DEFAULT '{}',
		OUT output text, OUT hit boolean, OUT miss boolean, OUT expired boolean,
		OUT started timestamptz, OUT finished timestamptz)
	LANGUAGE plpgsql AS $$
	DECLARE
		h bigint; m bigint; e bigint;
	BEGIN
		SELECT hits, misses, expirations INTO h, m, e FROM pm_cache;
		started := clock_timestamp();
		output := pm_render(id, p);
		finished := clock_timestamp();
		SELECT hits > h, misses > m, expirations > e INTO hit, miss, expired FROM pm_cache;
	END $$;
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('t', E'TTL [A]\n//include t/leaf'),
		('t/leaf', 'leaf');
});

sub probe
{
	my ($id, $params) = @_;
	$params //= '{}';
	my @f = split /\|/, $node->safe_psql('postgres',
		"SELECT output, hit, miss, expired, started, finished FROM probe('$id', '$params')");
	return { output => $f[0], hit => $f[1], miss => $f[2], expired => $f[3],
		started => $f[4], finished => $f[5] };
}

sub stats
{
	my $row = $node->safe_psql('postgres', q{
		SELECT row_to_json(c) FROM (SELECT entries, bytes_used, capacity_bytes, bytes_free,
			max_entries, hits, misses, inserts, evictions, expirations,
			invalidations, skipped FROM pm_cache) c});
	my %s = $row =~ /"(\w+)":(-?\d+)/g;
	return \%s;
}

# set (or reset, with undef) a setting with ALTER SYSTEM, reload, and wait
# until new sessions see it
sub alter_system
{
	my ($name, $value, $show) = @_;
	if (defined $value)
	{
		$node->safe_psql('postgres', "ALTER SYSTEM SET $name = '$value'");
	}
	else
	{
		$node->safe_psql('postgres', "ALTER SYSTEM RESET $name");
	}
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	$node->poll_query_until('postgres', "SELECT current_setting('$name') = '$show'")
	  or die "$name did not become $show";
}

#----------------------------------------------------------------------
# cache_ttl
#----------------------------------------------------------------------
$node->safe_psql('postgres', 'SELECT pm_cache_reset()');
is($node->safe_psql('postgres', 'SHOW prompt_manager.cache_ttl'), '0', 'ttl is 0 by default');
my $p = probe('t', '{"a": 1}');
is($p->{output}, "TTL 1\nleaf", 'ttl 0: renders');
ok($p->{miss} eq 't' && $p->{hit} eq 'f', 'ttl 0: first render is a miss');
$p = probe('t', '{"a": 1}');
is($p->{output}, "TTL 1\nleaf", 'ttl 0: renders again');
ok($p->{hit} eq 't', 'ttl 0: second render is a hit');

alter_system('prompt_manager.cache_ttl', '1', '1s');
# the entry was stored before the sleep: it is now older than the TTL
usleep(1_500_000);
$p = probe('t', '{"a": 1}');
is($p->{output}, "TTL 1\nleaf", 'ttl 1s: renders after the entry got older than the ttl');
ok($p->{miss} eq 't' && $p->{hit} eq 'f', 'ttl 1s: an entry older than the ttl is not served');
ok($p->{expired} eq 't', 'ttl 1s: pm_cache.expirations grew');
my $first = $p;
$p = probe('t', '{"a": 1}');
is($p->{output}, "TTL 1\nleaf", 'ttl 1s: renders again');
# the entry stored by the previous render is at most (this render's start -
# the previous render's start) old: a hit is due only if that is below 1 s
my $age_bound = $node->safe_psql('postgres',
	"SELECT '$p->{finished}'::timestamptz - '$first->{started}'::timestamptz < interval '0.9 s'");
SKIP:
{
	skip 'the machine took more than the ttl between two renders', 1 unless $age_bound eq 't';
	ok($p->{hit} eq 't', 'ttl 1s: the fresh entry is served');
}
# every entry is older than the TTL again after this sleep
usleep(1_500_000);
$p = probe('t', '{"a": 1}');
ok($p->{miss} eq 't' && $p->{expired} eq 't', 'ttl 1s: the fresh entry expires as well');
is($p->{output}, "TTL 1\nleaf", 'ttl 1s: renders right after it expired');

# a session connected before the reload honours the new ttl as well
alter_system('prompt_manager.cache_ttl', undef, '0');
my $session = $node->background_psql('postgres', on_error_stop => 0);
$session->query_safe(q{SELECT pm_render('t', '{"a": 2}')});
alter_system('prompt_manager.cache_ttl', '1', '1s');
# (the running session gets the reload when idle: wait until it has)
my $waited = 0;
while ($session->query_safe(q{SHOW prompt_manager.cache_ttl}) ne '1s')
{
	usleep(100_000);
	die 'the running session never saw the reload' if ++$waited > 10 * $PostgreSQL::Test::Utils::timeout_default;
}
usleep(1_500_000);
my $before = stats();
is($session->query_safe(q{SELECT pm_render('t', '{"a": 2}')}), "TTL 2\nleaf",
	'ttl 1s: a running session renders');
my $after = stats();
ok($after->{misses} > $before->{misses} && $after->{hits} == $before->{hits}
	  && $after->{expirations} > $before->{expirations},
	'ttl 1s: a running session is not served an entry older than the ttl');
alter_system('prompt_manager.cache_ttl', undef, '0');

#----------------------------------------------------------------------
# output-changing settings, server-wide
#----------------------------------------------------------------------
$node->safe_psql('postgres', q{
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('m/param', 'a [MISSING] b'),
		('m/directive', E'x\n//unknown thing\ny'),
		('m/depth', E'depth\n//include m/param'),
		('m/missing', E'gone:\n//include m/nowhere');
});
my @cases = (
	# setting, value, SHOW, prompt, default output, output with the value
	[ 'prompt_manager.missing_parameter', 'empty', 'empty', 'm/param',
		'a [MISSING] b', 'a  b' ],
	[ 'prompt_manager.unknown_directive', 'keep', 'keep', 'm/directive',
		undef, "x\n//unknown thing\ny" ],
	[ 'prompt_manager.max_include_depth', '0', '0', 'm/depth',
		"depth\na [MISSING] b", undef ],
	[ 'prompt_manager.raise_on_missing', 'off', 'off', 'm/missing',
		undef, "gone:\n" ],
);
for my $case (@cases)
{
	my ($name, $value, $show, $id, $default_out, $new_out) = @$case;

	# what the default renders (twice: the second comes from the cache)
	my $render_sql = "SELECT pm_render('$id')";
	my ($ret, $out, $err) = $node->psql('postgres', $render_sql);
	my ($ret2, $out2) = $node->psql('postgres', $render_sql);
	if (defined $default_out)
	{
		is($out, $default_out, "$name default: renders");
		is($out2, $default_out, "$name default: renders again");
	}
	else
	{
		isnt($ret, 0, "$name default: render fails");
	}

	my $keep = $node->background_psql('postgres', on_error_stop => 0);
	$keep->query_safe($render_sql) if defined $default_out;

	alter_system($name, $value, $show);
	($ret, $out, $err) = $node->psql('postgres', $render_sql);
	if (defined $new_out)
	{
		is($out, $new_out, "$name = $value: a new session renders with it");
		is($out, $node->safe_psql('postgres', "SELECT uncached('$id')"),
			"$name = $value: as an uncached render does");
	}
	else
	{
		isnt($ret, 0, "$name = $value: a new session's render fails");
	}
	$waited = 0;
	while ($keep->query_safe("SELECT current_setting('$name')") ne $show)
	{
		usleep(100_000);
		die "the running session never saw $name" if ++$waited > 10 * $PostgreSQL::Test::Utils::timeout_default;
	}
	($out, my $failed) = $keep->query($render_sql);
	if (defined $new_out)
	{
		is($out, $new_out, "$name = $value: a running session renders with it");
	}
	else
	{
		ok($failed, "$name = $value: a running session's render fails");
	}
	$keep->{stderr} = '';

	alter_system($name, undef, $node->safe_psql('postgres',
		"SELECT boot_val FROM pg_settings WHERE name = '$name'"));
	($ret, $out, $err) = $node->psql('postgres', $render_sql);
	if (defined $default_out)
	{
		is($out, $default_out, "$name back to default: renders as before");
	}
	else
	{
		isnt($ret, 0, "$name back to default: render fails as before");
	}
	$keep->quit;
}

# missing_prompt_text is part of the key too
alter_system('prompt_manager.raise_on_missing', 'off', 'off');
alter_system('prompt_manager.missing_prompt_text', '(one)', '(one)');
is($node->safe_psql('postgres', q{SELECT pm_render('m/missing')}), "gone:\n(one)",
	'missing_prompt_text: renders');
alter_system('prompt_manager.missing_prompt_text', '(two)', '(two)');
is($node->safe_psql('postgres', q{SELECT pm_render('m/missing')}), "gone:\n(two)",
	'missing_prompt_text changed: renders with the new text');
alter_system('prompt_manager.missing_prompt_text', undef, '');
alter_system('prompt_manager.raise_on_missing', undef, 'on');

#----------------------------------------------------------------------
# memory stays bounded
#----------------------------------------------------------------------
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET prompt_manager.cache_size = '1MB';
	ALTER SYSTEM SET prompt_manager.cache_max_entries = 200;
});
$guard->restart;
is($node->safe_psql('postgres', q{SELECT capacity_bytes, max_entries, entries FROM pm_cache}),
	'1048576|200|0', 'restarted with a 1 MB cache of at most 200 entries');
my $shmem = $node->safe_psql('postgres',
	q{SELECT size FROM pg_shmem_allocations WHERE name = 'prompt_manager cache'});
cmp_ok($shmem, '>=', 1048576, "shared memory of the cache ($shmem bytes) holds cache_size");
cmp_ok($shmem, '<=', 1048576 + 65536, 'and is at most cache_size plus 64 kB');

$node->safe_psql('postgres', q{
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('p', E'N=[N] ' || repeat('x', 1000) || E'\n//include p/leaf'),
		('p/leaf', 'end');
	CREATE FUNCTION expected(g int) RETURNS text LANGUAGE sql
	AS $$ SELECT 'N=' || g || ' ' || repeat('x', 1000) || E'\nend' $$;
});
is($node->safe_psql('postgres', q{SELECT pm_render('p', '{"n": 7}') = expected(7)}), 't',
	'the expected text is what a render gives');

# 2000 distinct renderings of about 1 kB through a cache of 200 entries and
# 1 MB, twice; every render checked against the text it must be
my $wrong_sql = q{
	SELECT count(*) FILTER (WHERE pm_render('p', jsonb_build_object('n', g)) IS DISTINCT FROM expected(g)),
	       count(*) FILTER (WHERE pm_render('p', jsonb_build_object('n', g)) IS DISTINCT FROM uncached('p', jsonb_build_object('n', g)))
	FROM generate_series(1, 2000) g};
is($node->safe_psql('postgres', $wrong_sql), '0|0', '2000 distinct renderings: all right');
my $s = stats();
note(explain($s));
cmp_ok($s->{entries}, '<=', 200, "entries ($s->{entries}) stay within cache_max_entries");
cmp_ok($s->{bytes_used}, '<=', $s->{capacity_bytes},
	"bytes_used ($s->{bytes_used}) stay within capacity_bytes");
cmp_ok($s->{evictions}, '>', 0, "evictions happened ($s->{evictions})");
cmp_ok($s->{inserts}, '>=', 2000, "every rendering was stored ($s->{inserts} inserts)");
is($node->safe_psql('postgres', $wrong_sql), '0|0', 'second pass: all right');
# ordered by n, so the last renders of the pass are the ones still cached
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE pm_render('p', jsonb_build_object('n', g)) IS DISTINCT FROM expected(g))
	FROM generate_series(1991, 2000) g}), '0', 'recent renders: right');
my $s2 = stats();
cmp_ok($s2->{hits}, '>', $s->{hits}, 'recent renders are served from the cache');
cmp_ok($s2->{entries}, '<=', 200, 'entries still within cache_max_entries');
cmp_ok($s2->{bytes_used}, '<=', $s2->{capacity_bytes}, 'bytes still within capacity_bytes');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pm_cache_entries}), $s2->{entries},
	'pm_cache_entries lists as many entries as pm_cache counts');
is($node->safe_psql('postgres', q{SELECT coalesce(sum(bytes), 0) FROM pm_cache_entries}),
	$s2->{bytes_used}, 'and their bytes add up to bytes_used');

#----------------------------------------------------------------------
# admission: the full cache stores what is missed twice, and keeps it
#----------------------------------------------------------------------
# 100 renderings new to the full cache, once each: turned away (but for
# the doorkeeper's rare false positives)
my $hundred_sql = q{
	SELECT count(*) FILTER (WHERE pm_render('p', jsonb_build_object('n', g)) IS DISTINCT FROM expected(g))
	FROM generate_series(10001, 10100) g};
my $a0 = stats();
is($node->safe_psql('postgres', $hundred_sql), '0', 'full: 100 new renderings, all right');
my $a1 = stats();
cmp_ok($a1->{inserts} - $a0->{inserts}, '<=', 10,
	'full: a rendering missed for the first time is not stored (' . ($a1->{inserts} - $a0->{inserts}) . ' of 100 were)');
cmp_ok($a1->{skipped} - $a0->{skipped}, '>=', 90, 'full: the others count as skipped');
is($node->safe_psql('postgres', $hundred_sql), '0', 'full: the same 100 again, all right');
my $a2 = stats();
is($a2->{inserts} - $a0->{inserts}, 100, 'full: missed a second time, each is stored');
is($node->safe_psql('postgres', $hundred_sql), '0', 'full: a third time, all right');
my $a3 = stats();
is($a3->{hits} - $a2->{hits}, 100, 'full: and served from the cache');
# a scan: 2000 more renderings, once each
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE pm_render('p', jsonb_build_object('n', g)) IS DISTINCT FROM expected(g))
	FROM generate_series(20001, 22000) g}), '0', 'full: a scan of 2000 renderings, all right');
my $a4 = stats();
cmp_ok($a4->{inserts} - $a3->{inserts}, '<=', 200,
	'full: the scan stored few of them (' . ($a4->{inserts} - $a3->{inserts}) . ')');
is($node->safe_psql('postgres', $hundred_sql), '0', 'full: the 100 after the scan, all right');
my $a5 = stats();
cmp_ok($a5->{hits} - $a4->{hits}, '>=', 90,
	'full: the renderings asked for again survived the scan (' . ($a5->{hits} - $a4->{hits}) . ' of 100 hits)');
cmp_ok($a5->{entries}, '<=', 200, 'full: entries still within cache_max_entries');
# pm_preload is asked to store: it does, in a full cache too
$node->safe_psql('postgres', q{INSERT INTO pm_prompts (prompt_id, content) VALUES ('pre', 'preloaded')});
is($node->safe_psql('postgres', q{SELECT pm_preload(ARRAY['pre'])}), '1', 'full: pm_preload of a new prompt');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pm_cache_entries WHERE prompt_id = 'pre'}), '1',
	'full: pm_preload stores at once');

# renderings of about 8 kB: now the 1 MB runs out before the 200 entries
# do; each asked for twice, so that the full cache admits it
$node->safe_psql('postgres', q{
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('q', E'Q=[N] ' || repeat('q', 8000) || E'\n//include p/leaf');
});
my $wrong_big_sql = q{
	SELECT count(*) FILTER (WHERE pm_render('q', jsonb_build_object('n', g + 0 * twice))
		IS DISTINCT FROM 'Q=' || g || ' ' || repeat('q', 8000) || E'\nend')
	FROM generate_series(1, 600) g, generate_series(1, 2) twice};
my $s2b = stats();
is($node->safe_psql('postgres', $wrong_big_sql), '0', '600 renderings of 8 kB: all right');
my $s3 = stats();
note(explain($s3));
cmp_ok($s3->{bytes_used}, '<=', $s3->{capacity_bytes},
	"bytes_used ($s3->{bytes_used}) stay within capacity_bytes");
cmp_ok($s3->{entries}, '<', 200, "fewer entries ($s3->{entries}) than cache_max_entries fit");
cmp_ok($s3->{evictions}, '>', $s2b->{evictions}, 'evictions happened');
cmp_ok($s3->{inserts} - $s2b->{inserts}, '>=', 300, 'most of them were stored');
is($node->safe_psql('postgres', $wrong_big_sql), '0', 'second pass: all right');
is($node->safe_psql('postgres', q{SELECT count(*), coalesce(sum(bytes), 0) FROM pm_cache_entries}),
	join('|', @{stats()}{qw(entries bytes_used)}),
	'pm_cache_entries agrees with pm_cache');
is($node->safe_psql('postgres',
	q{SELECT size FROM pg_shmem_allocations WHERE name = 'prompt_manager cache'}),
	$shmem, 'shared memory of the cache did not grow');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_shmem_allocations
	WHERE name LIKE 'prompt_manager%' AND name <> ALL (ARRAY['prompt_manager cache',
		'prompt_manager cache index', 'prompt_manager cache doorkeeper', 'prompt_manager stats',
		'prompt_manager stats table', 'prompt_manager last writers'])}),
	'0', 'no other shared memory of prompt_manager (the cache, its doorkeeper, the statistics, the last-writer marks)');
is($node->safe_psql('postgres',
	q{SELECT size FROM pg_shmem_allocations WHERE name = 'prompt_manager cache doorkeeper'}),
	'16384', 'the doorkeeper of a cache of 200 entries takes 16 kB (its minimum)');

# too large for cache_max_entry_size, or for a quarter of the cache
$node->safe_psql('postgres', q{
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('big', 'big [K] ' || repeat('y', 10000)),
		('huge', 'huge [K] ' || repeat('z', 300000));
});
$before = stats();
is($node->safe_psql('postgres', q{
	SET prompt_manager.cache_max_entry_size = '4kB';
	SELECT pm_render('big', '{"k": 1}') = 'big 1 ' || repeat('y', 10000),
	       pm_render('big', '{"k": 1}') = 'big 1 ' || repeat('y', 10000)}),
	't|t', 'a rendering over cache_max_entry_size renders right');
$after = stats();
is($after->{skipped} - $before->{skipped}, 2, 'it is skipped, every time');
is($after->{inserts}, $before->{inserts}, 'and never stored');
is($after->{hits}, $before->{hits}, 'nor served from the cache');
is($node->safe_psql('postgres', q{
	SELECT pm_render('big', '{"k": 1}') = 'big 1 ' || repeat('y', 10000),
	       pm_render('big', '{"k": 1}') = 'big 1 ' || repeat('y', 10000)}),
	't|t', 'under the default cache_max_entry_size it renders right');
cmp_ok(stats()->{inserts}, '>', $after->{inserts}, 'and is stored (missed twice: the cache is full)');
$before = stats();
is($node->safe_psql('postgres', q{
	SELECT pm_render('huge', '{"k": 1}') = 'huge 1 ' || repeat('z', 300000),
	       pm_render('huge', '{"k": 1}') = 'huge 1 ' || repeat('z', 300000)}),
	't|t', 'a rendering over a quarter of the cache renders right');
$after = stats();
is($after->{skipped} - $before->{skipped}, 2, 'it is skipped, every time');
is($after->{inserts}, $before->{inserts}, 'and never stored');
cmp_ok($after->{bytes_used}, '<=', $after->{capacity_bytes}, 'bytes still within capacity_bytes');

#----------------------------------------------------------------------
# prompt_manager.cache = off
#----------------------------------------------------------------------
$before = stats();
is($node->safe_psql('postgres', q{
	SET prompt_manager.cache = off;
	SELECT enabled, status FROM pm_cache;
	SELECT count(*) FILTER (WHERE pm_render('p', jsonb_build_object('n', g)) IS DISTINCT FROM expected(g))
	FROM generate_series(1990, 2000) g;
	SELECT pm_render('t', '{"a": 3}');
	SELECT pm_render_template(E'inline [A]\n//include t/leaf', '{"a": 4}');
}), "f|off: prompt_manager.cache is off\n0\nTTL 3\nleaf\ninline 4\nleaf",
	'cache off: renders right');
$after = stats();
is_deeply($after, $before, 'cache off: no counter moved');

$guard->check;
$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, $PmGuard::CRASH_RE,
	'no crash in the server log');

done_testing();
