// What every browser test file shares: playwright-core from deploy/node_modules (where
// deploy/install.sh put it; libs/testkit/tests/browser.rs passes SHOWROOM_NODE_MODULES) and
// Debian's Chromium, started with the flags this machine's closed network needs.
import { createRequire } from 'node:module';

const require = createRequire(`${process.env.SHOWROOM_NODE_MODULES}/`);
const { chromium } = require('playwright-core');

/** Starts headless Chromium (never a downloaded browser). */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}
