# pg_dump and restore keep users' prompts: every column, the revision
# counter, and the renders, with the extension in a schema of its own.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'prompt_manager'");
$node->start;
my $guard = PmGuard->new($node);

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
	CREATE SCHEMA prompts;
	CREATE EXTENSION prompt_manager SCHEMA prompts;
	INSERT INTO prompts.pm_prompts
		(prompt_id, content, parameters, metadata, category, status, preload,
		 usage_count, created_at, updated_at)
	VALUES
		('mail/reply', E'Dear [NAME],\n# note to self\n//include mail/footer',
		 '{"[NAME]": ["Sir", "Madam"]}', '{"team": "support", "lang": "en"}',
		 'mail', 'active', true, 42,
		 '2020-01-02 03:04:05+00', '2021-06-07 08:09:10+00'),
		('mail/footer', E'-- [TEAM]\n<!-- internal -->', '{"team": "Support"}',
		 '{}', 'mail', 'archived', false, 7,
		 '2019-01-01 00:00:00+00', '2019-01-01 00:00:00+00'),
		('big', repeat('lorem ipsum [X] ', 100000), '{}', '{}', NULL, 'active',
		 false, 0, '2022-01-01 00:00:00+00', '2022-01-01 00:00:00+00');
	UPDATE prompts.pm_prompts SET usage_count = usage_count WHERE prompt_id = 'big';
});

my $columns = q{prompt_id, md5(content), parameters, metadata, category, status,
	preload, usage_count, created_at, updated_at};
my $rows_query = "SELECT $columns FROM prompts.pm_prompts ORDER BY prompt_id";
my $render_query = q{SELECT prompts.pm_render('mail/reply') || '|' ||
	md5(prompts.pm_render('big', '{"x": "dolor"}'))};

my $src_rows = $node->safe_psql('src', $rows_query);
my $src_render = $node->safe_psql('src', $render_query);
my $src_maxrev = $node->safe_psql('src', 'SELECT max(revision) FROM prompts.pm_prompts');
like($src_render, qr/^Dear Madam,\n-- Support\|[0-9a-f]{32}$/, 'source renders');

my $tempdir = PostgreSQL::Test::Utils::tempdir;

# custom format, restored with pg_restore
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$tempdir/src.dump", '-d', $node->connstr('src') ],
	'pg_dump -Fc');
$node->safe_psql('postgres', 'CREATE DATABASE dst_custom');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst_custom'), "$tempdir/src.dump" ],
	'pg_restore');

# plain format, restored with psql
$node->command_ok([ 'pg_dump', '-f', "$tempdir/src.sql", '-d', $node->connstr('src') ],
	'pg_dump plain');
$node->safe_psql('postgres', 'CREATE DATABASE dst_plain');
$node->command_ok([ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-q', '-f', "$tempdir/src.sql",
	'-d', $node->connstr('dst_plain') ], 'psql restore');

for my $db ('dst_custom', 'dst_plain')
{
	is($node->safe_psql($db, $rows_query), $src_rows, "$db: every prompt and column kept");
	is($node->safe_psql($db, $render_query), $src_render, "$db: renders the same");
	is($node->safe_psql($db, 'SELECT count(*) FROM prompts.pm_prompts WHERE revision IS NULL'),
		'0', "$db: every row has a revision");

	# the counter goes on past every revision seen before the dump
	$node->safe_psql($db, q{UPDATE prompts.pm_prompts SET content = 'Changed [NAME]'
		WHERE prompt_id = 'mail/reply'});
	my $newrev = $node->safe_psql($db,
		q{SELECT revision FROM prompts.pm_prompts WHERE prompt_id = 'mail/reply'});
	cmp_ok($newrev, '>', $src_maxrev, "$db: new revisions are above the old ones");
	is($node->safe_psql($db, q{SELECT prompts.pm_render('mail/reply')}),
		'Changed Madam', "$db: renders the updated prompt");
}

$guard->check;
$node->stop;
done_testing();
