// Brings up a real Switchyard for a test file: builds the binary from this
// checkout, gives it a database of its own, migrates and seeds it, and serves it
// on a free loopback port. Everything it starts it also stops.
//
// A missing DATABASE_URL or an unreachable PostgreSQL fails the run with a
// message saying how to start the services: it never skips.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const HOW_TO_START = 'start the project\'s services first: make services && eval "$(make -s env)"';

// Deadlines. Generous, because a cold `go build` of the whole server on a
// two-core machine takes a while; a healthy run finishes far inside them.
const BUILD_TIMEOUT_MS = 8 * 60_000;
const COMMAND_TIMEOUT_MS = 3 * 60_000;
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

// The admin connection: the one tests may create databases with.
export function adminDatabaseURL() {
  const url = process.env.SWITCHYARD_TEST_DATABASE_URL || process.env.DATABASE_URL;
  if (!url) {
    throw new Error(`DATABASE_URL is not set; ${HOW_TO_START}`);
  }
  return url;
}

function redact(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

async function withAdmin(adminURL, fn) {
  const client = new pg.Client({ connectionString: adminURL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`cannot reach PostgreSQL at ${redact(adminURL)}: ${err.message}; ${HOW_TO_START}`);
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

function quoteIdent(name) {
  return `"${name.replaceAll('"', '""')}"`;
}

// The kernel picks a free port; it is released just before Switchyard binds it.
export async function freePort() {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

// Keeps the last `limit` characters of a stream, for failure messages.
function tail(limit = 16_000) {
  let text = '';
  return {
    push(chunk) {
      text += chunk.toString();
      if (text.length > limit) text = text.slice(-limit);
    },
    get text() {
      return text;
    },
  };
}

// Runs a command to completion with a deadline and returns its stdout. A
// non-zero exit or the deadline throws with the command's output.
function run(cmd, args, { env, cwd, timeoutMs = COMMAND_TIMEOUT_MS }) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    const stderr = tail();
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => stderr.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolvePromise(stdout);
      const why = signal ? `killed by ${signal} (deadline ${timeoutMs} ms)` : `exit code ${code}`;
      reject(new Error(`${cmd} ${args.join(' ')}: ${why}\n--- stdout\n${stdout.slice(-8_000)}\n--- stderr\n${stderr.text}`));
    });
  });
}

// Waits until `probe` resolves true, `exited` settles (the process died) or the
// deadline passes. Each probe has its own short timeout; between probes it waits
// on the process's exit or a short tick, whichever comes first.
async function waitUntil(probe, { exited, deadlineMs, what }) {
  const deadline = Date.now() + deadlineMs;
  let dead = false;
  exited.then(() => (dead = true));
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (dead) throw new Error(`${what}: the process exited before it was ready`);
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err.cause?.message ?? err.message;
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 100))]);
  }
  throw new Error(`${what}: not ready within ${deadlineMs} ms (last: ${lastError})`);
}

/**
 * Builds and starts Switchyard against a fresh database.
 * Returns { url, graphqlUrl, token(email), graphql(query, variables, token), stop() }.
 * On any failure it undoes what it had done before throwing.
 */
