// Every repository path written in backticks in README.md and doc/*.md
// exists, so the docs cannot drift from the tree unnoticed. Brace lists
// (`core/model.{h,cc}`) expand to each name; `*` matches within one folder.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;
const TOP = ['core/', 'bindings/', 'web/', 'examples/', 'tests/', 'scripts/', 'doc/', 'bin/', '.ci/'];
const FILES = ['CMakeLists.txt', 'package.json', 'README.md', 'LICENSE'];

function expandBraces(p) {
  const m = p.match(/^(.*?)\{([^{}]*)\}(.*)$/);
  if (!m) return [p];
  return m[2].split(',').flatMap((alt) => expandBraces(m[1] + alt + m[3]));
}

function exists(p) {
  if (!p.includes('*')) return fs.existsSync(path.join(ROOT, p));
  const dir = path.dirname(p), base = path.basename(p);
  if (dir.includes('*')) throw new Error(`glob in a folder name is not supported: ${p}`);
  const re = new RegExp('^' + base.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
  const full = path.join(ROOT, dir);
  return fs.existsSync(full) && fs.readdirSync(full).some((f) => re.test(f));
}

export function docPaths() {
  const docs = ['README.md', ...fs.readdirSync(path.join(ROOT, 'doc')).filter((f) => f.endsWith('.md')).map((f) => `doc/${f}`)];
  const found = [];
  for (const doc of docs) {
    const text = fs.readFileSync(path.join(ROOT, doc), 'utf8');
    for (const m of text.matchAll(/`([^`\s]+)`/g)) {
      const p = m[1].replace(/[:,.;)]+$/, '');
      if (!TOP.some((t) => p.startsWith(t)) && !FILES.includes(p)) continue;
      if (/[<>]/.test(p)) continue;  // a pattern such as `core/kernels/<name>.cc`, not a path
      found.push({ doc, written: m[1], paths: expandBraces(p) });
    }
  }
  return found;
}

test('every path in README.md and doc/*.md exists', () => {
  const refs = docPaths();
  assert.ok(refs.length > 40, `expected the docs to name many paths, found ${refs.length}`);
  const missing = [];
  for (const r of refs) for (const p of r.paths) if (!exists(p)) missing.push(`${r.doc}: \`${r.written}\` (${p})`);
  assert.deepEqual(missing, [], `paths named in the docs that do not exist:\n${missing.join('\n')}`);
});

test('the checker itself expands braces and globs', () => {
  assert.deepEqual(expandBraces('core/a.{h,cc}'), ['core/a.h', 'core/a.cc']);
  assert.deepEqual(expandBraces('core/{x,y}.{h,cc}'), ['core/x.h', 'core/x.cc', 'core/y.h', 'core/y.cc']);
  assert.ok(exists('core/model.h'));
  assert.ok(exists('core/ops/*.cc'));
  assert.ok(!exists('core/no_such_file.cc'));
  assert.ok(!exists('core/ops/*.nope'));
});
