# The shared render cache on a hot standby.
#
# What a user relies on: read replicas can serve pm_render() from their own
# shared cache, and a render on the standby always matches what the
# standby's snapshot of pm_prompts says, exactly as an uncached render
# would.  On a standby no trigger fires and no invalidation is sent: the
# primary's UPDATEs, DELETEs and a DROP/CREATE EXTENSION arrive by WAL
# replay, so the cache has to notice them from the table itself.  That
# holds for new sessions and for a session that stays connected, for
# prompts and their includes, for inline templates; a REPEATABLE READ
# transaction on the standby keeps seeing the text of its snapshot while
# replay goes on underneath it, a READ COMMITTED one sees at each statement
# what was replayed before it; and after a failover the promoted standby's
# cache follows its own writes.
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
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'prompt_manager'");
$primary->start;
my $primary_guard = PmGuard->new($primary);
$primary->backup('backup');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
# no query of this test may be cancelled by a replay conflict
$standby->append_conf('postgresql.conf', q{
shared_preload_libraries = 'prompt_manager'
hot_standby_feedback = on
max_standby_streaming_delay = -1
});
$standby->start;
my $standby_guard = PmGuard->new($standby);

# everything below is created on the primary and reaches the standby by WAL
$primary->safe_psql('postgres', q{
	CREATE EXTENSION prompt_manager;
	INSERT INTO pm_prompts (prompt_id, content, parameters) VALUES
		('root', E'Root v1 [WHO]\n//include leaf', '{"[WHO]": "you"}'),
		('leaf', 'Leaf v1', '{}');
});
$primary->safe_psql('postgres', 'CREATE DATABASE recreate');
$primary->safe_psql('recreate', q{
	CREATE EXTENSION prompt_manager;
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('root', E'Old root\n//include leaf'),
		('leaf', 'Old leaf');
});
$primary->wait_for_catchup($standby);

sub render
{
	my ($node, $sql, $db) = @_;
	return $node->safe_psql($db // 'postgres', "SELECT $sql");
}

sub counters
{
	my ($node) = @_;
	my ($hits, $misses, $inserts) = split /\|/,
	  $node->safe_psql('postgres', 'SELECT hits, misses, inserts FROM pm_cache');
	return { hits => $hits, misses => $misses, inserts => $inserts };
}

# the error of a render on the standby, with its SQLSTATE
sub render_error
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT $sql",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $ret == 0 ? "no error, output: $out" : $err;
}

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'standby is in recovery');
is($standby->safe_psql('postgres', 'SELECT enabled FROM pm_cache'), 't',
	'the cache is on on the standby');

# a session on the standby that stays connected through all the replay below
# (it is expected to see an error, and to go on)
my $session = $standby->background_psql('postgres', on_error_stop => 0);
$session->query_safe('SET application_name = long_lived');
$session->query_safe('\\set VERBOSITY verbose');

# miss, then hit, on the standby's own cache
my $c0 = counters($standby);
is(render($standby, q{pm_render('root')}), "Root v1 you\nLeaf v1", 'standby renders');
my $c1 = counters($standby);
cmp_ok($c1->{misses}, '>', $c0->{misses}, 'first render on the standby is a miss');
cmp_ok($c1->{inserts}, '>', $c0->{inserts}, 'and is stored in the standby cache');
is(render($standby, q{pm_render('root')}), "Root v1 you\nLeaf v1", 'standby renders again');
my $c2 = counters($standby);
cmp_ok($c2->{hits}, '>', $c1->{hits}, 'second render on the standby is a hit');
is($session->query_safe(q{SELECT pm_render('root')}), "Root v1 you\nLeaf v1",
	'long-lived standby session renders');
is(render($standby, q{pm_render_template('inline: //include leaf')}) , 'inline: //include leaf',
	'an inline template renders (include only at line start)');
is(render($standby, qq{pm_render_template(E'inline\\n//include leaf')}), "inline\nLeaf v1",
	'an inline template with an include renders');
render($standby, qq{pm_render_template(E'inline\\n//include leaf')});	# now cached

# (the standby's cache is its own: the primary renders from its table)
is(render($primary, q{pm_render('root')}), "Root v1 you\nLeaf v1", 'primary renders the same');

