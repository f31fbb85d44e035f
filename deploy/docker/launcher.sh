#!/bin/sh
# sipfront, from the bundle this script sits in (symlinks followed): node with the server's options.
# bundle.sh writes this file into OUT/bin/sipfront, with @NODE_OPTIONS@ replaced by
# packages/server/package.json "sipfront.nodeOptions".
here="$(dirname "$(readlink -f "$0")")"
opts="@NODE_OPTIONS@"
# Those options shrink V8's young generation (--max-semi-space-size=8). Node sizes it from the
# memory the process may use: 16 MB halves above 4 GiB, 8 MB at 4 GiB, less below. So where that
# is 4 GiB or less (a container's limit, a small machine) they would make it bigger: left out.
# SIPFRONT_MEMORY_KB overrides what is found in /proc/meminfo and the cgroup's limit.
mem="${SIPFRONT_MEMORY_KB:-}"
if [ -z "$mem" ]; then
  mem="$(sed -n 's/^MemTotal: *\([0-9]*\) kB$/\1/p' /proc/meminfo 2>/dev/null)"
  for f in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes; do
    limit="$(cat "$f" 2>/dev/null)" || continue
    case "$limit" in
      '' | *[!0-9]*) ;;
      *) if [ -z "$mem" ] || [ $((limit / 1024)) -lt "$mem" ]; then mem=$((limit / 1024)); fi ;;
    esac
  done
fi
case "$mem" in
  '' | *[!0-9]*) ;;
  *) if [ "$mem" -le 4194304 ]; then opts=""; fi ;;
esac
# shellcheck disable=SC2086 # the options are words
exec node $opts "$here/../dist/cli.js" "$@"
