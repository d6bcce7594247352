#!/bin/sh
# The forced command of a run's rsync key on the destination (in its authorized_keys line):
# the key may only run `rsync --server` receiving into one of the run's directories, with the
# options criu-lab's rsync sends. Usage: rsync-gate <run id> <directory>...; sshd puts the
# client's command in SSH_ORIGINAL_COMMAND. Anything else is refused, naming what was wrong.
set -f
refuse() {
  echo "criu-lab rsync gate: refused: $*" >&2
  exit 1
}
run=$1
shift
allowed=$*
command=${SSH_ORIGINAL_COMMAND-}
[ -n "$command" ] || refuse 'no command (this key only runs rsync)'
# Paths are letters, digits and . _ - / (the config schema), so splitting on spaces is exact.
case $command in *[!A-Za-z0-9._/=@,+\ -]*) refuse "a character outside [A-Za-z0-9._/=@,+ -] in: $command" ;; esac
set -- $command
[ "$1" = rsync ] && [ "${2-}" = --server ] || refuse "not rsync --server: $command"
shift 2
destination=
while [ $# -gt 0 ]; do
  case $1 in
    --stats | --numeric-ids | --mkpath | "--log-file-format=criu-lab-$run") ;;
    .)
      [ $# -eq 2 ] || refuse "not one destination after '.': $command"
      destination=$2
      break
      ;;
    -*e.*)
      # The short options of an archive copy (no --sender, no -R, no -T), then rsync's capability letters.
      letters=${1%%e.*}
      capabilities=${1#*e.}
      case $letters in - | -*[!lWogDtprz]*) refuse "option $1" ;; esac
      case $capabilities in *[!A-Za-z]*) refuse "option $1" ;; esac
      ;;
    *) refuse "option $1" ;;
  esac
  shift
done
[ -n "$destination" ] || refuse "no destination: $command"
# Resolved, so a symbolic link inside a run directory cannot lead the copy elsewhere.
real=$(realpath -m -- "$destination") || refuse "destination $destination"
for dir in $allowed; do
  root=$(realpath -m -- "$dir") || continue
  case $real in "$root" | "$root"/*)
    set -- $command
    shift
    # A login user other than root (cloud images' admin/ubuntu) writes the run's root-owned dirs through sudo.
    if [ "$(id -u)" = 0 ]; then exec rsync "$@"; else exec sudo -n rsync "$@"; fi
    ;;
  esac
done
refuse "$destination is not inside a directory of run $run"
