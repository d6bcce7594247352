#!/usr/bin/env node
// The criu-lab command: runs the TypeScript sources directly (tsx), so there is no build step to forget.
import { register } from 'tsx/esm/api';

register();
await import('../experiments/cli.ts');
