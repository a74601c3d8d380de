#!/usr/bin/ruby
# bench/clients/ruby_compare.rb: prompt_manager against the Ruby
# application cache it replaces, timed from Ruby, side by side.
#
# Started by bench/clients/run, which starts a throw-away PostgreSQL (with
# prompt_manager preloaded and bench/setup.sql loaded) and a throw-away
# redis-server, both on unix sockets, and sets:
#
#   PM_SOCKET_DIR, PM_PG_PORT, PM_DB   the server
#   PM_REDIS_SOCKET                    redis-server's socket
#   PM_ROUNDS, PM_OPS, PM_BATCHES      rounds; timed operations per variant
#                                      and round; requests of 100 per round
#   PM_SLICES                          slices a round is cut into
#   PM_OUT                             directory for rounds.dat and
#                                      summary.dat (the plot's data)
#
# The report (markdown) goes to stdout.  What is timed, per operation, over
# one connection per variant (the keys, the JSON parameters and the requests
# of 100 are built before the clock starts; every result is read into a Ruby
# String):
#
#   floor        SELECT 1, prepared: a round trip to the server
#   pg_cached    SELECT pm_render($1, $2::jsonb), prepared, shared cache hit
#   pg_uncached  the same on a connection with prompt_manager.cache = off
#   redis_get    Redis GET of the rendered text (redis-rb, no Rails)
#   rails_redis  Rails.cache.fetch(key) { render } with RedisCacheStore, a hit
#   rails_memory the same with the in-process MemoryStore, a hit
#   ruby_render  the reference renderer below, in Ruby, uncached
#
# and per request of 100 renders:
#
#   bulk         one SELECT * FROM pm_bulk_render($1::jsonb), prepared
#   fetch_multi  Rails.cache.fetch_multi of 100 keys, RedisCacheStore, all hits
#   singles      100 prepared pm_render calls, one after the other
#
# Each round runs every variant, cut into slices interleaved with the other
# variants' (PM_SLICES, default 10), so that the machine's drift reaches
# all of them alike; ratios are taken within a round, and the report gives
# medians over the rounds.  Before timing, every value is checked equal to
# pm_render's output.
require "json"
# AS before 7.1 uses ::Logger without requiring it; Debian 12's concurrent-ruby
# (1.1) still loads it, concurrent-ruby 1.3.5 and later no longer do
require "logger"
require "digest"
require "pg"
require "redis"
require "active_support"
require "active_support/cache"
require "active_support/cache/redis_cache_store"

SOCKET = ENV.fetch("PM_SOCKET_DIR")
PG_PORT = ENV.fetch("PM_PG_PORT").to_i
DB = ENV.fetch("PM_DB", "postgres")
REDIS_SOCKET = ENV.fetch("PM_REDIS_SOCKET")
ROUNDS = Integer(ENV.fetch("PM_ROUNDS", "21"))
OPS = Integer(ENV.fetch("PM_OPS", "3000"))
BATCHES = Integer(ENV.fetch("PM_BATCHES", "30"))
OUT = ENV.fetch("PM_OUT")
BATCH = 100

# The parameters of bench/round.sql, for every render.
PARAMS = { "role" => "a helpful assistant", "question" => "the question",
           "language" => "English", "audience" => "developers" }.freeze

