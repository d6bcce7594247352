// Reading what CRIU leaves in an image directory after a dump or restore.
import type { RemoteNode } from '../../core/node.js';
import { decodeCriuStats, type CriuStats } from './stats.js';

/** The counters of `stats-dump` or `stats-restore` in imageDir; {} when CRIU wrote none. */
export async function readCriuStats(node: RemoteNode, imageDir: string, kind: 'dump' | 'restore'): Promise<CriuStats> {
  const file = await node.readFile(`${imageDir}/stats-${kind}`).catch(() => undefined);
  return file ? (decodeCriuStats(file)[kind] ?? {}) : {};
}

/** Bytes under a directory on a node (du -sb). */
export async function directoryBytes(node: RemoteNode, dir: string): Promise<number> {
  const result = await node.run(['du', '-sb', dir], { check: false, idempotent: true, step: 'du' });
  return Number(result.stdout.split('\t')[0]) || 0;
}

/** A CRIU log's text; '' when it is not there (yet). */
export async function readLog(node: RemoteNode, path: string): Promise<string> {
  return node.readFile(path).then(
    (file) => file.toString('utf8'),
    () => '',
  );
}
