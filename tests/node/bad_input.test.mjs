// Bad input never aborts, hangs or corrupts the module: each case gives a
// WebquantError with a code and a message naming what is wrong, and a valid
// load/run afterwards still works.
import test from 'node:test';
import assert from 'node:assert/strict';
import { init, Model, WebquantError } from '../../bindings/js/index.js';
import { buildModel } from '../../scripts/lib/onnx_builder.mjs';
import { textImage } from '../../examples/lib/text_image.mjs';
import { PPOCR, readModel } from './helpers.mjs';

const { height, width } = PPOCR.cls;
await init();
const clsBytes = readModel('cls');

function expectError(fn, code, pattern) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof WebquantError, `expected WebquantError, got ${e}`);
    if (code) assert.equal(e.code, code, `code for: ${e.message}`);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

// The module still loads and runs a real model correctly.
function assertStillWorks() {
  const m = Model.loadSync(clsBytes);
  const out = m.run({ x: textImage(height, width, { seed: 3 }) });
  const probs = out[m.outputs[0].name].data;
  assert.ok(Math.abs(probs[0] + probs[1] - 1) < 1e-5, 'softmax output sums to 1');
  m.dispose();
}

test('empty bytes', () => {
  expectError(() => Model.loadSync(new Uint8Array(0)), 'INVALID_MODEL', /empty|graph/i);
  assertStillWorks();
});

test('random bytes (64 seeds, various lengths)', () => {
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  for (let i = 0; i < 64; ++i) {
    const n = 1 + (next() % 5000);
    const junk = new Uint8Array(n);
    for (let j = 0; j < n; ++j) junk[j] = next() >>> 24;
    assert.throws(() => Model.loadSync(junk), (e) => e instanceof WebquantError && e.message.length > 0);
  }
  assertStillWorks();
});

test('a real model truncated at many offsets', () => {
  const offsets = new Set();
  for (let i = 1; i < 2048; i += 7) offsets.add(i);
  for (let k = 1; k < 200; ++k) offsets.add(Math.floor((clsBytes.length * k) / 200));
  let failures = 0;
  for (const off of offsets) {
    try {
      const m = Model.loadSync(clsBytes.subarray(0, off));
      m.dispose();  // a prefix can be a valid (smaller) protobuf, but then it must still be a usable model
    } catch (e) {
      assert.ok(e instanceof WebquantError, `offset ${off}: ${e}`);
      assert.ok(['INVALID_MODEL', 'UNSUPPORTED'].includes(e.code), `offset ${off}: ${e.code} ${e.message}`);
      ++failures;
    }
  }
  assert.equal(failures, offsets.size, 'every truncation of the classifier is rejected');
  assertStillWorks();
});

test('wrong input name, dtype, rank, shape, data length', async () => {
  const m = await Model.load(clsBytes);
  const img = textImage(height, width, { seed: 1 });
  expectError(() => m.run({ nope: img }), 'INVALID_ARGUMENT', /nope/);
  expectError(() => m.run({}), 'INVALID_ARGUMENT', /'x'/);
  expectError(() => m.run({ x: { data: new Int32Array(img.data.length), shape: img.shape } }), 'INVALID_ARGUMENT', /x.*int32|int32.*x/);
  expectError(() => m.run({ x: { data: img.data, shape: [3, height, width] } }), 'INVALID_ARGUMENT', /rank/);
  expectError(() => m.run({ x: { data: img.data, shape: [1, 4, height, width / 4 * 3] } }), 'INVALID_ARGUMENT', /x/);
  expectError(() => m.run({ x: { data: img.data, shape: [1, 3, height, width + 1] } }), 'INVALID_ARGUMENT', /bytes/);
  expectError(() => m.run({ x: { data: [1, 2, 3], shape: [3] } }), 'INVALID_ARGUMENT', /typed array/);
  // The same handle keeps working after errors.
  const out = m.run({ x: img });
  assert.equal(out[m.outputs[0].name].data.length, 2);
  m.dispose();
});

test('a node input that nothing produces (missing initializer) names the node and tensor', () => {
  const bytes = buildModel({
    inputs: [{ name: 'x', dtype: 'float', shape: [1, 4] }],
    outputs: [{ name: 'y', dtype: 'float', shape: [1, 4] }],
    nodes: [{ name: 'the_matmul', op: 'MatMul', inputs: ['x', 'missing_weight'], outputs: ['y'] }],
  });
  expectError(() => Model.loadSync(bytes), 'INVALID_MODEL', /the_matmul[\s\S]*missing_weight|missing_weight[\s\S]*the_matmul/);
  assertStillWorks();
});

test('unsupported ops are all listed with their node names', () => {
  const bytes = buildModel({
    inputs: [{ name: 'x', dtype: 'float', shape: [1, 4] }],
    outputs: [{ name: 'z', dtype: 'float', shape: [1, 4] }],
    nodes: [
      { name: 'first_weird', op: 'NoSuchOpAlpha', inputs: ['x'], outputs: ['y'] },
      { name: 'ok_relu', op: 'Relu', inputs: ['y'], outputs: ['y2'] },
      { name: 'second_weird', op: 'NoSuchOpBeta', inputs: ['y2'], outputs: ['z'] },
    ],
  });
  expectError(() => Model.loadSync(bytes), 'UNSUPPORTED', /first_weird[\s\S]*NoSuchOpAlpha[\s\S]*second_weird[\s\S]*NoSuchOpBeta/);
  assertStillWorks();
});

test('an opset beyond what we support is reported', () => {
  const bytes = buildModel({
    opset: 99,
    inputs: [{ name: 'x', dtype: 'float', shape: [1, 4] }],
    outputs: [{ name: 'y', dtype: 'float', shape: [1, 4] }],
    nodes: [{ name: 'future_relu', op: 'Relu', inputs: ['x'], outputs: ['y'] }],
  });
  expectError(() => Model.loadSync(bytes), 'UNSUPPORTED', /future_relu[\s\S]*99|99[\s\S]*future_relu/);
  assertStillWorks();
});

test('non-bytes arguments', () => {
  expectError(() => Model.loadSync('not bytes'), 'INVALID_ARGUMENT', /Uint8Array/);
  expectError(() => Model.loadSync(null), 'INVALID_ARGUMENT');
});
