#!/usr/bin/env python3
"""criu-lab jupyter workload (the original framework's interactive data-science scenario): a
notebook kernel session that executes one cell every --cell-interval seconds, --num-cells of
them (0 = forever), each cell leaving its result in the session's namespace as a kernel does, so
the session's memory grows cell by cell. Needs numpy (Debian: python3-numpy).

As in the original, no Jupyter server or ipykernel runs: one Python process is the kernel, and
the cells are drawn from the original's mix (import 5 %, markdown 15 %, data_load 15 %,
computation 35 %, visualization 15 %, model 15 %) with its sizes. Unlike the original, every draw
comes from a fixed seed, so a session is the same on every run, and a model cell really fits a
model (logistic regression by gradient descent) where the original sleeps.

A variable, once its cell has run, is never modified: its digest, taken when it was made, must
still hold for it after a restore. The status reports the chained digest of the namespace.

Protocol (payload_protocol.py, uploaded beside us):
checkpoint_flag exists while we may be migrated; we write checkpoint_ready ("ready:<pid>");
workload_status.json is replaced by rename after every cell; when checkpoint_flag goes we re-read
every variable from memory, write workload_final.json and exit 0.
"""
import hashlib
import os
import random
import sys
import time

import numpy as np

import payload_protocol as protocol

SEED = 20261126
TICK_S = 0.1
# The original's cell mix: kind and probability.
CELL_KINDS = (("import", 0.05), ("markdown", 0.15), ("data_load", 0.15), ("computation", 0.35), ("visualization", 0.15), ("model", 0.15))
MODEL_STEPS = 200
FEATURES = 10


def variable_digest(name, value):
    """sha256 over a variable's name and its value: a numpy array's dtype, shape and bytes, or a text's UTF-8."""
    h = hashlib.sha256(name.encode() + b"\0")
    if isinstance(value, np.ndarray):
        h.update(f"{value.dtype.str}{value.shape}".encode())
        h.update(np.ascontiguousarray(value))
    else:
        h.update(value.encode())
    return h.hexdigest()


class Kernel:
    """The session: a namespace of variables in the order the cells made them, and each one's digest."""

    def __init__(self):
        self.draw = random.Random(SEED)
        self.rng = np.random.default_rng(SEED)
        self.names = []
        self.namespace = {}
        self.digests = []
        self.execution_count = 0

    def define(self, name, value):
        digest = variable_digest(name, value)
        self.namespace[name] = value
        self.names.append(name)
        self.digests.append(digest)

    def newest(self, prefix):
        return next((self.namespace[n] for n in reversed(self.names) if n.startswith(prefix)), None)

    def next_kind(self):
        return self.draw.choices([k for k, _ in CELL_KINDS], weights=[w for _, w in CELL_KINDS])[0]

    def execute(self, kind):
        """Runs one cell; returns what the notebook would print under it."""
        self.execution_count += 1
        cell = self.execution_count
        if kind == "import":
            self.define(f"imports_{cell}", "import numpy as np")
            return "libraries imported"
        if kind == "markdown":
            self.define(f"markdown_{cell}", f"## Step {cell}\nNotes on the data so far.")
            return "markdown rendered"
        if kind == "data_load":
            rows = self.draw.randint(1000, 10000)
            self.define(f"data_{cell}", self.rng.standard_normal((rows, FEATURES)))
            return f"loaded data of shape ({rows}, {FEATURES})"
        if kind == "computation":
            size = self.draw.randint(100, 500)
            matrix = self.rng.standard_normal((size, size))
            self.define(f"result_{cell}", np.linalg.eigvals(matrix[:50, :50]))
            return f"eigenvalues of the leading 50x50 block of a {size}x{size} matrix"
        if kind == "visualization":
            self.define(f"fig_{cell}", self.rng.standard_normal((500, 500)))
            return "figure of 500x500 points"
        return self.fit_model(cell)

    def fit_model(self, cell):
        """Logistic regression on the newest data set (a fresh one before any was loaded), plain gradient descent."""
        data = self.newest("data_")
        if data is None:
            data = self.rng.standard_normal((1000, FEATURES))
        # The label follows the features, with column 0 as noise, so there is something to learn.
        x = data[:, 1:]
        target = (x.sum(axis=1) > data[:, 0]).astype(np.float64)
        weights = np.zeros(x.shape[1])
        for _ in range(MODEL_STEPS):
            predicted = 1.0 / (1.0 + np.exp(-(x @ weights)))
            weights -= 0.1 * x.T @ (predicted - target) / len(target)
        accuracy = float(np.mean((x @ weights > 0) == (target > 0.5)))
        self.define(f"model_{cell}", np.append(weights, accuracy))
        return f"model trained on {len(target)} rows, accuracy {accuracy:.4f}"

    def memory_mb(self):
        return sum(v.nbytes if isinstance(v, np.ndarray) else len(v) for v in self.namespace.values()) / 2**20


def main():
    parser = protocol.arguments(__doc__)
    parser.add_argument("--num-cells", type=int, default=0, help="cells to execute, 0 = forever")
    parser.add_argument("--cell-interval", type=float, default=3.0, help="seconds between cells")
    args = parser.parse_args()
    if args.cell_interval <= 0:
        sys.exit("--cell-interval must be positive")
    protocol.enter_working_dir(args)

    kernel = Kernel()
    last = {"kind": None, "output": None, "seconds": None}

    def status(phase):
        return {
            "pid": os.getpid(),
            "counter": kernel.execution_count,
            "phase": phase,
            "variables": len(kernel.names),
            "checksum": protocol.chain_checksum(kernel.digests),
            "memory_mb": round(kernel.memory_mb(), 1),
            "last_cell": last,
            "time": time.time(),
        }

    def run_cell(kind):
        started = time.time()
        output = kernel.execute(kind)
        last.update(kind=kind, output=output, seconds=time.time() - started)
        print(f"[{kernel.execution_count}] {kind}: {output} ({last['seconds']:.2f}s)", flush=True)
        protocol.write_status(status("running"))

    run_cell("import")  # the session's first cell, as in the original
    protocol.signal_ready()
    next_cell = time.time() + args.cell_interval

    while True:
        if protocol.restored():
            final = status("final")
            # Re-read every variable from memory: this is what proves the restored session is intact.
            final["variable_digests"] = [variable_digest(n, kernel.namespace[n]) for n in kernel.names]
            final["checksum"] = protocol.chain_checksum(final["variable_digests"])
            protocol.write_final(final)
            protocol.log(f"checkpoint_flag removed: restore complete, cells={kernel.execution_count}, exiting")
            sys.exit(0)
        # As in the original, --num-cells counts the cells after the first (the import).
        done = args.num_cells > 0 and kernel.execution_count > args.num_cells
        if not done and time.time() >= next_cell:
            run_cell(kernel.next_kind())
            next_cell = time.time() + args.cell_interval  # from the end of a cell, as the original sleeps after each
        elif done:
            protocol.write_status(status("done"))
        time.sleep(TICK_S)


if __name__ == "__main__":
    main()