# A reference renderer of the gem's text format (PromptManager 0.5.8, as
# docs/format.md describes it), enough for the benchmark's prompts and
# checked against pm_render on them.  It covers HTML comments, __END__,
# comment lines (kept inside ```markdown fences), CRLF line ends, the loss
# of one trailing newline, and [KEYWORD] substitution in one pass, with the
# prompt's stored defaults under the call's parameters, keys bracketed
# ("[NAME]") or bare in any case ("name"), string values, history arrays
# (last element) and null.  Not covered: //include and other directives,
# number, boolean and object values.
module GemStyle
  KEYWORD = /\[[A-Z _|]+\]/.freeze
  HTML_COMMENT = /<!--.*?-->/m.freeze

  module_function

  # {"name" => v} or {"[NAME]" => v} to {"[NAME]" => v}
  def bracketed(params)
    params.each_with_object({}) do |(k, v), h|
      h[k.start_with?("[") && k.end_with?("]") ? k : "[#{k.upcase}]"] = v
    end
  end

  def value_text(v)
    case v
    when nil then ""
    when Array then v.empty? ? "" : value_text(v.last)
    when String then v
    else raise ArgumentError, "the reference renderer takes strings, arrays and null, not #{v.class}"
    end
  end

  # text: the template; params: bracketed keys (defaults already merged)
  def render(text, params)
    text = text.gsub(HTML_COMMENT, "")
    lines = []
    depth = 0
    text.each_line("\n") do |l|
      if l.end_with?("\n")
        l = l.chop
        l = l.chop if l.end_with?("\r")
      end
      break if l == "__END__"
      s = l.strip
      if s == "```markdown"
        depth += 1
      elsif s.start_with?("```")
        depth -= 1 if depth.positive?
      elsif s.start_with?("#") && depth.zero?
        next
      end
      lines << l
    end
    lines.join("\n").gsub(KEYWORD) { |kw| params.key?(kw) ? value_text(params[kw]) : kw }
  end
end

def now_ns
  Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)
end

def median(xs)
  s = xs.sort
  n = s.size
  n.odd? ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0
end

def die(msg)
  warn "ruby_compare: #{msg}"
  exit 1
end

# ---- connections and data --------------------------------------------

def pg_connect
  PG.connect(host: SOCKET, port: PG_PORT, dbname: DB, user: "postgres")
end

pg = pg_connect            # floor, pg_cached, bulk, singles
pg_off = pg_connect        # pg_uncached
pg_off.exec("SET prompt_manager.cache = off")
die "prompt_manager.cache is not on (is the library preloaded?)" unless
  pg.exec("SELECT current_setting('prompt_manager.cache')").getvalue(0, 0) == "on"
[pg, pg_off].each do |c|
  c.prepare("floor", "SELECT 1")
  c.prepare("render", "SELECT pm_render($1, $2::jsonb)")
  c.prepare("bulk", "SELECT * FROM pm_bulk_render($1::jsonb)")
end

prompts = pg.exec(<<~SQL).values
  SELECT prompt_id, content, parameters::text FROM pm_prompts
  WHERE prompt_id ~ '^bench/[0-9]+$' ORDER BY prompt_id COLLATE "C"
SQL
die "expected the 1000 prompts of bench/setup.sql, found #{prompts.size}" unless prompts.size == 1000
N = prompts.size
IDS = prompts.map(&:first)
TEMPLATES = prompts.map { |p| p[1] }
DEFAULTS = prompts.map { |p| GemStyle.bracketed(JSON.parse(p[2])) }
PARAMS_JSON = PARAMS.to_json
GEM_PARAMS = GemStyle.bracketed(PARAMS)
# the key an application would build: prompt id and a digest of its parameters
DIGEST = Digest::SHA256.hexdigest(PARAMS_JSON)[0, 16]
KEYS = IDS.map { |id| "prompt/#{id}/#{DIGEST}" }

redis = Redis.new(path: REDIS_SOCKET)
# RedisCacheStore swallows Redis errors by default (a fetch would then run
# its block); here an error must stop the benchmark.
raise_errors = ->(method:, returning:, exception:) { raise exception }
rails_redis = ActiveSupport::Cache::RedisCacheStore.new(path: REDIS_SOCKET, namespace: "rails",
                                                        error_handler: raise_errors)
rails_memory = ActiveSupport::Cache::MemoryStore.new
RAW_KEYS = KEYS.map { |k| "raw:#{k}" }

# ---- the same text everywhere -----------------------------------------

texts = IDS.map { |id| pg.exec_prepared("render", [id, PARAMS_JSON]).getvalue(0, 0) }
mismatch = ->(what, i, got) { die "#{what} differs from pm_render for #{IDS[i]}: #{got.inspect[0, 200]}" }
IDS.each_with_index do |id, i|
  t = texts[i]
  u = pg_off.exec_prepared("render", [id, PARAMS_JSON]).getvalue(0, 0)
  mismatch.call("pm_render with the cache off", i, u) unless u == t
  g = GemStyle.render(TEMPLATES[i], DEFAULTS[i].merge(GEM_PARAMS))
  mismatch.call("the Ruby reference renderer", i, g) unless g.b == t.b
  redis.set(RAW_KEYS[i], t)
  rails_redis.write(KEYS[i], t)
  rails_memory.write(KEYS[i], t)
