#!/usr/bin/env node
// The webquant fuzz suite (issue 13: no input can corrupt the module).
//
//   node tests/fuzz/run.mjs                      # CI run: ~8,600 cases, 2-4 minutes on 2 cores
//   npm run fuzz -- --long                       # >= 100,000 cases
//   node tests/fuzz/run.mjs --cases 20000 --seed 7 --family mutate-struct,hostile
//   node tests/fuzz/run.mjs --repro artifacts/fuzz-failures/<file>.onnx   (or the .json next to it)
//   node tests/fuzz/run.mjs --workers 1 --only mutate-struct:12,mutate-struct:235   (replay a sequence)
//
// Cases run in child processes (tests/fuzz/worker.mjs, a pool of --workers,
// default 2), in batches, so WASM init is paid once per batch. A case fails
// on: crash (worker died, Emscripten abort, any non-WebquantError, a
// WebquantError with empty code/message or code INTERNAL, or an API misuse
// call that succeeded), hang (> --timeout ms, default 15000: the worker is
// killed), corrupted state (the known-good model no longer loads and runs
// bit-identically afterwards), a modified input buffer, or a bad message
// (> 4,100 chars: the core caps at 4,000 plus a marker; or unescaped control characters). Failing cases are
// written to artifacts/fuzz-failures/ with a .json describing how to rerun them.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FAMILIES, COUNTS, planFamily, materialize } from './cases.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const outDir = path.join(root, 'artifacts', 'fuzz-failures');

function parseArgs(argv) {
  const o = { long: false, cases: null, seed: 1, families: null, repro: null, only: null, workers: 2, timeout: 15000, batch: 25,
    recycle: 500, verbose: false };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) throw new Error(`${a} needs a value`); return argv[++i]; };
    if (a === '--long') o.long = true;
    else if (a === '--cases') o.cases = Number(val());
    else if (a === '--seed') o.seed = Number(val());
    else if (a === '--family') o.families = val().split(',');
    else if (a === '--repro') o.repro = val();
    else if (a === '--only') o.only = val().split(',');
    else if (a === '--workers') o.workers = Math.max(1, Number(val()));
    else if (a === '--timeout') o.timeout = Number(val());
    else if (a === '--verbose') o.verbose = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: node tests/fuzz/run.mjs [--long] [--cases N] [--seed S] [--family a,b] [--workers N] [--timeout ms] [--repro file] [--only family:index,...] [--verbose]');
      console.log(`families: ${FAMILIES.join(', ')}`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  for (const f of o.families ?? []) if (!FAMILIES.includes(f)) throw new Error(`unknown family ${f} (have ${FAMILIES.join(', ')})`);
  return o;
}

const opts = parseArgs(process.argv.slice(2));

function plan() {
  if (opts.only) {
    // family:index,... in this order (with --workers 1: one process, to replay a sequence).
    return opts.only.map((x, key) => {
      const [family, index] = x.split(':');
      if (!FAMILIES.includes(family) || !(Number(index) >= 0)) throw new Error(`--only: bad case ${x} (family:index)`);
      const spec = { family, index: Number(index), seed: opts.seed, key };
      if (materialize(spec).fresh) spec.fresh = true;
      return spec;
    });
  }
  const families = opts.families ?? FAMILIES;
  const counts = { ...COUNTS[opts.long ? 'long' : 'default'] };
  if (opts.cases != null) {
    // Split N over the seeded families in the default proportions.
    const seeded = Object.keys(counts).filter((f) => families.includes(f));
    const total = seeded.reduce((s, f) => s + counts[f], 0);
    for (const f of seeded) counts[f] = Math.max(1, Math.round((opts.cases * counts[f]) / total));
  }
  const specs = [];
  for (const f of families) specs.push(...planFamily(f, counts[f] ?? 0, opts.seed, { long: opts.long }));
  specs.forEach((s, i) => { s.key = i; });
  return specs;
}

// ---- the worker pool -------------------------------------------------------------

