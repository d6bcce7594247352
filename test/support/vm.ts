// Whether the VM lab tests can run here: `npm run test:vm` (CRIU_LAB_VM_TESTS=1), as root, with the
// host's CRIU and qemu. `npm test` skips them: software-emulated guests are slow.
import { existsSync } from 'node:fs';
import { describe } from '@jest/globals';
import { ensureVmTools } from '../../infra/local/vm/image.js';

/** Why the VM suites cannot run here, or undefined when they can. */
async function whyNotVm(): Promise<string | undefined> {
  if (process.env['CRIU_LAB_VM_TESTS'] !== '1')
    return 'VM lab tests run only with `npm run test:vm` (CRIU_LAB_VM_TESTS=1): they take minutes, more with a cold image build';
  if (process.getuid?.() !== 0) return 'VM lab tests need root (taps, bridge, debootstrap)';
  if (!existsSync('/usr/local/sbin/criu')) return 'VM lab tests need the host CRIU 4.2.1 (bash scripts/setup-host.sh)';
  try {
    await ensureVmTools();
  } catch (error) {
    return `qemu, qemu-img or debootstrap unavailable and scripts/setup-vm.sh could not install them: ${(error as Error).message.split('\n')[0]}`;
  }
  return undefined;
}

/** `describe` when the VM lab can run here, else `describe.skip` after saying why (suite names the file). */
export async function describeOnVm(suite: string): Promise<typeof describe | typeof describe.skip> {
  const reason = await whyNotVm();
  if (reason) console.warn(`skipping ${suite}: ${reason}`);
  return reason ? describe.skip : describe;
}

/** A VM lab's `useLab` timeouts: a cold image build takes minutes, a guest shutdown up to two. */
export const VM_LAB_TIMEOUTS = { upTimeoutMs: 20 * 60_000, downTimeoutMs: 120_000, removeWork: true } as const;
