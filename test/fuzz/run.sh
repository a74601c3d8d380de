#!/usr/bin/env bash
# test/fuzz/run.sh FUZZER CORPUS_DIR: run the libFuzzer harness of the
# template parser for a bounded time or number of executions, on a copy of
# the seed corpus (the committed corpus is never modified).  Called by
# "make fuzzcheck"; see test/fuzz/README.md.
#
# Environment (the Makefile passes them on):
#   FUZZ_RUNS     executions, 0 = no limit (default 300000)
#   FUZZ_SECONDS  seconds, 0 = no limit (default 0)
#   FUZZ_MAX_LEN  largest input in bytes (default 8192)
#   FUZZ_SEED     random seed, 0 = a new one each run (default 1: CI runs
#                 are reproducible)
#   FUZZ_JOBS     parallel fuzzing processes (default 1)
#   FUZZ_KEEP     1: keep the work directory (the grown corpus) afterwards
#
# The last line is "fuzz: N executions, 0 crashes" on success.  On a crash,
# leak or sanitizer report it says so, names the input that caused it
# (kept in the work directory), and the exit status is 1.
set -euo pipefail

fuzzer="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
corpus="$2"
runs="${FUZZ_RUNS:-300000}"
seconds="${FUZZ_SECONDS:-0}"
max_len="${FUZZ_MAX_LEN:-8192}"
seed="${FUZZ_SEED:-1}"
jobs="${FUZZ_JOBS:-1}"
dict="$(cd "$(dirname "$0")" && pwd)/template.dict"

if [ "$runs" = 0 ] && [ "$seconds" = 0 ]; then
	echo "fuzz: FUZZ_RUNS=0 and FUZZ_SECONDS=0 would run forever; set one of them" >&2
	exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/pm_fuzz.XXXXXX")"
mkdir "$work/corpus" "$work/artifacts"
cp "$corpus"/* "$work/corpus/"
log="$work/fuzz.log"

args=(-max_len="$max_len" -seed="$seed" -dict="$dict"
	-artifact_prefix="$work/artifacts/" -print_final_stats=1
	-detect_leaks=1 -timeout=10 -rss_limit_mb=2048)
[ "$runs" != 0 ] && args+=(-runs="$runs")
[ "$seconds" != 0 ] && args+=(-max_total_time="$seconds")

echo "fuzz: $fuzzer, corpus $corpus ($(find "$corpus" -type f | wc -l) inputs) copied to $work/corpus"
echo "fuzz: runs=$runs seconds=$seconds max_len=$max_len seed=$seed jobs=$jobs"

rc=0
if [ "$jobs" -gt 1 ]; then
	# -jobs: each job writes fuzz-N.log in the current directory
	(cd "$work" && ASAN_OPTIONS=abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		"$fuzzer" "${args[@]}" -jobs="$jobs" -workers="$jobs" "$work/corpus") >"$log" 2>&1 || rc=$?
	cat "$work"/fuzz-*.log >>"$log" 2>/dev/null || true
else
	ASAN_OPTIONS=abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		"$fuzzer" "${args[@]}" "$work/corpus" >"$log" 2>&1 || rc=$?
fi

# executions: the sum of the "Done N runs" lines (one per process), else
# the last "#N" status line
execs="$(awk '/^Done [0-9]+ runs/ { s += $2; n++ } END { if (n) print s }' "$log")"
if [ -z "$execs" ]; then
	execs="$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#' || true)"
fi
execs="${execs:-0}"
artifacts=("$work"/artifacts/*)
[ -e "${artifacts[0]}" ] || artifacts=()

if [ "$rc" -ne 0 ] || [ "${#artifacts[@]}" -gt 0 ] ||
	grep -qE '^==[0-9]+==ERROR|runtime error:|^SUMMARY: (Address|Leak|Undefined)' "$log"; then
	echo "----- end of $log -----"
	tail -n 60 "$log"
	echo "----------------------------------------------------------------"
	for a in "${artifacts[@]}"; do
		echo "fuzz: failing input kept as $a; reproduce with: $fuzzer $a"
	done
	echo "fuzz: work directory kept: $work"
	crashes="${#artifacts[@]}"
	[ "$crashes" -gt 0 ] || crashes=1
	echo "fuzz: $execs executions, $crashes crashes (exit status $rc)"
	exit 1
fi

grep -E '^(stat::|Done|INFO: seed corpus|#[0-9]+ *(INITED|DONE))' "$log" | tail -n 12 || true
if [ "${FUZZ_KEEP:-0}" = 1 ]; then
	echo "fuzz: work directory kept: $work (grown corpus in $work/corpus)"
else
	rm -rf "$work"
fi
echo "fuzz: $execs executions, 0 crashes"
