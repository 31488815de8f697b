// onnxruntime-node as the oracle for upgrade_opset (core/graph/opset_upgrade.h).
//
// The doctest suite "opset_upgrade" writes, when WQ_OPSET_UPGRADE_DUMP names a
// directory, each hand-made old-opset model and each PP-OCR model together
// with its upgrades to opset 13 and 21 and the inputs it ran them on. Here
// onnxruntime must compute bit-identical outputs from the original and from
// both upgrades: that checks the rewrites against onnxruntime's reading of
// the old definitions (Clip-6 defaults, Softmax-11 coercion, Resize-10
// rounding, ...), not only against webquant's.
//
// The doctest binary is WQ_TESTS_BIN, or the first of build/native-asan/wq_tests
// (what scripts/build.sh builds), build/native/wq_tests, build-upgrade/wq_tests
// that exists.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = [process.env.WQ_TESTS_BIN, 'build/native-asan/wq_tests', 'build/native/wq_tests', 'build-upgrade/wq_tests']
  .filter(Boolean)
  .map((p) => path.resolve(root, p))
  .find((p) => fs.existsSync(p));

const typedArrays = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, int64: BigInt64Array, int32: Int32Array,
  uint8: Uint8Array, int8: Int8Array, bool: Uint8Array,
};

function readFeeds(dir) {
  const spec = JSON.parse(fs.readFileSync(path.join(dir, 'inputs.json'), 'utf8'));
  const feeds = {};
  for (const input of spec.inputs) {
    const Ctor = typedArrays[input.dtype];
    assert.ok(Ctor, `${dir}: input ${input.name} has dtype ${input.dtype}`);
    const bytes = fs.readFileSync(path.join(dir, input.file));
    const data = new Ctor(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    feeds[input.name] = new ort.Tensor(input.dtype, input.dtype === 'bool' ? Uint8Array.from(data, Boolean) : data,
      input.shape);
  }
  return { feeds, ortRunsOriginal: spec.ortRunsOriginal };
}

// Graph optimizations off: onnxruntime fuses some patterns only at some
// opsets (e.g. ReduceMean-based LayerNorm before 18), which changes rounding
// without changing what the graph means.
async function run(file, feeds) {
  const session = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'disabled' });
  const out = await session.run(feeds);
  await session.release?.();
  return out;
}

const bytesOf = (t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

// Exact unless `bound` is given: then max |got - want| <= bound * max(1, max |want|).
function assertSameOutputs(got, want, label, bound = 0) {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${label}: output names`);
  for (const name of Object.keys(want)) {
    assert.equal(got[name].type, want[name].type, `${label}: ${name} type`);
    assert.deepEqual(got[name].dims, want[name].dims, `${label}: ${name} dims`);
    if (bytesOf(got[name]).equals(bytesOf(want[name]))) continue;
    let worst = 0, largest = 1;
    for (let i = 0; i < want[name].data.length; ++i) {
      const d = Math.abs(Number(got[name].data[i]) - Number(want[name].data[i]));
      worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
      largest = Math.max(largest, Math.abs(Number(want[name].data[i])));
    }
    assert.ok(worst <= bound * largest, `${label}: output ${name} differs (max abs difference ${worst})`);
  }
}

// onnxruntime's AveragePool from opset 19 (dilations) is a different kernel
// that rounds the mean differently from the opset-11 one, on an unchanged
// node (the averagepool11 case shows it). Upgrades to 21 of graphs with
// AveragePool are compared with this bound (~8 float32 ulps of the largest
// output); everything else, and every upgrade to 13, must be exact.
const kAveragePool19Bound = 1e-6;
const hasAveragePool = (file) => fs.readFileSync(file).includes('AveragePool');

// WQ_OPSET_UPGRADE_DIR: a directory the doctest suite already wrote (skips running it).
const given = process.env.WQ_OPSET_UPGRADE_DIR;

test('opset upgrade: onnxruntime gives the same outputs before and after',
  { skip: !given && !bin && 'no wq_tests binary' }, async (t) => {
    const dump = given ?? fs.mkdtempSync(path.join(os.tmpdir(), 'wq-opset-upgrade-'));
    try {
      if (!given) {
        const r = spawnSync(bin, ['-ts=opset_upgrade', '-tc=rewrites*,PP-OCR*', '--no-colors=true'], {
          env: { ...process.env, WQ_OPSET_UPGRADE_DUMP: dump }, encoding: 'utf8', maxBuffer: 64 << 20,
        });
        assert.equal(r.status, 0, `${bin} failed:\n${r.stdout}\n${r.stderr}`);
      }
      const cases = fs.readdirSync(dump).sort();
      assert.ok(cases.length >= 50, `only ${cases.length} model pairs were written (is ${bin} older than the ` +
        'opset_upgrade suite?)');
      assert.ok(['ppocr_det', 'ppocr_rec', 'ppocr_cls'].every((c) => cases.includes(c)), 'PP-OCR pairs missing');
      let compared = 0;
      for (const name of cases) {
        await t.test(name, async () => {
          const dir = path.join(dump, name);
          const { feeds, ortRunsOriginal } = readFeeds(dir);
          const up13 = await run(path.join(dir, 't13.onnx'), feeds);
          const up21 = await run(path.join(dir, 't21.onnx'), feeds);
          if (ortRunsOriginal) {
            const want = await run(path.join(dir, 'orig.onnx'), feeds);
            assertSameOutputs(up13, want, `${name} at 13`);
            ++compared;
          } else {
          }
          const t21 = path.join(dir, 't21.onnx');
          assertSameOutputs(up21, up13, `${name} at 21`, hasAveragePool(t21) ? kAveragePool19Bound : 0);
        });
      }
      assert.ok(compared >= cases.length - 3, `only ${compared} of ${cases.length} compared with the original`);
    } finally {
      if (!given) fs.rmSync(dump, { recursive: true, force: true });
    }
  });
