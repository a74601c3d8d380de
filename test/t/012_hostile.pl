# The hostile user of issue #9: what a role with no privileges, a role with
# only SELECT on pm_prompts, a DBA doing DDL from another session, huge
# inputs under statement_timeout, settings at their limits and other
# databases of the same cluster must never do to the server.
#
# After each step, PmGuard's step_ok asserts that the server did not restart
# (pg_postmaster_start_time and the statistics reset time unchanged, no
# crash line in the log); the steps that measure memory assert that the
# peak resident memory of the session's backend (VmHWM of /proc/<pid>/status:
# the server runs on this machine) stayed under the bound the step states,
# and print the figure with note().  A step that crashes the server fails
# its tests; the guard waits for the server to come back and the next steps
# run and are checked on their own, so one run lists every step that fails.
#
# Each step asserts the FIXED behaviour of one finding of issue #9 (the
# comment "finding N" names it); where the issue names no SQLSTATE, the one
# asserted is our choice, for the lead to reconcile with the fix.
#
# A watchdog stops a statement that does not end: a cancel after its limit
# (60 s, far above what any step takes), then pg_terminate_backend, then
# SIGKILL; and a SIGKILL as soon as the backend's resident memory passes
# 1.5 GB, to keep the shared machine usable.  Either fails the step.  This
# is a hang detector, not a timing assertion: no step asserts how fast it is.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;
use Time::HiRes qw(time usleep);
use Encode ();

my $MB = 1024;                           # kB in a MB
my $KILL_RSS_KB = 1536 * $MB;            # the watchdog kills a backend above this
my $LIMIT_S = 60;                        # the watchdog cancels a statement after this

my $node = PostgreSQL::Test::Cluster->new('hostile');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'prompt_manager'
prompt_manager.stats_max = 100
prompt_manager.cache_size = '2MB'
prompt_manager.cache_max_entries = 200
max_prepared_transactions = 4
max_connections = 40
restart_after_crash = on
log_min_messages = warning
});
$node->start;
my $guard = PmGuard->new($node);

#----------------------------------------------------------------------
# the cast: roles, databases, prompts
#----------------------------------------------------------------------
$node->safe_psql('postgres', q{
	CREATE ROLE nopriv LOGIN;
	CREATE ROLE reader LOGIN;
	CREATE ROLE flusher LOGIN;
	CREATE DATABASE victim;
	CREATE DATABASE attacker ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
	CREATE DATABASE scratch;
});
$node->safe_psql('victim', q{
	CREATE EXTENSION prompt_manager;
	GRANT SELECT ON pm_prompts TO reader;
	GRANT SELECT, UPDATE ON pm_prompts TO flusher;
	GRANT EXECUTE ON FUNCTION pm_flush_usage() TO flusher;
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('d/hello', E'Hello [N]\n//include d/leaf'),
		('d/leaf', 'leaf'),
		('n/x', 'x is [X]'),
		('st/victim', 'victim'),
		('fl/a', 'a'),
		('c/1', 'one'), ('c/2', 'two'),
		('rls/pub', 'public'), ('rls/hidden', 'hidden'),
		('t/ttl', 'ttl [N]');
	-- include fan-out: 10^6 leaves walked (finding 4)
	INSERT INTO pm_prompts (prompt_id, content) VALUES ('f/6', 'x');
	INSERT INTO pm_prompts (prompt_id, content)
	SELECT 'f/' || l, repeat('//include f/' || (l + 1) || E'\n', 10)
	FROM generate_series(0, 5) l;
	-- pm_render_lines through nested includes: 1,000,000 lines, 31 MB
	INSERT INTO pm_prompts (prompt_id, content) VALUES
		('l/leaf', rtrim(repeat(repeat('l', 30) || E'\n', 1000), E'\n')),
		('l/mid', rtrim(repeat(E'//include l/leaf\n', 100), E'\n')),
		('l/root', rtrim(repeat(E'//include l/mid\n', 10), E'\n'));
	-- a 30 MB stored prompt
	INSERT INTO pm_prompts (prompt_id, content)
	VALUES ('big/30mb', repeat('lorem [A] ', 3000000));
	-- a 500 kB prompt for pm_bulk_render
	INSERT INTO pm_prompts (prompt_id, content)
	VALUES ('b/half', repeat('bulk [X] ', 55000));
	-- an include chain 1000 deep
	INSERT INTO pm_prompts (prompt_id, content)
	SELECT 'chain/' || g, CASE WHEN g < 1000 THEN 'c' || g || E'\n//include chain/' || (g + 1) ELSE 'end' END
	FROM generate_series(0, 1000) g;
	-- handlers of every kind (finding 1)
	CREATE FUNCTION public.h_strict(text, text, text) RETURNS text
		LANGUAGE sql STRICT AS $$ SELECT 'strict ' || $2 $$;
	CREATE FUNCTION public.h_null(text, text, text) RETURNS text
		LANGUAGE sql AS $$ SELECT NULL::text $$;
});
$node->safe_psql('attacker', 'CREATE EXTENSION prompt_manager');
$node->safe_psql('scratch', q{
	CREATE EXTENSION prompt_manager;
	INSERT INTO pm_prompts (prompt_id, content) VALUES ('keep/me', 'precious');
});

#----------------------------------------------------------------------
# sessions, a statement under the watchdog, the steps
#----------------------------------------------------------------------
my $banner_n = 0;
my @graveyard;	# the psql sessions whose backend died

