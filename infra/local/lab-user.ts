// `lab up --user <name>`: a non-root SSH user for the lab's nodes, the way cloud images log in
// (ubuntu, admin) and reach root through passwordless sudo. The nodes share the host's root
// filesystem and /home, so the user, its sudoers drop-in and its authorized key are made once
// on the host; `lab down` removes exactly what `lab up` added (the user only if it made it).
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExternalError, UsageError } from '../../core/errors.js';
import { run } from './exec.js';

export interface LabUser {
  readonly name: string;
  /** True when `lab up` created the account, so `lab down` deletes it; false for an account that was there. */
  readonly created: boolean;
}

export const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

const sudoersPath = (lab: string) => `/etc/sudoers.d/criu-lab-${lab}`;

interface Account {
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

async function account(name: string): Promise<Account | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const fields = passwd
    .split('\n')
    .map((line) => line.split(':'))
    .find((f) => f[0] === name);
  return fields ? { uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5]! } : undefined;
}

/** The comment of a lab's key pair, by which its line in a user's authorized_keys is found again. */
export const labKeyComment = (lab: string): string => `criu-lab lab ${lab}`;

/** Lines of authorized_keys without the lab's key. */
const withoutLabKey = (text: string, lab: string) => text.split('\n').filter((line) => line.trim() !== '' && !line.endsWith(` ${labKeyComment(lab)}`));

/** Makes `name` able to log in to the lab's nodes with the lab key and to run anything as root with `sudo -n`. */
export async function addLabUser(lab: string, name: string, publicKey: string): Promise<LabUser> {
  if (!USER_NAME.test(name) || name === 'root') {
    throw new UsageError(`invalid lab options: --user ${name} is not a user name other than root`, [], { hint: 'use a name like crlab' });
  }
  if (!existsSync('/usr/bin/sudo'))
    throw new ExternalError('sudo is not installed on this host (the nodes share its root filesystem)', {
      hint: 'install the lab prerequisites with `bash scripts/setup-host.sh` (as root)',
    });
  let found = await account(name);
  const created = found === undefined;
  if (created) {
    await run(['useradd', '--create-home', '--shell', '/bin/bash', name]);
    // A new account's password is locked ('!'), and sshd without PAM refuses locked accounts: '*' is "no password" without the lock.
    await run(['usermod', '-p', '*', name]);
    found = await account(name);
  }
  if (!found) throw new ExternalError(`cannot find the account ${name} after creating it`, { hint: 'check /etc/passwd' });
  const drop = sudoersPath(lab);
  await writeFile(`${drop}.tmp`, `# written by \`criu-lab lab up --user\` for lab ${lab}; removed by \`lab down\`\n${name} ALL=(ALL:ALL) NOPASSWD: ALL\n`, {
    mode: 0o440,
  });
  await run(['visudo', '-c', '-q', '-f', `${drop}.tmp`], { hint: `the sudoers line for ${name} does not parse` });
  await run(['mv', `${drop}.tmp`, drop]);
  const sshDir = join(found.home, '.ssh');
  const keys = join(sshDir, 'authorized_keys');
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  const kept = existsSync(keys) ? withoutLabKey(await readFile(keys, 'utf8'), lab) : [];
  await writeFile(keys, `${[...kept, publicKey].join('\n')}\n`, { mode: 0o600 });
  for (const path of [sshDir, keys]) await chown(path, found.uid, found.gid);
  await chmod(sshDir, 0o700);
  return { name, created };
}

/** Undoes addLabUser: the lab key line and the sudoers drop-in go, and the account if the lab made it. Returns what was removed. */
export async function removeLabUser(lab: string, user: LabUser): Promise<string[]> {
  const removed: string[] = [];
  const drop = sudoersPath(lab);
  if (existsSync(drop)) {
    await rm(drop, { force: true });
    removed.push(`sudoers drop-in ${drop}`);
  }
  const found = await account(user.name);
  if (!found) return removed;
  if (user.created) {
    await run(['userdel', '--remove', user.name], { check: false });
    removed.push(`user ${user.name}`);
    return removed;
  }
  const keys = join(found.home, '.ssh', 'authorized_keys');
  if (existsSync(keys)) {
    const kept = withoutLabKey(await readFile(keys, 'utf8'), lab);
    await writeFile(keys, kept.length > 0 ? `${kept.join('\n')}\n` : '');
    removed.push(`lab key in ${keys}`);
  }
  return removed;
}
