#!/usr/bin/env bash
# make asancheck: the regression and isolation suites (library preloaded)
# against prompt_manager built with AddressSanitizer.
#
#   make asancheck PG_CONFIG=...      (as a user other than root)
#
# PostgreSQL itself is not built with ASan: the extension is, and every
# process of the test servers runs with gcc's ASan runtime LD_PRELOADed
# (children of the postmaster inherit the environment).  So that the
# normal build and install stay untouched, everything happens under one
# temporary directory (ASAN_WORK, default a new /tmp/pm-asan.XXXXXX):
#   src/   a copy of the source tree, built with -fsanitize=address
#   inst/  a copy of the PostgreSQL install (bindir, pkglibdir, sharedir)
#          at the same absolute paths under inst/, into which the ASan build
#          is installed with `make install DESTDIR=inst`; its binaries are
#          relocatable and so load the ASan prompt_manager.so from the copy
#   asan/  the ASan reports (log_path)
# It fails when a suite fails or when any process wrote an ASan report
# ("ERROR: AddressSanitizer"), in asan/ or in a server log.  The directory
# is removed after a clean run, kept (and printed) otherwise.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PG_CONFIG="${PG_CONFIG:-pg_config}"
CC="${ASAN_CC:-gcc}"
start=$(date +%s)

ASAN_LIB="$($CC -print-file-name=libasan.so)"
if [ ! -e "$ASAN_LIB" ]; then
	echo "asancheck: no ASan runtime ($CC -print-file-name=libasan.so gives $ASAN_LIB); on Debian install gcc (libasan8)" >&2
	exit 1
fi
ASAN_LIB="$(readlink -f "$ASAN_LIB")"

WORK="${ASAN_WORK:-$(mktemp -d /tmp/pm-asan.XXXXXX)}"
mkdir -p "$WORK/src" "$WORK/inst" "$WORK/asan"
echo "asancheck: working in $WORK, ASan runtime $ASAN_LIB"

# 1. a copy of the source tree, without build products
(cd "$SRC" && { git ls-files -co --exclude-standard 2>/dev/null || find . -type f ! -path './.git/*'; } | tar -cT - -f -) |
	tar -xf - -C "$WORK/src"

# 2. a copy of the PostgreSQL install, at the same paths under inst/
for d in "$("$PG_CONFIG" --bindir)" "$("$PG_CONFIG" --pkglibdir)" "$("$PG_CONFIG" --sharedir)"; do
	mkdir -p "$WORK/inst$(dirname "$d")"
	cp -a "$d" "$WORK/inst$d"
done
ASAN_PG_CONFIG="$WORK/inst$("$PG_CONFIG" --bindir)/pg_config"

# 3. build with ASan (against the original headers), install into the copy
ASAN_COPT="-fsanitize=address -fno-omit-frame-pointer -g"
make -s -C "$WORK/src" PG_CONFIG="$PG_CONFIG" PM_WERROR=1 COPT="$ASAN_COPT" -j2
make -s -C "$WORK/src" PG_CONFIG="$PG_CONFIG" install DESTDIR="$WORK/inst"
if [ "$(nm -D "$WORK/inst$("$PG_CONFIG" --pkglibdir)/prompt_manager.so" | grep -c __asan_report)" -eq 0 ]; then
	echo "asancheck: the installed prompt_manager.so is not built with ASan" >&2
	exit 1
fi

# 4. the ASan runtime must load into PostgreSQL's own binaries: on Debian 12
# (glibc 2.36, gcc 12 and clang 14 runtimes alike) `postgres -V` hangs in
# bindtextdomain() when the runtime is LD_PRELOADed; stop with that rather
# than hang the suite
if ! timeout 20 env LD_PRELOAD="$ASAN_LIB" ASAN_OPTIONS=detect_leaks=0 \
	"$WORK/inst$("$PG_CONFIG" --bindir)/postgres" -V >/dev/null 2>&1; then
	echo "asancheck: FAILED: postgres -V with LD_PRELOAD=$ASAN_LIB does not finish (a hang in glibc's bindtextdomain); no suite was run (kept $WORK)" >&2
	exit 1
fi

# 5. the suites, every process with the ASan runtime preloaded
export LD_PRELOAD="$ASAN_LIB"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=0:log_path=$WORK/asan/asan"
# each suite on its own, so that a failed regression run still lets the
# isolation specs run under ASan
rc=0
: >"$WORK/suites.log"
for target in regresscheck isolationcheck; do
	make -C "$WORK/src" PG_CONFIG="$ASAN_PG_CONFIG" "$target" PM_CONFIG=preload 2>&1 |
		tee -a "$WORK/suites.log" || rc=$?
done
unset LD_PRELOAD ASAN_OPTIONS

# 6. any ASan report fails the run, whatever the suites said
reports="$(grep -l 'ERROR: AddressSanitizer' "$WORK"/asan/* "$WORK"/src/log/*.log \
	"$WORK"/src/output_iso/log/*.log 2>/dev/null || true)"
tests="$(grep -oE '(All [0-9]+ tests passed|[0-9]+ of [0-9]+ tests failed)' "$WORK/suites.log" |
	paste -sd ',' - || true)"
elapsed=$(( $(date +%s) - start ))
if [ -n "$reports" ]; then
	echo "asancheck: AddressSanitizer reports in:"
	for f in $reports; do
		echo "----- $f"
		grep -A 30 'ERROR: AddressSanitizer' "$f" | head -n 40
	done
	rc=1
fi
n_reports=$(echo -n "$reports" | grep -c . || true)
echo "asancheck: suites ${tests:-?}; $n_reports file(s) with ASan reports; ${elapsed} s"
if [ "$rc" -eq 0 ]; then
	[ -z "${ASAN_WORK:-}" ] && rm -rf "$WORK"
	echo "asancheck: passed"
else
	echo "asancheck: FAILED (kept $WORK)"
fi
exit "$rc"