class Worker {
  constructor(pool, freshCase = false) {
    this.pool = pool;
    this.fresh = freshCase;
    this.inflight = [];  // specs sent, not yet answered (in order)
    this.history = [];   // family:index of the cases this process ran
    this.done = 0;
    this.stderr = '';
    this.dead = false;
    this.ready = false;
    this.proc = fork(path.join(here, 'worker.mjs'), freshCase ? ['--fresh'] : [], {
      serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: ['--max-old-space-size=4096'],
    });
    this.proc.stderr.on('data', (d) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
    this.proc.on('message', (m) => this.onMessage(m));
    this.proc.on('exit', (code, signal) => this.onExit(code, signal));
    this.arm(120000, 'startup');
  }

  arm(ms, what) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onTimeout(what), ms);
  }

  send(cases) {
    this.inflight.push(...cases);
    this.arm(opts.timeout, 'case');
    this.proc.send({ type: 'batch', cases: cases.map((c) => ({ key: c.key, spec: c.spec, bytes: c.bytes, action: c.action, reference: this.pool.reference })) });
  }

  onMessage(m) {
    if (this.dead) return;  // retired: what it still says is about cases already requeued
    if (m.type === 'ready') {
      this.ready = true;
      clearTimeout(this.timer);
      if (m.reference) {
        const ref = JSON.stringify(m.reference);
        if (this.pool.reference && JSON.stringify(this.pool.reference) !== ref)
          this.pool.fatal(`workers disagree on the known-good model's outputs: ${ref} vs ${JSON.stringify(this.pool.reference)}`);
        this.pool.reference ??= m.reference;
      }
      this.pool.feed(this);
    } else if (m.type === 'result') {
      const c = this.inflight.shift();
      this.done += 1;
      this.arm(opts.timeout, 'case');
      // What ran before in this process, for failures that depend on earlier cases.
      c.before = this.history.slice(-20);
      this.history.push(`${c.spec.family}:${c.spec.index}`);
      this.pool.record(c, m.result);
      // A corrupted module is not reused: the next cases get a fresh process.
      if (m.result.failures.some((f) => f.kind === 'corrupted')) this.retire();
    } else if (m.type === 'batch-done') {
      clearTimeout(this.timer);
      if (this.fresh || this.done >= opts.recycle) this.retire();
      else this.pool.feed(this);
    }
  }

  retire() {
    if (this.dead) return;
    this.dead = true;
    clearTimeout(this.timer);
    const rest = this.inflight.splice(0);
    this.pool.requeue(rest);
    try { this.proc.send({ type: 'exit' }); } catch { /* already gone */ }
    setTimeout(() => { try { this.proc.kill('SIGKILL'); } catch { /* gone */ } }, 2000).unref();
    this.pool.replace(this);
  }

  onTimeout(what) {
    if (this.dead) return;
    this.dead = true;
    try { this.proc.kill('SIGKILL'); } catch { /* gone */ }
    if (what === 'startup' && !this.inflight.length) {
      this.pool.fatal(`a worker did not start within 120 s: ${this.stderr.slice(-1000)}`);
      return;
    }
    const [c, ...rest] = this.inflight.splice(0);
    this.pool.requeue(rest);
    this.pool.record(c, { outcome: 'hang', failures: [{ kind: 'hang', detail: `no result after ${opts.timeout} ms (worker killed)` }] });
    this.pool.replace(this);
  }

  onExit(code, signal) {
    clearTimeout(this.timer);
    if (this.dead) return;
    this.dead = true;
    const tail = this.stderr.trim().split('\n').slice(-6).join(' | ').slice(-800);
    if (!this.inflight.length) {
      if (!this.ready) this.pool.fatal(`a worker exited during startup (code ${code}, signal ${signal}): ${tail}`);
      else this.pool.replace(this);
      return;
    }
    const [c, ...rest] = this.inflight.splice(0);
    this.pool.requeue(rest);
    this.pool.record(c, { outcome: 'crash', failures: [{ kind: 'crash', detail: `worker process died (exit code ${code}, signal ${signal}): ${tail}` }] });
    this.pool.replace(this);
  }
}

class Pool {
  // items: [{key, spec, bytes?, action?}]; spec.fresh: run in a process of its own, before init().
  constructor(items, size, onResult) {
    this.queue = items.filter((c) => !c.spec.fresh);
    this.freshQueue = items.filter((c) => c.spec.fresh);
    this.size = size;
    this.onResult = onResult;
    this.workers = new Set();
    this.remaining = items.length;
    this.reference = null;
  }

  run() {
    return new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      if (this.remaining === 0) { resolve(); return; }
      for (let i = 0; i < Math.min(this.size, this.queue.length || 1); ++i) this.workers.add(new Worker(this));
    });
  }

  fatal(message) {
    for (const w of this.workers) { w.dead = true; clearTimeout(w.timer); try { w.proc.kill('SIGKILL'); } catch { /* gone */ } }
    this.workers.clear();
    this.reject(new Error(message));
  }

  feed(w) {
    if (w.dead) return;
    if (w.fresh) {
      if (!w.inflight.length && !w.done) w.send([w.fresh]);
      return;
    }
    // Fresh-process cases need the reference outputs from a normal worker first.
    if (this.freshQueue.length && this.reference) {
      const c = this.freshQueue.shift();
      const fw = new Worker(this, c);
      this.workers.add(fw);
    }
    if (!this.queue.length) {
      w.retire();
      return;
    }
    w.send(this.queue.splice(0, opts.batch));
  }

  requeue(cases) { this.queue.unshift(...cases); }

  replace(w) {
    this.workers.delete(w);
    if (this.remaining === 0) { this.finish(); return; }
    const normal = [...this.workers].filter((x) => !x.fresh).length;
    if (this.queue.length && normal < this.size) this.workers.add(new Worker(this));
    else if (!this.queue.length && this.freshQueue.length && this.workers.size === 0) {
      // Only fresh cases remain and nobody made a reference yet.
      this.workers.add(new Worker(this));
    }
  }

  record(c, result) {
    this.remaining -= 1;
    this.onResult(c, result);
    if (this.remaining === 0) this.finish();
  }

  finish() {
    if (this.finished) return;
    this.finished = true;
    for (const w of this.workers) { w.dead = true; clearTimeout(w.timer); try { w.proc.send({ type: 'exit' }); } catch { /* gone */ } }
    this.resolve();
  }
}

