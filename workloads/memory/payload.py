#!/usr/bin/env python3
"""criu-lab memory workload: grows its heap by --mb-size MiB every --interval seconds up to
--max-memory MiB, each block filled with seeded pseudo-random bytes.

Protocol (shared by every criu-lab payload; it needs nothing but the Python standard library):
- the controller creates `checkpoint_flag` in the working dir before starting us;
- we write `checkpoint_ready` ("ready:<pid>") once initialised;
- `workload_status.json` is rewritten (open-write-close, then rename) every tick with a progress
  counter and a checksum of our data, so no fd to it stays open across a checkpoint;
- when `checkpoint_flag` disappears we were restored and the controller is done with us: we
  re-read every block from memory, write `workload_final.json` and exit 0.
"""
import argparse
import hashlib
import json
import os
import random
import sys
import time

MIB = 1024 * 1024
TICK_S = 0.1
PAGE_BYTES = 4096
# randbytes(n) draws getrandbits(8 * n), which stops at INT_MAX bits (n < 256 MiB) and is slow on
# huge ints; drawn in small pieces (whole 32-bit words) the same generator yields the very same byte
# stream for blocks of any size. 16 KiB pieces stay below glibc's trim threshold (128 KiB with two
# temporaries of 64 KiB, the heap top was handed back and faulted in anew on every draw).
DRAW_BYTES = 16 * 1024


def write_atomic(name, payload):
    tmp = name + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f)
    os.replace(tmp, name)


def log(message):
    with open("workload.log", "a") as f:
        f.write(f"{time.time():.3f} {message}\n")


def chain_checksum(digests):
    h = hashlib.sha256()
    for d in digests:
        h.update(d.encode())
    return h.hexdigest()


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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--working-dir", required=True)
    parser.add_argument("--mb-size", type=int, default=256)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--max-memory", type=int, default=8192)
    parser.add_argument("--check-lazy-loading", action="store_true", help="on flag removal, first touch every page and time it")
    args = parser.parse_args()
    os.chdir(args.working_dir)

    blocks = []
    digests = []

    def allocate():
        data = fill_block(len(blocks), args.mb_size * MIB)
        blocks.append(data)
        digests.append(hashlib.sha256(data).hexdigest())
        log(f"allocated block {len(blocks)} ({len(blocks) * args.mb_size} MiB)")

    def status(phase, counter):
        return {
            "pid": os.getpid(),
            "counter": counter,
            "phase": phase,
            "blocks": len(blocks),
            "allocated_mb": len(blocks) * args.mb_size,
            "max_memory_mb": args.max_memory,
            "checksum": chain_checksum(digests),
            "time": time.time(),
        }

    counter = 0
    allocate()
    write_atomic("workload_status.json", status("running", counter))
    with open("checkpoint_ready", "w") as f:
        f.write(f"ready:{os.getpid()}\n")
    log(f"ready pid={os.getpid()}")
    next_allocation = time.time() + args.interval

    while True:
        if not os.path.exists("checkpoint_flag"):
            touched = touch_pages(blocks) if args.check_lazy_loading else None
            # Re-read the data from memory: this is what proves the restored pages are intact.
            recomputed = [hashlib.sha256(b).hexdigest() for b in blocks]
            final = status("final", counter)
            final["block_digests"] = recomputed
            final["checksum"] = chain_checksum(recomputed)
            if touched:
                final["pages_touched"], final["touch_ms"] = touched
            write_atomic("workload_final.json", final)
            log(f"checkpoint_flag removed: restore complete, counter={counter}, exiting")
            sys.exit(0)
        if len(blocks) * args.mb_size + args.mb_size <= args.max_memory and time.time() >= next_allocation:
            allocate()
            next_allocation += args.interval
        counter += 1
        write_atomic("workload_status.json", status("running", counter))
        time.sleep(TICK_S)


if __name__ == "__main__":
    main()
