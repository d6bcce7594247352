// The S3 API the lab needs, over node:http: path-style requests (http://host:port/bucket/key) to
// one bucket, signed with one key pair. Every request is authenticated first, then routed by
// method, target and sub-resource (?uploads, ?delete, ...); an operation not in the table is a
// NotImplemented error, never a guess. Bodies stream to disk; only small XML bodies are read whole.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { notImplemented, S3Error } from './errors.js';
import { BodyDigests, declaredDigests, type DeclaredDigests } from './integrity.js';
import { decodeUri, queryPairs, uriEncode, verifySignature, type Credentials } from './sigv4.js';
import { BucketStore, type CompletedPart } from './store.js';
import { childrenOf, element, errorDocument, malformed, textsOf, xmlDocument } from './xml.js';

export interface S3ServerOptions {
  /** Where the bucket's objects live (see store.ts for the layout). */
  readonly directory: string;
  readonly bucket: string;
  /** The one key pair requests must be signed with. */
  readonly credentials: Credentials;
  /** Receives one line per failed request. @default nothing is logged */
  readonly log?: (line: string) => void;
}

/** A request past authentication, with its bucket, key and query taken apart. */
interface S3Request {
  readonly http: IncomingMessage;
  readonly res: ServerResponse;
  readonly store: BucketStore;
  /** The one bucket: requests to any other were refused already. */
  readonly bucket: string;
  /** '' for requests to the bucket itself. */
  readonly key: string;
  readonly query: ReadonlyMap<string, string>;
  readonly digests: DeclaredDigests;
}

type Target = 'service' | 'bucket' | 'object';

interface Route {
  /** The S3 API's name for it, as logged. */
  readonly operation: string;
  readonly method: string;
  readonly target: Target;
  /** The query parameter that names the operation, e.g. `uploads` for CreateMultipartUpload. */
  readonly subresource?: string;
  /** Other query parameters it takes. @default none */
  readonly params?: readonly string[];
  readonly run: (request: S3Request) => Promise<void>;
}

/** Newer botocore adds `x-id=<operation>` to some requests; it changes nothing. */
const IGNORED_PARAMS = ['x-id'];
const LIST_PARAMS = ['prefix', 'delimiter', 'max-keys', 'continuation-token', 'start-after', 'encoding-type', 'fetch-owner'];
const MAX_KEYS = 1000;
/** DeleteObjects takes up to 1000 keys and CompleteMultipartUpload up to 10,000 parts: both fit. */
const MAX_XML_BODY_BYTES = 2 * 1024 * 1024;
const DEFAULT_CONTENT_TYPE = 'binary/octet-stream';

const routes: readonly Route[] = [
  { operation: 'ListBuckets', method: 'GET', target: 'service', run: listBuckets },
  { operation: 'HeadBucket', method: 'HEAD', target: 'bucket', run: async ({ res }) => void res.end() },
  { operation: 'ListObjectsV2', method: 'GET', target: 'bucket', subresource: 'list-type', params: LIST_PARAMS, run: listObjectsV2 },
  { operation: 'DeleteObjects', method: 'POST', target: 'bucket', subresource: 'delete', run: deleteObjects },
  { operation: 'CreateMultipartUpload', method: 'POST', target: 'object', subresource: 'uploads', run: createMultipartUpload },
  { operation: 'UploadPart', method: 'PUT', target: 'object', subresource: 'uploadId', params: ['partNumber'], run: uploadPart },
  { operation: 'CompleteMultipartUpload', method: 'POST', target: 'object', subresource: 'uploadId', run: completeMultipartUpload },
  { operation: 'AbortMultipartUpload', method: 'DELETE', target: 'object', subresource: 'uploadId', run: abortMultipartUpload },
  { operation: 'PutObject', method: 'PUT', target: 'object', run: putObject },
  { operation: 'GetObject', method: 'GET', target: 'object', run: getObject },
  { operation: 'HeadObject', method: 'HEAD', target: 'object', run: getObject },
  { operation: 'DeleteObject', method: 'DELETE', target: 'object', run: deleteObject },
];

/** An HTTP server (not yet listening) answering the S3 API for `options.bucket`. */
export async function createS3Server(options: S3ServerOptions): Promise<Server> {
  const store = await BucketStore.open(options.directory);
  const log = options.log ?? (() => undefined);
  const handle = (http: IncomingMessage, res: ServerResponse) => void serve(http, res, store, options, log);
  // With a checkContinue listener node leaves `Expect: 100-continue` to us: a request that fails
  // authentication or routing is answered before the client sends its body. No time limit on a
  // request: a big single PUT over a link the lab shapes slow may take longer than node's 5 minutes.
  return createServer({ requestTimeout: 0 }).on('request', handle).on('checkContinue', handle);
}

