// The workloads as the controller sees them: the seed's parameters and defaults, flags and YAML,
// each verify's verdict on good and bad evidence, the /proc readings, bring-your-own YAML files.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { loadPlan } from '../../experiments/config/load.js';
import { loadCustomWorkloads } from '../../workloads/custom/custom.js';
import { descendants, filesToMove, parseActivity, parsePs } from '../../workloads/proc.js';
import { workloads } from '../../workloads/registry.js';
import { describeMissing } from '../../workloads/requirements.js';
import {
  chainChecksum,
  paramDefault,
  pythonModule,
  binary,
  PROTOCOL_FILE,
  type VerifyEvidence,
  type WorkloadFinal,
  type WorkloadStatus,
} from '../../workloads/workload.js';

const root = resolve(import.meta.dirname, '../..');
let dir: string;
let servers: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'criu-lab-workloads-'));
  const key = join(dir, 'id_test');
  writeFileSync(key, 'not really a key');
  servers = join(dir, 'servers.yaml');
  writeFileSync(servers, `nodes:\n  ssh_key: ${key}\n  source: { ip: 10.9.0.11, name: n1 }\n  destination: { ip: 10.9.0.12, name: n2 }\n`);
});

const defaultsOf = (name: string) => Object.fromEntries(workloads.get(name).params.map((p) => [p.flag, paramDefault(p)]));

/** Runs a workload's verify on a status/final pair made from `frozen` with overrides. */
function verifyWith(
  name: string,
  frozen: WorkloadStatus,
  resumed: Partial<WorkloadStatus>,
  final: Partial<WorkloadFinal>,
  params: Record<string, unknown> = {},
) {
  const evidence: VerifyEvidence<Record<string, unknown>> = {
    params,
    frozen,
    restored: undefined,
    resumed: { ...frozen, ...resumed },
    final: { ...frozen, ...final },
  };
  return workloads.get(name).verify(evidence);
}
const failed = (result: ReturnType<typeof verifyWith>) => result.checks.filter((c) => !c.ok).map((c) => c.name);

