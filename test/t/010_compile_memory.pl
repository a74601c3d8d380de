# Memory and cancel of a compile: pm_render_template on large inline
# templates, which any role may call.
#
# What a user relies on:
#  - the memory a backend takes to compile and render a template is a small
#    constant times its text and its output, whatever the text's shape
#    (3-byte directive lines, 3-byte keywords, short lines, includes, a
#    mix, keywords with large values): for each shape of about 30 MB the
#    backend's peak resident memory (VmHWM in /proc/<pid>/status, the
#    server runs on this machine) stays under its resident memory before
#    plus 4 times the text plus 2 times the output plus 16 MB (the text
#    itself, the compiled form at most 3 times the text, the output buffer
#    that grows by doubling).  Before the fix, 30 MB of E'//\n' took 2.1 GB;
#  - a compile of about 100 MB stops with 57014 on statement_timeout = 1s
#    and on pg_cancel_backend while it is compiling (the error comes before
#    the render starts: it has no "rendering the inline template" context),
#    and before the compile would have ended; the session goes on.
#
# Figures (peak memory per shape, times) are printed with note(); how fast
# a cancel takes effect is only compared with how long the whole compile
# takes, measured here.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;

my $node = PostgreSQL::Test::Cluster->new('compile_memory');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'prompt_manager'
});
$node->start;
my $guard = PmGuard->new($node);

my $MB = 1024 * 1024;

$node->safe_psql('postgres', q{
	CREATE EXTENSION prompt_manager;
	INSERT INTO pm_prompts (prompt_id, content) VALUES ('a', 'A');
	CREATE TABLE shapes (name text PRIMARY KEY, x text, params jsonb);
	-- about 30 MB each (compressed on disk: the test spends no time on it)
	INSERT INTO shapes VALUES
		('//\n', repeat(E'//\n', 10000000), '{}'),
		('[A]', repeat('[A]', 10000000), '{"a": "b"}'),
		('x\n', repeat(E'x\n', 15000000), '{}'),
		('//include a\n', repeat(E'//include a\n', 2500000), '{}'),
		('mix', repeat(E'Hello [NAME],\n//include a\n# comment\n<!-- c\n-->x\r\n//note [A]\n', 500000),
			'{"name": "Ada"}'),
		('keyword values', repeat('[V] ', 10000),
			jsonb_build_object('v', repeat('v', 3000)));
	CREATE TABLE big AS SELECT repeat(E'//\n', 35000000) AS x;
});

# VmHWM of the backend of session $s, in bytes.
sub peak_rss
{
	my ($s) = @_;
	my $kb = $s->query_safe(q{SELECT substring(pg_read_file('/proc/' || pg_backend_pid() || '/status')
		FROM 'VmHWM:\s*(\d+) kB')});
	return $kb * 1024;
}

#----------------------------------------------------------------------
# peak memory of a render, per shape, each in a new backend
#----------------------------------------------------------------------
my @shapes = split /\n/, $node->safe_psql('postgres', 'SELECT name FROM shapes ORDER BY name');
for my $shape (@shapes)
{
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe(q{SET prompt_manager.unknown_directive = keep});
	my $q = $shape;
	$q =~ s/'/''/g;
	my $text_len = $s->query_safe("SELECT octet_length(x) FROM shapes WHERE name = '$q'");
	my $base = peak_rss($s);
	my $t0 = time;
	my $out_len = $s->query_safe(
		"SELECT octet_length(pm_render_template(x, params)) FROM shapes WHERE name = '$q'");
	my $secs = time - $t0;
	my $peak = peak_rss($s);
	my $used = $peak - $base;
	my $bound = 4 * $text_len + 2 * $out_len + 16 * $MB;
	note(sprintf("%-16s text %6.1f MB, output %6.1f MB: peak RSS %7.1f MB above %.1f MB "
			. "(%.2f x the text + output), bound %.1f MB, %.2f s",
			$shape, $text_len / $MB, $out_len / $MB, $used / $MB, $base / $MB,
			$used / ($text_len + $out_len), $bound / $MB, $secs));
	ok($out_len > 0, "$shape: rendered");
	cmp_ok($used, '<=', $bound,
		"$shape: peak memory under 4 x the text + 2 x the output + 16 MB");
	$s->quit;
}

#----------------------------------------------------------------------
# cancel and statement_timeout during a compile of 100 MB
#----------------------------------------------------------------------
my $big_len = $node->safe_psql('postgres', 'SELECT octet_length(x) FROM big');

# The whole compile: with unknown_directive = error the render stops at the
# first line, once the compile has ended.
my $full;
{
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	my $base = peak_rss($s);
	my $t0 = time;
	$s->query('SELECT pm_render_template(x) FROM big');
	$full = time - $t0;
	like($s->{stderr}, qr/directive line without a name in the inline template at line 1/,
		'100 MB: the compile ends and the render stops at line 1');
	$s->{stderr} = '';
	my $used = peak_rss($s) - $base;
	note(sprintf("100 MB of E'//\\n': the compile takes %.2f s and %.1f MB (%.2f x the text)",
		$full, $used / $MB, $used / $big_len));
	cmp_ok($used, '<=', 4 * $big_len + 16 * $MB, '100 MB: compile memory under 4 x the text + 16 MB');
	$s->quit;
}

# Stop a compile of big ($how: 'timeout' or 'cancel'); the error must come
# from the compile (no render context), before it would have ended.
sub stop_compile
{
	my ($how) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	$s->query_safe(q{SET statement_timeout = '1s'}) if $how eq 'timeout';
	my $started = time;
	$s->query_until(qr/started/, "\\echo started\nSELECT pm_render_template(x) FROM big;\n");
	my $stop_at = $started + 1;
	if ($how eq 'cancel')
	{
		$node->poll_query_until('postgres', "SELECT state = 'active' FROM pg_stat_activity
			WHERE pid = $pid AND query LIKE '%pm_render_template%'")
		  or die "$how: the statement never got going";
		usleep(300_000);
		$stop_at = time;
		is($node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"), 't', "$how: cancel sent");
	}
	my ($sqlstate) = $s->query(q{\echo :LAST_ERROR_SQLSTATE});
	my $ended = time;
	note(sprintf("100 MB compile, %s: stopped %.3f s after the %s (%.2f s in all; "
			. "the whole compile takes %.2f s)", $how, $ended - $stop_at,
			$how eq 'cancel' ? 'cancel' : 'timeout expired', $ended - $started, $full));
	is($sqlstate, '57014', "$how: the compile stopped with 57014");
	unlike($s->{stderr}, qr/rendering the inline template/,
		"$how: it stopped in the compile, before the render");
	cmp_ok($ended - $started, '<', $full, "$how: before the compile would have ended");
	$s->{stderr} = '';
	is($s->query_safe(q{SET statement_timeout = 0; SELECT pm_render_template('ok [A]', '{"a": 1}')}),
		'ok 1', "$how: the session goes on");
	$s->quit;
}
stop_compile('timeout');
stop_compile('cancel');

$guard->check;
done_testing();
