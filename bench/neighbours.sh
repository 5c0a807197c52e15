#!/usr/bin/env bash
# The headline comparisons alone, with less noise than compare.sh: short runs that alternate
# between the systems compared, ROUNDS times, each round's ratios taken between neighbours
# seconds apart, then the median over the rounds. compare.sh's rounds take minutes, and on a
# shared VM whose speed drifts by 2x within minutes (and stalls now and then for tens of ms)
# the systems of one round do not see the same machine.
#
# 1. At saturation (closed loop): Portcullis with cached RS256 tokens, the bare pingora
#    passthrough sent the same tokens, and plain nginx (the ceiling). Two figures a system and
#    round: requests/s, and the proxy's CPU time per request on its core (utime + stime of all
#    its threads, from /proc), which does not depend on whether the shared load core kept up.
# 2. At a fixed RATE (default 5,000 req/s, open loop): Portcullis's latency percentiles beside
#    nginx+Lua's (../shared/peers/nginx-lua, verifying every token; skipped when not installed).
#
# Every system is sent the same TOKENS (default 1,000) distinct RS256 tokens in turn. TOKENS=1
# is the issue's own setup (one token on every request), where the gateway's cached
# verification stays in the CPU's caches.
#
#   bench/neighbours.sh                       # ROUNDS=15 DURATION=3, then 8 rounds at RATE
#   ROUNDS=30 DURATION=2 RATE_ROUNDS=0 bench/neighbours.sh
#   TOKENS=1 RATE_ROUNDS=0 bench/neighbours.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nginx >/dev/null || { echo "needs nginx (apt-get install nginx-light)" >&2; exit 1; }

ROUNDS=${ROUNDS:-15}
DURATION=${DURATION:-3}
CONNECTIONS=${CONNECTIONS:-32}
RATE=${RATE:-5000}
RATE_ROUNDS=${RATE_ROUNDS:-8}
TOKENS=${TOKENS:-1000}
PEERS_DIR=${PEERS_DIR:-$(cd .. && pwd)/shared/peers}
source bench/common.sh
ECHO=19600 PASS=19601 PORT=19602 NGINX=19603 LUA=19608

rs256_gateway "$PORT" "$ECHO"
plain_nginx "$NGINX" "$ECHO"
start echo 0 $bin/examples/echo "127.0.0.1:$ECHO" 1 512
start passthrough 1 $bin/examples/passthrough "127.0.0.1:$PASS" "127.0.0.1:$ECHO" 1
pass_pid=$last_pid
start portcullis 1 $bin/portcullis serve -c "$work/portcullis.toml"
gateway_pid=$last_pid
start nginx 1 nginx "${plain_nginx_args[@]}"
nginx_pid=$last_pid
for port in $ECHO $PASS $PORT $NGINX; do wait_port "$port"; done

