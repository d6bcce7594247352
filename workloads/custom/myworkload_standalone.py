#!/usr/bin/env python3
"""A workload written for the seed's framework, as its README's myworkload_standalone.py shows:
it takes --working_dir, writes checkpoint_ready ("ready:<pid>") when initialised, and exits when
checkpoint_flag disappears. Nothing in it knows criu-lab; config/workloads/custom/myworkload.yaml
registers it as is.

Its work: hashing rounds of --work_units blocks. It logs through Python's logging module to
--log_file, which keeps that file open for the life of the process; by default the file lies
outside the working directory, as a real script's log often does, so it must be found open and
moved with the images.
"""
import argparse
import hashlib
import logging
import os
import sys
import time


def create_ready_signal(working_dir):
    with open(f'{working_dir}/checkpoint_ready', 'w') as f:
        f.write(f'ready:{os.getpid()}\n')


def check_restore_complete(working_dir):
    return not os.path.exists(f'{working_dir}/checkpoint_flag')


def run_workload(working_dir, work_units, log_file):
    logging.basicConfig(filename=log_file, level=logging.INFO, format='%(asctime)s %(message)s')
    state = hashlib.sha256()
    rounds = 0
    create_ready_signal(working_dir)
    print(f'initialised, pid {os.getpid()}')

    while True:
        if check_restore_complete(working_dir):
            print(f'restore complete after {rounds} rounds, digest {state.hexdigest()[:16]}')
            logging.info('restore complete after %d rounds', rounds)
            sys.exit(0)

        for unit in range(work_units):
            state.update(unit.to_bytes(8, 'little'))
        rounds += 1
        if rounds % 10 == 0:
            logging.info('round %d digest %s', rounds, state.hexdigest()[:16])
            print(f'round {rounds}')
        time.sleep(0.1)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--working_dir', required=True)
    parser.add_argument('--work_units', type=int, default=20000)
    parser.add_argument('--log_file', default='/tmp/myworkload.log')
    args = parser.parse_args()
    run_workload(args.working_dir, args.work_units, args.log_file)


if __name__ == '__main__':
    main()
