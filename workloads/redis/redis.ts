// The redis workload: a real redis-server under a Python client that holds one TCP connection
// to it (the seed's in-memory database scenario). CRIU must dump and restore the established
// connection; verify proves the data set and that very connection survived.
import { assetPath } from '../../core/package-root.js';
import { z } from 'zod';
import {
  binary,
  check,
  defineWorkload,
  numeric,
  pythonModule,
  verdict,
  type WorkloadFinal,
  type WorkloadStatus,
  pythonPayloadArgv,
  withProtocol,
} from '../workload.js';

export interface RedisParams {
  readonly redis_port: number;
  readonly num_keys: number;
  readonly value_size: number;
}

interface Connection {
  readonly id: number;
  /** The client's end as redis-server sees it: 127.0.0.1:<client port>. */
  readonly addr: string;
}

function connectionOf(report: WorkloadStatus | WorkloadFinal): Connection | undefined {
  const value = report['connection'];
  return typeof value === 'object' && value !== null && 'id' in value && 'addr' in value ? (value as Connection) : undefined;
}

const describe = (c: Connection | undefined) => (c ? `client id ${c.id} from ${c.addr}` : 'no connection reported');

function connectionCheck(frozen: WorkloadStatus, final: WorkloadFinal) {
  const before = connectionOf(frozen);
  const after = connectionOf(final);
  const reconnects = Number(final['reconnects']);
  const same = before !== undefined && after !== undefined && before.id === after.id && before.addr === after.addr && reconnects === 0;
  return check(
    'same client connection',
    same,
    `${describe(before)} at freeze; after restore the same socket answers as ${describe(after)}; ${reconnects} reconnects, ` +
      `${final.counter - frozen.counter} operations on it since the freeze`,
  );
}

export const redisWorkload = defineWorkload<RedisParams>({
  name: 'redis',
  description: 'a real redis-server loaded with --num-keys values, read and written over one client TCP connection',
  params: [
    {
      key: 'redis_port',
      flag: '--redis-port',
      description: "redis-server port (on the node's 127.0.0.1)",
      schema: numeric(z.number().int().min(1).max(65535)).default(6379),
    },
    {
      key: 'num_keys',
      flag: '--num-keys',
      description: 'keys loaded before the migration',
      schema: numeric(z.number().int().positive().max(1e9)).default(100_000),
    },
    {
      key: 'value_size',
      flag: '--value-size',
      description: 'bytes per value',
      schema: numeric(
        z
          .number()
          .int()
          .positive()
          .max(512 * 1024 * 1024),
      ).default(1024),
    },
  ],
  payloadFiles: withProtocol(assetPath('workloads/redis/payload.py')),
  startArgv: ({ params, workDir, scriptDir }) => [
    ...pythonPayloadArgv({ workDir, scriptDir }),
    '--redis-port',
    String(params.redis_port),
    '--num-keys',
    String(params.num_keys),
    '--value-size',
    String(params.value_size),
  ],
  // The client's connection to redis-server is an established TCP socket inside the dumped tree.
  criuFlags: { dump: ['--tcp-established'], restore: ['--tcp-established'] },
  requires: [
    binary('redis-server', 'redis-server'),
    pythonModule('redis', 'python3-redis'),
    // CRIU locks the network with iptables while it dumps and restores TCP connections.
    binary('iptables', 'iptables'),
  ],
  readyToMigrate: (status) => status.phase === 'serving',
  verify: ({ frozen, resumed, final }) =>
    verdict([
      check('progress continues', resumed.counter > frozen.counter, `operation ${frozen.counter} at freeze, ${resumed.counter} after restore`),
      check(
        'same process',
        final.pid === frozen.pid && final['server_pid'] === frozen['server_pid'],
        `client pid ${frozen.pid} and redis-server pid ${String(frozen['server_pid'])} at freeze, ${final.pid} and ${String(final['server_pid'])} after restore`,
      ),
      connectionCheck(frozen, final),
      check(
        'data intact',
        final['dbsize'] === frozen['dbsize'] && final['checksum'] === frozen.checksum && final['mismatches'] === 0,
        `DBSIZE ${String(frozen['dbsize'])} and values ${frozen.checksum.slice(0, 16)}… at freeze; re-read from redis-server after restore: DBSIZE ` +
          `${String(final['dbsize'])}, ${String(final['checksum']).slice(0, 16)}…; ${String(final['mismatches'])} reads returned a wrong value`,
      ),
    ]),
});
