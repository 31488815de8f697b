// The command line (bin/webquant.mjs), spawned as a user would run it: output
// on stdout (text or --json), progress on stderr, exit codes 0 ok, 1 usage,
// 2 bad input or model, 3 unsupported, 130 cancelled. Quantized files are
// checked in onnxruntime-node; data comes from the numpy-written .npz files in
// web/assets (real MNIST test digits).
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { encodeNpy } from '../../bindings/js/data.js';
import { loadMnist, argmaxRows } from '../../examples/lib/mnist.mjs';
import { PPOCR } from '../../examples/lib/models.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(root, 'bin/webquant.mjs');
const MNIST = path.join(root, 'examples/models/mnist_cnn.onnx');
const NPZ64 = path.join(root, 'web/assets/mnist_digits_64.npz');           // np.savez_compressed: input, labels
const NPZ16 = path.join(root, 'web/assets/mnist_digits_16_stored.npz');    // np.savez: arr_0, labels
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-cli-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(...args) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: root, timeout: 300000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function json(r) {
  try {
    return JSON.parse(r.out);
  } catch (e) {
    throw new Error(`stdout is not JSON (exit ${r.code}): ${r.out.slice(0, 400)}\nstderr: ${r.err.slice(0, 800)}`);
  }
}

async function ortOutputs(file, feeds) {
  const session = await ort.InferenceSession.create(file);
  const out = await session.run(feeds);
  await session.release?.();
  return out;
}

test('usage: help is exit 0; unknown commands and options, missing arguments are exit 1', () => {
  const help = cli('--help');
  assert.equal(help.code, 0);
  assert.match(help.out, /usage: webquant <command>/);
  for (const [args, pattern] of [
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['inspect'], /inspect takes 1 model path, got 0/],
    [['inspect', MNIST, '--bogus', '1'], /unknown option --bogus/],
    [['quantize', MNIST, '--mode', 'static'], /-o <out.onnx> is required/],
    [['quantize', MNIST, '-o', 'x.onnx'], /give --recipe/],
    [['quantize', MNIST, '-o', 'x.onnx', '--mode', 'int3'], /--mode must be one of/],
    [['bench', MNIST, '--runs', '0'], /--runs must be a positive integer/],
    [['bench', MNIST, '--dim', 'oops'], /--dim expects NAME=SIZE/],
  ]) {
    const r = cli(...args);
    assert.equal(r.code, 1, `${args.join(' ')}: exit ${r.code}, stderr ${r.err}`);
    assert.match(r.err, pattern);
    assert.equal(r.out, '');
  }
});

test('inspect: text and --json summary of the MNIST CNN', () => {
  const text = cli('inspect', MNIST);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /input\s+float\s+\[batch, 1, 28, 28\]/);
  assert.match(text.out, /Conv\s+2\s+dynamic, static/);
  const j = cli('inspect', MNIST, '--json');
  assert.equal(j.code, 0, j.err);
  const r = json(j);
  assert.equal(r.summary.modelBytes, fs.statSync(MNIST).size);
  assert.deepEqual(r.summary.inputs, [{ name: 'input', dtype: 'float', shape: ['batch', 1, 28, 28] }]);
  assert.equal(r.summary.opCounts.reduce((a, o) => a + o.count, 0), r.summary.numNodes);
  assert.ok(r.summary.numParameters > 50000, `parameters ${r.summary.numParameters}`);
  assert.deepEqual(r.quantizable.static.sort(), ['Conv', 'Gemm']);
});

test('bad model and missing files are exit 2 with the reason', () => {
  const bad = path.join(tmp, 'corrupt.onnx');
  fs.writeFileSync(bad, Buffer.from('this is not a protobuf at all'));
  const r = cli('inspect', bad);
  assert.equal(r.code, 2);
  assert.match(r.err, /INVALID_MODEL: .*corrupt\.onnx/);
  const truncated = path.join(tmp, 'truncated.onnx');
  fs.writeFileSync(truncated, fs.readFileSync(MNIST).subarray(0, 5000));
  assert.equal(cli('inspect', truncated).code, 2);
  const missing = cli('inspect', path.join(tmp, 'nope.onnx'));
  assert.equal(missing.code, 2);
  assert.match(missing.err, /no such file/);
  const j = cli('inspect', bad, '--json');
  assert.equal(json(j).error.code, 'INVALID_MODEL');
});