# A psql session of $role on $db (errors do not stop it), with the SQLSTATE
# in every error message; {pid} is its backend.
sub session
{
	my ($db, $role) = @_;
	my $bp = $node->background_psql($db, on_error_stop => 0,
		extra_params => [ '-U', $role ]);
	my $s = { bp => $bp, db => $db, role => $role };
	run_in($s, '\set VERBOSITY verbose');
	refresh_pid($s);
	return $s;
}

sub refresh_pid
{
	my ($s) = @_;
	my $r = run_in($s, 'SELECT pg_backend_pid()');
	($s->{pid}) = $r->{out} =~ /(\d+)/;
	$s->{base_hwm} = PmGuard::proc_status_kb($s->{pid}, 'VmHWM') // 0;
}

# Send $sql to session $s without waiting.
sub start_in
{
	my ($s, $sql) = @_;
	$s->{bp}{stdout} = '';
	$s->{bp}{stderr} = '';
	$s->{banner} = 'hostile_banner_' . ++$banner_n;
	$s->{bp}{stdin} .= "$sql\n;\n\\echo $s->{banner}\n\\warn $s->{banner}\n";
	$s->{t0} = time;
	$s->{bp}{timeout}->start;
}

# Wait for the statement sent by start_in, under the watchdog.  Returns
# {out, err, sqlstate, message, seconds, hwm_kb, stopped}: sqlstate and
# message of the first error, the backend's peak memory, and what the
# watchdog had to do (undef when nothing).
sub finish_in
{
	my ($s, %o) = @_;
	my $limit = $o{limit} // $LIMIT_S;
	my $b = $s->{banner};
	my ($stage, $since, $stopped, $hwm) = (0, 0, undef, 0);
	my $pid = $s->{pid};
	my $ended = 0;
	while (1)
	{
		# the watchdog below is the judge, not BackgroundPsql's own timer
		$s->{bp}{timeout}->start;
		# psql exits when its backend dies: the statement's answer is lost
		if (!eval { $s->{bp}{run}->pump_nb; 1 } || !$s->{bp}{run}->pumpable)
		{
			$ended = 1;
			last;
		}
		last if $s->{bp}{stdout} =~ /^$b$/m && $s->{bp}{stderr} =~ /^$b$/m;
		# the backend died under psql: do not wait for the rest
		if ($s->{bp}{stderr} =~ /server closed the connection unexpectedly|connection to server was lost|no connection to the server/)
		{
			usleep(200_000);
			eval { $s->{bp}{run}->pump_nb };
			$ended = 1;
			last;
		}
		if (defined $pid)
		{
			my $h = PmGuard::proc_status_kb($pid, 'VmHWM');
			$hwm = $h if defined $h && $h > $hwm;
			my $rss = PmGuard::proc_status_kb($pid, 'VmRSS') // 0;
			if ($rss > $KILL_RSS_KB && $stage < 3)
			{
				$stopped = "killed at $rss kB resident";
				kill 'KILL', $pid;
				($stage, $since) = (3, time);
			}
		}
		my $waited = time - ($stage ? $since : $s->{t0});
		if (!defined $pid)
		{
			die 'no backend to stop' if $waited > $limit;
		}
		elsif ($stage == 0 && $waited > $limit)
		{
			$stopped = "cancelled after $limit s";
			$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
			($stage, $since) = (1, time);
		}
		elsif ($stage == 1 && $waited > 15)
		{
			$stopped = 'terminated: the cancel was ignored';
			$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
			($stage, $since) = (2, time);
		}
		elsif ($stage == 2 && $waited > 15)
		{
			$stopped = 'killed: the terminate was ignored';
			kill 'KILL', $pid;
			($stage, $since) = (3, time);
		}
		elsif ($stage == 3 && $waited > 120)
		{
			die "psql does not answer after $stopped";
		}
		usleep(10_000);
	}
	my $h = defined $pid ? PmGuard::proc_status_kb($pid, 'VmHWM') : undef;
	$hwm = $h if defined $h && $h > $hwm;
	my %r = (seconds => time - $s->{t0}, hwm_kb => $hwm, stopped => $stopped);
	($r{out} = $s->{bp}{stdout}) =~ s/^$b\n//m;
	($r{err} = $s->{bp}{stderr}) =~ s/^$b\n//m;
	chomp($r{out});
	if ($r{err} =~ /(?:ERROR|FATAL):  ([0-9A-Z]{5}): (.*)$/m)
	{
		($r{sqlstate}, $r{message}) = ($1, $2);
	}
	# the connection was lost: a new psql, once the server is back, takes
	# the session's place (a new backend)
	if ($ended || $r{err} =~ /connection to server was lost|server closed the connection/)
	{
		$r{lost} = 1;
		$r{sqlstate} //= 'lost connection';
		# (the old psql is left alone: waiting for it can hang; its harness
		# is kept so that nothing destroys it under us)
		push @graveyard, $s->{bp};
		$node->poll_query_until('postgres', 'SELECT true');
		my $new = session($s->{db}, $s->{role});
		%$s = %$new;
	}
	return \%r;
}

sub run_in
{
	my ($s, $sql, %o) = @_;
	start_in($s, $sql);
	return finish_in($s, %o);
}

