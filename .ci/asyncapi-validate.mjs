// Validate AsyncAPI documents with the official parser (@asyncapi/parser, installed into
// .ci/node_modules by `npm ci --prefix .ci`). Prints every diagnostic; exits 1 when any
// is an error or a warning (severity 0 or 1), 2 on bad usage. Used by
// tests/contract/test_asyncapi.py.
import { Parser, fromFile } from '@asyncapi/parser';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node asyncapi-validate.mjs FILE...');
  process.exit(2);
}
const parser = new Parser();
let failed = false;
for (const file of files) {
  const { document, diagnostics } = await fromFile(parser, file).parse();
  for (const d of diagnostics) {
    const level = ['error', 'warning', 'info', 'hint'][d.severity] ?? String(d.severity);
    console.log(`${file}: ${level} ${d.code} at ${d.path.join('/') || '/'}: ${d.message}`);
    if (d.severity <= 1) failed = true;
  }
  if (!document) failed = true;
  console.log(`${file}: ${document && !failed ? 'valid' : 'INVALID'}`);
}
process.exit(failed ? 1 : 0);
