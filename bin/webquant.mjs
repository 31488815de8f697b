#!/usr/bin/env node
// webquant command line: inspect, quantize, compare and benchmark ONNX models
// with the same WASM engine and recipe JSON as the web app and the JS API.
// Progress goes to stderr, results to stdout (--json for machine-readable).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import * as wq from '../bindings/js/index.js';
import {
  parseNpy, parseNpz, isNpy, isZip,
  samplesFromArrays, splitArray, parseLabelsCsv, indexLabels, generatedSamples, checkSamples, isLabelName,
  labelsFromArray, splitCalibEval, shapeText,
  quantizableOps, MODES,
} from '../bindings/js/data.js';

const EXIT = { ok: 0, usage: 1, badInput: 2, unsupported: 3, internal: 4, cancelled: 130 };

const USAGE = `usage: webquant <command> [options]

commands:
  inspect <model.onnx>                        inputs, outputs, op counts, parameters, quantizable ops
  quantize <model.onnx> -o <out.onnx>         quantize with a recipe (the web app's recipe JSON)
      --recipe <recipe.json> | --mode <dynamic|static|weight-only|fp16>
      [--calib <dir|file.npy|file.npz>] [--calib-count N] [--report <report.json>]
  compare <float.onnx> <quantized.onnx>       SQNR, cosine, max abs error, top-1 agreement, accuracy
      [--data <dir|file.npy|file.npz>] [--labels <labels.csv|labels.npy>] [--generated N]
  bench <model.onnx>                          median latency of N runs (WASM, this process)
      [--runs N] [--warmup N] [--data <dir|file.npy|file.npz>]

options:
  --json              print one JSON document on stdout
  --quiet             no progress on stderr
  --dim NAME=SIZE     size of a symbolic input dimension (name, or index like 2=640); repeatable
  --generated N       use N generated random inputs when no data is given (weaker: not your data)
  -h, --help          this help

data: .npy arrays are split along axis 0 into samples; an .npz holds one array per
model input (named after it; a lone array feeds a single-input model) and may hold
'labels'; a directory is read for .npy/.npz files plus labels.csv or labels.npy.

exit codes: 0 ok, 1 usage, 2 bad input or model, 3 unsupported, 4 internal error,
130 cancelled (Ctrl+C)`;

class UsageError extends Error {}

// ------------------------------------------------------------------ arguments

const SPEC = {
  inspect: { positional: 1, options: [] },
  quantize: { positional: 1, options: ['-o', '--output', '--recipe', '--mode', '--calib', '--calib-count', '--report'] },
  compare: { positional: 2, options: ['--data', '--labels'] },
  bench: { positional: 1, options: ['--runs', '--warmup', '--data'] },
};
const COMMON = ['--dim', '--generated'];
const FLAGS = ['--json', '--quiet', '-h', '--help'];

