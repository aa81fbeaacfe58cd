// The SDK's uploads, mentions, mute and push helpers (uploads.js, mentions.js, push.js) against
// the real server: an upload with progress, a cancelled one, a message carrying an image and a
// file, the server's reasons for a refused upload; mention completion and marking; mute;
// a push subscription stored and deleted.

import assert from 'node:assert/strict';
import {createECDH, randomBytes} from 'node:crypto';
import {describe, test} from 'node:test';

import {attachmentUrl, completeMention, deletePushSubscription, formatSize, isImage, isMuted, MemoryStorage, mentionAt, mentions, mentionSpans, savePushSubscription, upload, vapidPublicKey} from '../src/index.js';

import {BOUNDED, serverForFile, signUp, sleep, waitFor} from './helpers.js';
import {makePng} from './png.js';

// A small quota, so that going past it is quick.
const {client, pair} = serverForFile({args: ['--upload-quota-bytes', '3000000']});

describe('uploads', () => {
  test('an image and a file go up with progress and reach the other side', BOUNDED, async () => {
    const {alice, bob, conv} = await pair();
    const progress = [];
    const image = await upload(alice, new Blob([makePng(640, 480)], {type: 'image/png'}), {
                    name: 'photo.png',
                    onProgress: (p) => progress.push(p),
                  }).done;
    assert.equal(image.name, 'photo.png');
    assert.equal(image.type, 'image/png');
    assert.equal(image.width, 640);
    assert.ok(isImage(image));
    assert.equal(progress.at(-1).loaded, image.size);
    const pdf = await upload(alice, new TextEncoder().encode('%PDF-1.4 not much'), {
                  name: 'notes.pdf',
                  type: 'application/pdf',
                }).done;
    assert.equal(isImage(pdf), false);

    const received = waitFor(bob, 'message', (m) => m.conv === conv);
    alice.send(conv, 'two files', {attachments: [image.id, pdf.id]});
    const [a, b] = (await received).attachments;
    assert.deepEqual([a.id, b.id], [image.id, pdf.id]);
    // Bob reads both with his token: the thumbnail of the image, the PDF's bytes.
    const thumb = await fetch(attachmentUrl(bob, a, {thumb: true}));
    assert.equal(thumb.status, 200);
    assert.equal(thumb.headers.get('content-type'), 'image/jpeg');
    const file = await fetch(attachmentUrl(bob, b));
    assert.equal(await file.text(), '%PDF-1.4 not much');
    assert.equal(attachmentUrl(bob, b, {thumb: true}), undefined);
  });

  test(
      'a cancelled upload rejects as cancelled; one past the quota with the reason', BOUNDED,
      async () => {
        const {alice} = await pair();
        const handle = upload(alice, new Uint8Array(2_000_000), {name: 'big.bin'});
        handle.cancel();
        await assert.rejects(handle.done, {code: 'cancelled'});
        await upload(alice, new Uint8Array(2_000_000), {name: 'a.bin'}).done;
        await assert.rejects(
            upload(alice, new Uint8Array(2_000_000), {name: 'b.bin'}).done,
            {status: 507, message: 'upload quota exceeded (--upload-quota-bytes)'});
      });

  test('a queued send keeps its files and mentions across a reload', BOUNDED, async () => {
    const storage = new MemoryStorage();
    const first = client({storage});
    await signUp(first, 'reload');
    first.send(1, 'with a file', {attachments: ['an-upload-id'], mentions: [7]});
    await sleep(50);  // the outbox's write
    const second = client({storage});
    await second.restoreSession();
    const [entry] = second.outbox();
    assert.deepEqual(entry.attachments, ['an-upload-id']);
    assert.deepEqual(entry.mentions, [7]);
  });

  test('formatSize', () => {
    assert.equal(formatSize(12), '12 B');
    assert.equal(formatSize(1500), '1.5 kB');
    assert.equal(formatSize(5_242_880), '5.2 MB');
  });
});

describe('mentions and mute', () => {
  test('completion and spans follow the server\'s rule', () => {
    assert.deepEqual(mentionAt('hi @bo', 6), {start: 3, prefix: 'bo'});
    assert.equal(mentionAt('mail bob@ex', 11), null);
    assert.deepEqual(completeMention('hi @bo', 6, 'bob'), {text: 'hi @bob ', caret: 8});
    assert.deepEqual(completeMention('@b and', 2, 'bob'), {text: '@bob and', caret: 5});
    assert.deepEqual(mentionSpans('@ann, ask @Bob. x@y').map((s) => s.name), ['ann', 'Bob']);
    assert.equal(isMuted('forever'), true);
    assert.equal(isMuted(Date.now() - 1), false);
    assert.equal(isMuted(null), false);
  });

  test('a mention reaches the mentioned member; mute and unmute', BOUNDED, async () => {
    const {alice, bob, conv} = await pair();
    const mentioned = waitFor(bob, 'mention');
    const me = (await bob._http.request('GET', '/api/me')).username;
    alice.send(conv, `hello @${me}`);
    const message = await mentioned;
    assert.ok(mentions(message, bob.userId));
    assert.equal((await bob.mentions()).mentions[0].id, message.id);
    assert.deepEqual(await bob.mute(conv), {muted_until: 'forever'});
    const listed = (await bob.conversations()).find((c) => c.id === conv);
    assert.ok(isMuted(listed.muted_until));
    await bob.unmute(conv);
    assert.equal((await bob.conversations()).find((c) => c.id === conv).muted_until, null);
  });
});

describe('push', () => {
  test('a subscription is stored for the user, and deleted', BOUNDED, async () => {
    const {alice} = await pair();
    assert.match(await vapidPublicKey(alice), /^[A-Za-z0-9_-]{87}$/);
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const endpoint = `https://push.example/${randomBytes(8).toString('hex')}`;
    const keys = {
      p256dh: ecdh.getPublicKey().toString('base64url'),
      auth: randomBytes(16).toString('base64url'),
    };
    assert.deepEqual(await savePushSubscription(alice, {endpoint, keys}), {endpoint});
    await deletePushSubscription(alice, endpoint);
    await assert.rejects(deletePushSubscription(alice, endpoint), {status: 404});
  });
});
