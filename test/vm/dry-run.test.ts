// A predump dry run against the real run on the VM lab (lab name v9d), where pre-dump works
// (the guests' kernel has soft-dirty tracking). The VM lab has no storage node yet, so the pair is
// predump × rsync; predump × s3 needs `--storage` on the VM backend. What the dry run of predump +
// s3 adds over rsync (the bucket checks, the uploads and downloads, the removal of the objects)
// is compared with real runs of full, pageserver and lazy over s3 in test/lab/sessions.test.ts.
// Run with `npm run test:vm` (CRIU_LAB_VM_TESTS=1), as root.
import { expect, it } from '@jest/globals';
import { compareWithDryRun } from '../lab/dry-run-compare.js';
import { setting, useLab } from '../support/lab.js';
import { describeOnVm, VM_LAB_TIMEOUTS } from '../support/vm.js';

const describeVm = await describeOnVm('test/vm/dry-run');

describeVm('a predump dry run on the VM lab', () => {
  const lab = useLab({ name: 'v9d', nodes: 2, backend: 'vm', workload: { mb_size: 16, max_memory: 64, interval: 0.2 }, ...VM_LAB_TIMEOUTS });

  it(
    'lists the commands the real predump run issues: soft-dirty check, pre-freeze check, rounds, open-file lookups, relink, cleanup',
    async () => {
      const plan = lab.plan([
        setting('checkpoint.strategy.mode', 'predump'),
        setting('checkpoint.strategy.predump_iterations', 2),
        setting('checkpoint.strategy.predump_interval', 1),
        setting('transfer.method', 'rsync'),
        setting('workload.type', 'memory'),
      ]);
      const { outcome, differences } = await compareWithDryRun(plan);
      expect(outcome).toBe('ok');
      expect(differences).toEqual({ missing: [], unplanned: [] });
    },
    20 * 60_000,
  );
});
