// Baton in a real browser: EventSource reads a run's events from GET /runs/{id}/events,
// and the docs page renders with no internet. Starts the real binary on a free port
// against a fresh SQLite file; needs Chromium at /usr/bin/chromium (or CHROMIUM).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const binary = process.env.BATON_TEST_BINARY;
let server;
let base;
let browser;
let dir;

before(async () => {
  assert.ok(binary, 'BATON_TEST_BINARY must point at the baton binary');
  dir = mkdtempSync(join(tmpdir(), 'baton-browser-'));
  server = spawn(binary, ['serve', '--listen', '127.0.0.1:0'], {
    env: {
      ...process.env,
      BATON_DATABASE_URL: `sqlite://${join(dir, 'baton.db')}`,
      BATON_PROVIDERS__SIM__LATENCY_MS: '20',
      BATON_PROVIDERS__SIM__LATENCY_JITTER_MS: '0',
      RUST_LOG: 'error',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  base = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: server.stdout });
    lines.on('line', (line) => {
      if (line.startsWith('listening on ')) resolve(line.slice('listening on '.length).trim());
    });
    server.on('exit', (code) => reject(new Error(`baton exited with ${code} before listening`)));
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('an EventSource receives every event of a run in order, then the stream ends', async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/healthz`);
  const events = await page.evaluate(async () => {
    const workflow = { tasks: [
      { id: 'a', instructions: 'Name a river.' },
      { id: 'b', instructions: 'Describe {{a}}.', depends_on: ['a'] },
    ] };
    const created = await fetch('/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ workflow }),
    }).then((r) => r.json());
    return await new Promise((resolve, reject) => {
      const seen = [];
      const source = new EventSource(`/runs/${created.id}/events`);
      const names = ['run_created', 'plan', 'decision', 'task_start', 'task_artifact',
        'task_verified', 'assemble_start', 'final', 'stats'];
      for (const name of names) {
        source.addEventListener(name, (e) => {
          seen.push({ name, id: e.lastEventId, data: JSON.parse(e.data) });
          if (name === 'stats') { source.close(); resolve(seen); }
        });
      }
      source.onerror = () => { if (!seen.length) reject(new Error('EventSource failed')); };
      setTimeout(() => reject(new Error(`timed out after ${JSON.stringify(seen.map((s) => s.name))}`)), 30000);
    });
  });
  await page.close();
  assert.equal(events[0].name, 'run_created');
  assert.equal(events.at(-1).name, 'stats');
  assert.equal(events.at(-2).data.status, 'succeeded');
  events.forEach((event, index) => {
    assert.equal(event.id, String(index + 1), 'ids count from 1 with no gaps');
    assert.equal(event.data.type, event.name);
    assert.equal(event.data.seq, index + 1);
  });
});

test('the docs page renders the API with no request leaving the server', async () => {
  const page = await browser.newPage();
  const foreign = [];
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(base) && !url.startsWith('data:')) foreign.push(url);
  });
  await page.goto(`${base}/docs`);
  await page.waitForSelector('.opblock-summary-path', { timeout: 30000 });
  const paths = await page.$$eval('.opblock-summary-path', (nodes) => nodes.map((n) => n.textContent.trim()));
  await page.screenshot({ path: join(dir, 'docs.png') });
  await page.close();
  assert.ok(paths.includes('/run'), `paths: ${paths}`);
  assert.ok(paths.includes('/runs/{id}/events'), `paths: ${paths}`);
  assert.deepEqual(foreign, [], 'the docs page fetched nothing from the internet');
});
