# shellcheck shell=bash
# tools/common.sh: shared functions for tools/test and tools/demo.
#
# Source it from a bash script that runs with `set -euo pipefail`:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/common.sh"
#
# The scripts build and test against one PostgreSQL, the one of
# PM_PG_CONFIG: by default Debian 12's PostgreSQL 15 (its packages are
# installed when missing); tools/test --pg 18 points it at a build of
# tools/build-pg.  They work from a fresh machine: as root (CI, a new
# container), or as a user who has sudo.
# initdb and postgres refuse to run as root, so when run as root every
# build and test step runs as the `postgres` user (created by the
# postgresql-common package) in a copy of the source tree that it owns.
#
# Environment knobs:
#   PM_PG_CONFIG   pg_config to build against (default
#                  /usr/lib/postgresql/$PM_PG_MAJOR/bin/pg_config); its
#                  version sets PM_PG_MAJOR
#   PM_PG_MAJOR    the Debian package's major version when PM_PG_CONFIG is
#                  not set (default PM_DEBIAN_PG_MAJOR, below)
#   PM_LOCALE      locale of the build and test processes (default C.UTF-8)
#   PM_JOBS        parallel make jobs (default: nproc)

pm_log() {
	printf '==> %s\n' "$*" >&2
}

pm_die() {
	printf 'ERROR: %s\n' "$*" >&2
	exit 1
}

# pm_pg_major_of PG_CONFIG: the major version of that pg_config: asked when
# it runs, else read from a Debian path (/usr/lib/postgresql/N/bin/...).
pm_pg_major_of() {
	local v
	if [ -x "$1" ] && v="$("$1" --version 2>/dev/null)"; then
		v="${v#PostgreSQL }"
		printf '%s\n' "${v%%[!0-9]*}"
	elif [[ "$1" =~ ^/usr/lib/postgresql/([0-9]+)/bin/pg_config$ ]]; then
		printf '%s\n' "${BASH_REMATCH[1]}"
	else
		return 1
	fi
}

# pm_use_pg_config PG_CONFIG: make it the PostgreSQL of what follows
# (PM_PG_CONFIG, PM_PG_MAJOR, PM_PG_BINDIR, and the packages it needs).
pm_use_pg_config() {
	PM_PG_CONFIG="$1"
	PM_PG_MAJOR="$(pm_pg_major_of "$PM_PG_CONFIG")" ||
		pm_die "cannot tell the PostgreSQL version of $PM_PG_CONFIG (it does not run)"
	PM_PG_BINDIR="$(dirname "$PM_PG_CONFIG")"
	# libio-pty-perl: IPC::Run recommends it (PostgreSQL::Test::Cluster's
	# interactive_psql needs it); named here since we skip recommended
	# packages.  clang and libclang-rt-14-dev (libFuzzer and the
	# sanitizers' runtimes, which clang only recommends): make fuzzcheck.
	PM_PACKAGES=(libxxhash-dev libpq-dev python3 libipc-run-perl libio-pty-perl make gcc clang libclang-rt-14-dev)
	if [[ "$PM_PG_CONFIG" == "/usr/lib/postgresql/$PM_PG_MAJOR/bin/pg_config" ]]; then
		# Debian's own PostgreSQL: its server and development packages.
		PM_PACKAGES=("postgresql-$PM_PG_MAJOR" "postgresql-server-dev-$PM_PG_MAJOR" "${PM_PACKAGES[@]}")
	else
		# A build of our own (tools/build-pg): only the postgres user.
		PM_PACKAGES=(postgresql-common "${PM_PACKAGES[@]}")
	fi
}

# The PostgreSQL that Debian 12 packages (the others: tools/build-pg).
PM_DEBIAN_PG_MAJOR=15
pm_use_pg_config "${PM_PG_CONFIG:-/usr/lib/postgresql/${PM_PG_MAJOR:-$PM_DEBIAN_PG_MAJOR}/bin/pg_config}"
PM_LOCALE="${PM_LOCALE:-C.UTF-8}"
PM_JOBS="${PM_JOBS:-$(nproc 2>/dev/null || echo 2)}"

# The repository root (the directory above tools/).
PM_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

