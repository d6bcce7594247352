// What counts as a secret in files criu-lab writes (results, reports, servers.yaml), and a scan
// of a directory tree for it: private key blocks, AWS access keys and secret keys, and the
// body of a given private key.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const secretPatterns: readonly RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/,
  /aws_secret_access_key|AWS_SECRET_ACCESS_KEY|aws_session_token|AWS_SESSION_TOKEN/,
  // A secret access key in a key=value or key: value pair, whatever the key's spelling.
  /secret[_-]?(?:access[_-]?)?key["']?\s*[:=]\s*["']?[A-Za-z0-9/+]{40}\b/i,
];

/** The base64 body lines of an OpenSSH private key, each a pattern: finding any one of them is finding the key. */
export function privateKeyLines(privateKey: string): RegExp[] {
  return privateKey
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length >= 20 && !line.startsWith('-----'))
    .map((line) => new RegExp(line.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
}

/** Every regular file under `dir` whose content (read as latin1, so binaries are scanned too) matches one of `patterns`. */
export function filesHolding(dir: string, patterns: readonly RegExp[]): string[] {
  const found: string[] = [];
  const walk = (path: string): void => {
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) return;
    if (stat.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
    else if (stat.isFile()) {
      const text = readFileSync(path).toString('latin1');
      if (patterns.some((p) => p.test(text))) found.push(path);
    }
  };
  walk(dir);
  return found;
}
