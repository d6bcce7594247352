// The VM backend's edges that need no guest: the --backend option and the qemu command line.
import { describe, expect, it } from '@jest/globals';
import { UsageError } from '../../core/errors.js';
import { labLayout } from '../../infra/local/layout.js';
import { resolveLabOptions } from '../../infra/local/options.js';
import { qemuArgv } from '../../infra/local/vm/guest.js';

describe('lab options', () => {
  it('default to the namespace backend and accept vm', () => {
    expect(resolveLabOptions({ name: 'v9u' }).backend).toBe('namespaces');
    expect(resolveLabOptions({ name: 'v9u', backend: 'vm' }).backend).toBe('vm');
  });

  it('fail as a usage error naming the backends when the backend is unknown', () => {
    const error = (() => {
      try {
        resolveLabOptions({ name: 'v9u', backend: 'kvm' });
      } catch (e) {
        return e;
      }
      return undefined;
    })() as UsageError;
    expect(error).toBeInstanceOf(UsageError);
    expect(error.exitCode).toBe(2);
    expect(error.problems).toEqual(['--backend must be one of: namespaces, vm (got "kvm")']);
  });
});

describe('qemu command line', () => {
  const layout = labLayout(resolveLabOptions({ name: 'v9u', nodes: 2, backend: 'vm' }));
  const image = { dir: '/cache/h', recipeHash: 'h', kernelPath: '/cache/h/vmlinuz', initrdPath: '/cache/h/initrd.img', rootfsPath: '/cache/h/rootfs.img' };
  const argv = layout.nodes.map((node) => qemuArgv(node, image));

  it('emulates the CPU (TCG), never KVM, which hangs nested on these hosts', () => {
    for (const node of argv) {
      expect(node[node.indexOf('-machine') + 1]).toBe('q35,accel=tcg');
      expect(node.join(' ')).not.toMatch(/kvm/);
    }
  });

  it('gives each guest its own tap, MAC, overlay and config disk under its node dir, booting the shared kernel', () => {
    const [n1, n2] = layout.nodes;
    const words = argv.map((node) => node.join(' '));
    expect(words[0]).toContain(`ifname=${n1!.veth},`);
    expect(words[1]).toContain(`ifname=${n2!.veth},`);
    expect(words[0]).toContain(`file=${n1!.dir}/disk.qcow2,`);
    expect(words[0]).toContain(`file=${n1!.dir}/config.img,`);
    expect(words[0]).not.toBe(words[1]);
    expect(argv[0]![argv[0]!.indexOf('-kernel') + 1]).toBe(image.kernelPath);
    const mac = (node: readonly string[]) => /mac=([0-9a-f:]+)/.exec(node.join(' '))?.[1];
    expect(mac(argv[0]!)).not.toBe(mac(argv[1]!));
  });
});
