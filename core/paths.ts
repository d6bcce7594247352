// Paths as a user writes them in a config file or a flag.
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/** `~` and `~/x` under the home directory; any other relative path against `cwd`. */
export function expandHome(path: string, cwd: string = process.cwd()): string {
  if (path === '~' || path.startsWith('~/')) return join(homedir(), path.slice(1));
  return isAbsolute(path) ? path : resolve(cwd, path);
}