end
compressed = 0
IDS.each_index do |i|
  r = redis.get(RAW_KEYS[i])
  mismatch.call("Redis GET", i, r) unless r.b == texts[i].b
  r = rails_redis.fetch(KEYS[i]) { die "Rails.cache.fetch (Redis) missed #{KEYS[i]}" }
  mismatch.call("Rails.cache.fetch (Redis)", i, r) unless r.b == texts[i].b
  r = rails_memory.fetch(KEYS[i]) { die "MemoryStore missed #{KEYS[i]}" }
  mismatch.call("MemoryStore fetch", i, r) unless r.b == texts[i].b
  # AS 6.1 stores Marshal dumps of entries, their values zlib-deflated from
  # 1 kB on (MemoryStore: never compressed)
  compressed += 1 if Marshal.load(redis.get("rails:#{KEYS[i]}")).instance_variable_defined?(:@compressed)
end
LENS = texts.map(&:bytesize)

# the requests of 100: batch b covers prompts 100*b .. 100*b+99 (mod N)
NBATCH_KEYS = N / BATCH
BULK_JSON = Array.new(NBATCH_KEYS) do |b|
  (0...BATCH).map { |j| { prompt_id: IDS[b * BATCH + j], parameters: PARAMS } }.to_json
end
BATCH_KEYS = Array.new(NBATCH_KEYS) { |b| KEYS[b * BATCH, BATCH] }
BATCH_LEN = Array.new(NBATCH_KEYS) { |b| LENS[b * BATCH, BATCH].sum }
NBATCH_KEYS.times do |b|
  res = pg.exec_prepared("bulk", [BULK_JSON[b]])
  got = res.field_values("result")
  die "pm_bulk_render: a request failed: #{res.field_values('error').compact.first}" unless res.field_values("ok").all?("t")
  die "pm_bulk_render differs from pm_render (batch #{b})" unless got == texts[b * BATCH, BATCH]
  h = rails_redis.fetch_multi(*BATCH_KEYS[b]) { |k| die "fetch_multi missed #{k}" }
  die "fetch_multi differs from pm_render (batch #{b})" unless BATCH_KEYS[b].map { |k| h[k].b } == texts[b * BATCH, BATCH].map(&:b)
end

# ---- the variants ------------------------------------------------------
# Each takes a start index s and a count n, runs n operations (requests of
# 100) from s and returns [nanoseconds, bytes read]; the bytes are checked against the lengths of pm_render's
# texts, so that every timed operation really returned its text.

def timed
  GC.start
  t0 = now_ns
  bytes = yield
  [now_ns - t0, bytes]
end