async function serve(http: IncomingMessage, res: ServerResponse, store: BucketStore, options: S3ServerOptions, log: (line: string) => void): Promise<void> {
  const method = http.method ?? '';
  const url = http.url ?? '/';
  let operation = 'unrouted';
  try {
    verifySignature({ method, url, headers: http.headersDistinct }, options.credentials);
    const queryAt = url.includes('?') ? url.indexOf('?') : url.length;
    const [bucketSegment = '', ...keySegments] = url.slice(1, queryAt).split('/');
    const bucket = decodeUri(bucketSegment);
    const key = decodeUri(keySegments.join('/'));
    const target: Target = bucket === '' && key === '' ? 'service' : key === '' ? 'bucket' : 'object';
    if (target !== 'service' && bucket !== options.bucket) throw new S3Error(404, 'NoSuchBucket', `The specified bucket does not exist: ${bucket}`);
    const params = new Map(queryPairs(url.slice(queryAt + 1)));
    const route = routes.find((r) => r.method === method && r.target === target && takes(r, params));
    if (!route)
      throw notImplemented(
        `${method} on ${target === 'object' ? 'an object' : `the ${target}`}${params.size > 0 ? ` with ?${[...params.keys()].join('&')}` : ''}`,
      );
    operation = route.operation;
    const digests = declaredDigests(http.headers);
    if (http.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
    await route.run({ http, res, store, bucket: options.bucket, key, query: params, digests });
  } catch (error) {
    if (res.headersSent || http.socket.destroyed) {
      log(`${method} ${url} (${operation}) -> connection closed mid-request: ${(error as Error).message}`);
      res.destroy();
      return;
    }
    const s3Error = error instanceof S3Error ? error : new S3Error(500, 'InternalError', 'We encountered an internal error. Please try again.');
    log(
      `${method} ${url} (${operation}) -> ${s3Error.status} ${s3Error.code}: ${error instanceof S3Error ? error.message : String((error as Error).stack ?? error)}`,
    );
    sendError(res, s3Error, method);
  }
}

/** Whether `route` takes exactly the query parameters given: its sub-resource, if any, and only parameters it knows. */
function takes(route: Route, params: ReadonlyMap<string, string>): boolean {
  if (route.subresource && !params.has(route.subresource)) return false;
  const known = [route.subresource, ...(route.params ?? []), ...IGNORED_PARAMS];
  return [...params.keys()].every((name) => known.includes(name));
}

function sendError(res: ServerResponse, error: S3Error, method: string): void {
  // HEAD answers carry no body: clients see only the status (aws prints "404 Not Found").
  const body = method === 'HEAD' ? '' : errorDocument(error.code, error.message);
  res.writeHead(error.status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) }).end(body);
}

function sendXml(res: ServerResponse, root: string, children: readonly string[]): void {
  const body = xmlDocument(root, children);
  res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) }).end(body);
}

const quoted = (etag: string) => `"${etag}"`;

/** A PUT body must announce its length (as S3 requires) and must not be a server-side copy. */
function checkUploadBody({ http }: S3Request, operation: string): void {
  if (http.headers['x-amz-copy-source'] !== undefined) throw notImplemented(`${operation} with x-amz-copy-source (a server-side copy)`);
  if (http.headers['content-length'] === undefined) throw new S3Error(411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
}

/** A small XML body, checked against its declared digests like any other body. */
async function readXmlBody({ http, digests }: S3Request): Promise<string> {
  const check = new BodyDigests(digests);
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of http as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > MAX_XML_BODY_BYTES) throw new S3Error(400, 'MaxMessageLengthExceeded', 'Your request was too big.');
    check.update(chunk);
    chunks.push(chunk);
  }
  check.verify();
  return Buffer.concat(chunks).toString('utf8');
}

async function listBuckets({ res, store, bucket }: S3Request): Promise<void> {
  sendXml(res, 'ListAllMyBucketsResult', [
    element('Owner', [element('ID', 'criu-lab'), element('DisplayName', 'criu-lab')]),
    element('Buckets', [element('Bucket', [element('Name', bucket), element('CreationDate', store.openedAt.toISOString())])]),
  ]);
}