describe("the seed's six workloads and the original framework's jupyter", () => {
  it("take the seed's parameters with the seed's defaults", () => {
    expect(workloads.names()).toEqual(expect.arrayContaining(['memory', 'matmul', 'redis', 'ml_training', 'video', 'dataproc', 'jupyter']));
    expect(defaultsOf('memory')).toEqual({ '--mb-size': 256, '--interval': 5, '--max-memory': 8192, '--check-lazy-loading': undefined });
    expect(defaultsOf('matmul')).toEqual({ '--matrix-size': 2048, '--iterations': 0, '--interval': 1 });
    expect(defaultsOf('redis')).toEqual({ '--redis-port': 6379, '--num-keys': 100000, '--value-size': 1024 });
    expect(defaultsOf('ml_training')).toEqual({
      '--model-size': 'medium',
      '--batch-size': 64,
      '--epochs': 0,
      '--learning-rate': 0.001,
      '--dataset-size': undefined,
      '--device': 'cpu',
    });
    expect(defaultsOf('video')).toEqual({ '--resolution': '1920x1080', '--fps': 30, '--duration': 300, '--video-mode': 'live' });
    expect(defaultsOf('dataproc')).toEqual({ '--num-rows': 1000000, '--num-cols': 50, '--operations': 0, '--interval': 1 });
    // The original's jupyter_workload.py: num_cells 0 (forever), cell_interval 3.0.
    expect(defaultsOf('jupyter')).toEqual({ '--num-cells': 0, '--cell-interval': 3 });
  });

  it("refuse a jupyter --cell-interval that is not positive, as the original's validation does", () => {
    expect(() =>
      loadPlan({
        projectRoot: root,
        serversFile: servers,
        env: {},
        cwd: dir,
        overrides: [
          { path: 'workload.type', value: 'jupyter', flag: '--workload' },
          { path: 'workload.cell_interval', value: '0', flag: '--cell-interval' },
        ],
      }),
    ).toThrow(expect.objectContaining({ problems: [expect.stringMatching(/^workload\.cell_interval: /)] }));
  });

  it('ship a config/workloads/<name>.yaml that sets every parameter with a default to that default', () => {
    for (const workload of workloads.all().filter((w) => !w.observer)) {
      const yaml = parse(readFileSync(join(root, 'config/workloads', `${workload.name}.yaml`), 'utf8')) as { workload: Record<string, unknown> };
      expect(yaml.workload['type']).toBe(workload.name);
      for (const param of workload.params.filter((p) => paramDefault(p) !== undefined))
        expect([workload.name, param.key, yaml.workload[param.key]]).toEqual([workload.name, param.key, paramDefault(param)]);
    }
  });

  it('give the shared --interval flag the default of the chosen workload, and its value to whichever is chosen', () => {
    const interval = (type: string, flag?: number) =>
      loadPlan({
        projectRoot: root,
        serversFile: servers,
        env: {},
        cwd: dir,
        overrides: [
          { path: 'workload.type', value: type, flag: '--workload' },
          ...(flag === undefined ? [] : [{ path: 'workload.interval', value: String(flag), flag: '--interval' }]),
        ],
      }).plan.workload.params['interval'];
    expect([interval('memory'), interval('matmul'), interval('dataproc')]).toEqual([5, 1, 1]);
    expect(interval('matmul', 0.2)).toBe(0.2);
  });

  it('refuse a resolution that is not WxH, before anything starts', () => {
    expect(() =>
      loadPlan({
        projectRoot: root,
        serversFile: servers,
        env: {},
        cwd: dir,
        overrides: [
          { path: 'workload.type', value: 'video', flag: '--workload' },
          { path: 'workload.resolution', value: '1x1:rate=1', flag: '--resolution' },
        ],
      }),
    ).toThrow(expect.objectContaining({ problems: [expect.stringMatching(/^workload\.resolution: must be WxH/)] }));
  });

  it('declare what they need on a node, and redis the CRIU flags for its TCP connection', () => {
    expect(workloads.get('redis').criuFlags).toEqual({ dump: ['--tcp-established'], restore: ['--tcp-established'] });
    expect(workloads.get('redis').requires.map((r) => r.name)).toEqual(['redis-server', 'redis', 'iptables']);
    expect(workloads.get('ml_training').requires).toEqual([pythonModule('torch', 'python3-torch')]);
    expect(workloads.get('video').requires.map((r) => r.debianPackage)).toEqual(['ffmpeg', 'ffmpeg']);
    expect(workloads.get('jupyter').requires).toEqual([pythonModule('numpy', 'python3-numpy')]);
  });

  it('start ml_training on the CPU unless --device cuda is asked for', () => {
    const argv = (device: string) =>
      workloads.get('ml_training').startArgv({ params: { model_size: 'small', batch_size: 64, epochs: 0, learning_rate: 0.001, device }, workDir: '/w' });
    expect(argv('cpu').slice(-2)).toEqual(['--device', 'cpu']);
    expect(argv('cuda').slice(-2)).toEqual(['--device', 'cuda']);
  });
});

describe('paths.scripts_dir', () => {
  it.each(workloads.names())('%s starts the payload it uploaded to the scripts dir, not from the work dir', (name) => {
    const workload = workloads.get(name);
    const params = Object.fromEntries(workload.params.map((param) => [param.key, paramDefault(param)]));
    const argv = workload.startArgv({ params, workDir: '/w/run', scriptDir: '/s/run' });
    const payloads = argv.filter((word) => /\.(py|sh)$/.test(word));
    expect(payloads.filter((file) => !file.startsWith('/s/run/'))).toEqual([]);
  });
});

