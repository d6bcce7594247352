// The lab's S3 stand-in (infra/local/s3-stand-in.ts) as storage.ts starts it, driven on loopback
// by the aws CLI the lab nodes run (Debian's /usr/bin/aws), plus requests signed here for what aws
// never sends: a body that is not the one signed, a wrong checksum, an aws-chunked body.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { signRequest } from '../../infra/local/s3/sigv4.js';

const root = resolve(import.meta.dirname, '../..');
const AWS = '/usr/bin/aws';
const BUCKET = 'criu-lab-test';
const credentials = { accessKeyId: `CRIULAB${randomBytes(8).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64url') };
const MiB = 1024 * 1024;
/** As the lab's transfer config sets it (experiments/transfers/s3.ts); the default part_size_mb. */
const PART_BYTES = 16 * MiB;

let work: string;
let bucketDir: string;
let server: ChildProcess | undefined;
let port: number;
/** What the stand-in wrote to stderr: one line per refused request, and any internal error. */
let serverLog = '';

interface AwsResult {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs Debian's aws against the stand-in only: no config or credentials of this machine are read. */
function aws(
  args: readonly string[],
  options: { readonly env?: Record<string, string>; readonly stdin?: Readable; readonly onStdout?: (chunk: Buffer) => void } = {},
): Promise<AwsResult> {
  const child = spawn(AWS, ['--endpoint-url', `http://127.0.0.1:${port}`, ...args], {
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: work,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: join(work, 'aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(work, 'aws-credentials'),
      AWS_PAGER: '',
      ...options.env,
    },
  });
  if (options.stdin && child.stdin) {
    // aws may exit before reading all of stdin; its exit code tells, not an EPIPE here.
    child.stdin.on('error', () => undefined);
    options.stdin.pipe(child.stdin);
  }
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => (options.onStdout ? options.onStdout(chunk) : stdout.push(chunk)));
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  return new Promise((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode) => resolvePromise({ exitCode, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() }));
  });
}

async function awsOk(args: readonly string[], options?: Parameters<typeof aws>[1]): Promise<string> {
  const result = await aws(args, options);
  if (result.exitCode !== 0) throw new Error(`aws ${args.join(' ')} exited ${result.exitCode}: ${result.stderr}`);
  return result.stdout;
}

/** A request aws would not send: signed here over `signedBody`'s SHA-256 (or `payloadHash`), then sent with `body`. */
function signedRequest(
  method: string,
  path: string,
  body: Buffer,
  options: { signedBody?: Buffer; payloadHash?: string; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = {
    host: `127.0.0.1:${port}`,
    'x-amz-date': amzDate(new Date()),
    'x-amz-content-sha256':
      options.payloadHash ??
      createHash('sha256')
        .update(options.signedBody ?? body)
        .digest('hex'),
    ...options.headers,
  };
  const authorization = signRequest({ method, url: path, headers }, credentials, 'us-east-1');
  return new Promise<{ status: number; body: string }>((resolvePromise, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...headers, authorization, 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** SigV4's timestamp: 20260101T120000Z. */
const amzDate = (date: Date) => date.toISOString().replace(/[-:]|\.\d{3}/g, '');
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
const filesIn = (dir: string) => readdirSync(join(bucketDir, dir));

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'criu-lab-s3-'));
  bucketDir = join(work, 'bucket');
  mkdirSync(bucketDir);
  writeFileSync(join(work, 'aws-config'), `[default]\ns3 =\n  multipart_chunksize = ${PART_BYTES / MiB}MB\n  multipart_threshold = ${PART_BYTES / MiB}MB\n`);
  server = spawn(
    process.execPath,
    ['--import', 'tsx', 'infra/local/s3-stand-in.ts', '--address', '127.0.0.1', '--port', '0', '--directory', bucketDir, '--bucket', BUCKET],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', S3_ACCESS_KEY_ID: credentials.accessKeyId, S3_SECRET_ACCESS_KEY: credentials.secretAccessKey },
    },
  );
  server.stderr!.on('data', (chunk: Buffer) => (serverLog += chunk.toString()));
  const exited = once(server, 'exit').then(([code]) => Promise.reject(new Error(`the stand-in exited ${code}: ${serverLog}`)));
  const [line] = (await Promise.race([once(server.stdout!, 'data'), exited])) as [Buffer];
  const listening = /^s3 stand-in on http:\/\/127\.0\.0\.1:(\d+), bucket criu-lab-test\n$/.exec(line.toString());
  if (!listening) throw new Error(`the stand-in did not start: ${line.toString()}`);
  port = Number(listening[1]);
}, 20_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGKILL');
    await once(server, 'exit');
  }
  rmSync(work, { recursive: true, force: true });
});

