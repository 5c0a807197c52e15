#!/usr/bin/env bash
# Where Portcullis spends its time beside the bare passthrough: both proxies under the same
# closed-loop load, each sampled with `perf record` (Debian: linux-perf), and a table of CPU
# microseconds *per request* by function, sorted by the difference. Shows where the gap is
# instead of guessing.
#
#   bench/profile.sh                  # the no-auth route
#   ROUTE=RS256 bench/profile.sh      # cached RS256 tokens
#   TOP=60 DURATION=8 bench/profile.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUTE=${ROUTE:-none}
DURATION=${DURATION:-6}
TOP=${TOP:-40}
PROXY_CORE=${PROXY_CORE:-1}
LOAD_CORE=${LOAD_CORE:-0}
command -v perf >/dev/null || { echo "needs perf (apt-get install linux-perf)" >&2; exit 1; }

source bench/common.sh
ECHO=19300 PASS=19301 PORT=19302

rs256_gateway "$PORT" "$ECHO"

start echo "$LOAD_CORE" $bin/examples/echo "127.0.0.1:$ECHO" 1 512
start passthrough "$PROXY_CORE" $bin/examples/passthrough "127.0.0.1:$PASS" "127.0.0.1:$ECHO" 1
passthrough=$last_pid
start portcullis "$PROXY_CORE" $bin/portcullis serve -c "$work/portcullis.toml"
gateway=$last_pid
for port in $ECHO $PASS $PORT; do wait_port "$port"; done

profile() { # name pid url
  perf record -F 4000 -p "$2" -o "$work/$1.data" -- sleep "$DURATION" >/dev/null 2>&1 &
  local recorder=$!
  taskset -c "$LOAD_CORE" $bin/examples/loadgen run --url "$3" --connections 32 \
    --duration "${DURATION}s" $rs256_tokens --tokens 1000 --quiet --json "$work/$1.json" >/dev/null 2>&1
  wait "$recorder"
  perf report -i "$work/$1.data" --no-children --sort symbol --stdio -g none 2>/dev/null \
    | grep '%' > "$work/$1.symbols"
}
profile passthrough "$passthrough" "http://127.0.0.1:$PASS/none"
profile portcullis "$gateway" "http://127.0.0.1:$PORT/$ROUTE"

python3 - "$work" "$DURATION" "$TOP" "$ROUTE" <<'PY'
import json, re, sys
work, seconds, top, route = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

def per_request(name):
    requests = json.load(open(f"{work}/{name}.json"))["requests"]
    table = {}
    for line in open(f"{work}/{name}.symbols"):
        share, symbol = line.strip().split(None, 1)
        symbol = re.sub(r"\s+-\s+-\s*$", "", symbol)
        # The two proxies' own types, so the same pingora code lines up.
        symbol = re.sub(r"portcullis::proxy::GatewayProxy|passthrough::Passthrough", "SV", symbol)
        us = float(share.rstrip("%")) / 100 * seconds * 1e6 / requests
        table[symbol] = table.get(symbol, 0) + us
    return requests, table

n_pass, passthrough = per_request("passthrough")
n_gate, gateway = per_request("portcullis")
print(f"requests/s: passthrough {n_pass / seconds:.0f}, portcullis /{route} {n_gate / seconds:.0f}")
print(f"CPU per request (µs, proxy core): passthrough {sum(passthrough.values()):.1f}, "
      f"portcullis {sum(gateway.values()):.1f}")
def part(table, kind):
    return sum(us for symbol, us in table.items() if symbol.startswith(kind))
for kind, name in (("[k]", "kernel"), ("[.]", "user")):
    print(f"  {name}: passthrough {part(passthrough, kind):.1f}, portcullis {part(gateway, kind):.1f}")
print()
print(f"{'diff µs':>8} {'portc.':>7} {'pass':>7}  function")
rows = sorted(set(passthrough) | set(gateway), key=lambda s: passthrough.get(s, 0) - gateway.get(s, 0))
for symbol in rows[:top]:
    a, b = gateway.get(symbol, 0), passthrough.get(symbol, 0)
    print(f"{a - b:8.2f} {a:7.2f} {b:7.2f}  {symbol[:110]}")
PY
