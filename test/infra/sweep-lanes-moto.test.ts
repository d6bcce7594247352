// A sweep on lanes for real, against moto: fresh: per-cell and parallel: 2 on backend aws, each
// lane's stack deployed and destroyed by cdktf and terraform (the sweep's own stages) to one moto on
// 127.0.0.1, each with its own state, no guests booted, so every run stops before its migration.
// Lane 1 stands in for a lane whose deploy fails once its stack is up (its nodes never boot, say).
// Run it under `flock /tmp/criu-lab-lab.lock`; it skips, saying why, without moto, terraform or the mirror.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { stringify } from 'yaml';
import { ExternalError } from '../../core/errors.js';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { runProcess, type ProcessRunner } from '../../core/process.js';
import { Registry } from '../../core/registry.js';
import type { DeployTarget, InfraEffects } from '../../infra/aws/deploy.js';
import { STACK_TAG_KEY } from '../../infra/aws/iam.js';
import { findMotoServer, freeLoopbackPort, requireMotoServer, startMoto, stopMoto } from '../../infra/local/moto.js';
import { rehearsalEc2Client } from '../../infra/aws/rehearsal/cloud.js';
import { MOTO_IMAGE_ID } from '../../infra/aws/rehearsal/rehearse.js';
import { REHEARSAL_ENDPOINT_ENV, REHEARSAL_STATE_ENV } from '../../infra/aws/rehearsal/target.js';
import { MIRROR_CLI_CONFIG } from '../../infra/aws/terraform-mirror.js';
import { awsBackendWith } from '../../experiments/sweep/backends/aws.js';
import type { BackendFactory } from '../../experiments/sweep/backends/backend.js';
import type { LaneFiles } from '../../experiments/sweep/lanes.js';
import { laneFiles } from '../../experiments/sweep/lanes.js';
import { createSweepProgress } from '../../experiments/sweep/progress.js';
import { runSweep, type SweepOutcome } from '../../experiments/sweep/runner.js';
import { loadSweepSpec, type SweepSpec } from '../../experiments/sweep/spec.js';
import { describeWithMotoAndTerraform, TEST_CONFIG } from './helpers.js';

const describeIfDeployable = describeWithMotoAndTerraform('test/infra/sweep-lanes-moto');

/** One cdktf command a lane ran, and the stack's VPCs in moto right after it. */
interface CdktfCall {
  readonly verb: string;
  readonly stack: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly exitCode: number | null;
  readonly stackVpcsAfter: number;
}

const BROKEN = 'lane 1 stands in for a lane whose nodes never report booted';

