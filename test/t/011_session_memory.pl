# What a session keeps between statements, and the memory a render takes
# for the shape of its includes.
#
# What a user relies on:
#  - the per-session cache of compiled templates stays within its
#    documented bound (64 MB) between statements: a prompt whose compiled
#    form is larger is not kept past the statement that rendered it, in a
#    transaction block too;
#  - that bound holds after a pm_bulk_render stopped by an error inside a
#    savepoint or a PL/pgSQL exception block: replaced templates are still
#    freed (edit-and-render cycles do not pile up template contexts), and a
#    cursor over pm_bulk_render that outlives a ROLLBACK TO still renders;
#  - an include walked costs a few bytes of output, not memory of its own:
#    millions of includes take memory in proportion to the output only;
#  - pm_keywords of a diamond of includes (2^32 paths, 33 prompts) answers
#    at once, with the right set, and reports a chain too deep exactly as
#    before, also when only a second path to a prompt is too deep;
#  - pm_render_lines of 8 million short lines, all through nested includes,
#    grows the backend by a small constant, not by the 216 MB of output.
#
# Memory figures are printed with note(): peak memory is VmHWM of the
# backend (from /proc), what is kept is the total of the cache's contexts
# in pg_backend_memory_contexts.  Bounds are generous, far from both the
# figures of the fixed code and those of the old one.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;

my $node = PostgreSQL::Test::Cluster->new('session_memory');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'prompt_manager'
});
$node->start;
my $guard = PmGuard->new($node);

$node->safe_psql('postgres', 'CREATE EXTENSION prompt_manager');

# A session of its own, its backend's pid, and its peak memory in kB.
my ($bg, $pid);
sub new_session
{
	$bg->quit if defined $bg;
	$bg = $node->background_psql('postgres', on_error_stop => 0);
	$pid = $bg->query_safe('SELECT pg_backend_pid()');
	chomp $pid;
}
sub vmhwm_kb
{
	open my $fh, '<', "/proc/$pid/status" or die "cannot read /proc/$pid/status: $!";
	while (<$fh>) { return $1 if /^VmHWM:\s+(\d+) kB/; }
	die "no VmHWM in /proc/$pid/status";
}

# Run a statement that is expected to fail; returns its stderr.
sub query_failing
{
	my ($sql) = @_;
	my ($out, $failed) = $bg->query($sql);
	my $err = $bg->{stderr};
	$bg->{stderr} = '';
	return $failed ? $err : '';
}

# What the session keeps in its cache of compiled templates, in bytes, and
# how many compiled prompts (one context each, kept or waiting to be freed).
my $kept_sql = q{SELECT coalesce(sum(total_bytes), 0) FROM pg_backend_memory_contexts
	WHERE name IN ('prompt_manager templates', 'prompt_manager compiled templates',
		'prompt_manager template')};
my $contexts_sql = q{SELECT count(*) FROM pg_backend_memory_contexts
	WHERE name = 'prompt_manager template'};
my $bound = 64 * 1024 * 1024;

# --- a 50 MB prompt is not kept past its statement ------------------------
# 17 million keywords: a compiled form of a few hundred MB, past the bound.
# (The full-text index would take half a minute over this text, and has
# nothing to do with what a session keeps: it is dropped for the test.)
$node->safe_psql('postgres', q{
	DROP INDEX pm_prompts_content_fts_idx;
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('big/50mb', repeat('[A]', 17000000));
});
new_session();
my $before = vmhwm_kb();
is($bg->query_safe(q{SELECT octet_length(pm_render('big/50mb', '{"a": "b"}'))}), '17000000',
	'the 50 MB prompt renders');
note(sprintf('peak memory growth rendering the 50 MB prompt: %.1f MB',
	(vmhwm_kb() - $before) / 1024));
is($bg->query_safe('SELECT 1'), '1', 'a trivial statement after it, not a render');
my $kept = $bg->query_safe($kept_sql);
note(sprintf('kept between statements after the 50 MB prompt: %.1f MB', $kept / 1048576));
cmp_ok($kept, '<', $bound, 'the compiled-template cache is back under its 64 MB bound');

# in a transaction block, it is not kept until the end of the transaction
$bg->query_safe('BEGIN');
is($bg->query_safe(q{SELECT octet_length(pm_render('big/50mb'))}), '51000000',
	'the 50 MB prompt renders again, in a transaction block');
$kept = $bg->query_safe($kept_sql);
note(sprintf('kept after the statement, in the transaction block: %.1f MB', $kept / 1048576));
cmp_ok($kept, '<', $bound, 'the bound holds at the end of the statement, before COMMIT');
$bg->query_safe('COMMIT');
$node->safe_psql('postgres', q{DELETE FROM pm_prompts WHERE prompt_id = 'big/50mb'});

