# Shared statistics bounded by what a role could do anyway, and
# pm_flush_usage exactly once under concurrency.
#
# What a user relies on:
#  - a role without any privilege, in another database, rendering hundreds
#    of ids that are no prompt takes no entry of pm_stats per id: the
#    renders of the victim database all reach usage_count;
#  - renders not yet added to usage_count are never evicted, even when
#    another database's role renders hundreds of prompts it may read: new
#    entries are dropped instead (and counted in pm_stats_info);
#  - once flushed, entries are evicted again to make room;
#  - pm_stats read in a UTF8 database shows no byte of a LATIN1 database
#    that is not valid UTF-8: ids are converted (or not shown);
#  - sessions rendering and flushing at the same time never deadlock,
#    and usage_count ends exactly at the number of successful renders.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;

my $node = PostgreSQL::Test::Cluster->new('stats_bounds');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'prompt_manager'
prompt_manager.stats_max = 100
deadlock_timeout = '20ms'
});
$node->start;
my $guard = PmGuard->new($node);

$node->safe_psql('postgres', q{
	CREATE DATABASE victim ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
	CREATE DATABASE attacker ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
	CREATE ROLE mallory LOGIN;
});
$node->safe_psql('victim', q{
	CREATE EXTENSION prompt_manager;
	INSERT INTO pm_prompts (prompt_id, content)
	SELECT 'v/' || g, 'victim prompt ' || g FROM generate_series(1, 10) g;
});
$node->safe_psql('attacker', q{
	CREATE EXTENSION prompt_manager;
	INSERT INTO pm_prompts (prompt_id, content)
	SELECT 'a/' || g, 'attacker prompt ' || g FROM generate_series(1, 300) g;
});
my $attacker_oid = $node->safe_psql('victim',
	q{SELECT oid FROM pg_database WHERE datname = 'attacker'});

# pm_stats, read in the UTF8 database, holds nothing that is not UTF-8:
# text functions, a LATIN1 client and CREATE TABLE AS all work on it
sub check_utf8
{
	my ($when) = @_;
	my ($ret, $out, $err) = $node->psql('victim',
		q{SELECT count(*) FROM pm_stats WHERE convert_from(convert_to(prompt_id, 'UTF8'), 'UTF8') IS NOT NULL});
	is($ret, 0, "$when: every prompt_id of pm_stats is valid UTF-8") or diag($err);
	($ret, $out, $err) = $node->psql('victim',
		q{SET client_encoding = 'LATIN1'; SELECT string_agg(prompt_id, ',') FROM pm_stats});
	is($ret, 0, "$when: a LATIN1 client reads pm_stats") or diag($err);
	($ret, $out, $err) = $node->psql('victim', q{
		DROP TABLE IF EXISTS stats_copy;
		CREATE TABLE stats_copy AS SELECT * FROM pm_stats;
		SELECT count(upper(prompt_id)) FROM stats_copy;
		DROP TABLE stats_copy;});
	is($ret, 0, "$when: CREATE TABLE AS over pm_stats stores valid text") or diag($err);
}

# --- the victim renders 30 times; then a role without privileges, in the
# --- LATIN1 database, renders 400 ids that are no prompt (byte 0xE9 in them)
$node->safe_psql('victim',
	q{SELECT count(pm_render('v/' || (g % 10 + 1))) FROM generate_series(1, 30) g});
$node->safe_psql('attacker', q{
	CREATE FUNCTION pg_temp.try_render(id text) RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM pm_render(id);
	EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
		NULL;
	END $$;
	SELECT count(pg_temp.try_render('bogus/' || g || chr(233))) FROM generate_series(1, 400) g;
	SET prompt_manager.raise_on_missing = off;
	SET client_min_messages = error;
	SELECT count(pg_temp.try_render('quiet/' || g || chr(233))) FROM generate_series(1, 400) g;
}, extra_params => [ '-U', 'mallory' ]);
is($node->safe_psql('victim', qq{SELECT string_agg(kind || ':' || renders, ',') FROM pm_stats WHERE dbid = $attacker_oid}),
	'missing:800', 'the 800 renders of ids that are no prompt share one entry');
is($node->safe_psql('victim', q{SELECT count(*) FROM pm_stats WHERE prompt_id LIKE 'v/%'}),
	'10', 'the victim\'s 10 entries are all there');
check_utf8('after the LATIN1 renders');