describeIfDeployable('a sweep on two lanes of AWS stacks, deployed to moto', () => {
  let workdir: string;
  let motoPid: number | undefined;
  let spec: SweepSpec;
  let outcome: SweepOutcome;
  const calls: CdktfCall[] = [];
  /** The runs that reached their lane's nodes, with the source node of their plan. */
  const reached: { key: string; lane: number; source: string }[] = [];
  let durationMs = 0;

  beforeAll(async () => {
    workdir = mkdtempSync(join(tmpdir(), 'criu-lab-lanes-moto-'));
    const moto = await startMoto(requireMotoServer(findMotoServer(), { command: 'this test', role: 'the lanes deploy to' }), {
      address: '127.0.0.1',
      port: await freeLoopbackPort(),
      logPath: join(workdir, 'moto.log'),
      timeoutMs: 30_000,
      onSpawn: (pid) => (motoPid = pid),
      diesWithOwner: true,
    });
    const terraformrc = join(workdir, 'terraformrc');
    writeFileSync(terraformrc, MIRROR_CLI_CONFIG);
    // The operator's infra.yaml: the test key, an image moto knows, no EFS, S3 or EBS (fewer resources,
    // a quicker deploy; test/infra/rehearsal-cloud.test.ts deploys them). The sweep derives each lane's from it.
    const infra = join(workdir, 'infra.yaml');
    writeFileSync(join(workdir, 'id_ed25519'), 'not a key: no run gets as far as SSH\n');
    writeFileSync(
      infra,
      stringify({
        ...TEST_CONFIG,
        private_key_path: join(workdir, 'id_ed25519'),
        ami: { id: MOTO_IMAGE_ID, ssh_user: 'admin' },
        efs: { enabled: false },
        s3: { enabled: false },
        ebs: { enabled: false },
      }),
    );
    const sweepPath = join(workdir, 'lanes.yaml');
    writeFileSync(
      sweepPath,
      [
        'name: lanes-moto',
        'measure_link: false',
        'settings: { experiment.placement: cross-az, workload.mb_size: 8 }',
        'matrix: { workload.max_memory: [16, 32] }',
        'fresh: per-cell',
        'parallel: 2',
        `infra: { backend: aws, aws: { config: ${infra} } }`,
      ].join('\n'),
    );
    spec = loadSweepSpec(sweepPath, { resultsDir: join(workdir, 'results') }, workdir);

    const ec2 = rehearsalEc2Client(moto.endpoint, 'us-west-2');
    const run: ProcessRunner = async (command, options = {}) => {
      const startMs = Date.now();
      const result = await runProcess(command, options);
      const [, verb = '', stack = ''] = command;
      const vpcs = await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: `tag:${STACK_TAG_KEY}`, Values: [stack] }] }));
      calls.push({ verb, stack, startMs, endMs: Date.now(), exitCode: result.exitCode, stackVpcsAfter: vpcs.Vpcs?.length ?? 0 });
      return result;
    };
    const effects: InfraEffects = { run, consoleReader: () => async () => '', log: () => undefined, bootPollMs: 0 };
    const targetFor = (files: LaneFiles): DeployTarget => ({
      cdktfEnv: { TF_CLI_CONFIG_FILE: terraformrc, [REHEARSAL_ENDPOINT_ENV]: moto.endpoint, [REHEARSAL_STATE_ENV]: files.state },
      cdktfArgs: ['--output', files.cdktfOut, '--skip-provider-lock'],
      ...(files.lane === 1
        ? {
            afterDeploy: async () => {
              throw new ExternalError(BROKEN);
            },
          }
        : {}),
    });
    const aws = awsBackendWith({ targetFor, waitForBoot: false, preflight: () => undefined, effects });
    // No guests stand behind moto's instances: a run stops at its lane's nodes, before anything connects.
    const lanes: BackendFactory = {
      ...aws,
      createLane: (sweep, lane) => ({
        ...aws.createLane!(sweep, lane),
        prepareRun: async (plan) => {
          reached.push({ key: plan.experiment.resultsDir.split('/').at(-1)!, lane, source: plan.nodes.source.ip });
          throw new ExternalError('no guests behind moto: the run stops before its migration');
        },
      }),
    };
    const started = Date.now();
    outcome = await runSweep(spec, {
      projectRoot: PACKAGE_ROOT,
      signal: new AbortController().signal,
      progress: createSweepProgress(spec.dir, process.stderr, true),
      backends: new Registry<BackendFactory>('sweep backend').register(lanes),
    });
    durationMs = Date.now() - started;
    ec2.destroy();
  }, 600_000);

  afterAll(async () => {
    process.stderr.write(`test/infra/sweep-lanes-moto: the sweep took ${(durationMs / 1000).toFixed(1)} s\n`);
    if (motoPid !== undefined) await stopMoto(motoPid);
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  const deploys = (stack: string) => calls.filter((c) => c.verb === 'deploy' && c.stack === stack);

  it("deploys both lanes' stacks at the same time, each under its own name, to moto", () => {
    expect(calls.filter((c) => c.verb === 'deploy').map((c) => [c.stack, c.exitCode, c.stackVpcsAfter])).toEqual(
      expect.arrayContaining([
        ['criu-lab-0', 0, 1],
        ['criu-lab-1', 0, 1],
      ]),
    );
    const [first] = deploys('criu-lab-0');
    const [broken] = deploys('criu-lab-1');
    expect(first!.startMs < broken!.endMs && broken!.startMs < first!.endMs).toBe(true);
  });

  it('keeps each lane’s Terraform state, infra.yaml and servers.yaml under lanes/<k>/ of the sweep', () => {
    for (const lane of [0, 1]) {
      const files = laneFiles(spec.dir, lane);
      expect(readFileSync(files.config, 'utf8')).toContain(`prefix: criu-lab-${lane}`);
      const state = JSON.parse(readFileSync(files.state, 'utf8')) as { resources: unknown[] };
      expect(state.resources).toEqual([]); // destroyed
      expect(readFileSync(files.log, 'utf8')).toContain(`cdktf deploy criu-lab-${lane}`);
    }
    expect(readFileSync(laneFiles(spec.dir, 0).servers, 'utf8')).toMatch(/az_a:[\s\S]*az_c:/);
  });

  it("runs the other cell on its lane's nodes, as that lane's servers.yaml names them", () => {
    expect(reached.map((r) => [r.key, r.lane])).toEqual([['16-r1', 0]]);
    expect(readFileSync(laneFiles(spec.dir, 0).servers, 'utf8')).toContain(`ip: ${reached[0]?.source}`);
    expect(outcome.state.runs.find((r) => r.key === '16-r1')).toMatchObject({ lane: 0, status: 'failed' });
    expect(outcome.state.lanes).toMatchObject({ parallel: 2, lanes: 2, retired: [1] });
  });

  it('fails only the cell the broken lane was bringing up, as an infrastructure failure, and destroys its stack', () => {
    const broken = outcome.state.runs.find((r) => r.key === '32-r1');
    expect(broken).toMatchObject({ status: 'failed', infraFailure: true, lane: 1 });
    expect(broken?.error).toContain(BROKEN);
    expect(outcome.state.runs.filter((r) => r.infraFailure).map((r) => r.key)).toEqual(['32-r1']);
    const destroyed = calls.filter((c) => c.verb === 'destroy');
    expect(destroyed.map((c) => [c.stack, c.exitCode, c.stackVpcsAfter])).toEqual(
      expect.arrayContaining([
        ['criu-lab-1', 0, 0],
        ['criu-lab-0', 0, 0],
      ]),
    );
    // Once per lane: a lane's folder without a state (the sweep's first session) costs no destroy before its deploy.
    expect(calls.map((c) => c.verb).sort()).toEqual(['deploy', 'deploy', 'destroy', 'destroy']);
  });
});
