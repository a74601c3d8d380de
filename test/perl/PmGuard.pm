# PmGuard: the check every TAP test of prompt_manager ends with, that the
# server it ran never crashed or restarted.
#
#   use FindBin;
#   use lib "$FindBin::RealBin/../perl";
#   use PmGuard;
#
#   my $node = PostgreSQL::Test::Cluster->new('x'); ... $node->start;
#   my $guard = PmGuard->new($node);    # right after start
#   ...
#   $guard->check;                       # at the end, before done_testing
#
# check() asserts, as two tests, that the server is the one seen by new()
# (pg_postmaster_start_time(), which a restart of the postmaster moves, and
# pg_stat_bgwriter.stats_reset, which the reinitialization after a crash of
# any backend moves, since it discards the statistics; the start time alone
# does not move then), and that the server log holds no line of a crash, in the wording of
# every supported version: "server process (PID n) was terminated by signal"
# (15 to 17), "client backend (PID n) was terminated by signal" (18), "was
# terminated by exception", "terminating any other active server processes",
# PANIC, and assertion failures (TRAP:).  A test that kills a backend on
# purpose calls $guard->expect_restart first, and $guard->restarted once the
# server is back: the restart is asserted, and the log is looked at only
# after it.  A test that restarts the server itself calls $guard->restart
# (a clean stop and start, which moves pg_postmaster_start_time).
#
# A test made of steps that may each crash the server (test/t/012_hostile.pl)
# calls $guard->step_ok($name) after each: one test that the server did not
# restart during the step; when it did, the test fails, the guard waits for
# the server to come back (or starts it again) and watches from there, so
# the later steps still run and are checked on their own; check() then
# counts the steps that crashed.
#
# $PmGuard::CRASH_RE matches a crash line; PmGuard::killed_re($pid, $sig)
# matches the line of one backend killed by a signal, in both wordings.
# PmGuard::proc_status_kb($pid, 'VmHWM') reads a backend's peak memory.
package PmGuard;

use strict;
use warnings;
use Test::More;

# A line of the server log that means a backend died or the server restarted.
# (A bounded repetition: the log holds statements 100 kB long.)
our $CRASH_RE = qr/
	(?:server\ process|client\ backend|background\ worker|[a-z][a-z ]{0,60})\ \(PID\ \d+\)\ was\ terminated\ by\ (?:signal|exception)
	| terminating\ any\ other\ active\ server\ processes
	| all\ server\ processes\ terminated;\ reinitializing
	| \bPANIC:
	| \bTRAP:
/x;

sub new
{
	my ($class, $node) = @_;
	my $self = bless { node => $node, expect_restart => 0, crashed_steps => [] }, $class;
	$self->{start_time} = identity($node);
	$self->{log_offset} = -s $node->logfile;
	return $self;
}

# What tells one run of the server from the next: the postmaster's start
# time, and the time the shared statistics were last reset (a crash
# restart discards them).
sub identity
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		'SELECT pg_postmaster_start_time() || \' / \' || stats_reset FROM pg_stat_bgwriter');
}

# The log from the guard's start on (or from the last expected restart).
sub log_since_start
{
	my ($self) = @_;
	open(my $fh, '<', $self->{node}->logfile) or die "cannot read the server log: $!";
	seek($fh, $self->{log_offset}, 0);
	local $/;
	my $log = <$fh> // '';
	close($fh);
	return $log;
}

# The lines of the log since the guard's start that mean a crash.
sub crash_lines
{
	my ($self) = @_;
	return grep { $_ =~ $CRASH_RE } split(/\n/, $self->log_since_start);
}

# A crash is coming on purpose (SIGKILL of a backend): once it happened and
# the server is back, call restarted() to take up watching again.
sub expect_restart
{
	my ($self) = @_;
	$self->{expect_restart} = 1;
}

sub restarted
{
	my ($self) = @_;
	my $now = identity($self->{node});
	isnt($now, $self->{start_time}, 'the expected restart took place');
	$self->{start_time} = $now;
	$self->{log_offset} = -s $self->{node}->logfile;
	$self->{expect_restart} = 0;
}

# A clean restart by the test itself: the new start time is the one to keep.
sub restart
{
	my ($self) = @_;
	$self->{node}->restart;
	$self->{start_time} = identity($self->{node});
}

# The log line of the backend $pid killed by signal $sig (default 9), in the
# wording of 15 to 17 ("server process") and of 18 ("client backend").
sub killed_re
{
	my ($pid, $sig) = @_;
	$sig //= 9;
	return qr/(?:server process|client backend) \(PID $pid\) was terminated by signal $sig\b/;
}

# A field of /proc/<pid>/status in kB (VmHWM: the peak resident memory of a
# process, VmRSS: its resident memory now), or undef once the process is gone.
sub proc_status_kb
{
	my ($pid, $field) = @_;
	open(my $fh, '<', "/proc/$pid/status") or return undef;
	while (my $line = <$fh>)
	{
		return $1 if $line =~ /^\Q$field\E:\s+(\d+)\s+kB/;
	}
	return undef;
}

# Wait for the server to accept connections again after a crash (crash
# recovery), or start it when the postmaster is gone; then the start time.
sub _server_back
{
	my ($self) = @_;
	my $node = $self->{node};
	my $now;
	for my $try (1 .. 2)
	{
		$now = eval {
			$node->poll_query_until('postgres', 'SELECT true')
			  ? identity($node)
			  : undef;
		};
		return $now if defined $now;
		# the postmaster itself is gone: start it again
		$node->_update_pid(0);
		$node->start(fail_ok => 1);
	}
	die 'the server did not come back';
}

# After one step of a test: assert the server did not restart during it and
# logged no crash.  When it did, fail, wait for the server to be back and go
# on watching from there.  Returns whether the step passed.
sub step_ok
{
	my ($self, $name) = @_;
	my $node = $self->{node};
	$self->{steps}++;
	my $now = eval { identity($node) };
	$now = $self->_server_back unless defined $now;
	my @crashes = $self->crash_lines;
	my $ok = ok($now eq $self->{start_time} && !@crashes, "$name: the server did not restart");
	if (!$ok)
	{
		diag(join("\n", @crashes[0 .. ($#crashes < 9 ? $#crashes : 9)]));
		push @{ $self->{crashed_steps} }, $name;
		# the crash may still be going on: wait until the server is back
		$now = $self->_server_back;
		$self->{start_time} = $now;
		$self->{log_offset} = -s $node->logfile;
	}
	return $ok;
}

sub check
{
	my ($self, $what) = @_;
	my $name = $what // $self->{node}->name;
	$self->restarted if $self->{expect_restart};
	my $now = identity($self->{node});
	is($now, $self->{start_time}, "$name: the server never restarted");
	if ($self->{steps})
	{
		my @steps = @{ $self->{crashed_steps} };
		is(scalar(@steps), 0, "$name: none of the $self->{steps} steps crashed the server")
		  or diag('crashed: ' . join(', ', @steps));
	}
	my @crashes = $self->crash_lines;
	is(scalar(@crashes), 0, "$name: no crash in the server log")
	  or diag(join("\n", @crashes[0 .. ($#crashes < 9 ? $#crashes : 9)]));
}

1;
