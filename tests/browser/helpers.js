// Shared pieces of the browser tests: a `pushpull serve` process on an
// ephemeral port, headless Chromium with a throwaway profile, and small
// readers for what the page shows.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const TARGET_DIR = path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR || 'target');
const BINARY = process.env.PUSHPULL_BIN || path.join(TARGET_DIR, 'release', 'pushpull');

// Where the tests leave what a person may want to look at (the screenshot).
const OUTPUT_DIR = path.join(TARGET_DIR, 'browser');

// Debian's chromium; browser builds downloaded by test tools are not used.
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const START_TIMEOUT_MS = 10_000;
const LISTENING = /listening on 127\.0\.0\.1:(\d+)/;

// Start `pushpull serve` on `port` (0: let the kernel choose) and resolve once
// it logs the address it listens on. The log goes to stderr.
function startServer(port = 0) {
  if (!fs.existsSync(BINARY)) {
    throw new Error(`${BINARY} is missing: run \`cargo build --release\` first`);
  }
  const args = ['serve', '--addr', `127.0.0.1:${port}`, '--quiet', '--stats-window', '0'];
  const child = spawn(BINARY, args, { stdio: ['ignore', 'ignore', 'pipe'] });

  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => fail(new Error(`no "listening on" line in: ${log}`)),
      START_TIMEOUT_MS);
    function fail(err) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    }
    child.once('error', fail);
    child.once('exit', (code) => {
      fail(new Error(`server exited (${code}) before listening: ${log}`));
    });
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const match = LISTENING.exec(log);
      if (match === null) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      const actual = Number(match[1]);
      resolve({ child, port: actual, url: `http://127.0.0.1:${actual}/`, stop: () => stop(child) });
    });
  });
}

// Kill the server and wait until it is gone, so its port is free again.
function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

// A fresh Chromium with its own profile directory; `close()` removes both.
async function launchBrowser() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pushpull-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 860 },
  });
  return {
    context,
    newPage: () => context.newPage(),
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Run `body` with a server and a browser, and always clean both up.
async function withPage(body, { port = 0 } = {}) {
  const server = await startServer(port);
  let browser = null;
  try {
    browser = await launchBrowser();
    const page = await browser.newPage();
    await page.goto(server.url);
    await waitForSocket(page, 'open');
    await body({ server, browser, page });
  } finally {
    if (browser !== null) await browser.close();
    await server.stop();
  }
}

const POLL = '#poll-pane';
const WS = '#ws-pane';

// Type a line into one pane's send box and press Enter.
async function say(page, pane, text) {
  await page.fill(`${pane} [data-role=text]`, text);
  await page.press(`${pane} [data-role=text]`, 'Enter');
}

// Wait until a message with exactly this text is listed in the pane.
async function waitForText(page, pane, text, timeout = 10_000) {
  await page.waitForFunction(
    ([selector, wanted]) => [...document.querySelectorAll(`${selector} li .text`)]
      .some((span) => span.textContent === wanted),
    [pane, text], { timeout });
}

// The ids listed in a pane, top to bottom.
function ids(page, pane) {
  return page.$$eval(`${pane} li[data-id]`, (items) => items.map((li) => Number(li.dataset.id)));
}

// One counter's plain number, from its data-value attribute.
async function stat(page, pane, name) {
  const value = await page.getAttribute(`${pane} [data-stat=${name}]`, 'data-value');
  return Number(value);
}

function waitForSocket(page, state, timeout = 10_000) {
  return page.waitForSelector(`${WS} [data-role=state][data-state=${state}]`, { timeout });
}

// POST a message from outside the page, as another client would.
async function post(server, message) {
  const response = await fetch(new URL('messages', server.url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ sent_at: Date.now(), ...message }),
  });
  if (response.status !== 201) throw new Error(`POST answered ${response.status}`);
  return response.json();
}

module.exports = {
  BINARY, OUTPUT_DIR, POLL, WS, startServer, launchBrowser, withPage, say, waitForText,
  ids, stat, waitForSocket, post,
};
