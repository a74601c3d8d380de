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
# check() asserts, as two tests, that pg_postmaster_start_time() is the one
# seen by new() (a crash of any backend reinitializes the server and resets
# it), and that the server log holds no line of a crash, in the wording of
# every supported version: "server process (PID n) was terminated by signal"
# (15 to 17), "client backend (PID n) was terminated by signal" (18), "was
# terminated by exception", "terminating any other active server processes",
# PANIC, and assertion failures (TRAP:).  A test that kills a backend on
# purpose calls $guard->expect_restart first: then check() asserts the
# restart happened instead, and looks in the log only after it.
package PmGuard;

use strict;
use warnings;
use Test::More;

# A line of the server log that means a backend died or the server restarted.
our $CRASH_RE = qr/
	(?:server\ process|client\ backend|background\ worker|[a-z ]+)\ \(PID\ \d+\)\ was\ terminated\ by\ (?:signal|exception)
	| terminating\ any\ other\ active\ server\ processes
	| all\ server\ processes\ terminated;\ reinitializing
	| \bPANIC:
	| \bTRAP:
/x;

sub new
{
	my ($class, $node) = @_;
	my $self = bless { node => $node, expect_restart => 0 }, $class;
	$self->{start_time} = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
	$self->{log_offset} = -s $node->logfile;
	return $self;
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
	my $now = $self->{node}->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
	isnt($now, $self->{start_time}, 'the expected restart took place');
	$self->{start_time} = $now;
	$self->{log_offset} = -s $self->{node}->logfile;
	$self->{expect_restart} = 0;
}

sub check
{
	my ($self, $what) = @_;
	my $name = $what // $self->{node}->name;
	my $now = $self->{node}->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
	is($now, $self->{start_time}, "$name: the server never restarted");
	my @crashes = $self->crash_lines;
	is(scalar(@crashes), 0, "$name: no crash in the server log")
	  or diag(join("\n", @crashes[0 .. ($#crashes < 9 ? $#crashes : 9)]));
}

1;