/** ListObjectsV2: up to max-keys keys and common prefixes after the continuation token (or start-after). */
async function listObjectsV2({ res, store, bucket, query }: S3Request): Promise<void> {
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') ?? '';
  const maxKeys = Math.min(integerParam(query, 'max-keys', MAX_KEYS), MAX_KEYS);
  const encodingType = query.get('encoding-type');
  if (encodingType !== undefined && encodingType !== 'url')
    throw new S3Error(400, 'InvalidArgument', `Invalid Encoding Method specified in Request: ${encodingType}`);
  const token = query.get('continuation-token');
  const page = listPage(await store.listKeys(), {
    prefix,
    delimiter,
    maxKeys,
    after: token !== undefined ? keyOfToken(token) : (query.get('start-after') ?? ''),
  });

  const encode = (text: string) => (encodingType === 'url' ? uriEncode(text).replace(/%2F/g, '/') : text);
  const contents: string[] = [];
  for (const key of page.keys) {
    const info = await store.headObject(key).catch(unlessNoSuchKey); // deleted since listed: left out
    if (info) {
      contents.push(
        element('Contents', [
          element('Key', encode(key)),
          element('LastModified', info.lastModified.toISOString()),
          element('ETag', quoted(info.etag)),
          element('Size', info.size),
          element('StorageClass', 'STANDARD'),
        ]),
      );
    }
  }
  sendXml(res, 'ListBucketResult', [
    element('Name', bucket),
    element('Prefix', encode(prefix)),
    element('Delimiter', delimiter ? encode(delimiter) : undefined),
    element('MaxKeys', maxKeys),
    element('KeyCount', contents.length + page.commonPrefixes.length),
    element('IsTruncated', page.resumeAfter !== undefined),
    element('EncodingType', encodingType),
    element('ContinuationToken', token),
    element('NextContinuationToken', page.resumeAfter === undefined ? undefined : Buffer.from(page.resumeAfter).toString('base64url')),
    element('StartAfter', query.has('start-after') ? encode(query.get('start-after') ?? '') : undefined),
    ...contents,
    ...page.commonPrefixes.map((commonPrefix) => element('CommonPrefixes', [element('Prefix', encode(commonPrefix))])),
  ]);
}

interface ListPage {
  readonly keys: readonly string[];
  readonly commonPrefixes: readonly string[];
  /** For a truncated page: the last key it covers, where the next page starts after. */
  readonly resumeAfter?: string;
}

/**
 * One page over `sortedKeys`. Keys that share a common prefix are contiguous in S3's order, so the
 * page ends after the last key of its last entry and the next one resumes after that key.
 */
function listPage(sortedKeys: readonly string[], options: { prefix: string; delimiter: string; maxKeys: number; after: string }): ListPage {
  const { prefix, delimiter, maxKeys } = options;
  const after = Buffer.from(options.after);
  const keys: string[] = [];
  const commonPrefixes: string[] = [];
  let lastKey: string | undefined;
  for (const key of sortedKeys) {
    if (!key.startsWith(prefix) || Buffer.compare(Buffer.from(key), after) <= 0) continue;
    const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
    const commonPrefix = cut >= 0 ? key.slice(0, cut + delimiter.length) : undefined;
    if (commonPrefix === undefined || commonPrefix !== commonPrefixes.at(-1)) {
      if (keys.length + commonPrefixes.length === maxKeys) return { keys, commonPrefixes, resumeAfter: maxKeys > 0 ? lastKey : undefined };
      if (commonPrefix === undefined) keys.push(key);
      else commonPrefixes.push(commonPrefix);
    }
    lastKey = key;
  }
  return { keys, commonPrefixes };
}

function keyOfToken(token: string): string {
  const key = Buffer.from(token, 'base64url').toString();
  if (token === '' || Buffer.from(key).toString('base64url') !== token)
    throw new S3Error(400, 'InvalidArgument', 'The continuation token provided is incorrect');
  return key;
}

function integerParam(query: ReadonlyMap<string, string>, name: string, fallback: number): number {
  const text = query.get(name);
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text)) throw new S3Error(400, 'InvalidArgument', `${name} must be a non-negative integer, not '${text}'`);
  return Number(text);
}

async function deleteObjects(request: S3Request): Promise<void> {
  const body = await readXmlBody(request);
  if (!body.includes('<Delete')) throw malformed('the root element is not <Delete>');
  const keys = textsOf(body, 'Key');
  if (keys.length === 0 || keys.length > MAX_KEYS) throw malformed(`${keys.length} keys; 1 to ${MAX_KEYS} are allowed`);
  const quiet = textsOf(body, 'Quiet')[0] === 'true';
  const results: string[] = [];
  for (const key of keys) {
    try {
      await request.store.deleteObject(key);
      if (!quiet) results.push(element('Deleted', [element('Key', key)]));
    } catch (error) {
      if (!(error instanceof S3Error)) throw error;
      results.push(element('Error', [element('Key', key), element('Code', error.code), element('Message', error.message)]));
    }
  }
  sendXml(request.res, 'DeleteResult', results);
}

