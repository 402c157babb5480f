// The chat page in headless Chromium against a real `pushpull serve` on an
// ephemeral port. Each test starts its own server and browser.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');
const {
  OUTPUT_DIR, POLL, WS, startServer, launchBrowser, withPage, say, waitForText, ids, stat,
  waitForSocket, post,
} = require('./helpers');

const TEST_TIMEOUT_MS = 60_000;

test('a line typed in either pane appears in both, with the ids in order',
  { timeout: TEST_TIMEOUT_MS }, () => withPage(async ({ page }) => {
    await page.fill('#name', 'alice');

    await say(page, POLL, 'sent by polling');
    await waitForText(page, POLL, 'sent by polling');
    await waitForText(page, WS, 'sent by polling');

    await say(page, WS, 'sent by websocket');
    await waitForText(page, WS, 'sent by websocket');
    await waitForText(page, POLL, 'sent by websocket');

    assert.deepEqual(await ids(page, POLL), [1, 2]);
    assert.deepEqual(await ids(page, WS), [1, 2]);
    const names = await page.$$eval(`${WS} li .name`, (spans) => spans.map((s) => s.textContent));
    assert.deepEqual(names, ['alice', 'alice']);
  }));

test('idle: the polling pane keeps asking and mostly gets nothing; the socket asks nothing',
  { timeout: TEST_TIMEOUT_MS }, () => withPage(async ({ page }) => {
    const before = {
      pollRequests: await stat(page, POLL, 'requests'),
      wsRequests: await stat(page, WS, 'requests'),
    };
    await page.waitForTimeout(3000);

    // At 100 ms a poll, three seconds is about 30 polls; allow a slow machine.
    const polls = await stat(page, POLL, 'requests') - before.pollRequests;
    assert.ok(polls >= 10, `only ${polls} polls in 3 s`);
    const requests = await stat(page, POLL, 'requests');
    const empty = await stat(page, POLL, 'empty');
    assert.ok(empty / requests >= 0.9, `${empty} of ${requests} polls were empty`);
    assert.ok(await stat(page, POLL, 'bytes') > 0);
    const shown = await page.textContent(`${POLL} [data-stat=empty]`);
    assert.match(shown, /\(\d+ % wasted\)/);

    // The socket's one HTTP request was its Upgrade; idle, nothing moves.
    assert.equal(await stat(page, WS, 'requests'), before.wsRequests);
    assert.equal(before.wsRequests, 1);
    assert.equal(await stat(page, WS, 'empty'), 0);
    assert.equal(await stat(page, WS, 'bytes'), 0);
  }));

test('a longer poll interval makes fewer requests', { timeout: TEST_TIMEOUT_MS },
  () => withPage(async ({ page }) => {
    await page.fill('#interval', '1000');
    await page.waitForTimeout(1100);  // let the poll already scheduled fire
    const start = await stat(page, POLL, 'requests');
    await page.waitForTimeout(3000);

    const polls = await stat(page, POLL, 'requests') - start;
    assert.ok(polls >= 2 && polls <= 4, `${polls} polls in 3 s at 1000 ms`);
    assert.match(await page.textContent(`${POLL} [data-role=state]`), /every 1000 ms/);
  }));

test('latency of each received message is shown and counted', { timeout: TEST_TIMEOUT_MS },
  () => withPage(async ({ page }) => {
    await say(page, WS, 'timed');
    await waitForText(page, POLL, 'timed');
    await waitForText(page, WS, 'timed');

    for (const pane of [POLL, WS]) {
      assert.equal(await stat(page, pane, 'received'), 1);
      const latency = await stat(page, pane, 'latency');
      assert.ok(latency >= 0 && latency < 5000, `latency ${latency} ms in ${pane}`);
      assert.match(await page.textContent(`${pane} li .latency`), /^\d+ ms$/);
    }
  }));

test('hostile name and text are shown literally and run nothing', { timeout: TEST_TIMEOUT_MS },
  () => withPage(async ({ server, page }) => {
    const name = '<img src=x onerror="window.pwned=1">';
    const text = '<script>window.pwned=2</script><b onmouseover="window.pwned=3">bold</b>';
    const fetched = [];
    page.on('request', (request) => fetched.push(request.url()));
    page.on('dialog', (dialog) => {
      fetched.push(`dialog: ${dialog.message()}`);
      dialog.dismiss();
    });

    await post(server, { name, text });
    await page.fill('#name', '<svg onload="window.pwned=4">');
    await say(page, WS, '<img src=y onerror="window.pwned=5">');
    await waitForText(page, POLL, text);
    await waitForText(page, WS, text);
    await waitForText(page, POLL, '<img src=y onerror="window.pwned=5">');
    await waitForText(page, WS, '<img src=y onerror="window.pwned=5">');

    const names = await page.$$eval(`${POLL} li .name`, (spans) => spans.map((s) => s.textContent));
    assert.deepEqual(names, [name, '<svg onload="window.pwned=4">']);
    assert.equal(await page.evaluate(() => window.pwned), undefined);
    const injected = await page.$$('.log img, .log script, .log b, .log svg');
    assert.equal(injected.length, 0);
    const strays = fetched.filter((url) => !/\/(messages(\?since=\d+)?|ws)$/.test(url));
    assert.deepEqual(strays, []);
  }));

