#!/usr/bin/python3
# prompt_manager from Python with SQLAlchemy (raw text() queries over
# psycopg2), directly and through pgbouncer (transaction pooling).  Started
# by test/clients/run, which sets PM_SOCKET_DIR, PM_PG_PORT,
# PM_BOUNCER_PORT, PM_DB and PM_USER.  Prints one "ok - ..." or
# "not ok - ..." line per check, then "# done: N passed, M failed"; exits 1
# when a check failed.
import json
import os
import sys

import sqlalchemy
from sqlalchemy import create_engine, exc, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

SOCKET = os.environ["PM_SOCKET_DIR"]
TARGETS = [("direct", os.environ["PM_PG_PORT"]),
           ("pgbouncer", os.environ["PM_BOUNCER_PORT"])]
DB = os.environ["PM_DB"]
USER = os.environ["PM_USER"]

NAME = "O'Brien \"Bob\" [PLACE] $1 \\1; DROP TABLE pm_prompts; --"
PLACE = "Zoë's café 🚀\n//include clients/footer"
GREET = "Hello " + NAME + ", welcome to " + PLACE + "."
LETTER = "Dear Ada,\n-- the team"
STRICT = "Dear [TITLE] Lee"
MISSING = 'prompt "clients/nowhere" does not exist'
POOLED_CLIENTS = 3

# CAST(:params AS jsonb), not :params::jsonb: text() does not take a bind
# name followed by "::".
RENDER = text("SELECT pm_render(:id, CAST(:params AS jsonb))")
BULK = text("SELECT ord, prompt_id, ok, result, error, sqlstate "
            "FROM pm_bulk_render(CAST(:requests AS jsonb)) ORDER BY ord")

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


def engine_for(port, pooled):
    url = URL.create("postgresql+psycopg2", username=USER, database=DB,
                     query={"host": SOCKET, "port": port})
    # Behind pgbouncer the application's own pool is usually turned off.
    if pooled:
        return create_engine(url, future=True, poolclass=NullPool)
    return create_engine(url, future=True)


def render(conn, prompt_id, params):
    return conn.execute(RENDER, {"id": prompt_id, "params": json.dumps(params)}).scalar_one()


# As in README.md, "Calling it from an ORM": an ORM Session.
def render_prompt(session, prompt_id, params=None):
    return session.execute(
        text("SELECT pm_render(:id, CAST(:params AS jsonb))"),
        {"id": prompt_id, "params": json.dumps(params or {})},
    ).scalar_one()


