// The one staging script: copies each (from, to) pair on a node, making the target's parent
// first, and can report the bytes of a directory afterwards. Shared storage stages the work dir
// through it; the open-files wrapper gathers and places files outside the moved directories.

/** A copy on one node: `cp -a` semantics, so `dir/.` as `from` copies a directory's contents into `to`. */
export interface CopyPair {
  readonly from: string;
  readonly to: string;
}

// Values reach sh as positional parameters, never pasted into the script; an empty $1 reports nothing.
const COPY_SCRIPT =
  'report=$1; shift; while [ $# -gt 0 ]; do mkdir -p "$(dirname -- "$2")" && cp -a -- "$1" "$2" || exit 1; shift 2; done; [ -z "$report" ] || du -sb "$report"';

/** argv copying every pair in order (stopping at the first failure); with `reportDir`, prints `du -sb` of it once done. */
export const copyArgv = (pairs: readonly CopyPair[], reportDir = ''): string[] => [
  'sh',
  '-c',
  COPY_SCRIPT,
  'sh',
  reportDir,
  ...pairs.flatMap((p) => [p.from, p.to]),
];
