# DDL on pm_prompts under sessions that keep rendering.
#
# What a user relies on: after another session changes the table's shape
# (REINDEX CONCURRENTLY of the primary key or of the table, the primary key
# dropped and added again, prompt_id made varchar(255), NOT NULL dropped
# from content or parameters, a column migration done by adding a column,
# copying, dropping the old one and renaming the new one, two columns
# swapped by renames, parameters made text, the table renamed away and a
# view put in its place), a session connected before the change renders
# exactly what the table now holds, with no reconnect:
#  - cached (the shared cache on, when preloaded), uncached
#    (prompt_manager.cache = off), and through row-level security (where
#    rows are read by a query, not straight from the primary key);
#  - where the table no longer has the shape rendering needs (no primary
#    key on prompt_id, no column content, parameters of type text, a NULL
#    content or parameters, no table), a render is a clear error with its
#    own SQLSTATE (55000, 42703, 42804, 22004, 42P01, 42809), and renders
#    are right again once the shape is restored;
#  - a new session never gets text from before a change from the shared
#    cache (two columns swapped by renames change no row at all);
#  - no change makes any backend crash (PmGuard).
# All of it runs twice: with the library preloaded and without.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;

my $node;
my %sessions;					# kind => BackgroundPsql

# A long-lived session: 'cached' (the defaults), 'uncached' or 'rls' (a
# role that reads pm_prompts under a row-level security policy).
sub open_session
{
	my ($kind) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	$s->query_safe('SET prompt_manager.cache = off') if $kind eq 'uncached';
	$s->query_safe('SET ROLE ddl_reader') if $kind eq 'rls';
	return $s;
}

# Render $id in session $kind: (output, undef) or (undef, error text).  A
# session that died (a crashed backend) is opened again, after the server
# is back, so that the tests that follow still run.
sub render_in
{
	my ($kind, $id) = @_;
	my $s = $sessions{$kind};
	my ($out, $failed);
	if (!eval { ($out, $failed) = $s->query("SELECT pm_render('$id')"); 1 })
	{
		$node->poll_query_until('postgres', 'SELECT true');
		$sessions{$kind} = open_session($kind);
		return (undef, "the session was lost: $@");
	}
	my $err = $s->{stderr};
	$s->{stderr} = '';
	return $failed ? (undef, $err) : ($out, undef);
}

