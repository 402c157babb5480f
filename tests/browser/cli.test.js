// The page and the command-line WebSocket client in one room: a line from
// `pushpull chat --transport ws` shows in the page, and a line typed in the
// page is printed by the CLI. Lines on the CLI's stdin are messages it sends;
// messages it receives are printed on its stdout.
'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const { test } = require('node:test');
const { BINARY, POLL, WS, withPage, say, waitForText } = require('./helpers');

const WAIT_MS = 10_000;

// Start the CLI client. If the binary has no `chat` subcommand it exits at
// once with a usage error, and the test fails with that error: a missing
// client is a failure, not a reason to skip.
function startChat(port, name) {
  const url = `ws://127.0.0.1:${port}/ws`;
  const args = ['chat', '--transport', 'ws', '--name', name, '--url', url];
  const child = spawn(BINARY, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '', exit: null };
  child.stdout.on('data', (chunk) => { output.stdout += chunk; });
  child.stderr.on('data', (chunk) => { output.stderr += chunk; });
  child.on('close', (code, signal) => { output.exit = signal ?? code; });
  // A client that died early closes its stdin; the exit, not EPIPE, is the news.
  child.stdin.on('error', () => {});
  return { child, output };
}

// Resolve when the CLI has printed `text`; reject if it exits or time runs out.
function waitForStdout({ child, output }, text) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (output.stdout.includes(text)) return done(resolve);
      if (output.exit !== null) {
        done(() => reject(new Error(`pushpull chat exited (${output.exit}): ${output.stderr}`)));
      }
    };
    const timer = setTimeout(() => done(() => reject(new Error(
      `pushpull chat did not print ${JSON.stringify(text)} in ${WAIT_MS} ms; ` +
      `stdout: ${output.stdout} stderr: ${output.stderr}`))), WAIT_MS);
    const done = (finish) => {
      clearTimeout(timer);
      child.stdout.off('data', check);
      child.off('close', check);
      finish();
    };
    child.stdout.on('data', check);
    child.on('close', check);
    check();
  });
}

// `promise`, unless the CLI exits first: then fail with what it said.
function unlessExited({ child, output }, promise) {
  const exitError = () => new Error(`pushpull chat exited (${output.exit}): ${output.stderr}`);
  if (output.exit !== null) return Promise.reject(exitError());

  // The loser of the race may still settle later; nobody waits for it then.
  promise.catch(() => {});
  let onExit;
  const exited = new Promise((_, reject) => {
    onExit = () => reject(exitError());
    child.once('close', onExit);
  });
  return Promise.race([promise, exited]).finally(() => child.off('close', onExit));
}

test('pushpull chat --transport ws and the page see each other\'s lines', { timeout: 60_000 },
  () => withPage(async ({ server, page }) => {
    const chat = startChat(server.port, 'terminal');
    try {
      // The CLI's line shows in both panes; once it has, the CLI is surely
      // connected, so what the page says next reaches it.
      chat.child.stdin.write('hello from the terminal\n');
      await unlessExited(chat, waitForText(page, WS, 'hello from the terminal'));
      await waitForText(page, POLL, 'hello from the terminal');
      const name = await page.textContent(`${WS} li:last-child .name`);
      assert.equal(name, 'terminal');

      await say(page, POLL, 'hello from the browser');
      await waitForStdout(chat, 'hello from the browser');
    } finally {
      chat.child.kill('SIGKILL');
    }
  }));
