// Timing helpers shared by the benchmarks: warm-up, then the median of N runs.
import { performance } from 'node:perf_hooks';

export async function timeRuns(fn, { warmup = 3, runs = 10 } = {}) {
  for (let i = 0; i < warmup; ++i) await fn();
  const times = [];
  for (let i = 0; i < runs; ++i) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const median = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
  return { median, min: times[0], max: times[times.length - 1], runs };
}

export function printTable(title, columns, rows) {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padStart(widths[i])).join('  ');
  console.log(`\n${title}`);
  console.log(line(columns));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}