test('bench: --json on real digits, progress on stderr', () => {
  const r = cli('bench', MNIST, '--data', NPZ64, '--runs', '5', '--warmup', '1', '--json');
  assert.equal(r.code, 0, r.err);
  const b = json(r);
  assert.equal(b.runs, 5);
  assert.equal(b.timesMs.length, 5);
  assert.ok(b.medianMs > 0 && b.minMs <= b.medianMs && b.medianMs <= b.maxMs);
  assert.deepEqual(b.inputShapes, { input: [1, 1, 28, 28] });
  assert.match(r.err, /bench 5\/5/);
  const quiet = cli('bench', MNIST, '--data', NPZ64, '--runs', '2', '--quiet');
  assert.equal(quiet.code, 0);
  assert.equal(quiet.err, '');
  assert.match(quiet.out, /median [\d.]+ ms over 2 runs/);
});

test('bench: symbolic dims must be given; --dim sets them', () => {
  const det = PPOCR.det.file;
  const r = cli('bench', det, '--runs', '1', '--warmup', '0');
  assert.equal(r.code, 2);
  assert.match(r.err, /input 'x': dim 2 .* has no fixed size/);
  const ok = cli('bench', det, '--runs', '1', '--warmup', '0', '--dim', '2=64', '--dim', '3=96', '--json');
  assert.equal(ok.code, 0, ok.err);
  assert.deepEqual(json(ok).inputShapes, { x: [1, 3, 64, 96] });
});

test('data: .npy directories with labels.csv; wrong shapes and bad files are exit 2 naming the array', async () => {
  const dir = path.join(tmp, 'npy');
  fs.mkdirSync(dir);
  const set = await loadMnist({ split: 'test', limit: 12 });
  // [N, 28, 28] is reshaped to the input's [N, 1, 28, 28].
  fs.writeFileSync(path.join(dir, 'digits.npy'), encodeNpy({ data: set.images, shape: [12, 28, 28] }));
  fs.writeFileSync(path.join(dir, 'labels.csv'), 'label\n' + Array.from(set.labels).join('\n') + '\n');
  const ok = cli('bench', MNIST, '--data', dir, '--runs', '1', '--json');
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.err, /reshaped \[12, 28, 28\] to \[12, 1, 28, 28\]/);

  const badShape = path.join(tmp, 'bad_shape.npy');
  fs.writeFileSync(badShape, encodeNpy({ data: new Float32Array(4 * 3 * 5), shape: [4, 3, 5] }));
  const r = cli('bench', MNIST, '--data', badShape);
  assert.equal(r.code, 2);
  assert.match(r.err, /bad_shape\.npy has shape \[4, 3, 5\] but input 'input' expects \[batch, 1, 28, 28\]/);

  const notNpy = path.join(tmp, 'fake.npy');
  fs.writeFileSync(notNpy, 'hello');
  assert.match(cli('bench', MNIST, '--data', notNpy).err, /fake\.npy: not a \.npy file/);

  const corruptZip = path.join(tmp, 'corrupt.npz');
  const z = new Uint8Array(fs.readFileSync(NPZ64));
  z.fill(0x55, 60, 400);  // inside the deflated payload of the first member
  fs.writeFileSync(corruptZip, z);
  const c = cli('bench', MNIST, '--data', corruptZip);
  assert.equal(c.code, 2, c.err);
  assert.match(c.err, /corrupt\.npz: member 'input\.npy' /);

  const wrongLabels = path.join(tmp, 'npy_wrong');
  fs.mkdirSync(wrongLabels);
  fs.copyFileSync(path.join(dir, 'digits.npy'), path.join(wrongLabels, 'digits.npy'));
  fs.writeFileSync(path.join(wrongLabels, 'labels.csv'), '1\n2\n3\n');
  const w = cli('bench', MNIST, '--data', wrongLabels);
  assert.equal(w.code, 2);
  assert.match(w.err, /3 labels for 12 samples/);

  const images = path.join(tmp, 'images');
  fs.mkdirSync(images);
  fs.writeFileSync(path.join(images, 'a.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  const u = cli('bench', MNIST, '--data', images);
  assert.equal(u.code, 3, u.err);
  assert.match(u.err, /UNSUPPORTED: .*need the web app/);
});

test('SIGINT cancels a running command with exit 130', async () => {
  const child = spawn(process.execPath, [BIN, 'bench', MNIST, '--runs', '10000000', '--warmup', '0'], { cwd: root });
  let err = '';
  const started = new Promise((resolve) => {
    child.stderr.on('data', (d) => {
      err += d;
      if (/bench \d+\/10000000/.test(err)) resolve();
    });
  });
  await started;
  child.kill('SIGINT');
  const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 130, err.slice(-500));
  assert.match(err, /webquant bench: cancelled/);
});

