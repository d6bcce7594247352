// Keys a configuration sets that no schema reads: a typo (`mb_szie`) or a key of the seed's
// framework. Each is named with the nearest known key at the same level, so a typo is caught
// even though the file still loads (and refused under --strict).
import type { z } from 'zod';

/** The keys an object schema reads, each a leaf or the keys beneath it. */
export type KeyTree = { readonly [key: string]: KnownKeys | 'leaf' };
/** A key tree, or 'any' where every key is accepted (records, loose objects). */
export type KnownKeys = KeyTree | 'any';

interface Def {
  readonly type: string;
  readonly innerType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly out?: z.ZodType;
  readonly shape?: Record<string, z.ZodType>;
  readonly catchall?: z.ZodType;
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional']);

/**
 * The key tree of a zod schema, seen through defaults, optionals and pipes (a pipe's schema is
 * the side that is not a transform: preprocess or .transform). The one walker over zod's
 * internals: the loader's unknown keys and the sweep's setting paths both read its tree.
 */
export function knownKeysOf(schema: z.ZodType): KnownKeys | 'leaf' {
  const def = defOf(schema);
  if (WRAPPERS.has(def.type) && def.innerType) return knownKeysOf(def.innerType);
  if (def.type === 'pipe' && def.in && def.out) return knownKeysOf(defOf(def.out).type === 'transform' ? def.in : def.out);
  if (def.type === 'record') return 'any';
  if (def.type === 'object' && def.shape) {
    if (def.catchall && defOf(def.catchall).type !== 'never') return 'any';
    return Object.fromEntries(Object.entries(def.shape).map(([key, child]) => [key, knownKeysOf(child)]));
  }
  return 'leaf';
}

/** Whether a dotted path (as keys) names a setting of the tree: a key it reads, or one under a record or loose object. */
export function hasKeyPath(known: KnownKeys | 'leaf', path: readonly string[]): boolean {
  let level = known;
  for (const key of path) {
    if (level === 'any') return true;
    if (level === 'leaf' || !Object.hasOwn(level, key)) return false;
    level = level[key]!;
  }
  return true;
}

/** Levenshtein distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

/** The known key closest to `key`, when it is close enough to be a typo of it. */
export function closestKey(key: string, candidates: readonly string[]): string | undefined {
  const limit = Math.max(2, Math.ceil(key.length / 3));
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(key.toLowerCase(), name.toLowerCase());
    if (distance <= limit && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

function allPaths(known: KnownKeys, prefix = ''): string[] {
  if (known === 'any') return [];
  return Object.entries(known).flatMap(([key, child]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    return child === 'leaf' ? [path] : [path, ...allPaths(child, path)];
  });
}

export interface UnknownKey {
  /** The dotted path of the key that no schema reads. */
  readonly path: string;
  /** The known key (dotted path) it most likely meant, if any. */
  readonly suggestion: string | undefined;
}

/** Every key of `tree` that `known` does not read, with a suggestion: a near key at the same level, else the same name elsewhere. */
export function findUnknownKeys(tree: unknown, known: KnownKeys): UnknownKey[] {
  const everywhere = allPaths(known);
  const found: UnknownKey[] = [];
  const walk = (node: unknown, level: KnownKeys, prefix: string): void => {
    if (level === 'any' || typeof node !== 'object' || node === null || Array.isArray(node)) return;
    for (const [key, value] of Object.entries(node)) {
      const path = prefix ? `${prefix}.${key}` : key;
      // Own keys only: `constructor` or `toString` in a file are unknown keys, not Object's.
      const child = Object.hasOwn(level, key) ? level[key] : undefined;
      if (child === undefined) {
        const near = closestKey(key, Object.keys(level));
        const elsewhere = everywhere.find((p) => p.endsWith(`.${key}`) || p === key);
        found.push({ path, suggestion: near ? (prefix ? `${prefix}.${near}` : near) : elsewhere });
      } else if (child !== 'leaf') walk(value, child, path);
    }
  };
  walk(tree, known, '');
  return found;
}
