// Checks services/gateway/assets/console.html against the console's modules (deploy/check-js.sh
// runs it): the page loads one module entry, has a <link rel="modulepreload"> for every module
// that entry imports (directly or not) and for none it does not, and has no inline script and
// no inline event handler, so a Content-Security-Policy of script-src 'self' can hold.
// Prints what is wrong and exits 1, or prints nothing.
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const assets = resolve(dirname(fileURLToPath(import.meta.url)), '../services/gateway/assets');
const page = readFileSync(join(assets, 'console.html'), 'utf8');
const problems = [];

const scripts = [...page.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
for (const [, attrs, body] of scripts) {
  if (!/\bsrc=/.test(attrs) || body.trim()) problems.push(`an inline script: <script${attrs}>`);
}
const modules = scripts.filter(([, attrs]) => /\btype="module"/.test(attrs)).map(([, attrs]) => /\bsrc="([^"]+)"/.exec(attrs)?.[1]);
if (modules.length !== 1 || !modules[0]) problems.push(`${modules.length} module scripts, one expected`);
for (const m of page.matchAll(/<[a-z][^>]*\s(on[a-z]+)\s*=/gi)) problems.push(`an inline event handler: ${m[1]}=`);

// Every module the entry imports, by their static imports (the console has no dynamic ones).
const reached = new Set();
const walk = (file) => {
  if (reached.has(file)) return;
  reached.add(file);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/^\s*import\s+(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm)) walk(resolve(dirname(file), m[1]));
};
if (modules[0]) walk(join(assets, modules[0]));
const url = (file) => '/' + relative(assets, file).split('\\').join('/');
const wanted = new Set([...reached].map(url).filter((u) => u !== modules[0]));
const preloaded = new Set([...page.matchAll(/<link\s+rel="modulepreload"\s+href="([^"]+)"/g)].map((m) => m[1]));
for (const u of wanted) if (!preloaded.has(u)) problems.push(`no <link rel="modulepreload" href="${u}">`);
for (const u of preloaded) if (!wanted.has(u)) problems.push(`a modulepreload of ${u}, which ${modules[0]} does not import`);

if (problems.length) {
  console.error(`services/gateway/assets/console.html:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