describe('verify', () => {
  const redisFrozen: WorkloadStatus = {
    pid: 40,
    counter: 100,
    checksum: 'c'.repeat(64),
    phase: 'serving',
    dbsize: 10,
    server_pid: 41,
    connection: { id: 7, addr: '127.0.0.1:50000' },
    reconnects: 0,
    mismatches: 0,
  };

  it('passes redis when the same connection answers after restore with the data unchanged', () => {
    expect(failed(verifyWith('redis', redisFrozen, { counter: 120 }, { counter: 140 }))).toEqual([]);
  });

  it('fails redis when the client had to reconnect, or a value changed', () => {
    expect(failed(verifyWith('redis', redisFrozen, { counter: 120 }, { counter: 140, connection: { id: 8, addr: '127.0.0.1:50002' }, reconnects: 1 }))).toEqual(
      ['same client connection'],
    );
    expect(failed(verifyWith('redis', redisFrozen, { counter: 120 }, { counter: 140, checksum: 'd'.repeat(64) }))).toEqual(['data intact']);
  });

  it('fails ml_training when the parameters re-read after restore differ from the frozen ones, or the loss jumps', () => {
    const frozen: WorkloadStatus = { pid: 5, counter: 30, checksum: 'a'.repeat(64), phase: 'training', loss_first: 2.3, loss_recent: 1.0 };
    const restoreCheck = (checksum: string) => ({
      at_step: 30,
      slots: [
        { step: 28, checksum: 'x' },
        { step: 30, checksum },
      ],
    });
    expect(failed(verifyWith('ml_training', frozen, { counter: 35 }, { counter: 40, loss_recent: 0.9, restore_check: restoreCheck('a'.repeat(64)) }))).toEqual(
      [],
    );
    expect(failed(verifyWith('ml_training', frozen, { counter: 35 }, { counter: 40, loss_recent: 0.9, restore_check: restoreCheck('b'.repeat(64)) }))).toEqual([
      'parameters intact',
    ]);
    expect(failed(verifyWith('ml_training', frozen, { counter: 35 }, { counter: 40, loss_recent: 2.2, restore_check: restoreCheck('a'.repeat(64)) }))).toEqual([
      'loss decreasing on average',
    ]);
  });

  it('checks ml_training on its first plateau only for a jump, and migrates it once the loss falls or after 100 steps', () => {
    const plateau: WorkloadStatus = { pid: 5, counter: 100, checksum: 'a'.repeat(64), phase: 'training', loss_first: 6.91, loss_recent: 6.9 };
    const restoreCheck = { at_step: 100, slots: [{ step: 100, checksum: 'a'.repeat(64) }] };
    const result = verifyWith('ml_training', plateau, { counter: 101 }, { counter: 102, loss_since_restore: 6.92, restore_check: restoreCheck });
    expect(failed(result)).toEqual([]);
    expect(result.checks.find((c) => c.name === 'loss decreasing on average')?.detail).toMatch(/first plateau/);
    const ready = workloads.get('ml_training').readyToMigrate!;
    expect([ready({ ...plateau, counter: 30 }, {}), ready(plateau, {}), ready({ ...plateau, counter: 30, loss_recent: 6.5 }, {})]).toEqual([false, true, true]);
  });

  it('fails video when a finished segment changed on the way or ffprobe rejects a file', () => {
    const digests = ['1'.repeat(64), '2'.repeat(64)];
    const frozen: WorkloadStatus = {
      pid: 9,
      counter: 60,
      checksum: chainChecksum(digests),
      phase: 'encoding',
      units: 2,
      unit: 'segment',
      output_bytes: 1000,
      ffmpeg_pid: 10,
      ffmpeg_running: true,
    };
    const final = {
      counter: 90,
      output_bytes: 1500,
      digests: [...digests, '3'.repeat(64)],
      probes: { 'segments/seg_000000.ts': 20, 'segments/seg_000001.ts': 20, 'segments/seg_000002.ts': 10 },
    };
    expect(failed(verifyWith('video', frozen, { counter: 70 }, final))).toEqual([]);
    expect(failed(verifyWith('video', frozen, { counter: 70 }, { ...final, digests: ['1'.repeat(64), '9'.repeat(64), '3'.repeat(64)] }))).toEqual([
      'output intact',
    ]);
    expect(failed(verifyWith('video', frozen, { counter: 70 }, { ...final, probes: { 'segments/seg_000002.ts': null } }))).toEqual(['output files valid']);
  });

  it('fails matmul when a recomputation from the seeded inputs disagrees with the result at freeze', () => {
    const frozen: WorkloadStatus = { pid: 3, counter: 5, checksum: 'i'.repeat(64), phase: 'running', result_digest: 'odd' };
    const final = { counter: 6, seeded_checksum: 'i'.repeat(64), result_digest: 'even', recomputed_digests: ['even', 'odd'] };
    expect(failed(verifyWith('matmul', frozen, { counter: 6 }, final))).toEqual([]);
    expect(failed(verifyWith('matmul', frozen, { counter: 6 }, { ...final, recomputed_digests: ['even', 'other'] }))).toEqual([
      'results match a recomputation',
    ]);
  });

  it('passes jupyter when cells go on and every frozen variable re-reads the same, and fails it when one changed', () => {
    const digests = ['1'.repeat(64), '2'.repeat(64), '3'.repeat(64)];
    const frozen: WorkloadStatus = { pid: 7, counter: 3, checksum: chainChecksum(digests), phase: 'running', variables: 3, memory_mb: 2.1 };
    const final = { counter: 5, variables: 5, variable_digests: [...digests, '4'.repeat(64), '5'.repeat(64)] };
    expect(failed(verifyWith('jupyter', frozen, { counter: 4 }, final))).toEqual([]);
    expect(
      failed(verifyWith('jupyter', frozen, { counter: 4 }, { ...final, variable_digests: ['1'.repeat(64), '9'.repeat(64), '3'.repeat(64), '4'.repeat(64)] })),
    ).toEqual(['notebook state intact']);
    expect(failed(verifyWith('jupyter', frozen, { counter: 3 }, final))).toEqual(['progress continues']);
  });

  it('migrates jupyter after its fifth cell, or its last when --num-cells is smaller', () => {
    const ready = workloads.get('jupyter').readyToMigrate!;
    const at = (counter: number): WorkloadStatus => ({ pid: 7, counter, checksum: '', phase: 'running' });
    expect([ready(at(4), { num_cells: 0 }), ready(at(5), { num_cells: 0 }), ready(at(2), { num_cells: 1 })]).toEqual([false, true, true]);
  });

  it('fails dataproc when the table checksum re-read after restore differs', () => {
    const frozen: WorkloadStatus = { pid: 3, counter: 5, checksum: 't'.repeat(64), phase: 'running' };
    expect(failed(verifyWith('dataproc', frozen, { counter: 6 }, { checksum: 'u'.repeat(64) }))).toEqual(['table intact']);
  });
});

