// Validate element template files against @camunda/element-templates-json-schema with ajv.
// Usage: node validate.mjs FILE...; prints one JSON line per file and exits 1 if any is invalid.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import Ajv from "ajv";

const require = createRequire(import.meta.url);
const schema = require("@camunda/element-templates-json-schema/resources/schema.json");
// strict: false because the schema carries ajv-errors' "errorMessage" keyword, which only words messages.
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

let failed = 0;
for (const file of process.argv.slice(2)) {
  const ok = validate(JSON.parse(readFileSync(file, "utf8")));
  if (!ok) failed += 1;
  console.log(JSON.stringify({ file, ok, errors: ok ? [] : validate.errors }));
}
process.exit(failed ? 1 : 0);
