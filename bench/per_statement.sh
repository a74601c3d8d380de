#!/usr/bin/env bash
# bench/per_statement.sh: what one render costs when every render is a
# statement of its own, as an application calling SELECT pm_render($1, $2)
# through a driver does (each statement a new snapshot, READ COMMITTED).
#
#   bench/per_statement.sh SOCKET_DIR PORT SECONDS ROUNDS
#
# Run by bench/run (as postgres) against its server, which preloads
# pg_stat_statements, after bench/setup.sql: pgbench, one client,
# -M prepared, each statement alone, ROUNDS times in turn.  The figure of
# each is pg_stat_statements' mean_exec_time (inside the server, so the
# client and the network do not count) over SECONDS, after a warm-up of
# PM_BENCH_STATEMENT_WARMUP seconds (default 2) in the same connection, as
# a pooled connection of an application is (a new session first learns,
# once, which version of each prompt it sees); median over the rounds:
#
#   S1    SELECT $1
#   TPL   SELECT pm_render_template(<a constant text of 1 KB, one of the
#         prompts>, $1)                     (served by the shared cache)
#   READ  SELECT content FROM pm_prompts WHERE prompt_id = $1
#   HIT   SELECT pm_render($1, $2)          (served by the shared cache)
#   HIT1  the same, $1 always the same prompt ('7'), as TPL's text is
#         always the same: HIT - HIT1 is what drawing from 1000 renderings
#         costs (the session's copies of them, about 2 MB, are more than
#         the 512 kB of L2 cache a core has on this machine)
#   OFF   the same with prompt_manager.cache = off
#
# and TPL and HIT once more, interleaved in one session (pgbench picks one
# of the two scripts at random for each statement): the machine's speed,
# which drifts between runs, is then the same for both.
#
# $1 is one of 1000 prompts of about 1 KB, drawn at random: copies of
# bench/setup.sql's, with ids '0' to '999' (the numbers pgbench draws),
# removed at the end.
#
# and the goals of issue #11: HIT / TPL at most 1.3, HIT / READ at most 0.6.
set -euo pipefail

DIR="$1"
PORT="$2"
SECONDS_EACH="$3"
ROUNDS="$4"
WARMUP="${PM_BENCH_STATEMENT_WARMUP:-2}"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -U postgres -d postgres)
PARAMS='{"role": "a helpful assistant", "question": "the question", "language": "English", "audience": "developers"}'

"${PSQL[@]}" -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'
# a prompt's text, about 1 KB, as a constant (it holds no quote)
TEMPLATE="$("${PSQL[@]}" -At -c "SELECT content FROM pm_prompts WHERE prompt_id = 'bench/0'")"

printf '%s\n' '\set n random(0, 999)' 'SELECT :n;' >"$DIR/ps_S1.sql"
printf '%s\n' "SELECT pm_render_template('$TEMPLATE', :params::jsonb);" >"$DIR/ps_TPL.sql"
printf '%s\n' '\set n random(0, 999)' 'SELECT content FROM pm_prompts WHERE prompt_id = :n;' >"$DIR/ps_READ.sql"
printf '%s\n' '\set n random(0, 999)' 'SELECT pm_render(:n, :params::jsonb);' >"$DIR/ps_HIT.sql"
printf '%s\n' '\set n 7' 'SELECT pm_render(:n, :params::jsonb);' >"$DIR/ps_HIT1.sql"
cp "$DIR/ps_HIT.sql" "$DIR/ps_OFF.sql"

"${PSQL[@]}" -c "INSERT INTO pm_prompts (prompt_id, content)
	SELECT substr(prompt_id, 7), content FROM pm_prompts WHERE prompt_id ~ '^bench/[0-9]+\$'"
# every prompt rendered once: the cached runs are hits from the start
"${PSQL[@]}" -c "SELECT count(pm_render(g::text, '$PARAMS'::jsonb)) FROM generate_series(0, 999) g" >/dev/null

OUT="$DIR/per_statement.txt"
: >"$OUT"
for r in $(seq 1 "$ROUNDS"); do
	for v in S1 TPL READ HIT HIT1 OFF; do
		options=""
		[ "$v" = OFF ] && options="-c prompt_manager.cache=off"
		env PGOPTIONS="$options" pgbench -n -M prepared -c 1 -j 1 -T "$((WARMUP + SECONDS_EACH + 1))" \
			-h "$DIR" -p "$PORT" -U postgres -D params="$PARAMS" -f "$DIR/ps_$v.sql" postgres >/dev/null 2>&1 &
		pgbench_pid=$!
		sleep "$WARMUP"
		"${PSQL[@]}" -c 'SELECT pg_stat_statements_reset()' >/dev/null
		sleep "$SECONDS_EACH"
		# the statement of the run: the one called most since the reset
		us="$("${PSQL[@]}" -At -c 'SELECT mean_exec_time * 1000 FROM pg_stat_statements ORDER BY calls DESC LIMIT 1')"
		wait "$pgbench_pid"
		echo "$v $us" >>"$OUT"
	done
	pgbench -n -M prepared -c 1 -j 1 -T "$((WARMUP + SECONDS_EACH + 1))" \
		-h "$DIR" -p "$PORT" -U postgres -D params="$PARAMS" \
		-f "$DIR/ps_TPL.sql" -f "$DIR/ps_HIT.sql" postgres >/dev/null 2>&1 &
	pgbench_pid=$!
	sleep "$WARMUP"
	"${PSQL[@]}" -c 'SELECT pg_stat_statements_reset()' >/dev/null
	sleep "$SECONDS_EACH"
	"${PSQL[@]}" -At -F ' ' -c "SELECT CASE WHEN query LIKE '%pm_render_template%' THEN 'MIXTPL' ELSE 'MIXHIT' END, mean_exec_time * 1000
		FROM pg_stat_statements WHERE query LIKE '%pm_render%' AND query NOT LIKE '%pg_stat_statements%'" >>"$OUT"
	wait "$pgbench_pid"
done

"${PSQL[@]}" -c "DELETE FROM pm_prompts WHERE prompt_id ~ '^[0-9]+\$'"

python3 - "$OUT" "$ROUNDS" "$SECONDS_EACH" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    k, v = line.split()
    runs[k].append(float(v))
m = {k: statistics.median(v) for k, v in runs.items()}
print(f"| one statement per render (pgbench -M prepared, 1 client, {sys.argv[3]} s each after a warm-up, median of {sys.argv[2]}) | µs, mean_exec_time |")
print("|---|---:|")
names = [("S1", "SELECT $1"),
         ("TPL", "SELECT pm_render_template(<1 KB constant>, $1), cached"),
         ("READ", "SELECT content FROM pm_prompts WHERE prompt_id = $1"),
         ("HIT", "SELECT pm_render($1, $2), cached"),
         ("HIT1", "the same, always one prompt, cached"),
         ("OFF", "SELECT pm_render($1, $2), cache off")]
for k, name in names:
    print(f"| {name} | {m[k]:.2f} |")
print()
print("| ratio | measured | target |")
print("|---|---:|---|")
print(f"| cached pm_render / pm_render_template | {m['HIT'] / m['TPL']:.2f} | at most 1.3 |")
print(f"| cached pm_render / primary-key read | {m['HIT'] / m['READ']:.2f} | at most 0.6 |")
print(f"| the same, always one prompt / pm_render_template | {m['HIT1'] / m['TPL']:.2f} | |")
print(f"| cached pm_render / pm_render_template, interleaved in one session | {m['MIXHIT'] / m['MIXTPL']:.2f} | |")
PY
