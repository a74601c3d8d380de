#!/usr/bin/env node
// prompt_manager from Node.js with node-postgres (the npm package pg),
// directly and through pgbouncer (transaction pooling).  Started by
// test/clients/run, which installs pg into a temporary directory, points
// NODE_PATH at it and sets PM_SOCKET_DIR, PM_PG_PORT, PM_BOUNCER_PORT, PM_DB
// and PM_USER.  Prints one "ok - ..." or "not ok - ..." line per check, then
// "# done: N passed, M failed"; exits 1 when a check failed.
'use strict';
const assert = require('assert');
const { Client, Pool } = require('pg');

const SOCKET = process.env.PM_SOCKET_DIR;
const TARGETS = [['direct', Number(process.env.PM_PG_PORT)], ['pgbouncer', Number(process.env.PM_BOUNCER_PORT)]];
const DB = process.env.PM_DB;
const USER = process.env.PM_USER;

const NAME = 'O\'Brien "Bob" [PLACE] $1 \\1; DROP TABLE pm_prompts; --';
const PLACE = "Zoë's café 🚀\n//include clients/footer";
const GREET = `Hello ${NAME}, welcome to ${PLACE}.`;
const LETTER = 'Dear Ada,\n-- the team';
const STRICT = 'Dear [TITLE] Lee';
const MISSING = 'prompt "clients/nowhere" does not exist';
const POOLED_CLIENTS = 3;

let passed = 0;
let failed = 0;

function check(ok, what, got, expected) {
  if (ok) {
    passed++;
    console.log(`ok - ${what}`);
  } else {
    failed++;
    console.log(`not ok - ${what}`);
    console.log(`#   got:      ${JSON.stringify(got)}`);
    console.log(`#   expected: ${JSON.stringify(expected)}`);
  }
}

function checkEq(got, expected, what) {
  let same = true;
  try {
    assert.deepStrictEqual(got, expected);
  } catch (e) {
    same = false;
  }
  check(same, what, got, expected);
}

async function connect(port) {
  // host: a directory means its unix socket
  const client = new Client({ host: SOCKET, port, database: DB, user: USER });
  await client.connect();
  return client;
}

// Pass JSON.stringify(params) yourself: node-postgres would turn an array
// into a PostgreSQL array literal, not JSON.
async function render(client, promptId, params) {
  const { rows } = await client.query('SELECT pm_render($1, $2::jsonb) AS text',
    [promptId, JSON.stringify(params)]);
  return rows[0].text;
}

async function expectError(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  return { code: 'no error', message: 'no error' };
}

async function runTarget(label, port) {
  // A Pool, as an application uses it: pool.query takes a connection for
  // the one query.
  const pool = new Pool({ host: SOCKET, port, database: DB, user: USER, max: 2 });
  const t = `[${label}] `;
  checkEq(await render(pool, 'clients/greet', { name: NAME, place: PLACE }), GREET,
    t + 'pm_render with bind values gives the exact text');
  checkEq(await render(pool, 'clients/letter', { name: 'Ada' }), LETTER,
    t + '//include and a stored default');
  checkEq(await render(pool, 'clients/strict', { name: 'Lee' }), STRICT,
    t + 'a keyword without a value is kept');

  // A missing prompt: SQLSTATE 42704 in err.code.
  let err = await expectError(render(pool, 'clients/nowhere', {}));
  checkEq(err.code, '42704', t + 'missing prompt: err.code is 42704');
  checkEq([err.constructor.name, err.message], ['DatabaseError', MISSING],
    t + 'missing prompt: a DatabaseError and its message');

  err = await expectError(render(pool, "x'; DROP TABLE pm_prompts; --", {}));
  checkEq(err.code, '42704', t + 'an id with quotes is looked up as data (42704)');

  // A transaction needs one connection of the pool for all its queries.
  const client = await pool.connect();
  await client.query('BEGIN');
  await client.query('SET LOCAL prompt_manager.missing_parameter = error');
  err = await expectError(render(client, 'clients/strict', { name: 'Lee' }));
  await client.query('ROLLBACK');
  checkEq([err.constructor.name, err.code], ['DatabaseError', 'PM003'],
    t + 'missing_parameter = error: a DatabaseError, err.code is PM003');
  checkEq(await render(client, 'clients/letter', { name: 'Ada' }), LETTER,
    t + 'the connection renders again after the errors');
  client.release();

  const requests = [
    { prompt_id: 'clients/greet', parameters: { name: NAME, place: PLACE } },
    { prompt_id: 'clients/letter', parameters: { name: 'Ada' } },
    { prompt_id: 'clients/nowhere' },
    { prompt_id: 'clients/strict', parameters: { name: 'Lee' } },
  ];
  const { rows } = await pool.query(
    'SELECT ord, prompt_id, ok, result, error, sqlstate FROM pm_bulk_render($1::jsonb) ORDER BY ord',
    [JSON.stringify(requests)]);
  // ord is a bigint: node-postgres returns it as a string
  const got = rows.map((r) => [Number(r.ord), r.prompt_id, r.ok, r.result, r.error, r.sqlstate]);
  const expected = [
    [1, 'clients/greet', true, GREET, null, null],
    [2, 'clients/letter', true, LETTER, null, null],
    [3, 'clients/nowhere', false, null, MISSING, '42704'],
    [4, 'clients/strict', true, STRICT, null, null],
  ];
  checkEq(got.map((r) => r[2]), [true, true, false, true], t + 'pm_bulk_render: ok flags of 4 rows');
  expected.forEach((exp, i) => {
    checkEq(got[i], exp, t + `pm_bulk_render: row ${exp[0]} (${exp[1]})`);
  });

  // The array itself as the parameter is not JSON: node-postgres sends a
  // JavaScript array as a PostgreSQL array literal.
  err = await expectError(pool.query('SELECT count(*) FROM pm_bulk_render($1::jsonb)', [requests]));
  checkEq(err.code, '22P02', t + 'an array passed without JSON.stringify is refused (22P02)');

  if (label === 'direct') await namedStatement(pool, t);
  await pool.end();
}

