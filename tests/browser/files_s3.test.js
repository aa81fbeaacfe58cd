// Attachments on object storage (issue 46, files/README.md) in the browser: the server keeps its
// files in a bucket of a throwaway radosgw (--files-url s3://BUCKET/files, tools/s3tmp) and
// answers every GET /files/… with a 302 to a presigned URL of the store (--files-serve redirect),
// so each image and download in the page is served by another origin (the gateway's port on
// 127.0.0.1) through a redirect that Chromium must follow: the thumbnails and the viewer's full
// image load (naturalWidth), each fetched from the store after a 302 from the node (playwright's
// request chain), and the PDF's link downloads its bytes from the store's URL, on the uploader's
// page and on the other member's, with no console error (a CORS or Local Network Access refusal
// would be one). The bucket then holds the image, the PDF and the thumbnail at their content
// addresses, nothing else (no temporary object) and no open multipart upload (boto3 under
// /usr/bin/python3).
// Needs RINGCAST_TEST_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY and _REGION, as `tools/s3tmp run`
// sets them (ctest: browser_pg); skipped without them (`npm test`, ctest's browser). The bucket is
// this file's own, created here and left to s3tmp, which throws the whole store away.

import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {createHash, randomBytes} from 'node:crypto';
import {readFileSync} from 'node:fs';
import {before, describe, test} from 'node:test';

import {makePng} from '../../clients/js/test/png.js';

import * as h from './harness.js';
import {server} from './harness.js';

const s3 = {
  endpoint: process.env.RINGCAST_TEST_S3_ENDPOINT ?? '',
  accessKey: process.env.RINGCAST_TEST_S3_ACCESS_KEY ?? '',
  secretKey: process.env.RINGCAST_TEST_S3_SECRET_KEY ?? '',
  region: process.env.RINGCAST_TEST_S3_REGION ?? '',
};
const s3Skip = !(s3.endpoint && s3.accessKey && s3.secretKey && s3.region) &&
    'needs RINGCAST_TEST_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY and _REGION (tools/s3tmp run)';
const bucket = `rc-browser-${process.pid}-${randomBytes(4).toString('hex')}`;
const PREFIX = 'files/';

// The store's side, as tools/s3_server.py's client() makes it (path-style: a bucket as a host
// name would need a resolver for it). "create" makes the bucket; "list" prints {key: size} of
// every object and the keys of the open multipart uploads.
const S3_SCRIPT = `
import json, os, sys
import boto3
from botocore.config import Config
e = os.environ
s3 = boto3.client("s3", endpoint_url=e["RINGCAST_TEST_S3_ENDPOINT"],
                  region_name=e["RINGCAST_TEST_S3_REGION"],
                  aws_access_key_id=e["RINGCAST_TEST_S3_ACCESS_KEY"],
                  aws_secret_access_key=e["RINGCAST_TEST_S3_SECRET_KEY"],
                  config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
op, bucket = sys.argv[1:3]
if op == "create":
    s3.create_bucket(Bucket=bucket)
    print("{}")
else:
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            objects[o["Key"]] = o["Size"]
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    print(json.dumps({"objects": objects, "uploads": [u["Key"] for u in uploads]}))
`;

/** @param {'create' | 'list'} op */
function bucketCall(op) {
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', S3_SCRIPT, op, bucket], {
    encoding: 'utf8',
    timeout: 30000,
  }));
}

/** A content address's key: the --files-dir layout, `ab/cdef…`, under the prefix. */
const keyOf = (/** @type {string} */ sha256) => `${PREFIX}${sha256.slice(0, 2)}/${sha256.slice(2)}`;
const sha256Of = (/** @type {Buffer} */ bytes) => createHash('sha256').update(bytes).digest('hex');

/**
 * Every answer the context's pages got: its URL, its status, and the URL and status of the
 * request it was redirected from (playwright's chain: a redirect is a request of its own).
 * Answers, not finished requests: a download's request ends aborted (the page hands it over).
 * @param {import('playwright-core').BrowserContext} context
 */
function recordResponses(context) {
  /** @type {{url: string, status: number, from?: string, fromStatus?: number}[]} */
  const seen = [];
  context.on('response', async (response) => {
    const from = response.request().redirectedFrom();
    seen.push({
      url: response.url(),
      status: response.status(),
      from: from?.url(),
      fromStatus: (await from?.response())?.status(),
    });
  });
  return seen;
}

/** Console errors of a page: Chromium reports a blocked CORS or private-network fetch there. */
function consoleErrors(page) {
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  return errors;
}