// ---- reporting -------------------------------------------------------------------

const COLUMNS = ['cases', 'ok', 'clean errors', 'crashes', 'hangs', 'corrupted', 'modified', 'bad messages'];
const KIND_COLUMN = { crash: 'crashes', hang: 'hangs', corrupted: 'corrupted', modified: 'modified', message: 'bad messages' };

function table(stats) {
  const rows = [['case family', ...COLUMNS]];
  const total = Object.fromEntries(COLUMNS.map((c) => [c, 0]));
  for (const [family, s] of Object.entries(stats)) {
    rows.push([family, ...COLUMNS.map((c) => String(s[c]))]);
    for (const c of COLUMNS) total[c] += s[c];
  }
  rows.push(['total', ...COLUMNS.map((c) => String(total[c]))]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((x, i) => (i ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join(' | ')} |`;
  const out = [line(rows[0]), `|${widths.map((w, i) => (i ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|')}|`];
  for (const r of rows.slice(1)) out.push(line(r));
  return { text: out.join('\n'), total };
}

// Groups failures whose messages differ only in numbers, names and offsets.
function signature(f) {
  return `${f.family} ${f.kind} ${f.detail.replace(/'[^']*'/g, "'…'").replace(/-?\d+(\.\d+)?/g, 'N').slice(0, 160)}`;
}

const safe = (s) => s.replace(/[^A-Za-z0-9._^+-]+/g, '_').slice(0, 80);

function saveArtifact(c, result) {
  fs.mkdirSync(outDir, { recursive: true });
  const mat = materialize(c.spec);
  const base = `${c.spec.family}-${safe(mat.name)}-${c.spec.seed}-${c.spec.index}`;
  const meta = {
    family: c.spec.family, name: mat.name, spec: { family: c.spec.family, index: c.spec.index, seed: c.spec.seed },
    action: mat.action, detail: mat.detail, failures: result.failures, code: result.code, message: result.message,
    repro: `node tests/fuzz/run.mjs --repro artifacts/fuzz-failures/${base}.${mat.bytes ? 'onnx' : 'json'}`,
    // If the case passes on its own, the state left by these (same process, oldest first) matters.
    casesBefore: c.before ?? [],
  };
  if (mat.bytes) fs.writeFileSync(path.join(outDir, `${base}.onnx`), mat.bytes);
  fs.writeFileSync(path.join(outDir, `${base}.json`), `${JSON.stringify(meta, null, 2)}\n`);
  return meta.repro;
}

async function repro(file) {
  if (!fs.existsSync(file)) throw new Error(`--repro: no such file ${file}`);
  const jsonFile = file.endsWith('.json') ? file : file.replace(/\.onnx$/, '.json');
  const meta = fs.existsSync(jsonFile) ? JSON.parse(fs.readFileSync(jsonFile, 'utf8')) : null;
  const bytes = file.endsWith('.onnx') ? new Uint8Array(fs.readFileSync(file)) : undefined;
  // Bytes without a .json: load and run them like a mutation case.
  const spec = meta ? { ...meta.spec } : { family: 'truncate-small', index: 0, seed: 0 };
  const action = meta ? meta.action : 'run';
  if (materialize(spec).fresh) spec.fresh = true;
  console.log(`fuzz repro: ${meta ? `${meta.family} ${meta.name} (${action})` : file} ${meta?.detail ?? ''}`);
  let outcome = null;
  const pool = new Pool([{ key: 0, spec, bytes, action }], 1, (_c, result) => { outcome = result; });
  await pool.run();
  console.log(JSON.stringify(outcome, null, 2));
  process.exit(outcome.failures.length ? 1 : 0);
}

async function main() {
  if (opts.repro) return repro(opts.repro);
  if (!fs.existsSync(path.join(root, 'dist', 'webquant.wasm'))) {
    console.error('fuzz: dist/webquant.wasm is missing: build the module first (bash scripts/build.sh module)');
    process.exit(1);
  }
  const specs = plan();
  // This run's failures replace the last run's.
  if (fs.existsSync(outDir))
    for (const f of fs.readdirSync(outDir)) if (/\.(onnx|json|txt)$/.test(f)) fs.rmSync(path.join(outDir, f));
  const stats = {};
  for (const s of specs) stats[s.family] ??= Object.fromEntries(COLUMNS.map((c) => [c, 0]));
  const failures = [];
  const start = Date.now();
  let done = 0, lastPrint = Date.now();
  const onResult = (c, r) => {
    const s = stats[c.spec.family];
    s.cases += 1;
    if (r.outcome === 'ok') s.ok += 1;
    else if (r.outcome === 'clean') s['clean errors'] += 1;
    const kinds = new Set(r.failures.map((f) => f.kind));
    for (const k of kinds) s[KIND_COLUMN[k]] += 1;
    for (const f of r.failures) failures.push({ c, family: c.spec.family, kind: f.kind, detail: f.detail, result: r });
    done += 1;
    if (opts.verbose) console.log(`${c.spec.family} ${c.spec.index}: ${r.outcome} ${r.ms ?? ''}ms ${r.code ?? ''} ${r.failures.map((f) => f.kind).join(',')}`);
    // Progress: a live line on a terminal, one line a minute in a log.
    const now = Date.now();
    if (now - lastPrint > (process.stderr.isTTY ? 1000 : 60000)) {
      lastPrint = now;
      process.stderr.write(`${process.stderr.isTTY ? '\r' : ''}fuzz: ${done}/${specs.length} cases, ${failures.length} failures, ` +
        `${((now - start) / 1000).toFixed(0)} s${process.stderr.isTTY ? ' ' : '\n'}`);
    }
  };
  console.log(`fuzz: ${specs.length} cases (seed ${opts.seed}${opts.long ? ', long' : ''}) on ${opts.workers} workers, ${opts.timeout} ms per case`);
  const pool = new Pool(specs.map((spec) => ({ key: spec.key, spec })), opts.workers, onResult);
  // Interrupted (Ctrl-C, a CI timeout): report what ran so far.
  let interrupted = false;
  const stop = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.log(`\nfuzz: interrupted after ${done} of ${specs.length} cases`);
    pool.finish();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await pool.run();
  if (interrupted) for (const w of pool.workers) { try { w.proc.kill('SIGKILL'); } catch { /* gone */ } }
  if (process.stderr.isTTY) process.stderr.write('\n');
  const seconds = (Date.now() - start) / 1000;

  // Failures: every one to a log file, the first 100 and one line per class to the console,
  // up to 3 reproducible artifacts per class.
  const groups = new Map();
  for (const f of failures) {
    const sig = signature(f);
    if (!groups.has(sig)) groups.set(sig, []);
    groups.get(sig).push(f);
  }
  let saved = 0;
  const lines = [];
  if (failures.length) fs.mkdirSync(outDir, { recursive: true });
  for (const [, list] of groups) {
    for (const f of list) {
      const mat = materialize(f.c.spec);
      f.name = mat.name;
      f.line = `${f.family} ${mat.name} (seed ${f.c.spec.seed}, index ${f.c.spec.index}${mat.detail ? `; ${mat.detail}` : ''}): ${f.kind}: ${f.detail}`;
      lines.push(f.line);
    }
    for (const f of list.slice(0, 3)) {
      if (saved >= 200) break;
      f.repro = saveArtifact(f.c, f.result);
      saved += 1;
    }
  }
  if (failures.length) {
    fs.writeFileSync(path.join(outDir, 'failures.txt'), `${lines.join('\n')}\n`);
    console.log(`\nfailures (${failures.length}; all in artifacts/fuzz-failures/failures.txt):`);
    for (const l of lines.slice(0, 100)) console.log(`  ${l.slice(0, 400)}`);
    if (lines.length > 100) console.log(`  ... and ${lines.length - 100} more`);
    console.log(`\nfailure classes (${groups.size}):`);
    for (const [, list] of [...groups].sort((a, b) => b[1].length - a[1].length)) {
      const f = list[0];
      console.log(`  ${String(list.length).padStart(5)} x ${f.family} ${f.kind}: ${f.detail.slice(0, 300)}`);
      console.log(`          e.g. ${f.name}${f.repro ? `: ${f.repro}` : ''}`);
    }
  }
  const { text, total } = table(stats);
  console.log(`\n${text}\n`);
  const bad = total.crashes + total.hangs + total.corrupted + total.modified + total['bad messages'];
  console.log(`fuzz: ${total.cases} cases, ${total.crashes} crashes, ${total.hangs} hangs, ${total.corrupted} corrupted, ` +
    `${total.modified} modified inputs, ${total['bad messages']} bad messages (${seconds.toFixed(0)} s)`);
  process.exit(bad || interrupted ? 1 : 0);
}

main().catch((e) => { console.error(`fuzz: ${e.stack ?? e}`); process.exit(2); });
