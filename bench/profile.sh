#!/usr/bin/env bash
# Where Portcullis spends its time beside the bare passthrough: both proxies under the same
# closed-loop load, each sampled with `perf record` (Debian: linux-perf), and a table of CPU
# microseconds *per request* by function, sorted by the difference. Shows where the gap is
# instead of guessing.
#
#   bench/profile.sh                  # the no-auth route
#   ROUTE=RS256 bench/profile.sh      # cached RS256 tokens
#   TOP=60 DURATION=8 bench/profile.sh
#
# With nginx installed, plain nginx proxying the same requests is sampled the same way, and the
# table of where each proxy's CPU goes (kernel, user, and the passthrough's own top functions by
# group) comes first: pingora's floor against nginx's ceiling.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUTE=${ROUTE:-none}
DURATION=${DURATION:-6}
TOP=${TOP:-40}
PROXY_CORE=${PROXY_CORE:-1}
LOAD_CORE=${LOAD_CORE:-0}
command -v perf >/dev/null || { echo "needs perf (apt-get install linux-perf)" >&2; exit 1; }

source bench/common.sh
ECHO=19300 PASS=19301 PORT=19302 NGINX=19303

rs256_gateway "$PORT" "$ECHO"

start echo "$LOAD_CORE" $bin/examples/echo "127.0.0.1:$ECHO" 1 512
start passthrough "$PROXY_CORE" $bin/examples/passthrough "127.0.0.1:$PASS" "127.0.0.1:$ECHO" 1
passthrough=$last_pid
start portcullis "$PROXY_CORE" $bin/portcullis serve -c "$work/portcullis.toml"
gateway=$last_pid
for port in $ECHO $PASS $PORT; do wait_port "$port"; done
if command -v nginx >/dev/null; then
  plain_nginx "$NGINX" "$ECHO"
  start nginx "$PROXY_CORE" nginx "${plain_nginx_args[@]}"
  nginx_pid=$last_pid
  wait_port "$NGINX"
fi

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
[[ -n ${nginx_pid:-} ]] && profile nginx "$nginx_pid" "http://127.0.0.1:$NGINX/$ROUTE"

python3 - "$work" "$DURATION" "$TOP" "$ROUTE" <<'PY'
import json, os, re, sys
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
systems = [("passthrough", n_pass, passthrough), (f"portcullis /{route}", n_gate, gateway)]
if os.path.exists(f"{work}/nginx.symbols"):
    systems.append(("nginx", *per_request("nginx")))

def part(table, kind):
    return sum(us for symbol, us in table.items() if symbol.startswith(kind))

# What a symbol is, for the passthrough's own breakdown: the first pattern that matches.
GROUPS = [
    ("kernel: TCP send/receive", r"^\[k\] .*(tcp|skb|ip_|__dev|net_|sock|loopback|__netif|nf_|inet|copy_user|_copy_)"),
    ("kernel: wakeups, scheduling, epoll", r"^\[k\] .*(spin|wake|sched|ep_|epoll|futex|switch|enqueue|dequeue|update_|hrtimer|irq|rcu)"),
    ("kernel: syscall entry and the rest", r"^\[k\] "),
    ("allocation (mimalloc, glibc)", r"(mi_|_mi_|malloc|free|realloc)"),
    ("memcpy/memmove", r"mem(cpy|move|set|cmp)"),
    ("header maps (http::HeaderMap, case maps)", r"(http::header|HeaderMap|CaseHeaderName|pingora_http::)"),
    ("HTTP/1 parse and write (httparse, pingora v1)", r"(httparse|protocols::http::v1|protocols::http::server|body::)"),
    ("timers (pingora_timeout, clock)", r"(pingora_timeout|clock_gettime|Instant)"),
    ("tokio (tasks, I/O readiness, channels)", r"tokio::"),
    ("connection pool, peers", r"(connectors|pool|upstreams::peer|reuse_hash)"),
    ("pingora-proxy phases and glue", r"(pingora_proxy|pingora_core|SV)"),
    ("other user space", r""),
]
def grouped(table):
    sums = {name: 0.0 for name, _ in GROUPS}
    for symbol, us in table.items():
        for name, pattern in GROUPS:
            if re.search(pattern, symbol):
                sums[name] += us
                break
    return sums

print("CPU per request (µs on the proxy core, perf samples / requests served):")
print(f"{'system':<22} {'req/s':>8} {'total':>7} {'kernel':>7} {'user':>7}")
for name, n, table in systems:
    print(f"{name:<22} {n / seconds:8.0f} {sum(table.values()):7.1f} {part(table, '[k]'):7.1f} "
          f"{part(table, '[.]'):7.1f}")
print()
print("where it goes, by group (µs per request):")
print(f"{'group':<46}" + "".join(f" {name[:12]:>12}" for name, _, _ in systems))
sums = [grouped(table) for _, _, table in systems]
for name, _ in GROUPS:
    print(f"{name:<46}" + "".join(f" {s[name]:12.2f}" for s in sums))
print()
print(f"the passthrough's own top {top} functions (µs per request):")
for symbol, us in sorted(passthrough.items(), key=lambda kv: -kv[1])[:top]:
    print(f"{us:8.2f}  {symbol[:110]}")
print()
print(f"{'diff µs':>8} {'portc.':>7} {'pass':>7}  function")
rows = sorted(set(passthrough) | set(gateway), key=lambda s: passthrough.get(s, 0) - gateway.get(s, 0))
for symbol in rows[:top]:
    a, b = gateway.get(symbol, 0), passthrough.get(symbol, 0)
    print(f"{a - b:8.2f} {a:7.2f} {b:7.2f}  {symbol[:110]}")
PY