describe('attachments served by the object store through redirects', {skip: s3Skip}, () => {
  before(() => bucketCall('create'));
  // After the bucket exists: the server checks it at start.
  h.serveThisFile([
    '--files-url', `s3://${bucket}/files`, '--s3-endpoint', s3.endpoint, '--s3-region', s3.region,
    '--s3-access-key', s3.accessKey, '--s3-secret-key', s3.secretKey, '--files-serve', 'redirect'
  ]);

  test('an image and a PDF: thumbnails, the viewer and the download from the bucket', async () => {
    await h.withUsers(['alice', 'bob'], async (alice, bob) => {
      const users = [alice, bob];
      for (const u of users) {
        u.responses = recordResponses(u.context);
        u.console = consoleErrors(u.page);
      }
      const conv = await h.startChat(alice.page, [bob.username]);
      await bob.page.locator(`[data-conv="${conv}"]`).click();
      // Incompressible (1.7 MB), larger than the 320 px thumbnail on both sides.
      const image = {
        name: 'harbour.png',
        mimeType: 'image/png',
        buffer: makePng(960, 600, {noise: true}),
      };
      const pdf = {
        name: 'tickets.pdf',
        mimeType: 'application/pdf',
        buffer: Buffer.from('%PDF-1.4\n% tickets to the bucket\n'),
      };
      await alice.page.setInputFiles('#file-input', [image, pdf]);
      await alice.page.waitForSelector('#uploads .upload[data-state="done"] >> nth=1');
      await h.send(alice.page, 'from the bucket');
      await h.waitForBubbles(bob.page, ['from the bucket']);

      // What the server stored: the message's attachments, by the history.
      const response = await fetch(
          `${server.baseUrl}/api/conversations/${conv}/messages?limit=10`,
          {headers: {Authorization: `Bearer ${await bob.token()}`}});
      const [stored] = (await response.json()).messages;
      const [imageAtt, pdfAtt] = stored.attachments;
      assert.equal(imageAtt.sha256, sha256Of(image.buffer));
      assert.equal(pdfAtt.sha256, sha256Of(pdf.buffer));

      // The thumbnail's bytes (through the node's redirect, as a page gets them) name its key.
      const thumb = await fetch(
          `${server.baseUrl}${imageAtt.thumb_url}`,
          {headers: {Authorization: `Bearer ${await bob.token()}`}});
      assert.equal(thumb.status, 200);
      const thumbBytes = Buffer.from(await thumb.arrayBuffer());
      assert.deepEqual([...thumbBytes.subarray(0, 2)], [0xff, 0xd8]);
      const thumbKey = keyOf(sha256Of(thumbBytes));

      // A presigned URL of the store for that object (the gateway's origin, the bucket in the
      // path), not the node's.
      const presigned = (/** @type {string} */ url, /** @type {string} */ key) =>
          url.startsWith(`${s3.endpoint}/${bucket}/${key}?`) && url.includes('X-Amz-Signature=');
      assert.ok(presigned(thumb.url, thumbKey), thumb.url);
      /**
       * The page's answer from the store for `key`, redirected there by the node's 302 for `path`.
       * @param {object} user @param {string} path @param {string} key
       */
      const redirected = (user, path, key) => h.poll(
          () => user.responses.find(
              (r) => r.status === 200 && presigned(r.url, key) &&
                  r.from?.startsWith(`${server.baseUrl}${path}?token=`) && r.fromStatus === 302));

      for (const u of users) {
        const bubble = u.page.locator('#messages .msg', {hasText: 'from the bucket'});
        // The thumbnail: a 320 px JPEG of the store's, loaded by the <img>.
        await u.page.waitForFunction(
            () => document.querySelector('#messages .att-image img')?.naturalWidth === 320);
        assert.ok(await redirected(u, imageAtt.thumb_url, thumbKey), `${u.username}: thumbnail`);
        // The viewer: the image full size, from the store too.
        await bubble.locator('.att-image').click();
        await u.page.waitForFunction(
            () => document.querySelector('#viewer-image')?.naturalWidth === 960);
        assert.ok(
            await redirected(u, imageAtt.url, keyOf(imageAtt.sha256)), `${u.username}: image`);
        await u.page.keyboard.press('Escape');
        await u.page.waitForSelector('#viewer', {state: 'hidden'});
        // The PDF's link (the node's URL): a download of its bytes, under its name, from the
        // store's URL. Playwright reports no request for the node's hop of a download, only the
        // download's final URL.
        const card = bubble.locator('.att-file');
        await card.locator('.att-name:text-is("tickets.pdf")').waitFor();
        assert.ok((await card.getAttribute('href')).startsWith(`${server.baseUrl}${pdfAtt.url}?`));
        const [download] = await Promise.all([u.page.waitForEvent('download'), card.click()]);
        assert.ok(presigned(download.url(), keyOf(pdfAtt.sha256)), download.url());
        assert.equal(download.suggestedFilename(), 'tickets.pdf');
        assert.deepEqual(readFileSync(await download.path()), pdf.buffer);
      }

      // The bucket: the three objects at their content addresses, nothing else, no temporary
      // object and no multipart upload left open.
      const {objects, uploads} = bucketCall('list');
      assert.deepEqual(objects, {
        [keyOf(imageAtt.sha256)]: image.buffer.length,
        [keyOf(pdfAtt.sha256)]: pdf.buffer.length,
        [thumbKey]: thumbBytes.length,
      });
      assert.deepEqual(uploads, []);

      assert.deepEqual([...alice.errors, ...bob.errors], []);
      assert.deepEqual([...alice.console, ...bob.console], []);
    });
  });
});
