#!/usr/bin/ruby
# prompt_manager from Ruby with the pg gem, directly and through pgbouncer
# (transaction pooling).  Started by test/clients/run, which sets
# PM_SOCKET_DIR, PM_PG_PORT, PM_BOUNCER_PORT, PM_DB and PM_USER.  Prints one
# "ok - ..." or "not ok - ..." line per check, then
# "# done: N passed, M failed"; exits 1 when a check failed.
require "json"
require "pg"

SOCKET = ENV.fetch("PM_SOCKET_DIR")
TARGETS = [["direct", ENV.fetch("PM_PG_PORT")], ["pgbouncer", ENV.fetch("PM_BOUNCER_PORT")]]
DB = ENV.fetch("PM_DB")
USER = ENV.fetch("PM_USER")

NAME = "O'Brien \"Bob\" [PLACE] $1 \\1; DROP TABLE pm_prompts; --"
PLACE = "Zoë's café 🚀\n//include clients/footer"
GREET = "Hello #{NAME}, welcome to #{PLACE}."
LETTER = "Dear Ada,\n-- the team"
STRICT = "Dear [TITLE] Lee"
MISSING = 'prompt "clients/nowhere" does not exist'
POOLED_CLIENTS = 3

$passed = 0
$failed = 0

def check(ok, what, got = nil, expected = nil)
  if ok
    $passed += 1
    puts "ok - #{what}"
  else
    $failed += 1
    puts "not ok - #{what}"
    puts "#   got:      #{got.inspect}"
    puts "#   expected: #{expected.inspect}"
  end
  $stdout.flush
end

def check_eq(got, expected, what)
  check(got == expected, what, got, expected)
end

def connect(port)
  conn = PG.connect(host: SOCKET, port: port, dbname: DB, user: USER)
  # booleans as true/false and integers as Integer, not "t" and "1"
  conn.type_map_for_results = PG::BasicTypeMapForResults.new(conn)
  conn
end

def sqlstate(e)
  e.result.error_field(PG::Result::PG_DIAG_SQLSTATE)
end

def render(conn, prompt_id, params)
  conn.exec_params("SELECT pm_render($1, $2::jsonb) AS text", [prompt_id, params.to_json])
      .getvalue(0, 0)
end

def run_target(label, port)
  conn = connect(port)
  t = "[#{label}] "
  check_eq(render(conn, "clients/greet", { name: NAME, place: PLACE }), GREET,
           t + "pm_render with bind values gives the exact text")
  check_eq(render(conn, "clients/letter", { name: "Ada" }), LETTER,
           t + "//include and a stored default")
  check_eq(render(conn, "clients/strict", { name: "Lee" }), STRICT,
           t + "a keyword without a value is kept")

  # A missing prompt: SQLSTATE 42704 from the error's result.
  begin
    render(conn, "clients/nowhere", {})
    check(false, t + "a missing prompt raises", "no error", "42704")
  rescue PG::Error => e
    check_eq(sqlstate(e), "42704", t + "missing prompt: PG_DIAG_SQLSTATE is 42704")
    check_eq([e.class.name, e.result.error_field(PG::Result::PG_DIAG_MESSAGE_PRIMARY)],
             ["PG::UndefinedObject", MISSING],
             t + "missing prompt: PG::UndefinedObject and its message")
  end

  begin
    render(conn, "x'; DROP TABLE pm_prompts; --", {})
    check(false, t + "an id with quotes is looked up", "no error", "42704")
  rescue PG::Error => e
    check_eq(sqlstate(e), "42704", t + "an id with quotes is looked up as data (42704)")
  end

  begin
    conn.transaction do |c|
      c.exec("SET LOCAL prompt_manager.missing_parameter = error")
      render(c, "clients/strict", { name: "Lee" })
    end
    check(false, t + "missing_parameter = error raises", "no error", "PM003")
  rescue PG::Error => e
    # no class of its own: PG::ServerError
    check_eq([e.class.name, sqlstate(e)], ["PG::ServerError", "PM003"],
             t + "missing_parameter = error: PG::ServerError, PG_DIAG_SQLSTATE is PM003")
  end

  check_eq(render(conn, "clients/letter", { name: "Ada" }), LETTER,
           t + "the connection renders again after the errors")

  requests = [
    { prompt_id: "clients/greet", parameters: { name: NAME, place: PLACE } },
    { prompt_id: "clients/letter", parameters: { name: "Ada" } },
    { prompt_id: "clients/nowhere" },
    { prompt_id: "clients/strict", parameters: { name: "Lee" } },
  ]
  rows = conn.exec_params("SELECT ord, prompt_id, ok, result, error, sqlstate " \
                          "FROM pm_bulk_render($1::jsonb) ORDER BY ord", [requests.to_json]).values
  named_statement(conn, port, t) if label == "direct"
  conn.close
  expected = [
    [1, "clients/greet", true, GREET, nil, nil],
    [2, "clients/letter", true, LETTER, nil, nil],
    [3, "clients/nowhere", false, nil, MISSING, "42704"],
    [4, "clients/strict", true, STRICT, nil, nil],
  ]
  check_eq(rows.map { |r| r[2] }, [true, true, false, true], t + "pm_bulk_render: ok flags of 4 rows")
  rows.zip(expected).each do |got, exp|
    check_eq(got, exp, t + "pm_bulk_render: row #{exp[0]} (#{exp[1]})")
  end
