// ESLint of the browser JavaScript and its tests, run by deploy/check-js.sh (ESLint and its
// packages come from deploy/node_modules, installed by deploy/install.sh, hence createRequire).
// The rules that catch what the type check does not: a name that shadows another (two helpers
// of one name once made the console recurse forever), a name used and never defined, a name
// defined and never used.
import { createRequire } from 'node:module';

const require = createRequire(new URL('./deploy/node_modules/', import.meta.url));
const js = require('@eslint/js');
const globals = require('globals');

const strictNames = {
  'no-shadow': ['error', { builtinGlobals: false, hoist: 'all' }],
  'no-undef': 'error',
  'no-unused-vars': ['error', { args: 'after-used', argsIgnorePattern: '^_', caughtErrors: 'none' }],
  'no-redeclare': 'error',
  'no-implicit-globals': 'error',
  eqeqeq: ['error', 'always', { null: 'ignore' }],
};

export default [
  {
    files: ['services/gateway/assets/**/*.js', 'services/gateway/tests/browser/**/*.mjs'],
    ...js.configs.recommended,
  },
  {
    // The console's ES modules.
    files: ['services/gateway/assets/console/**/*.js'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { ...globals.browser } },
    rules: strictNames,
  },
  {
    // The widget: one classic script on other people's pages.
    files: ['services/gateway/assets/widget.js'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'script', globals: { ...globals.browser } },
    rules: strictNames,
  },
  {
    // The browser tests: Node (node --test) driving pages, with page code in page.evaluate.
    files: ['services/gateway/tests/browser/**/*.mjs'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { ...globals.node, ...globals.browser } },
    // `let page = null; try { page = … } finally { … }` is how they clean up.
    rules: { ...strictNames, 'no-useless-assignment': 'off' },
  },
];