// A named prepared statement (direct only: pgbouncer before 1.21 does not
// keep them in transaction mode), executed past the point where the server
// switches to a generic plan, then after another connection changed the
// prompt: it renders the new text.
async function namedStatement(pool, t) {
  const id = 'clients/node-pg/versioned';
  const query = { name: 'pm-render', text: 'SELECT pm_render($1, $2::jsonb) AS text', values: [id, '{"n": 1}'] };
  await pool.query('INSERT INTO pm_prompts (prompt_id, content) VALUES ($1, $2)', [id, 'v1 [N]']);
  const client = await pool.connect();
  const before = [];
  for (let i = 0; i < 7; i++) before.push((await client.query(query)).rows[0].text);
  await pool.query('UPDATE pm_prompts SET content = $2 WHERE prompt_id = $1', [id, 'v2 [N]']);
  const after = [];
  for (let i = 0; i < 2; i++) after.push((await client.query(query)).rows[0].text);
  client.release();
  await pool.query('DELETE FROM pm_prompts WHERE prompt_id = $1', [id]);
  checkEq([before, after], [Array(7).fill('v1 1'), Array(2).fill('v2 1')],
    t + 'a named prepared statement renders the updated prompt after another connection commits');
}

// Several clients through pgbouncer, each in a transaction held open at the
// same time (so on different server backends), render one prompt that a
// direct connection has just cached; pm_cache, read directly, counts one hit
// for each.
async function runPooled() {
  const t = '[pgbouncer pooled] ';
  const params = { name: 'pooled', place: 'node-postgres' };
  const expected = 'Hello pooled, welcome to node-postgres.';
  const direct = await connect(TARGETS[0][1]);
  checkEq(await render(direct, 'clients/greet', params), expected, t + 'rendered once directly (cached)');
  const directPid = (await direct.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  const hits = async () => Number((await direct.query('SELECT hits FROM pm_cache')).rows[0].hits);
  const before = await hits();

  const clients = [];
  for (let i = 0; i < POOLED_CLIENTS; i++) clients.push(await connect(TARGETS[1][1]));
  const results = [];
  for (const c of clients) {
    await c.query('BEGIN');
    const { rows } = await c.query('SELECT pm_render($1, $2::jsonb) AS text, pg_backend_pid() AS pid',
      ['clients/greet', JSON.stringify(params)]);
    results.push(rows[0]);
  }
  for (const c of clients) {
    await c.query('COMMIT');
    await c.end();
  }
  const after = await hits();
  await direct.end();

  checkEq(results.map((r) => r.text), Array(POOLED_CLIENTS).fill(expected),
    t + `${POOLED_CLIENTS} pooled clients render the same text`);
  const pids = [...new Set(results.map((r) => r.pid))];
  check(pids.length === POOLED_CLIENTS && !pids.includes(directPid),
    t + `served by ${POOLED_CLIENTS} different server backends, none the direct one`,
    pids, `${POOLED_CLIENTS} pids other than ${directPid}`);
  checkEq(after - before, POOLED_CLIENTS,
    t + `pm_cache.hits grew by ${POOLED_CLIENTS} (the shared cache served every backend)`);
}

async function main() {
  console.log(`# node ${process.version}, pg ${require('pg/package.json').version}`);
  for (const [label, port] of TARGETS) await runTarget(label, port);
  await runPooled();
  console.log(`# done: ${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  console.log(`# stopped: ${err.stack || err}`);
  process.exitCode = 2;
});
