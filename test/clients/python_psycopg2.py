#!/usr/bin/python3
# prompt_manager from Python with psycopg2, directly and through pgbouncer
# (transaction pooling).  Started by test/clients/run, which sets:
#   PM_SOCKET_DIR    the unix socket directory of the server and of pgbouncer
#   PM_PG_PORT       the server's port
#   PM_BOUNCER_PORT  pgbouncer's port
#   PM_DB, PM_USER   the database and the role
# Prints one "ok - ..." or "not ok - ..." line per check, then
# "# done: N passed, M failed"; exits 1 when a check failed.
import json
import os
import sys
import time

import psycopg2
import psycopg2.errors

SOCKET = os.environ["PM_SOCKET_DIR"]
TARGETS = [("direct", int(os.environ["PM_PG_PORT"])),
           ("pgbouncer", int(os.environ["PM_BOUNCER_PORT"]))]
DB = os.environ["PM_DB"]
USER = os.environ["PM_USER"]

# Values that would break SQL built by concatenation, a keyword and a
# directive: all are data, inserted as they are.
NAME = "O'Brien \"Bob\" [PLACE] $1 \\1; DROP TABLE pm_prompts; --"
PLACE = "Zoë's café 🚀\n//include clients/footer"
GREET = "Hello " + NAME + ", welcome to " + PLACE + "."
LETTER = "Dear Ada,\n-- the team"
STRICT = "Dear [TITLE] Lee"
MISSING = 'prompt "clients/nowhere" does not exist'
POOLED_CLIENTS = 3

passed = 0
failed = 0


def check(ok, what, got=None, expected=None):
    global passed, failed
    if ok:
        passed += 1
        print("ok - " + what)
    else:
        failed += 1
        print("not ok - " + what)
        print("#   got:      %r" % (got,))
        print("#   expected: %r" % (expected,))
    sys.stdout.flush()


def check_eq(got, expected, what):
    check(got == expected, what, got, expected)


def connect(port):
    return psycopg2.connect(host=SOCKET, port=port, dbname=DB, user=USER)


def render(cur, prompt_id, params):
    cur.execute("SELECT pm_render(%s, %s::jsonb)", (prompt_id, json.dumps(params)))
    return cur.fetchone()[0]


def run_target(label, port):
    conn = connect(port)
    cur = conn.cursor()
    t = "[%s] " % label

    check_eq(render(cur, "clients/greet", {"name": NAME, "place": PLACE}), GREET,
             t + "pm_render with bind values gives the exact text")
    check_eq(render(cur, "clients/letter", {"name": "Ada"}), LETTER,
             t + "//include and a stored default")
    check_eq(render(cur, "clients/strict", {"name": "Lee"}), STRICT,
             t + "a keyword without a value is kept")
    conn.commit()

    # A missing prompt: SQLSTATE 42704 in e.pgcode.
    try:
        render(cur, "clients/nowhere", {})
        check(False, t + "a missing prompt raises", "no error", "42704")
    except psycopg2.Error as e:
        conn.rollback()
        check_eq(e.pgcode, "42704", t + "missing prompt: e.pgcode is 42704")
        check_eq((type(e).__name__, e.diag.message_primary),
                 ("UndefinedObject", MISSING),
                 t + "missing prompt: psycopg2.errors.UndefinedObject and its message")

    # The id is a bind value too: quotes in it are data.
    try:
        render(cur, "x'; DROP TABLE pm_prompts; --", {})
        check(False, t + "an id with quotes is looked up", "no error", "42704")
    except psycopg2.Error as e:
        conn.rollback()
        check_eq(e.pgcode, "42704", t + "an id with quotes is looked up as data (42704)")

    # A PM code (no condition name) comes through as it is.
    try:
        cur.execute("SET LOCAL prompt_manager.missing_parameter = error")
        render(cur, "clients/strict", {"name": "Lee"})
        check(False, t + "missing_parameter = error raises", "no error", "PM003")
    except psycopg2.Error as e:
        conn.rollback()
        # no class of its own: psycopg2 files every code of a class that
        # starts with P (PL/pgSQL's P0) under InternalError
        check_eq((type(e).__name__, e.pgcode), ("InternalError", "PM003"),
                 t + "missing_parameter = error: psycopg2.InternalError, e.pgcode is PM003")

    check_eq(render(cur, "clients/letter", {"name": "Ada"}), LETTER,
             t + "the connection renders again after the errors")
    conn.commit()

    # pm_bulk_render with the requests as one bound jsonb array.
    requests = [
        {"prompt_id": "clients/greet", "parameters": {"name": NAME, "place": PLACE}},
        {"prompt_id": "clients/letter", "parameters": {"name": "Ada"}},
        {"prompt_id": "clients/nowhere"},
        {"prompt_id": "clients/strict", "parameters": {"name": "Lee"}},
    ]
    cur.execute("SELECT ord, prompt_id, ok, result, error, sqlstate "
                "FROM pm_bulk_render(%s::jsonb) ORDER BY ord", (json.dumps(requests),))
    rows = cur.fetchall()
    conn.commit()
    expected = [
        (1, "clients/greet", True, GREET, None, None),
        (2, "clients/letter", True, LETTER, None, None),
        (3, "clients/nowhere", False, None, MISSING, "42704"),
        (4, "clients/strict", True, STRICT, None, None),
    ]
    check_eq([r[2] for r in rows], [True, True, False, True], t + "pm_bulk_render: ok flags of 4 rows")
    for got, exp in zip(rows, expected):
        check_eq(tuple(got), exp, t + "pm_bulk_render: row %d (%s)" % (exp[0], exp[1]))
    conn.close()


