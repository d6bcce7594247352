// The stand-in's one bucket on disk, under --directory:
//   objects/<key, percent-encoded>  one file per object: its bytes, a JSON trailer (ETag, content
//                                   type), then the trailer's length in 4 bytes
//   uploads/<upload id>/            a multipart upload: upload.json and its parts, in the same format
//   tmp/                            bodies still arriving; emptied at start
// A key is one flat file name, so "a" and "a/b" can coexist as in S3 and no key can reach outside
// objects/. One rename publishes an object's bytes and metadata together, and a reader that opened
// the file keeps reading the version it opened while a newer one replaces it.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { appendFile, mkdir, open, readdir, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S3Error } from './errors.js';
import { BodyDigests, type DeclaredDigests } from './integrity.js';

export interface ObjectInfo {
  readonly key: string;
  /** Bytes of the object itself, without the trailer. */
  readonly size: number;
  /** Without quotes: MD5 hex, or for a multipart upload the MD5 of the parts' MD5s and `-<parts>`. */
  readonly etag: string;
  readonly contentType: string;
  readonly lastModified: Date;
}

/** An object opened for reading: `read` streams a byte range of the version opened; `close` when done. */
export interface OpenObject {
  readonly info: ObjectInfo;
  read(start: number, end: number): Readable;
  close(): Promise<void>;
}

export interface CompletedPart {
  readonly partNumber: number;
  readonly etag: string;
}

interface Trailer {
  readonly etag: string;
  readonly contentType: string;
}

/** S3's limits: keys up to 1024 bytes, up to 10,000 parts, every part but the last at least 5 MiB. */
const MAX_KEY_BYTES = 1024;
const MAX_FILE_NAME_BYTES = 255;
const MAX_PART_NUMBER = 10_000;
const MIN_PART_BYTES = 5 * 1024 * 1024;
const MAX_TRAILER_BYTES = 64 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;

export class BucketStore {
  private constructor(
    private readonly root: string,
    /** When this stand-in opened the bucket: its CreationDate in ListBuckets. */
    readonly openedAt: Date,
  ) {}

  static async open(root: string): Promise<BucketStore> {
    // Bodies left in tmp/ by a killed stand-in were never published: nothing refers to them.
    await rm(join(root, 'tmp'), { recursive: true, force: true });
    for (const dir of ['objects', 'uploads', 'tmp']) await mkdir(join(root, dir), { recursive: true });
    return new BucketStore(root, new Date());
  }

  /** Stores `body` as `key` once it matched its declared digests; returns its ETag. */
  async putObject(key: string, body: Readable, declared: DeclaredDigests, contentType: string): Promise<string> {
    const destination = this.objectPath(key);
    const { etag } = await this.writeFile(destination, async (file) => ({ etag: await receive(body, declared, file), contentType }));
    return etag;
  }

  async openObject(key: string): Promise<OpenObject> {
    const { handle, size, trailer, modified } = await openStoredFile(
      this.objectPath(key),
      () => new S3Error(404, 'NoSuchKey', `The specified key does not exist: ${key}`),
    );
    return {
      info: { key, size, etag: trailer.etag, contentType: trailer.contentType, lastModified: modified },
      read: (start, end) => handle.createReadStream({ start, end, autoClose: false, highWaterMark: READ_CHUNK_BYTES }),
      close: () => handle.close(),
    };
  }

  async headObject(key: string): Promise<ObjectInfo> {
    const object = await this.openObject(key);
    await object.close();
    return object.info;
  }

  /** Like S3, deleting a key that does not exist succeeds. */
  async deleteObject(key: string): Promise<void> {
    await rm(this.objectPath(key), { force: true });
  }

  /** Every key, in S3's order (by UTF-8 bytes). */
  async listKeys(): Promise<string[]> {
    const names = await readdir(join(this.root, 'objects'));
    return names
      .map((name) => Buffer.from(decodeURIComponent(name)))
      .sort(Buffer.compare)
      .map((key) => key.toString());
  }

