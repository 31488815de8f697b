// One fuzz worker process (started by run.mjs with child_process.fork): runs
// batches of cases against the real façade and reports one result per case.
// After every case, in this same process, the known-good model must load and
// run with outputs bit-identical to the reference made at start; model bytes
// and feed buffers are hashed before and after each call.
//
// messages in:  {type: 'batch', cases: [{spec, bytes?, action?}]}, {type: 'exit'}
// messages out: {type: 'ready', reference}, {type: 'result', key, result}, {type: 'batch-done'}
import { createHash } from 'node:crypto';
import * as lib from '../../bindings/js/index.js';
import { materialize } from './cases.mjs';
import { apiCase, reluBytes } from './api.mjs';
import { baseBytes, tinyFeeds } from './models.mjs';
import { makeFeeds } from './feeds.mjs';

const { init, Model, quantize, WebquantError } = lib;
const CODES = new Set(['INVALID_ARGUMENT', 'INVALID_MODEL', 'UNSUPPORTED', 'NOT_FOUND', 'OUT_OF_MEMORY', 'CANCELLED',
  'NUMERIC_ERROR', 'FAILED_PRECONDITION']);
// The core caps messages at kMaxMessageChars = 4000 (core/status.h) plus a short marker.
const kMaxMessage = 4100;
// Unescaped control characters: C0 (newlines included: messages are one line), DEL, C1.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

const fresh = process.argv.includes('--fresh');
const send = (m) => process.send(m);

const hash = (view) => {
  const h = createHash('sha1');
  h.update(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  return h.digest('hex');
};

// A short printable description of anything thrown.
export function describe(e) {
  let s;
  if (e instanceof Error) s = `${e.name}${e.code !== undefined ? `(${JSON.stringify(e.code)})` : ''}: ${e.message}`;
  else { try { s = `thrown ${typeof e}: ${String(e)}`; } catch { s = `thrown ${typeof e}`; } }
  s = JSON.stringify(s).slice(1, -1);
  return s.length > 600 ? `${s.slice(0, 600)}... (${s.length} chars)` : s;
}

// {outcome: 'ok' | 'clean', code?, message?, failures: [{kind, detail}]}
function classify(e, res) {
  if (e instanceof WebquantError) {
    const code = e.code;
    const message = e.message;
    if (typeof code !== 'string' || code === '' || typeof message !== 'string' || message === '') {
      crashed(res, `WebquantError with empty code or message: ${describe(e)}`);
      return;
    }
    if (!CODES.has(code)) {
      crashed(res, `WebquantError code ${code} (${code === 'INTERNAL' ? 'a webquant bug' : 'not a known code'}): ${describe(e)}`);
      return;
    }
    res.outcome = 'clean';
    res.code = code;
    res.message = message.length > 300 ? `${message.slice(0, 300)}...` : message;
    if (message.length > kMaxMessage) res.failures.push({ kind: 'message', detail: `message of ${message.length} chars: ${describe(e)}` });
    else if (CONTROL.test(message)) res.failures.push({ kind: 'message', detail: `unescaped control character in message: ${describe(e)}` });
    return;
  }
  crashed(res, `not a WebquantError: ${describe(e)}`);
}

function crashed(res, detail) {
  res.outcome = 'crash';
  res.failures.push({ kind: 'crash', detail });
}

// ---- the known-good check ------------------------------------------------------

const goodBytes = baseBytes('tiny');
const goodHash = hash(goodBytes);
let reference = null;  // {name: sha1 of output bytes}

function runGood() {
  const m = Model.loadSync(goodBytes);
  try {
    const out = m.run(tinyFeeds(1));
    const sums = {};
    for (const [name, t] of Object.entries(out)) sums[name] = `${t.dtype}[${t.shape}] ${hash(t.data)}`;
    return sums;
  } finally {
    m.dispose();
  }
}

function goodCheck() {
  let got;
  try {
    got = runGood();
  } catch (e) {
    return `the known-good model no longer loads and runs: ${describe(e)}`;
  }
  if (hash(goodBytes) !== goodHash) return 'the known-good model bytes were modified';
  const a = JSON.stringify(got), b = JSON.stringify(reference);
  if (a !== b) return `the known-good model gives different outputs: ${a} (reference ${b})`;
  return null;
}

// ---- one case ------------------------------------------------------------------

const relu = reluBytes();
const tiny = baseBytes('tiny');

async function runModelCase(c, watch) {
  watch(c.bytes, 'model bytes');
  const m = Model.loadSync(c.bytes);
  try {
    if (c.action === 'load') return;
    const feeds = c.feeds ? c.feeds() : makeFeeds(m.inputs, c.seed, c.hints);
    if (!feeds) return;
    for (const [name, f] of Object.entries(feeds)) watch(f.data, `input '${name}'`);
    m.run(feeds);
    if (c.action.startsWith('quantize-')) {
      const more = makeFeeds(m.inputs, c.seed + 1, c.hints);
      for (const [name, f] of Object.entries(more)) watch(f.data, `calibration input '${name}'`);
      const q = await quantize(m, { mode: c.action.slice(9) }, { calibration: [feeds, more] });
      q.model.dispose();
    }
  } finally {
    m.dispose();
  }
}

async function runCase(msg) {
  const c = materialize(msg.spec);
  if (msg.bytes) c.bytes = msg.bytes;
  if (msg.action) c.action = msg.action;
  const res = { outcome: 'ok', failures: [] };
  const watched = [];
  const watch = (view, what) => { if (view && view.buffer) watched.push({ view, what, before: hash(view) }); };
  const t0 = performance.now();
  try {
    if (c.action === 'api') {
      const api = apiCase(c.name);
      await api.fn({ lib, tiny, relu, watch });
      if (api.expect === 'error') crashed(res, 'accepted: the call succeeded, expected a WebquantError');
    } else {
      await runModelCase(c, watch);
    }
  } catch (e) {
    classify(e, res);
  }
  res.ms = Math.round(performance.now() - t0);
  for (const { view, what, before } of watched) {
    let after;
    try { after = hash(view); } catch { after = 'detached'; }
    if (after !== before && !(view.byteLength === 0 && before === hash(new Uint8Array(0))))
      res.failures.push({ kind: 'modified', detail: `${what} changed during the call` });
  }
  if (c.fresh) {
    // The bad init() ran first; the normal one must still work.
    try {
      await init();
      if (!reference) reference = msg.reference ?? null;
    } catch (e) {
      res.failures.push({ kind: 'corrupted', detail: `init() fails after the bad init(): ${describe(e)}` });
      return res;
    }
  }
  const bad = goodCheck();
  if (bad) res.failures.push({ kind: 'corrupted', detail: bad });
  try { res.heap = lib.heapSize(); } catch { res.heap = -1; }
  return res;
}

process.on('message', async (msg) => {
  if (msg.type === 'exit') process.exit(0);
  if (msg.type !== 'batch') return;
  for (const item of msg.cases) {
    const result = await runCase(item);
    send({ type: 'result', key: item.key, result });
  }
  send({ type: 'batch-done' });
});

// Anything that escapes a case asynchronously is a crash: the runner sees the exit.
process.on('unhandledRejection', (e) => { console.error(`unhandled rejection: ${describe(e)}`); process.exit(70); });
process.on('uncaughtException', (e) => { console.error(`uncaught exception: ${describe(e)}`); process.exit(70); });

if (!fresh) {
  await init();
  reference = runGood();
}
send({ type: 'ready', reference });