# an update of the included prompt, replayed: no trigger fires on the standby
$primary->safe_psql('postgres', q{UPDATE pm_prompts SET content = 'Leaf v2' WHERE prompt_id = 'leaf'});
$primary->wait_for_catchup($standby);
is(render($standby, q{pm_render('root')}), "Root v1 you\nLeaf v2",
	'standby sees the replayed update of an included prompt');
is($session->query_safe(q{SELECT pm_render('root')}), "Root v1 you\nLeaf v2",
	'so does the long-lived standby session');
is(render($standby, qq{pm_render_template(E'inline\\n//include leaf')}), "inline\nLeaf v2",
	'and an inline template that includes it');
my $c3 = counters($standby);
is(render($standby, q{pm_render('root')}), "Root v1 you\nLeaf v2", 'new text rendered again');
cmp_ok(counters($standby)->{hits}, '>', $c3->{hits}, 'the new text is served from the cache');

# an update of the root prompt (content, then stored defaults)
$primary->safe_psql('postgres', q{UPDATE pm_prompts SET content = E'Root v2 [WHO]\n//include leaf' WHERE prompt_id = 'root'});
$primary->wait_for_catchup($standby);
is(render($standby, q{pm_render('root')}), "Root v2 you\nLeaf v2",
	'standby sees the replayed update of the root prompt');
is($session->query_safe(q{SELECT pm_render('root')}), "Root v2 you\nLeaf v2",
	'so does the long-lived standby session');
$primary->safe_psql('postgres', q{UPDATE pm_prompts SET parameters = '{"[WHO]": "them"}' WHERE prompt_id = 'root'});
$primary->wait_for_catchup($standby);
is(render($standby, q{pm_render('root')}), "Root v2 them\nLeaf v2",
	'standby sees the replayed update of the stored defaults');
is(render($standby, q{pm_render('root', '{"who": "me"}')}), "Root v2 me\nLeaf v2",
	'params given to the render still override them');

# a deleted include, then a deleted root: renders fail with 42704 on the standby
$primary->safe_psql('postgres', q{DELETE FROM pm_prompts WHERE prompt_id = 'leaf'});
$primary->wait_for_catchup($standby);
like(render_error($standby, q{pm_render('root')}), qr/ERROR:\s+42704/,
	'standby: render of a prompt whose include was deleted fails with 42704');
my ($out, $failed) = $session->query(q{SELECT pm_render('root')});
ok($failed && $session->{stderr} =~ /ERROR:\s+42704/,
	'long-lived standby session: the render fails too');
$session->{stderr} = '';
$primary->safe_psql('postgres', q{INSERT INTO pm_prompts (prompt_id, content) VALUES ('leaf', 'Leaf v3')});
$primary->wait_for_catchup($standby);
is(render($standby, q{pm_render('root')}), "Root v2 them\nLeaf v3",
	'standby sees the include inserted again');
$primary->safe_psql('postgres', q{DELETE FROM pm_prompts WHERE prompt_id = 'root'});
$primary->wait_for_catchup($standby);
like(render_error($standby, q{pm_render('root')}), qr/ERROR:\s+42704/,
	'standby: render of a deleted prompt fails with 42704');
is(render($standby, q{pm_render('leaf')}), 'Leaf v3', 'the other prompt still renders');
$primary->safe_psql('postgres', q{INSERT INTO pm_prompts (prompt_id, content) VALUES ('root', E'Root v3\n//include leaf')});
$primary->wait_for_catchup($standby);
is(render($standby, q{pm_render('root')}), "Root v3\nLeaf v3", 'standby sees the root inserted again');

# a label moved on the primary is seen on the standby after replay, by the
# cache too (root's includes follow the label in a render of root@production)
$primary->safe_psql('postgres', q{
	INSERT INTO pm_labels (prompt_id, label, version)
	SELECT prompt_id, 'production', max(version) FROM pm_prompt_versions WHERE prompt_id = 'root' GROUP BY prompt_id;
	INSERT INTO pm_labels (prompt_id, label, version) VALUES ('leaf', 'production', 1);
});
$primary->wait_for_catchup($standby);
is(render($standby, q{pm_render('root@production')}), "Root v3\nLeaf v1", 'standby renders a label');
my $c4 = counters($standby);
is(render($standby, q{pm_render('root@production')}), "Root v3\nLeaf v1", 'standby renders the label again');
cmp_ok(counters($standby)->{hits}, '>', $c4->{hits}, 'from the cache');
is($session->query_safe(q{SELECT pm_render('root@production')}), "Root v3\nLeaf v1",
	'so does the long-lived standby session');
