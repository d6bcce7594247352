// `criu-lab lab up|status|down`: flags become LabOptionsInput, results become a few short
// lines (or JSON). Errors render through core/errors.ts: usage exits 2 naming the flag, the world's errors 1 with a hint.
// The lab's code (lab.ts) loads in the actions, so other commands do not pay for it.
import type { Command } from 'commander';
import { reportErrors } from '../../core/errors.js';
import type { LabDownResult, LabStatus, LabUpResult } from './lab.js';
import { MAX_NODES, MIN_NODES } from './limits.js';

interface LabFlags {
  readonly name?: string;
  readonly nodes?: string;
  readonly subnet?: string;
  readonly servers?: string;
  readonly json?: boolean;
  readonly bastion?: boolean;
  readonly profile?: string;
  readonly storage?: boolean;
  readonly backend?: string;
  readonly user?: string;
}

export function registerLabCommands(program: Command): Command {
  const lab = program.command('lab').description('the local lab: nodes made of namespaces on this machine, reachable over SSH');
  const nameFlag = ['--name <name>', 'lab name, 1-8 characters a-z0-9 (default: lab)'] as const;
  const serversFlag = ['--servers <path>', 'servers.yaml path (default: config/servers.yaml)'] as const;

  lab
    .command('up')
    .description('create the lab (or recover it from leftovers) and write servers.yaml; idempotent')
    .option('--nodes <count>', `number of nodes, ${MIN_NODES}-${MAX_NODES} (default: 2)`)
    .option(...nameFlag)
    .option(...serversFlag)
    .option('--subnet <a.b.c>', 'first three octets of the lab /24 (default: derived from the name)')
    .option('--bastion', 'make n1 a bastion: the other nodes are reachable over SSH only through it (needs --nodes 3 or more)')
    .option('--storage', 'also start a storage node with the s3, efs and ebs transfer targets (S3 on moto, /mnt/efs over sshfs, a loop volume at /mnt/ebs)')
    .option('--profile <name>', 'shape every node link to a bandwidth profile of config/profiles.yaml with tc tbf (same-az, cross-az)')
    .option('--backend <name>', "namespaces (nodes share this kernel) or vm (qemu guests with Debian's kernel, for pre-dump) (default: namespaces)")
    .option(
      '--user <name>',
      'reach the nodes as this non-root user with passwordless sudo (made on the host if missing; lab down removes what was added); servers.yaml names it as nodes.ssh_user',
    )
    .action((flags: LabFlags) =>
      reportErrors(async () => {
        const { labUp } = await import('./lab.js');
        const result = await labUp({
          name: flags.name,
          nodes: flags.nodes,
          subnet: flags.subnet,
          serversPath: flags.servers,
          bastion: flags.bastion === true,
          profile: flags.profile,
          storage: flags.storage === true,
          backend: flags.backend,
          user: flags.user,
        });
        console.log(describeUp(result).join('\n'));
      }),
    );

  lab
    .command('status')
    .description('show each node: netns, processes, sshd reachable; exit 0 only when all are healthy')
    .option(...nameFlag)
    .option('--json', 'print the status as JSON')
    .action((flags: LabFlags) =>
      reportErrors(async () => {
        const { labStatus } = await import('./lab.js');
        const status = await labStatus({ name: flags.name });
        console.log(flags.json ? JSON.stringify(status, null, 2) : describeStatus(status).join('\n'));
        if (!status.healthy) process.exitCode = 1;
      }),
    );

  lab
    .command('down')
    .description('kill the nodes and delete everything the lab created, servers.yaml included; harmless twice')
    .option(...nameFlag)
    .option(...serversFlag)
    .action((flags: LabFlags) =>
      reportErrors(async () => {
        const { labDown } = await import('./lab.js');
        const result = await labDown({ name: flags.name, serversPath: flags.servers });
        console.log(describeDown(flags.name ?? 'lab', result).join('\n'));
      }),
    );

  // Commander's own parse errors (unknown flag, missing value) are usage errors too: exit 2.
  for (const command of lab.commands) {
    command.exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2));
  }
  return lab;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function describeUp(result: LabUpResult): string[] {
  const { info } = result;
  const shape = `${info.nodes.length} nodes on ${info.bridge} (${info.subnet}.0/24)`;
  const headline = {
    created: `lab '${info.name}' created: ${shape} in ${seconds(result.durationMs)}`,
    recovered: `lab '${info.name}' recovered: removed leftovers (${result.cleaned.join(', ')}), recreated ${shape} in ${seconds(result.durationMs)}`,
    'already-up': `lab '${info.name}' is already up and healthy: ${shape}`,
  }[result.outcome];
  const first = info.nodes[0];
  return [
    headline,
    ...info.nodes.map((node) => `  ${node.name}  ${node.ip}  ${info.backend === 'vm' ? `qemu pid ${node.hostPid}` : `netns ${node.netns}`}`),
    ...(result.vm
      ? [
          `image: ${result.vm.imageDir} (${result.vm.imageBuilt ? `built in ${seconds(result.vm.imageMs)}` : 'cached'})`,
          ...(result.vm.bootMs > 0 ? [`boot: every guest answered SSH ${seconds(result.vm.bootMs)} after qemu started`] : []),
        ]
      : []),
    `servers.yaml: ${info.serversPath}`,
    ...(info.storage
      ? [
          [
            `storage: ${info.storage.ip}: S3 ${info.storage.s3.endpointUrl} (moto${info.storage.s3.startupMs !== undefined ? `, answered in ${seconds(info.storage.s3.startupMs)}` : ''}; bucket ${info.storage.s3.bucket})`,
            ...(info.storage.efsMount ? [`${info.storage.efsMount} on every node`] : []),
            ...(info.storage.ebs ? [`volume ${info.storage.ebs.device} at ${info.storage.ebs.mount} on ${info.nodes[0]?.name}`] : []),
            ...(info.storage.efsMount === undefined && info.storage.ebs === undefined ? ['no efs or ebs (S3 only)'] : []),
          ].join(', '),
        ]
      : []),
    ...(result.profile ? [`profile: ${result.profile.name}, every node link shaped to ${result.profile.rateMbit} Mbit/s (tc tbf)`] : []),
    ...(first ? [`try it: ssh -i ${info.sshKeyPath} -o UserKnownHostsFile=${info.knownHostsPath} ${info.user?.name ?? 'root'}@${first.ip} hostname`] : []),
  ];
}

