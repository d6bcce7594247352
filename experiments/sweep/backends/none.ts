// The none backend: nodes someone else brought up, named by a servers.yaml; the sweep only runs on them.
import type { BackendFactory } from './backend.js';

export const noneBackend: BackendFactory = {
  name: 'none',
  create(spec) {
    const serversPath = spec.infra.servers!;
    return {
      name: 'none',
      serversPath,
      up: async () => undefined,
      down: async () => undefined,
      prepareRun: async () => undefined,
      describe: () => `the nodes of ${serversPath} were left as they were`,
    };
  },
};
