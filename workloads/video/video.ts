// The video workload: a Python parent driving a real ffmpeg child (the seed's transcoding
// scenario), a process tree writing files. Verify proves the tree came back, kept producing
// frames and output, and that every file it wrote moved intact and stays valid for ffprobe.
import { assetPath } from '../../core/package-root.js';
import { z } from 'zod';
import {
  binary,
  chainChecksum,
  check,
  defineWorkload,
  numeric,
  stringList,
  verdict,
  type WorkloadFinal,
  pythonPayloadArgv,
  withProtocol,
} from '../workload.js';

export const VIDEO_MODES = ['live', 'file'] as const;

export interface VideoParams {
  readonly resolution: string;
  readonly fps: number;
  readonly duration: number;
  readonly video_mode: (typeof VIDEO_MODES)[number];
}

function probesOf(final: WorkloadFinal): [string, number | null][] {
  const probes = final['probes'];
  return typeof probes === 'object' && probes !== null ? Object.entries(probes as Record<string, number | null>) : [];
}

function validCheck(final: WorkloadFinal) {
  const probes = probesOf(final);
  const rejected = probes.filter(([, packets]) => packets === null).map(([name]) => name);
  const frames = probes.reduce((sum, [, packets]) => sum + (packets ?? 0), 0);
  return check(
    'output files valid',
    probes.length > 0 && rejected.length === 0,
    rejected.length > 0 ? `ffprobe rejects ${rejected.join(', ')}` : `ffprobe reads all ${probes.length} file(s), ${frames} frames`,
  );
}

export const videoWorkload = defineWorkload<VideoParams>({
  name: 'video',
  description: 'a real ffmpeg encoding testsrc2 with libx264 in real time, driven by a Python parent',
  params: [
    {
      key: 'resolution',
      flag: '--resolution',
      description: 'frame size WxH',
      schema: z
        .string()
        .regex(/^\d{1,5}x\d{1,5}$/, 'must be WxH, e.g. 1920x1080')
        .default('1920x1080'),
    },
    { key: 'fps', flag: '--fps', description: 'frames per second', schema: numeric(z.number().int().positive().max(240)).default(30) },
    { key: 'duration', flag: '--duration', description: 'seconds of video (file mode)', schema: numeric(z.number().int().positive().max(86_400)).default(300) },
    {
      key: 'video_mode',
      flag: '--video-mode',
      description: `output: ${VIDEO_MODES.join(' (segments) or ')} (one MP4)`,
      schema: z.enum(VIDEO_MODES).default('live'),
    },
  ],
  payloadFiles: withProtocol(assetPath('workloads/video/payload.py')),
  startArgv: ({ params, workDir, scriptDir }) => [
    ...pythonPayloadArgv({ workDir, scriptDir }),
    '--resolution',
    params.resolution,
    '--fps',
    String(params.fps),
    '--duration',
    String(params.duration),
    '--video-mode',
    params.video_mode,
  ],
  criuFlags: { dump: [], restore: [] },
  requires: [binary('ffmpeg', 'ffmpeg'), binary('ffprobe', 'ffmpeg')],
  // Worth migrating once a segment (or MP4 chunk) is finished, so there is output to check.
  readyToMigrate: (status) => Number(status['units']) >= 1,
  verify: ({ frozen, resumed, final }) => {
    const units = Number(frozen['units']);
    const digests = stringList(final['digests']);
    const rehashed = chainChecksum(digests, units);
    return verdict([
      check('progress continues', resumed.counter > frozen.counter, `frame ${frozen.counter} at freeze, ${resumed.counter} after restore`),
      check(
        'process tree restored',
        final.pid === frozen.pid && resumed['ffmpeg_pid'] === frozen['ffmpeg_pid'] && resumed['ffmpeg_running'] === true,
        `parent ${frozen.pid} and ffmpeg ${String(frozen['ffmpeg_pid'])} at freeze; after restore parent ${final.pid}, ffmpeg ` +
          `${String(resumed['ffmpeg_pid'])} ${resumed['ffmpeg_running'] ? 'running' : 'gone'}`,
      ),
      check(
        'output keeps growing',
        Number(final['output_bytes']) > Number(frozen['output_bytes']) && digests.length > units,
        `${units} ${String(frozen['unit'])}s (${String(frozen['output_bytes'])} bytes) at freeze, ${digests.length} (${String(final['output_bytes'])} ` +
          `bytes) at the end`,
      ),
      check(
        'output intact',
        digests.length >= units && rehashed === frozen.checksum,
        `the ${units} ${String(frozen['unit'])}s finished at freeze re-hashed on the destination: ${rehashed.slice(0, 16)}… vs ` +
          `${frozen.checksum.slice(0, 16)}… at freeze`,
      ),
      validCheck(final),
    ]);
  },
});