function describeStatus(status: LabStatus): string[] {
  if (!status.recorded && status.nodes.length === 0) return [`lab '${status.name}' is not up`];
  const record = status.recorded ? '' : ', no lab.json';
  const bridge = status.bridgeExists ? '' : ', bridge missing';
  return [
    `lab '${status.name}' (${status.subnet}.0/24 on ${status.bridge}${bridge}${record}): ${status.healthy ? 'healthy' : 'NOT healthy'}`,
    ...status.nodes.map((node) => {
      const guest = node.pids.length > 0 ? `qemu pid ${node.pids[0]}` : 'qemu not running';
      const netns = node.netns === '' ? guest : node.netnsExists ? `${node.pids.length} processes` : 'netns missing';
      const ssh = node.sshBanner !== undefined ? 'ssh ok' : 'ssh unreachable';
      return `  ${node.name}  ${node.ip}  ${node.netns === '' ? '' : `${node.netns}: `}${netns}, ${ssh}`;
    }),
  ];
}

function describeDown(name: string, result: LabDownResult): string[] {
  const removed = result.removed.length > 0 ? `removed ${result.removed.join(', ')}` : 'nothing to remove';
  const servers = {
    removed: `removed ${result.serversPath}`,
    absent: `none at ${result.serversPath}`,
    'kept-edited': `kept ${result.serversPath} (no longer the generated file)`,
    'kept-other-lab': `kept ${result.serversPath} (generated for another lab)`,
  }[result.servers];
  return [
    `lab '${name}' down in ${seconds(result.durationMs)}: ${removed}`,
    `servers.yaml: ${servers}`,
    ...result.leftAlone.map((item) => `left alone: ${item}`),
  ];
}
