#!/usr/bin/env python3
"""criu-lab dataproc workload (the seed's ETL scenario): a seeded table of --num-rows x
--num-cols float64 values plus a category column, and pandas-like operations on it in rotation
(filter, aggregate, sort, group_aggregate, join, transform, window), one every --interval
seconds, --operations of them (0 = forever). Needs numpy (Debian: python3-numpy).

The table is never modified (operations produce new arrays), so its checksum at any moment must
equal the one taken when it was built.

Protocol (payload_protocol.py, uploaded beside us):
checkpoint_flag exists while we may be migrated; we write checkpoint_ready ("ready:<pid>");
workload_status.json is replaced by rename after every operation; when checkpoint_flag goes we
re-read the whole table from memory, write workload_final.json and exit 0.
"""
import hashlib
import os
import sys
import time

import numpy as np

import payload_protocol as protocol

SEED = 20261126
TICK_S = 0.1
CATEGORIES = 100
WINDOW_ROWS = 100


def digest(*arrays):
    h = hashlib.sha256()
    for array in arrays:
        h.update(np.ascontiguousarray(array))
    return h.hexdigest()


def build_table(rows, cols):
    rng = np.random.default_rng(SEED)
    values = rng.standard_normal((rows, cols))
    category = rng.integers(0, CATEGORIES, size=rows)
    dimension = rng.standard_normal((CATEGORIES, 4))  # the small table joined on category
    return values, category, dimension


def operations(values, category, dimension):
    """The seed's operations by name; each takes the column it works on and returns a small result array."""

    def filter_rows(col):
        mask = values[:, col] > 0.5
        other = values[:, (col + 1) % values.shape[1]]
        return np.array([np.count_nonzero(mask), other[mask].sum()])

    def aggregate(_col):
        return np.concatenate([values.mean(axis=0), values.std(axis=0), values.sum(axis=0)])

    def sort(col):
        ordered = np.sort(values[:, col])
        return ordered[:: max(1, len(ordered) // 100)]

    def group_aggregate(col):
        counts = np.bincount(category, minlength=CATEGORIES)
        sums = np.bincount(category, weights=values[:, col], minlength=CATEGORIES)
        return sums / np.maximum(counts, 1)

    def join(col):
        joined = dimension[category]  # one dimension row per table row
        return (joined * values[:, col : col + 1]).sum(axis=0)

    def transform(col):
        column = values[:, col]
        normalised = (column - column.mean()) / column.std()
        return np.array([normalised.min(), normalised.max(), np.abs(normalised).sum()])

    def window(col):
        sums = np.cumsum(np.insert(values[:, col], 0, 0.0))
        rolling = (sums[WINDOW_ROWS:] - sums[:-WINDOW_ROWS]) / WINDOW_ROWS
        return rolling[:: max(1, len(rolling) // 100)]

    return [("filter", filter_rows), ("aggregate", aggregate), ("sort", sort), ("group_aggregate", group_aggregate),
            ("join", join), ("transform", transform), ("window", window)]


def main():
    parser = protocol.arguments(__doc__)
    parser.add_argument("--num-rows", type=int, default=1_000_000)
    parser.add_argument("--num-cols", type=int, default=50)
    parser.add_argument("--operations", type=int, default=0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    protocol.enter_working_dir(args)

    values, category, dimension = build_table(args.num_rows, args.num_cols)
    table_checksum = digest(values, category, dimension)
    ops = operations(values, category, dimension)
    done_ops = 0
    last = {"operation": None, "result_digest": None, "seconds": None}

    def status(phase):
        return {
            "pid": os.getpid(),
            "counter": done_ops,
            "phase": phase,
            "checksum": table_checksum,
            "rows": args.num_rows,
            "cols": args.num_cols,
            "table_mb": round((values.nbytes + category.nbytes) / 2**20, 1),
            "last_operation": last,
            "time": time.time(),
        }

    protocol.write_status(status("running"))
    protocol.signal_ready(f"table {args.num_rows}x{args.num_cols}")
    next_operation = time.time()

    while True:
        if protocol.restored():
            final = status("final")
            final["checksum"] = digest(values, category, dimension)  # re-read from memory
            protocol.write_final(final)
            protocol.log(f"checkpoint_flag removed: restore complete, operations={done_ops}, exiting")
            sys.exit(0)
        done = args.operations > 0 and done_ops >= args.operations
        if not done and time.time() >= next_operation:
            started = time.time()
            name, operation = ops[done_ops % len(ops)]
            result = operation(done_ops % args.num_cols)
            done_ops += 1
            last = {"operation": name, "result_digest": digest(result), "seconds": time.time() - started}
            next_operation = started + args.interval
            protocol.write_status(status("running"))
            protocol.log(f"operation {done_ops}: {name} in {last['seconds']:.3f}s")
        elif done:
            protocol.write_status(status("done"))
        time.sleep(TICK_S if done else min(TICK_S, max(0.0, next_operation - time.time())))


if __name__ == "__main__":
    main()
