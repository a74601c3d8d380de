# Cache hits in statements of their own without reading pm_prompts
# (src/pm_writes.c), where no note trigger can tell: a hot standby, where
# the primary's changes arrive by WAL replay, and a data-only restore with
# pg_restore --disable-triggers.
#
# What a user relies on: a long-lived session that has a prompt cached
# renders the new text in its next statement after the change, on a
# standby (where every new snapshot reads the table: the index scans of the
# primary key move) and after a restore (the text restored, at once); once
# the triggers are ENABLE ALWAYS again, hits read nothing of the table.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'prompt_manager'\nautovacuum = off");
$primary->start;
my $guard = PmGuard->new($primary);
$primary->backup('backup');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->append_conf('postgresql.conf', q{
shared_preload_libraries = 'prompt_manager'
hot_standby_feedback = on
max_standby_streaming_delay = -1
});
$standby->start;
my $standby_guard = PmGuard->new($standby);

$primary->safe_psql('postgres', q{
	CREATE EXTENSION prompt_manager;
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('root', E'Root v1\n//include leaf'),
		('leaf', 'Leaf v1');
});
$primary->wait_for_catchup($standby);

# the index scans of pm_prompts' primary key (render_n flushes the
# session's counts)
sub scans
{
	my ($node, $db) = @_;
	return $node->safe_psql($db // 'postgres',
		q{SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelid = 'pm_prompts_pkey'::regclass});
}

sub render_n
{
	my ($session, $n, $sql) = @_;
	my $out;
	$out = $session->query_safe("SELECT $sql") for 1 .. $n;
	$session->query_safe('SELECT pg_stat_force_next_flush()');
	return $out;
}

# --- a hot standby during replay: every new snapshot reads the table
my $s = $standby->background_psql('postgres');
is(render_n($s, 2, q{pm_render('root')}), "Root v1\nLeaf v1", 'standby renders');
my $before = scans($standby);
is(render_n($s, 3, q{pm_render('root')}), "Root v1\nLeaf v1", 'standby renders again');
cmp_ok(scans($standby), '>', $before, 'standby: hits in new statements read the table (no proof in recovery)');

$primary->safe_psql('postgres', q{UPDATE pm_prompts SET content = 'Leaf v2' WHERE prompt_id = 'leaf'});
$primary->wait_for_catchup($standby);
is($s->query_safe(q{SELECT pm_render('root')}), "Root v1\nLeaf v2",
	'standby: the long-lived session sees the replayed update at once');
$s->quit;

# the primary itself: the fast path is taken there (no transaction runs)
my $p = $primary->background_psql('postgres');
is(render_n($p, 2, q{pm_render('root')}), "Root v1\nLeaf v2", 'primary renders');
$before = scans($primary);
is(render_n($p, 3, q{pm_render('root')}), "Root v1\nLeaf v2", 'primary renders again');
is(scans($primary), $before, 'primary: hits in new statements read nothing of the table');

# --- after promotion: a quiet promoted server has proofs at once
$primary->wait_for_catchup($standby);
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'standby was not promoted';
# (once nothing that was running at the promotion still runs)
$standby->poll_query_until('postgres',
	'SELECT pg_snapshot_xmin(pg_current_snapshot()) = pg_snapshot_xmax(pg_current_snapshot())')
  or die 'transactions still running on the promoted standby';
my $ps = $standby->background_psql('postgres');
is(render_n($ps, 2, q{pm_render('root')}), "Root v1\nLeaf v2", 'promoted: renders');
$before = scans($standby);
is(render_n($ps, 3, q{pm_render('root')}), "Root v1\nLeaf v2", 'promoted: renders again');
is(scans($standby), $before, 'promoted: hits in new statements read nothing of the table');
$standby->safe_psql('postgres', q{UPDATE pm_prompts SET content = 'Leaf promoted' WHERE prompt_id = 'leaf'});
is($ps->query_safe(q{SELECT pm_render('root')}), "Root v1\nLeaf promoted",
	'promoted: its own writes are seen by a long-lived session');
$ps->quit;

# --- a data-only restore with pg_restore --disable-triggers
my $tempdir = PostgreSQL::Test::Utils::tempdir;
$primary->safe_psql('postgres', q{
	UPDATE pm_prompts SET content = E'Root dumped\n//include leaf' WHERE prompt_id = 'root';
	UPDATE pm_prompts SET content = 'Leaf dumped' WHERE prompt_id = 'leaf';
});
# the heads only (the versions, labels and history stay as they are)
$primary->command_ok([ 'pg_dump', '-Fc', '--data-only', '--table=pm_prompts',
	'-f', "$tempdir/data.dump", '-d', $primary->connstr('postgres') ],
	'pg_dump --data-only');
$primary->safe_psql('postgres', q{
	UPDATE pm_prompts SET content = E'Root live\n//include leaf' WHERE prompt_id = 'root';
	UPDATE pm_prompts SET content = 'Leaf live' WHERE prompt_id = 'leaf';
});
is(render_n($p, 2, q{pm_render('root')}), "Root live\nLeaf live", 'the live text is cached');
$before = scans($primary);
is(render_n($p, 2, q{pm_render('root')}), "Root live\nLeaf live", 'and served');
is(scans($primary), $before, 'without reading the table');

# the rows go away and come back with no trigger firing, as a restore
# script with --disable-triggers does it
$primary->safe_psql('postgres', q{
	ALTER TABLE pm_prompts DISABLE TRIGGER ALL;
	DELETE FROM pm_prompts;
});
$primary->command_ok([ 'pg_restore', '--data-only', '--disable-triggers', '--exit-on-error',
	'-d', $primary->connstr('postgres'), "$tempdir/data.dump" ], 'pg_restore --data-only --disable-triggers');
is($p->query_safe(q{SELECT pm_render('root')}), "Root dumped\nLeaf dumped",
	'the long-lived session renders the restored text at once');
is($primary->safe_psql('postgres', q{SELECT string_agg(tgname || '=' || tgenabled::text, ',' ORDER BY tgname)
	FROM pg_trigger WHERE tgrelid = 'pm_prompts'::regclass AND NOT tgisinternal}),
	'pm_prompts_note_truncate=O,pm_prompts_note_write=O,pm_prompts_stamp=O,pm_prompts_version=O,pm_prompts_version_revision=O',
	'pg_restore left the triggers enabled, not ALWAYS');
$before = scans($primary);
is(render_n($p, 2, q{pm_render('root')}), "Root dumped\nLeaf dumped", 'renders again');
cmp_ok(scans($primary), '>', $before, 'not ALWAYS: every new snapshot reads the table');
$primary->safe_psql('postgres', q{
	ALTER TABLE pm_prompts ENABLE ALWAYS TRIGGER pm_prompts_note_write,
		ENABLE ALWAYS TRIGGER pm_prompts_note_truncate, ENABLE ALWAYS TRIGGER pm_prompts_stamp,
		ENABLE ALWAYS TRIGGER pm_prompts_version, ENABLE ALWAYS TRIGGER pm_prompts_version_revision;
});
is(render_n($p, 2, q{pm_render('root')}), "Root dumped\nLeaf dumped", 'ALWAYS again: renders');
$before = scans($primary);
is(render_n($p, 2, q{pm_render('root')}), "Root dumped\nLeaf dumped", 'renders again');
is(scans($primary), $before, 'ALWAYS again: hits read nothing of the table');
$p->quit;

$standby_guard->check;
$guard->check;
$standby->stop;
$primary->stop;
done_testing();