  async createUpload(key: string, contentType: string): Promise<string> {
    this.objectPath(key); // a key the store refuses is refused before any part is sent
    const uploadId = randomBytes(16).toString('hex');
    await mkdir(this.uploadDir(uploadId));
    await writeFile(join(this.uploadDir(uploadId), 'upload.json'), JSON.stringify({ key, contentType }));
    return uploadId;
  }

  /** Stores one part (replacing an earlier one with its number); returns its ETag. */
  async putPart(uploadId: string, key: string, partNumber: number, body: Readable, declared: DeclaredDigests): Promise<string> {
    await this.readUpload(uploadId, key);
    // A missing directory at the rename: the upload was aborted or completed meanwhile.
    const { etag } = await this.writeFile(this.partPath(uploadId, partNumber), async (file) => ({
      etag: await receive(body, declared, file),
      contentType: '',
    })).catch(ifMissing(() => noSuchUpload(uploadId)));
    return etag;
  }

  /** Joins the parts named into the object and ends the upload; returns the object's ETag. */
  async completeUpload(uploadId: string, key: string, parts: readonly CompletedPart[]): Promise<string> {
    const { contentType } = await this.readUpload(uploadId, key);
    parts.forEach((part, i) => {
      if (i > 0 && part.partNumber <= parts[i - 1]!.partNumber)
        throw new S3Error(400, 'InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.');
    });
    const opened: StoredFile[] = [];
    try {
      for (const [i, part] of parts.entries()) {
        const invalidPart = () => new S3Error(400, 'InvalidPart', `Part ${part.partNumber} was not uploaded or its ETag does not match ${part.etag}.`);
        const stored = await openStoredFile(this.partPath(uploadId, part.partNumber), invalidPart);
        opened.push(stored);
        if (stored.trailer.etag !== part.etag) throw invalidPart();
        if (stored.size < MIN_PART_BYTES && i < parts.length - 1) {
          throw new S3Error(400, 'EntityTooSmall', `Part ${part.partNumber} is ${stored.size} bytes; every part but the last must be at least 5 MiB.`);
        }
      }
      const md5s = Buffer.concat(parts.map((part) => Buffer.from(part.etag, 'hex')));
      const etag = `${createHash('md5').update(md5s).digest('hex')}-${parts.length}`;
      await this.writeFile(this.objectPath(key), async (file) => {
        const partBodies = async function* () {
          for (const { handle, size } of opened)
            if (size > 0) yield* handle.createReadStream({ start: 0, end: size - 1, autoClose: false, highWaterMark: READ_CHUNK_BYTES });
        };
        await pipeline(partBodies, createWriteStream(file));
        return { etag, contentType };
      });
      await rm(this.uploadDir(uploadId), { recursive: true, force: true });
      return etag;
    } finally {
      await Promise.all(opened.map(({ handle }) => handle.close()));
    }
  }

  async abortUpload(uploadId: string, key: string): Promise<void> {
    await this.readUpload(uploadId, key);
    await rm(this.uploadDir(uploadId), { recursive: true, force: true });
  }

  /** Writes a temp file with `write`, appends the trailer it returns and renames it to `destination`; the temp file never outlives the call. */
  private async writeFile(destination: string, write: (file: string) => Promise<Trailer>): Promise<Trailer> {
    const file = join(this.root, 'tmp', randomBytes(16).toString('hex'));
    try {
      const trailer = await write(file);
      const json = Buffer.from(JSON.stringify(trailer));
      const length = Buffer.alloc(4);
      length.writeUInt32BE(json.length);
      await appendFile(file, Buffer.concat([json, length]));
      await rename(file, destination);
      return trailer;
    } finally {
      await rm(file, { force: true });
    }
  }

  private objectPath(key: string): string {
    return join(this.root, 'objects', objectFileName(key));
  }

  private uploadDir(uploadId: string): string {
    // The id becomes a path: only the ids createUpload makes are accepted.
    if (!/^[0-9a-f]{32}$/.test(uploadId)) throw noSuchUpload(uploadId);
    return join(this.root, 'uploads', uploadId);
  }

