// webquant/data: the data helpers the worker (webquant/worker), the CLI
// (bin/webquant.mjs) and apps share. Plain functions over typed arrays: no DOM,
// no Node API, so they run in a page, a Worker and Node alike. Types in data.d.ts.
//
//   data/npy.js            .npy reader/writer, .npz (zip, stored or deflate) reader
//   data/samples.js        arrays -> samples, labels (CSV, folders, arrays), image
//                          preprocessing (RGBA pixels -> tensor), generated inputs, the
//                          calibration/evaluation and training/validation splits
//   data/recipe.js         the recipe as a form sees it: defaults per method, form <-> JSON,
//                          which ops each mode quantizes
//   data/mnist_samples.js  the "WQMN" labelled-digits file format (web/assets/mnist_samples.bin)
//   data/text_image.js     synthetic text-line images for OCR models
export * from './data/npy.js';
export * from './data/samples.js';
export * from './data/recipe.js';
export * from './data/mnist_samples.js';
export * from './data/text_image.js';