# Render every prompt of %expect twice in each long-lived session, and once
# in a new session; an expectation is the text, or [SQLSTATE, message].
sub check_renders
{
	my ($label, %expect) = @_;
	foreach my $id (sort keys %expect)
	{
		my $want = $expect{$id};
		my @tries = map { [ $_, render_in($_, $id) ] }
		  ('cached', 'uncached', 'rls', 'cached', 'uncached', 'rls');
		my ($ret, $stdout, $stderr) = $node->psql('postgres',
			"SELECT pm_render('$id')", extra_params => [ '-v', 'VERBOSITY=verbose' ]);
		push @tries, [ 'new', $ret == 0 ? ($stdout, undef) : (undef, $stderr) ];
		# (after a crash, wait until the server is back: PmGuard reports it)
		$node->poll_query_until('postgres', 'SELECT true') if $stderr =~ /connection/;
		foreach my $try (@tries)
		{
			my ($kind, $out, $err) = @$try;
			if (ref $want)
			{
				my ($code, $msg) = @$want;
				like($err // "rendered: $out", qr/ERROR:  $code: \Q$msg\E/,
					"$label: $id in the $kind session is error $code");
			}
			else
			{
				is($out // "error: $err", $want, "$label: $id in the $kind session");
			}
		}
	}
}

# Run DDL (or DML) from another session.
sub other_session
{
	my ($sql) = @_;
	$node->safe_psql('postgres', $sql);
}

sub run_variant
{
	my ($variant, $preload) = @_;

	$node = PostgreSQL::Test::Cluster->new("ddl_$variant");
	$node->init;
	$node->append_conf('postgresql.conf',
		($preload ? "shared_preload_libraries = 'prompt_manager'\n" : '')
		  . "restart_after_crash = on\n");
	$node->start;
	my $guard = PmGuard->new($node);

	other_session(q{
		CREATE EXTENSION prompt_manager;
		CREATE ROLE ddl_reader;
		GRANT SELECT ON pm_prompts TO ddl_reader;
		ALTER TABLE pm_prompts ENABLE ROW LEVEL SECURITY;
		CREATE POLICY ddl_all ON pm_prompts FOR SELECT TO ddl_reader USING (true);
		INSERT INTO pm_prompts (prompt_id, content, parameters) VALUES
			('ddl/a', 'A v1 [X]', '{"[X]": "x"}'),
			('ddl/b', E'B v1\n//include ddl/a', '{}');
	});
	%sessions = map { $_ => open_session($_) } ('cached', 'uncached', 'rls');
	my %v1 = ('ddl/a' => 'A v1 x', 'ddl/b' => "B v1\nA v1 x");

	check_renders("$variant, before any DDL", %v1);

	other_session('REINDEX INDEX CONCURRENTLY pm_prompts_pkey');
	check_renders("$variant, after REINDEX INDEX CONCURRENTLY", %v1);

	other_session('REINDEX TABLE CONCURRENTLY pm_prompts');
	check_renders("$variant, after REINDEX TABLE CONCURRENTLY", %v1);

	other_session('ALTER TABLE pm_prompts DROP CONSTRAINT pm_prompts_pkey, ADD PRIMARY KEY (prompt_id)');
	check_renders("$variant, after the primary key is dropped and added in one statement", %v1);

	my $no_pkey = [ '55000', 'table "pm_prompts" of extension "prompt_manager" has no primary key on prompt_id' ];
	other_session('ALTER TABLE pm_prompts DROP CONSTRAINT pm_prompts_pkey');
	check_renders("$variant, without a primary key",
		'ddl/a' => $no_pkey, 'ddl/b' => $no_pkey);
	other_session('ALTER TABLE pm_prompts ADD PRIMARY KEY (prompt_id, revision)');
	check_renders("$variant, with a primary key on (prompt_id, revision)",
		'ddl/a' => $no_pkey, 'ddl/b' => $no_pkey);
	other_session(q{
		ALTER TABLE pm_prompts DROP CONSTRAINT pm_prompts_pkey;
		ALTER TABLE pm_prompts ADD CONSTRAINT pm_prompts_pkey PRIMARY KEY (prompt_id);
	});
	check_renders("$variant, after the primary key is added again", %v1);

	other_session('ALTER TABLE pm_prompts ALTER COLUMN prompt_id TYPE varchar(255)');
	check_renders("$variant, after prompt_id TYPE varchar(255)", %v1);

	# NOT NULL dropped, then NULL stored
	other_session(q{
		ALTER TABLE pm_prompts ALTER content DROP NOT NULL, ALTER parameters DROP NOT NULL;
		INSERT INTO pm_prompts (prompt_id, content) VALUES ('ddl/nullc', NULL);
		INSERT INTO pm_prompts (prompt_id, content, parameters) VALUES ('ddl/nullp', 'P', NULL);
		INSERT INTO pm_prompts (prompt_id, content) VALUES ('ddl/incnull', E'I\n//include ddl/nullc');
	});
	check_renders("$variant, NULL content and parameters", %v1,
		'ddl/nullc' => [ '22004', 'prompt "ddl/nullc" has no content' ],
		'ddl/nullp' => [ '22004', 'prompt "ddl/nullp" has NULL parameters' ],
		'ddl/incnull' => [ '22004', 'prompt "ddl/nullc" has no content' ]);
	other_session(q{
		DELETE FROM pm_prompts WHERE prompt_id IN ('ddl/nullc', 'ddl/nullp', 'ddl/incnull');
		ALTER TABLE pm_prompts ALTER content SET NOT NULL, ALTER parameters SET NOT NULL;
	});
	check_renders("$variant, NOT NULL set again", %v1);

	# a column migration: add, copy (changing the text), drop, rename
	other_session(q{
		ALTER TABLE pm_prompts ADD COLUMN content_new text;
		UPDATE pm_prompts SET content_new = replace(content, 'v1', 'v2');
	});
	check_renders("$variant, migration: new column filled", %v1);
	my $no_content = [ '42703', 'table "pm_prompts" of extension "prompt_manager" has no column "content"' ];
	other_session('ALTER TABLE pm_prompts DROP COLUMN content');
	check_renders("$variant, migration: old column dropped",
		'ddl/a' => $no_content, 'ddl/b' => $no_content);
	other_session(q{
		ALTER TABLE pm_prompts RENAME COLUMN content_new TO content;
		ALTER TABLE pm_prompts ALTER COLUMN content SET NOT NULL;
	});
	my %v2 = ('ddl/a' => 'A v2 x', 'ddl/b' => "B v2\nA v2 x");
	check_renders("$variant, migration: new column renamed", %v2);
	other_session(q{INSERT INTO pm_prompts (prompt_id, content, parameters)
		VALUES ('ddl/new', 'N [X]', '{"[X]": "n"}')});
	check_renders("$variant, migration: a prompt inserted after it", %v2,
		'ddl/new' => 'N n');

	# two columns swapped by renames: no row changes, every row's text does
	my $swap_columns = q{ALTER TABLE pm_prompts RENAME COLUMN content TO content_old;
		ALTER TABLE pm_prompts RENAME COLUMN content_alt TO content};
	my $swap_back = q{ALTER TABLE pm_prompts RENAME COLUMN content TO content_alt;
		ALTER TABLE pm_prompts RENAME COLUMN content_old TO content};
	other_session(q{
		ALTER TABLE pm_prompts ADD COLUMN content_alt text;
		UPDATE pm_prompts SET content_alt = replace(content, 'v2', 'v3');
		DELETE FROM pm_prompts WHERE prompt_id = 'ddl/new';
	});
	check_renders("$variant, swap: other column filled", %v2);
	other_session("BEGIN; $swap_columns; COMMIT");
	check_renders("$variant, swap: columns renamed",
		'ddl/a' => 'A v3 x', 'ddl/b' => "B v3\nA v3 x");
	other_session("BEGIN; $swap_back; COMMIT");
	check_renders("$variant, swap: columns renamed back", %v2);

	# The same swap committed while a render waits for it, in the read of
	# the prompt's revision.  A transaction begun before the last write is
	# still open, so no snapshot has proof (src/pm_writes.c) and the render
	# first locks pm_prompts in that read: the cache key it made before the
	# read names the old shape, and must be made again.
	my $holder = $node->background_psql('postgres', on_error_stop => 0);
	$holder->query_safe('BEGIN; SELECT pg_current_xact_id()');
	other_session(q{UPDATE pm_prompts SET metadata = '{"touched": true}' WHERE prompt_id = 'ddl/b'});
	is((render_in('cached', 'ddl/a'))[0], 'A v2 x', "$variant, swap in a read: rendered before");
	is((render_in('cached', 'ddl/a'))[0], 'A v2 x', "$variant, swap in a read: rendered again before");
	my $ddl = $node->background_psql('postgres', on_error_stop => 0);
	$ddl->query_safe("BEGIN; $swap_columns");
	$sessions{cached}->query_until(qr/started/, "\\echo started\nSELECT pm_render('ddl/a');\n");
	ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_locks
			WHERE NOT granted AND relation = 'pm_prompts'::regclass}),
		"$variant, swap in a read: the render waits for the ALTER TABLE");
	$ddl->query_safe('COMMIT');
	my $waited = $sessions{cached}->query_safe(q{SELECT 'next'});
	is($waited, "A v3 x\nnext", "$variant, swap in a read: the render reads the new column");
	$ddl->quit;
	$holder->query_safe('COMMIT');
	$holder->quit;
	other_session("BEGIN; $swap_back; COMMIT");
	check_renders("$variant, swap in a read: columns renamed back", %v2);

	# parameters made text, then jsonb again
	my $params_text = [ '42804', 'column "parameters" of table "pm_prompts" has type text, not jsonb' ];
	other_session(q{
		ALTER TABLE pm_prompts DROP CONSTRAINT pm_prompts_parameters_check,
			ALTER parameters DROP DEFAULT, ALTER parameters TYPE text;
	});
	check_renders("$variant, parameters of type text",
		'ddl/a' => $params_text, 'ddl/b' => $params_text);
	other_session(q{
		ALTER TABLE pm_prompts ALTER parameters TYPE jsonb USING parameters::jsonb,
			ALTER parameters SET DEFAULT '{}',
			ADD CONSTRAINT pm_prompts_parameters_check
				CHECK (jsonb_typeof(parameters) = 'object');
	});
	check_renders("$variant, parameters of type jsonb again", %v2);

	# the table renamed away, and a view put in its place
	my $no_table = [ '42P01', 'table "pm_prompts" of extension "prompt_manager" does not exist' ];
	other_session('ALTER TABLE pm_prompts RENAME TO pm_prompts_away');
	check_renders("$variant, table renamed away",
		'ddl/a' => $no_table, 'ddl/b' => $no_table);
	my $a_view = [ '42809', '"pm_prompts" of extension "prompt_manager" is not a table' ];
	other_session('CREATE VIEW pm_prompts AS SELECT * FROM pm_prompts_away');
	check_renders("$variant, a view in its place",
		'ddl/a' => $a_view, 'ddl/b' => $a_view);
	other_session(q{
		DROP VIEW pm_prompts;
		ALTER TABLE pm_prompts_away RENAME TO pm_prompts;
	});
	check_renders("$variant, table renamed back", %v2);

	$_->quit foreach values %sessions;
	$guard->check;
	$node->stop;
}

run_variant('preload', 1);
run_variant('nopreload', 0);

done_testing;
