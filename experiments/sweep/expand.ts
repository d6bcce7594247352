// From a SweepSpec to cells (one combination of the varying settings) and runs (a cell ×
// a repetition). Keys come from the values, not from positions, so a resumed sweep finds its
// finished runs even when the file gained a value.
import { createHash } from 'node:crypto';
import type { Setting, SweepSpec } from './spec.js';

export interface Cell {
  /** 0-based position in the sweep. */
  readonly index: number;
  /** Stable, readable, unique within the sweep: `full_128_same-az`. */
  readonly key: string;
  /** The varying settings only. */
  readonly varying: readonly Setting[];
  /** `mode=full max_memory=128 placement=same-az`. */
  readonly label: string;
}

export interface PlannedRun {
  /** `<cell key>-r<repetition>`; also the folder of the run under runs/. */
  readonly key: string;
  readonly cell: Cell;
  /** 1-based. */
  readonly repetition: number;
  /** Everything set on this run: the sweep's settings, then the cell's. */
  readonly settings: readonly Setting[];
}

const slug = (value: unknown) =>
  String(value)
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^-+|-+$/g, '') || 'x';

/** A key from the values; long ones keep a readable head and a hash of the whole. */
export function keyOf(varying: readonly Setting[]): string {
  if (varying.length === 0) return 'all';
  // A zip of equal values (placement same-az with profile same-az) reads once.
  const readable = varying
    .map((s) => slug(s.value))
    .filter((v, i, all) => v !== all[i - 1])
    .join('_');
  if (readable.length <= 60) return readable;
  return `${readable.slice(0, 50)}_${hashOf(varying)}`;
}

const hashOf = (varying: readonly Setting[]) => createHash('sha256').update(JSON.stringify(varying)).digest('hex').slice(0, 8);

export function labelOf(varying: readonly Setting[]): string {
  return varying.map((s) => `${s.path.split('.').at(-1)}=${String(s.value)}`).join(' ') || '(one cell)';
}

/** The cross product of the matrix axes (outermost first), each combined with every zip row (innermost). */
export function cellsOf(spec: Pick<SweepSpec, 'matrix' | 'zip'>): Cell[] {
  let combinations: Setting[][] = [[]];
  for (const axis of spec.matrix) combinations = combinations.flatMap((head) => axis.values.map((value) => [...head, { path: axis.path, value }]));
  const rows = spec.zip[0]?.values.length ?? 0;
  if (rows > 0) {
    const zipRows = Array.from({ length: rows }, (_, i) => spec.zip.map((axis) => ({ path: axis.path, value: axis.values[i] })));
    combinations = combinations.flatMap((head) => zipRows.map((row) => [...head, ...row]));
  }
  const keys = combinations.map((varying) => keyOf(varying));
  // Values that read alike after slugging (1.0 and 1) must still give distinct folders.
  const unique = new Set(keys).size === keys.length;
  return combinations.map((varying, index) => ({ index, key: unique ? keys[index]! : `${keys[index]}_${hashOf(varying)}`, varying, label: labelOf(varying) }));
}

export function runKey(cell: Pick<Cell, 'key'>, repetition: number, extra?: Setting): string {
  return `${cell.key}${extra ? `_${slug(extra.value)}` : ''}-r${repetition}`;
}

/** Every run of a fixed sweep, cell by cell, repetitions inside a cell. */
export function runsOf(spec: Pick<SweepSpec, 'matrix' | 'zip' | 'settings' | 'repetitions'>): PlannedRun[] {
  return cellsOf(spec).flatMap((cell) =>
    Array.from({ length: spec.repetitions }, (_, i) => ({ key: runKey(cell, i + 1), cell, repetition: i + 1, settings: [...spec.settings, ...cell.varying] })),
  );
}