$primary->safe_psql('postgres', q{UPDATE pm_labels SET version = 2 WHERE prompt_id = 'leaf'});
$primary->wait_for_catchup($standby);
is(render($standby, q{pm_render('root@production')}), "Root v3\nLeaf v2",
	'standby sees the replayed label move');
is($session->query_safe(q{SELECT pm_render('root@production')}), "Root v3\nLeaf v2",
	'so does the long-lived standby session');
$primary->safe_psql('postgres', q{DELETE FROM pm_labels});

# DROP/CREATE EXTENSION: a new table, a new revision sequence starting over,
# so the same ids get the same revisions as before, with other text
is(render($standby, q{pm_render('root')}, 'recreate'), "Old root\nOld leaf",
	'recreate db: standby renders');
is(render($standby, q{pm_render('root')}, 'recreate'), "Old root\nOld leaf",
	'recreate db: standby renders again');
my $recreate_session = $standby->background_psql('recreate');
is($recreate_session->query_safe(q{SELECT pm_render('root')}), "Old root\nOld leaf",
	'recreate db: a long-lived standby session renders');
my $old_revisions = $primary->safe_psql('recreate',
	'SELECT string_agg(prompt_id || revision, \',\' ORDER BY prompt_id) FROM pm_prompts');
$primary->safe_psql('recreate', q{
	DROP EXTENSION prompt_manager CASCADE;
	CREATE EXTENSION prompt_manager;
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('root', E'New root\n//include leaf'),
		('leaf', 'New leaf');
});
is($primary->safe_psql('recreate',
	'SELECT string_agg(prompt_id || revision, \',\' ORDER BY prompt_id) FROM pm_prompts'),
	$old_revisions, 'recreate db: the new rows have the revisions of the old ones');
$primary->wait_for_catchup($standby);
is(render($standby, q{pm_render('root')}, 'recreate'), "New root\nNew leaf",
	'recreate db: standby renders the new text after DROP/CREATE EXTENSION');
is($recreate_session->query_safe(q{SELECT pm_render('root')}), "New root\nNew leaf",
	'recreate db: so does the long-lived standby session');
is(render($standby, q{pm_render_template(E'x\n//include leaf')}, 'recreate'), "x\nNew leaf",
	'recreate db: an inline template renders the new include');
$recreate_session->quit;

# REPEATABLE READ on the standby: the snapshot's text, whatever is replayed
$primary->safe_psql('postgres', q{UPDATE pm_prompts SET content = 'Leaf RR1' WHERE prompt_id = 'leaf'});
$primary->wait_for_catchup($standby);
my $rr = $standby->background_psql('postgres');
$rr->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
is($rr->query_safe(q{SELECT pm_render('root')}), "Root v3\nLeaf RR1", 'RR on standby: first render');

$primary->safe_psql('postgres', q{UPDATE pm_prompts SET content = 'Leaf RR2' WHERE prompt_id = 'leaf'});
$primary->wait_for_catchup($standby);
# the new text is rendered, and cached, by another session first
is(render($standby, q{pm_render('root')}), "Root v3\nLeaf RR2", 'standby: new session sees the new include');
is(render($standby, q{pm_render('root')}), "Root v3\nLeaf RR2", 'standby: new session again');
is($rr->query_safe(q{SELECT pm_render('root')}), "Root v3\nLeaf RR1",
	'RR on standby: still the snapshot\'s include after replay');
is($rr->query_safe(q{SELECT pm_render('leaf')}), 'Leaf RR1',
	'RR on standby: the include itself too');
# what the RR transaction stored does not leak to others
is(render($standby, q{pm_render('root')}), "Root v3\nLeaf RR2",
	'standby: a new session still sees the new include');

$primary->safe_psql('postgres', q{UPDATE pm_prompts SET content = E'Root RR\n//include leaf' WHERE prompt_id = 'root'});
$primary->wait_for_catchup($standby);
is(render($standby, q{pm_render('root')}), "Root RR\nLeaf RR2", 'standby: new session sees the new root');
is($rr->query_safe(q{SELECT pm_render('root')}), "Root v3\nLeaf RR1",
	'RR on standby: still the snapshot\'s root after replay');
is($rr->query_safe(q{SELECT pm_render_template(E'i\n//include leaf')}), "i\nLeaf RR1",
	'RR on standby: an inline template too');
