# Uninstalling and reinstalling prompt_manager without losing prompts, as
# README.md tells it ("Uninstalling and reinstalling"):
#   - a plain DROP EXTENSION refuses while pm_prompts holds prompts (2BP01,
#     with the count), and leaves every prompt in place;
#   - pg_dump of the database does not dump the extension's event trigger
#     separately (it is a member: CREATE EXTENSION creates it), so the dump
#     restores into a new database without error;
#   - the documented way: pg_dump --data-only of the table and its
#     sequence, DROP EXTENSION ... CASCADE, CREATE EXTENSION, psql -f: every
#     prompt comes back as it was (revisions excepted), and renders the same,
#     also in a session that rendered (and cached) before the reinstall.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;

my $node = PostgreSQL::Test::Cluster->new('reinstall');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'prompt_manager'\n");
$node->start;
my $guard = PmGuard->new($node);
my $tempdir = PostgreSQL::Test::Utils::tempdir;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
	CREATE EXTENSION prompt_manager;
	INSERT INTO pm_prompts (prompt_id, content, parameters, metadata, category, status, usage_count,
		created_at, updated_at) VALUES
		('greet', E'Hello [NAME]\n//include sign', '{"name": "world"}', '{"owner": "a"}', 'c1', 'active', 3,
			'2020-01-01 00:00:00+00', '2021-01-01 00:00:00+00'),
		('sign', 'Price: [X] EUR', '{"x": 9.90}', '{}', NULL, 'draft', 0,
			'2020-02-01 00:00:00+00', '2021-02-01 00:00:00+00');
});
my $columns = q{SELECT string_agg(concat_ws('|', prompt_id, content, parameters::text, metadata::text,
	category, status, preload, usage_count, created_at, updated_at), E'\n' ORDER BY prompt_id) FROM pm_prompts};
my $renders = q{SELECT pm_render('greet') || ' / ' || pm_render('sign', '{"x": 1.00}')};
my $rows_before = $node->safe_psql('src', $columns);
my $render_before = $node->safe_psql('src', $renders);
is($render_before, "Hello world\nPrice: 9.90 EUR / Price: 1.00 EUR", 'renders before');

# a plain DROP EXTENSION refuses, and keeps the prompts
my ($ret, $stdout, $stderr) = $node->psql('src', 'DROP EXTENSION prompt_manager');
isnt($ret, 0, 'DROP EXTENSION without CASCADE fails');
like($stderr, qr/cannot drop extension "prompt_manager" because its table "pm_prompts" holds 2 prompts/,
	'it says how many prompts would be lost');
like($stderr, qr/HINT:  Dump the prompts first, for example with pg_dump --data-only --table=public\.pm_prompts --table=public\.pm_prompts_revision_seq/,
	'it hints to pg_dump first');
is($node->safe_psql('src', $columns), $rows_before, 'every prompt is still there');

# a dump of the whole database: the event trigger is left to CREATE EXTENSION
$node->command_ok([ 'pg_dump', '-f', "$tempdir/whole.sql", '-d', $node->connstr('src') ], 'pg_dump');
unlike(slurp_file("$tempdir/whole.sql"), qr/EVENT TRIGGER|pm_drop_guard/,
	'pg_dump does not dump the event trigger or its function');
$node->safe_psql('postgres', 'CREATE DATABASE whole');
$node->command_ok([ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-q', '-f', "$tempdir/whole.sql", '-d', $node->connstr('whole') ],
	'the dump restores without error');
is($node->safe_psql('whole', $columns), $rows_before, 'restored: every prompt as it was');
is($node->safe_psql('whole', q{SELECT count(*) FROM pg_event_trigger WHERE evtname = 'pm_drop_guard' AND evtenabled = 'A'}),
	'1', 'restored: the event trigger is there, ENABLE ALWAYS');

# uninstall and reinstall the documented way, while another session that
# has rendered (so cached) stays connected
my $session = $node->background_psql('src');
is($session->query_safe($renders), $render_before, 'a long-lived session renders');
$node->command_ok([ 'pg_dump', '--data-only', '--table=public.pm_prompts', '--table=public.pm_prompts_revision_seq',
	'-f', "$tempdir/prompts.sql", '-d', $node->connstr('src') ], 'pg_dump --data-only of the table and its sequence');
$node->safe_psql('src', 'DROP EXTENSION prompt_manager CASCADE');
is($node->safe_psql('src', q{SELECT count(*) FROM pg_class WHERE relname = 'pm_prompts'}), '0',
	'DROP EXTENSION ... CASCADE drops the table');
$node->safe_psql('src', 'CREATE EXTENSION prompt_manager');
$node->command_ok([ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-q', '-f', "$tempdir/prompts.sql", '-d', $node->connstr('src') ],
	'the prompts load into the new extension');
is($node->safe_psql('src', $columns), $rows_before, 'reinstalled: every prompt as it was');
is($node->safe_psql('src', $renders), $render_before, 'reinstalled: renders the same');
is($session->query_safe($renders), $render_before, 'reinstalled: the long-lived session renders the same');
is($node->safe_psql('src', q{SELECT count(*) FROM pm_prompts WHERE revision > 0}), '2',
	'reinstalled: the trigger gave every row a revision');
$session->quit;

$guard->check;
done_testing();
