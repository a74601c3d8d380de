# ALTER EXTENSION prompt_manager UPDATE TO '0.2.0' on a database filled
# under 0.1.0, with the cache warm and a session open across the update:
# every render unchanged (in that session and in new ones), each prompt's
# version 1 is its text, the version trigger works from then on, and the
# upgraded extension has exactly the objects of a fresh 0.2.0 install.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'prompt_manager'");
$node->start;
my $guard = PmGuard->new($node);

$node->safe_psql('postgres', 'CREATE DATABASE up');
$node->safe_psql('up', q{
	CREATE EXTENSION prompt_manager VERSION '0.1.0';
	INSERT INTO pm_prompts (prompt_id, content, parameters, updated_at) VALUES
		('mail/reply', E'Dear [NAME],\n# a comment\n//include mail/body\n//include mail/footer',
		 '{"[NAME]": ["Sir", "Madam"]}', '2021-06-07 08:09:10+00'),
		('mail/body', E'Your order [ORDER] shipped.\n//include mail/footer', '{"[ORDER]": "#1"}',
		 '2021-06-07 08:09:10+00'),
		('mail/footer', E'-- [TEAM]\n<!-- internal -->', '{"[TEAM]": "Support"}',
		 '2020-01-01 00:00:00+00'),
		('plain', 'no parameters at all', '{}', '2020-01-01 00:00:00+00'),
		('exact', 'value [X]', '{"[X]": 1.00}', '2020-01-01 00:00:00+00'),
		('big', repeat('lorem ipsum [X] ', 20000), '{}', '2022-01-01 00:00:00+00');
	UPDATE pm_prompts SET content = content || '.' WHERE prompt_id = 'plain';
});
is($node->safe_psql('up', q{SELECT extversion FROM pg_extension WHERE extname = 'prompt_manager'}),
	'0.1.0', 'installed as 0.1.0');

