// The ml_training workload: an MLP trained with torch (the seed's deep-learning scenario).
// Verify proves the parameters frozen at dump time are the ones the restored process holds, and
// that training goes on: the step counter moves and the loss stays on its way down.
import { assetPath } from '../../core/package-root.js';
import { z } from 'zod';
import {
  check,
  defineWorkload,
  numeric,
  pythonModule,
  verdict,
  type WorkloadFinal,
  type WorkloadStatus,
  pythonPayloadArgv,
  withProtocol,
} from '../workload.js';

export const MODEL_SIZES = ['small', 'medium', 'large'] as const;
export const DEVICES = ['cpu', 'cuda'] as const;

export interface MlTrainingParams {
  readonly model_size: (typeof MODEL_SIZES)[number];
  readonly batch_size: number;
  readonly epochs: number;
  readonly learning_rate: number;
  readonly dataset_size: number | undefined;
  readonly device: (typeof DEVICES)[number];
}

/** How far the mean loss after restore may sit above the mean at the freeze: SGD noise; a broken model jumps far beyond it. */
export const LOSS_NOISE = { relative: 0.25, absolute: 0.01 } as const;
/** The loss is on its way down once its mean has fallen this far below the first steps'. */
export const LOSS_DROP = 0.03;
/**
 * Migrate once the loss is on its way down, or after this many steps if it is not yet (the large
 * model's 1000 classes sit on their first plateau for hundreds of steps on a small machine).
 */
export const READY_MAX_STEPS = 100;
/** The payload's LOSS_WINDOW: its loss figures are means over this many steps. */
const LOSS_WINDOW_STEPS = 20;

/** Both parameter copies, re-hashed by the restored process on its first step after the restore. */
interface RestoreCheck {
  readonly at_step: number;
  readonly slots: readonly { readonly step: number | null; readonly checksum: string }[];
}

function restoreCheckOf(final: WorkloadFinal): RestoreCheck | undefined {
  const value = final['restore_check'];
  return typeof value === 'object' && value !== null && Array.isArray((value as RestoreCheck).slots) ? (value as RestoreCheck) : undefined;
}

function parametersCheck(frozen: WorkloadStatus, final: WorkloadFinal) {
  const restored = restoreCheckOf(final);
  const slot = restored?.slots.find((s) => s.step === frozen.counter);
  const detail = !restored
    ? 'the restored process did not notice its restore (its start time did not change), so it re-read no parameters'
    : !slot
      ? `after the restore the kept copies are of steps ${restored.slots.map((s) => s.step).join(', ')}, not step ${frozen.counter}`
      : `step ${frozen.counter}: ${frozen.checksum.slice(0, 16)}… at freeze; re-read from memory right after restore ${slot.checksum.slice(0, 16)}…`;
  return check('parameters intact', slot?.checksum === frozen.checksum, detail);
}

function lossCheck(frozen: WorkloadStatus, final: WorkloadFinal) {
  const [first, atFreeze] = [frozen['loss_first'], frozen['loss_recent']];
  if (typeof first !== 'number' || typeof atFreeze !== 'number')
    return check(
      'loss decreasing on average',
      true,
      `not judged: the freeze (--migrate-after) came before the first ${LOSS_WINDOW_STEPS} steps had a mean loss`,
    );
  const sinceRestore = final['loss_since_restore'];
  const after = Number(sinceRestore ?? final['loss_recent']);
  // Before the loss starts to fall only a jump can be seen; once it falls it must stay below the start.
  const falling = atFreeze <= first * (1 - LOSS_DROP);
  const noJump = after <= atFreeze * (1 + LOSS_NOISE.relative) + LOSS_NOISE.absolute;
  const ok = [first, atFreeze, after].every(Number.isFinite) && noJump && (!falling || after < first);
  const span =
    sinceRestore === null || sinceRestore === undefined
      ? 'at the end'
      : `over the ${final.counter - Number(restoreCheckOf(final)?.at_step)} steps since restore`;
  return check(
    'loss decreasing on average',
    ok,
    `mean loss: ${first.toFixed(4)} over the first ${LOSS_WINDOW_STEPS} steps, ${atFreeze.toFixed(4)} over the last ${LOSS_WINDOW_STEPS} before the freeze, ` +
      `${after.toFixed(4)} ${span}` +
      (falling ? '' : ` (still on its first plateau at the freeze: only checked that it did not jump)`),
  );
}

export const mlTrainingWorkload = defineWorkload<MlTrainingParams>({
  name: 'ml_training',
  description: 'an MLP trained with Adam on a seeded synthetic dataset (torch, on the CPU unless --device cuda)',
  params: [
    {
      key: 'model_size',
      flag: '--model-size',
      description: `model size: ${MODEL_SIZES.join(', ')} (the seed's table)`,
      schema: z.enum(MODEL_SIZES).default('medium'),
    },
    {
      key: 'batch_size',
      flag: '--batch-size',
      description: 'rows per training step',
      schema: numeric(
        z
          .number()
          .int()
          .positive()
          .max(1 << 20),
      ).default(64),
    },
    { key: 'epochs', flag: '--epochs', description: 'epochs to train (0 = forever)', schema: numeric(z.number().int().nonnegative()).default(0) },
    { key: 'learning_rate', flag: '--learning-rate', description: 'Adam learning rate', schema: numeric(z.number().positive().max(10)).default(0.001) },
    {
      key: 'dataset_size',
      flag: '--dataset-size',
      description: "samples (default: the model size's: 10K, 50K, 100K)",
      schema: numeric(z.number().int().positive().max(1e8)).optional(),
    },
    // The CPU even where there is a GPU, as the seed's framework: CRIU dumps a CUDA context only with its cuda plugin.
    {
      key: 'device',
      flag: '--device',
      description: `where torch trains: ${DEVICES.join(' or ')} (cuda needs CRIU's cuda plugin on both nodes)`,
      schema: z.enum(DEVICES).default('cpu'),
    },
  ],
  payloadFiles: withProtocol(assetPath('workloads/ml_training/payload.py')),
  startArgv: ({ params, workDir, scriptDir }) => [
    ...pythonPayloadArgv({ workDir, scriptDir }),
    '--model-size',
    params.model_size,
    '--batch-size',
    String(params.batch_size),
    '--epochs',
    String(params.epochs),
    '--learning-rate',
    String(params.learning_rate),
    '--dataset-size',
    String(params.dataset_size ?? 0),
    '--device',
    params.device,
  ],
  criuFlags: { dump: [], restore: [] },
  requires: [pythonModule('torch', 'python3-torch')],
  // Worth migrating once training is under way: the loss has started to fall.
  readyToMigrate: (status) =>
    typeof status['loss_first'] === 'number' && (Number(status['loss_recent']) <= status['loss_first'] * (1 - LOSS_DROP) || status.counter >= READY_MAX_STEPS),
  verify: ({ frozen, resumed, final }) =>
    verdict([
      check('progress continues', resumed.counter > frozen.counter, `step ${frozen.counter} at freeze, ${resumed.counter} after restore`),
      check('same process', final.pid === frozen.pid, `pid ${frozen.pid} at freeze, ${final.pid} after restore`),
      parametersCheck(frozen, final),
      lossCheck(frozen, final),
    ]),
});