# --- renders of prompts the attacker may read: entries with usage not yet
# --- flushed are not evicted for them, new ones are dropped instead
$node->safe_psql('attacker', q{GRANT SELECT ON pm_prompts TO mallory});
$node->safe_psql('attacker',
	q{SELECT count(pm_render('a/' || (g % 300 + 1))) FROM generate_series(1, 1500) g},
	extra_params => [ '-U', 'mallory' ]);
my ($entries, $dropped) = split /\|/, $node->safe_psql('victim',
	'SELECT entries, dropped FROM pm_stats_info()');
cmp_ok($entries, '<=', 100, "pm_stats stays within stats_max ($entries entries)");
cmp_ok($dropped, '>', 0, "renders that found no room are counted as dropped ($dropped)");
is($node->safe_psql('victim', q{SELECT count(*) FROM pm_stats WHERE prompt_id LIKE 'v/%'}),
	'10', 'the victim\'s entries were not evicted');
is($node->safe_psql('victim', 'SELECT pm_flush_usage()'), '30',
	'the victim\'s pm_flush_usage adds its 30 renders');
is($node->safe_psql('victim', 'SELECT sum(usage_count) FROM pm_prompts'), '30',
	'usage_count holds them');

# --- once flushed, entries may be evicted again
$node->safe_psql('attacker', 'SELECT pm_flush_usage()');
my $evicted = $node->safe_psql('victim', 'SELECT evicted FROM pm_stats_info()');
$node->safe_psql('victim', q{
	INSERT INTO pm_prompts (prompt_id, content) VALUES ('v/new', 'new');
	SELECT pm_render('v/new');
});
is($node->safe_psql('victim', q{SELECT renders FROM pm_stats WHERE prompt_id = 'v/new'}),
	'1', 'a new prompt gets an entry once the others are flushed');
cmp_ok($node->safe_psql('victim', 'SELECT evicted FROM pm_stats_info()'), '>', $evicted,
	'flushed entries were evicted to make room');

# --- encodings: a prompt of the LATIN1 database whose id is not ASCII (the
# --- table's owner dropped the check) is shown converted to UTF-8
$node->safe_psql('attacker', q{
	ALTER TABLE pm_prompts DROP CONSTRAINT pm_prompts_prompt_id_check;
	INSERT INTO pm_prompts (prompt_id, content) VALUES ('caf' || chr(233), 'coffee');
	SELECT pm_render('caf' || chr(233));
});
is($node->safe_psql('victim', qq{SELECT prompt_id = U&'caf\\00E9' FROM pm_stats WHERE dbid = $attacker_oid AND prompt_id LIKE 'caf%'}),
	't', 'a LATIN1 id is shown converted to UTF-8');
check_utf8('with a converted id');

# --- four sessions render and flush at the same time: no deadlock, exact counts
$node->safe_psql('victim', q{
	SELECT pm_flush_usage();
	UPDATE pm_prompts SET usage_count = 0;
});
# (a flush in a transaction that goes on rendering holds its row locks a
# while: without a fixed locking order, four such clients deadlock within a
# few hundred transactions)
my $flush_script = q{
SELECT count(pm_render(id)) FROM (SELECT 'v/' || g AS id FROM generate_series(1, 10) g ORDER BY random()) r;
BEGIN;
SELECT pm_flush_usage();
SELECT count(pm_render(id)) FROM (SELECT 'v/' || g AS id FROM generate_series(1, 10) g ORDER BY random()) r;
COMMIT;
};
my $transactions = 300;
$node->pgbench(
	"--no-vacuum --client=4 --jobs=2 --transactions=$transactions victim",
	0,
	[ qr{number of transactions actually processed: 1200/1200},
	  qr{number of failed transactions: 0 } ],
	[ qr{^(?!.*(deadlock|ERROR|aborted))}s ],
	'pgbench: four sessions rendering and flushing concurrently, without a deadlock',
	{ '009_flush' => $flush_script });
$node->safe_psql('victim', 'SELECT pm_flush_usage()');
is($node->safe_psql('victim', q{SELECT sum(usage_count) FROM pm_prompts WHERE prompt_id LIKE 'v/%' AND prompt_id <> 'v/new'}),
	4 * $transactions * 20, 'usage_count is exactly the number of renders');
unlike(slurp_file($node->logfile), qr/deadlock detected/, 'no deadlock in the server log');

$guard->check;
$node->stop;
done_testing();