ticks() { # pid: CPU clock ticks of all its threads so far (utime and stime, the 14th and 15th
  # fields; a thread's name may hold spaces, so fields are counted after its closing paren)
  cat /proc/"$1"/task/*/stat 2>/dev/null | awk '{sub(/.*\) /, ""); t += $12 + $13} END {print t + 0}'
}
tick_hz=$(getconf CLK_TCK)

load() { # port [loadgen options]: one run against /RS256, its JSON in $work/run.json
  local port=$1; shift
  taskset -c 0 $bin/examples/loadgen run --url "http://127.0.0.1:$port/RS256" \
    --connections "$CONNECTIONS" --duration "${DURATION}s" $rs256_tokens --tokens "$TOKENS" \
    --quiet --json "$work/run.json" "$@" >/dev/null 2>&1 || true
}
line() { # name round cpu-ticks: a line of results from $work/run.json
  python3 - "$work/run.json" "$@" "$tick_hz" "$DURATION" <<'PY'
import json, sys
path, name, round_, ticks, hz, duration = sys.argv[1:]
r = json.load(open(path))
n = r["requests"]
bad = sum(v for k, v in r.get("statuses", {}).items() if k != "200") + r.get("errors", 0)
p99 = r.get("latency_ms", {}).get("p99", 0)
print(f"{round_} {name} {n / float(duration):.0f} {int(ticks) / int(hz) * 1e6 / max(n, 1):.2f} {p99} {bad}")
PY
}
run() { # name port pid round [loadgen options]
  local name=$1 port=$2 pid=$3 round=$4 before; shift 4
  before=$(ticks "$pid")
  load "$port" "$@"
  line "$name" "$round" "$(($(ticks "$pid") - before))"
}

systems=("passthrough:$PASS:$pass_pid" "portcullis:$PORT:$gateway_pid" "nginx:$NGINX:$nginx_pid")
# Warm-up: fills the gateway's verification cache and every pool.
for sys in "${systems[@]}"; do IFS=: read -r name port pid <<< "$sys"; run "$name" "$port" "$pid" 0 >/dev/null; done
for round in $(seq "$ROUNDS"); do
  # The order turns each round, so no system always runs right after the same one.
  for i in 0 1 2; do
    IFS=: read -r name port pid <<< "${systems[$(( (i + round) % 3 ))]}"
    run "$name" "$port" "$pid" "$round"
  done
done > "$work/saturation.txt"

# At a fixed rate, beside nginx+Lua.
: > "$work/rate.txt"
if [ "$RATE_ROUNDS" -gt 0 ] && [ -x "$PEERS_DIR/nginx-lua/start.sh" ]; then
  export RUN=${PEERS_RUN:-${TMPDIR:-/tmp}/portcullis-peers/run-neighbours}
  trap 'LUA_PORT=$LUA "$PEERS_DIR/nginx-lua/stop.sh" >/dev/null 2>&1; cleanup' EXIT
  if LUA_PORT=$LUA KEYDIR="$work/keys" UPSTREAM_PORT="$ECHO" CORE=1 THREADS=1 \
      ISS=https://rs256.bench AUD=bench "$PEERS_DIR/nginx-lua/start.sh" > "$work/lua.log" 2>&1; then
    wait_port "$LUA"
    load "$LUA" # its warm-up
    lua_pid=$(cat "$RUN/lua-$LUA/pid")
    rated=("portcullis:$PORT:$gateway_pid" "nginx+lua:$LUA:$lua_pid")
    for round in $(seq "$RATE_ROUNDS"); do
      for i in 0 1; do
        IFS=: read -r name port pid <<< "${rated[$(( (i + round) % 2 ))]}"
        run "$name" "$port" "$pid" "$round" --rate "$RATE"
      done
    done > "$work/rate.txt"
  else
    echo "nginx+lua did not start (../shared/peers/common/install.sh installs it): $(tail -2 "$work/lua.log")" >&2
  fi
fi

python3 - "$work/saturation.txt" "$work/rate.txt" "$RATE" "$TOKENS" <<'PY'
import statistics, sys

def read(path):
    rows = {}
    for line in open(path):
        round_, name, rate, cpu, p99, bad = line.split()
        if int(bad):
            sys.exit(f"round {round_}: {name} answered {bad} requests with an error or a status other than 200")
        rows.setdefault(int(round_), {})[name] = (float(rate), float(cpu), float(p99))
    return rows

def median(rows, a, b, i, invert=False):
    ratios = [s[a][i] / s[b][i] for s in rows.values() if a in s and b in s and s[b][i] > 0]
    ratios = [1 / x for x in ratios] if invert else ratios
    if len(ratios) < 2:
        return "n/a"
    q = statistics.quantiles(ratios, n=4)
    return f"{statistics.median(ratios):.2f}x (quartiles {q[0]:.2f}-{q[2]:.2f})"

names = ("passthrough", "portcullis", "nginx")
rows = read(sys.argv[1])
print(f"at saturation, cached RS256 tokens ({sys.argv[4]} distinct, sent in turn)")
print(f"{'round':>5} " + "".join(f"{n + ' req/s':>18}{'µs/req':>8}" for n in names))
for r, s in sorted(rows.items()):
    print(f"{r:>5} " + "".join(f"{s[n][0]:>18.0f}{s[n][1]:>8.1f}" for n in names))
print("medians of the rounds' ratios (requests/s; CPU per request, inverted so that higher is faster):")
for a, b in (("portcullis", "nginx"), ("passthrough", "nginx"), ("portcullis", "passthrough")):
    print(f"  {a} vs {b}: {median(rows, a, b, 0)} req/s, {median(rows, a, b, 1, invert=True)} by CPU")

rated = read(sys.argv[2])
if rated:
    print(f"\nat {sys.argv[3]} req/s, p99 latency in ms")
    for r, s in sorted(rated.items()):
        print(f"{r:>5} " + "".join(f"{n:>12} {v[2]:>8.3f}" for n, v in sorted(s.items())))
    print(f"median of the rounds' ratios: portcullis p99 vs nginx+lua: {median(rated, 'portcullis', 'nginx+lua', 2)}")
PY
