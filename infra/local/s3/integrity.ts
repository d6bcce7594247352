// What a client declared about a request body, and the check that the bytes received match it,
// computed while they stream. Debian's aws 2.x sends the body's SHA-256 (x-amz-content-sha256,
// signed) and Content-MD5; aws 1.x with newer botocore sends the SHA-256 and x-amz-checksum-crc32.
// aws-chunked bodies (STREAMING-* payloads, trailing checksums) are what aws sends over HTTPS
// only; they are refused rather than stored with their chunk framing.
import { createHash, type Hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { crc32 } from 'node:zlib';
import { notImplemented, S3Error } from './errors.js';

export interface DeclaredDigests {
  /** From a hex x-amz-content-sha256; undefined for UNSIGNED-PAYLOAD. */
  readonly sha256?: Buffer;
  /** From Content-MD5. */
  readonly md5?: Buffer;
  /** From x-amz-checksum-crc32. */
  readonly crc32?: Buffer;
}

const OTHER_CHECKSUMS = ['crc32c', 'crc64nvme', 'sha1', 'sha256'];

/** The digests a request declares for its body; throws for a body framing or checksum we do not support. */
export function declaredDigests(headers: IncomingHttpHeaders): DeclaredDigests {
  const header = (name: string) => [headers[name]].flat()[0];
  const payload = header('x-amz-content-sha256') ?? '';
  if (payload.startsWith('STREAMING-') || /aws-chunked/i.test(header('content-encoding') ?? '') || header('x-amz-trailer')) {
    throw notImplemented(`An aws-chunked body (x-amz-content-sha256: ${payload}; trailing checksums)`);
  }
  const unsupported = OTHER_CHECKSUMS.find((name) => header(`x-amz-checksum-${name}`) !== undefined);
  if (unsupported) throw notImplemented(`The ${unsupported.toUpperCase()} checksum (x-amz-checksum-${unsupported}; CRC32 is)`);
  if (payload !== 'UNSIGNED-PAYLOAD' && !/^[0-9a-f]{64}$/.test(payload)) {
    throw new S3Error(400, 'InvalidArgument', `x-amz-content-sha256 must be the body's SHA-256 in lower-case hex or UNSIGNED-PAYLOAD, not '${payload}'`);
  }
  return {
    sha256: payload === 'UNSIGNED-PAYLOAD' ? undefined : Buffer.from(payload, 'hex'),
    md5: base64Digest(header('content-md5'), 16, 'Content-MD5'),
    crc32: base64Digest(header('x-amz-checksum-crc32'), 4, 'x-amz-checksum-crc32'),
  };
}

function base64Digest(value: string | undefined, bytes: number, name: string): Buffer | undefined {
  if (value === undefined) return undefined;
  const digest = Buffer.from(value, 'base64');
  if (digest.length !== bytes || digest.toString('base64') !== value) throw new S3Error(400, 'InvalidDigest', `The ${name} you specified is not valid.`);
  return digest;
}

/** Digests of a body as it streams by; `verify` compares them with what was declared. MD5 is always kept: it is the ETag. */
export class BodyDigests {
  private readonly md5 = createHash('md5');
  private readonly sha256: Hash | undefined;
  private crc = 0;

  constructor(private readonly declared: DeclaredDigests) {
    this.sha256 = declared.sha256 ? createHash('sha256') : undefined;
  }

  update(chunk: Buffer): void {
    this.md5.update(chunk);
    this.sha256?.update(chunk);
    if (this.declared.crc32) this.crc = crc32(chunk, this.crc);
  }

  /** The body's MD5 when it matches every declared digest; otherwise throws the error S3 answers with. */
  verify(): Buffer {
    const md5 = this.md5.digest();
    if (this.declared.sha256 && !this.declared.sha256.equals(this.sha256!.digest())) {
      throw new S3Error(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.");
    }
    if (this.declared.md5 && !this.declared.md5.equals(md5))
      throw new S3Error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
    if (this.declared.crc32 && this.declared.crc32.readUInt32BE() !== this.crc) {
      throw new S3Error(400, 'BadDigest', 'The CRC32 you specified did not match the calculated checksum.');
    }
    return md5;
  }
}
