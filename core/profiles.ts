// The bandwidth profiles file (config/profiles.yaml): its schema and its profiles by name. The
// lab applies them to its links (infra/local/profiles.ts); the config and the report name them.
import { assetPath } from './package-root.js';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';

export const PROFILES_FILE = assetPath('config/profiles.yaml');

export interface BandwidthProfile {
  readonly name: string;
  readonly rateMbit: number;
  /** The AWS figure the rate stands for, before scaling. */
  readonly awsGbit: number;
  readonly basis: string;
}

export const profilesSchema = z.object({
  scale: z.number().positive(),
  profiles: z.record(
    z.string().regex(/^[a-z0-9-]+$/),
    z.object({ rate_mbit: z.number().positive().max(100_000), aws_gbit: z.number().positive(), basis: z.string().min(1) }),
  ),
});

let cache: ReadonlyMap<string, BandwidthProfile> | undefined;

/** Every profile in config/profiles.yaml, by name; an invalid file is our bug, reported as such. */
export function bandwidthProfiles(file: string = PROFILES_FILE): ReadonlyMap<string, BandwidthProfile> {
  if (file === PROFILES_FILE && cache) return cache;
  const parsed = profilesSchema.parse(parse(readFileSync(file, 'utf8')));
  const profiles = new Map(
    Object.entries(parsed.profiles).map(([name, p]) => [name, Object.freeze({ name, rateMbit: p.rate_mbit, awsGbit: p.aws_gbit, basis: p.basis })]),
  );
  if (file === PROFILES_FILE) cache = profiles;
  return profiles;
}

export function profileNames(): string[] {
  return [...bandwidthProfiles().keys()];
}