$block_calls = 0
SINGLE = {
  "floor" => ["SELECT 1 (prepared): the round-trip floor",
              ->(s, n) { timed { b = 0; n.times { b += pg.exec_prepared("floor").getvalue(0, 0).bytesize }; b } }],
  "pg_cached" => ["SELECT pm_render($1,$2) (prepared), shared cache hit",
                  ->(s, n) { timed { b = 0; n.times { |i| b += pg.exec_prepared("render", [IDS[(s + i) % N], PARAMS_JSON]).getvalue(0, 0).bytesize }; b } }],
  "pg_uncached" => ["SELECT pm_render($1,$2) (prepared), prompt_manager.cache = off",
                    ->(s, n) { timed { b = 0; n.times { |i| b += pg_off.exec_prepared("render", [IDS[(s + i) % N], PARAMS_JSON]).getvalue(0, 0).bytesize }; b } }],
  "redis_get" => ["Redis GET of the rendered text (redis-rb)",
                  ->(s, n) { timed { b = 0; n.times { |i| b += redis.get(RAW_KEYS[(s + i) % N]).bytesize }; b } }],
  "rails_redis" => ["Rails.cache.fetch, RedisCacheStore, hit",
                    ->(s, n) { timed { b = 0; n.times { |i| b += rails_redis.fetch(KEYS[(s + i) % N]) { $block_calls += 1; "" }.bytesize }; b } }],
  "rails_memory" => ["Rails.cache.fetch, MemoryStore (in-process), hit",
                     ->(s, n) { timed { b = 0; n.times { |i| b += rails_memory.fetch(KEYS[(s + i) % N]) { $block_calls += 1; "" }.bytesize }; b } }],
  "ruby_render" => ["the reference renderer in Ruby, uncached (template in memory)",
                    ->(s, n) { timed { b = 0; n.times { |i| k = (s + i) % N; b += GemStyle.render(TEMPLATES[k], DEFAULTS[k].merge(GEM_PARAMS)).bytesize }; b } }],
}.freeze
PER100 = {
  "bulk" => ["one SELECT * FROM pm_bulk_render($1) of 100 requests",
             ->(s, n) { timed { b = 0; n.times { |i| b += pg.exec_prepared("bulk", [BULK_JSON[(s + i) % NBATCH_KEYS]]).field_values("result").sum(&:bytesize) }; b } }],
  "fetch_multi" => ["Rails.cache.fetch_multi of 100 keys, RedisCacheStore, all hits",
                    ->(s, n) { timed { b = 0; n.times { |i| b += rails_redis.fetch_multi(*BATCH_KEYS[(s + i) % NBATCH_KEYS]) { |_| $block_calls += 1; "" }.each_value.sum(&:bytesize) }; b } }],
  "singles" => ["100 single SELECT pm_render($1,$2) (prepared), cache hits",
                ->(s, n) { timed { b = 0; n.times { |i| k = ((s + i) % NBATCH_KEYS) * BATCH; BATCH.times { |j| b += pg.exec_prepared("render", [IDS[k + j], PARAMS_JSON]).getvalue(0, 0).bytesize } }; b } }],
}.freeze

# bytes that n operations (requests of 100) from s must read
def expected_bytes(name, s, n)
  case name
  when "floor" then n
  when "bulk", "fetch_multi", "singles" then (0...n).sum { |i| BATCH_LEN[(s + i) % NBATCH_KEYS] }
  else (0...n).sum { |i| LENS[(s + i) % N] }
  end
end

ORDER = SINGLE.keys + PER100.keys
ALL = SINGLE.merge(PER100)
us = Hash.new { |h, k| h[k] = [] } # µs per operation (per request of 100), one per round

# A round is cut into SLICES slices; each slice runs a slice of every
# variant, in an order rotated by one from slice to slice and from round to
# round, so that a change of the machine's speed within a round falls on all
# variants alike.  Round 0 is a warm-up, not counted.
SLICES = Integer(ENV.fetch("PM_SLICES", "10")).clamp(1, [OPS, BATCHES].min)
(0..ROUNDS).each do |r|
  ns = Hash.new(0)
  SLICES.times do |c|
    ORDER.rotate(r + c).each do |name|
      total = PER100.key?(name) ? BATCHES : OPS
      n = total * (c + 1) / SLICES - total * c / SLICES
      # where the slice starts: a prompt, or a request of 100
      s = PER100.key?(name) ? (r * BATCHES + total * c / SLICES) % NBATCH_KEYS : (r * OPS + total * c / SLICES) % N
      t, bytes = ALL[name][1].call(s, n)
      want = expected_bytes(name, s, n)
      die "#{name}: read #{bytes} bytes, expected #{want}" unless bytes == want
      ns[name] += t
    end
  end
  next if r.zero?

  ORDER.each { |name| us[name] << ns[name] / 1000.0 / (PER100.key?(name) ? BATCHES : OPS) }
end
die "a cache fetch ran its block #{$block_calls} times: not every fetch was a hit" unless $block_calls.zero?

# ---- the report --------------------------------------------------------

ratio = ->(a, b) { median(us[a].zip(us[b]).map { |x, y| x / y }) }
spread = ->(a, b) { us[a].zip(us[b]).map { |x, y| x / y }.minmax }

File.open(File.join(OUT, "rounds.dat"), "w") do |f|
  f.puts "# round variant us_per_op"
  ROUNDS.times { |r| ORDER.each { |n| f.puts format("%d %s %.3f", r + 1, n, us[n][r]) } }