  private partPath(uploadId: string, partNumber: number): string {
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
      throw new S3Error(400, 'InvalidArgument', `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`);
    }
    return join(this.uploadDir(uploadId), `part-${partNumber}`);
  }

  private async readUpload(uploadId: string, key: string): Promise<{ readonly contentType: string }> {
    const text = await readFile(join(this.uploadDir(uploadId), 'upload.json'), 'utf8').catch(ifMissing(() => noSuchUpload(uploadId)));
    const upload = JSON.parse(text) as { key: string; contentType: string };
    if (upload.key !== key) throw noSuchUpload(uploadId);
    return upload;
  }
}

/**
 * The file name of `key` in objects/. Keys a file system would resolve elsewhere (a `.` or `..`
 * segment, a leading `/`, a NUL byte) are refused, although here they could not escape: whoever
 * later copies the bucket to a disk (`aws s3 cp --recursive`) should never meet one.
 */
function objectFileName(key: string): string {
  if (key.includes('\0') || key.startsWith('/') || key.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw new S3Error(
      400,
      'InvalidArgument',
      `The lab's S3 stand-in refuses the key '${key.replace(/\0/g, '\\0')}': it has a '.' or '..' segment, a leading '/' or a NUL byte`,
    );
  }
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new S3Error(400, 'KeyTooLongError', 'Your key is too long (at most 1024 bytes)');
  let name: string;
  try {
    name = encodeURIComponent(key);
  } catch {
    throw new S3Error(400, 'InvalidArgument', 'The key is not valid UTF-8');
  }
  if (Buffer.byteLength(name) > MAX_FILE_NAME_BYTES) {
    throw new S3Error(
      400,
      'KeyTooLongError',
      `Your key is too long for the lab's S3 stand-in: at most ${MAX_FILE_NAME_BYTES} bytes once percent-encoded, as one file name`,
    );
  }
  return name;
}

/** Streams `body` into `file`; returns its MD5 (hex) when it matches every declared digest. */
async function receive(body: Readable, declared: DeclaredDigests, file: string): Promise<string> {
  const digests = new BodyDigests(declared);
  await pipeline(
    body,
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        digests.update(chunk);
        yield chunk;
      }
    },
    createWriteStream(file),
  );
  return digests.verify().toString('hex');
}

interface StoredFile {
  readonly handle: FileHandle;
  /** Bytes before the trailer. */
  readonly size: number;
  readonly trailer: Trailer;
  readonly modified: Date;
}

/** Opens an object or part file and reads its trailer; a missing file becomes `missing()`. */
async function openStoredFile(path: string, missing: () => S3Error): Promise<StoredFile> {
  const handle = await open(path, 'r').catch(ifMissing(missing));
  try {
    return { handle, ...(await readTrailer(handle)) };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** The trailer of an open object or part file, the size of what precedes it and when it was written. */
async function readTrailer(handle: FileHandle): Promise<Omit<StoredFile, 'handle'>> {
  const { size: fileSize, mtime } = await handle.stat();
  const length = Buffer.alloc(4);
  if (fileSize < 4) throw corrupt();
  await handle.read(length, 0, 4, fileSize - 4);
  const trailerBytes = length.readUInt32BE();
  if (trailerBytes > Math.min(MAX_TRAILER_BYTES, fileSize - 4)) throw corrupt();
  const trailer = Buffer.alloc(trailerBytes);
  await handle.read(trailer, 0, trailerBytes, fileSize - 4 - trailerBytes);
  const parsed = JSON.parse(trailer.toString()) as Partial<Trailer>;
  if (typeof parsed.etag !== 'string' || typeof parsed.contentType !== 'string') throw corrupt();
  return { size: fileSize - 4 - trailerBytes, trailer: { etag: parsed.etag, contentType: parsed.contentType }, modified: mtime };
}

const corrupt = () => new Error("a file in the S3 stand-in's directory is not in its object format (bytes, JSON trailer, trailer length)");

const noSuchUpload = (uploadId: string) =>
  new S3Error(
    404,
    'NoSuchUpload',
    `The specified upload does not exist (${uploadId}). The upload ID may be invalid, or the upload may have been aborted or completed.`,
  );

/** For `.catch`: a missing file becomes `error()`, anything else is rethrown. */
function ifMissing(error: () => S3Error): (cause: unknown) => never {
  return (cause) => {
    throw (cause as NodeJS.ErrnoException).code === 'ENOENT' ? error() : cause;
  };
}
