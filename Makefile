# prompt_manager: PostgreSQL extension (PGXS build)
#
#   make && make install              build and install (install needs root)
#   make installcheck                 regression and isolation suites on
#                                     private servers, library preloaded
#   make installcheck PM_CONFIG=nopreload   the regression suite without preloading
#   make regresscheck, make isolationcheck  each of the two suites alone
#   make parallelcheck                the regression suite (preloaded) with
#                                     queries run in parallel workers
#   make tapcheck                     TAP tests (pg_dump round trip, ...)
#   make unitcheck                    unit tests of the plain-C parser
#   make fuzzcheck                    fuzz the parser (libFuzzer, clang)
#   make asancheck                    regression and isolation suites against
#                                     the extension built with AddressSanitizer
#                                     (test/asan/run.sh; not root)
#   make doccheck                     the SQL examples of README.md and docs/
#                                     against the installed extension
#
# tools/test runs them; see docs/development.md.

EXTENSION = prompt_manager
EXTVERSION = 0.2.0

MODULE_big = prompt_manager
OBJS = \
	src/prompt_manager.o \
	src/pm_settings.o \
	src/pm_template.o \
	src/pm_params.o \
	src/pm_ref.o \
	src/pm_storage.o \
	src/pm_visibility.o \
	src/pm_writes.o \
	src/pm_cache.o \
	src/pm_template_cache.o \
	src/pm_render.o \
	src/pm_request.o \
	src/pm_bulk.o \
	src/pm_stats.o \
	src/pm_preload.o \
	src/pm_guard.o \
	src/pm_refs.o \
	src/pm_versions.o \
	src/pm_functions.o

DATA = sql/prompt_manager--0.1.0.sql sql/prompt_manager--0.1.0--0.2.0.sql
PGFILEDESC = "prompt_manager - prompt templates stored and rendered in PostgreSQL"

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare
ifdef PM_WERROR
PG_CFLAGS += -Werror
endif
SHLIB_LINK = -lxxhash

# The regression suite runs twice, on a private server each time: with the
# library preloaded (PM_CONFIG=preload) and without (PM_CONFIG=nopreload);
# parallelcheck runs it a third time, preloaded, with every query that may
# run in parallel mode run by a parallel worker (PM_CONFIG=parallel).
PM_CONFIG ?= preload
PM_PRELOADED = $(filter preload parallel,$(PM_CONFIG))
REGRESS = setup table format keywords directives includes settings errors \
	privileges extension conformance operations procedure badinput security hostile_path handler settings_limits \
	revision_bytes drop_guard unknown_keys refs versions \
	config_$(if $(PM_PRELOADED),preload,$(PM_CONFIG)) \
	$(if $(PM_PRELOADED),cache stats search badinput_preload security_preload stats_hostile parallel per_statement)
REGRESS_OPTS = --temp-instance=$(CURDIR)/tmp_check_$(PM_CONFIG) \
	--temp-config=$(if $(filter parallel,$(PM_CONFIG)),$(CURDIR)/parallel.conf,$(srcdir)/test/$(PM_CONFIG).conf)
ifeq ($(PM_CONFIG),parallel)
REGRESS_PREP = parallel.conf
endif

# Isolation tests of the shared render cache (test/isolation/specs), with
# the library preloaded only.  ":=" so that ISOLATION is really empty, and
# PGXS runs no isolation step at all, with PM_CONFIG=nopreload.
ISOLATION := $(if $(filter preload,$(PM_CONFIG)),cache_commit cache_txn cache_snapshot cache_missing cache_privileges cache_revision_bytes refs_labels labels_moves statement_proof statement_restore)
ISOLATION_OPTS = --inputdir=$(srcdir)/test/isolation \
	--temp-instance=$(CURDIR)/tmp_check_iso \
	--temp-config=$(srcdir)/test/preload.conf

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The two suites of installcheck one at a time, so that a failure of one
# never keeps the other from running (tools/test runs and reports each).
.PHONY: regresscheck isolationcheck
regresscheck: submake $(REGRESS_PREP)
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)

# test/preload.conf plus the setting that runs a query in a parallel worker
# whenever it may (its name changed in 16), for PM_CONFIG=parallel.
.PHONY: parallelcheck parallel.conf
parallel.conf: $(srcdir)/test/preload.conf
	{ cat $(srcdir)/test/preload.conf; \
	  echo "$(if $(filter 15,$(MAJORVERSION)),force_parallel_mode,debug_parallel_query) = regress"; } > $@