pm_is_root() {
	[ "$(id -u)" -eq 0 ]
}

# pm_as_root CMD...: run CMD as root: directly when we are root, through
# sudo when it is installed, else fail with a clear message.
pm_as_root() {
	if pm_is_root; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -- "$@"
	else
		pm_die "'$*' needs root: run this script as root, or install sudo"
	fi
}

# pm_install_packages [PKG...]: install the Debian packages PKG (default:
# PM_PACKAGES, what the build and the tests need), only those missing (so a
# second run neither updates the package lists nor touches the network).
# shellcheck disable=SC2120  # called with no arguments for PM_PACKAGES
pm_install_packages() {
	local missing=() p pkgs=("$@")
	[ "${#pkgs[@]}" -gt 0 ] || pkgs=("${PM_PACKAGES[@]}")
	for p in "${pkgs[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	if [ "${#missing[@]}" -eq 0 ]; then
		pm_log "packages: all present (${pkgs[*]})"
		return 0
	fi
	command -v apt-get >/dev/null 2>&1 ||
		pm_die "missing packages ${missing[*]}, and apt-get is not available (this needs Debian 12)"
	if ! pm_is_root && ! command -v sudo >/dev/null 2>&1; then
		pm_die "missing packages ${missing[*]}: run this script as root, or install sudo (or install them yourself)"
	fi
	pm_log "packages: installing ${missing[*]}"
	pm_as_root env DEBIAN_FRONTEND=noninteractive apt-get -qq update ||
		pm_die "apt-get update failed"
	# stdin from /dev/null: nothing may ever wait for an answer (CI has no stdin).
	pm_as_root env DEBIAN_FRONTEND=noninteractive apt-get -qq -y \
		-o Dpkg::Use-Pty=0 --no-install-recommends install "${missing[@]}" </dev/null >/dev/null ||
		pm_die "apt-get install ${missing[*]} failed"
	[ "$#" -gt 0 ] || [ -x "$PM_PG_CONFIG" ] || pm_die "$PM_PG_CONFIG not found after installing packages"
	pm_log "packages: done"
}

# pm_apt_archive_uri: the address of the Debian archive that the machine's
# own apt configuration uses for this release (one-line lists and deb822
# .sources files alike: apt itself reads them), e.g. for a deb-src entry
# of another suite.  No address is written into the repository.
pm_apt_archive_uri() {
	local codename uri
	codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
	[ -n "$codename" ] || pm_die "no VERSION_CODENAME in /etc/os-release"
	# shellcheck disable=SC2016  # $(REPO_URI) is apt's, not the shell's
	uri="$(apt-get indextargets --format '$(REPO_URI)' "Codename: $codename" "Origin: Debian" \
		"Component: main" 2>/dev/null | head -n 1)"
	[ -n "$uri" ] || pm_die "apt has no Debian archive for $codename main (see /etc/apt/sources.list.d)"
	printf '%s\n' "${uri%/}"
}

# pm_apt_private DIR TYPE SUITE COMPONENT: set PM_APT_PRIVATE to an apt-get
# command line that knows only the entry "TYPE <archive> SUITE COMPONENT",
# with its sources list, package lists and cache in DIR, and run its
# "update".  The machine's apt (/etc/apt, /var/lib/apt) is left as it was:
# nothing is added to its sources, and its package lists are not cleaned.
pm_apt_private() {
	local dir="$1" type="$2" suite="$3" component="$4" uri keyring=""
	uri="$(pm_apt_archive_uri)"
	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/sources.list.d"
	[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] &&
		keyring=" [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]"
	printf '%s%s %s %s %s\n' "$type" "$keyring" "$uri" "$suite" "$component" >"$dir/sources.list"
	PM_APT_PRIVATE=(env DEBIAN_FRONTEND=noninteractive apt-get
		-o Dir::Etc::sourcelist="$dir/sources.list"
		-o Dir::Etc::sourceparts="$dir/sources.list.d"
		-o Dir::State::Lists="$dir/lists"
		-o Dir::Cache="$dir/cache"
		-o APT::Sandbox::User=root
		-o Dpkg::Use-Pty=0)
	pm_log "apt: $type $suite $component (private lists in $dir)"
	pm_as_root "${PM_APT_PRIVATE[@]}" -qq update </dev/null ||
		pm_die "apt-get update of $suite failed"
}

# pm_check_postgres_user: when root, the `postgres` user must exist.
pm_check_postgres_user() {
	if pm_is_root && ! id postgres >/dev/null 2>&1; then
		pm_die "user 'postgres' does not exist (it comes with the postgresql-common package)"
	fi
}

# pm_as_postgres CMD...: run CMD as the postgres user when we are root, else
# as ourselves.  It runs from /tmp (a directory postgres can enter: initdb
# and pg_ctl fail when the current directory is unreadable, e.g. /root),
# with a predictable locale and a PATH that starts with PostgreSQL's bindir.
pm_as_postgres() {
	local path="$PM_PG_BINDIR:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	if pm_is_root; then
		pm_check_postgres_user
		(cd /tmp && runuser -u postgres -- env PATH="$path" LANG="$PM_LOCALE" LC_ALL="$PM_LOCALE" \
			HOME="$(getent passwd postgres | cut -d: -f6)" "$@")
	else
		(cd /tmp && env PATH="$path:$PATH" LANG="$PM_LOCALE" LC_ALL="$PM_LOCALE" "$@")
	fi
}

# pm_stage_tree [SRC]: copy the source tree (default: this repository) into
# a fresh temporary directory and print its path.  In a git checkout only
# the tracked files and the untracked ones that are not ignored are copied
# (no build products, no .git); otherwise everything is, with cp -a.  When
# we are root the copy is chowned to postgres.
pm_stage_tree() {
	local src="${1:-$PM_REPO_ROOT}" dest
	dest="$(mktemp -d "${TMPDIR:-/tmp}/prompt_manager.XXXXXX")"
	chmod 755 "$dest"
	# safe.directory: read a checkout that another user owns, too.
	if command -v git >/dev/null 2>&1 &&
		[ "$(git -c safe.directory='*' -C "$src" rev-parse --show-toplevel 2>/dev/null)" = "$(cd "$src" && pwd -P)" ]; then
		# Tracked files deleted from the work tree are skipped.
		(cd "$src" && git -c safe.directory='*' ls-files -z -co --exclude-standard |
			while IFS= read -r -d '' f; do
				if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
			done |
			tar --null -T - -cf -) | tar -xf - -C "$dest"
	else
		cp -a "$src/." "$dest/"
		rm -rf "$dest/.git"
	fi
	if pm_is_root; then
		pm_check_postgres_user
		chown -R postgres: "$dest"
	fi
	pm_log "staged $src into $dest"
	printf '%s\n' "$dest"
}

# pm_build_install DIR [LOG]: build the extension in DIR (as postgres, with
# -Werror), then install it (as root).  With LOG, the compiler's output goes
# to that file, and only its end is shown if the build fails.
pm_build_install() {
	local dir="$1" log="${2:-}"
	[ -f "$dir/Makefile" ] || pm_die "pm_build_install: no Makefile in $dir"
	pm_log "build: make PM_WERROR=1 in $dir"
	if [ -n "$log" ]; then
		if ! pm_as_postgres make -C "$dir" -j"$PM_JOBS" PG_CONFIG="$PM_PG_CONFIG" PM_WERROR=1 >"$log" 2>&1; then
			tail -n 40 "$log" >&2
			pm_log "build failed (full output: $log)"
			return 1
		fi
	else
		pm_as_postgres make -C "$dir" -j"$PM_JOBS" PG_CONFIG="$PM_PG_CONFIG" PM_WERROR=1 ||
			{ pm_log "build failed"; return 1; }
	fi
	pm_log "install: make install (as root)"
	pm_as_root make -C "$dir" PG_CONFIG="$PM_PG_CONFIG" PM_WERROR=1 install >/dev/null ||
		{ pm_log "make install failed"; return 1; }
	# make install runs as root in the tree: give anything it wrote back.
	if pm_is_root; then
		chown -R postgres: "$dir"
	fi
	pm_log "installed into $("$PM_PG_CONFIG" --sharedir)/extension and $("$PM_PG_CONFIG" --pkglibdir)"
}
