#!/usr/bin/ruby
# prompt_manager from Ruby on Rails' ActiveRecord (raw select_value and
# exec_query with binds), directly and through pgbouncer (transaction
# pooling).  Started by test/clients/run, which sets PM_SOCKET_DIR,
# PM_PG_PORT, PM_BOUNCER_PORT, PM_DB and PM_USER.  Prints one "ok - ..." or
# "not ok - ..." line per check, then "# done: N passed, M failed"; exits 1
# when a check failed.
require "json"
require "logger"
require "pg"
require "active_record"

SOCKET = ENV.fetch("PM_SOCKET_DIR")
TARGETS = [["direct", ENV.fetch("PM_PG_PORT").to_i], ["pgbouncer", ENV.fetch("PM_BOUNCER_PORT").to_i]]
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

# Behind pgbouncer in transaction mode, Rails needs prepared_statements:
# false and advisory_locks: false (named prepared statements and session
# locks do not survive a change of server connection).  The calls below use
# unnamed statements with bind values either way.
def establish(label, port)
  ActiveRecord::Base.establish_connection(
    adapter: "postgresql", host: SOCKET, port: port, database: DB, username: USER,
    pool: POOLED_CLIENTS + 2,
    prepared_statements: label != "pgbouncer", advisory_locks: label != "pgbouncer"
  )
  ActiveRecord::Base.connection
end

def sqlstate(e)
  e.cause.result.error_field(PG::Result::PG_DIAG_SQLSTATE)
end

# select_value with bind values: $1 and $2 are sent apart from the SQL.
def render(conn, prompt_id, params)
  conn.select_value("SELECT pm_render($1, $2::jsonb)", "render prompt", [prompt_id, params.to_json])
end

def run_target(label, port)
  conn = establish(label, port)
  t = "[#{label}] "
  check_eq(render(conn, "clients/greet", { name: NAME, place: PLACE }), GREET,
           t + "select_value(pm_render) with bind values gives the exact text")
  # exec_query with bind values, as in README.md
  result = conn.exec_query("SELECT pm_render($1, $2::jsonb) AS text", "render prompt",
                           ["clients/letter", { name: "Ada" }.to_json])
  check_eq(result.first["text"], LETTER, t + "exec_query: //include and a stored default")
  check_eq(render(conn, "clients/strict", { name: "Lee" }), STRICT,
           t + "a keyword without a value is kept")
  # README.md's first form: sanitize_sql_array quotes the values into the
  # SQL text (no bind values, but quoted correctly).
  sql = ActiveRecord::Base.sanitize_sql_array(
    ["SELECT pm_render(?, ?::jsonb)", "clients/greet", { name: NAME, place: PLACE }.to_json]
  )
  check_eq(conn.select_value(sql), GREET, t + "README.md's sanitize_sql_array form gives the exact text too")

  # A missing prompt: ActiveRecord::StatementInvalid, the PG::Error in e.cause.
  begin
    render(conn, "clients/nowhere", {})
    check(false, t + "a missing prompt raises", "no error", "42704")
  rescue ActiveRecord::StatementInvalid => e
    check_eq(sqlstate(e), "42704", t + "missing prompt: e.cause's PG_DIAG_SQLSTATE is 42704")
    check_eq([e.class.name, e.cause.class.name, e.cause.result.error_field(PG::Result::PG_DIAG_MESSAGE_PRIMARY)],
             ["ActiveRecord::StatementInvalid", "PG::UndefinedObject", MISSING],
             t + "missing prompt: StatementInvalid caused by PG::UndefinedObject, and its message")
  end

  begin
    render(conn, "x'; DROP TABLE pm_prompts; --", {})
    check(false, t + "an id with quotes is looked up", "no error", "42704")
  rescue ActiveRecord::StatementInvalid => e
    check_eq(sqlstate(e), "42704", t + "an id with quotes is looked up as data (42704)")
  end

  begin
    ActiveRecord::Base.transaction do
      conn.execute("SET LOCAL prompt_manager.missing_parameter = error")
      render(conn, "clients/strict", { name: "Lee" })
    end
    check(false, t + "missing_parameter = error raises", "no error", "PM003")
  rescue ActiveRecord::StatementInvalid => e
    check_eq([e.cause.class.name, sqlstate(e)], ["PG::ServerError", "PM003"],
             t + "missing_parameter = error: e.cause is a PG::ServerError with PG_DIAG_SQLSTATE PM003")
  end

  check_eq(render(conn, "clients/letter", { name: "Ada" }), LETTER,
           t + "the connection renders again after the errors")

  requests = [
    { prompt_id: "clients/greet", parameters: { name: NAME, place: PLACE } },
    { prompt_id: "clients/letter", parameters: { name: "Ada" } },
    { prompt_id: "clients/nowhere" },
    { prompt_id: "clients/strict", parameters: { name: "Lee" } },
  ]
  result = conn.exec_query("SELECT ord, prompt_id, ok, result, error, sqlstate " \
                           "FROM pm_bulk_render($1::jsonb) ORDER BY ord",
                           "bulk render", [requests.to_json])
  rows = result.cast_values
  ActiveRecord::Base.remove_connection
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

# Several connections of ActiveRecord's pool, through pgbouncer, each in a
# transaction held open at the same time (so on different server backends),
# render one prompt that a direct connection has just cached; pm_cache, read
# directly, counts one hit for each.
def run_pooled
  t = "[pgbouncer pooled] "
  params = { name: "pooled", place: "ActiveRecord" }
  expected = "Hello pooled, welcome to ActiveRecord."
  direct = PG.connect(host: SOCKET, port: TARGETS[0][1], dbname: DB, user: USER)
  check_eq(direct.exec_params("SELECT pm_render($1, $2::jsonb)", ["clients/greet", params.to_json]).getvalue(0, 0),
           expected, t + "rendered once directly (cached)")
  direct_pid = direct.exec("SELECT pg_backend_pid()").getvalue(0, 0).to_i
  before = direct.exec("SELECT hits FROM pm_cache").getvalue(0, 0).to_i

  establish("pgbouncer", TARGETS[1][1])
  pool = ActiveRecord::Base.connection_pool
  conns = Array.new(POOLED_CLIENTS) { pool.checkout }
  results = conns.map do |c|
    c.begin_db_transaction
    c.exec_query("SELECT pm_render($1, $2::jsonb) AS text, pg_backend_pid() AS pid", "render prompt",
                 ["clients/greet", params.to_json]).cast_values.first
  end
  conns.each do |c|
    c.commit_db_transaction
    pool.checkin(c)
  end
  ActiveRecord::Base.remove_connection
  after = direct.exec("SELECT hits FROM pm_cache").getvalue(0, 0).to_i
  direct.close

  check_eq(results.map(&:first), [expected] * POOLED_CLIENTS,
           t + "#{POOLED_CLIENTS} pooled connections render the same text")
  pids = results.map(&:last).uniq
  check(pids.size == POOLED_CLIENTS && !pids.include?(direct_pid),
        t + "served by #{POOLED_CLIENTS} different server backends, none the direct one",
        pids, "#{POOLED_CLIENTS} pids other than #{direct_pid}")
  check_eq(after - before, POOLED_CLIENTS,
           t + "pm_cache.hits grew by #{POOLED_CLIENTS} (the shared cache served every backend)")
end

puts "# ruby #{RUBY_VERSION}, activerecord #{ActiveRecord::VERSION::STRING}, pg #{PG::VERSION}"
TARGETS.each { |label, port| run_target(label, port) }
run_pooled
puts "# done: #{$passed} passed, #{$failed} failed"
exit($failed.zero? ? 0 : 1)
