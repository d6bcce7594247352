// Checkpoint strategies by name. Adding one is a file in this folder and one line here.
import { Registry } from '../../core/registry.js';
import type { Strategy } from './strategy.js';
import { fullStrategy } from './full.js';
import { lazyStrategy } from './lazy.js';
import { pageserverStrategy } from './pageserver.js';
import { predumpStrategy } from './predump.js';

export const strategies = new Registry<Strategy>('checkpoint strategy')
  .register(fullStrategy)
  .register(predumpStrategy)
  .register(pageserverStrategy)
  .register(lazyStrategy);
