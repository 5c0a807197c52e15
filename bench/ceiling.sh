#!/usr/bin/env bash
# The headline ratio alone, with less noise than compare.sh: Portcullis with cached RS256
# tokens, the bare pingora passthrough sent the same tokens, and plain nginx (the ceiling),
# in short runs that alternate between the three, ROUNDS times. compare.sh's rounds take
# minutes each, and on a shared VM whose speed drifts by 2x within minutes the systems of one
# round do not see the same machine; here neighbours are seconds apart, and each round's
# ratios are taken between neighbours, then the median over the rounds.
#
# Two figures a system and round: requests/s (closed loop, as compare.sh) and the proxy
# process's CPU time per request on its core (utime + stime from /proc, all its threads).
# The second does not depend on whether the load core (load generator and upstream, shared)
# kept up, so it shows what each proxy costs where requests/s can hide it behind the load
# core's own limit.
#
#   bench/ceiling.sh                      # ROUNDS=15 DURATION=3
#   ROUNDS=30 DURATION=2 bench/ceiling.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nginx >/dev/null || { echo "needs nginx (apt-get install nginx-light)" >&2; exit 1; }

ROUNDS=${ROUNDS:-15}
DURATION=${DURATION:-3}
CONNECTIONS=${CONNECTIONS:-32}
source bench/common.sh
ECHO=19600 PASS=19601 PORT=19602 NGINX=19603

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

systems=("passthrough:$PASS:$pass_pid" "portcullis:$PORT:$gateway_pid" "nginx:$NGINX:$nginx_pid")
run() { # name port pid round: one closed-loop run, a line of results
  local name=$1 port=$2 pid=$3 round=$4 before after
  before=$(ticks "$pid")
  taskset -c 0 $bin/examples/loadgen run --url "http://127.0.0.1:$port/RS256" \
    --connections "$CONNECTIONS" --duration "${DURATION}s" $rs256_tokens --tokens 1000 \
    --quiet --json "$work/run.json" >/dev/null 2>&1 || true
  after=$(ticks "$pid")
  python3 - "$work/run.json" "$name" "$round" "$((after - before))" "$tick_hz" "$DURATION" <<'PY'
import json, sys
path, name, round_, ticks, hz, duration = sys.argv[1:]
r = json.load(open(path))
n = r["requests"]
bad = sum(v for k, v in r.get("statuses", {}).items() if k != "200")
print(f"{round_} {name} {n / float(duration):.0f} {int(ticks) / int(hz) * 1e6 / max(n, 1):.2f} {bad}")
PY
}

# Warm-up: fills the gateway's verification cache and every pool.
for sys in "${systems[@]}"; do IFS=: read -r name port pid <<< "$sys"; run "$name" "$port" "$pid" 0 >/dev/null; done
for round in $(seq "$ROUNDS"); do
  # The order turns each round, so no system always runs right after the same one.
  for i in 0 1 2; do
    IFS=: read -r name port pid <<< "${systems[$(( (i + round) % 3 ))]}"
    run "$name" "$port" "$pid" "$round"
  done
done > "$work/runs.txt"

python3 - "$work/runs.txt" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    round_, name, rate, cpu, bad = line.split()
    if int(bad):
        sys.exit(f"round {round_}: {name} answered {bad} requests with a status other than 200")
    rows.setdefault(int(round_), {})[name] = (float(rate), float(cpu))
print(f"{'round':>5} " + "".join(f"{n + ' req/s':>18}{'µs/req':>8}" for n in ("passthrough", "portcullis", "nginx")))
for r, systems in sorted(rows.items()):
    print(f"{r:>5} " + "".join(f"{systems[n][0]:>18.0f}{systems[n][1]:>8.1f}" for n in ("passthrough", "portcullis", "nginx")))
def median_ratio(a, b, i, invert=False):
    ratios = [s[a][i] / s[b][i] for s in rows.values()]
    ratios = [1 / x for x in ratios] if invert else ratios
    q = statistics.quantiles(ratios, n=4)
    return f"{statistics.median(ratios):.2f}x (quartiles {q[0]:.2f}-{q[2]:.2f})"
print()
print("medians of the rounds' ratios (requests/s; CPU per request, inverted so that higher is faster):")
for a, b in (("portcullis", "nginx"), ("passthrough", "nginx"), ("portcullis", "passthrough")):
    print(f"  {a} vs {b}: {median_ratio(a, b, 0)} req/s, {median_ratio(a, b, 1, invert=True)} by CPU")
PY
