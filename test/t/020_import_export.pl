# prompt_manager import and export (cli/prompt_manager.c, issue #13), on a
# prompts_dir laid out as the PromptManager gem's examples and documentation
# show it:
#   - import reads ID.txt and ID.json, subdirectories as id prefixes, keeps
#     every byte (CRLF, no newline at the end, two of them), rewrites the
#     includes written as the gem writes them (//include common/footer.txt,
#     //import ./x.txt, with a prefix given by --include-prefix) to ids, and
#     leaves includes that name ids or have keywords;
#   - each imported prompt renders as the gem renders it where the formats
#     agree (includes of plain text), among them the 60 cases the gem itself
#     rendered (test/data/gem_cases.json), laid out as gem files;
#   - a second import changes nothing: no row written (revision, xmin and
#     ctid kept); --dry-run says create/update/unchanged and writes nothing;
#     a parameter change that jsonb equality cannot see (1.0 -> 1.00) counts;
#   - export writes the same layout back, byte for byte, refuses to
#     overwrite without --force, and importing the export changes nothing;
#   - bad input (an invalid id, bad JSON, an include naming no id, a missing
#     directory, no server, no extension) is a clear message and a non-zero
#     exit, with nothing written.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use Encode qw(encode_utf8);
use File::Path qw(make_path);
use File::Find;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PmGuard;

my $node = PostgreSQL::Test::Cluster->new('import_export');
$node->init;
$node->start;
my $guard = PmGuard->new($node);
my $tmp = PostgreSQL::Test::Utils::tempdir;

# The extension in its own schema, off every search_path the program sees:
# it must qualify every name itself.
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', 'CREATE SCHEMA pm; CREATE EXTENSION prompt_manager SCHEMA pm');

