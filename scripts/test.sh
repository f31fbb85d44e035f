#!/usr/bin/env bash
# `pnpm test`: makes sure what the tests need is there (sipp, a Redis, a fresh build), runs vitest
# with any arguments given (`pnpm test packages/core`), and ends with one plain line,
# "N passed, N failed" (", N skipped" when some were), exiting non-zero when anything failed,
# vitest itself failed, or no test ran at all.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

work="$(mktemp -d "${TMPDIR:-/tmp}/sipfront-test.XXXXXX")"
redis_pid_file=""
redis_port=""

cleanup() {
  if [[ -n "$redis_port" ]]; then
    redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 ||
      { [[ -s "$redis_pid_file" ]] && kill "$(cat "$redis_pid_file")" 2>/dev/null; }
  fi
  rm -rf "$work"
}
trap cleanup EXIT

log() { printf 'test.sh: %s\n' "$*" >&2; }

# Every way out prints the summary line last, so CI never has to guess.
give_up() {
  log "$*"
  echo "0 passed, 0 failed"
  exit 1
}

can_apt() { [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; }
apt_updated=0

# apt_install PACKAGE: install; on failure refresh the package lists once and try again.
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "$1" >"$work/apt.log" 2>&1 && return 0
  if [[ $apt_updated == 0 ]]; then
    apt_updated=1
    apt-get update -q >>"$work/apt.log" 2>&1 || true
    apt-get install -y -q "$1" >>"$work/apt.log" 2>&1 && return 0
  fi
  tail -n 5 "$work/apt.log" >&2
  return 1
}

# need BINARY PACKAGE: make sure BINARY is on the PATH, installing the Debian PACKAGE when we can.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if can_apt; then
    log "$1 is missing: apt-get install -y $2"
    apt_install "$2" && command -v "$1" >/dev/null 2>&1 && return 0
    give_up "missing: $1 (installing the Debian package $2 failed)"
  fi
  give_up "missing: $1; install the Debian package $2 (apt-get install -y $2) or run this as root"
}

need cc gcc
need sipp sip-tester
need redis-server redis-server
need promtool prometheus
need systemd-analyze systemd
need chromium chromium
need kamailio kamailio

# redis_answers PORT: does something speaking RESP answer PING on 127.0.0.1:PORT?
redis_answers() {
  if command -v redis-cli >/dev/null 2>&1; then
    [[ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]
    return
  fi
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "PING\r\n" >&3
    IFS= read -r line <&3
    [[ "$line" == "+PONG"* ]]' _ "$1" 2>/dev/null
}

free_port() {
  node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

if [[ -n "${SIPFRONT_TEST_REDIS_URL:-}" ]]; then
  log "using SIPFRONT_TEST_REDIS_URL=$SIPFRONT_TEST_REDIS_URL from the environment"
elif redis_answers 6379; then
  export SIPFRONT_TEST_REDIS_URL="redis://127.0.0.1:6379"
else
  port="$(free_port)" || give_up "cannot find a free TCP port for Redis"
  redis_pid_file="$work/redis.pid"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$redis_pid_file" --logfile "$work/redis.log" --dir "$work" >/dev/null ||
    give_up "redis-server --port $port did not start"
  redis_port="$port"
  for _ in $(seq 1 50); do redis_answers "$port" && break; sleep 0.1; done
  redis_answers "$port" || give_up "redis-server on port $port does not answer: $(tail -n 3 "$work/redis.log" 2>/dev/null)"
  export SIPFRONT_TEST_REDIS_URL="redis://127.0.0.1:$port"
  log "started redis-server on 127.0.0.1:$port for this run"
fi

if [[ ! -x node_modules/.bin/vitest ]]; then
  log "node_modules is missing: pnpm install"
  if [[ -f pnpm-lock.yaml ]]; then pnpm install --frozen-lockfile; else pnpm install; fi ||
    give_up "pnpm install failed"
fi

# Integration tests spawn node packages/server/dist/cli.js: build first. A failed build does not
# stop the unit tests (they run from the sources), but the run fails.
build_ok=1
if ! pnpm -s build; then
  build_ok=0
  log "the build (tsc -b) failed; running the tests anyway"
fi

report="$work/vitest.json"
node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile="$report" "$@"
vitest_rc=$?

summary="$(node -e '
  const fs = require("node:fs");
  let r;
  try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch { console.log("0 0 0 0"); process.exit(0); }
  // A test file that fails to load has no failed test but is a failure.
  const broken = (r.testResults ?? []).filter(
    (f) => f.status === "failed" && !(f.assertionResults ?? []).some((t) => t.status === "failed"),
  ).length;
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  console.log(`${r.numPassedTests ?? 0} ${r.numFailedTests ?? 0} ${skipped} ${broken}`);
' "$report")"
read -r passed failed skipped broken <<<"$summary"

rc=0
if ((broken > 0)); then
  log "$broken test file(s) failed to run (counted as failed)"
  failed=$((failed + broken))
fi
if [[ ! -s "$report" ]]; then
  log "vitest wrote no report (exit status $vitest_rc)"
fi
((vitest_rc != 0 || failed > 0)) && rc=1
if ((passed + failed == 0)); then
  log "no test ran"
  rc=1
fi
if ((build_ok == 0)); then
  log "failing the run: the build failed"
  rc=1
fi

line="$passed passed, $failed failed"
((skipped > 0)) && line="$line, $skipped skipped"
echo "$line"
exit "$rc"
