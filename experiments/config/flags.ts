// The one table from command-line flags to config paths: `run`, `preflight` and `watch` turn
// their flags into config overrides through it, so a flag means the same setting everywhere.
import { workloads } from '../../workloads/registry.js';
import type { ConfigOverride } from './load.js';

/** A flag and the config paths it sets. */
export interface FlagMapping {
  /** As the user writes it: `--mb-size`. */
  readonly flag: string;
  /** Where commander puts its value: `mbSize`. */
  readonly attribute: string;
  readonly paths: readonly string[];
  /** What the flag sets at its paths, given commander's value; undefined sets nothing. @default the value as given */
  readonly toValue?: (value: unknown) => unknown;
}

export const camel = (flag: string) => flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export interface PlanFlag extends FlagMapping {
  readonly value: string;
  readonly description: string;
  /** The one-letter form the original framework also takes (-w). */
  readonly short?: string;
  /** Flags of another flag that cannot go with this one (attributes). */
  readonly conflicts?: readonly string[];
}

const planFlag = (f: Omit<PlanFlag, 'attribute'>): PlanFlag => ({ ...f, attribute: camel(f.flag) });

/** Plan flags: the seed's run_experiment.py flags, each a config key; aliases keep the original framework's names working. */
export const PLAN_FLAGS: readonly PlanFlag[] = [
  {
    flag: '--workload',
    short: '-w',
    value: '<name>',
    description: 'workload type (config: workload.type)',
    paths: ['workload.type', 'experiment.workload_type'],
  },
  {
    flag: '--preset',
    value: '<name>',
    description: "a preset of the workload's file, e.g. small, medium, large, xlarge, lazy_test for memory (config: workload.preset)",
    paths: ['workload.preset'],
  },
  { flag: '--strategy', value: '<name>', description: 'checkpoint strategy (config: checkpoint.strategy.mode)', paths: ['checkpoint.strategy.mode'] },
  { flag: '--transfer', value: '<method>', description: 'transfer method (config: transfer.method)', paths: ['transfer.method'] },
  { flag: '--transfer-method', value: '<method>', description: "the original's name for --transfer (config: transfer.method)", paths: ['transfer.method'] },
  { flag: '--source-ip', value: '<ip>', description: 'source node address (config: nodes.source.ip)', paths: ['nodes.source.ip'] },
  { flag: '--dest-ip', value: '<ip>', description: 'destination node address (config: nodes.destination.ip)', paths: ['nodes.destination.ip'] },
  { flag: '--ssh-user', value: '<user>', description: 'the user SSH logs in as on the nodes (config: nodes.ssh_user)', paths: ['nodes.ssh_user'] },
  {
    flag: '--predump-iterations',
    value: '<n|auto>',
    description: "pre-dump rounds, or 'auto': stop when converged, diverging or the deadline is at risk (config: checkpoint.strategy.predump_iterations)",
    paths: ['checkpoint.strategy.predump_iterations'],
  },
  {
    flag: '--predump-interval',
    value: '<s>',
    description: 'seconds between pre-dumps (config: checkpoint.strategy.predump_interval)',
    paths: ['checkpoint.strategy.predump_interval'],
  },
  {
    flag: '--deadline',
    value: '<s|aws|gcp>',
    description: 'the notice --predump-iterations auto plans for; seconds also add a verdict (config: checkpoint.strategy.deadline)',
    paths: ['checkpoint.strategy.deadline'],
  },
  {
    flag: '--placement',
    value: '<same-az|cross-az>',
    description: 'pick the node pair from all_nodes in servers.yaml: both in one zone, or across two (config: experiment.placement)',
    paths: ['experiment.placement'],
  },
  {
    flag: '--streams',
    value: '<n>',
    description: 'rsyncs at once per directory, its files split between them by size (config: transfer.streams)',
    paths: ['transfer.streams'],
  },
  {
    flag: '--cipher',
    value: '<name>',
    description: 'the SSH cipher rsync uses, e.g. aes128-gcm@openssh.com or chacha20-poly1305@openssh.com (config: transfer.rsync.cipher)',
    paths: ['transfer.rsync.cipher'],
  },
  { flag: '--results-dir', value: '<dir>', description: 'where results go (config: experiment.results_dir)', paths: ['experiment.results_dir'] },
  {
    flag: '--logs-dir',
    value: '<dir>',
    description: "the original's name for --results-dir; logs are always collected there (config: experiment.results_dir)",
    paths: ['experiment.results_dir'],
  },
  {
    flag: '--log-level',
    value: '<level>',
    description: 'verbosity: debug, info, warning or error, any case (config: logging.level)',
    paths: ['logging.level'],
  },
  {
    flag: '--trigger',
    value: '<warm|ready|wait|rss>',
    description: 'when the migration starts: when the workload is warm, right after ready, after a wait, or at a target RSS (config: experiment.trigger)',
    paths: ['experiment.trigger'],
  },
  {
    flag: '--migrate-after',
    value: '<s>',
    description: 'migrate this many seconds after the workload is ready instead of when it says it is warm (config: experiment.migrate_after)',
    paths: ['experiment.migrate_after'],
  },
  {
    flag: '--wait-before-dump',
    value: '<s>',
    description: "the original's trigger: seconds after ready before a full dump (config: checkpoint.strategy.wait_before_dump)",
    paths: ['checkpoint.strategy.wait_before_dump'],
    conflicts: ['targetMemoryMb'],
  },
  {
    flag: '--target-memory-mb',
    value: '<mb>',
    description: "the original's trigger: migrate when the workload's RSS reaches this many MiB (config: checkpoint.strategy.target_memory_mb)",
    paths: ['checkpoint.strategy.target_memory_mb'],
    conflicts: ['waitBeforeDump'],
  },
].map(planFlag);