async function putObject(request: S3Request): Promise<void> {
  checkUploadBody(request, 'PutObject');
  const etag = await request.store.putObject(request.key, request.http, request.digests, request.http.headers['content-type'] ?? DEFAULT_CONTENT_TYPE);
  request.res.writeHead(200, { ETag: quoted(etag) }).end();
}

/** GetObject and HeadObject: the whole object or one byte range, from the version opened first. */
async function getObject({ http, res, store, key }: S3Request): Promise<void> {
  const object = await store.openObject(key);
  try {
    const { info } = object;
    const ifMatch = http.headers['if-match'];
    // s3transfer downloads big objects in ranges with If-Match: a replaced object fails instead of mixing versions.
    if (ifMatch !== undefined && ifMatch !== '*' && !ifMatch.split(',').some((tag) => unquote(tag.trim()) === info.etag)) {
      throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    }
    const range = byteRange(http.headers.range, info.size);
    const headers = {
      'Content-Type': info.contentType,
      ETag: quoted(info.etag),
      'Last-Modified': info.lastModified.toUTCString(),
      'Accept-Ranges': 'bytes',
      'Content-Length': range ? range.end - range.start + 1 : info.size,
      ...(range && { 'Content-Range': `bytes ${range.start}-${range.end}/${info.size}` }),
    };
    res.writeHead(range ? 206 : 200, headers);
    if (http.method === 'HEAD' || info.size === 0) res.end();
    else await pipeline(object.read(range?.start ?? 0, range?.end ?? info.size - 1), res);
  } finally {
    await object.close();
  }
}

/** A single `bytes=` range within `size`; none for no or an unparseable header (then the whole object is sent, as S3 does). */
function byteRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header ?? '');
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  const [first, last] = [match[1] ?? '', match[2] ?? ''];
  const start = first === '' ? Math.max(size - Number(last), 0) : Number(first);
  const end = first === '' || last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || start > end) throw new S3Error(416, 'InvalidRange', `The requested range ${header} is not satisfiable for an object of ${size} bytes`);
  return { start, end };
}

async function deleteObject({ res, store, key }: S3Request): Promise<void> {
  await store.deleteObject(key);
  res.writeHead(204).end();
}

async function createMultipartUpload({ http, res, store, bucket, key }: S3Request): Promise<void> {
  const uploadId = await store.createUpload(key, http.headers['content-type'] ?? DEFAULT_CONTENT_TYPE);
  sendXml(res, 'InitiateMultipartUploadResult', [element('Bucket', bucket), element('Key', key), element('UploadId', uploadId)]);
}

async function uploadPart(request: S3Request): Promise<void> {
  checkUploadBody(request, 'UploadPart');
  const partNumber = integerParam(request.query, 'partNumber', 0); // the store refuses 0 and numbers past 10,000
  const etag = await request.store.putPart(uploadIdOf(request), request.key, partNumber, request.http, request.digests);
  request.res.writeHead(200, { ETag: quoted(etag) }).end();
}

async function completeMultipartUpload(request: S3Request): Promise<void> {
  const body = await readXmlBody(request);
  const parts: CompletedPart[] = childrenOf(body, 'Part').map((part) => {
    const [partNumber] = textsOf(part, 'PartNumber');
    const [etag] = textsOf(part, 'ETag');
    if (partNumber === undefined || !/^\d{1,5}$/.test(partNumber) || etag === undefined) throw malformed('each <Part> needs a <PartNumber> and an <ETag>');
    return { partNumber: Number(partNumber), etag: unquote(etag).toLowerCase() };
  });
  if (parts.length === 0) throw malformed('no <Part> elements');
  const etag = await request.store.completeUpload(uploadIdOf(request), request.key, parts);
  sendXml(request.res, 'CompleteMultipartUploadResult', [
    element('Location', `http://${request.http.headers.host ?? ''}/${uriEncode(request.bucket)}/${uriEncode(request.key).replace(/%2F/g, '/')}`),
    element('Bucket', request.bucket),
    element('Key', request.key),
    element('ETag', quoted(etag)),
  ]);
}

async function abortMultipartUpload(request: S3Request): Promise<void> {
  await request.store.abortUpload(uploadIdOf(request), request.key);
  request.res.writeHead(204).end();
}

/** For `.catch`: a key that vanished meanwhile becomes undefined; any other error stands. */
function unlessNoSuchKey(error: unknown): undefined {
  if (error instanceof S3Error && error.code === 'NoSuchKey') return undefined;
  throw error;
}

const uploadIdOf = (request: S3Request) => request.query.get('uploadId') ?? '';
const unquote = (etag: string) => etag.replace(/^"|"$/g, '');