test('quantize static with calibration from an .npz; the file runs in onnxruntime-node', async () => {
  const out = path.join(tmp, 'mnist.static.onnx');
  const report = path.join(tmp, 'mnist.static.report.json');
  const recipe = path.join(tmp, 'static.json');
  fs.writeFileSync(recipe, JSON.stringify({ mode: 'static', weights: { granularity: 'per-channel' }, calibration: { method: 'minmax' } }));
  const r = cli('quantize', MNIST, '--recipe', recipe, '--calib', NPZ64, '-o', out, '--report', report, '--json');
  assert.equal(r.code, 0, r.err);
  const q = json(r);
  assert.equal(q.recipe.mode, 'static');
  assert.equal(q.calibrationSamples, 64);
  assert.equal(q.quantizedBytes, fs.statSync(out).size);
  assert.ok(q.ratio < 0.35, `static int8 file is ${q.ratio.toFixed(3)}x of float`);
  assert.match(r.err, /calibrate/);
  assert.ok(JSON.parse(fs.readFileSync(report, 'utf8')).report);

  // onnxruntime agrees with the float model on (almost) every held-out digit.
  const set = await loadMnist({ split: 'test', limit: 256 });
  const feeds = { input: new ort.Tensor('float32', set.images, [set.count, 1, 28, 28]) };
  const qOut = await ortOutputs(out, feeds);
  const fOut = await ortOutputs(MNIST, feeds);
  const qPred = argmaxRows(qOut.logits.data), fPred = argmaxRows(fOut.logits.data);
  let agree = 0, qCorrect = 0, fCorrect = 0;
  for (let i = 0; i < set.count; ++i) {
    agree += qPred[i] === fPred[i];
    qCorrect += qPred[i] === set.labels[i];
    fCorrect += fPred[i] === set.labels[i];
  }
  assert.ok(agree / set.count >= 0.99, `top-1 agreement ${agree}/${set.count}`);
  assert.ok(qCorrect >= fCorrect - 1, `accuracy ${qCorrect} vs float ${fCorrect} of ${set.count}`);
});

test('compare: float vs quantized on labelled digits (both .npz forms in a directory)', () => {
  const q = path.join(tmp, 'mnist.cmp.onnx');
  const made = cli('quantize', MNIST, '--mode', 'static', '--calib', NPZ64, '-o', q, '--quiet');
  assert.equal(made.code, 0, made.err);
  const dir = path.join(tmp, 'eval');
  fs.mkdirSync(dir);
  fs.copyFileSync(NPZ64, path.join(dir, 'a.npz'));
  fs.copyFileSync(NPZ16, path.join(dir, 'b.npz'));
  const r = cli('compare', MNIST, q, '--data', dir, '--json');
  assert.equal(r.code, 0, r.err);
  const c = json(r);
  assert.equal(c.samples, 80);
  assert.equal(c.labelled, true);
  const o = c.report.outputs[0];
  assert.equal(o.name, 'logits');
  assert.ok(o.sqnrDb > 20, `output SQNR ${o.sqnrDb} dB`);
  assert.ok(o.cosine > 0.99, `cosine ${o.cosine}`);
  const agree = o.top1Agreement ?? o.argmaxAgreement;
  assert.ok(agree >= 0.975, `top-1 agreement ${agree}`);
  assert.ok(Math.abs(c.report.accuracy.float - c.report.accuracy.quantized) <= 0.0126, JSON.stringify(c.report.accuracy));
  assert.ok(c.report.accuracy.float > 0.9);
  const text = cli('compare', MNIST, q, '--data', NPZ16);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /logits\s+[\d.]+\s+0\.9\d+/);
  assert.match(text.out, /accuracy: float [\d.]+%, quantized [\d.]+%/);
});

test('quantize: recipe errors name the field (exit 2); static needs data; dynamic does not', () => {
  const bad = path.join(tmp, 'bad_recipe.json');
  fs.writeFileSync(bad, JSON.stringify({ mode: 'static', weights: { bitz: 8 } }));
  const r = cli('quantize', MNIST, '--recipe', bad, '--calib', NPZ64, '-o', path.join(tmp, 'x.onnx'));
  assert.equal(r.code, 2);
  assert.match(r.err, /bad_recipe\.json: recipe\.weights: unknown key "bitz"/);
  fs.writeFileSync(bad, '{ not json');
  assert.match(cli('quantize', MNIST, '--recipe', bad, '-o', path.join(tmp, 'x.onnx')).err, /not JSON/);
  const noData = cli('quantize', MNIST, '--mode', 'static', '-o', path.join(tmp, 'x.onnx'));
  assert.equal(noData.code, 2);
  assert.match(noData.err, /needs calibration data/);
  const dyn = path.join(tmp, 'mnist.dynamic.onnx');
  const d = cli('quantize', MNIST, '--mode', 'dynamic', '-o', dyn, '--json');
  assert.equal(d.code, 0, d.err);
  assert.equal(json(d).recipe.mode, 'dynamic');
  assert.ok(fs.statSync(dyn).size < fs.statSync(MNIST).size * 0.4);
});