/** Flags only a run takes (a preflight writes no results). */
export const RUN_FLAGS: readonly PlanFlag[] = [
  {
    flag: '--name',
    short: '-n',
    value: '<name>',
    description: 'experiment name, recorded with the results (config: experiment.name)',
    paths: ['experiment.name'],
  },
  {
    flag: '--output',
    short: '-o',
    value: '<file>',
    description: "also write the metrics in the original framework's format to this file (config: experiment.metrics_file)",
    paths: ['experiment.metrics_file'],
  },
].map(planFlag);

/** Workload flags from every registered workload (--mb-size, --interval, ...), deduplicated by name. */
export function workloadFlags(): (FlagMapping & { readonly description: string; readonly value: string })[] {
  const byFlag = new Map<string, FlagMapping & { description: string; value: string }>();
  for (const workload of workloads.all())
    for (const param of workload.params) {
      const known = byFlag.get(param.flag);
      const description = `${known ? `${known.description}; ` : ''}${workload.name}: ${param.description}`;
      // A switch may stand alone (--check-lazy-loading means true).
      byFlag.set(param.flag, {
        flag: param.flag,
        attribute: camel(param.flag),
        paths: [`workload.${param.key}`],
        description,
        value: param.isSwitch ? '[value]' : '<value>',
      });
    }
  return [...byFlag.values()];
}

export const TRUST_FLAG = '--trust-unknown-host-keys';

const set = (fixed: unknown) => (value: unknown) => (value === true ? fixed : undefined);

/** Switches with an option of their own (declared by the commands): each sets one value when given. */
export const SWITCH_FLAGS: readonly FlagMapping[] = [
  { flag: '--lazy-pages', attribute: 'lazyPages', paths: ['checkpoint.strategy.lazy_pages'], toValue: set(true) },
  { flag: '--keep-images', attribute: 'keepImages', paths: ['transfer.keep_images'], toValue: set(true) },
  // As in the original, naming a metrics file means writing it.
  { flag: '--output', attribute: 'output', paths: ['experiment.save_metrics'], toValue: () => true },
  { flag: '--no-cleanup', attribute: 'cleanup', paths: ['experiment.cleanup'], toValue: (value) => (value === false ? false : undefined) },
  { flag: '--collect-logs', attribute: 'collectLogs', paths: ['experiment.collect_logs'], toValue: set(true) },
  { flag: '--no-encrypt', attribute: 'encrypt', paths: ['transfer.encrypt'], toValue: (value) => (value === false ? false : undefined) },
  { flag: '--no-tls', attribute: 'tls', paths: ['checkpoint.strategy.tls'], toValue: (value) => (value === false ? false : undefined) },
  { flag: TRUST_FLAG, attribute: 'trustUnknownHostKeys', paths: ['nodes.trust_unknown_host_keys'], toValue: set(true) },
];

/** The overrides the given flags make, in the table's order. */
export function overridesFrom(flags: Readonly<Record<string, unknown>>, mappings: readonly FlagMapping[]): ConfigOverride[] {
  const overrides: ConfigOverride[] = [];
  for (const mapping of mappings) {
    const given = flags[mapping.attribute];
    const value = given === undefined || !mapping.toValue ? given : mapping.toValue(given);
    if (value !== undefined) for (const path of mapping.paths) overrides.push({ path, value, flag: mapping.flag });
  }
  return overrides;
}