end

# A named prepared statement (direct only: pgbouncer before 1.21 does not
# keep them in transaction mode), executed past the point where the server
# switches to a generic plan, then after another connection changed the
# prompt: it renders the new text.
def named_statement(conn, port, t)
  id = "clients/ruby-pg/versioned"
  conn.exec_params("INSERT INTO pm_prompts (prompt_id, content) VALUES ($1, $2)", [id, "v1 [N]"])
  conn.prepare("pm_render_stmt", "SELECT pm_render($1, $2::jsonb)")
  before = Array.new(7) { conn.exec_prepared("pm_render_stmt", [id, '{"n": 1}']).getvalue(0, 0) }
  other = connect(port)
  other.exec_params("UPDATE pm_prompts SET content = $2 WHERE prompt_id = $1", [id, "v2 [N]"])
  other.close
  after = Array.new(2) { conn.exec_prepared("pm_render_stmt", [id, '{"n": 1}']).getvalue(0, 0) }
  conn.exec_params("DELETE FROM pm_prompts WHERE prompt_id = $1", [id])
  check_eq([before, after], [["v1 1"] * 7, ["v2 1"] * 2],
           t + "a named prepared statement renders the updated prompt after another connection commits")
end

# Several clients through pgbouncer, each in a transaction held open at the
# same time (so on different server backends), render one prompt that a
# direct connection has just cached; pm_cache, read directly, counts one hit
# for each.
def run_pooled
  t = "[pgbouncer pooled] "
  params = { name: "pooled", place: "ruby-pg" }
  expected = "Hello pooled, welcome to ruby-pg."
  direct = connect(TARGETS[0][1])
  check_eq(render(direct, "clients/greet", params), expected, t + "rendered once directly (cached)")
  direct_pid = direct.exec("SELECT pg_backend_pid()").getvalue(0, 0)
  before = direct.exec("SELECT hits FROM pm_cache").getvalue(0, 0)

  clients = Array.new(POOLED_CLIENTS) { connect(TARGETS[1][1]) }
  results = clients.map do |c|
    c.exec("BEGIN")
    c.exec_params("SELECT pm_render($1, $2::jsonb), pg_backend_pid()",
                  ["clients/greet", params.to_json]).values.first
  end
  clients.each do |c|
    c.exec("COMMIT")
    c.close
  end
  after = direct.exec("SELECT hits FROM pm_cache").getvalue(0, 0)
  direct.close

  check_eq(results.map(&:first), [expected] * POOLED_CLIENTS,
           t + "#{POOLED_CLIENTS} pooled clients render the same text")
  pids = results.map(&:last).uniq
  check(pids.size == POOLED_CLIENTS && !pids.include?(direct_pid),
        t + "served by #{POOLED_CLIENTS} different server backends, none the direct one",
        pids, "#{POOLED_CLIENTS} pids other than #{direct_pid}")
  check_eq(after - before, POOLED_CLIENTS,
           t + "pm_cache.hits grew by #{POOLED_CLIENTS} (the shared cache served every backend)")
end

puts "# ruby #{RUBY_VERSION}, pg #{PG::VERSION}"
TARGETS.each { |label, port| run_target(label, port) }
run_pooled
puts "# done: #{$passed} passed, #{$failed} failed"
exit($failed.zero? ? 0 : 1)
