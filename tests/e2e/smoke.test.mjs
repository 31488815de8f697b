// The package works in a real browser: the ESM façade loads the WASM module
// from its own origin, runs the PP-OCR classifier with the same result as
// onnxruntime-node, reports bad input as a WebquantError, and the page makes
// no request outside its origin.
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStaticServer } from '../../scripts/lib/static_server.mjs';
import { launchChromium } from './browser.mjs';
import { ortRun, readModel, compare } from '../node/helpers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('PP-OCR classifier runs in Chromium and matches onnxruntime-node', async (t) => {
  const srv = await startStaticServer(root);
  const browser = await launchChromium();
  t.after(async () => { await browser.close(); await srv.close(); });
  const page = await browser.newPage();
  const foreign = [];
  page.on('request', (req) => { if (!req.url().startsWith(srv.url)) foreign.push(req.url()); });
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(`${srv.url}/tests/e2e/pages/smoke.html`);
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 60000 });
  const result = await page.evaluate(() => window.__result);
  assert.ok(result.ok, result.error);
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(foreign, [], 'no request left the page origin');
  assert.equal(result.badError?.isWq, true);
  assert.equal(result.badError.code, 'INVALID_MODEL');

  const x = new Float32Array(3 * 48 * 192);
  for (let i = 0; i < x.length; ++i) x[i] = Math.sin(i * 0.01);
  const ref = await ortRun(readModel('cls'), { x: { data: x, shape: [1, 3, 48, 192] } });
  const refOut = Object.values(ref)[0].data;
  const c = compare(Float32Array.from(result.output), refOut);
  assert.ok(c.rel <= 1e-4, `browser result differs from onnxruntime-node: rel ${c.rel}`);
});