# The result of a statement that must succeed with the text $want.
sub is_text
{
	my ($r, $want, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is($r->{sqlstate} // 'no error', 'no error', "$name: no error")
	  or diag($r->{err});
	is($r->{out}, $want, "$name: the right text");
}

# The result of a statement that must fail with SQLSTATE $code.
sub is_error
{
	my ($r, $code, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is($r->{sqlstate} // "no error ($r->{out})", $code, "$name: SQLSTATE $code")
	  or diag($r->{err});
}

# The result of a statement that may end well or fail, but only with a
# clear error of its own: never an internal error (XX000), never stopped by
# the watchdog, never a lost connection.
sub is_clear
{
	my ($r, $name, @codes) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok(!$r->{lost} && !defined $r->{stopped}, "$name: the statement ended by itself")
	  or diag($r->{stopped} // $r->{err});
	ok(!defined $r->{sqlstate} || grep({ $_ eq $r->{sqlstate} } @codes),
		"$name: no error, or one of " . join(', ', @codes))
	  or diag($r->{err});
}

# The peak memory of the statement's backend is under $bound_mb (MB), and
# its growth over the session's start under $growth_mb when given.
sub memory_ok
{
	my ($s, $r, $name, $bound_mb, $growth_mb) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $peak = $r->{hwm_kb};
	my $growth = $peak - $s->{base_hwm};
	note(sprintf('%s: backend peak %.1f MB (%.1f MB over the session start), %.2f s',
		$name, $peak / $MB, $growth / $MB, $r->{seconds}));
	cmp_ok($peak, '<', $bound_mb * $MB, "$name: backend peak memory under $bound_mb MB");
	cmp_ok($growth, '<', $growth_mb * $MB, "$name: it grew by less than $growth_mb MB")
	  if defined $growth_mb;
}

# The memory a session keeps between statements (its memory contexts, from
# pg_backend_memory_contexts: superuser sessions only), in kB.
sub kept_kb
{
	my ($s) = @_;
	my $r = run_in($s, 'SELECT sum(total_bytes) / 1024 FROM pg_backend_memory_contexts');
	return $r->{out} =~ /(\d+)/ ? $1 : -1;
}

# Run one step: its code must run to its end (a die fails the step, the file
# goes on), then the server must not have restarted.
sub step
{
	my ($name, $code) = @_;
	note("---- step: $name");
	my $ok = eval { $code->(); 1 };
	fail("$name: the step ran to its end") or diag($@) unless $ok;
	$guard->step_ok($name);
}

# A fresh session, used for one step and closed.
sub with_session
{
	my ($db, $role, $code) = @_;
	my $s = session($db, $role);
	$code->($s);
	eval { $s->{bp}->quit };
}

#----------------------------------------------------------------------
# finding 1: the error handler, as a role with no privileges
#----------------------------------------------------------------------
for my $h ([ 'pg_catalog.replace', 'a built-in STRICT function' ],
	[ 'pg_catalog.translate', 'another built-in STRICT function' ],
	[ 'public.h_strict', 'a STRICT SQL function' ],
	[ 'public.h_null', 'a SQL function returning NULL' ])
{
	my ($handler, $what) = @$h;
	step("finding 1: error_handler = $handler ($what), no privileges", sub {
		with_session('victim', 'nopriv', sub {
			my ($s) = @_;
			run_in($s, "SET prompt_manager.error_handler = '$handler'");
			# the handler gets NULL as prompt_id: a STRICT one answers NULL
			# without being called; h_null answers NULL (finding 1)
			my $r = run_in($s, q{SELECT coalesce(pm_render_template('//bogus'), 'SQL NULL')});
			is_text($r, 'SQL NULL', "$handler: pm_render_template('//bogus') answers NULL");
			# no SELECT on pm_prompts: 42501, never given to the handler
			$r = run_in($s, q{SELECT pm_render('nowhere')});
			is_error($r, '42501', "$handler: pm_render('nowhere') without privileges");
			$r = run_in($s, q{SELECT pm_render_template(E'x\n//include nowhere')});
			is_error($r, '42501', "$handler: an include without privileges");
			is_text(run_in($s, q{SELECT pm_render_template('still [OK]', '{"ok": "fine"}')}),
				'still fine', "$handler: the session renders on");
		});
	});
}

step('finding 1: error handlers for a role with SELECT only', sub {
	with_session('victim', 'reader', sub {
		my ($s) = @_;
		run_in($s, q{SET prompt_manager.error_handler = 'pg_catalog.replace'});
		# replace('nowhere', '42704', message): no '42704' in 'nowhere'
		is_text(run_in($s, q{SELECT pm_render('nowhere')}), 'nowhere',
			'replace: pm_render of a missing prompt answers the handler\'s text');
		run_in($s, q{SET prompt_manager.error_handler = 'public.h_strict'});
		is_text(run_in($s, q{SELECT pm_render('nowhere')}), 'strict 42704',
			'h_strict: called with three non-NULL arguments');
		run_in($s, q{SET prompt_manager.error_handler = 'public.h_null'});
		is_text(run_in($s, q{SELECT coalesce(pm_render('nowhere'), 'SQL NULL')}), 'SQL NULL',
			'h_null: NULL is passed on as SQL NULL');
		is_text(run_in($s, q{SELECT coalesce(pm_render_template(E'//include nowhere'), 'SQL NULL')}),
			'SQL NULL', 'h_null: for an include of an inline template too');
	});
});

#----------------------------------------------------------------------
# finding 2: DDL on pm_prompts from another session while a long-lived
# session renders; after each, that session renders right again
#----------------------------------------------------------------------
my $reader = session('victim', 'reader');
my $render_sql = q{SELECT pm_render('d/hello', '{"n": "1"}') || '|' || pm_render_template(E'T\n//include d/leaf')};
my $render_ok = "Hello 1\nleaf|T\nleaf";
my $dba = session('victim', 'postgres');

sub ddl
{
	my ($sql) = @_;
	my $r = run_in($dba, $sql);
	is($r->{sqlstate} // 'ok', 'ok', "DDL ran: $sql") or diag($r->{err});
}

sub reader_renders
{
	my ($name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is_text(run_in($reader, $render_sql), $render_ok, "$name: the long-lived session renders right");
}

step('finding 2: the long-lived session renders before any DDL', sub {
	reader_renders('before DDL');
	reader_renders('before DDL, again (cached)');
});

step('finding 2: REINDEX INDEX CONCURRENTLY pm_prompts_pkey', sub {
	ddl('REINDEX INDEX CONCURRENTLY pm_prompts_pkey');
	reader_renders('after REINDEX CONCURRENTLY');
	ddl('REINDEX INDEX CONCURRENTLY pm_prompts_pkey');
	reader_renders('after a second REINDEX CONCURRENTLY');
});

step('finding 2: the primary key dropped and added again', sub {
	ddl('ALTER TABLE pm_prompts DROP CONSTRAINT pm_prompts_pkey');
	# without the index: the right text (a scan), or a clear error
	is_clear(run_in($reader, $render_sql), 'without a primary key', '55000', '42704');
	ddl('ALTER TABLE pm_prompts ADD CONSTRAINT pm_prompts_pkey PRIMARY KEY (prompt_id)');
	reader_renders('after the primary key is back');
});

step('finding 2: ALTER COLUMN prompt_id TYPE varchar(255)', sub {
	ddl('ALTER TABLE pm_prompts ALTER COLUMN prompt_id TYPE varchar(255)');
	# varchar is binary-compatible with text: it renders (finding 2)
	reader_renders('prompt_id as varchar(255)');
	ddl('ALTER TABLE pm_prompts ALTER COLUMN prompt_id TYPE text');
	reader_renders('prompt_id back to text');
});

step('finding 2: content NULL after DROP NOT NULL', sub {
	ddl(q{ALTER TABLE pm_prompts ALTER COLUMN content DROP NOT NULL;
		INSERT INTO pm_prompts (prompt_id, content) VALUES ('d/null', NULL)});
	# a NULL template is no crash: a clear error, never XX000 (finding 2;
	# the SQLSTATE is ours to choose: 22004 null_value_not_allowed)
	my $r = run_in($reader, q{SELECT pm_render('d/null')});
	is_error($r, '22004', 'a prompt whose content is NULL');
	$r = run_in($reader, q{SELECT pm_render_template(E'//include d/null')});
	is_error($r, '22004', 'an include whose content is NULL');
	reader_renders('next to a NULL content');
	ddl(q{DELETE FROM pm_prompts WHERE prompt_id = 'd/null';
		ALTER TABLE pm_prompts ALTER COLUMN content SET NOT NULL});
	reader_renders('after SET NOT NULL');
});

step('finding 2: the add/copy/drop/rename column migration of content', sub {
	ddl(q{ALTER TABLE pm_prompts ADD COLUMN content_new text;
		UPDATE pm_prompts SET content_new = content;
		ALTER TABLE pm_prompts DROP COLUMN content;
		ALTER TABLE pm_prompts RENAME COLUMN content_new TO content;
		ALTER TABLE pm_prompts ALTER COLUMN content SET NOT NULL});
	# content has another attribute number now (finding 2)
	reader_renders('after the migration');
	ddl(q{UPDATE pm_prompts SET content = E'Hello again [N]\n//include d/leaf' WHERE prompt_id = 'd/hello'});
	is_text(run_in($reader, q{SELECT pm_render('d/hello', '{"n": "2"}')}), "Hello again 2\nleaf",
		'after the migration: an update is rendered');
	ddl(q{UPDATE pm_prompts SET content = E'Hello [N]\n//include d/leaf' WHERE prompt_id = 'd/hello'});
	reader_renders('after the migration, undone');
});

step('finding 2: parameters changed to text', sub {
	ddl(q{ALTER TABLE pm_prompts DROP CONSTRAINT pm_prompts_parameters_check,
		ALTER COLUMN parameters DROP DEFAULT,
		ALTER COLUMN parameters TYPE text});
	# a clear error naming the wrong type (finding 2; our choice: 42804
	# datatype_mismatch), never a crash or a read of text as jsonb
	is_error(run_in($reader, $render_sql), '42804', 'parameters as text');
	ddl(q{ALTER TABLE pm_prompts ALTER COLUMN parameters TYPE jsonb USING parameters::jsonb,
		ALTER COLUMN parameters SET DEFAULT '{}',
		ADD CONSTRAINT pm_prompts_parameters_check
			CHECK (pg_catalog.jsonb_typeof(parameters) OPERATOR(pg_catalog.=) 'object')});
	reader_renders('parameters back to jsonb');
});

step('finding 2: the long-lived session after all the DDL', sub {
	reader_renders('at the end');
	is_text(run_in($reader, q{SELECT pm_render('n/x', '{"x": "fine"}')}), 'x is fine',
		'at the end: another prompt');
});

#----------------------------------------------------------------------
# finding 3: two updates of parameters in one transaction, 9.9 then 9.90
#----------------------------------------------------------------------
step('finding 3: parameters 9.9 then 9.90 in one transaction', sub {
	run_in($dba, 'BEGIN');
	run_in($dba, q{UPDATE pm_prompts SET parameters = '{"x": 9.9}' WHERE prompt_id = 'n/x'});
	is_text(run_in($dba, q{SELECT pm_render('n/x')}), 'x is 9.9', 'first update: 9.9');
	run_in($dba, q{UPDATE pm_prompts SET parameters = '{"x": 9.90}' WHERE prompt_id = 'n/x'});
	is_text(run_in($dba, q{SELECT pm_render('n/x')}), 'x is 9.90', 'second update, same transaction: 9.90');
	run_in($dba, 'COMMIT');
	is_text(run_in($dba, q{SELECT pm_render('n/x')}), 'x is 9.90', 'after commit: 9.90');
	# everyone else: the committed text, never the stale one (finding 3)
	is_text(run_in($reader, q{SELECT pm_render('n/x')}), 'x is 9.90', 'another session: 9.90');
	is_text(run_in($reader, q{SELECT pm_render('n/x')}), 'x is 9.90', 'another session, again: 9.90');
});

#----------------------------------------------------------------------
# finding 4: huge inputs under statement_timeout; memory bounded by a
# small constant times the input
#----------------------------------------------------------------------
step('finding 4: 30 MB of //\n lines inline, statement_timeout 1s', sub {
	with_session('victim', 'nopriv', sub {
		my ($s) = @_;
		run_in($s, q{SET statement_timeout = '1s'});
		my $r = run_in($s, q{SELECT length(pm_render_template(repeat(E'//\n', 10000000)))});
		# a result, the format's error, or the timeout (57014); stopped by
		# statement_timeout, not by the watchdog (finding 4)
		is_clear($r, '//\n x 10M', '57014', 'PM002', 'PM005');
		memory_ok($s, $r, '//\n x 10M (30 MB)', 256);
		is_text(run_in($s, q{SELECT pm_render_template('after [X]', '{"x": 1}')}), 'after 1',
			'//\n x 10M: the session renders on');
	});
});

step('finding 4: 30 MB of [A] inline', sub {
	with_session('victim', 'nopriv', sub {
		my ($s) = @_;
		run_in($s, q{SET statement_timeout = '20s'});
		my $r = run_in($s, q{SELECT length(pm_render_template(repeat('[A]', 10000000), '{"a": "x"}'))});
		is_clear($r, '[A] x 10M', '57014');
		is($r->{out}, '10000000', '[A] x 10M: 10,000,000 characters') unless defined $r->{sqlstate};
		# the input (30 MB), the output (10 MB) and a small constant (finding 4)
		memory_ok($s, $r, '[A] x 10M (30 MB)', 256);
	});
});

step('finding 4: a 30 MB stored prompt is not kept by the session', sub {
	with_session('victim', 'postgres', sub {
		my ($s) = @_;
		run_in($s, 'SET prompt_manager.cache = off');
		my $before = kept_kb($s);
		my $r = run_in($s, q{SELECT length(pm_render('big/30mb', '{"a": "y"}'))});
		is_text($r, '24000000', 'a 30 MB stored prompt renders');
		memory_ok($s, $r, '30 MB stored prompt', 320);
		$r = run_in($s, q{SELECT length(pm_render('big/30mb', '{"a": "zz"}'))});
		is_text($r, '27000000', 'and renders again');
		my $kept = kept_kb($s) - $before;
		note(sprintf('30 MB stored prompt: %.1f MB kept by the session after the statement', $kept / $MB));
		# what a session keeps between statements is bounded (finding 4)
		cmp_ok($kept, '<', 64 * $MB, '30 MB stored prompt: the session keeps less than 64 MB after it');
	});
});

step('finding 4: include fan-out, 1,000,000 includes walked', sub {
	with_session('victim', 'reader', sub {
		my ($s) = @_;
		run_in($s, 'SET prompt_manager.cache = off');
		run_in($s, q{SET statement_timeout = '50s'});
		my $r = run_in($s, q{SELECT length(pm_render('f/0'))});
		is_clear($r, 'fan-out', '57014');
		is($r->{out}, '1999999', 'fan-out: 1,000,000 lines') unless defined $r->{sqlstate};
		# 2 MB of output: the walk itself costs no memory per include
		# (finding 4: ~25 bytes per include walked, 25 MB here)
		memory_ok($s, $r, 'fan-out of 10^6 includes', 256, 16);
	});
});

step('finding 4: pm_render_lines through nested includes streams', sub {
	with_session('victim', 'reader', sub {
		my ($s) = @_;
		run_in($s, 'SET prompt_manager.cache = off');
		my $r = run_in($s, q{SELECT count(*) || ' ' || sum(length(l)) FROM pm_render_lines('l/root') l});
		is_text($r, '1000000 30000000', 'pm_render_lines: 1,000,000 lines of 30 characters');
		# streamed: it never holds the whole 31 MB output (finding 4)
		memory_ok($s, $r, 'pm_render_lines of 31 MB', 256, 16);
	});
});

step('finding 4: pm_bulk_render stopped by an error in a savepoint leaks nothing', sub {
	with_session('victim', 'postgres', sub {
		my ($s) = @_;
		run_in($s, 'SET prompt_manager.cache = off');
		my $bulk = q{SAVEPOINT s;
			SELECT count(*) FROM pm_bulk_render(
				(SELECT jsonb_agg(jsonb_build_object('prompt_id', 'b/half', 'parameters', jsonb_build_object('x', g)))
				 FROM generate_series(1, 20) g)) b
			WHERE 1 / (b.ord - 10) IS NOT NULL;
			ROLLBACK TO SAVEPOINT s};
		run_in($s, 'BEGIN');
		my $r = run_in($s, $bulk);
		is_error($r, '22012', 'bulk stopped at its 10th row');
		my $first = kept_kb($s);
		run_in($s, $bulk) for 1 .. 20;
		my $after = kept_kb($s);
		run_in($s, 'COMMIT');
		my $end = kept_kb($s);
		note(sprintf('bulk in savepoints: %.1f MB kept after 1, %.1f MB after 21, %.1f MB after commit',
			$first / $MB, $after / $MB, $end / $MB));
		# 20 more stopped bulk renders of 500 kB templates keep nothing
		# (finding 4: template contexts leaked forever)
		cmp_ok($after - $first, '<', 4 * $MB, 'bulk in savepoints: 20 more keep less than 4 MB');
		cmp_ok($end - $first, '<', 4 * $MB, 'bulk in savepoints: nothing left after commit');

		# stopped from inside by statement_timeout (raised, not put in a row)
		my $timed = q{SAVEPOINT s; SET LOCAL statement_timeout = '200ms';
			SELECT count(*) FROM pm_bulk_render(
				(SELECT jsonb_agg(jsonb_build_object('prompt_id', 'b/half', 'parameters', jsonb_build_object('x', g)))
				 FROM generate_series(1, 5000) g));
			ROLLBACK TO SAVEPOINT s};
		run_in($s, 'BEGIN');
		is_error(run_in($s, $timed), '57014', 'bulk stopped by statement_timeout');
		$first = kept_kb($s);
		run_in($s, $timed) for 1 .. 10;
		$after = kept_kb($s);
		run_in($s, 'COMMIT');
		$end = kept_kb($s);
		note(sprintf('bulk stopped by statement_timeout: %.1f MB kept after 1, %.1f MB after 11, %.1f MB after commit',
			$first / $MB, $after / $MB, $end / $MB));
		cmp_ok($after - $first, '<', 4 * $MB, 'bulk stopped by statement_timeout: 10 more keep less than 4 MB');
		cmp_ok($end - $first, '<', 4 * $MB, 'bulk stopped by statement_timeout: nothing left after commit');
	});
});

#----------------------------------------------------------------------
# finding 5, and settings at their limits
#----------------------------------------------------------------------
sub cache_hit_after_two_renders
{
	my ($name, $n) = @_;
	# an emptied cache stores a rendering at its first miss (a full one at
	# its second)
	$node->safe_psql('victim', 'SELECT pm_cache_reset()');
	my $s = session('victim', 'postgres');
	my $h0 = run_in($s, 'SELECT hits FROM pm_cache')->{out};
	is_text(run_in($s, "SELECT pm_render('t/ttl', '{\"n\": $n}')"), "ttl $n", "$name: renders");
	is_text(run_in($s, "SELECT pm_render('t/ttl', '{\"n\": $n}')"), "ttl $n", "$name: renders again");
	my $h1 = run_in($s, 'SELECT hits FROM pm_cache')->{out};
	# the second render is served from the cache: the TTL did not turn it off
	is($h1 - $h0, 1, "$name: the second render is a cache hit");
	eval { $s->{bp}->quit };
}

for my $ttl ('30d', '2147483647')
{
	step("finding 5: cache_ttl = $ttl", sub {
		$node->safe_psql('postgres', "ALTER SYSTEM SET prompt_manager.cache_ttl = '$ttl'; SELECT pg_reload_conf()");
		$node->poll_query_until('victim', "SELECT current_setting('prompt_manager.cache_ttl') <> '0'")
		  or die 'the new cache_ttl was not loaded';
		cache_hit_after_two_renders("cache_ttl $ttl", length($ttl));
	});
}
$node->safe_psql('postgres', 'ALTER SYSTEM RESET prompt_manager.cache_ttl; SELECT pg_reload_conf()');

step('settings at their limits, as a role with no privileges', sub {
	with_session('victim', 'nopriv', sub {
		my ($s) = @_;
		run_in($s, 'SET prompt_manager.render_timeout = 2147483647');
		is_text(run_in($s, q{SELECT pm_render_template('a [B]', '{"b": 1}')}), 'a 1',
			'render_timeout at INT_MAX: renders');
		run_in($s, q{SET statement_timeout = 2147483647; SET prompt_manager.max_include_depth = 1000});
		is_text(run_in($s, q{SELECT pm_render_template('depth [B]', '{"b": 2}')}), 'depth 2',
			'max_include_depth 1000, statement_timeout at INT_MAX: renders');
		is_text(run_in($s, q{SET prompt_manager.missing_prompt_text = '}
			. ('m' x 100000) . q{'; SELECT length(current_setting('prompt_manager.missing_prompt_text'))}),
			'100000', 'a 100 kB missing_prompt_text is taken');
	});
	with_session('victim', 'reader', sub {
		my ($s) = @_;
		run_in($s, 'SET prompt_manager.max_include_depth = 1000');
		my $r = run_in($s, q{SELECT length(pm_render('chain/0')) || ' ' || right(pm_render('chain/0'), 8)});
		# 1000 includes deep: the text, or the stack-depth error (54001)
		is_clear($r, 'an include chain 1000 deep', '54001');
		like($r->{out}, qr/^\d+ c999\nend$/, 'an include chain 1000 deep: renders to its end')
		  unless defined $r->{sqlstate};
		run_in($s, 'SET prompt_manager.max_include_depth = 0');
		is_error(run_in($s, q{SELECT pm_render('d/hello')}), 'PM001', 'max_include_depth 0: PM001');
		run_in($s, 'RESET prompt_manager.max_include_depth');
		run_in($s, q{SET prompt_manager.missing_prompt_text = ''; SET prompt_manager.raise_on_missing = off});
		is_text(run_in($s, q{SELECT '<' || pm_render_template(E'a\n//include nowhere') || '>'}), "<a\n>",
			'raise_on_missing off, empty missing_prompt_text');
	});
	with_session('victim', 'postgres', sub {
		my ($s) = @_;
		run_in($s, q{SET prompt_manager.cache_max_entry_size = '1GB'});
		is_text(run_in($s, q{SELECT length(pm_render('l/mid'))}), '3099999',
			'cache_max_entry_size 1GB: a 3 MB rendering (larger than the cache)');
		is_text(run_in($s, q{SELECT length(pm_render('l/mid'))}), '3099999', 'and again');
	});
});

#----------------------------------------------------------------------
# finding 6: statistics across databases
#----------------------------------------------------------------------
step('finding 6: another database cannot evict this one\'s unflushed counts', sub {
	# an empty statistics table: the earlier steps' prompts take no room
	$node->safe_psql('victim', 'SELECT pm_flush_usage()');
	$node->safe_psql($_, 'SELECT pm_stats_reset()') for qw(victim attacker scratch);
	with_session('victim', 'reader', sub {
		my ($s) = @_;
		run_in($s, q{SELECT pm_render('st/victim')}) for 1 .. 5;
	});
	# 400 renders of ids that do not exist, each its own statement, in the
	# LATIN1 database, by a role with no privileges at all
	my $script = join('', map { "SELECT pm_render('bogus/$_');\n" } 1 .. 400);
	my ($rc, $out, $err) = $node->psql('attacker', $script, on_error_stop => 0,
		extra_params => [ '-U', 'nopriv' ]);
	my $n = () = $err =~ /ERROR:/g;
	is($n, 400, 'attacker: 400 renders, 400 errors');
	($rc, $out, $err) = $node->psql('attacker', $script =~ s/bogus/bogus2/gr, on_error_stop => 0);
	$n = () = $err =~ /ERROR:  prompt "bogus2\/\d+" does not exist/g;
	is($n, 400, 'attacker, as superuser: 400 renders of missing prompts, 400 errors');
	is($out, '', 'attacker, as superuser: 400 renders of missing prompts, no text');
	# the victim's 5 renders are still counted (finding 6); usage_count is
	# read by a statement of its own, whose snapshot sees the flush
	is($node->safe_psql('victim', q{SELECT pm_flush_usage() >= 5}), 't',
		'victim: pm_flush_usage adds at least its 5 renders');
	is($node->safe_psql('victim',
		q{SELECT usage_count FROM pm_prompts WHERE prompt_id = 'st/victim'}), '5',
		'victim: the 5 renders reached usage_count');
});

step('finding 6: an id rendered in a LATIN1 database, read from a UTF8 one', sub {
	# 'caf' || e-acute, the byte 0xE9 in LATIN1
	my ($rc, $out, $err) = $node->psql('attacker',
		q{SELECT pm_render(convert_from('\x636166e9'::bytea, 'LATIN1'))});
	like($err, qr/does not exist/, 'attacker: the id is a missing prompt');
	$node->psql('attacker', q{SELECT pm_render(convert_from('\x636166e9'::bytea, 'LATIN1'))},
		extra_params => [ '-U', 'nopriv' ]);
	# every id pm_stats shows in the UTF8 database is valid UTF8 (finding 6)
	($rc, $out, $err) = $node->psql('victim',
		q{SELECT encode(textsend(prompt_id), 'hex') FROM pm_stats WHERE prompt_id IS NOT NULL});
	is($rc, 0, 'victim: pm_stats can be read') or diag($err);
	my @bad = grep { !eval { Encode::decode('UTF-8', pack('H*', $_), Encode::FB_CROAK); 1 } }
	  split /\n/, $out;
	is(scalar(@bad), 0, 'victim: every prompt_id of pm_stats is valid UTF-8')
	  or diag('invalid: ' . join(', ', @bad));
	($rc, $out, $err) = $node->psql('victim', q{SELECT count(*) FROM pm_stats WHERE prompt_id ~ 'caf'});
	is($rc, 0, 'victim: pm_stats can be searched') or diag($err);
});

#----------------------------------------------------------------------
# finding 7: pm_flush_usage
#----------------------------------------------------------------------
sub usage
{
	my ($id) = @_;
	return $node->safe_psql('victim', "SELECT usage_count FROM pm_prompts WHERE prompt_id = '$id'");
}

step('finding 7: pm_flush_usage in PREPARE TRANSACTION, then ROLLBACK PREPARED', sub {
	$node->safe_psql('victim', 'SELECT pm_flush_usage()');
	my $before = usage('fl/a');
	with_session('victim', 'postgres', sub {
		my ($s) = @_;
		run_in($s, q{SELECT pm_render('fl/a')}) for 1 .. 3;
		# a prepared transaction's fate is decided later, perhaps by another
		# backend: a flush refuses to be prepared (0A000), and the abort of
		# the transaction gives its counts back (finding 7)
		my $r = run_in($s, q{BEGIN; SELECT pm_flush_usage(); PREPARE TRANSACTION 'pm_hostile'});
		is($r->{sqlstate}, '0A000', 'PREPARE TRANSACTION of a flush is refused');
		is($node->safe_psql('victim', q{SELECT count(*) FROM pg_prepared_xacts}), '0',
			'nothing was prepared');
		is_text(run_in($s, q{SELECT pm_flush_usage()}), '3', 'the next flush takes the 3 renders');
	});
	is(usage('fl/a') - $before, 3, 'usage_count went up by 3');
});

step('finding 7: pm_flush_usage under row-level security', sub {
	$node->safe_psql('victim', q{SELECT pm_flush_usage();
		ALTER TABLE pm_prompts ENABLE ROW LEVEL SECURITY;
		CREATE POLICY flusher_pub ON pm_prompts TO flusher USING (prompt_id LIKE 'rls/pub%');
		CREATE POLICY others ON pm_prompts TO PUBLIC USING (current_user <> 'flusher')});
	my $h0 = usage('rls/hidden');
	$node->safe_psql('victim', q{SELECT pm_render('rls/pub'), pm_render('rls/hidden'), pm_render('rls/hidden')});
	my ($rc, $out, $err) = $node->psql('victim', 'SELECT pm_flush_usage()', extra_params => [ '-U', 'flusher' ]);
	is($rc, 0, 'flusher: pm_flush_usage runs') or diag($err);
	is($out, '1', 'flusher: it adds the one render of the row it reaches');
	# the rows the flusher cannot see keep their counts for the next flush
	# (finding 7)
	is($node->safe_psql('victim', 'SELECT pm_flush_usage()'), '2',
		'superuser: the next flush adds the 2 renders of the hidden row');
	is(usage('rls/hidden') - $h0, 2, 'rls/hidden: usage_count went up by 2');
	$node->safe_psql('victim', q{DROP POLICY flusher_pub ON pm_prompts; DROP POLICY others ON pm_prompts;
		ALTER TABLE pm_prompts DISABLE ROW LEVEL SECURITY});
});

step('finding 7: two concurrent pm_flush_usage calls', sub {
	$node->safe_psql('victim', 'SELECT pm_flush_usage()');
	my $u0 = usage('c/1') + usage('c/2');
	my $a = session('victim', 'postgres');
	my $b = session('victim', 'postgres');
	$node->safe_psql('victim', q{SELECT pm_render('c/1'), pm_render('c/2')});
	run_in($a, q{BEGIN; SELECT pm_flush_usage()});
	$node->safe_psql('victim', q{SELECT pm_render('c/2'), pm_render('c/1')});
	run_in($b, q{SET statement_timeout = '30s'; SET lock_timeout = '30s'});
	start_in($b, q{SELECT pm_flush_usage()});
	usleep(300_000);
	my $ra = run_in($a, q{SELECT pm_flush_usage()});
	my $rc = run_in($a, 'COMMIT');
	my $rb = finish_in($b);
	# neither deadlocks nor waits out a timeout (finding 7)
	is($ra->{sqlstate}, undef, 'the first session flushes again') or diag($ra->{err});
	is($rc->{sqlstate}, undef, 'and commits') or diag($rc->{err});
	is($rb->{sqlstate}, undef, 'the second session flushes') or diag($rb->{err});
	$node->safe_psql('victim', 'SELECT pm_flush_usage()');
	is(usage('c/1') + usage('c/2') - $u0, 4, 'every one of the 4 renders is counted once');
	eval { $a->{bp}->quit };
	eval { $b->{bp}->quit };
});

#----------------------------------------------------------------------
# finding 8: DROP EXTENSION does not drop the prompts silently
#----------------------------------------------------------------------
step('finding 8: DROP EXTENSION with prompts in the table', sub {
	my ($rc, $out, $err) = $node->psql('scratch', 'DROP EXTENSION prompt_manager',
		extra_params => [ '-U', 'nopriv' ]);
	like($err, qr/must be owner of extension/, 'a role with no privileges cannot drop it');
	($rc, $out, $err) = $node->psql('scratch', '\set VERBOSITY verbose' . "\n" . 'DROP EXTENSION prompt_manager');
	# refused while pm_prompts holds prompts (finding 8; our choice: 2BP01
	# dependent_objects_still_exist, as for any object others depend on)
	like($err, qr/ERROR:  2BP01/, 'DROP EXTENSION is refused while pm_prompts holds prompts');
	is($node->safe_psql('scratch', q{SELECT count(*) FROM pg_tables WHERE tablename = 'pm_prompts'}), '1',
		'the table is still there');
	is($node->safe_psql('scratch', q{SELECT count(*) FROM pg_tables WHERE tablename = 'pm_prompts'}) eq '1'
		  ? $node->safe_psql('scratch', q{SELECT content FROM pm_prompts WHERE prompt_id = 'keep/me'})
		  : '', 'precious', 'the prompt is still there');
});

#----------------------------------------------------------------------
# the end: the long-lived sessions still work, the server never restarted
#----------------------------------------------------------------------
step('the end: the long-lived sessions', sub {
	reader_renders('at the very end');
	is_text(run_in($dba, q{SELECT pm_render('d/hello', '{"n": "3"}')}), "Hello 3\nleaf",
		'the DBA session renders');
});
eval { $reader->{bp}->quit };
eval { $dba->{bp}->quit };

$guard->check;
$node->stop;
done_testing();
