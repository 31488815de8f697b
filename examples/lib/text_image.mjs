// Deterministic text-like test images for OCR models: textImage() (and its
// seeded PRNG) now live in the package's data module (`webquant/data`,
// bindings/js/data/text_image.js); the examples, tests and benchmarks import
// them from here.
export { textImage, rng } from 'webquant/data';
