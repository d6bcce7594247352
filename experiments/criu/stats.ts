// Decodes CRIU's own statistics images (stats-dump, stats-restore): a service magic, the
// stats magic, then one length-prefixed protobuf stats_entry (images/stats.proto).

const IMG_SERVICE_MAGIC = 0x55105940;
const STATS_MAGIC = 0x57093306;

const DUMP_FIELDS: Record<number, string> = {
  1: 'freezing_time',
  2: 'frozen_time',
  3: 'memdump_time',
  4: 'memwrite_time',
  5: 'pages_scanned',
  6: 'pages_skipped_parent',
  7: 'pages_written',
  8: 'irmap_resolve',
  9: 'pages_lazy',
  10: 'page_pipes',
  11: 'page_pipe_bufs',
  12: 'shpages_scanned',
  13: 'shpages_skipped_parent',
  14: 'shpages_written',
};
const RESTORE_FIELDS: Record<number, string> = {
  1: 'pages_compared',
  2: 'pages_skipped_cow',
  3: 'forking_time',
  4: 'restore_time',
  5: 'pages_restored',
};

/** CRIU's counters by their proto names; *_time fields are microseconds. */
export type CriuStats = Record<string, number>;

function readVarint(buf: Buffer, offset: number): [value: bigint, next: number] {
  let value = 0n;
  let shift = 0n;
  for (let i = offset; i < buf.length; i++) {
    const byte = buf[i]!;
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [value, i + 1];
    shift += 7n;
  }
  throw new Error('truncated varint in CRIU stats image');
}

function decodeMessage(buf: Buffer, names: Record<number, string>): CriuStats {
  const stats: CriuStats = {};
  for (let offset = 0; offset < buf.length;) {
    const [tag, afterTag] = readVarint(buf, offset);
    const field = Number(tag >> 3n);
    if ((tag & 7n) !== 0n) throw new Error(`unexpected wire type in CRIU stats field ${field}`);
    const [value, next] = readVarint(buf, afterTag);
    stats[names[field] ?? `field_${field}`] = Number(value);
    offset = next;
  }
  return stats;
}

function submessages(buf: Buffer): Map<number, Buffer> {
  const found = new Map<number, Buffer>();
  for (let offset = 0; offset < buf.length;) {
    const [tag, afterTag] = readVarint(buf, offset);
    if ((tag & 7n) !== 2n) throw new Error('unexpected wire type in CRIU stats_entry');
    const [length, start] = readVarint(buf, afterTag);
    found.set(Number(tag >> 3n), buf.subarray(start, start + Number(length)));
    offset = start + Number(length);
  }
  return found;
}

/** Decodes a stats-dump or stats-restore file into its counters. */
export function decodeCriuStats(file: Buffer): { dump?: CriuStats; restore?: CriuStats } {
  if (file.length < 12 || file.readUInt32LE(0) !== IMG_SERVICE_MAGIC || file.readUInt32LE(4) !== STATS_MAGIC) {
    throw new Error('not a CRIU stats image (bad magic)');
  }
  const length = file.readUInt32LE(8);
  const entry = submessages(file.subarray(12, 12 + length));
  const dump = entry.get(1);
  const restore = entry.get(2);
  return {
    ...(dump ? { dump: decodeMessage(dump, DUMP_FIELDS) } : {}),
    ...(restore ? { restore: decodeMessage(restore, RESTORE_FIELDS) } : {}),
  };
}
