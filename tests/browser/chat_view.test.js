// The conversation view: the "Unread messages" divider and the unread count in the tab's
// title; bodies with the markdown subset and links rendered as elements, a hostile body kept
// as text (no element, no script, no javascript: link); the jump to the newest message.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import * as h from './harness.js';
import {browser, server} from './harness.js';

h.serveThisFile();

const HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> ' +
    '**bold** and _it_ and `x<b>` [x](javascript:window.pwned=3) javascript:window.pwned=4 ' +
    'see https://example.com/a?b=1.';
const BLOCK = 'run:\n```\nconst a = "<i>";\n```';

test('unread divider and title; markdown, links and a hostile body; jump to newest', async () => {
  const alice = await h.newUser(browser, server, h.uniqueName('alice'));
  const bob = await h.newUser(browser, server, h.uniqueName('bob'), {width: 1100, height: 520});
  try {
    const conv = await h.startChat(alice.page, [bob.username]);
    await h.send(alice.page, 'first');
    await bob.page.waitForSelector(`[data-conv="${conv}"][data-unread="1"]`);
    await bob.page.locator(`[data-conv="${conv}"]`).click();
    await h.waitForBubbles(bob.page, ['first']);
    await bob.page.press('#composer-input', 'Escape');
    await bob.page.waitForSelector('#composer', {state: 'hidden'});
    assert.equal(await bob.page.title(), 'ringcast');

    await h.send(alice.page, HOSTILE);
    await h.send(alice.page, BLOCK);
    await bob.page.waitForFunction(() => document.title === '(2) ringcast');
    await bob.page.locator(`[data-conv="${conv}"]`).click();
    await bob.page.waitForSelector('#messages .msg >> nth=2');
    // The divider sits between the read message and the first unread one.
    const order = await bob.page.$$eval(
        '#messages > li.msg, #messages > li.unread-divider',
        (els) => els.map((el) => (el.classList.contains('unread-divider') ? '--' : 'msg')));
    assert.deepEqual(order, ['msg', '--', 'msg', 'msg']);
    await bob.page.waitForFunction(() => document.title === 'ringcast');

    const hostile = bob.page.locator('#messages .msg').nth(1).locator('.body');
    assert.equal(await bob.page.$$eval('#messages img, #messages script', (els) => els.length), 0);
    assert.equal(await bob.page.evaluate(() => window.pwned), undefined);
    assert.equal(await hostile.locator('strong').textContent(), 'bold');
    assert.equal(await hostile.locator('em').textContent(), 'it');
    assert.equal(await hostile.locator('code').textContent(), 'x<b>');
    const links = await hostile.locator('a').evaluateAll(
        (els) => els.map((a) => ({href: a.getAttribute('href'), rel: a.rel, target: a.target})));
    assert.deepEqual(
        links, [{href: 'https://example.com/a?b=1', rel: 'noopener noreferrer', target: '_blank'}]);
    assert.match(await hostile.textContent(), /^<img src=x onerror="window.pwned=1"><script>/);
    const block = bob.page.locator('#messages .msg').nth(2).locator('.body pre code');
    assert.equal(await block.textContent(), 'const a = "<i>";\n');
    await h.screenshot(bob.page, 'rich-messages');

    // Enough messages to scroll: scrolled up, the jump button brings the newest back.
    for (let i = 1; i <= 20; i += 1) await h.send(alice.page, `line ${i}`);
    await bob.page.waitForSelector('#messages .msg .body:text-is("line 20")');
    await bob.page.$eval('#messages', (el) => (el.scrollTop = 0));
    await bob.page.waitForSelector('#jump-button', {state: 'visible'});
    await bob.page.click('#jump-button');
    await bob.page.waitForSelector('#jump-button', {state: 'hidden'});
    assert.ok(await bob.page.$eval(
        '#messages', (el) => el.scrollHeight - el.scrollTop - el.clientHeight < 4));
    assert.deepEqual([...alice.errors, ...bob.errors], []);
  } finally {
    await alice.context.close();
    await bob.context.close();
  }
});