describe('the S3 stand-in, driven by the aws CLI', () => {
  it('answers head-bucket for its one bucket, and NoSuchBucket for any other', async () => {
    await awsOk(['s3api', 'head-bucket', '--bucket', BUCKET]);
    expect((await aws(['s3api', 'head-bucket', '--bucket', 'another-bucket'])).stderr).toMatch(/\(404\).*Not Found/);
    expect((await aws(['s3', 'ls', 's3://another-bucket'])).stderr).toContain('NoSuchBucket');
    expect(await awsOk(['s3', 'ls'])).toMatch(new RegExp(` ${BUCKET}\\n$`));
  });

  it('stores a small file and gives the same bytes back, with its MD5 as ETag', async () => {
    const content = randomBytes(1000);
    writeFileSync(join(work, 'small.bin'), content);
    await awsOk(['s3', 'cp', '--only-show-errors', join(work, 'small.bin'), `s3://${BUCKET}/dir/small.bin`]);
    const head = JSON.parse(await awsOk(['s3api', 'head-object', '--bucket', BUCKET, '--key', 'dir/small.bin'])) as { ETag: string; ContentLength: number };
    expect(head).toMatchObject({ ETag: `"${md5(content)}"`, ContentLength: 1000 });
    await awsOk(['s3', 'cp', '--only-show-errors', `s3://${BUCKET}/dir/small.bin`, join(work, 'small.back')]);
    await awsOk(['s3api', 'get-object', '--bucket', BUCKET, '--key', 'dir/small.bin', '--range', 'bytes=10-19', join(work, 'small.range')]);
    expect(readFileSync(join(work, 'small.back')).equals(content)).toBe(true);
    expect(readFileSync(join(work, 'small.range')).equals(content.subarray(10, 20))).toBe(true);
  });

  it('streams 80 MiB from stdin as a multipart upload and back, byte for byte, leaving no parts behind', async () => {
    const sent = createHash('sha256');
    const partMd5s: Buffer[] = [];
    const chunks = async function* () {
      let part = createHash('md5');
      for (let mib = 1; mib <= 80; mib++) {
        const chunk = randomBytes(MiB);
        sent.update(chunk);
        part.update(chunk);
        if (mib % (PART_BYTES / MiB) === 0) {
          partMd5s.push(part.digest());
          part = createHash('md5');
        }
        yield chunk;
      }
    };
    await awsOk(['s3', 'cp', '--only-show-errors', '-', `s3://${BUCKET}/stream/images.tar`], { stdin: Readable.from(chunks()) });
    const received = createHash('sha256');
    await awsOk(['s3', 'cp', '--only-show-errors', `s3://${BUCKET}/stream/images.tar`, '-'], { onStdout: (chunk) => received.update(chunk) });
    expect(received.digest('hex')).toBe(sent.digest('hex'));
    const head = JSON.parse(await awsOk(['s3api', 'head-object', '--bucket', BUCKET, '--key', 'stream/images.tar'])) as { ETag: string; ContentLength: number };
    expect(head).toEqual(expect.objectContaining({ ContentLength: 80 * MiB, ETag: `"${md5(Buffer.concat(partMd5s))}-5"` }));
    expect(filesIn('uploads')).toEqual([]);
    expect(filesIn('tmp')).toEqual([]);
  }, 60_000);

  it('lists by prefix and delimiter across pages, and removes a prefix recursively', async () => {
    const tree = join(work, 'tree');
    for (const file of ['a/1', 'a/2', 'b/c/3', 'd', 'e f+g%h', 'ünï']) {
      mkdirSync(join(tree, file, '..'), { recursive: true });
      writeFileSync(join(tree, file), file);
    }
    await awsOk(['s3', 'cp', '--only-show-errors', '--recursive', tree, `s3://${BUCKET}/tree/`]);
    const keys = (text: string) =>
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => line.replace(/^.{31}/, '').trim());
    expect(keys(await awsOk(['s3', 'ls', '--recursive', '--page-size', '2', `s3://${BUCKET}/tree/`]))).toEqual([
      'tree/a/1',
      'tree/a/2',
      'tree/b/c/3',
      'tree/d',
      'tree/e f+g%h',
      'tree/ünï',
    ]);
    expect(keys(await awsOk(['s3', 'ls', '--page-size', '1', `s3://${BUCKET}/tree/`]))).toEqual(['a/', 'b/', 'd', 'e f+g%h', 'ünï']);
    await awsOk(['s3', 'rm', '--only-show-errors', '--recursive', `s3://${BUCKET}/tree/`]);
    expect((await aws(['s3', 'ls', '--recursive', `s3://${BUCKET}/tree/`])).stdout).toBe('');
  });

  it('deletes a batch of keys with delete-objects', async () => {
    await awsOk(['s3api', 'put-object', '--bucket', BUCKET, '--key', 'batch/1', '--body', join(work, 'small.bin')]);
    await awsOk(['s3api', 'put-object', '--bucket', BUCKET, '--key', 'batch/<2>&', '--body', join(work, 'small.bin')]);
    const result = JSON.parse(
      await awsOk(['s3api', 'delete-objects', '--bucket', BUCKET, '--delete', JSON.stringify({ Objects: [{ Key: 'batch/1' }, { Key: 'batch/<2>&' }] })]),
    ) as { Deleted: { Key: string }[] };
    expect(result.Deleted.map((d) => d.Key)).toEqual(['batch/1', 'batch/<2>&']);
    expect((await aws(['s3api', 'head-object', '--bucket', BUCKET, '--key', 'batch/1'])).stderr).toMatch(/\(404\)/);
  });

  it('refuses a wrong secret with SignatureDoesNotMatch and an unknown key id with InvalidAccessKeyId', async () => {
    const wrongSecret = await aws(['s3', 'cp', join(work, 'small.bin'), `s3://${BUCKET}/forged`], { env: { AWS_SECRET_ACCESS_KEY: 'not-the-secret' } });
    expect(wrongSecret.exitCode).not.toBe(0);
    expect(wrongSecret.stderr).toContain('SignatureDoesNotMatch');
    const wrongKey = await aws(['s3', 'ls', `s3://${BUCKET}`], { env: { AWS_ACCESS_KEY_ID: 'AKIANOTTHELABSKEY000' } });
    expect(wrongKey.exitCode).not.toBe(0);
    expect(wrongKey.stderr).toContain('InvalidAccessKeyId');
    expect(filesIn('objects')).not.toContain('forged');
  });

  it('refuses keys that would be path traversal on a disk, and writes nothing outside its directory', async () => {
    const dotDot = await aws(['s3api', 'put-object', '--bucket', BUCKET, '--key', '../escape', '--body', join(work, 'small.bin')]);
    expect(dotDot.stderr).toContain('InvalidArgument');
    for (const path of [`/${BUCKET}/%2E%2E/%2E%2E/escape`, `/${BUCKET}//etc/escape`, `/${BUCKET}/nul%00byte`]) {
      const response = await signedRequest('PUT', path, Buffer.from('x'));
      expect({ path, status: response.status, body: response.body }).toEqual({
        path,
        status: 400,
        body: expect.stringContaining('<Code>InvalidArgument</Code>'),
      });
    }
    expect(readdirSync(work)).not.toContain('escape');
    expect(readdirSync(bucketDir).sort()).toEqual(['objects', 'tmp', 'uploads']);
  });

  it('answers operations it does not implement with NotImplemented', async () => {
    expect((await aws(['s3api', 'get-object-acl', '--bucket', BUCKET, '--key', 'dir/small.bin'])).stderr).toContain('NotImplemented');
  });
});

