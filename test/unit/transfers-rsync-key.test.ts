// The rsync transfer's per-run key on this machine, with real rsync, sh and awk: the gate its
// authorized_keys line forces lets a copy into the run's directories through and refuses every
// other command, option and destination; its removal takes exactly the run's line.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from '@jest/globals';
import type { Plan } from '../../experiments/config/plan.js';
import type { RunPaths } from '../../experiments/run-context.js';
import { authorizedKeyLine, GATE_SCRIPT, receivingDirs, removeRunKeyArgv } from '../../experiments/transfers/rsync.js';

const RUN = 'memory_20261205_101500';
let root: string;
let paths: RunPaths;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'criu-lab-rsync-key-'));
  paths = {
    workDir: join(root, 'work', RUN),
    sourceImageDir: join(root, 'img', RUN),
    destImageDir: join(root, 'dest', RUN),
    sourceControlDir: join(root, 'img', `${RUN}.ctl`),
    scriptDir: join(root, 'work', RUN),
    dataDir: join(root, 'work', RUN),
  };
  mkdirSync(join(root, 'src'));
  writeFileSync(join(root, 'src', 'pages-1.img'), 'pages');
});

/** What sshd does with the forced command: the client's command in SSH_ORIGINAL_COMMAND, the gate run instead. */
function throughGate(command: string) {
  return spawnSync('/bin/sh', [GATE_SCRIPT, RUN, ...receivingDirs(paths)], {
    env: { ...process.env, SSH_ORIGINAL_COMMAND: command },
    encoding: 'utf8',
    input: '',
  });
}

/** A real rsync whose "ssh" hands the remote command to the gate, as sshd would. */
function rsyncThroughGate(destination: string, extra: string[] = []) {
  const shell = join(root, 'fake-ssh');
  writeFileSync(shell, `#!/bin/sh\nshift\nSSH_ORIGINAL_COMMAND="$*" exec /bin/sh ${GATE_SCRIPT} ${RUN} ${receivingDirs(paths).join(' ')}\n`);
  chmodSync(shell, 0o755);
  return spawnSync(
    'rsync',
    [
      '-a',
      '--whole-file',
      '--numeric-ids',
      '--mkpath',
      `--remote-option=--log-file-format=criu-lab-${RUN}`,
      ...extra,
      '-e',
      shell,
      `${root}/src/`,
      `n2:${destination}/`,
    ],
    { encoding: 'utf8' },
  );
}

describe("the run key's gate on the destination", () => {
  it("lets rsync receive into the run's image dir, work dir and staging dir, with or without compression", () => {
    for (const [dir, extra] of [
      [paths.destImageDir, []],
      [paths.workDir, ['--compress']],
      [`${paths.sourceControlDir}/open-files`, []],
      [`${paths.destImageDir}/final`, []],
    ] as const) {
      const result = rsyncThroughGate(dir, [...extra]);
      expect({ dir, status: result.status, stderr: result.stderr }).toEqual({ dir, status: 0, stderr: '' });
      expect(readFileSync(join(dir, 'pages-1.img'), 'utf8')).toBe('pages');
    }
  });

  it('refuses a destination outside the run, and one that leaves it through .. or a symbolic link', () => {
    mkdirSync(paths.workDir, { recursive: true });
    symlinkSync(root, join(paths.workDir, 'escape'));
    for (const dir of [join(root, 'etc'), `${paths.workDir}/../other`, `${paths.workDir}/escape/etc`, paths.sourceControlDir, join(root, 'work', `${RUN}_2`)]) {
      const result = rsyncThroughGate(dir);
      expect({ dir, status: result.status }).not.toEqual({ dir, status: 0 });
      expect(result.stderr).toContain('criu-lab rsync gate: refused');
    }
    expect(existsSync(join(root, 'etc'))).toBe(false);
    expect(existsSync(join(root, 'work', 'other'))).toBe(false);
    expect(existsSync(join(paths.sourceControlDir, 'pages-1.img'))).toBe(false);
  });

  it('refuses every command that is not rsync receiving with the options criu-lab sends', () => {
    const dest = paths.destImageDir;
    const refused = [
      '',
      'sh -c id',
      `rsync --server --sender -lWogDtpre.iLsfxCIvu . ${dest}/`,
      `rsync --server -lWogDtprRe.iLsfxCIvu . /`,
      `rsync --server -lWogDtpre.iLsfxCIvu --temp-dir=/tmp . ${dest}/`,
      `rsync --server -lWogDtpre.iLsfxCIvu --log-file=/etc/cron.d/x . ${dest}/`,
      `rsync --server -lWogDtpre.iLsfxCIvu --log-file-format=criu-lab-other_20261205_101500 . ${dest}/`,
      `rsync --server -lWogDtpre.iLsfxCIvu . ${dest}/ ${dest}/x`,
      `rsync --server -lWogDtpre.iLsfxCIvu . ${dest}/;id`,
      `rsync --server -lWogDtpre.iLsfxCIvu . $(id)`,
    ];
    for (const command of refused) {
      const result = throughGate(command);
      expect({ command, status: result.status }).toEqual({ command, status: 1 });
      expect(result.stderr).toMatch(/^criu-lab rsync gate: refused: /);
    }
  });
});

