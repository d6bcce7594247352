#!/usr/bin/env node
// The criu-lab command: starts the compiled JavaScript in dist/ (`npm run build`; `npm ci`,
// `npm install` and `npm test` build it), so a start compiles nothing.
try {
  await import('../dist/experiments/cli.js');
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('/dist/experiments/cli.js')) throw error;
  process.stderr.write('error: criu-lab is not built (no dist/experiments/cli.js); fix: npm run build in its checkout\n');
  process.exitCode = 70;
}