describe('the S3 stand-in, sent bodies that are not what was declared', () => {
  const body = Buffer.from('the bytes that were signed');
  const tampered = Buffer.from('the bytes that were sent!!');

  it.each([
    ['a body other than the one signed', { signedBody: body }, 400, 'XAmzContentSHA256Mismatch'],
    ['a wrong Content-MD5', { headers: { 'content-md5': createHash('md5').update(body).digest('base64') } }, 400, 'BadDigest'],
    ['a wrong x-amz-checksum-crc32', { headers: { 'x-amz-checksum-crc32': 'AAAAAA==' } }, 400, 'BadDigest'],
    ['an aws-chunked body', { payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', headers: { 'content-encoding': 'aws-chunked' } }, 501, 'NotImplemented'],
  ])('rejects %s and keeps nothing', async (_what, options, status, code) => {
    const response = await signedRequest('PUT', `/${BUCKET}/tampered`, tampered, options);
    expect({ status: response.status, body: response.body }).toEqual({ status, body: expect.stringContaining(`<Code>${code}</Code>`) });
    expect((await signedRequest('HEAD', `/${BUCKET}/tampered`, Buffer.alloc(0))).status).toBe(404);
    expect(filesIn('tmp')).toEqual([]);
  });

  it('refuses a request signed more than 15 minutes ago: a captured request cannot be replayed', async () => {
    const anHourAgo = new Date(Date.now() - 3600_000);
    const response = await signedRequest('PUT', `/${BUCKET}/tampered`, body, { headers: { 'x-amz-date': amzDate(anHourAgo) } });
    expect({ status: response.status, body: response.body }).toEqual({ status: 403, body: expect.stringContaining('<Code>RequestTimeTooSkewed</Code>') });
  });

  it('accepts the same request when the body is the one signed', async () => {
    expect((await signedRequest('PUT', `/${BUCKET}/tampered`, body)).status).toBe(200);
    expect((await signedRequest('DELETE', `/${BUCKET}/tampered`, Buffer.alloc(0))).status).toBe(204);
  });
});

describe('the S3 stand-in process', () => {
  it('met no internal error in all of the above, and exits 0 on SIGTERM', async () => {
    expect(serverLog).not.toMatch(/InternalError|mid-request/);
    server!.kill('SIGTERM');
    const [exitCode] = (await once(server!, 'exit')) as [number | null];
    expect(exitCode).toBe(0);
  });
});