def cache_hits(cur):
    cur.execute("SELECT hits FROM pm_cache")
    return cur.fetchone()[0]


def run_pooled():
    """Several clients through pgbouncer, each in a transaction held open at
    the same time (so on different server backends), render one prompt that
    a direct connection has just cached: each render is a hit of the shared
    cache, counted in pm_cache, read from the direct connection."""
    t = "[pgbouncer pooled] "
    params = {"name": "pooled", "place": "psycopg2"}
    expected = "Hello pooled, welcome to psycopg2."
    direct = connect(TARGETS[0][1])
    direct.autocommit = True
    dcur = direct.cursor()
    check_eq(render(dcur, "clients/greet", params), expected, t + "rendered once directly (cached)")
    dcur.execute("SELECT pg_backend_pid()")
    direct_pid = dcur.fetchone()[0]
    before = cache_hits(dcur)

    clients = [connect(TARGETS[1][1]) for _ in range(POOLED_CLIENTS)]
    results = []
    for c in clients:
        cur = c.cursor()  # psycopg2 opens a transaction: held until commit
        cur.execute("SELECT pm_render(%s, %s::jsonb), pg_backend_pid()",
                    ("clients/greet", json.dumps(params)))
        results.append(cur.fetchone())
    for c in clients:
        c.commit()
        c.close()
    after = cache_hits(dcur)
    direct.close()

    check_eq([r[0] for r in results], [expected] * POOLED_CLIENTS,
             t + "%d pooled clients render the same text" % POOLED_CLIENTS)
    pids = set(r[1] for r in results)
    check(len(pids) == POOLED_CLIENTS and direct_pid not in pids,
          t + "served by %d different server backends, none the direct one" % POOLED_CLIENTS,
          sorted(pids), "%d pids other than %d" % (POOLED_CLIENTS, direct_pid))
    check_eq(after - before, POOLED_CLIENTS,
             t + "pm_cache.hits grew by %d (the shared cache served every backend)" % POOLED_CLIENTS)


def wait_for_server(port, seconds=30):
    """After a server crash: wait until it accepts connections again, so
    that the next scripts are not hit by its recovery."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            connect(port).close()
            return
        except psycopg2.OperationalError:
            time.sleep(0.2)


def stream(conn, requests, fetch):
    """Fetch pm_bulk_render's rows through a server-side cursor, `fetch` rows
    at a time, with a render that misses the cache after each fetch, and
    commit."""
    named = conn.cursor("pm_bulk_stream")
    named.execute("SELECT (b).ord, (b).ok, (b).result, (b).sqlstate "
                  "FROM (SELECT pm_bulk_render(%s::jsonb) AS b) s", (json.dumps(requests),))
    other = conn.cursor()
    rows = []
    while True:
        got = named.fetchmany(fetch)
        if not got:
            break
        rows.extend(got)
        other.execute("SELECT pm_render(%s, %s::jsonb)",
                      ("clients/letter", json.dumps({"name": "between %d %s" % (len(rows), time.time())})))
        other.fetchone()
    conn.commit()
    return rows


def run_cursor():
    """Stream pm_bulk_render through a server-side (named) cursor, in the
    SELECT-list form that README.md recommends for very many requests, with
    other renders (cache misses) on the same connection between fetches,
    then commit: the executor ends the cursor's query only at the commit,
    after the function has returned its last row."""
    port = TARGETS[0][1]
    many = []
    for i in range(300):
        many.append({"prompt_id": "clients/greet", "parameters": {"name": "n%d" % i, "place": "p"}})
        if i % 100 == 0:
            many.append({"prompt_id": "clients/nowhere", "parameters": {"x": i}})
    cases = [
        ("1 request (a missing prompt), fetched at once", [{"prompt_id": "clients/nowhere", "parameters": {"x": 0}}], 7),
        ("2 requests, one a time", [{"prompt_id": "clients/strict", "parameters": {"name": "Lee"}},
                                     {"prompt_id": "clients/nowhere"}], 1),
        ("%d requests in batches of 50" % len(many), many, 50),
    ]
    for what, requests, fetch in cases:
        t = "[direct server-side cursor] %s: " % what
        conn = connect(port)
        try:
            rows = stream(conn, requests, fetch)
            outcome = "committed"
        except psycopg2.OperationalError as e:
            rows = None
            outcome = str(e).strip().splitlines()[0]
            wait_for_server(port)
        finally:
            if not conn.closed:
                conn.close()
        check(outcome == "committed", t + "the transaction commits and the server stays up",
              outcome, "committed")
        if rows is not None:
            expected = [r["prompt_id"] != "clients/nowhere" for r in requests]
            check_eq([r[1] for r in rows], expected, t + "one row per request, ok flags in order")


def main():
    print("# psycopg2 %s" % psycopg2.__version__)
    for label, port in TARGETS:
        run_target(label, port)
    run_pooled()
    run_cursor()
    print("# done: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
