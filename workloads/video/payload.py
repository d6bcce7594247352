#!/usr/bin/env python3
"""criu-lab video workload (the seed's transcoding scenario): drives a real ffmpeg child that
encodes ffmpeg's testsrc2 pattern at --resolution and --fps with libx264, in real time. Live
mode (--video-mode live) cuts it into SEGMENT_S-second MPEG-TS segments; file mode writes one
fragmented MP4 of --duration seconds. Needs ffmpeg and ffprobe (Debian: ffmpeg).

Output only grows: a finished segment never changes, and a fragmented MP4 is only appended to.
So the status names its output as a list of immutable units (segments, or CHUNK_BYTES chunks of
the MP4) and a chained checksum over their digests; after the move the same units must hash the
same, and ffprobe must accept every file.

Protocol (payload_protocol.py, uploaded beside us):
checkpoint_flag exists while we may be migrated; we write checkpoint_ready ("ready:<pid>");
workload_status.json is replaced by rename every tick, its counter the frames ffmpeg reports;
when checkpoint_flag goes we stop ffmpeg (SIGINT: it finishes its files), hash and ffprobe every
output file, write workload_final.json and exit 0.
"""
import hashlib
import os
import select
import signal
import subprocess
import sys
import time

import payload_protocol as protocol

TICK_S = 0.1
SEGMENT_S = 2
CHUNK_BYTES = 64 * 1024


def ffmpeg_argv(args):
    # Absolute paths put the work dir, and so the run id, in ffmpeg's argv: cleanup finds it by that
    # even when it is left stopped on the source with its parent gone (a stopped process holds the
    # SIGTERM its parent's death sends it).
    here = os.getcwd()
    source = ["-re", "-f", "lavfi", "-i", f"testsrc2=size={args.resolution}:rate={args.fps}"]
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(args.fps * SEGMENT_S)]
    if args.video_mode == "live":
        output = ["-f", "segment", "-segment_time", str(SEGMENT_S), "-segment_list", f"{here}/segments.csv",
                  "-segment_list_type", "csv", "-reset_timestamps", "1", f"{here}/segments/seg_%06d.ts"]
    else:
        # Fragmented and flushed per packet: the file is valid at every moment and only appended to.
        output = ["-t", str(args.duration), "-flush_packets", "1",
                  "-movflags", "frag_keyframe+empty_moov+default_base_moof", f"{here}/output.mp4"]
    return ["ffmpeg", "-hide_banner", "-nostats", "-loglevel", "warning", "-progress", "pipe:1", *source, *encode, *output]


class Output:
    """The finished units of ffmpeg's output, hashed once each as they appear."""

    def __init__(self, mode):
        self.mode = mode
        self.digests = []
        self.bytes = 0

    def files(self):
        if self.mode == "file":
            return ["output.mp4"] if os.path.exists("output.mp4") else []
        if not os.path.exists("segments.csv"):
            return []
        with open("segments.csv") as f:
            return ["segments/" + line.split(",")[0] for line in f if line.strip()]

    def scan(self):
        if self.mode == "live":
            for name in self.files()[len(self.digests):]:
                with open(name, "rb") as f:
                    self.digests.append(hashlib.sha256(f.read()).hexdigest())
            self.bytes = sum(os.path.getsize(name) for name in self.files())
        elif os.path.exists("output.mp4"):
            self.bytes = os.path.getsize("output.mp4")
            with open("output.mp4", "rb") as f:
                f.seek(len(self.digests) * CHUNK_BYTES)
                while True:
                    chunk = f.read(CHUNK_BYTES)
                    if len(chunk) < CHUNK_BYTES:
                        break
                    self.digests.append(hashlib.sha256(chunk).hexdigest())


def probe(path):
    """Frames (packets) ffprobe reads from the file's video stream; None when it rejects the file."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path],
        capture_output=True, text=True,
    )
    packets = result.stdout.strip().split("\n")[0]
    return int(packets) if result.returncode == 0 and packets.isdigit() and int(packets) > 0 else None


def main():
    parser = protocol.arguments(__doc__)
    parser.add_argument("--resolution", default="1920x1080")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--duration", type=int, default=300)
    parser.add_argument("--video-mode", choices=["live", "file"], default="live")
    args = parser.parse_args()
    protocol.enter_working_dir(args)
    os.makedirs("segments", exist_ok=True)

    # ffmpeg's log goes to our stderr (payload.out); its progress comes to us through a pipe.
    ffmpeg = subprocess.Popen(ffmpeg_argv(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, preexec_fn=protocol.die_with_parent)
    os.set_blocking(ffmpeg.stdout.fileno(), False)
    output = Output(args.video_mode)
    frames = 0
    pending = b""

    def status(phase):
        return {
            "pid": os.getpid(),
            "counter": frames,
            "phase": phase,
            "checksum": protocol.chain_checksum(output.digests),
            "units": len(output.digests),
            "unit": "segment" if args.video_mode == "live" else f"{CHUNK_BYTES}-byte chunk",
            "output_bytes": output.bytes,
            "mode": args.video_mode,
            "ffmpeg_pid": ffmpeg.pid,
            "ffmpeg_running": ffmpeg.poll() is None,
            "time": time.time(),
        }

    protocol.write_status(status("encoding"))
    protocol.signal_ready(f"ffmpeg pid={ffmpeg.pid} {args.resolution}@{args.fps} {args.video_mode}")

    while True:
        if protocol.restored():
            if ffmpeg.poll() is None:
                ffmpeg.send_signal(signal.SIGINT)  # ffmpeg closes its segment or writes the MP4's end
            ffmpeg.wait(timeout=60)
            output.scan()
            files = output.files()
            probes = {name: probe(name) for name in files}
            final = status("final")
            if args.video_mode == "file" and files:
                with open("output.mp4", "rb") as f:  # the MP4's tail, shorter than a chunk
                    f.seek(len(output.digests) * CHUNK_BYTES)
                    output.digests.append(hashlib.sha256(f.read()).hexdigest())
            final["digests"] = output.digests
            final["probes"] = probes
            final["ffmpeg_exit"] = ffmpeg.returncode
            protocol.write_final(final)
            protocol.log(f"checkpoint_flag removed: restore complete, frames={frames}, {len(files)} files probed, exiting")
            sys.exit(0)
        if ffmpeg.poll() is not None:
            time.sleep(TICK_S)  # file mode reached --duration: nothing more comes through the pipe
        elif select.select([ffmpeg.stdout], [], [], TICK_S)[0]:
            pending += ffmpeg.stdout.read() or b""
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.startswith(b"frame="):
                    frames = int(line[len(b"frame="):])
        output.scan()
        phase = "encoding" if ffmpeg.poll() is None else "done"
        protocol.write_status(status(phase))


if __name__ == "__main__":
    main()
