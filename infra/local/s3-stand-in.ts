// The lab's S3 stand-in: s3rver on the storage node's address, answering only this lab's
// made-up credentials (s3rver's public default key is revoked) and holding the lab's bucket.
// storage.ts starts it inside the storage node's netns: `node --import tsx s3-stand-in.ts ...`.
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

interface S3rverServer {
  run(): Promise<unknown>;
  close(): Promise<void>;
}
interface S3rverAccount {
  createKeyPair(accessKeyId: string, secretAccessKey: string): void;
  revokeAccessKey(accessKeyId: string): void;
}

const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverServer;
const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account.js') as { DUMMY_ACCOUNT: S3rverAccount };

const { values } = parseArgs({
  options: { address: { type: 'string' }, port: { type: 'string' }, directory: { type: 'string' }, bucket: { type: 'string' } },
});
const accessKeyId = process.env['S3_ACCESS_KEY_ID'];
const secretAccessKey = process.env['S3_SECRET_ACCESS_KEY'];
if (!values.address || !values.port || !values.directory || !values.bucket || !accessKeyId || !secretAccessKey) {
  process.stderr.write('usage: S3_ACCESS_KEY_ID=… S3_SECRET_ACCESS_KEY=… s3-stand-in --address IP --port N --directory DIR --bucket NAME\n');
  process.exit(2);
}

DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
const server = new S3rver({
  address: values.address,
  port: Number(values.port),
  directory: values.directory,
  silent: true,
  configureBuckets: [{ name: values.bucket, configs: [] }],
});
await server.run();
process.stdout.write(`s3 stand-in on http://${values.address}:${values.port}, bucket ${values.bucket}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void server.close().finally(() => process.exit(0)));
