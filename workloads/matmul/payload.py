#!/usr/bin/env python3
"""criu-lab matmul workload (the seed's HPC scenario): multiplies two seeded NxN matrices, A @ B
on odd iterations and B @ A on even ones, at most once every --interval seconds, for
--iterations iterations (0 = forever). Needs numpy (Debian: python3-numpy).

The inputs hold small integers stored as float64, so every product is exact whatever the BLAS,
its thread count or the CPU: recomputing an iteration anywhere gives the same bits.

Protocol (payload_protocol.py, uploaded beside us):
checkpoint_flag exists while we may be migrated; we write checkpoint_ready ("ready:<pid>");
workload_status.json is replaced by rename after every iteration; when checkpoint_flag goes we
re-read our inputs and recompute both products from freshly seeded inputs, write
workload_final.json and exit 0.
"""
import hashlib
import os
import sys
import time

import numpy as np

import payload_protocol as protocol

SEED = 20261126
TICK_S = 0.1
MAX_ENTRY = 8  # entries in [0, 8): sums of products stay far below 2**53, so float64 is exact


def seeded_inputs(n):
    rng = np.random.default_rng(SEED)
    a = rng.integers(0, MAX_ENTRY, size=(n, n)).astype(np.float64)
    b = rng.integers(0, MAX_ENTRY, size=(n, n)).astype(np.float64)
    return a, b


def digest(*arrays):
    h = hashlib.sha256()
    for array in arrays:
        h.update(array)
    return h.hexdigest()


def operands(a, b, iteration):
    return (a, b) if iteration % 2 == 1 else (b, a)


def main():
    parser = protocol.arguments(__doc__)
    parser.add_argument("--matrix-size", type=int, default=2048)
    parser.add_argument("--iterations", type=int, default=0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    protocol.enter_working_dir(args)

    a, b = seeded_inputs(args.matrix_size)
    c = np.empty_like(a)
    inputs_checksum = digest(a, b)
    iteration = 0
    result_digest = None
    iteration_s = None

    def status(phase):
        return {
            "pid": os.getpid(),
            "counter": iteration,
            "phase": phase,
            "checksum": inputs_checksum,
            "result_digest": result_digest,
            "matrix_size": args.matrix_size,
            "iteration_seconds": iteration_s,
            "time": time.time(),
        }

    protocol.write_status(status("running"))
    protocol.signal_ready(f"n={args.matrix_size}")
    next_iteration = time.time()

    while True:
        if protocol.restored():
            fresh_a, fresh_b = seeded_inputs(args.matrix_size)
            final = status("final")
            final["checksum"] = digest(a, b)  # re-read from memory
            final["seeded_checksum"] = digest(fresh_a, fresh_b)
            final["result_digest"] = digest(c) if iteration > 0 else None
            # Index 0: an even iteration (B @ A), index 1: an odd one (A @ B).
            final["recomputed_digests"] = [digest(np.matmul(*operands(fresh_a, fresh_b, parity))) for parity in (0, 1)]
            protocol.write_final(final)
            protocol.log(f"checkpoint_flag removed: restore complete, iteration={iteration}, exiting")
            sys.exit(0)
        done = args.iterations > 0 and iteration >= args.iterations
        if not done and time.time() >= next_iteration:
            started = time.time()
            np.matmul(*operands(a, b, iteration + 1), out=c)
            iteration += 1
            result_digest = digest(c)
            iteration_s = time.time() - started
            next_iteration = started + args.interval
            protocol.write_status(status("running"))
            if iteration % 10 == 1:
                protocol.log(f"iteration {iteration} took {iteration_s:.3f}s")
        elif done:
            protocol.write_status(status("done"))
        time.sleep(min(TICK_S, max(0.0, next_iteration - time.time())) if not done else TICK_S)


if __name__ == "__main__":
    main()
