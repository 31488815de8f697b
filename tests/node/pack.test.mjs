// The npm package as a user gets it: `npm pack`, install the tarball into a
// fresh project with no network (the package has no runtime dependencies),
// then use it there by name — import, init, load, quantize, run — plus the
// `webquant` bin and the subpath exports: `webquant/data` (the data helpers),
// `webquant/worker` (the module Worker; driven here through serve()),
// `webquant/worker-client` and `webquant/webquant.wasm`. No web/ file ships.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wq-pack-'));
const project = path.join(tmp, 'project');
const npmEnv = { ...process.env, npm_config_cache: path.join(tmp, 'npm-cache'), npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let packed = null;
function pack() {
  if (packed) return packed;
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: root, env: npmEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [info] = JSON.parse(out);
  packed = { tgz: path.join(tmp, info.filename), files: info.files.map((f) => f.path).sort() };
  return packed;
}

let installed = false;
function install() {
  if (installed) return;
  const { tgz } = pack();
  fs.mkdirSync(project, { recursive: true });
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'wq-consumer', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--offline', '--ignore-scripts', tgz], { cwd: project, env: npmEnv, encoding: 'utf8', stdio: 'pipe' });
  installed = true;
}

function node(args, opts = {}) {
  const r = spawnSync(process.execPath, args, { cwd: project, encoding: 'utf8', timeout: 300000, ...opts });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('npm pack ships the façade, the data helpers, the worker, the types, the WASM module and the CLI, and nothing else', () => {
  const { files } = pack();
  for (const f of ['package.json', 'README.md', 'LICENSE', 'bin/webquant.mjs', 'bindings/js/index.js', 'bindings/js/index.d.ts',
    'dist/webquant.js', 'dist/webquant.wasm', 'bindings/js/data.js', 'bindings/js/data.d.ts', 'bindings/js/data/npy.js',
    'bindings/js/data/samples.js', 'bindings/js/data/recipe.js', 'bindings/js/data/mnist_samples.js', 'bindings/js/data/text_image.js',
    'bindings/js/worker.js', 'bindings/js/worker.d.ts', 'bindings/js/worker_client.js', 'bindings/js/worker_client.d.ts']) {
    assert.ok(files.includes(f), `${f} missing from the tarball`);
  }
  const stray = files.filter((f) => /^(core|tests|build|scripts|examples|node_modules|web|artifacts)\//.test(f) || /\.(cc|h|onnx)$/.test(f));
  assert.deepEqual(stray, [], 'source, tests, app files or models in the tarball');
  // Every subpath export (types first) names a shipped file.
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  for (const [sub, target] of Object.entries(pkg.exports)) {
    const targets = typeof target === 'string' ? [target] : Object.values(target);
    if (typeof target !== 'string') assert.equal(Object.keys(target)[0], 'types', `exports['${sub}']: types first`);
    for (const t of targets) assert.ok(files.includes(t.replace(/^\.\//, '')), `exports['${sub}'] -> ${t}, which is not in the tarball`);
  }
  // Every relative import of a shipped module resolves to a shipped file.
  for (const f of files.filter((x) => /\.(m?js)$/.test(x))) {
    const text = fs.readFileSync(path.join(root, f), 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(f), m[1]));
      assert.ok(files.includes(target), `${f} imports ${m[1]} (${target}), which is not in the tarball`);
    }
  }
});

test('installed offline into a fresh project: import by name, init, load, run; the bin and the .wasm export', () => {
  install();
  fs.copyFileSync(path.join(root, 'examples/models/mnist_cnn.onnx'), path.join(project, 'mnist_cnn.onnx'));
  fs.writeFileSync(path.join(project, 'use.mjs'), `
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { init, Model, WebquantError } from 'webquant';
await init();
const model = await Model.load(fs.readFileSync('mnist_cnn.onnx'));
const x = new Float32Array(28 * 28);
for (let i = 0; i < x.length; ++i) x[i] = ((i * 37) % 255) / 255;
const out = model.run({ input: { data: x, shape: [1, 1, 28, 28] } });
let bad = null;
try { await Model.load(new Uint8Array([8, 1, 2])); } catch (e) { bad = { wq: e instanceof WebquantError, code: e.code }; }
const wasmPath = createRequire(import.meta.url).resolve('webquant/webquant.wasm');
const pkg = JSON.parse(fs.readFileSync(createRequire(import.meta.url).resolve('webquant/package.json'), 'utf8'));
console.log(JSON.stringify({ shape: out.logits.shape, finite: Array.from(out.logits.data).every(Number.isFinite),
  nodes: model.summary().numNodes, bad, wasmBytes: fs.statSync(wasmPath).size, version: pkg.version, types: pkg.types }));
model.dispose();
`);
  const r = node(['use.mjs']);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.deepEqual(j.shape, [1, 10]);
  assert.equal(j.finite, true);
  assert.equal(j.nodes, 12);
  assert.deepEqual(j.bad, { wq: true, code: 'INVALID_MODEL' });
  assert.equal(j.wasmBytes, fs.statSync(path.join(root, 'dist/webquant.wasm')).size);
  assert.ok(fs.existsSync(path.join(project, 'node_modules/webquant', j.types)));

  const bin = path.join(project, 'node_modules/.bin/webquant');
  const inspect = spawnSync(bin, ['inspect', 'mnist_cnn.onnx', '--json'], { cwd: project, encoding: 'utf8' });
  assert.equal(inspect.status, 0, inspect.stderr);
  assert.equal(JSON.parse(inspect.stdout).summary.numNodes, 12);
});

test('installed: webquant/data, webquant/worker and webquant/worker-client resolve by name; the worker answers its protocol', () => {
  install();
  fs.copyFileSync(path.join(root, 'examples/models/mnist_cnn.onnx'), path.join(project, 'mnist_cnn.onnx'));
  fs.writeFileSync(path.join(project, 'use_data_worker.mjs'), `
import fs from 'node:fs';
import { encodeNpy, parseNpy, samplesFromArrays, splitCalibEval, defaultRecipe, emitRecipe, DataError } from 'webquant/data';
import { serve, registerDataSource } from 'webquant/worker';
import { WorkerClient, WorkerError } from 'webquant/worker-client';
const x = new Float32Array(3 * 784).map((_, i) => (i % 255) / 255);
const arr = parseNpy(encodeNpy({ data: x, shape: [3, 784] }));
const inputs = [{ name: 'input', dtype: 'float', shape: ['batch', 1, 28, 28] }];
const { samples, notes } = samplesFromArrays(inputs, { x: arr }, 'x.npy');
// The worker, served on a stand-in for a worker scope: init, load a model, set data, evaluate.
const messages = [];
const waiters = new Map();
const scope = serve({ postMessage(m) { messages.push(m); if (m.type !== 'progress') waiters.get(m.id)?.(m); } });
let next = 1;
const ask = (type, args = {}) => new Promise((resolve) => { const id = next++; waiters.set(id, resolve); scope.onmessage({ data: { id, type, ...args } }); });
registerDataSource('ramp', (ins, { count }) => ({ samples: samples.slice(0, count), source: 'ramp' }));
const caps = await ask('init');
const bytes = fs.readFileSync('mnist_cnn.onnx');
const loaded = await ask('loadModel', { bytes: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length), name: 'mnist_cnn.onnx' });
const data = await ask('setData', { kind: 'ramp', options: { count: 3 } });
const evaluated = await ask('evaluate', { which: 'float', calib: 1 });
const unknown = await ask('nope');
console.log(JSON.stringify({
  samples: samples.length, shape: samples[0].feeds.input.shape, notes: notes.length, split: splitCalibEval(10, 4).calib,
  recipe: emitRecipe(defaultRecipe('static')).mode, dataError: new DataError('x').code,
  init: caps.type, ops: caps.result.supportedOps.length > 50, load: loaded.result.summary.numNodes,
  data: [data.type, data.result?.count, data.result?.source], evaluate: [evaluated.type, evaluated.result?.count],
  progress: messages.some((m) => m.type === 'progress'), unknown: unknown.error,
  client: typeof WorkerClient, workerError: new WorkerError({ message: 'm', code: 'CANCELLED' }).code,
}));
`);
  const r = node(['use_data_worker.mjs']);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.samples, 3);
  assert.deepEqual(j.shape, [1, 1, 28, 28]);
  assert.equal(j.notes, 1);
  assert.deepEqual(j.split, [0, 2, 5, 7]);
  assert.equal(j.recipe, 'static');
  assert.equal(j.dataError, 'INVALID_ARGUMENT');
  assert.equal(j.init, 'done');
  assert.equal(j.ops, true);
  assert.equal(j.load, 12);
  assert.deepEqual(j.data, ['done', 3, 'ramp']);
  assert.deepEqual(j.evaluate, ['done', 2]);
  assert.equal(j.progress, true);
  assert.deepEqual(j.unknown, { name: 'DataError', code: 'INVALID_ARGUMENT', message: "worker: unknown request 'nope'" });
  assert.equal(j.client, 'function');
  assert.equal(j.workerError, 'CANCELLED');
  // Each subpath's types file is installed where its exports entry says.
  const pkg = JSON.parse(fs.readFileSync(path.join(project, 'node_modules/webquant/package.json'), 'utf8'));
  for (const sub of ['./data', './worker', './worker-client']) {
    assert.ok(fs.existsSync(path.join(project, 'node_modules/webquant', pkg.exports[sub].types)), `${sub}: types`);
  }
});

test('the Node example (examples/quantize_and_compare.mjs) runs in the installed project', () => {
  install();
  // The example imports 'webquant' by name, so the same file runs in the repository and here.
  fs.mkdirSync(path.join(project, 'examples/lib'), { recursive: true });
  fs.mkdirSync(path.join(project, 'examples/models'), { recursive: true });
  fs.mkdirSync(path.join(project, 'web/assets'), { recursive: true });
  for (const f of ['examples/quantize_and_compare.mjs', 'examples/lib/mnist.mjs', 'examples/models/mnist_cnn.onnx', 'web/assets/mnist_samples.bin']) {
    fs.copyFileSync(path.join(root, f), path.join(project, f));
  }
  const out = path.join(project, 'mnist_cnn.static.onnx');
  const r = node(['examples/quantize_and_compare.mjs', '--out', out, '--json']);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.recipe.mode, 'static');
  assert.ok(j.quantizedBytes < 0.35 * j.floatBytes, `size ${j.quantizedBytes} vs ${j.floatBytes}`);
  assert.ok(j.outputs[0].sqnrDb > 20, `SQNR ${j.outputs[0].sqnrDb}`);
  assert.ok(Math.abs(j.accuracy.float - j.accuracy.quantized) <= 1 / j.evalSamples + 1e-9, JSON.stringify(j.accuracy));
  assert.equal(fs.statSync(out).size, j.quantizedBytes);
  // The package itself must not have been written into.
  assert.ok(!fs.existsSync(path.join(project, 'node_modules/webquant/mnist_cnn.static.onnx')));
});