my @renders = (
	q{SELECT pm_render('mail/reply')},
	q{SELECT pm_render('mail/reply', '{"name": "Ada", "order": "#42"}')},
	q{SELECT string_agg(l, '|') FROM pm_render_lines('mail/body') AS l},
	q{SELECT pm_keywords('mail/reply')::text},
	q{SELECT pm_render('exact')},
	q{SELECT pm_render('plain')},
	q{SELECT md5(pm_render('big', '{"x": "dolor"}'))},
	q{SELECT string_agg(ok || ':' || coalesce(result, error), '|' ORDER BY ord)
	  FROM pm_bulk_render('[{"prompt_id": "mail/footer"}, {"prompt_id": "nope"}]')},
	q{SELECT pm_render_template(E'Hi\n//include mail/footer')},
);
my $all = join(";\n", @renders) . ';';
my $before = $node->safe_psql('up', $all);
like($before, qr/^Dear Madam,\nYour order #1 shipped\.\n-- Support/, 'renders under 0.1.0');

# warm the shared cache, and keep a session that rendered open
$node->safe_psql('up', $all) for 1 .. 2;
my $hits = $node->safe_psql('up', 'SELECT hits FROM pm_cache');
cmp_ok($hits, '>', 0, 'the cache serves renders under 0.1.0');
my $session = $node->background_psql('up', on_error_stop => 0);
is($session->query_safe($all), $before, 'long-lived session renders before the update');

$node->safe_psql('up', q{ALTER EXTENSION prompt_manager UPDATE TO '0.2.0'});
is($node->safe_psql('up', q{SELECT extversion FROM pg_extension WHERE extname = 'prompt_manager'}),
	'0.2.0', 'updated to 0.2.0');

is($session->query_safe($all), $before, 'the same session renders the same after the update');
is($node->safe_psql('up', $all), $before, 'a new session renders the same');
cmp_ok($node->safe_psql('up', 'SELECT hits FROM pm_cache'), '>', $hits,
	'the cache still serves renders');

# each prompt has one version, version 1, its text, parameters and revision
is($node->safe_psql('up', q{SELECT count(*) FROM pm_prompt_versions}), '6', 'one version per prompt');
is($node->safe_psql('up', q{SELECT count(*) FROM pm_prompts p JOIN pm_prompt_versions v
	ON v.prompt_id = p.prompt_id AND v.version = 1
	AND NOT record_image_ne(ROW(v.content, v.parameters, v.revision, v.created_at),
							ROW(p.content, p.parameters, p.revision, p.updated_at))}),
	'6', 'version 1 of each prompt is its text, byte for byte');

# the triggers of 0.2.0 work in the session opened under 0.1.0
is($session->query_safe(q{UPDATE pm_prompts SET content = '-- [TEAM] and co' WHERE prompt_id = 'mail/footer';
	SELECT pm_set_label('mail/footer', 'production');
	SELECT string_agg(prompt_id || '@' || version, ',' ORDER BY prompt_id, version)
	FROM pm_prompt_versions WHERE prompt_id = 'mail/footer'}),
	"2\nmail/footer\@1,mail/footer\@2", 'an edit adds version 2, labelled by pm_set_label');
is($node->safe_psql('up', q{SELECT label, from_version, to_version FROM pm_label_history}),
	'production||2', 'the move is in the history');
$session->quit;

# the upgraded extension has exactly the objects of a fresh 0.2.0 install
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION prompt_manager');
my %catalog = (
	members => q{SELECT pg_describe_object(classid, objid, objsubid), deptype FROM pg_depend
		WHERE refclassid = 'pg_extension'::regclass
		  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'prompt_manager')
		ORDER BY 1, 2},
	config => q{SELECT c::regclass, coalesce(extcondition[i], '') FROM pg_extension e,
		unnest(e.extconfig) WITH ORDINALITY AS u(c, i) WHERE e.extname = 'prompt_manager' ORDER BY 1},
	functions => q{SELECT p.oid::regprocedure, pg_get_functiondef(p.oid), p.proacl,
		obj_description(p.oid, 'pg_proc') FROM pg_proc p
		WHERE p.pronamespace = 'public'::regnamespace AND p.prokind = 'f' ORDER BY 1},
	columns => q{SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
		a.attnotnull, a.attidentity, a.attgenerated, pg_get_expr(d.adbin, d.adrelid),
		col_description(c.oid, a.attnum)
		FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
		WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1, 2},
	relations => q{SELECT c.relname, c.relkind, c.relacl, c.relrowsecurity, c.relforcerowsecurity,
		obj_description(c.oid, 'pg_class'),
		CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END
		FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1},
	constraints => q{SELECT conrelid::regclass, conname, pg_get_constraintdef(oid) FROM pg_constraint
		WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2},
	indexes => q{SELECT indexrelid::regclass, pg_get_indexdef(indexrelid) FROM pg_index
		WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)
		ORDER BY 1},
	triggers => q{SELECT tgrelid::regclass, tgname, tgenabled, pg_get_triggerdef(oid) FROM pg_trigger
		WHERE NOT tgisinternal ORDER BY 1, 2},
	event_triggers => q{SELECT evtname, evtevent, evtenabled, evttags, evtfoid::regproc
		FROM pg_event_trigger ORDER BY 1},
	sequences => q{SELECT seqrelid::regclass, seqtypid::regtype, seqstart, seqincrement, seqmax,
		seqmin, seqcache, seqcycle FROM pg_sequence
		WHERE seqrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)
		ORDER BY 1},
	policies => q{SELECT * FROM pg_policies ORDER BY 1, 2, 3},
);
for my $what (sort keys %catalog)
{
	my $fresh = $node->safe_psql('fresh', $catalog{$what});
	isnt($fresh, '', "fresh install lists $what") unless $what eq 'policies';
	is($node->safe_psql('up', $catalog{$what}), $fresh, "upgraded $what equal a fresh install's");
}

$guard->check;
$node->stop;
done_testing();
