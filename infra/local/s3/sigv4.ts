// AWS Signature Version 4 in the Authorization header, as S3 checks it: the signature is
// recomputed with our one secret over the method, path, query, the headers the client named and
// the payload hash it declared (x-amz-content-sha256). Whether the body matches that hash is
// integrity.ts's check, made while the body streams. Presigned URLs (query auth) are not supported.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { notImplemented, S3Error } from './errors.js';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** What a signature covers: the request line as sent and its headers (lower-case names). */
export interface SignableRequest {
  readonly method: string;
  /** Path and query exactly as on the wire, e.g. `/bucket/a%20b?uploads`. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
/** S3 refuses requests signed more than 15 minutes away from its clock: a captured request cannot be replayed later. */
const MAX_CLOCK_SKEW_MS = 15 * 60_000;

/** Throws the S3 error a real bucket would answer with, unless `request` is signed with `credentials`. */
export function verifySignature(request: SignableRequest, credentials: Credentials): void {
  const authorization = header(request, 'authorization');
  if (request.url.includes('X-Amz-Signature=')) throw notImplemented('Authentication by presigned URL');
  if (authorization === undefined) throw new S3Error(403, 'AccessDenied', 'Access Denied: the request is not signed');
  if (!authorization.startsWith(`${ALGORITHM} `)) throw notImplemented(`Authorization other than ${ALGORITHM} (Signature Version 4)`);

  const fields = new Map(
    authorization
      .slice(ALGORITHM.length + 1)
      .split(',')
      .map((field) => splitOnce(field.trim(), '=')),
  );
  const [accessKeyId, date, region, service, terminator, ...extra] = (fields.get('Credential') ?? '').split('/');
  const signedHeaders = fields.get('SignedHeaders')?.split(';') ?? [];
  const signature = fields.get('Signature') ?? '';
  if (!accessKeyId || !date || !region || service !== 's3' || terminator !== 'aws4_request' || extra.length > 0 || !/^[0-9a-f]{64}$/.test(signature)) {
    throw new S3Error(
      400,
      'AuthorizationHeaderMalformed',
      `The authorization header is malformed: expected ${ALGORITHM} Credential=<key id>/<date>/<region>/s3/aws4_request, SignedHeaders=…, Signature=<64 hex digits>`,
    );
  }
  if (accessKeyId !== credentials.accessKeyId)
    throw new S3Error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');

  const amzDate = header(request, 'x-amz-date') ?? '';
  const signedAt = parseAmzDate(amzDate);
  if (signedAt === undefined) throw new S3Error(403, 'AccessDenied', 'AWS authentication requires a valid x-amz-date header (YYYYMMDDTHHMMSSZ)');
  if (amzDate.slice(0, 8) !== date) throw new S3Error(400, 'AuthorizationHeaderMalformed', `The credential date ${date} does not match x-amz-date ${amzDate}`);
  if (Math.abs(Date.now() - signedAt) > MAX_CLOCK_SKEW_MS)
    throw new S3Error(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
  if (header(request, 'x-amz-content-sha256') === undefined)
    throw new S3Error(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  // Unsigned x-amz-* headers (a checksum, a copy source) could be changed on the way: S3 refuses them.
  const unsigned = Object.keys(request.headers).filter((name) => (name === 'host' || name.startsWith('x-amz-')) && !signedHeaders.includes(name));
  if (unsigned.length > 0) throw new S3Error(403, 'AccessDenied', `There were headers present in the request which were not signed: ${unsigned.join(', ')}`);

  const expected = computeSignature(request, signedHeaders, `${date}/${region}/s3/aws4_request`, amzDate, credentials.secretAccessKey);
  if (!timingSafeEqual(Buffer.from(signature, 'hex'), expected)) {
    throw new S3Error(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    );
  }
}

/**
 * The Authorization header for `request`, signing every header it carries (it must carry host,
 * x-amz-date and x-amz-content-sha256). For clients that are not the AWS CLI: tests craft requests with it.
 */
export function signRequest(request: SignableRequest, credentials: Credentials, region: string): string {
  const amzDate = header(request, 'x-amz-date') ?? '';
  const signedHeaders = Object.keys(request.headers).sort();
  const scope = `${amzDate.slice(0, 8)}/${region}/s3/aws4_request`;
  const signature = computeSignature(request, signedHeaders, scope, amzDate, credentials.secretAccessKey).toString('hex');
  return `${ALGORITHM} Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`;
}

function computeSignature(request: SignableRequest, signedHeaders: readonly string[], scope: string, amzDate: string, secret: string): Buffer {
  const [path = '', query = ''] = splitOnce(request.url, '?');
  const canonicalRequest = [
    request.method,
    canonicalPath(path),
    canonicalQuery(query),
    ...signedHeaders.map((name) => `${name}:${canonicalHeaderValue(request.headers[name])}`),
    '',
    signedHeaders.join(';'),
    header(request, 'x-amz-content-sha256') ?? '',
  ].join('\n');
  const stringToSign = [ALGORITHM, amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  const signingKey = scope.split('/').reduce<Buffer | string>((key, part) => hmac(key, part), `AWS4${secret}`);
  return hmac(signingKey, stringToSign);
}

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

/** RFC 3986 encoding, as SigV4 wants it: everything but A-Z a-z 0-9 - . _ ~ is %XX. */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Each segment decoded and re-encoded once (S3 does not normalise `.` or `..`: they are part of the key). */
function canonicalPath(path: string): string {
  return (
    path
      .split('/')
      .map((segment) => uriEncode(decodeUri(segment)))
      .join('/') || '/'
  );
}

function canonicalQuery(query: string): string {
  return queryPairs(query)
    .map(([name, value]) => [uriEncode(name), uriEncode(value)] as const)
    .sort(([a, x], [b, y]) => (a === b ? compare(x, y) : compare(a, b)))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/** The query's name/value pairs, decoded; `?uploads` is ['uploads', '']. No `+` for space: S3 clients send %20. */
export function queryPairs(query: string): [string, string][] {
  return query
    .split('&')
    .filter(Boolean)
    .map((pair) => splitOnce(pair, '=').map(decodeUri) as [string, string]);
}

export function decodeUri(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new S3Error(400, 'InvalidURI', `Couldn't parse the specified URI: bad percent-encoding in '${text}'`);
  }
}

function canonicalHeaderValue(value: string | readonly string[] | undefined): string {
  const values = typeof value === 'string' ? [value] : (value ?? []);
  return values.map((v) => v.trim().replace(/\s+/g, ' ')).join(',');
}

function header(request: SignableRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : value?.[0];
}

function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)];
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** `20260101T120000Z` as epoch milliseconds, or undefined when it is not one. */
function parseAmzDate(text: string): number | undefined {
  const iso = /^\d{8}T\d{6}Z$/.test(text) ? text.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z') : '';
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}