# --- include fan-out: memory in proportion to the output only ---------------
# 4000 includes of a prompt of 1000 includes of 'x': 4 million includes
# walked, 8 MB of output (2 bytes an include).
$node->safe_psql('postgres', q{
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('fan/root', (SELECT string_agg('//include fan/mid', E'\n') FROM generate_series(1, 4000))),
		('fan/mid', (SELECT string_agg('//include fan/leaf', E'\n') FROM generate_series(1, 1000))),
		('fan/leaf', 'x');
});
new_session();
$bg->query_safe('SET prompt_manager.cache = off');	# the renderer alone
$bg->query_safe(q{SELECT pm_render('fan/leaf')});
$before = vmhwm_kb();
is($bg->query_safe(q{SELECT octet_length(pm_render('fan/root'))}), 4000 * 1000 * 2 - 1,
	'4 million includes render to 8 MB');
my $per_include = (vmhwm_kb() - $before) * 1024 / 4e6;
note(sprintf('peak memory growth per include walked: %.1f bytes (output: 2 bytes an include)',
	$per_include));
cmp_ok($per_include, '<', 10, 'an include walked costs its output, not memory of its own');

# --- pm_keywords on a diamond: every prompt once ------------------------------
# d/0 .. d/31 each include the next level twice: 2^32 paths to d/32.
$node->safe_psql('postgres', q{
	INSERT INTO pm_prompts (prompt_id, content)
	SELECT 'd/' || i,
		CASE WHEN i < 32
			THEN format(E'[K %s]\n//include d/%s\n//include d/%s',
				translate(i::text, '0123456789', 'ABCDEFGHIJ'), i + 1, i + 1)
			ELSE '[LAST]' END
	FROM generate_series(0, 32) i;
});
new_session();
$bg->query_safe('SET prompt_manager.max_include_depth = 40');
# a guard, not a measure: walking every path would take hours
$bg->query_safe(q{SET statement_timeout = '60s'});
my $expected = '{' . join(',', map { my $l = $_; $l =~ tr/0-9/A-J/; "\"[K $l]\"" } 0 .. 31) . ',[LAST]}';
my ($keywords) = $bg->query(q{SELECT pm_keywords('d/0')});
$bg->{stderr} = '';
is($keywords, $expected, 'pm_keywords of a diamond of 2^32 paths gives its 33 keywords at once');

# too deep: the same error as the walk of every path gives
$bg->query_safe('SET prompt_manager.max_include_depth = 31');
like(query_failing(q{SELECT pm_keywords('d/0')}),
	qr/includes are nested deeper than prompt_manager.max_include_depth \(31\)\n.*Include chain: d\/0 -> d\/1 -> .* -> d\/31 -> d\/32\./s,
	'a diamond one level too deep fails with the full chain');

# a prompt walked first at a shallow depth, then reached again too deep
$node->safe_psql('postgres', q{
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('deep/root', E'[ROOT]\n//include deep/short\n//include deep/long1'),
		('deep/long1', E'[LONG]\n//include deep/long2'),
		('deep/long2', '//include deep/short'),
		('deep/short', E'[SHORT]\n//include deep/leaf'),
		('deep/leaf', '[LEAF]');
});
$bg->query_safe('SET prompt_manager.max_include_depth = 4');
is($bg->query_safe(q{SELECT pm_keywords('deep/root')}), '{[ROOT],[SHORT],[LEAF],[LONG]}',
	'pm_keywords of a prompt reached by two paths, both within the limit');
$bg->query_safe('SET prompt_manager.max_include_depth = 3');
like(query_failing(q{SELECT pm_keywords('deep/root')}),
	qr/Include chain: deep\/root -> deep\/long1 -> deep\/long2 -> deep\/short -> deep\/leaf\./,
	'only the second, longer path is too deep: reported with that chain');

# a missing include, with raise_on_missing off, warns once per include line
# (not once per path: 4 here)
$node->safe_psql('postgres', q{
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('w/0', E'//include w/1\n//include w/1'),
		('w/1', E'//include w/2\n//include w/2'),
		('w/2', E'[W]\n//include w/missing');
});
$bg->query_safe('SET prompt_manager.raise_on_missing = off');
my ($warned_keywords) = $bg->query(q{SELECT pm_keywords('w/0')});
my @warnings = $bg->{stderr} =~ /WARNING:  prompt "w\/missing" does not exist/g;
$bg->{stderr} = '';
is($warned_keywords, '{[W]}', 'pm_keywords with a missing include and raise_on_missing off');
is(scalar(@warnings), 1, 'the missing include warns once, for its one include line');