end
File.open(File.join(OUT, "summary.dat"), "w") do |f|
  f.puts "# index label median_ratio_to_floor min_ratio max_ratio median_us"
  ORDER.each_with_index do |n, i|
    lo, hi = spread.call(n, "floor")
    label = {
      "floor" => "SELECT 1", "pg_cached" => "pm_render\\ncached", "pg_uncached" => "pm_render\\ncache off",
      "redis_get" => "Redis GET", "rails_redis" => "Rails.cache\\nRedis", "rails_memory" => "Rails.cache\\nMemoryStore",
      "ruby_render" => "render\\nin Ruby", "bulk" => "pm_bulk_render\\nof 100", "fetch_multi" => "fetch_multi\\nof 100",
      "singles" => "100 x\\npm_render"
    }.fetch(n)
    f.puts format("%d \"%s\" %.4f %.4f %.4f %.2f", i, label, ratio.call(n, "floor"), lo, hi, median(us[n]))
  end
end

fl = median(us["floor"])
puts "Ruby client-side comparison: median of #{ROUNDS} rounds; per round #{OPS} operations " \
     "per single variant, #{BATCHES} requests of #{BATCH} per bulk variant, in #{SLICES} interleaved slices"
puts
puts "| operation | µs per operation | × SELECT 1 (range over rounds) |"
puts "|---|---:|---:|"
SINGLE.each_key do |n|
  lo, hi = spread.call(n, "floor")
  puts format("| %s | %.2f | %.2f (%.2f–%.2f) |", SINGLE[n][0], median(us[n]), ratio.call(n, "floor"), lo, hi)
end
puts
puts "| per request of #{BATCH} renders | µs per request | µs per render | × SELECT 1 (range over rounds) |"
puts "|---|---:|---:|---:|"
PER100.each_key do |n|
  lo, hi = spread.call(n, "floor")
  puts format("| %s | %.1f | %.2f | %.1f (%.1f–%.1f) |", PER100[n][0], median(us[n]), median(us[n]) / BATCH,
              ratio.call(n, "floor"), lo, hi)
end
puts
puts "| ratio (median of the rounds' ratios) | measured |"
puts "|---|---:|"
[["pm_render cached / Redis GET", "pg_cached", "redis_get"],
 ["Rails.cache.fetch (Redis) / pm_render cached", "rails_redis", "pg_cached"],
 ["pm_render cache off / cached", "pg_uncached", "pg_cached"],
 ["pm_render cached / MemoryStore hit", "pg_cached", "rails_memory"],
 ["Rails.cache.fetch_multi of 100 / pm_bulk_render of 100", "fetch_multi", "bulk"],
 ["100 single pm_render / one pm_bulk_render of 100", "singles", "bulk"]].each do |label, a, b|
  puts format("| %s | %.2f |", label, ratio.call(a, b))
end
puts
puts "The round-trip floor (SELECT 1) took #{format('%.2f', fl)} µs per call in this run " \
     "(range over the rounds: #{format('%.2f', us['floor'].min)}–#{format('%.2f', us['floor'].max)} µs)."
puts "Rendered texts: #{LENS.min}–#{LENS.max} bytes; checked equal across every variant before timing " \
     "(pm_render cached and uncached, pm_bulk_render, the Ruby renderer, Redis GET, both Rails stores, fetch_multi)."
puts "PostgreSQL and redis-server on unix sockets of the same machine; keys, JSON parameters and requests built before timing."
puts "The Ruby renderer (render in Ruby): HTML comments, __END__, comment lines and fences, [KEYWORD] substitution " \
     "with stored defaults; not //include or other directives."
puts "RedisCacheStore entries zlib-compressed (AS 6.1 default: values of 1 kB or more): #{compressed} of #{N}; " \
     "MemoryStore keeps entry objects, uncompressed, and returns a copy of the value (String#dup)."
puts "Ruby #{RUBY_VERSION}, pg #{PG::VERSION}, redis-rb #{Redis::VERSION}, ActiveSupport #{ActiveSupport::VERSION::STRING}, " \
     "redis-server #{redis.info['redis_version']}, #{pg.exec('SELECT version()').getvalue(0, 0).split(' on ').first}."
