// `criu-lab infra bake --rehearsal`: the bake's own code (bakeImage: CreateImage, wait until
// available, tags) against the rehearsal's moto, on a node whose guest booted and ran its user
// data; the guest's disk is then saved under the image id moto gave (images.ts), and the config's
// ami is set to that id as a real bake sets it, so the next `infra deploy --rehearsal -c` with the
// same config boots every node from it and setup-host.sh finds CRIU in place.
import { resolve } from 'node:path';
import { bakeImage, discardImage, useBakedImage, type BakedImage } from '../bake.js';
import type { InfraEffects } from '../deploy.js';
import { rehearsalEc2Client } from './cloud.js';
import { BAKED_IMAGE_STORE, discardStoredImage, saveGuestImage } from './images.js';
import { rehearseDeploy, type RehearsalOutcome } from './rehearse.js';

export interface RehearsalBakeOptions {
  /** The config whose ami is set to the baked image. */
  readonly configPath: string;
  readonly rehearsalDir: string;
  /** The node to image. @default the first node */
  readonly from?: string;
  /** Bake from the stand-in for Debian's own AMI, as a first bake on AWS does: the node builds CRIU at boot. @default false */
  readonly stockImage?: boolean;
  readonly imageStore?: string;
  readonly bootTimeoutMs?: number;
}

export interface RehearsalBake {
  readonly baked: BakedImage;
  readonly rehearsal: RehearsalOutcome;
}

export async function rehearseBake(options: RehearsalBakeOptions, effects: InfraEffects): Promise<RehearsalBake> {
  const store = resolve(options.imageStore ?? BAKED_IMAGE_STORE);
  let baked: BakedImage | undefined;
  const rehearsal = await rehearseDeploy(
    {
      configPath: options.configPath,
      rehearsalDir: options.rehearsalDir,
      destroyAfter: true,
      imageStore: store,
      ...(options.stockImage === undefined ? {} : { stockImage: options.stockImage }),
      ...(options.bootTimeoutMs === undefined ? {} : { bootTimeoutMs: options.bootTimeoutMs }),
      afterReady: async ({ outputs, endpoint, guests, image }) => {
        const ec2 = rehearsalEc2Client(endpoint, outputs.region);
        try {
          const made = await bakeImage(ec2, outputs, {
            ...(options.from === undefined ? {} : { from: options.from }),
            timeoutMs: 60_000,
            pollMs: 1_000,
            log: effects.log,
          });
          const guest = guests.guests.find((started) => started.plan.instanceId === made.fromInstance);
          if (guest === undefined) throw new Error(`internal: no guest stands in for ${made.fromInstance}`);
          try {
            effects.log(`saving ${made.fromNode}'s disk as ${made.imageId} in ${store} (the guest powers down, as CreateImage stops the instance)`);
            await saveGuestImage(guest, image, made.imageId, store, effects.log);
          } catch (error) {
            await discardImage(ec2, made.imageId);
            await discardStoredImage(made.imageId, store);
            throw error;
          }
          baked = made;
        } finally {
          ec2.destroy();
        }
      },
    },
    effects,
  );
  if (baked === undefined) throw new Error('internal: the rehearsal ended without baking');
  useBakedImage(options.configPath, baked, {
    by: '`criu-lab infra bake --rehearsal`',
    where: `in ${store} on this machine only, an AMI of no account`,
  });
  effects.log(`${options.configPath}: ami is now ${baked.imageId}; the next \`infra deploy --rehearsal -c ${options.configPath}\` boots its nodes from it`);
  return { baked, rehearsal };
}