# --- pm_render_lines: 8 million short lines through nested includes ----------
$node->safe_psql('postgres', q{
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('lines/root', (SELECT string_agg('//include lines/body', E'\n') FROM generate_series(1, 400))),
		('lines/body', (SELECT string_agg('//include lines/one', E'\n') FROM generate_series(1, 20000))),
		('lines/one', 'a short line of the body xx');
});
new_session();
$bg->query_safe(q{SELECT count(*) FROM pm_render_lines('lines/one')});
$before = vmhwm_kb();
is($bg->query_safe(q{SELECT count(*) || ' ' || sum(octet_length(l)) FROM pm_render_lines('lines/root') AS l}),
	'8000000 216000000', 'pm_render_lines streams 8 million lines, 216 MB');
my $growth_mb = (vmhwm_kb() - $before) / 1024;
note(sprintf('peak memory growth streaming 216 MB of short lines through includes: %.1f MB',
	$growth_mb));
cmp_ok($growth_mb, '<', 32, 'the backend grew by a small constant, not by the output');

# --- a bulk render stopped inside a savepoint or an exception block ----------
$node->safe_psql('postgres', q{INSERT INTO pm_prompts (prompt_id, content) VALUES ('a', 'hello [X]')});
my $cycles = q{DO $$
BEGIN
	FOR i IN 1..3000 LOOP
		UPDATE pm_prompts SET content = 'hello ' || i || ' [X]' WHERE prompt_id = 'a';
		PERFORM pm_render('a');
	END LOOP;
END $$};
my %stopped = (
	'in a savepoint' => q{BEGIN;
SAVEPOINT s;
SELECT ord, 1 / (ord - 2) FROM pm_bulk_render('[{"prompt_id": "a"}, {"prompt_id": "a"}]');
ROLLBACK TO s;
COMMIT;},
	'in a PL/pgSQL exception block' => q{DO $$
BEGIN
	BEGIN
		PERFORM ord, 1 / (ord - 2) FROM pm_bulk_render('[{"prompt_id": "a"}, {"prompt_id": "a"}]');
	EXCEPTION WHEN division_by_zero THEN
		RAISE NOTICE 'caught: %', SQLERRM;
	END;
END $$;});
foreach my $how (sort keys %stopped)
{
	new_session();
	like(query_failing($stopped{$how}), qr/division by zero/,
		"a bulk render stopped by an error $how");
	$bg->query_safe($cycles);
	my $contexts = $bg->query_safe($contexts_sql);
	note("template contexts after 3000 edit-and-render cycles, bulk render stopped $how: $contexts");
	cmp_ok($contexts, '<=', 10, "replaced templates are still freed after a bulk render stopped $how");
	is($bg->query_safe(q{SELECT string_agg(result, ',' ORDER BY ord) FROM pm_bulk_render('[{"prompt_id": "a", "parameters": {"x": "y"}}, {"prompt_id": "a"}]')}),
		'hello 3000 y,hello 3000 [X]', "pm_bulk_render still works after one stopped $how");
}

# a cursor over pm_bulk_render, first fetched in a savepoint rolled back,
# still renders (from the templates it read) while the session goes on
new_session();
$bg->query_safe(q{BEGIN;
DECLARE c CURSOR FOR SELECT ord, result FROM pm_bulk_render('[{"prompt_id": "a"}, {"prompt_id": "a"}, {"prompt_id": "a"}]');
SAVEPOINT s;
FETCH 1 FROM c;
ROLLBACK TO s;});
$bg->query_safe(q{UPDATE pm_prompts SET content = 'changed [X]' WHERE prompt_id = 'a'});
is($bg->query_safe(q{SELECT pm_render('a')}), 'changed [X]', 'a render in between sees the change');
is($bg->query_safe('FETCH 2 FROM c'), "2|hello 3000 [X]\n3|hello 3000 [X]",
	'the cursor goes on rendering what its snapshot saw');
$bg->query_safe('COMMIT');
is($bg->query_safe($contexts_sql), '1', 'after the transaction, one compiled prompt is kept');
$bg->quit;

# --- huge ids of no prompt are not remembered --------------------------------
# What a snapshot sees of each id is remembered across statements (while no
# write can have committed): not for an id longer than any stored prompt's,
# or a role could make the session keep every 10 MB id it sends.
new_session();
my $memo_sql = q{SELECT coalesce(sum(total_bytes), 0) FROM pg_backend_memory_contexts
	WHERE name = 'prompt_manager visibility'};
for my $i (1 .. 10)
{
	like(query_failing("SELECT pm_render(repeat('x', 10000000) || '$i')"),
		qr/does not exist/, "a 10 MB id of no prompt ($i) is an error");
}
my $memo = $bg->query_safe($memo_sql);
note(sprintf('the memo after ten 10 MB ids: %.1f MB', $memo / 1048576));
cmp_ok($memo, '<', 10_000_000, 'the memo keeps none of the ten 10 MB ids');

$guard->check;
done_testing();