def run_target(label, port):
    engine = engine_for(port, label == "pgbouncer")
    t = "[%s] " % label
    with engine.connect() as conn:
        check_eq(render(conn, "clients/greet", {"name": NAME, "place": PLACE}), GREET,
                 t + "pm_render with bind values gives the exact text")
        check_eq(render(conn, "clients/letter", {"name": "Ada"}), LETTER,
                 t + "//include and a stored default")
        check_eq(render(conn, "clients/strict", {"name": "Lee"}), STRICT,
                 t + "a keyword without a value is kept")
        conn.commit()

        # A missing prompt: SQLSTATE 42704 in e.orig.pgcode.
        try:
            render(conn, "clients/nowhere", {})
            check(False, t + "a missing prompt raises", "no error", "42704")
        except exc.DBAPIError as e:
            conn.rollback()
            check_eq(e.orig.pgcode, "42704", t + "missing prompt: e.orig.pgcode is 42704")
            check_eq((type(e).__name__, e.orig.diag.message_primary),
                     ("ProgrammingError", MISSING),
                     t + "missing prompt: sqlalchemy.exc.ProgrammingError and its message")

        try:
            render(conn, "x'; DROP TABLE pm_prompts; --", {})
            check(False, t + "an id with quotes is looked up", "no error", "42704")
        except exc.DBAPIError as e:
            conn.rollback()
            check_eq(e.orig.pgcode, "42704", t + "an id with quotes is looked up as data (42704)")

        try:
            conn.execute(text("SET LOCAL prompt_manager.missing_parameter = error"))
            render(conn, "clients/strict", {"name": "Lee"})
            check(False, t + "missing_parameter = error raises", "no error", "PM003")
        except exc.DBAPIError as e:
            conn.rollback()
            check_eq((type(e).__name__, e.orig.pgcode), ("InternalError", "PM003"),
                     t + "missing_parameter = error: sqlalchemy.exc.InternalError, e.orig.pgcode is PM003")

        check_eq(render(conn, "clients/letter", {"name": "Ada"}), LETTER,
                 t + "the connection renders again after the errors")
        conn.commit()

        requests = [
            {"prompt_id": "clients/greet", "parameters": {"name": NAME, "place": PLACE}},
            {"prompt_id": "clients/letter", "parameters": {"name": "Ada"}},
            {"prompt_id": "clients/nowhere"},
            {"prompt_id": "clients/strict", "parameters": {"name": "Lee"}},
        ]
        rows = conn.execute(BULK, {"requests": json.dumps(requests)}).all()
        conn.commit()
    with Session(engine) as session:
        check_eq(render_prompt(session, "clients/greet", {"name": NAME, "place": PLACE}), GREET,
                 t + "README.md's render_prompt(session, ...) gives the exact text")
    engine.dispose()
    expected = [
        (1, "clients/greet", True, GREET, None, None),
        (2, "clients/letter", True, LETTER, None, None),
        (3, "clients/nowhere", False, None, MISSING, "42704"),
        (4, "clients/strict", True, STRICT, None, None),
    ]
    check_eq([r.ok for r in rows], [True, True, False, True], t + "pm_bulk_render: ok flags of 4 rows")
    for got, exp in zip(rows, expected):
        check_eq(tuple(got), exp, t + "pm_bulk_render: row %d (%s)" % (exp[0], exp[1]))


def run_pooled():
    """Several connections through pgbouncer, each in a transaction held open
    at the same time (so on different server backends), render one prompt
    that a direct connection has just cached; pm_cache, read directly,
    counts one hit for each."""
    t = "[pgbouncer pooled] "
    params = {"name": "pooled", "place": "SQLAlchemy"}
    expected = "Hello pooled, welcome to SQLAlchemy."
    direct_engine = engine_for(TARGETS[0][1], False)
    bouncer_engine = engine_for(TARGETS[1][1], True)
    hits = text("SELECT hits FROM pm_cache")
    with direct_engine.connect() as direct:
        check_eq(render(direct, "clients/greet", params), expected, t + "rendered once directly (cached)")
        direct_pid = direct.execute(text("SELECT pg_backend_pid()")).scalar_one()
        direct.commit()
        before = direct.execute(hits).scalar_one()
        direct.commit()

        conns = [bouncer_engine.connect() for _ in range(POOLED_CLIENTS)]
        results = []
        for c in conns:
            # the transaction begun here is held until the commit below
            results.append(tuple(c.execute(
                text("SELECT pm_render(:id, CAST(:params AS jsonb)), pg_backend_pid()"),
                {"id": "clients/greet", "params": json.dumps(params)}).one()))
        for c in conns:
            c.commit()
            c.close()
        after = direct.execute(hits).scalar_one()
        direct.commit()
    direct_engine.dispose()
    bouncer_engine.dispose()

    check_eq([r[0] for r in results], [expected] * POOLED_CLIENTS,
             t + "%d pooled connections render the same text" % POOLED_CLIENTS)
    pids = set(r[1] for r in results)
    check(len(pids) == POOLED_CLIENTS and direct_pid not in pids,
          t + "served by %d different server backends, none the direct one" % POOLED_CLIENTS,
          sorted(pids), "%d pids other than %d" % (POOLED_CLIENTS, direct_pid))
    check_eq(after - before, POOLED_CLIENTS,
             t + "pm_cache.hits grew by %d (the shared cache served every backend)" % POOLED_CLIENTS)


def main():
    print("# SQLAlchemy %s" % sqlalchemy.__version__)
    for label, port in TARGETS:
        run_target(label, port)
    run_pooled()
    print("# done: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