describe("the run key's authorized_keys line", () => {
  it("allows the source's addresses only, restricts the rest, and forces a command that is the gate for the run's directories", () => {
    const ctx = { runId: RUN, paths, plan: {} as Plan };
    const line = authorizedKeyLine(ctx, ['10.77.214.11', '192.0.2.7'], `ssh-ed25519 AAAAC3Nza criu-lab-${RUN}`);
    const [, from, quoted, rest] = /^from="([^"]*)",command="((?:[^"\\]|\\")*)",(.*)$/.exec(line)!;
    expect(from).toBe('10.77.214.11,192.0.2.7');
    expect(rest).toBe(`restrict ssh-ed25519 AAAAC3Nza criu-lab-${RUN}`);
    // What sshd runs: the option's value, unquoted, through the user's shell.
    const command = quoted!.replace(/\\"/g, '"');
    expect(command.endsWith(` rsync-gate ${RUN} ${receivingDirs(paths).join(' ')}`)).toBe(true);
    const asSshd = (original: string) =>
      spawnSync('bash', ['-c', command], { env: { ...process.env, SSH_ORIGINAL_COMMAND: original }, encoding: 'utf8', input: '' });
    expect(asSshd('id').stderr).toBe('criu-lab rsync gate: refused: not rsync --server: id\n');
    expect(asSshd('rsync --server -lWogDtpre.iLsfxCIvu . /etc/').stderr).toBe(`criu-lab rsync gate: refused: /etc/ is not inside a directory of run ${RUN}\n`);
    // An allowed destination reaches rsync itself (which then finds no client on its stdin).
    expect(asSshd(`rsync --server -lWogDtpre.iLsfxCIvu . ${paths.destImageDir}/`).stderr).not.toContain('criu-lab rsync gate');
  });

  it('is removed alone, by a fixed-string match of its end: a longer run id, a pattern or another key stays', () => {
    const home = mkdtempSync(join(tmpdir(), 'criu-lab-home-'));
    mkdirSync(join(home, '.ssh'));
    const keys = join(home, '.ssh', 'authorized_keys');
    const lines = [
      'ssh-ed25519 AAAAlab criu-lab-lab',
      `from="10.0.0.1",command="/bin/sh /x/rsync-gate ${RUN}",restrict ssh-ed25519 AAAAone criu-lab-${RUN}`,
      `restrict ssh-ed25519 AAAAtwo criu-lab-${RUN}_2`,
      'ssh-ed25519 AAAAdot criu-lab-memory.20261205.101500',
    ];
    writeFileSync(keys, `${lines.join('\n')}\n`, { mode: 0o600 });
    const run = (runId: string) => {
      const [command, ...args] = removeRunKeyArgv(runId);
      execFileSync(command!, args, { env: { ...process.env, HOME: home } });
    };
    run(RUN);
    expect(readFileSync(keys, 'utf8')).toBe(`${[lines[0], lines[2], lines[3]].join('\n')}\n`);
    run('.*');
    run(RUN);
    expect(readFileSync(keys, 'utf8')).toBe(`${[lines[0], lines[2], lines[3]].join('\n')}\n`);
    run('memory.20261205.101500');
    expect(readFileSync(keys, 'utf8')).toBe(`${[lines[0], lines[2]].join('\n')}\n`);
  });
});
