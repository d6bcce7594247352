// Whether a storage lab (`lab up --storage`) can run here: its S3 is moto, which must be installed
// (infra/local/moto.ts looks for it). Without it the storage suites skip, saying why; CI's no-skip
// check (scripts/ci-no-skips.ts) then fails the run, since CI's image has moto.
import { describe } from '@jest/globals';
import { motoMissingReason } from '../../infra/local/moto.js';

/** `describe` when moto is installed, else `describe.skip` after saying why (suite names the file). */
export function describeWithMoto(suite: string): typeof describe | typeof describe.skip {
  const reason = motoMissingReason();
  if (reason) console.warn(`skipping ${suite}: ${reason}`);
  return reason ? describe.skip : describe;
}
