// Where `lab up --storage` finds moto (infra/local/moto.ts), on made-up directories: the
// CRIU_LAB_MOTO_SERVER override, PATH without pyenv's shims, pyenv's versions newest first (their
// moto_server, else python3 -m moto.server), and the error that says where it looked and how to install.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { findMotoServer, requireMotoServer } from '../../infra/local/moto.js';

let home: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'criu-lab-moto-find-'));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

function executable(path: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, '#!/bin/sh\n');
  chmodSync(path, 0o755);
  return path;
}

describe('findMotoServer', () => {
  it('takes CRIU_LAB_MOTO_SERVER when set, and only it', () => {
    const pinned = executable(join(home, 'opt', 'moto_server'));
    const onPath = executable(join(home, 'bin', 'moto_server'));
    expect(findMotoServer({ env: { CRIU_LAB_MOTO_SERVER: pinned, PATH: join(onPath, '..') }, home })).toEqual({
      command: { argv: [pinned], found: `CRIU_LAB_MOTO_SERVER=${pinned}` },
    });
    expect(findMotoServer({ env: { CRIU_LAB_MOTO_SERVER: join(home, 'nope'), PATH: join(onPath, '..') }, home })).toEqual({
      missing: `CRIU_LAB_MOTO_SERVER=${join(home, 'nope')} is not an executable file`,
    });
  });

  it("finds moto_server on PATH, skipping pyenv's shims", () => {
    executable(join(home, '.pyenv', 'shims', 'moto_server'));
    const real = executable(join(home, 'bin', 'moto_server'));
    expect(findMotoServer({ env: { PATH: `${join(home, '.pyenv', 'shims')}:${join(home, 'bin')}` }, home })).toEqual({
      command: { argv: [real], found: real },
    });
  });

  it("takes the newest pyenv version's moto_server, else its python3 with the moto package", () => {
    const versions = join(home, '.pyenv', 'versions');
    executable(join(versions, '3.9.18', 'bin', 'moto_server'));
    const newer = executable(join(versions, '3.11.7', 'bin', 'moto_server'));
    expect(findMotoServer({ env: { PATH: '' }, home })).toEqual({ command: { argv: [newer], found: newer } });

    const python = executable(join(versions, '3.12.1', 'bin', 'python3'));
    mkdirSync(join(versions, '3.12.1', 'lib', 'python3.12', 'site-packages', 'moto'), { recursive: true });
    writeFileSync(join(versions, '3.12.1', 'lib', 'python3.12', 'site-packages', 'moto', 'server.py'), '');
    expect(findMotoServer({ env: { PATH: '' }, home })).toEqual({
      command: { argv: [python, '-m', 'moto.server'], found: `${python} -m moto.server` },
    });
  });

  it('says where it looked and how to install moto when there is none', () => {
    executable(join(home, '.pyenv', 'versions', '3.11.7', 'bin', 'python3'));
    const search = findMotoServer({ env: { PATH: '/usr/bin:/bin' }, home });
    expect(search).toEqual({
      missing: `looked in $CRIU_LAB_MOTO_SERVER (unset), for moto_server on PATH (/usr/bin:/bin) and in ${home}/.pyenv/versions/*/bin/ (moto_server, or python3 with the moto package)`,
    });
    expect(() => requireMotoServer(search)).toThrow(/^lab up --storage needs moto_server \(moto 5\.2\.1, .*looked in \$CRIU_LAB_MOTO_SERVER/);
    try {
      requireMotoServer(search);
    } catch (error) {
      expect((error as { hint?: string }).hint).toContain("pip install 'moto[server]==5.2.1'");
    }
  });
});