test('the page works when reached by another host name (localhost)',
  { timeout: TEST_TIMEOUT_MS }, async () => {
    const server = await startServer();
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(`http://localhost:${server.port}/`);
      await waitForSocket(page, 'open');
      await say(page, POLL, 'via localhost');
      await waitForText(page, WS, 'via localhost');
      await waitForText(page, POLL, 'via localhost');
    } finally {
      await browser.close();
      await server.stop();
    }
  });

test('after a restart on the same port the socket reconnects with backoff and polling starts over',
  { timeout: TEST_TIMEOUT_MS }, async () => {
    let server = await startServer();
    const port = server.port;
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(server.url);
      await waitForSocket(page, 'open');

      // The polling pane has seen ids 1 and 2; the new server numbers from 1
      // again, so it must start over there rather than wait for id 3.
      await say(page, POLL, 'before the restart 1');
      await say(page, POLL, 'before the restart 2');
      await waitForText(page, POLL, 'before the restart 2');

      // Record every wait the badge announces ("reconnect attempt N in W ms").
      await page.evaluate((selector) => {
        window.announcedWaits = [];
        const badge = document.querySelector(selector);
        new MutationObserver(() => {
          const match = /attempt \d+ in (\d+) ms/.exec(badge.textContent);
          if (match !== null) window.announcedWaits.push(Number(match[1]));
        }).observe(badge, { childList: true, characterData: true, subtree: true });
      }, `${WS} [data-role=state]`);

      // Gone: the badge counts attempts, waiting longer between them.
      await server.stop();
      await page.waitForFunction((selector) => {
        const match = /attempt (\d+)/.exec(document.querySelector(selector).textContent);
        return match !== null && Number(match[1]) >= 3;
      }, `${WS} [data-role=state]`, { timeout: 15_000 });
      assert.match(await page.textContent(`${POLL} [data-role=state]`), /unreachable/);

      // Jitter takes up to half of each wait, so neighbours may tie; two
      // apart, the ceiling has quadrupled and the wait at least doubled.
      const waits = await page.evaluate(() => window.announcedWaits);
      assert.ok(waits.length >= 3, `waits announced: ${waits}`);
      assert.ok(waits[2] >= 2 * waits[0], `no backoff in ${waits}`);

      // Back: the socket opens again and carries messages both ways.
      server = await startServer(port);
      await waitForSocket(page, 'open', 15_000);
      await say(page, WS, 'after the restart');
      await waitForText(page, WS, 'after the restart');
      await waitForText(page, POLL, 'after the restart');
      const notes = await page.$$eval(`${POLL} li.note`, (items) =>
        items.map((li) => li.textContent),
      );
      assert.ok(notes.some((note) => note.startsWith('the server restarted')), `notes: ${notes}`);
      assert.ok(await stat(page, WS, 'requests') >= 3, 'each attempt is one Upgrade request');
    } finally {
      await browser.close();
      await server.stop();
    }
  });

test('screenshot after a short conversation', { timeout: TEST_TIMEOUT_MS },
  () => withPage(async ({ server, browser, page }) => {
    // A second reader on the WebSocket side, and a third client posting
    // from outside, make it a conversation.
    const other = await browser.newPage();
    await other.goto(server.url);
    await waitForSocket(other, 'open');
    await other.fill('#name', 'bob');
    await page.fill('#name', 'alice');

    await say(page, POLL, 'Hi! I am polling every 100 ms.');
    await waitForText(page, WS, 'Hi! I am polling every 100 ms.');
    await say(other, WS, 'And I am on a WebSocket: the server tells me.');
    await waitForText(page, POLL, 'And I am on a WebSocket: the server tells me.');
    await post(server, { name: 'carol', text: 'Posting with curl-like HTTP, no page at all.' });
    await waitForText(page, WS, 'Posting with curl-like HTTP, no page at all.');
    await say(page, WS, 'Watch the empty responses pile up on the left.');
    await waitForText(page, POLL, 'Watch the empty responses pile up on the left.');
    await page.waitForTimeout(2000);

    fs.mkdirSync(OUTPUT_DIR, { recursive: true });
    const file = path.join(OUTPUT_DIR, 'page.png');
    await page.screenshot({ path: file, fullPage: true });
    assert.ok(fs.statSync(file).size > 10_000, 'the screenshot is suspiciously small');
    console.log(`screenshot saved to ${file}`);
  }));
