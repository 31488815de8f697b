// Synthetic text-line images: deterministic text-like inputs for OCR models
// (no real photos ship with the npm packages). Draws rows of dark glyph-like
// strokes on a light, slightly noisy background, then normalises the way
// PP-OCR's preprocessing does: (pixel / 255 - 0.5) / 0.5, NCHW float32.
// Like generatedSamples(), weaker than real data: they exercise a model only.

import { rng } from './samples.js';

// Returns {data: Float32Array, shape: [1, 3, height, width]}; `flipped` renders upside down.
export function textImage(height, width, { seed = 1, flipped = false } = {}) {
  const rand = rng(seed);
  const gray = new Float32Array(height * width);
  for (let i = 0; i < gray.length; ++i) gray[i] = 225 + 25 * rand();
  const lineHeight = Math.max(8, Math.round(height * 0.6));
  const top = Math.round((height - lineHeight) / 2);
  let x = Math.round(width * 0.04);
  while (x < width - 6) {
    const glyphW = 4 + Math.floor(rand() * Math.max(4, lineHeight * 0.6));
    const strokes = 1 + Math.floor(rand() * 3);
    for (let s = 0; s < strokes; ++s) {
      const vertical = rand() < 0.6;
      const thick = 1 + Math.floor(rand() * 2);
      const ink = 20 + 40 * rand();
      if (vertical) {
        const sx = x + Math.floor(rand() * glyphW);
        const y0 = top + Math.floor(rand() * lineHeight * 0.3);
        const y1 = top + lineHeight - Math.floor(rand() * lineHeight * 0.2);
        for (let y = y0; y < y1; ++y) for (let t = 0; t < thick; ++t) put(sx + t, y, ink);
      } else {
        const sy = top + Math.floor(rand() * lineHeight);
        for (let xx = x; xx < x + glyphW; ++xx) for (let t = 0; t < thick; ++t) put(xx, sy + t, ink);
      }
    }
    x += glyphW + 2 + Math.floor(rand() * 4);
    if (rand() < 0.12) x += lineHeight / 2;  // word gap
  }
  function put(px, py, v) {
    if (px < 0 || py < 0 || px >= width || py >= height) return;
    const yy = flipped ? height - 1 - py : py;
    const xx = flipped ? width - 1 - px : px;
    gray[yy * width + xx] = v;
  }
  const data = new Float32Array(3 * height * width);
  for (let c = 0; c < 3; ++c) {
    for (let i = 0; i < gray.length; ++i) data[c * gray.length + i] = (gray[i] / 255 - 0.5) / 0.5;
  }
  return { data, shape: [1, 3, height, width] };
}
