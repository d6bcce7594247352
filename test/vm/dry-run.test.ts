// A predump dry run against the real run on the VM lab (lab name v9d, with the storage node),
// where pre-dump works (the guests' kernel has soft-dirty tracking): predump × rsync and
// predump × s3 (moto on the storage node) each issue exactly the commands their dry run lists.
// Run with `npm run test:vm` (CRIU_LAB_VM_TESTS=1), as root.
import { expect, it } from '@jest/globals';
import { compareWithDryRun } from '../lab/dry-run-compare.js';
import { setting, useLab } from '../support/lab.js';
import { describeOnVm, VM_LAB_TIMEOUTS } from '../support/vm.js';

const describeVm = await describeOnVm('test/vm/dry-run');

describeVm('a predump dry run on the VM lab', () => {
  const lab = useLab({
    name: 'v9d',
    nodes: 2,
    backend: 'vm',
    storage: true,
    workload: { mb_size: 16, max_memory: 64, interval: 0.2 },
    ...VM_LAB_TIMEOUTS,
  });

  it.each([
    ['rsync', 'soft-dirty check, pre-freeze check, rounds, open-file lookups, relink, cleanup'],
    ['s3', 'and the bucket check, the uploads and downloads of each round, the removal of the objects'],
  ])(
    'predump × %s: lists the commands the real run issues: %s',
    async (method) => {
      const plan = lab.plan([
        setting('checkpoint.strategy.mode', 'predump'),
        setting('checkpoint.strategy.predump_iterations', 2),
        setting('checkpoint.strategy.predump_interval', 1),
        setting('transfer.method', method),
        setting('workload.type', 'memory'),
      ]);
      const { outcome, differences } = await compareWithDryRun(plan);
      expect(outcome).toBe('ok');
      expect(differences).toEqual({ missing: [], unplanned: [] });
    },
    20 * 60_000,
  );
});
