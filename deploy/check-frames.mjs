// Checks that services/gateway/assets/console/frames.js types every console socket frame of
// docs/protocol.md ("Agent console socket": the "Client → gateway" and "Gateway → console"
// tables), no more and no fewer (deploy/check-js.sh runs it). With socket.js's HANDLERS typed
// by frames.js, a frame added to the protocol then needs a type and a handler before the test
// command passes. Prints what is wrong and exits 1, or prints nothing.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const protocol = readFileSync(resolve(root, 'docs/protocol.md'), 'utf8');
const frames = readFileSync(resolve(root, 'services/gateway/assets/console/frames.js'), 'utf8');

const consoleSocket = protocol.slice(protocol.indexOf('## Agent console socket'), protocol.indexOf('\n## REST'));
/** The `type` column of the table under `heading`. */
const table = (heading) => {
  const from = consoleSocket.indexOf(heading);
  const rest = consoleSocket.slice(from + heading.length);
  const body = rest.slice(0, rest.search(/\n###? /) >>> 0);
  return new Set([...body.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]));
};

// Each frame typedef's `type`, then the types of the typedefs a union names.
const typeOf = new Map();
for (const m of frames.matchAll(/@typedef \{\{type: '([a-z_]+)'[^}]*\}\} (\w+)/g)) typeOf.set(m[2], m[1]);
for (const m of frames.matchAll(/@typedef \{object\} (\w+)\s*\n\s*\* @property \{'([a-z_]+)'\} type/g)) typeOf.set(m[1], m[2]);
const union = (name) => {
  const m = new RegExp(`@typedef \\{([^}]*)\\} ${name}\\b`).exec(frames);
  return new Set(m ? [...m[1].matchAll(/\w+/g)].map((x) => typeOf.get(x[0]) || `(${x[0]}: no type)`) : []);
};

const problems = [];
for (const [heading, name] of [['### Client → gateway', 'ClientFrame'], ['### Gateway → console', 'ServerFrame']]) {
  const documented = table(heading), typed = union(name);
  if (!documented.size) problems.push(`docs/protocol.md has no "${heading}" table`);
  for (const t of documented) if (!typed.has(t)) problems.push(`${name} has no frame of type '${t}' (${heading})`);
  for (const t of typed) if (!documented.has(t)) problems.push(`${name} has '${t}', which docs/protocol.md's "${heading}" does not`);
}
if (problems.length) {
  console.error(`services/gateway/assets/console/frames.js:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
