// SSH key pairs made with ssh-keygen: the lab's client key and one host key per node,
// and the OpenSSH known_hosts lines that pin those host keys to node addresses.
import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { existsSync } from 'node:fs';
import { run } from './exec.js';

/** Makes an ed25519 pair at `privateKeyPath` (+ `.pub`) unless a complete pair is there; returns the public key line. */
export async function ensureKeyPair(privateKeyPath: string, comment: string): Promise<string> {
  const publicKeyPath = `${privateKeyPath}.pub`;
  await mkdir(dirname(privateKeyPath), { recursive: true, mode: 0o700 });
  if (!(existsSync(privateKeyPath) && existsSync(publicKeyPath))) {
    await rm(privateKeyPath, { force: true });
    await rm(publicKeyPath, { force: true });
    await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', privateKeyPath]);
  }
  await chmod(privateKeyPath, 0o600);
  return (await readFile(publicKeyPath, 'utf8')).trim();
}

/** `ip type base64`: the comment of the public key line is dropped. */
export function knownHostsLine(ip: string, publicKeyLine: string): string {
  const [type, key] = publicKeyLine.split(/\s+/);
  if (!type || !key) throw new TypeError(`not an OpenSSH public key line: ${publicKeyLine}`);
  return `${ip} ${type} ${key}`;
}
