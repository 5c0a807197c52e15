#!/usr/bin/env bash
# User-space instructions per request, counted by callgrind (Debian: valgrind), for the bare
# passthrough and Portcullis under the same steady load. Unlike requests/s on a shared VM, the
# count does not move between runs, so it shows what a code change saved, to the hundred
# instructions, where a load test would drown it in noise. It does not see the kernel, cache
# misses or waiting; requests/s (compare.sh) stays the figure that counts.
#
# Under valgrind, aws-lc finds no SHA extensions and hashes in software: the cache key's SHA-256
# counts ~20k instructions here but runs on SHA-NI in production.
#
#   bench/instructions.sh                 # passthrough, Portcullis without auth, cached RS256
#   TOP=30 bench/instructions.sh          # and the 30 functions that differ most (inclusive)
#   KEEP=/tmp/counts bench/instructions.sh  # keep the callgrind files to read further
#
# With nginx installed, plain nginx (one process, no master) proxying the same requests is
# counted the same way: the ceiling the performance work aims at.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }

WARMUP=${WARMUP:-3}
MEASURE=${MEASURE:-5}
TOP=${TOP:-0}
source bench/common.sh
ECHO=19500 PASS=19501 PORT=19502 NGINX=19503

rs256_gateway "$PORT" "$ECHO"
start echo 0 $bin/examples/echo "127.0.0.1:$ECHO" 1 512
wait_port $ECHO
# Few tokens, so all are verified and cached during the warm-up.
tokens="$rs256_tokens --tokens 20"

count() { # name port url-path [loadgen options]: one steady load, counted after the warm-up
  local name=$1 port=$2 path=$3; shift 3
  wait_port "$port" 600 # valgrind starts slowly
  $bin/examples/loadgen run --url "http://127.0.0.1:$port$path" --connections 8 \
    --duration "$((WARMUP + MEASURE + 2))s" --quiet "$@" >/dev/null 2>&1 &
  local load=$!
  sleep "$WARMUP"
  callgrind_control -z "$vg" >/dev/null 2>&1
  sleep "$MEASURE"
  callgrind_control -d "$vg" >/dev/null 2>&1
  wait "$load"
  # The dump just written: callgrind.out.PID.N, the newest of them.
  mv "$(ls -t "$work"/callgrind.out.*.* | head -1)" "$work/$name.out"
}

under_valgrind() { # name command...: starts it on the proxy core, pid in $vg
  local name=$1; shift
  start "$name" 1 valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out.%p" "$@"
  vg=$last_pid
}

under_valgrind passthrough $bin/examples/passthrough "127.0.0.1:$PASS" "127.0.0.1:$ECHO" 1
count passthrough "$PASS" /RS256 $tokens
kill "$vg"
under_valgrind portcullis $bin/portcullis serve -c "$work/portcullis.toml"
count none "$PORT" /none
count rs256 "$PORT" /RS256 $tokens
kill "$vg"
if command -v nginx >/dev/null; then
  plain_nginx "$NGINX" "$ECHO"
  under_valgrind nginx nginx "${plain_nginx_args[@]}"
  count nginx "$NGINX" /RS256 $tokens
fi
# KEEP=DIR keeps the callgrind files (passthrough.out, none.out, rs256.out) for callgrind_annotate.
if [[ -n ${KEEP:-} ]]; then mkdir -p "$KEEP" && cp "$work"/*.out "$KEEP"/; fi

python3 - "$work" "$TOP" <<'PY'
import re, subprocess, sys
work, top = sys.argv[1], int(sys.argv[2])

def requests_in(path, call="send"):
    """Each proxied request is two calls of libc's send() (to the upstream, to the client) in
    both proxies, whatever the compiler inlined: the request count of the measured window.
    nginx writes both with writev()."""
    names, sends, current = {}, 0, None
    for line in open(path):
        m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
        if m:
            if m.group(2):
                names[m.group(1)] = m.group(2).strip()
            current = names.get(m.group(1)) if line.startswith("cfn=") else None
        elif line.startswith("calls=") and current == call:
            sends += int(line.split()[0][len("calls="):])
            current = None
    return sends // 2

def profile(name):
    """Instructions per request: the total, and each function's inclusive count."""
    path = f"{work}/{name}.out"
    requests = max(requests_in(path, "writev" if name == "nginx" else "send"), 1)
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True).stdout
    total = int(re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", out).group(1).replace(",", ""))
    functions = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+\S*?:(.*?)\s*\[", line)
        if m:
            symbol = re.sub(r"portcullis::proxy::GatewayProxy|passthrough::Passthrough", "SV", m.group(2))
            functions[symbol] = functions.get(symbol, 0) + int(m.group(1).replace(",", "")) / requests
    return total / requests, requests, functions

import os
names = ["passthrough", "none", "rs256"] + (["nginx"] if os.path.exists(f"{work}/nginx.out") else [])
rows = {name: profile(name) for name in names}
base = rows["passthrough"][0]
print(f"{'system / route':<34} {'requests':>9} {'instructions/request':>21} {'vs passthrough':>15}")
for name, label in (("passthrough", "passthrough (RS256 tokens sent)"),
                    ("none", "portcullis, no auth"),
                    ("rs256", "portcullis, RS256 cached"),
                    ("nginx", "nginx, plain proxy (same requests)")):
    if name not in rows:
        continue
    per, requests, _ = rows[name]
    print(f"{label:<34} {requests:>9} {per:>21,.0f} {per / base:>14.2f}x")
if top:
    for name in ("none", "rs256"):
        a, b = rows["passthrough"][2], rows[name][2]
        print(f"\nlargest inclusive differences, portcullis {name} - passthrough (instructions/request):")
        # The frames above every request (threads, the runtime, pingora's accept loop) say nothing.
        frames = re.compile(r"^(clone|start_thread|<std::sys::thread|std::sys::backtrace|core::ops::function"
                            r"|tokio::runtime|<T as pingora_core::apps::ServerApp>|pingora_core::services)")
        symbols = [s for s in set(a) | set(b) if not frames.match(s)]
        for symbol in sorted(symbols, key=lambda s: a.get(s, 0) - b.get(s, 0))[:top]:
            print(f"{b.get(symbol, 0) - a.get(symbol, 0):9,.0f}  {symbol[:110]}")
PY
