# pg_dump and restore keep versions, labels, their history and the
# protected labels, byte for byte: the version trigger adds no version for
# the restored heads (which get back the revision they had), the label
# triggers record no move for the restored labels, and both go on after
# the restore with the next version number and the next move id.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;

my $node = PostgreSQL::Test::Cluster->new('versions_dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'prompt_manager'");
$node->start;
my $guard = PmGuard->new($node);

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
	CREATE SCHEMA prompts;
	CREATE EXTENSION prompt_manager SCHEMA prompts;
	SET search_path = prompts;
	CREATE ROLE dump_editor;
	GRANT USAGE ON SCHEMA prompts TO dump_editor;
	GRANT SELECT, INSERT, UPDATE, DELETE ON pm_prompts TO dump_editor;
	GRANT USAGE ON SEQUENCE pm_prompts_revision_seq TO dump_editor;
	SET ROLE dump_editor;
	INSERT INTO pm_prompts (prompt_id, content, parameters) VALUES
		('mail/reply', E'Dear [NAME],\n//include mail/footer', '{"[NAME]": "Sir"}'),
		('mail/footer', '-- Support', '{}'),
		('gone', 'deleted head', '{}');
	UPDATE pm_prompts SET content = E'Hello [NAME],\n//include mail/footer' WHERE prompt_id = 'mail/reply';
	UPDATE pm_prompts SET parameters = '{"[NAME]": 1.0}' WHERE prompt_id = 'mail/reply';
	UPDATE pm_prompts SET parameters = '{"[NAME]": 1.00}' WHERE prompt_id = 'mail/reply';
	UPDATE pm_prompts SET content = '-- The team' WHERE prompt_id = 'mail/footer';
	DELETE FROM pm_prompts WHERE prompt_id = 'gone';
	RESET ROLE;
	SELECT pm_set_label('mail/reply', 'production', 1);
	SELECT pm_set_label('mail/reply', 'production', 3);
	SELECT pm_rollback('mail/reply', 'production');
	SELECT pm_set_label('mail/reply', 'staging');
	SELECT pm_set_label('mail/footer', 'production', 1);
	SELECT pm_set_label('gone', 'archive', 1);
	SELECT pm_set_label('gone', 'tmp', 1);
	SELECT pm_remove_label('gone', 'tmp');
	INSERT INTO pm_protected_labels VALUES ('production', 'pg_write_all_data');
	-- an application table that refers to a version
	CREATE TABLE public.llm_outputs (id int PRIMARY KEY, prompt_id text, version int,
		FOREIGN KEY (prompt_id, version) REFERENCES prompts.pm_prompt_versions (prompt_id, version));
	INSERT INTO public.llm_outputs VALUES (1, 'mail/reply', 2);
});

my %queries = (
	versions => q{SELECT prompt_id, version, md5(content), parameters::text, created_at,
		created_by, revision FROM prompts.pm_prompt_versions ORDER BY 1, 2},
	labels => q{SELECT prompt_id, label, version, moved_at, moved_by
		FROM prompts.pm_labels ORDER BY 1, 2},
	history => q{SELECT move_id, prompt_id, label, from_version, to_version, moved_at,
		moved_by, txid FROM prompts.pm_label_history ORDER BY move_id},
	protected => q{SELECT label, role FROM prompts.pm_protected_labels ORDER BY 1},
	heads => q{SELECT prompt_id, revision, md5(content), parameters::text
		FROM prompts.pm_prompts ORDER BY 1},
	outputs => q{SELECT * FROM public.llm_outputs ORDER BY 1},
	render => q{SELECT prompts.pm_render('mail/reply')},
);
my %src;
$src{$_} = $node->safe_psql('src', $queries{$_}) for keys %queries;
like($src{versions}, qr/^mail\/reply\|4\|/m, 'source has four versions of mail/reply');
like($src{history}, qr/\|gone\|tmp\|1\|\|/, 'source history holds a removal');

my $tempdir = PostgreSQL::Test::Utils::tempdir;
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$tempdir/src.dump", '-d', $node->connstr('src') ],
	'pg_dump -Fc');
$node->safe_psql('postgres', 'CREATE DATABASE dst_custom');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst_custom'), "$tempdir/src.dump" ],
	'pg_restore');
$node->command_ok([ 'pg_dump', '-f', "$tempdir/src.sql", '-d', $node->connstr('src') ],
	'pg_dump plain');
$node->safe_psql('postgres', 'CREATE DATABASE dst_plain');
$node->command_ok([ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-q', '-f', "$tempdir/src.sql",
	'-d', $node->connstr('dst_plain') ], 'psql restore');

for my $db ('dst_custom', 'dst_plain')
{
	for my $what (sort keys %queries)
	{
		is($node->safe_psql($db, $queries{$what}), $src{$what}, "$db: $what kept");
	}
	# every head has the revision of its newest version, which holds its bytes
	is($node->safe_psql($db, q{SELECT count(*) FROM prompts.pm_prompts p
		JOIN LATERAL (SELECT * FROM prompts.pm_prompt_versions v WHERE v.prompt_id = p.prompt_id
					  ORDER BY v.version DESC LIMIT 1) n ON true
		WHERE n.revision <> p.revision OR record_image_ne(ROW(n.content, n.parameters), ROW(p.content, p.parameters))}),
		'0', "$db: heads have the revision of their newest version");

	# after the restore: the next version, the next move, the rules
	$node->safe_psql($db, q{UPDATE prompts.pm_prompts SET content = 'Changed [NAME]'
		WHERE prompt_id = 'mail/reply'});
	is($node->safe_psql($db, q{SELECT max(version) FROM prompts.pm_prompt_versions
		WHERE prompt_id = 'mail/reply'}), '5', "$db: the next edit adds version 5");
	my $maxrev = $node->safe_psql('src', 'SELECT max(revision) FROM prompts.pm_prompt_versions');
	cmp_ok($node->safe_psql($db, q{SELECT revision FROM prompts.pm_prompt_versions
		WHERE prompt_id = 'mail/reply' AND version = 5}), '>', $maxrev,
		"$db: its revision is above every revision of the dump");
	is($node->safe_psql($db, q{SELECT prompts.pm_rollback('mail/reply', 'production')}), '3',
		"$db: pm_rollback reads the restored history");
	my $maxmove = $node->safe_psql('src', 'SELECT max(move_id) FROM prompts.pm_label_history');
	is($node->safe_psql($db, qq{SELECT count(*) FROM prompts.pm_label_history WHERE move_id > $maxmove}),
		'1', "$db: the move after the restore is the only new history row");
	my ($rc, $out, $err) = $node->psql($db, q{DELETE FROM prompts.pm_prompt_versions
		WHERE prompt_id = 'mail/reply' AND version = 2});
	like($err, qr/violates foreign key constraint "llm_outputs_prompt_id_version_fkey"/,
		"$db: the application's foreign key is restored");
	($rc, $out, $err) = $node->psql($db, q{UPDATE prompts.pm_label_history SET to_version = 1});
	like($err, qr/pm_label_history is append-only/, "$db: history still append-only");
}

$guard->check;
$node->stop;
done_testing();
