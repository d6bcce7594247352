#!/usr/bin/env python3
"""criu-lab redis workload (the seed's in-memory database scenario): starts a real redis-server
as our child (127.0.0.1:--redis-port, no persistence, its dir inside the work dir), loads
--num-keys values of --value-size bytes, then keeps ONE client TCP connection open and runs a
read/write loop on it. Needs redis-server and the redis module (Debian: redis-server,
python3-redis).

Every value is a function of its key, and the loop's writes store that same value again, so the
data set never changes: its DBSIZE and checksum at any moment must equal those after the load.
The connection is ours alone (single_connection_client): if it ever broke, redis-py would
reconnect silently, so its CLIENT ID and client address are re-read on it every status write,
and a new one counts as a reconnect.

Protocol (payload_protocol.py, uploaded beside us):
checkpoint_flag exists while we may be migrated; we write checkpoint_ready ("ready:<pid>") once
redis-server answers; workload_status.json is replaced by rename every tick (phase "loading",
then "serving"); when checkpoint_flag goes we re-read every value over the same connection,
write workload_final.json, shut redis-server down and exit 0.
"""
import hashlib
import os
import random
import subprocess
import sys
import time

import redis

import payload_protocol as protocol

TICK_S = 0.1
OPS_PER_TICK = 20
BATCH_KEYS = 1000


def key_of(i):
    return f"key:{i:09d}"


def value_of(i, size):
    block = hashlib.sha256(b"%d" % i).digest()
    return (block * (size // len(block) + 1))[:size]


def start_server(port, data_dir):
    # stdout/stderr are inherited, so redis-server's log lands in our payload.out; keeping its
    # argv (no proc title) keeps the run id in it, which cleanup looks for.
    return subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", data_dir, "--daemonize", "no", "--set-proc-title", "no", "--loglevel", "notice"],
        stdin=subprocess.DEVNULL,
        preexec_fn=protocol.die_with_parent,
    )


def connect(port, server):
    deadline = time.time() + 30
    while True:
        try:
            # single_connection_client: this one connection carries every command we send. No read
            # timeout: a reply awaited when the dump froze us arrives only after the restore, minutes
            # later for gigabytes, and a timeout would drop the very connection the migration keeps.
            client = redis.Redis(host="127.0.0.1", port=port, single_connection_client=True, socket_connect_timeout=30, socket_timeout=None)
            client.ping()
            return client
        except redis.ConnectionError:
            if server.poll() is not None or time.time() > deadline:
                raise
            time.sleep(0.1)


def connection_of(client):
    info = client.client_info()
    return {"id": int(info["id"]), "addr": info["addr"], "laddr": info.get("laddr")}


def data_checksum(client, num_keys):
    """sha256 over every value in key order, read back from redis-server."""
    h = hashlib.sha256()
    for start in range(0, num_keys, BATCH_KEYS):
        for value in client.mget([key_of(i) for i in range(start, min(start + BATCH_KEYS, num_keys))]):
            h.update(value if value is not None else b"<missing>")
    return h.hexdigest()


def main():
    parser = protocol.arguments(__doc__)
    parser.add_argument("--redis-port", type=int, default=6379)
    parser.add_argument("--num-keys", type=int, default=100_000)
    parser.add_argument("--value-size", type=int, default=1024)
    args = parser.parse_args()
    protocol.enter_working_dir(args)
    os.makedirs("redis", exist_ok=True)

    server = start_server(args.redis_port, os.path.abspath("redis"))
    client = connect(args.redis_port, server)
    connection = first_connection = connection_of(client)
    ops = reconnects = mismatches = 0
    checksum = dbsize = None
    phase = "loading"
    loaded = 0

    def status():
        return {
            "pid": os.getpid(),
            "counter": ops,
            "phase": phase,
            "checksum": checksum,
            "dbsize": dbsize,
            "keys_loaded": loaded,
            "num_keys": args.num_keys,
            "value_size": args.value_size,
            "server_pid": server.pid,
            "connection": connection,
            "reconnects": reconnects,
            "mismatches": mismatches,
            "time": time.time(),
        }

    protocol.write_status(status())
    protocol.signal_ready(f"redis-server pid={server.pid} connection {connection}")

    while loaded < args.num_keys:
        batch = range(loaded, min(loaded + BATCH_KEYS, args.num_keys))
        client.mset({key_of(i): value_of(i, args.value_size) for i in batch})
        loaded = batch.stop
        protocol.write_status(status())
    dbsize = client.dbsize()
    checksum = data_checksum(client, args.num_keys)
    phase = "serving"
    protocol.log(f"loaded {loaded} keys, dbsize={dbsize}, checksum={checksum[:16]}")

    rng = random.Random(args.redis_port)
    born = protocol.start_time()
    while True:
        if protocol.start_time() != born:
            born = protocol.start_time()
            protocol.log(f"restored at op {ops}: the same connection answers as {connection_of(client)} (at start: {first_connection})")
        if protocol.restored():
            final = status()
            final["phase"] = "final"
            final["connection"] = connection_of(client)
            final["first_connection"] = first_connection
            final["dbsize"] = client.dbsize()
            final["checksum"] = data_checksum(client, args.num_keys)
            protocol.log(f"checkpoint_flag removed: restore complete, op {ops}, same connection {final['connection']}, exiting")
            try:
                client.shutdown(nosave=True)
            except redis.ConnectionError:
                pass  # redis-server closes the connection as it exits
            server.wait(timeout=30)
            protocol.write_final(final)
            sys.exit(0)
        for _ in range(OPS_PER_TICK):
            read, write = rng.randrange(args.num_keys), rng.randrange(args.num_keys)
            if client.get(key_of(read)) != value_of(read, args.value_size):
                mismatches += 1
            client.set(key_of(write), value_of(write, args.value_size))
            ops += 1
        current = connection_of(client)
        if current["id"] != connection["id"]:
            reconnects += 1
            protocol.log(f"connection replaced: {connection} -> {current}")
        connection = current
        protocol.write_status(status())
        time.sleep(TICK_S)


if __name__ == "__main__":
    main()