parallelcheck:
	$(MAKE) regresscheck PM_CONFIG=parallel

isolationcheck: submake
ifdef ISOLATION
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)
else
	@echo "isolationcheck: no isolation tests with PM_CONFIG=$(PM_CONFIG) (they need the library preloaded)"
endif

# PGXS tracks no header dependencies: rebuild every object when a header
# of ours changes (a changed struct must never meet an old object file).
$(OBJS): $(wildcard $(srcdir)/src/*.h)

# The command-line program prompt_manager (cli/prompt_manager.c: import and
# export of a PromptManager gem prompts_dir), a libpq client built with
# explicit rules (PGXS takes one PROGRAM or one MODULE_big, not both) and
# installed into pg_config's bindir.
PM_CLI = cli/prompt_manager
all: $(PM_CLI)
$(PM_CLI): cli/prompt_manager.c
	$(CC) $(CFLAGS) $(PG_CFLAGS) -I$(shell $(PG_CONFIG) --includedir) -o $@ $< \
		-L$(shell $(PG_CONFIG) --libdir) $(LDFLAGS) -lpq
.PHONY: install-cli uninstall-cli
install: install-cli
install-cli: $(PM_CLI)
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) $(PM_CLI) '$(DESTDIR)$(bindir)/prompt_manager'
uninstall: uninstall-cli
uninstall-cli:
	rm -f '$(DESTDIR)$(bindir)/prompt_manager'

# TAP tests (test/t/*.pl), against servers they start themselves.
PROVE_TESTS = test/t/*.pl
.PHONY: tapcheck unitcheck fuzzcheck asancheck
tapcheck:
	$(prove_installcheck)

# Unit tests of the parser, built without the server.
UNIT_CFLAGS = -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare
test/unit/test_template: test/unit/test_template.c test/unit/template_decode.h src/pm_template.c src/pm_template.h
	$(CC) $(UNIT_CFLAGS) -I$(srcdir)/src -o $@ test/unit/test_template.c src/pm_template.c -lxxhash

unitcheck: test/unit/test_template
	test/unit/test_template

# Fuzzing the parser with libFuzzer and the address and undefined-behaviour
# sanitizers (Debian: clang and libclang-rt-14-dev).  fuzzcheck runs a
# bounded number of executions on a copy of test/fuzz/corpus; see
# test/fuzz/README.md to run it longer (FUZZ_RUNS=0 FUZZ_SECONDS=600).
FUZZ_CC = clang
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror \
	-Wno-unused-parameter -Wno-sign-compare \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_RUNS = 300000
FUZZ_SECONDS = 0
FUZZ_MAX_LEN = 8192
FUZZ_SEED = 1
FUZZ_JOBS = 1
test/fuzz/fuzz_template: test/fuzz/fuzz_template.c test/unit/template_decode.h src/pm_template.c src/pm_template.h
	$(FUZZ_CC) $(FUZZ_CFLAGS) -I$(srcdir)/src -I$(srcdir)/test/unit -o $@ test/fuzz/fuzz_template.c src/pm_template.c

fuzzcheck: test/fuzz/fuzz_template
	FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_MAX_LEN=$(FUZZ_MAX_LEN) \
		FUZZ_SEED=$(FUZZ_SEED) FUZZ_JOBS=$(FUZZ_JOBS) \
		$(srcdir)/test/fuzz/run.sh test/fuzz/fuzz_template $(srcdir)/test/fuzz/corpus

# The regression and isolation suites (library preloaded) against the
# extension built with -fsanitize=address, in a copy of the tree installed
# into a copy of the PostgreSQL install, every server process running with
# gcc's ASan runtime LD_PRELOADed; an ASan report fails it (test/asan/run.sh).
asancheck:
	PG_CONFIG=$(PG_CONFIG) $(srcdir)/test/asan/run.sh

EXTRA_CLEAN = tmp_check_preload tmp_check_nopreload tmp_check_parallel parallel.conf test/unit/test_template test/fuzz/fuzz_template results regression.diffs regression.out \
	tmp_check_iso output_iso cli/prompt_manager

# The SQL examples of README.md and docs/*.md, run on a throw-away server
# and compared with the output the documents show (tools/doccheck).
.PHONY: doccheck
doccheck:
	$(srcdir)/tools/doccheck --pg-config=$(PG_CONFIG)
