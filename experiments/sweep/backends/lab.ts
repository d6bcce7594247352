// The lab backend: the local namespace lab, (re)created with `lab up`, its node links shaped
// to the run's bandwidth profile with tc tbf before each run.
import { join } from 'node:path';
import { labDown, labUp, type LabInfo } from '../../../infra/local/lab.js';
import { applyProfile, bandwidthProfile } from '../../../infra/local/profiles.js';
import type { BackendFactory } from './backend.js';

export const labBackend: BackendFactory = {
  name: 'lab',
  create(spec) {
    const { name, nodes } = spec.infra.lab;
    const serversPath = join(spec.dir, 'servers.yaml');
    let info: LabInfo | undefined;
    return {
      name: 'lab',
      serversPath,
      async up() {
        ({ info } = await labUp({ name, nodes, serversPath }));
      },
      async down() {
        info = undefined;
        await labDown({ name, serversPath });
      },
      async prepareRun(plan) {
        if (!info) throw new Error(`lab ${name} is not up; the sweep calls up() before a run`);
        const profile = plan.experiment.profile;
        // With parallel pairs, only the run's own two nodes: the other pairs may carry another profile.
        const names = [plan.nodes.source.name, plan.nodes.destination.name];
        const nodes = spec.parallel > 1 ? info.nodes.filter((node) => names.includes(node.name)) : info.nodes;
        await applyProfile(nodes, profile === undefined ? undefined : bandwidthProfile(profile));
      },
      describe: () => `lab '${name}' is still up (${nodes} nodes); \`criu-lab lab down --name ${name} --servers ${serversPath}\` removes it`,
    };
  },
};
