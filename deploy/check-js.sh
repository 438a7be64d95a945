#!/usr/bin/env bash
# The static checks of the browser JavaScript (deploy/test.sh's "browser code" step):
# - tsc: the console's ES modules (tsconfig.json, strict) and the widget (tsconfig.widget.json),
#   JavaScript with JSDoc types, checked and never compiled;
# - ESLint (eslint.config.mjs): no shadowed, undefined or unused names, in the pages and their
#   browser tests;
# - console.html loads the console as one module entry with a modulepreload link for every
#   module it imports, and has no inline script or event handler (check-console-html.mjs);
# - console/frames.js types every console socket frame of docs/protocol.md (check-frames.mjs);
# - the widget's budget: widget.js gzipped (gzip -9) under 30 KB, since every shopper on every
#   dealer page downloads it.
# TypeScript and ESLint come from deploy/node_modules (deploy/install.sh installs them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bin=deploy/node_modules/.bin
for tool in tsc eslint; do
  [ -x "$bin/$tool" ] || { echo "check-js: $bin/$tool is missing: run deploy/install.sh" >&2; exit 1; }
done

"$bin/tsc" -p tsconfig.json
"$bin/tsc" -p tsconfig.widget.json
"$bin/eslint" --max-warnings 0 services/gateway/assets services/gateway/tests/browser
node deploy/check-console-html.mjs
node deploy/check-frames.mjs

widget=services/gateway/assets/widget.js
budget=30720 # 30 KB
size="$(gzip -9 -c "$widget" | wc -c | tr -d ' ')"
if [ "$size" -ge "$budget" ]; then
  echo "check-js: $widget is $size bytes gzipped (gzip -9), over its budget of $budget bytes (30 KB): every shopper downloads it, make it smaller" >&2
  exit 1
fi
echo "check-js: tsc, ESLint, console.html and the frame types are clean; $widget is $size bytes gzipped (budget $budget)"
