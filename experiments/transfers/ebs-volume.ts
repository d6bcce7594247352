// The EBS transfer's volume, seen from the transfer: where it is, and how it gets from the
// source to the destination. Two implementations: an EC2 volume (ebs-ec2.ts) and a local
// block device (the lab's loop device, "attached" to a node by being mounted in its namespace).
import type { Role } from '../../core/node.js';

/** What a volume mover needs done on the nodes (mounts are the nodes' business, not EC2's). */
export interface VolumeHost {
  /** The mount path the images live under (transfer.ebs_mount). */
  readonly mountPath: string;
  /** True when `device` is mounted at the mount path on the node. */
  isMounted(role: Role, device: string): Promise<boolean>;
  /** True when anything at all is mounted at the mount path on the node. */
  anythingMounted(role: Role): Promise<boolean>;
  /** True when the device node exists on the node. */
  hasDevice(role: Role, device: string): Promise<boolean>;
  /** Waits until the device node exists on the node (an attached EBS volume shows up after a moment). */
  waitForDevice(role: Role, device: string): Promise<void>;
  mount(role: Role, device: string): Promise<void>;
  unmount(role: Role): Promise<void>;
}

/** Runs one named sub-step and records its timing; the transfer passes one that feeds its metrics. */
export type StepRunner = <T>(name: string, work: () => Promise<T>) => Promise<T>;

export interface VolumeMover {
  /** A short description for messages: `vol-0abc (us-west-2a)`, `/dev/loop7`. */
  readonly label: string;
  /**
   * Before the freeze: the volume exists and ends up attached to the source and mounted at the
   * mount path. A volume a previous run left on the destination is brought back first.
   */
  prepare(host: VolumeHost): Promise<void>;
  /** After the source unmounted it: the volume (or, across zones, a copy) attached to the destination; its device there. */
  handOver(host: VolumeHost, step: StepRunner): Promise<string>;
  /** Deletes what the move created (a cross-zone copy, its snapshot) and re-attaches an original left detached; tolerates any partial state. */
  cleanup(host: VolumeHost): Promise<void>;
}
