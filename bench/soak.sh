#!/usr/bin/env bash
# Soak: steady mixed traffic through the release gateway for a long while, watching its memory
# and file descriptors. RS256 JWTs on every carrier (bearer, query, cookie), 10% of them invalid,
# at a fixed request rate (open loop), against a fixed-size echo upstream.
#
# Passes when: no 5xx and no transport errors at all, every request answered 200 or 401; RSS at
# the end within 10% of RSS after the warm-up; open file descriptors at the end no more than after
# the warm-up plus the connection count. The clock starts when the load generator sends its first
# request (minting 100,000 RSA tokens takes a while), and the warm-up is the first fifth of the
# run or one pass through the token pool (TOKENS / RATE seconds), whichever is longer: until
# every token has been seen once the verification cache is still filling, as it should.
#
#   bench/soak.sh                           # defaults: DURATION=10m RATE=2000 TOKENS=20000
#   DURATION=1m RATE=1000 bench/soak.sh     # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10m}
RATE=${RATE:-2000}
TOKENS=${TOKENS:-20000}
CONNECTIONS=${CONNECTIONS:-32}
INVALID=${INVALID:-0.1}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
OUT=${OUT:-bench/results/soak}

mkdir -p "$OUT"
source bench/common.sh
ECHO=19100 PORT=19101

rs256_issuer
cat > "$work/portcullis.toml" <<EOF
$(gateway_config "$PORT" "$ECHO")
$rs256_issuer_config
[[routes]]
path_prefix = "/api"
upstream = "echo"
[routes.auth]
carriers = ["bearer", "query", "cookie"]
scopes = ["bench"]
EOF

start echo 0 $bin/examples/echo "127.0.0.1:$ECHO" 1 512
start gateway 1 $bin/portcullis serve -c "$work/portcullis.toml"
gateway=$last_pid
wait_port "$ECHO"
wait_port "$PORT"

seconds=$(python3 -c "
import re,sys; m=re.fullmatch(r'(\d+)(ms|s|m|h)', '$DURATION'); n,u=int(m[1]),m[2]
print(n*{'ms':0.001,'s':1,'m':60,'h':3600}[u])")
echo "soak: $DURATION at $RATE req/s, $TOKENS tokens, ${INVALID} invalid, carriers mixed"
taskset -c 0 $bin/examples/loadgen run --url "http://127.0.0.1:$PORT/api/soak" \
  --connections "$CONNECTIONS" --rate "$RATE" --duration "$DURATION" \
  $rs256_tokens --tokens "$TOKENS" --invalid "$INVALID" --carrier mix \
  --json "$OUT/loadgen.json" --label soak --quiet --ready-file "$work/ready" &
load=$!
while [ ! -e "$work/ready" ] && kill -0 "$load" 2>/dev/null; do sleep 0.2; done

echo "elapsed_s,rss_kib,fds" > "$OUT/samples.csv"
start=$(date +%s)
while kill -0 "$load" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$gateway/status")
  fds=$(ls "/proc/$gateway/fd" | wc -l)
  echo "$(( $(date +%s) - start )),$rss,$fds" >> "$OUT/samples.csv"
  sleep "$SAMPLE_EVERY"
done
wait "$load"

python3 - "$OUT" "$seconds" "$CONNECTIONS" "$TOKENS" "$RATE" <<'PY'
import csv, json, sys
out, seconds, connections = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
warmup = max(seconds / 5, int(sys.argv[4]) / float(sys.argv[5]))
load = json.load(open(f"{out}/loadgen.json"))
rows = [(float(r["elapsed_s"]), int(r["rss_kib"]), int(r["fds"])) for r in csv.DictReader(open(f"{out}/samples.csv"))]
warm = [r for r in rows if r[0] >= warmup] or rows
base, last = warm[0], rows[-1]
statuses = {int(k): v for k, v in load["statuses"].items()}
five_xx = sum(v for k, v in statuses.items() if k >= 500)
other = sum(v for k, v in statuses.items() if k not in (200, 401))
rss_change = (last[1] - base[1]) / base[1]
checks = {
    "no 5xx": five_xx == 0,
    "no transport errors": load["errors"] == 0,
    "only 200 and 401": other == 0,
    "RSS within 10% after warm-up": abs(rss_change) <= 0.10,
    "file descriptors flat": last[2] <= base[2] + connections,
}
summary = {
    "requests": load["requests"], "rps": round(load["rps"]), "statuses": load["statuses"],
    "errors": load["errors"], "latency_ms": load["latency_ms"],
    "warmup_s": warmup,
    "rss_kib": {"after_warmup": base[1], "end": last[1], "max": max(r[1] for r in rows), "change": round(rss_change, 4)},
    "fds": {"after_warmup": base[2], "end": last[2], "max": max(r[2] for r in rows)},
    "checks": checks,
}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
sys.exit(0 if all(checks.values()) else 1)
PY