function parseArgs(argv) {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help') return { help: true };
  const spec = SPEC[command];
  if (!spec) throw new UsageError(`unknown command '${command}'`);
  const opts = { command, positional: [], dims: {}, json: false, quiet: false };
  for (let i = 0; i < rest.length; ++i) {
    const a = rest[i];
    if (FLAGS.includes(a)) {
      if (a === '-h' || a === '--help') return { help: true };
      opts[a.slice(2)] = true;
    } else if (a.startsWith('-') && a !== '-') {
      const [name, inline] = a.includes('=') && a.startsWith('--') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
      if (!spec.options.includes(name) && !COMMON.includes(name)) throw new UsageError(`${command}: unknown option ${name}`);
      const value = inline ?? rest[++i];
      if (value === undefined) throw new UsageError(`${command}: ${name} needs a value`);
      if (name === '--dim') {
        const m = /^(.+)=(\d+)$/.exec(value);
        if (!m || Number(m[2]) < 1) throw new UsageError(`--dim expects NAME=SIZE, got '${value}'`);
        opts.dims[m[1]] = Number(m[2]);
      } else opts[name === '-o' ? 'output' : name.slice(2)] = value;
    } else opts.positional.push(a);
  }
  if (opts.positional.length !== spec.positional) {
    throw new UsageError(`${command} takes ${spec.positional} model path${spec.positional > 1 ? 's' : ''}, got ${opts.positional.length}`);
  }
  for (const k of ['runs', 'warmup', 'calib-count', 'generated']) {
    if (opts[k] !== undefined) {
      const v = Number(opts[k]);
      if (!Number.isInteger(v) || v < (k === 'warmup' ? 0 : 1)) throw new UsageError(`--${k} must be a ${k === 'warmup' ? 'non-negative' : 'positive'} integer`);
      opts[k] = v;
    }
  }
  if (command === 'quantize') {
    if (!opts.output) throw new UsageError('quantize: -o <out.onnx> is required');
    if (!opts.recipe && !opts.mode) throw new UsageError('quantize: give --recipe <recipe.json> or --mode <mode>');
    if (opts.recipe && opts.mode) throw new UsageError('quantize: give --recipe or --mode, not both');
    if (opts.mode && !MODES.includes(opts.mode)) throw new UsageError(`quantize: --mode must be one of ${MODES.join(', ')}`);
  }
  if (opts.generated !== undefined && (opts.data || opts.calib)) throw new UsageError('--generated and --data/--calib exclude each other');
  return opts;
}

// ------------------------------------------------------------------ progress

class Progress {
  constructor(quiet) {
    this.quiet = quiet;
    this.tty = process.stderr.isTTY;
    this.last = '';
    this.lastPct = -1;
  }

  update(stage, done, total) {
    if (this.quiet) return;
    const text = total ? `${stage} ${done}/${total}` : done ? `${stage} ${done}` : stage;
    if (this.tty) {
      process.stderr.write(`\r\x1b[K${text}`);
      return;
    }
    // Pipes and logs: a line per stage change and per 10%.
    const pct = total ? Math.floor((10 * done) / total) : -1;
    if (stage !== this.last || pct !== this.lastPct) process.stderr.write(`${text}\n`);
    this.last = stage;
    this.lastPct = pct;
  }

  done() {
    if (!this.quiet && this.tty) process.stderr.write('\r\x1b[K');
  }

  note(text) {
    if (this.quiet) return;
    this.done();
    process.stderr.write(`${text}\n`);
  }
}

// ------------------------------------------------------------------ files and data

const inflateRaw = async (bytes) => new Uint8Array(zlib.inflateRawSync(bytes));

function readFile(file, what) {
  try {
    return new Uint8Array(fs.readFileSync(file));
  } catch (e) {
    throw Object.assign(new Error(`${what} ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`), { code: 'NOT_FOUND' });
  }
}

async function loadModel(file) {
  const bytes = readFile(file, 'model');
  try {
    return { model: await wq.Model.load(bytes), bytes };
  } catch (e) {
    e.message = `${file}: ${e.message}`;
    throw e;
  }
}

function listDataFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const name of fs.readdirSync(d).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))) {
      const p = path.join(d, name);
      if (fs.statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}

// Samples from a file or directory; see the data paragraph of USAGE.
async function loadData(spec, inputs, { dims, labelsFile }) {
  let files;
  if (!fs.existsSync(spec)) throw Object.assign(new Error(`data ${spec}: no such file or directory`), { code: 'NOT_FOUND' });
  if (fs.statSync(spec).isDirectory()) files = listDataFiles(spec);
  else files = [spec];
  const images = files.filter((f) => /\.(png|jpe?g|webp|bmp|gif)$/i.test(f));
  const arrays = files.filter((f) => /\.(npy|npz)$/i.test(f));
  const csvs = files.filter((f) => /\.csv$/i.test(f));
  if (!arrays.length && images.length) {
    throw Object.assign(new Error(`data ${spec}: image files need the web app (browser image decoding); convert them to .npy for the CLI`), { code: 'UNSUPPORTED' });
  }
  if (!arrays.length) throw Object.assign(new Error(`data ${spec}: no .npy or .npz files`), { code: 'INVALID_ARGUMENT' });
  let samples = [];
  const notes = [];
  let labelTokens = null;
  const named = {};
  for (const f of arrays) {
    const bytes = readFile(f, 'data');
    const base = path.basename(f);
    if (/\.npz$/i.test(base)) {
      if (!isZip(bytes)) throw Object.assign(new Error(`${f}: not an .npz (zip) archive`), { code: 'INVALID_ARGUMENT' });
      const { arrays: arrs } = await parseNpz(bytes, inflateRaw, f);
      const r = samplesFromArrays(inputs, arrs, f, dims);
      samples.push(...r.samples);
      notes.push(...r.notes);
    } else {
      if (!isNpy(bytes)) throw Object.assign(new Error(`${f}: not a .npy file`), { code: 'INVALID_ARGUMENT' });
      const arr = parseNpy(bytes, f);
      if (isLabelName(base)) labelTokens = labelsFromArray(arr, f).map(String);
      else named[base.replace(/\.npy$/i, '')] = { arr, file: f };
    }
  }
  const keys = Object.keys(named);
  if (keys.length) {
    if (inputs.every((i) => named[i.name])) {
      const r = samplesFromArrays(inputs, Object.fromEntries(keys.map((k) => [k, named[k].arr])), spec, dims);
      samples.push(...r.samples);
      notes.push(...r.notes);
    } else if (inputs.length === 1) {
      for (const k of keys) {
        const r = splitArray(named[k].arr, inputs[0], named[k].file, dims);
        if (r.note) notes.push(r.note);
        r.tensors.forEach((t, n) => samples.push({ feeds: { [inputs[0].name]: t }, name: `${named[k].file}[${n}]` }));
      }
    } else {
      throw Object.assign(new Error(`data ${spec}: name the .npy files after the model inputs (${inputs.map((i) => i.name + '.npy').join(', ')})`), { code: 'INVALID_ARGUMENT' });
    }
  }
  const csvFile = labelsFile && /\.csv$/i.test(labelsFile) ? labelsFile : (!labelsFile && csvs.length === 1 ? csvs[0] : null);
  if (labelsFile && /\.npy$/i.test(labelsFile)) labelTokens = labelsFromArray(parseNpy(readFile(labelsFile, 'labels'), labelsFile), labelsFile).map(String);
  else if (csvFile) labelTokens = parseLabelsCsv(fs.readFileSync(csvFile, 'utf8'), csvFile).list;
  else if (labelsFile) throw Object.assign(new Error(`labels ${labelsFile}: expected a .csv or .npy file`), { code: 'INVALID_ARGUMENT' });
  if (labelTokens) {
    if (labelTokens.length !== samples.length) {
      throw Object.assign(new Error(`${labelTokens.length} labels for ${samples.length} samples`), { code: 'INVALID_ARGUMENT' });
    }
    const { indices } = indexLabels(labelTokens);
    samples = samples.map((s, i) => ({ ...s, label: indices[i] }));
  }
  if (!samples.length) throw Object.assign(new Error(`data ${spec}: no samples`), { code: 'INVALID_ARGUMENT' });
  checkSamples(inputs, samples);
  return { samples, notes, source: spec, generated: false };
}

async function dataFor(opts, inputs, progress, { flag = 'data', fallbackGenerated = 0 } = {}) {
  const spec = opts[flag];
  if (spec) {
    progress.update('read data', 0, null);
    const d = await loadData(spec, inputs, { dims: opts.dims, labelsFile: opts.labels });
    for (const n of d.notes) progress.note(`note: ${n}`);
    return d;
  }
  if (opts.labels) throw new UsageError('--labels needs --data');
  const n = opts.generated ?? fallbackGenerated;
  if (!n) return null;
  if (opts.generated) progress.note(`warning: ${n} generated random inputs: metrics on them say little about real data`);
  return { samples: generatedSamples(inputs, n, { seed: 1, dims: opts.dims }), notes: [], source: `${n} generated inputs`, generated: true };
}

// ------------------------------------------------------------------ commands

function fmtBytes(n) {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KB` : `${n} B`;
}

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows.map((r) => r.map((v, c) => String(v).padEnd(widths[c])).join('  ').trimEnd()).join('\n');
}

async function inspect(opts) {
  const file = opts.positional[0];
  const { model } = await loadModel(file);
  const s = model.summary();
  model.dispose();
  const quantizable = Object.fromEntries(MODES.map((m) => [m, quantizableOps(s.opCounts, m).filter((o) => o.quantizable).map((o) => o.opType)]));
  if (opts.json) return { model: file, summary: s, quantizable };
  const fmtShape = (v) => (v.shape ? shapeText(v.shape) : 'unknown');
  const lines = [
    `${file}: ${fmtBytes(s.modelBytes)}, ${s.numNodes} nodes, ${s.numParameters.toLocaleString('en-US')} parameters (${fmtBytes(s.parameterBytes)})`,
    `producer ${s.producerName || '-'} ${s.producerVersion || ''}, ir ${s.irVersion}, opsets ${Object.entries(s.opsets).map(([d, v]) => `${d || 'ai.onnx'}:${v}`).join(' ')}`,
    '', 'inputs:', ...s.inputs.map((v) => `  ${v.name}  ${v.dtype}  ${fmtShape(v)}`),
    'outputs:', ...s.outputs.map((v) => `  ${v.name}  ${v.dtype}  ${fmtShape(v)}`),
    '', table([['op', 'count', 'quantized by'], ...s.opCounts.map((o) => [o.opType, o.count,
      MODES.filter((m) => quantizable[m].includes(o.opType)).join(', ') || '-'])]),
  ];
  return lines.join('\n');
}

// The recipe as the user wrote it; quantize() validates it (errors name the field, exit 2).
function readRecipe(opts) {
  if (opts.mode) return { mode: opts.mode };
  const text = new TextDecoder().decode(readFile(opts.recipe, 'recipe'));
  try {
    return JSON.parse(text);
  } catch (e) {
    throw Object.assign(new Error(`recipe ${opts.recipe}: not JSON: ${e.message}`), { code: 'INVALID_ARGUMENT' });
  }
}

async function quantize(opts, { signal, progress }) {
  if (typeof wq.quantize !== 'function') throw new wq.WebquantError('UNSUPPORTED', 'this build of webquant has no quantize()');
  const recipe = readRecipe(opts);
  try {
    wq.normalizeRecipe(recipe);  // fail on a bad recipe before reading the model and the data
  } catch (e) {
    if (opts.recipe) e.message = `${opts.recipe}: ${e.message}`;
    throw e;
  }
  const file = opts.positional[0];
  progress.update('load', 0, null);
  const { model, bytes } = await loadModel(file);
  try {
    const data = await dataFor(opts, model.inputs, progress, { flag: 'calib' });
    if (!data && recipe.mode === 'static') {
      throw Object.assign(new Error('static quantization needs calibration data: --calib <dir|file.npy|file.npz> (or --generated N, weaker)'), { code: 'INVALID_ARGUMENT' });
    }
    const options = { signal, onProgress: (p) => progress.update(p.stage, p.done, p.total) };
    let calibCount = 0;
    if (data) {
      // --calib-count N: N samples spread evenly over the data (the web app's split).
      const { calib } = splitCalibEval(data.samples.length, opts['calib-count'] ?? data.samples.length);
      calibCount = calib.length;
      options.calibration = calib.map((i) => data.samples[i].feeds);  // an array: progress knows the total
    }
    const t0 = performance.now();
    const r = await wq.quantize(model, recipe, options);
    const seconds = (performance.now() - t0) / 1000;
    progress.done();
    fs.mkdirSync(path.dirname(path.resolve(opts.output)), { recursive: true });
    fs.writeFileSync(opts.output, r.bytes);
    if (opts.report) fs.writeFileSync(opts.report, JSON.stringify({ recipe: r.recipe, report: r.report }, jsonReplacer, 2) + '\n');
    r.model.dispose();
    const out = {
      model: file, output: opts.output, recipe: r.recipe, floatBytes: bytes.length, quantizedBytes: r.bytes.length,
      ratio: r.bytes.length / bytes.length, calibrationSamples: calibCount, calibrationSource: data?.source ?? null,
      generated: data?.generated ?? false, seconds, report: r.report,
    };
    if (opts.json) return out;
    return [
      `${opts.output}: ${fmtBytes(out.quantizedBytes)} (${out.ratio.toFixed(3)}x of ${fmtBytes(out.floatBytes)}), mode ${recipe.mode}, ` +
        `${calibCount ? `${calibCount} calibration samples, ` : ''}${seconds.toFixed(2)} s`,
      opts.report ? `report: ${opts.report}` : '',
    ].filter(Boolean).join('\n');
  } finally {
    model.dispose();
  }
}

async function compare(opts, { signal, progress }) {
  if (typeof wq.compare !== 'function') throw new wq.WebquantError('UNSUPPORTED', 'this build of webquant has no compare()');
  const [floatFile, quantFile] = opts.positional;
  progress.update('load', 0, null);
  const f = await loadModel(floatFile);
  let q;
  try {
    q = await loadModel(quantFile);
    const data = await dataFor(opts, f.model.inputs, progress, { fallbackGenerated: 8 });
    if (!opts.data && !opts.generated) progress.note('warning: no --data: comparing on 8 generated random inputs (weaker: not your data)');
    const labels = data.samples.every((s) => s.label !== undefined) ? data.samples.map((s) => s.label) : undefined;
    const report = await wq.compare(f.model, q.model, data.samples.map((s) => s.feeds), {
      labels, signal, onProgress: (p) => progress.update(p.stage ?? 'compare', p.done, p.total),
    });
    progress.done();
    const out = {
      float: floatFile, quantized: quantFile, floatBytes: f.bytes.length, quantizedBytes: q.bytes.length,
      samples: data.samples.length, source: data.source, generated: data.generated, labelled: Boolean(labels), report,
    };
    if (opts.json) return out;
    const fmt = (v, d = 4) => (typeof v === 'number' ? (Number.isFinite(v) ? v.toFixed(d) : String(v)) : v ?? '-');
    const lines = [
      `${quantFile} vs ${floatFile} on ${data.samples.length} samples (${data.source}${data.generated ? ', generated: weaker' : ''})`,
      `size: ${fmtBytes(q.bytes.length)} vs ${fmtBytes(f.bytes.length)} (${(q.bytes.length / f.bytes.length).toFixed(3)}x)`,
      '', table([['output', 'SQNR dB', 'cosine', 'max abs err', 'top-1 agree'],
        ...report.outputs.map((o) => {
          const agree = o.top1Agreement ?? o.argmaxAgreement;
          return [o.name, fmt(o.sqnrDb, 2), fmt(o.cosine, 6), fmt(o.maxAbsError, 6), agree == null ? '-' : fmt(agree, 4)];
        })]),
    ];
    if (report.accuracy) lines.push('', `accuracy: float ${(100 * report.accuracy.float).toFixed(2)}%, quantized ${(100 * report.accuracy.quantized).toFixed(2)}%`);
    if (Array.isArray(report.nodes) && report.nodes.length) {
      const worst = [...report.nodes].filter((n) => Number.isFinite(n.sqnrDb)).sort((a, b) => a.sqnrDb - b.sqnrDb).slice(0, 5);
      if (worst.length) lines.push('', 'lowest per-node SQNR:', ...worst.map((n) => `  ${n.name} (${n.opType}): ${n.sqnrDb.toFixed(2)} dB`));
    }
    return lines.join('\n');
  } finally {
    f.model.dispose();
    q?.model.dispose();
  }
}

async function bench(opts, { signal, progress }) {
  const file = opts.positional[0];
  progress.update('load', 0, null);
  const { model } = await loadModel(file);
  try {
    const data = await dataFor(opts, model.inputs, progress, { fallbackGenerated: 1 });
    const sample = data.samples[splitCalibEval(data.samples.length, data.samples.length).eval[0]].feeds;
    const runs = opts.runs ?? 20;
    const warmup = opts.warmup ?? 2;
    for (let i = 0; i < warmup; ++i) {
      model.run(sample);
      progress.update('warmup', i + 1, warmup);
      await new Promise((r) => setImmediate(r));
      if (signal.aborted) throw new wq.WebquantError('CANCELLED', 'cancelled');
    }
    const times = [];
    for (let i = 0; i < runs; ++i) {
      const t0 = performance.now();
      model.run(sample);
      times.push(performance.now() - t0);
      progress.update('bench', i + 1, runs);
      await new Promise((r) => setImmediate(r));
      if (signal.aborted) throw new wq.WebquantError('CANCELLED', 'cancelled');
    }
    progress.done();
    const sorted = [...times].sort((a, b) => a - b);
    const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    const shapes = Object.fromEntries(Object.entries(sample).map(([k, t]) => [k, t.shape]));
    const out = {
      model: file, runs, warmup, medianMs: median, minMs: sorted[0], maxMs: sorted[sorted.length - 1],
      meanMs: times.reduce((a, b) => a + b, 0) / times.length, inputShapes: shapes, source: data.source, timesMs: times,
    };
    if (opts.json) return out;
    return `${file}: median ${median.toFixed(3)} ms over ${runs} runs (min ${out.minMs.toFixed(3)}, max ${out.maxMs.toFixed(3)}), ` +
      `input ${Object.entries(shapes).map(([k, s]) => `${k} ${shapeText(s)}`).join(', ')}`;
  } finally {
    model.dispose();
  }
}

// ------------------------------------------------------------------ main

const jsonReplacer = (k, v) => (typeof v === 'bigint' ? Number(v) : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : Number.isNaN(v) ? 'NaN' : v);

function exitCodeOf(err) {
  if (err instanceof UsageError) return EXIT.usage;
  switch (err?.code) {
    case 'CANCELLED': return EXIT.cancelled;
    case 'UNSUPPORTED': return EXIT.unsupported;
    case 'INVALID_ARGUMENT': case 'INVALID_MODEL': case 'NOT_FOUND': case 'NUMERIC_ERROR': return EXIT.badInput;
    default: return EXIT.internal;
  }
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`webquant: ${e.message}\n\n${USAGE}\n`);
    return EXIT.usage;
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const ctl = new AbortController();
  let interrupts = 0;
  process.on('SIGINT', () => {
    if (++interrupts > 1) process.exit(EXIT.cancelled);  // a second Ctrl+C does not wait for the current step
    ctl.abort();
  });
  const progress = new Progress(opts.quiet);
  try {
    await wq.init();
    const handler = { inspect, quantize, compare, bench }[opts.command];
    const out = await handler(opts, { signal: ctl.signal, progress });
    progress.done();
    process.stdout.write(typeof out === 'string' ? `${out}\n` : `${JSON.stringify(out, jsonReplacer, 2)}\n`);
    return EXIT.ok;
  } catch (e) {
    progress.done();
    const code = ctl.signal.aborted ? EXIT.cancelled : exitCodeOf(e);
    const label = code === EXIT.cancelled ? 'cancelled' : `${e.code ?? 'ERROR'}: ${e.message}`;
    if (opts.json) process.stdout.write(`${JSON.stringify({ error: { code: code === EXIT.cancelled ? 'CANCELLED' : e.code ?? 'INTERNAL', message: e.message } })}\n`);
    process.stderr.write(`webquant ${opts.command}: ${label}\n`);
    if (code === EXIT.internal && process.env.WEBQUANT_DEBUG) process.stderr.write(`${e.stack}\n`);
    return code;
  }
}

process.exitCode = await main();
