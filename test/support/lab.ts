// The lab tests' shared setup: a lab of the file's own (a fixed name, servers.yaml in a temp dir)
// up before its tests and down after them, and plans and runs against it as `criu-lab run` makes them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from '@jest/globals';
import { loadPlan, type ConfigOverride } from '../../experiments/config/load.js';
import type { Plan } from '../../experiments/config/plan.js';
import { runMigration, type RunOutcome } from '../../experiments/pipeline.js';
import { createProgress, type Progress } from '../../experiments/progress.js';
import { labDown, labUp, type LabInfo } from '../../infra/local/lab.js';
import type { LabOptionsInput } from '../../infra/local/options.js';

export const projectRoot = resolve(import.meta.dirname, '../..');

/** A config override as a flag gives it; `flag` names it in error messages (the path itself unless given). */
export const setting = (path: string, value: unknown, flag = path): ConfigOverride => ({ path, value, flag });

/** workload.<key> overrides for each parameter, flagged as the workload's CLI flag would be. */
export const workloadSettings = (params: Readonly<Record<string, unknown>>): ConfigOverride[] =>
  Object.entries(params).map(([key, value]) => setting(`workload.${key}`, value, `--${key.replace(/_/g, '-')}`));

export interface PlanOptions {
  /** The workload's parameters, set before the overrides. @default the lab's `workload` */
  readonly workload?: Readonly<Record<string, unknown>>;
  /** experiment.results_dir. @default <work>/results */
  readonly resultsDir?: string;
  /** @default the lab's servers.yaml */
  readonly serversFile?: string;
}

export interface LabTestOptions extends Omit<LabOptionsInput, 'serversPath'> {
  readonly name: string;
  /** The workload parameters every plan of the file starts from (a small memory workload, say). @default none */
  readonly workload?: Readonly<Record<string, unknown>>;
  /** @default 60 s */
  readonly upTimeoutMs?: number;
  /** @default 60 s */
  readonly downTimeoutMs?: number;
  /** Remove the temp dir (servers.yaml, results) once the lab is down: for runs that leave gigabytes of results. @default false */
  readonly removeWork?: boolean;
}

export interface TestLab {
  readonly name: string;
  /** The file's temp dir: servers.yaml and results/ live in it. */
  readonly work: string;
  readonly servers: string;
  /** What `lab up` reported; set once the file's beforeAll has run. */
  readonly info: LabInfo;
  /** A path in a node's own directory on this host (its /srv/criu-lab/work is nodeDir(node, 'srv/criu-lab/work')). */
  nodeDir(node: string, path: string): string;
  /** A plan for this lab: the workload's parameters, results under work/results, then the overrides in order. */
  plan(overrides?: readonly ConfigOverride[], options?: PlanOptions): Plan;
  /** Runs one migration in this process, as `criu-lab run` would. */
  migrate(overrides?: readonly ConfigOverride[], options?: PlanOptions & { readonly progress?: Progress }): Promise<RunOutcome>;
}

/** Brings a lab up for the calling test file (beforeAll) and down after it (afterAll). */
export function useLab(options: LabTestOptions): TestLab {
  const { workload: sized = {}, upTimeoutMs = 60_000, downTimeoutMs = 60_000, removeWork = false, ...labOptions } = options;
  // Made on first use, so a skipped suite (whose body jest still collects) leaves no temp dir behind.
  let workDir: string | undefined;
  const work = () => (workDir ??= mkdtempSync(join(tmpdir(), `criu-lab-${options.name}-`)));
  const servers = () => join(work(), 'servers.yaml');
  let info: LabInfo | undefined;

  beforeAll(async () => {
    ({ info } = await labUp({ ...labOptions, serversPath: servers() }));
  }, upTimeoutMs);
  afterAll(async () => {
    await labDown({ name: options.name, serversPath: servers() });
    if (removeWork) rmSync(work(), { recursive: true, force: true });
  }, downTimeoutMs);

  const lab: TestLab = {
    name: options.name,
    get work() {
      return work();
    },
    get servers() {
      return servers();
    },
    get info() {
      if (!info) throw new Error(`lab ${options.name} is not up (its beforeAll has not run or failed)`);
      return info;
    },
    nodeDir: (node, path) => join(lab.info.stateDir, 'nodes', node, path),
    plan: (overrides = [], { workload = sized, resultsDir = join(work(), 'results'), serversFile = servers() } = {}) =>
      loadPlan({
        projectRoot,
        serversFile,
        overrides: [...workloadSettings(workload), setting('experiment.results_dir', resultsDir, '--results-dir'), ...overrides],
      }).plan,
    migrate: (overrides = [], { progress = createProgress(process.stderr, true), ...planOptions } = {}) =>
      runMigration(lab.plan(overrides, planOptions), { signal: new AbortController().signal, progress }),
  };
  return lab;
}
