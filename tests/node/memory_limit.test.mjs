// Model.load's memoryLimitBytes: what loading and each run may hold in
// tensors. Over it the node that asked fails with OUT_OF_MEMORY, the model
// and the module keep working; a bad option is INVALID_ARGUMENT.
import test from 'node:test';
import assert from 'node:assert/strict';
import { init, Model, WebquantError } from '../../bindings/js/index.js';
import { textImage } from '../../examples/lib/text_image.mjs';
import { PPOCR, readModel } from './helpers.mjs';

await init();
const { height, width } = PPOCR.cls;
const bytes = readModel('cls');
const feeds = (m) => ({ [m.inputs[0].name]: textImage(height, width, { seed: 5 }) });

test('a run over the memory limit fails with OUT_OF_MEMORY naming the node and the limit', async () => {
  const free = await Model.load(bytes, { memoryLimitBytes: 0 });
  const reference = free.run(feeds(free));
  const tight = await Model.load(bytes, { memoryLimitBytes: 64 * 1024 });
  for (let i = 0; i < 2; ++i) {  // the model stays usable: the same run fails the same way again
    assert.throws(() => tight.run(feeds(tight)), (e) => e instanceof WebquantError && e.code === 'OUT_OF_MEMORY' &&
      /node '[^']+' \(\w+\)/.test(e.message) && /memory limit/.test(e.message) && /65536 bytes/.test(e.message));
  }
  const roomy = Model.loadSync(bytes, { memoryLimitBytes: 256 * 2 ** 20 });
  const out = roomy.run(feeds(roomy));
  const name = free.outputs[0].name;
  assert.deepEqual(Array.from(out[name].data), Array.from(reference[name].data));
  for (const m of [free, tight, roomy]) m.dispose();
});

test('memoryLimitBytes must be a non-negative integer', async () => {
  for (const bad of [-1, 1.5, NaN, '1000', 2 ** 60, 10n]) {
    await assert.rejects(Model.load(bytes, { memoryLimitBytes: bad }),
      (e) => e instanceof WebquantError && e.code === 'INVALID_ARGUMENT' && /memoryLimitBytes/.test(e.message), String(bad));
  }
  assert.throws(() => Model.loadSync(bytes, 42), (e) => e instanceof WebquantError && e.code === 'INVALID_ARGUMENT');
  const m = await Model.load(bytes);  // default options still load
  m.dispose();
});