# Run prompt_manager with the node's PGHOST and PGPORT (libpq's environment
# variables) and a search_path that has nothing in it; returns the exit
# status, stdout and stderr.
sub pm_cli
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	local $ENV{PGOPTIONS} = '-c search_path=nowhere';
	IPC::Run::run([ 'prompt_manager', @args ], '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# Write bytes (a Perl character string, written as UTF-8) to a file.
sub write_file
{
	my ($path, $text) = @_;
	(my $dir = $path) =~ s{/[^/]*$}{};
	make_path($dir);
	open(my $fh, '>:raw', $path) or die "cannot write $path: $!";
	print $fh encode_utf8($text);
	close($fh);
}

# The bytes of a file.
sub read_bytes
{
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or die "cannot read $path: $!";
	local $/;
	my $bytes = <$fh>;
	close($fh);
	return $bytes;
}

# The files under a directory, relative to it, sorted.
sub list_files
{
	my ($root) = @_;
	my @files;
	find({ wanted => sub { push @files, substr($File::Find::name, length($root) + 1) if -f $_ }, no_chdir => 1 },
		$root);
	return join(' ', sort @files);
}

# SQL: the UTF-8 bytes of a text value, in hex.
sub hex_of { return "encode(convert_to($_[0], 'UTF8'), 'hex')" }
sub hex_bytes { return unpack('H*', encode_utf8($_[0])) }

# Revision, xmin and ctid of every prompt: any row written changes them.
my $state_sql = q{SELECT string_agg(prompt_id || ' ' || revision || ' ' || xmin || ' ' || ctid, E'\n' ORDER BY prompt_id)
	FROM pm.pm_prompts};

#
# The application: its working directory is $tmp/app, its prompts_dir
# $tmp/app/prompts.  Includes are written relative to the working directory
# ("prompts/common/footer.txt"), or, as in the gem's own README, as if it
# were the prompts_dir ("common/footer.txt").
#
my $app = "$tmp/app";
my $dir = "$app/prompts";
my %files = (
	# an included file of plain text, no newline at its end
	'common/footer.txt' => 'Thanks for reading.',
	'greeting.txt' => "# greeting.txt\n# Desc: greets a user\n\nHello [NAME]!\n//include common/footer.txt\n",
	'greeting.json' => '{"[NAME]": ["Ada", "Grace"]}',
	# the gem's todo example: comment header, parameters with an empty history, __END__
	'todo.txt' => "# todo.txt\n# Desc: implement the todo comments\n\n"
	  . "As an experienced [LANGUAGE] engineer, implement each todo comment in [LANGUAGE].\n\n__END__\n"
	  . "//include notes/after_end.txt stays as written\n",
	'todo.json' => '{"[LANGUAGE]":["Ruby","C"]}',
	# a subdirectory: the id toy/8-ball
	'toy/8-ball.txt' => "# toy/8-ball.txt\n# Desc: a terse answer\n\nAs a magic 8-ball, answer tersely.\n",
	# includes with the working directory's prefix, "./", indentation, CRLF
	'team/with_prefix.txt' => "Start\n//include prompts/common/footer.txt\n  //import ./prompts/common/footer.txt\nEnd",
	'crlf.txt' => "line one\r\nHello [NAME]\r\n//include common/footer.txt\r\n",
	'no_newline.txt' => 'no newline at the end',
	'two_newlines.txt' => "two newlines\n\n",
	# an include that already names an id, with a keyword: left as it is
	'dynamic.txt' => "Part: \n//include common/[PART]\n",
	'dynamic.json' => '{"[PART]": ["footer"]}',
	# a number: 1.0 is stored as 1.0 (and renders 1.0)
	'price.txt' => 'Price: [N] EUR',
	'price.json' => '{"[N]": [1.0]}',
	# not prompts: other files, hidden files, a .json without its .txt
	'README.md' => "not a prompt\n",
	'.hidden.txt' => "hidden\n",
	'toy/.cache/x.txt' => "hidden\n",
	'orphan.json' => '{"[X]": ["y"]}',
);
write_file("$dir/$_", $files{$_}) for keys %files;
symlink("nowhere", "$dir/broken.txt") or die "symlink: $!";

# What import stores: the bytes of each .txt, the gem's include paths
# replaced by ids, nothing else touched.
my %stored = (
	'common/footer' => $files{'common/footer.txt'},
	'greeting' => "# greeting.txt\n# Desc: greets a user\n\nHello [NAME]!\n//include common/footer\n",
	'todo' => $files{'todo.txt'},
	'toy/8-ball' => $files{'toy/8-ball.txt'},
	'team/with_prefix' => "Start\n//include common/footer\n  //import common/footer\nEnd",
	'crlf' => "line one\r\nHello [NAME]\r\n//include common/footer\r\n",
	'no_newline' => $files{'no_newline.txt'},
	'two_newlines' => $files{'two_newlines.txt'},
	'dynamic' => $files{'dynamic.txt'},
	'price' => $files{'price.txt'},
);
my @ids = sort keys %stored;
my $nprompts = scalar @ids;

# What the gem 0.5.8 renders for each (its working directory $tmp/app for
# team/with_prefix, $tmp/app/prompts for the others), worked out from its
# code: comment lines and __END__ dropped, lines joined with "\n" (so one
# trailing newline, and CRLF, lost), keywords filled from the newest value
# of the .json history, then each include line replaced by the raw file.
my %gem = (
	'common/footer' => 'Thanks for reading.',
	'greeting' => "\nHello Grace!\nThanks for reading.",
	'todo' => "\nAs an experienced C engineer, implement each todo comment in C.\n",
	'toy/8-ball' => "\nAs a magic 8-ball, answer tersely.",
	'team/with_prefix' => "Start\nThanks for reading.\n  Thanks for reading.\nEnd",
	'crlf' => "line one\nHello [NAME]\nThanks for reading.",
	'no_newline' => 'no newline at the end',
	'two_newlines' => "two newlines\n",
);

# --- import -------------------------------------------------------------
my ($rc, $out, $err) = pm_cli('import', '--include-prefix', 'prompts/', '-d', 'app', $dir);
is($rc, 0, 'import exits 0') or diag($err);
is($out, "created $nprompts, updated 0, unchanged 0\n", 'import reports the counts');
like($err, qr/warning: skipping "\Q$dir\E\/orphan\.json": there is no "orphan\.txt" beside it/,
	'a .json without its .txt is skipped, with a warning');
like($err, qr/warning: skipping "\Q$dir\E\/broken\.txt": No such file or directory/,
	'a broken symbolic link is skipped, with a warning');
unlike($err, qr/hidden|README/, 'hidden files and other files are not read');
is($node->safe_psql('app', 'SELECT string_agg(prompt_id, \' \' ORDER BY prompt_id COLLATE "C") FROM pm.pm_prompts'),
	join(' ', @ids), 'one prompt per .txt, subdirectories as id prefixes');
for my $id (@ids)
{
	is($node->safe_psql('app', 'SELECT ' . hex_of('content') . " FROM pm.pm_prompts WHERE prompt_id = '$id'"),
		hex_bytes($stored{$id}), "$id: every byte kept, gem include paths rewritten to ids");
}
is($node->safe_psql('app', q{SELECT string_agg(prompt_id || ' ' || parameters::text, E'\n' ORDER BY prompt_id)
	FROM pm.pm_prompts WHERE parameters <> '{}'}),
	qq{dynamic {"[PART]": ["footer"]}\ngreeting {"[NAME]": ["Ada", "Grace"]}\nprice {"[N]": [1.0]}\ntodo {"[LANGUAGE]": ["Ruby", "C"]}},
	'the .json files are the parameters; prompts without one have {}');

# each prompt renders as the gem renders it
for my $id (sort keys %gem)
{
	is($node->safe_psql('app', 'SELECT ' . hex_of("pm.pm_render('$id')")), hex_bytes($gem{$id}),
		"$id renders as the gem renders it");
}
is($node->safe_psql('app', q{SELECT pm.pm_render('dynamic') || '|' || pm.pm_render('price')}),
	"Part: \nThanks for reading.|Price: 1.0 EUR", 'an include with a keyword in its id works, left as written');

# --- a second import changes nothing -------------------------------------
my $state = $node->safe_psql('app', $state_sql);
($rc, $out, $err) = pm_cli('import', '--include-prefix', 'prompts', '-d', 'app', $dir);
is($rc, 0, 'second import exits 0');
is($out, "created 0, updated 0, unchanged $nprompts\n", 'second import: every prompt unchanged');
is($node->safe_psql('app', $state_sql), $state, 'second import: no row written (revision, xmin, ctid kept)');

# --- --dry-run ------------------------------------------------------------
$node->safe_psql('app', q{
	DELETE FROM pm.pm_prompts WHERE prompt_id = 'no_newline';
	UPDATE pm.pm_prompts SET content = content || E'\n' WHERE prompt_id = 'two_newlines';
	UPDATE pm.pm_prompts SET parameters = '{"[N]": [1.00]}' WHERE prompt_id = 'price';
	INSERT INTO pm.pm_prompts (prompt_id, content, parameters, metadata) VALUES
		('sql/only', E'made in SQL\n//include common/footer', '{"[X]": ["1"]}', '{"owner": "sql"}');
});
$state = $node->safe_psql('app', $state_sql);
($rc, $out, $err) = pm_cli('import', '--dry-run', '--include-prefix', 'prompts/', '-d', 'app', $dir);
is($rc, 0, 'dry run exits 0') or diag($err);
is($out, join('', map {
	my $action = $_ eq 'no_newline' ? 'create' : ($_ eq 'two_newlines' || $_ eq 'price') ? 'update' : 'unchanged';
	"$action $_\n" } @ids)
  . 'dry run: would create 1, update 2, leave ' . ($nprompts - 3) . " unchanged (nothing written)\n",
	'dry run: create, update, unchanged for each prompt (1.0 against 1.00 is an update)');
is($node->safe_psql('app', $state_sql), $state, 'dry run: nothing written');
($rc, $out, $err) = pm_cli('import', '-v', '--include-prefix', 'prompts/', '-d', 'app', $dir);
like($out, qr/^create no_newline\n.*^update price\n.*^update two_newlines\n.*^created 1, updated 2, unchanged @{[ $nprompts - 3 ]}\n\z/ms,
	'import after the dry run does what it said');
is($node->safe_psql('app', q{SELECT parameters::text FROM pm.pm_prompts WHERE prompt_id = 'price'}),
	'{"[N]": [1.0]}', 'the parameters hold the bytes of the file again');
is($node->safe_psql('app', q{SELECT count(*) FROM pm.pm_prompts WHERE prompt_id = 'sql/only'}),
	'1', 'prompts of the table that are not in the directory are left alone');

# --- export -------------------------------------------------------------
$state = $node->safe_psql('app', $state_sql);
my $export = "$tmp/export";
($rc, $out, $err) = pm_cli('export', '-d', $node->connstr('app'), $export);
is($rc, 0, 'export exits 0') or diag($err);
is($out, 'exported ' . ($nprompts + 1) . " prompts to \"$export\" (5 with a .json parameters file)\n",
	'export reports what it wrote');
is(list_files($export),
	join(' ', sort((map {"$_.txt"} @ids, 'sql/only'), map {"$_.json"} qw(dynamic greeting price todo sql/only))),
	'export: ID.txt for every prompt, ID.json for those with parameters, subdirectories for slashes');
for my $id (@ids)
{
	is(unpack('H*', read_bytes("$export/$id.txt")), hex_bytes($stored{$id}), "export of $id: the stored bytes");
}
is(read_bytes("$export/greeting.json"), qq{{"[NAME]": ["Ada", "Grace"]}\n}, 'export: the parameters as JSON');
is(read_bytes("$export/sql/only.txt"), "made in SQL\n//include common/footer", 'export: includes stay ids');

# import of the export changes nothing
($rc, $out, $err) = pm_cli('import', '-d', 'app', $export);
is($out, 'created 0, updated 0, unchanged ' . ($nprompts + 1) . "\n", 'import of the export: every prompt unchanged');
is($err, '', 'import of the export: no warning');
is($node->safe_psql('app', $state_sql), $state, 'import of the export: no row written');

# export refuses to overwrite, unless --force
my $before = read_bytes("$export/greeting.txt");
write_file("$export/greeting.txt", 'edited by hand');
($rc, $out, $err) = pm_cli('export', '-d', 'app', $export);
isnt($rc, 0, 'export into a directory with the files fails');
like($err, qr/"\Q$export\E\/common\/footer\.txt" exists.*nothing exported: \d+ files would be overwritten \(the first 5 are shown\)\nHINT:  Export into a new directory, or give --force to overwrite\./s,
	'it says which files exist and how to overwrite them');
is(read_bytes("$export/greeting.txt"), 'edited by hand', 'nothing was overwritten');
$node->safe_psql('app', q{UPDATE pm.pm_prompts SET parameters = '{}' WHERE prompt_id = 'sql/only'});
($rc, $out, $err) = pm_cli('export', '--force', '-d', 'app', $export);
is($rc, 0, 'export --force exits 0') or diag($err);
is(read_bytes("$export/greeting.txt"), $before, 'export --force overwrites');
ok(!-e "$export/sql/only.json", 'export --force removes the .json of a prompt that has no parameters any more');

# --- the 60 cases the gem rendered, as gem files --------------------------
# conformance/case_N.txt and .json, conformance/inc_N_M.txt; the includes
# written as paths from the working directory ("gemcases/conformance/...")
# in the odd cases, from the prompts_dir in the even ones.
my $cases = decode_json(read_bytes("$FindBin::RealBin/../data/gem_cases.json"));
my $gemdir = "$tmp/gemapp/gemcases";
for my $case (@$cases)
{
	my $n = ($case->{id} =~ /(\d+)$/)[0];
	my $prefix = $n % 2 ? 'gemcases/' : '';
	(my $text = $case->{text}) =~ s{^([ \t]*//[ \t]*(?:include|import)[ \t]+)(\S+)([ \t]*)$}{$1${prefix}conformance/$2.txt$3}mg;
	write_file("$gemdir/conformance/$case->{id}.txt", $text);
	write_file("$gemdir/conformance/$case->{id}.json", JSON::PP->new->canonical->encode($case->{params}));
	write_file("$gemdir/conformance/$_.txt", $case->{includes}{$_}) for keys %{ $case->{includes} };
}
($rc, $out, $err) = pm_cli('import', '--include-prefix', 'gemcases', '-d', 'app', $gemdir);
is($rc, 0, 'import of the gem cases exits 0') or diag($err);
like($out, qr/^created \d+, updated 0, unchanged 0\n\z/, 'import of the gem cases creates them');
my $mismatch = 0;
for my $case (@$cases)
{
	my $got = $node->safe_psql('app', 'SELECT ' . hex_of("pm.pm_render('conformance/$case->{id}')"));
	if ($got ne hex_bytes($case->{expected}))
	{
		$mismatch++;
		diag("conformance/$case->{id} renders differently from the gem");
	}
}
is($mismatch, 0, 'each of the ' . scalar(@$cases) . ' cases, imported from gem files, renders as the gem rendered it');

# --- warnings -------------------------------------------------------------
write_file("$tmp/warn/a.txt", "//import [TEMPLATE_NAME].txt\n//include missing/one.txt \t\n");
($rc, $out, $err) = pm_cli('import', '-d', 'app', "$tmp/warn");
is($rc, 0, 'warnings do not fail an import');
like($err, qr/warning: \Q$tmp\E\/warn\/a\.txt:1: include "\[TEMPLATE_NAME\]\.txt" has a keyword in it, left as written/,
	'an include path with a keyword is left as written, with a warning');
like($err, qr/warning: \Q$tmp\E\/warn\/a\.txt:2: includes "missing\/one", which is neither in "\Q$tmp\E\/warn" nor in pm\.pm_prompts/,
	'an include of a prompt that exists nowhere is a warning');
is($node->safe_psql('app', q{SELECT content FROM pm.pm_prompts WHERE prompt_id = 'a'}),
	"//import [TEMPLATE_NAME].txt\n//include missing/one \t\n",
	'the keyword include as written, the other one rewritten (only its path: the blanks after it kept)');

# --- bad input: a message, a non-zero exit, nothing written ---------------
my $count_sql = 'SELECT count(*) FROM pm.pm_prompts';
my $count = $node->safe_psql('app', $count_sql);

write_file("$tmp/bad_id/good.txt", 'good');
write_file("$tmp/bad_id/has space.txt", 'x');
write_file("$tmp/bad_id/notes.v2.txt", 'x');
($rc, $out, $err) = pm_cli('import', '-d', 'app', "$tmp/bad_id");
isnt($rc, 0, 'invalid ids: non-zero exit');
like($err, qr/"\Q$tmp\E\/bad_id\/has space\.txt": "has space" is not a valid prompt id\nDETAIL:  A prompt id is 1 to 255 ASCII letters/,
	'invalid ids: the file is named');
like($err, qr/"notes\.v2" is not a valid prompt id.*nothing imported: 2 errors in/s, 'invalid ids: every one is reported');

write_file("$tmp/bad_json/good.txt", 'good');
write_file("$tmp/bad_json/x.txt", 'x');
write_file("$tmp/bad_json/x.json", '{"[X]": [1,}');
($rc, $out, $err) = pm_cli('import', '-d', 'app', "$tmp/bad_json");
isnt($rc, 0, 'bad JSON: non-zero exit');
like($err, qr/\Q$tmp\E\/bad_json\/x\.json: invalid input syntax for type json\n.*nothing imported: the transaction was rolled back/s,
	'bad JSON: the file and the server\'s message');

write_file("$tmp/bad_array/x.txt", 'x');
write_file("$tmp/bad_array/x.json", '["[X]", "y"]');
($rc, $out, $err) = pm_cli('import', '-d', 'app', "$tmp/bad_array");
isnt($rc, 0, 'JSON that is not an object: non-zero exit');
like($err, qr/\Q$tmp\E\/bad_array\/x\.json: the parameters must be a JSON object, not an array/,
	'JSON that is not an object: said so');

write_file("$tmp/bad_include/x.txt", "a\n//include ../shared/footer.txt\n");
($rc, $out, $err) = pm_cli('import', '-d', 'app', "$tmp/bad_include");
isnt($rc, 0, 'an include path that names no id: non-zero exit');
like($err, qr/\Q$tmp\E\/bad_include\/x\.txt:2: include "\.\.\/shared\/footer\.txt" names no prompt id\nHINT:  .*--include-prefix/,
	'an include path that names no id: file, line and a hint');
is($node->safe_psql('app', $count_sql), $count, 'bad input: nothing written');

($rc, $out, $err) = pm_cli('import', '-d', 'app', "$tmp/no_such_dir");
isnt($rc, 0, 'missing directory: non-zero exit');
like($err, qr/could not read directory "\Q$tmp\E\/no_such_dir": No such file or directory/, 'missing directory: said so');

($rc, $out, $err) = pm_cli('import', '-h', $tmp, '-p', '1', '-d', 'app', $dir);
isnt($rc, 0, 'no server: non-zero exit');
like($err, qr/^prompt_manager: could not connect to the database: /m, 'no server: said so');

($rc, $out, $err) = pm_cli('export', '-d', 'postgres', "$tmp/export2");
isnt($rc, 0, 'no extension: non-zero exit');
like($err, qr/the extension prompt_manager is not installed in database "postgres"/, 'no extension: said so');
ok(!-e "$tmp/export2", 'no extension: no directory created');

($rc, $out, $err) = pm_cli('import');
isnt($rc, 0, 'no directory given: non-zero exit');
like($err, qr/import: no directory given\nTry "prompt_manager --help"/, 'no directory given: said so');
($rc, $out, $err) = pm_cli('--help');
like($out, qr/^Usage:\n  prompt_manager import \[OPTION\]\.\.\. DIR/m, '--help prints the usage');

$guard->check;
done_testing();
