#!/usr/bin/env python3
"""criu-lab memory workload: grows its heap by --mb-size MiB every --interval seconds up to
--max-memory MiB, each block filled with seeded pseudo-random bytes.

Protocol (payload_protocol.py, uploaded beside us): we write checkpoint_ready once initialised and
workload_status.json every tick; when checkpoint_flag disappears we were restored and the
controller is done with us: we re-read every block from memory, write workload_final.json, exit 0.
"""
import hashlib
import os
import random
import sys
import time

import payload_protocol as protocol

MIB = 1024 * 1024
TICK_S = 0.1
PAGE_BYTES = 4096
# randbytes(n) draws getrandbits(8 * n), which stops at INT_MAX bits (n < 256 MiB) and is slow on
# huge ints; drawn in small pieces (whole 32-bit words) the same generator yields the very same byte
# stream for blocks of any size. 16 KiB pieces stay below glibc's trim threshold (128 KiB with two
# temporaries of 64 KiB, the heap top was handed back and faulted in anew on every draw).
DRAW_BYTES = 16 * 1024


def fill_block(seed, size):
    """The block of `size` bytes that random.Random(seed).randbytes(size) would be, drawn piecewise into place."""
    block = bytearray(size)
    view = memoryview(block)
    rng = random.Random(seed)
    for at in range(0, size, DRAW_BYTES):
        end = min(at + DRAW_BYTES, size)
        view[at:end] = rng.randbytes(end - at)
    return block


def touch_pages(blocks):
    """Reads one byte of every page (a strided copy), so each page is faulted in once; returns (pages, ms)."""
    started = time.perf_counter()
    pages = sum(len(memoryview(b)[::PAGE_BYTES].tobytes()) for b in blocks)
    return pages, (time.perf_counter() - started) * 1000


def main():
    parser = protocol.arguments(__doc__)
    parser.add_argument("--mb-size", type=int, default=256)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--max-memory", type=int, default=8192)
    parser.add_argument("--check-lazy-loading", action="store_true", help="on flag removal, first touch every page and time it")
    args = parser.parse_args()
    protocol.enter_working_dir(args)

    blocks = []
    digests = []

    def allocate():
        data = fill_block(len(blocks), args.mb_size * MIB)
        blocks.append(data)
        digests.append(hashlib.sha256(data).hexdigest())
        protocol.log(f"allocated block {len(blocks)} ({len(blocks) * args.mb_size} MiB)")

    def status(phase, counter):
        return {
            "pid": os.getpid(),
            "counter": counter,
            "phase": phase,
            "blocks": len(blocks),
            "allocated_mb": len(blocks) * args.mb_size,
            "max_memory_mb": args.max_memory,
            "checksum": protocol.chain_checksum(digests),
            "time": time.time(),
        }

    counter = 0
    allocate()
    protocol.write_status(status("running", counter))
    protocol.signal_ready()
    next_allocation = time.time() + args.interval

    while True:
        if protocol.restored():
            touched = touch_pages(blocks) if args.check_lazy_loading else None
            # Re-read the data from memory: this is what proves the restored pages are intact.
            recomputed = [hashlib.sha256(b).hexdigest() for b in blocks]
            final = status("final", counter)
            final["block_digests"] = recomputed
            final["checksum"] = protocol.chain_checksum(recomputed)
            if touched:
                final["pages_touched"], final["touch_ms"] = touched
            protocol.write_final(final)
            protocol.log(f"checkpoint_flag removed: restore complete, counter={counter}, exiting")
            sys.exit(0)
        if len(blocks) * args.mb_size + args.mb_size <= args.max_memory and time.time() >= next_allocation:
            allocate()
            next_allocation += args.interval
        counter += 1
        protocol.write_status(status("running", counter))
        time.sleep(TICK_S)


if __name__ == "__main__":
    main()
