import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  bastionUserData,
  EFS_MOUNT_OPTIONS,
  escapeTerraformTemplate,
  nodeUserData,
  readSetupHostScript,
  USER_DATA_LIMIT_BYTES,
} from '../../infra/aws/user-data.js';
import { synthStack } from './helpers.js';

/** What Terraform makes of an escaped template: `$${` and `%%{` become literal `${` and `%{`. */
const asTerraformRenders = (text: string) => text.replace(/\$\$\{/g, '${').replace(/%%\{/g, '%{');

describe('node user data', () => {
  const setupHost = readSetupHostScript();
  const script = nodeUserData({
    setupHostScript: setupHost,
    loginUser: 'admin',
    cloudPackages: ['nfs-common', 'awscli'],
    efs: { address: '10.42.10.200', mountPath: '/mnt/efs' },
    ebs: { volumeId: 'vol-0a1b2c3d4e5f60718', mountPath: '/mnt/ebs' },
  });

  it('embeds scripts/setup-host.sh verbatim and runs it', () => {
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(asTerraformRenders(script)).toContain(setupHost);
    expect(script).toContain('\nbash /opt/criu-lab/setup-host.sh\n');
  });

  it('mounts EFS over NFS 4.1 with the usual options at the configured path', () => {
    expect(EFS_MOUNT_OPTIONS).toBe('nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport');
    expect(script).toContain("EFS_ADDRESS='10.42.10.200'\nEFS_MOUNT='/mnt/efs'\n");
    expect(script).toContain(`"$EFS_ADDRESS:/ $EFS_MOUNT nfs4 ${EFS_MOUNT_OPTIONS},_netdev,nofail 0 0"`);
  });

  it("replaces the fstab line of the EFS mount, so a node booted from a baked image mounts this stack's file system", () => {
    const dir = mkdtempSync(join(tmpdir(), 'criu-lab-fstab-'));
    try {
      const mountPath = join(dir, 'mnt', 'efs');
      const fstab = join(dir, 'fstab');
      const unrelated = 'LABEL=criu-lab-images /mnt/ebs ext4 defaults,nofail 0 2';
      writeFileSync(fstab, `${unrelated}\n10.42.10.99:/ ${mountPath} nfs4 ${EFS_MOUNT_OPTIONS},_netdev,nofail 0 0\n`);
      const rendered = asTerraformRenders(
        nodeUserData({ setupHostScript: '#!/bin/bash\n', loginUser: 'admin', cloudPackages: [], efs: { address: '10.42.10.200', mountPath } }),
      );
      const assignments = rendered.match(/^EFS_[A-Z]+=.*$/gm) ?? [];
      const step = /^step=mount-efs\n[\s\S]*?(?=^step=)/m.exec(rendered)?.[0] ?? '';
      expect(step).toContain('/etc/fstab');
      // The mount itself is stubbed: `mount` leaves a mark that `mountpoint -q <path>` looks for.
      const stubs = 'mount() { touch "$1/.mounted"; }\nmountpoint() { [ -e "$2/.mounted" ]; }\n';
      execFileSync('bash', ['-c', `set -euo pipefail\n${assignments.join('\n')}\n${stubs}${step.replaceAll('/etc/fstab', fstab)}`], { timeout: 10_000 });
      const lines = readFileSync(fstab, 'utf8')
        .split('\n')
        .filter((line) => line !== '');
      expect(lines.filter((line) => line.split(' ')[1] === mountPath)).toEqual([`10.42.10.200:/ ${mountPath} nfs4 ${EFS_MOUNT_OPTIONS},_netdev,nofail 0 0`]);
      expect(lines).toContain(unrelated);
      expect(lines).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lets root log in with the login user's key only, since CRIU needs root and runs without sudo", () => {
    expect(script).toContain("LOGIN_USER='admin'\n");
    expect(script).toContain('install -m 0600 "/home/$LOGIN_USER/.ssh/authorized_keys" /root/.ssh/authorized_keys');
    expect(script).toContain('PermitRootLogin prohibit-password');
    expect(script.indexOf('step=root-login')).toBeLessThan(script.indexOf('step=setup-host'));
  });

  it('carries no private key', () => {
    expect(script).not.toMatch(/PRIVATE KEY|id_ed25519|id_rsa/);
  });

  it('escapes bash expansions so Terraform does not interpolate them', () => {
    expect(escapeTerraformTemplate('${HOME} %{ if } $(date) $x')).toBe('$${HOME} %%{ if } $(date) $x');
    const literal = script.replace(/^[A-Z_]+='[^']*'$/gm, '');
    expect(literal).not.toMatch(/(^|[^$])\$\{/);
  });

  it('escapes Terraform templates in every value it writes, so `${file(...)}` or `%{` in a mount path reaches bash as text', () => {
    const hostile = '/mnt/${file("/etc/passwd")}/%{ if true }x%{ endif }';
    const text = nodeUserData({
      setupHostScript: '#!/bin/bash\n',
      loginUser: 'admin${path.root}',
      cloudPackages: [],
      efs: { address: '10.42.10.200', mountPath: hostile },
      ebs: { volumeId: 'vol-0a1b2c3d4e5f60718', mountPath: `${hostile}/ebs` },
    });
    expect(text).toContain(`EFS_MOUNT='/mnt/$\${file("/etc/passwd")}/%%{ if true }x%%{ endif }'\n`);
    expect(text).not.toMatch(/(^|[^$])\$\{|(^|[^%])%\{/);
    const rendered = asTerraformRenders(text);
    expect(rendered).toContain(`EFS_MOUNT='${hostile}'\n`);
    expect(rendered).toContain(`EBS_MOUNT='${hostile}/ebs'\n`);
    expect(rendered).toContain("LOGIN_USER='admin${path.root}'\n");
  });

  it('reports host keys and the outcome on the console from the bastion too', () => {
    for (const text of [script, bastionUserData()]) {
      expect(text).toContain('trap report EXIT');
      expect(text).toContain('/etc/ssh/ssh_host_*_key.pub');
    }
    expect(bastionUserData()).not.toContain('setup-host');
  });

  it('stays under the 16 KiB EC2 limit in the synthesized stack, with the zone-local mount target', () => {
    const { resources } = synthStack();
    for (const instance of resources('aws_instance')) {
      expect(Buffer.byteLength(String(instance.user_data))).toBeLessThan(USER_DATA_LIMIT_BYTES);
    }
    const nodeC = resources('aws_instance').find((i) => (i.tags as Record<string, string>).Name === 'criu-lab-az-c-node-0');
    expect(String(nodeC?.user_data)).toMatch(/EFS_ADDRESS='\$\{aws_efs_mount_target\.shared-file-system_mount-target-c_\w+\.ip_address\}'/);
    expect(String(nodeC?.user_data)).not.toContain('EBS_VOLUME_ID');
  });
});
