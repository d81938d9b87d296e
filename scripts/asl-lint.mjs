// Checks Amazon States Language files with the language service AWS's editors use
// (amazon-states-language-service): schema, unreachable or missing states, bad paths.
// Usage: node scripts/asl-lint.mjs FILE...   Exit 1 on any error or warning.
import { readFileSync } from 'node:fs';
import aslService from 'amazon-states-language-service';

const { getLanguageService, TextDocument } = aslService;

const ls = getLanguageService({});
let problems = 0;
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, 'utf8');
  const doc = TextDocument.create(file, 'json', 1, text);
  const json = ls.parseJSONDocument(doc);
  const diagnostics = await ls.doValidation(doc, json);
  for (const d of diagnostics) {
    const level = d.severity === 1 ? 'error' : d.severity === 2 ? 'warning' : 'info';
    if (d.severity <= 2) problems += 1;
    console.log(`${file}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${level}: ${d.message}`);
  }
  if (diagnostics.length === 0) console.log(`${file}: no problems (amazon-states-language-service)`);
}
process.exit(problems > 0 ? 1 : 0);
