// Sweep backends by name. Adding one is a file in this folder and one line here.
import { Registry } from '../../../core/registry.js';
import { awsBackend } from './aws.js';
import type { BackendFactory } from './backend.js';
import { labBackend } from './lab.js';
import { noneBackend } from './none.js';

export const sweepBackends = new Registry<BackendFactory>('sweep backend').register(labBackend).register(awsBackend).register(noneBackend);