export async function startSwitchyard({ log = () => {} } = {}) {
  const adminURL = adminDatabaseURL();
  const cleanups = [];
  const cleanup = async () => {
    const errors = [];
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    cleanups.length = 0;
    if (errors.length) throw new AggregateError(errors, `stopping Switchyard: ${errors.map((e) => e.message).join('; ')}`);
  };

  try {
    // Fail on an unreachable PostgreSQL before spending minutes on a build.
    const dbName = `e2e_${randomBytes(6).toString('hex')}`;
    await withAdmin(adminURL, (c) => c.query(`CREATE DATABASE ${quoteIdent(dbName)}`));
    cleanups.push(() =>
      withAdmin(adminURL, (c) => c.query(`DROP DATABASE IF EXISTS ${quoteIdent(dbName)} WITH (FORCE)`)),
    );
    const dbURL = new URL(adminURL);
    dbURL.pathname = `/${dbName}`;
    log(`database ${dbName}`);

    const work = await mkdtemp(join(tmpdir(), 'switchyard-e2e-'));
    cleanups.push(() => rm(work, { recursive: true, force: true }));

    let bin = process.env.SWITCHYARD_BIN;
    if (bin) {
      bin = resolve(bin);
      log(`using SWITCHYARD_BIN=${bin}`);
    } else {
      bin = join(work, 'switchyard');
      log('go build ./cmd/switchyard');
      await run('go', ['build', '-o', bin, './cmd/switchyard'], {
        cwd: REPO_ROOT,
        env: process.env,
        timeoutMs: BUILD_TIMEOUT_MS,
      });
    }

    const port = await freePort();
    const env = {
      ...process.env,
      DATABASE_URL: dbURL.toString(),
      SWITCHYARD_ADDR: `127.0.0.1:${port}`,
      // A secret of this run's own: tokens minted here verify only here.
      SWITCHYARD_JWT_SECRET: randomBytes(32).toString('hex'),
    };
    // Without these the server uses its in-process broker and embedded index, so
    // this run neither needs nor disturbs a shared Redis or Elasticsearch.
    delete env.REDIS_URL;
    delete env.ELASTICSEARCH_URL;
    delete env.SWITCHYARD_JWKS_URL;

    await run(bin, ['migrate', 'up'], { env, cwd: work });
    const seedOutput = await run(bin, ['seed'], { env, cwd: work });
    log('migrated and seeded');

    const stderr = tail();
    const stdout = tail();
    const child = spawn(bin, ['serve'], { env, cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => stdout.push(d));
    child.stderr.on('data', (d) => stderr.push(d));
    const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
    // If the test process dies without running its hooks, do not leave a server behind.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    cleanups.push(async () => {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    });

    const url = `http://127.0.0.1:${port}`;
    try {
      await waitUntil(
        async () => (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) })).status === 200,
        { exited, deadlineMs: READY_TIMEOUT_MS, what: `switchyard serve on ${url}` },
      );
    } catch (err) {
      err.message += `\n--- serve stdout\n${stdout.text}\n--- serve stderr\n${stderr.text}`;
      throw err;
    }
    log(`serving on ${url}`);

    const graphqlUrl = `${url}/graphql`;
    return {
      url,
      graphqlUrl,
      seedOutput,
      databaseURL: dbURL.toString(),
      serverLog: () => `--- serve stdout\n${stdout.text}\n--- serve stderr\n${stderr.text}`,
      // A development JWT for the user with this email, from `switchyard token`;
      // ttl (like '5s') makes it short-lived.
      async token(email, { ttl } = {}) {
        const args = ['token', '--email', email];
        if (ttl) args.push('--ttl', ttl);
        const out = await run(bin, args, { env, cwd: work });
        const jwt = out.match(/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/);
        if (!jwt) throw new Error(`switchyard token --email ${email} printed no JWT:\n${out}`);
        return jwt[0];
      },
      graphql: (query, variables, token) => postGraphQL(graphqlUrl, query, variables, token),
      stop: cleanup,
    };
  } catch (err) {
    await cleanup().catch((cleanupErr) => {
      err.message += `\n(and while cleaning up: ${cleanupErr.message})`;
    });
    throw err;
  }
}

// POSTs a GraphQL request and returns the parsed body; a non-JSON answer throws
// with the status and the start of the body.
export async function postGraphQL(url, query, variables = {}, token) {
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${url} answered ${res.status} with a body that is not JSON: ${text.slice(0, 500)}`);
  }
}

// Picks a user with the given role straight from the seeded database. Only the
// admin is chosen this way; members are chosen through the API (see the test).
export async function emailsWithRole(databaseURL, role) {
  return withAdmin(databaseURL, async (c) => {
    const { rows } = await c.query(
      'SELECT email FROM users WHERE role = $1 AND deleted_at IS NULL ORDER BY email',
      [role],
    );
    return rows.map((r) => r.email);
  });
}