$rr->query_safe('COMMIT');
is($rr->query_safe(q{SELECT pm_render('root')}), "Root RR\nLeaf RR2",
	'after COMMIT the same session sees the replayed text');
$rr->quit;

is($session->query_safe(q{SELECT pm_render('root')}), "Root RR\nLeaf RR2",
	'long-lived standby session sees the latest text');

# READ COMMITTED on the standby: each statement of one transaction sees what
# was replayed before it, including the commit of a transaction that was
# still in progress on the primary at the previous statement
my $writer = $primary->background_psql('postgres');
$writer->query_safe(q{BEGIN; UPDATE pm_prompts SET content = 'Leaf RC' WHERE prompt_id = 'leaf'});
$primary->safe_psql('postgres', q{UPDATE pm_prompts SET content = E'Root RC\n//include leaf' WHERE prompt_id = 'root'});
$primary->wait_for_catchup($standby);
$session->query_safe('BEGIN');
is($session->query_safe(q{SELECT pm_render('root')}), "Root RC\nLeaf RR2",
	'RC on standby: a transaction in progress on the primary is not seen');
is($session->query_safe(q{SELECT pm_render('root')}), "Root RC\nLeaf RR2",
	'RC on standby: nor by the next statement');
$writer->query_safe('COMMIT');
$writer->quit;
$primary->wait_for_catchup($standby);
is($session->query_safe(q{SELECT pm_render('root')}), "Root RC\nLeaf RC",
	'RC on standby: its commit is seen by the next statement of the same transaction');
is(render($standby, q{pm_render('root')}), "Root RC\nLeaf RC",
	'and by a new session');
$session->query_safe('COMMIT');
# a whole transaction replayed between two statements of one transaction
# (nothing in progress at either: only the snapshot's xmax tells them apart)
$session->query_safe('BEGIN');
is($session->query_safe(q{SELECT pm_render('root')}), "Root RC\nLeaf RC",
	'RC on standby: a new transaction renders');
$primary->safe_psql('postgres', q{UPDATE pm_prompts SET content = 'Leaf RC2' WHERE prompt_id = 'leaf'});
$primary->wait_for_catchup($standby);
is($session->query_safe(q{SELECT pm_render('root')}), "Root RC\nLeaf RC2",
	'RC on standby: a commit replayed between two statements is seen by the second');
is($session->query_safe(q{SELECT pm_render('leaf')}), 'Leaf RC2',
	'RC on standby: and the include itself too');
$session->query_safe('COMMIT');
$session->quit;

# the standby's cache really answered in this test
my $final = counters($standby);
cmp_ok($final->{hits}, '>', 0, "standby cache hits: $final->{hits}");
note("standby cache: hits $final->{hits}, misses $final->{misses}, inserts $final->{inserts}");

# failover: the promoted standby keeps its cache, and its own writes (with
# revisions from its own copy of the sequence) are seen by the next render
my $primary_max_revision = $primary->safe_psql('postgres', 'SELECT max(revision) FROM pm_prompts');
$primary->wait_for_catchup($standby);
$primary_guard->check;
$primary->stop;
is(render($standby, q{pm_render('root')}), "Root RC\nLeaf RC2", 'cached before promotion');
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'standby was not promoted';
is(render($standby, q{pm_render('root')}), "Root RC\nLeaf RC2", 'promoted: renders');
$standby->safe_psql('postgres', q{UPDATE pm_prompts SET content = 'Leaf promoted' WHERE prompt_id = 'leaf'});
is(render($standby, q{pm_render('root')}), "Root RC\nLeaf promoted",
	'promoted: an update of an include is seen');
$standby->safe_psql('postgres', q{UPDATE pm_prompts SET content = E'Root promoted\n//include leaf' WHERE prompt_id = 'root'});
is(render($standby, q{pm_render('root')}), "Root promoted\nLeaf promoted",
	'promoted: an update of the root is seen');
cmp_ok($standby->safe_psql('postgres', q{SELECT min(revision) FROM pm_prompts WHERE prompt_id IN ('root', 'leaf')}),
	'>', $primary_max_revision, 'promoted: new revisions are above the old primary\'s');

$standby_guard->check;
$standby->stop;

# no server crashed or hit an assertion
for my $node ($primary, $standby)
{
	my $log = slurp_file($node->logfile);
	unlike($log, $PmGuard::CRASH_RE,
		$node->name . ': no crash in the server log');
}

done_testing();
