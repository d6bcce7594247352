"""The criu-lab payload protocol, in the one file the deploy step uploads beside every payload that
imports it (`import payload_protocol as protocol`); it needs nothing but the Python standard library.

- the controller creates `checkpoint_flag` in the working dir before starting the payload;
- the payload writes `checkpoint_ready` ("ready:<pid>") once initialised;
- `workload_status.json` is rewritten (open-write-close, then rename) with a progress counter and a
  checksum of the payload's data, so no fd to it stays open across a checkpoint; log lines the same;
- when `checkpoint_flag` disappears the payload was restored and the controller is done with it: it
  re-reads its data from memory, writes `workload_final.json` and exits 0.

A standalone script (the original framework's shape) follows the same files without this module.
"""
import argparse
import ctypes
import hashlib
import json
import os
import signal
import time

PR_SET_PDEATHSIG = 1


def arguments(description):
    """An argument parser with the one argument every payload takes, --working-dir."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--working-dir", required=True)
    return parser


def enter_working_dir(args):
    """Makes the working dir the current one: every protocol file below is relative to it."""
    os.chdir(args.working_dir)


def write_atomic(name, payload):
    tmp = name + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f)
    os.replace(tmp, name)


def write_status(status):
    write_atomic("workload_status.json", status)


def write_final(final):
    write_atomic("workload_final.json", final)


def log(message):
    with open("workload.log", "a") as f:
        f.write(f"{time.time():.3f} {message}\n")


def signal_ready(detail=""):
    """Writes checkpoint_ready ("ready:<pid>") and logs it, with what the payload wants said about its start."""
    with open("checkpoint_ready", "w") as f:
        f.write(f"ready:{os.getpid()}\n")
    log(f"ready pid={os.getpid()} {detail}".rstrip())


def restored():
    """True once the controller removed checkpoint_flag: the payload now runs on the destination and should finish."""
    return not os.path.exists("checkpoint_flag")


def chain_checksum(digests):
    """sha256 over hex digests in order: the checksum of a list of immutable units (blocks, segments, variables)."""
    h = hashlib.sha256()
    for d in digests:
        h.update(d.encode())
    return h.hexdigest()


def die_with_parent():
    """Runs in a child before exec: SIGTERM when the payload dies, so no helper process (a server, an encoder) outlives it."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_time():
    """When the kernel created this process (clock ticks since boot); CRIU's restore creates it anew."""
    with open("/proc/self/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])
