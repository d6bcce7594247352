// Counts the import arrows between the top folders from madge's JSON, and names every arrow that
// runs against the one direction: bin/bench/scripts → experiments → {infra, workloads} → core.
// Usage: npm run import-arrows [-- --check]   (--check: silent, exit 1 when an arrow runs against the direction)
import { readFileSync } from 'node:fs';

/** A folder may import only folders of a lower rank; infra and workloads are siblings and do not import each other. */
const RANK: Readonly<Record<string, number>> = { core: 0, infra: 1, workloads: 1, experiments: 2, bin: 3, bench: 3, scripts: 3 };

interface Arrow {
  readonly from: string;
  readonly to: string;
}

/** The file-to-file imports that cross a top folder, from madge's `{ file: [imported files] }`. */
function crossFolderArrows(graph: Readonly<Record<string, readonly string[]>>): Arrow[] {
  const top = (file: string) => file.split('/')[0] ?? file;
  return Object.entries(graph).flatMap(([from, imports]) => imports.filter((to) => top(to) !== top(from)).map((to) => ({ from, to })));
}

/** True when the arrow runs down the direction (to a strictly lower rank). */
function followsDirection(arrow: Arrow): boolean {
  const from = RANK[arrow.from.split('/')[0] ?? ''];
  const to = RANK[arrow.to.split('/')[0] ?? ''];
  return from !== undefined && to !== undefined && to < from;
}

function main(): void {
  const graph = JSON.parse(readFileSync(0, 'utf8')) as Record<string, string[]>;
  const arrows = crossFolderArrows(graph);
  const byPair = new Map<string, number>();
  for (const { from, to } of arrows) {
    const pair = `${from.split('/')[0]} → ${to.split('/')[0]}`;
    byPair.set(pair, (byPair.get(pair) ?? 0) + 1);
  }
  const against = arrows.filter((arrow) => !followsDirection(arrow));
  // --check (npm test) speaks only when an arrow runs the wrong way.
  const check = process.argv.includes('--check');
  if (!check) for (const [pair, count] of [...byPair].sort()) process.stdout.write(`${pair}: ${count}\n`);
  if (!check || against.length > 0) process.stdout.write(`${arrows.length} arrows between top folders, ${against.length} against the direction\n`);
  for (const { from, to } of against) process.stdout.write(`  against: ${from} → ${to}\n`);
  if (check && against.length > 0) process.exitCode = 1;
}

main();