describe('the memory payload', () => {
  // payload.py imports payload_protocol, which the deploy step puts beside it: here it is one dir up.
  const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONPATH: join(root, 'workloads') };
  const python = (code: string) => execFileSync('/usr/bin/python3', ['-c', code], { cwd: join(root, 'workloads/memory'), env, encoding: 'utf8' }).trim();

  it('fills a block with the bytes one seeded randbytes draw gives, as before, and blocks of 256 MiB and more', () => {
    // Below 256 MiB (where randbytes still works) the data and so the checksums are what they always were.
    expect(
      python(
        'import payload, random\nfor seed, mib in [(0, 1), (3, 5)]: print(payload.fill_block(seed, mib << 20) == random.Random(seed).randbytes(mib << 20))',
      ),
    ).toBe('True\nTrue');
    // randbytes itself overflows from 256 MiB on; the piecewise draw goes on with the same stream.
    expect(python('import payload, random\nb = payload.fill_block(7, 256 << 20)\nprint(len(b) >> 20, b[:4096] == random.Random(7).randbytes(4096))')).toBe(
      '256 True',
    );
  }, 30_000);

  it('follows the protocol from the files the deploy step uploads: ready, status, and on checkpoint_flag gone its final report', () => {
    const work = mkdtempSync(join(tmpdir(), 'criu-lab-protocol-'));
    const scripts = join(work, 'scripts');
    mkdirSync(scripts);
    for (const file of workloads.get('memory').payloadFiles) copyFileSync(file, join(scripts, basename(file)));
    writeFileSync(join(work, 'checkpoint_flag'), '');
    // The flag goes once the payload is ready, as the controller removes it after a restore.
    const driver = `python3 "$1/payload.py" --working-dir "$2" --mb-size 1 --interval 60 --max-memory 1 & until [ -f "$2/checkpoint_ready" ]; do sleep 0.05; done; rm "$2/checkpoint_flag"; wait`;
    execFileSync('sh', ['-c', driver, 'sh', scripts, work], { env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' }, timeout: 20_000 });
    const ready = readFileSync(join(work, 'checkpoint_ready'), 'utf8');
    const final = JSON.parse(readFileSync(join(work, 'workload_final.json'), 'utf8')) as WorkloadFinal;
    expect(ready).toMatch(/^ready:\d+\n$/);
    expect(final).toMatchObject({ phase: 'final', pid: Number(ready.slice(6)), blocks: 1 });
    expect(readFileSync(join(work, 'workload.log'), 'utf8')).toMatch(/ready pid=\d+\n[^]*checkpoint_flag removed: restore complete/);
  }, 30_000);
});

describe('the payload protocol file', () => {
  it('goes beside every built-in payload, all of which import it', () => {
    for (const workload of workloads.all().filter((w) => !w.observer)) {
      expect(workload.payloadFiles.map((f) => basename(f))).toEqual(['payload.py', 'payload_protocol.py']);
      expect(workload.payloadFiles).toContain(PROTOCOL_FILE);
    }
  });

  it("goes beside a YAML payload only when it imports it: a standalone script in the original framework's shape is uploaded alone", () => {
    const custom = mkdtempSync(join(tmpdir(), 'criu-lab-protocol-yaml-'));
    copyFileSync(join(root, 'test/fixtures/original/payloads/memory_standalone.py'), join(custom, 'standalone.py'));
    writeFileSync(join(custom, 'helped.py'), 'import os\nimport payload_protocol as protocol\n');
    writeFileSync(join(custom, 'standalone.yaml'), 'description: the original shape\nscript: standalone.py\n');
    writeFileSync(join(custom, 'helped.yaml'), 'description: uses the protocol module\nscript: helped.py\n');
    const { workloads: loaded, problems } = loadCustomWorkloads(
      custom,
      workloads.all().filter((w) => !w.observer),
    );
    expect(problems).toEqual([]);
    const files = (name: string) => loaded.find((w) => w.name === name)!.payloadFiles;
    expect(files('standalone')).toEqual([join(custom, 'standalone.py')]);
    expect(files('helped')).toEqual([join(custom, 'helped.py'), PROTOCOL_FILE]);
  });
});

describe('/proc readings', () => {
  it('finds a process tree from ps output, root first', () => {
    const ps = parsePs('    1     0 tini\n   40     1 python3\n   41    40 redis-server\n   45    41 bio_close_file\n   50     1 sshd\n');
    expect(descendants(ps, 40).map((p) => `${p.pid}:${p.comm}`)).toEqual(['40:python3', '41:redis-server', '45:bio_close_file']);
    expect(descendants(ps, 99)).toEqual([]);
  });

  it('sums CPU ticks and context switches over a tree, whatever the command name holds', () => {
    const stat = (pid: number, comm: string, utime: number, stime: number) =>
      `${pid} (${comm}) S 1 ${pid} ${pid} 0 -1 4194560 100 0 0 0 ${utime} ${stime} 0 0 20 0 1 0 100 1000 10`;
    const activity = parseActivity(
      [
        stat(40, 'python3', 7, 3),
        'voluntary_ctxt_switches:\t12',
        'nonvoluntary_ctxt_switches:\t3',
        stat(41, 'odd) name (x', 5, 5),
        'voluntary_ctxt_switches:\t1',
      ].join('\n'),
    );
    expect(activity).toEqual({ cpuTicks: 20, contextSwitches: 16, states: ['S', 'S'] });
  });

  it('moves only open files outside the moved directories and the kernel filesystems', () => {
    const open = ['/dev/null', '/srv/criu-lab/work/run1/payload.out', '/tmp/app.log', '/var/lib/app/db', '/srv/criu-lab/work/run10/x'];
    expect(filesToMove(open, ['/srv/criu-lab/work/run1'])).toEqual(['/tmp/app.log', '/var/lib/app/db', '/srv/criu-lab/work/run10/x']);
  });
});

describe('preflight requirements', () => {
  it('names the Debian package of what is missing', () => {
    const requires = [pythonModule('numpy', 'python3-numpy'), binary('ffmpeg', 'ffmpeg')];
    expect(describeMissing('n2', 'video', requires, 'binary:ffmpeg\n')).toEqual([
      'n2: the video workload needs the program ffmpeg (Debian package ffmpeg); install it: apt-get install ffmpeg',
    ]);
  });
});

describe('bring your own payload', () => {
  let custom: string;
  const file = (name: string, text: string) => writeFileSync(join(custom, name), text);

  beforeAll(() => {
    custom = mkdtempSync(join(tmpdir(), 'criu-lab-custom-'));
    writeFileSync(join(custom, 'job.py'), 'print("hi")\n');
    file(
      'good.yaml',
      'description: a job\nscript: job.py\nargs: [--working_dir, "{work_dir}", "--n={n}"]\nparams:\n  n: { flag: --n-items, type: integer, default: 3 }\nmove_files: ["/data/{n}"]\n',
    );
    file('typo.yaml', 'description: a job\nscript: job.py\nargs: ["{work_dirr}"]\n');
    file('clash.yaml', 'description: a job\nscript: job.py\nparams:\n  every: { flag: --interval, type: number, default: 2 }\n');
    file('memory.yaml', 'description: a job\nscript: job.py\n');
    file('nofile.yaml', 'description: a job\nscript: missing.py\n');
    file('extra.yaml', 'description: a job\nscript: job.py\ncolour: blue\n');
  });

  it('registers a valid YAML file as a workload that starts the script in its work dir with the template filled', () => {
    const { workloads: loaded } = loadCustomWorkloads(
      custom,
      workloads.all().filter((w) => !w.observer),
    );
    const good = loaded.find((w) => w.name === 'good')!;
    expect(good.params.map((p) => [p.key, p.flag, paramDefault(p)])).toEqual([['n', '--n-items', 3]]);
    expect(good.startArgv({ params: { n: 5 }, workDir: '/w/run' })).toEqual([
      'sh',
      '-c',
      'cd "$1" && shift && exec "$@"',
      'sh',
      '/w/run',
      '/usr/bin/python3',
      '/w/run/job.py',
      '--working_dir',
      '/w/run',
      '--n=5',
    ]);
    expect(good.moveFiles!({ params: { n: 5 }, workDir: '/w/run' })).toEqual(['/data/5']);
    expect(good.observer).toBeDefined();
  });

  it('skips and explains a file with an unknown placeholder, a flag another workload uses for another key, a taken name, a missing script or an unknown key', () => {
    const { problems } = loadCustomWorkloads(
      custom,
      workloads.all().filter((w) => !w.observer),
    );
    expect(problems).toEqual([
      expect.stringMatching(/clash\.yaml: params\.every: flag --interval already sets workload\.interval for another workload/),
      expect.stringMatching(/extra\.yaml: \(top\): Unrecognized key: "colour"/),
      expect.stringMatching(/memory\.yaml: a workload named memory already exists/),
      expect.stringMatching(/nofile\.yaml: script: .*missing\.py does not exist/),
      expect.stringMatching(/typo\.yaml: args\/move_files: unknown placeholder \{work_dirr\}; known: \{work_dir\}, \{script\}/),
    ]);
  });

  it('ships the seed-style example, registered from config/workloads/custom/myworkload.yaml', () => {
    const example = workloads.get('myworkload');
    expect(example.startArgv({ params: { work_units: 10, log_file: '/tmp/x.log' }, workDir: '/w/r' })).toEqual([
      'env',
      'PYTHONUNBUFFERED=1',
      'sh',
      '-c',
      'cd "$1" && shift && exec "$@"',
      'sh',
      '/w/r',
      '/usr/bin/python3',
      '/w/r/myworkload_standalone.py',
      '--working_dir',
      '/w/r',
      '--work_units',
      '10',
      '--log_file',
      '/tmp/x.log',
    ]);
  });
});

describe('criu-lab workloads', () => {
  it('lists every workload with its flags, config keys and defaults', () => {
    const out = execFileSync(process.execPath, [join(root, 'bin/criu-lab.js'), 'workloads', '--json'], { cwd: root, encoding: 'utf8' });
    const listing = JSON.parse(out) as { workloads: { name: string; params: { flag: string; key: string; default: unknown }[]; requires: string[] }[] };
    const redis = listing.workloads.find((w) => w.name === 'redis')!;
    expect(redis.params).toEqual(expect.arrayContaining([expect.objectContaining({ flag: '--num-keys', key: 'workload.num_keys', default: 100000 })]));
    expect(redis.requires).toContain('redis-server (redis-server)');
    expect(listing.workloads.map((w) => w.name)).toEqual(
      expect.arrayContaining(['memory', 'matmul', 'redis', 'ml_training', 'video', 'dataproc', 'jupyter', 'myworkload']),
    );
  }, 30_000);
});
