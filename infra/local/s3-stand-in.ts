// The lab's S3 stand-in: an S3-compatible server (./s3/) on the storage node's address, holding
// the lab's one bucket and answering only the credentials made up for this lab.
// storage.ts starts it inside the storage node's netns: `node dist/infra/local/s3-stand-in.js ...` (its .ts under tsx from the sources).
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createS3Server } from './s3/server.js';

const { values } = parseArgs({
  options: { address: { type: 'string' }, port: { type: 'string' }, directory: { type: 'string' }, bucket: { type: 'string' } },
});
const accessKeyId = process.env['S3_ACCESS_KEY_ID'];
const secretAccessKey = process.env['S3_SECRET_ACCESS_KEY'];
const port = Number(values.port);
if (!values.address || !Number.isInteger(port) || port < 0 || port > 65535 || !values.directory || !values.bucket || !accessKeyId || !secretAccessKey) {
  process.stderr.write('usage: S3_ACCESS_KEY_ID=… S3_SECRET_ACCESS_KEY=… s3-stand-in --address IP --port N --directory DIR --bucket NAME\n');
  process.exit(2);
}

const server = await createS3Server({
  directory: values.directory,
  bucket: values.bucket,
  credentials: { accessKeyId, secretAccessKey },
  log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
});
server.listen(port, values.address);
await once(server, 'listening');
// --port 0 picks a free port: the line names the one bound.
process.stdout.write(`s3 stand-in on http://${values.address}:${(server.address() as AddressInfo).port}, bucket ${values.bucket}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
