#!/usr/bin/env bash
# Portcullis beside its peers, in one run: an echo upstream, a bare pingora passthrough (the
# limit for this architecture), Portcullis (no auth, JWT per algorithm with cached tokens, all
# tokens unique, an invalid-token flood, an OData route, cached RS256 at a fixed request rate),
# and — when installed from Debian — HAProxy 2.6 with jwt_verify and the same claim checks
# (exp, iss, aud) on the same RS256 key, nginx as a plain proxy (the ceiling), nginx asking
# Portcullis about each request (`auth_request` to its `[forward_auth]` check, both on the proxy
# core: the decision service's cost per check), and the peers of ../shared/peers (Envoy
# jwt_authn with and without its cache, nginx+Lua with and without a cache, nginx+njs, Apache
# with mod_oauth2 and with mod_auth_openidc; `../shared/peers/common/install.sh` installs them,
# PEERS=0 leaves them out).
#
# Proxies run on one core (PROXY_CORE), the load generator and the upstream on the other
# (LOAD_CORE); each proxy has one worker thread; the upstream sends RESPONSE_BYTES-byte bodies.
# Systems are interleaved, ROUNDS times; the table shows the median round, and each ratio is the
# median of the rounds' own ratios (runs next to each other share the VM's mood). Results:
# $OUT/results.json, $OUT/table.txt, $OUT/chart.svg.
#
#   bench/compare.sh                      # defaults: DURATION=10s ROUNDS=3 CONNECTIONS=32
#   DURATION=5s ROUNDS=1 bench/compare.sh # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
PROXY_CORE=${PROXY_CORE:-1}
LOAD_CORE=${LOAD_CORE:-0}
OUT=${OUT:-bench/results}
UNIQUE_TOKENS=${UNIQUE_TOKENS:-60000}
# The open-loop scenario's request rate: below every proxy's capacity, so its latencies compare
# the systems at equal load (the closed-loop scenarios saturate the proxy core, and there p99
# follows throughput).
RATE=${RATE:-5000}
# The upstream answers every request with this many bytes, so proxies that add different headers
# (Portcullis adds identity and forwarding headers, HAProxy forwards the token) return equal
# responses; RESPONSE_BYTES=echo makes it describe each request instead.
RESPONSE_BYTES=${RESPONSE_BYTES:-512}

mkdir -p "$OUT"
source bench/common.sh
loadgen="taskset -c $LOAD_CORE $bin/examples/loadgen"

ECHO=19000 PASS=19001 PORT=19002 HAPROXY=19003 NGINX=19004 NGINX_AUTH=19030

for alg in RS256 ES256 EdDSA HS256; do
  $bin/examples/loadgen keys --alg "$alg" --out "$work/$alg" --kid "k-$alg" 2>/dev/null
done
hs_secret=$(python3 -c "import json;print(json.load(open('$work/HS256/key.json'))['private'])")

cat > "$work/portcullis.toml" <<EOF
$(SERVER_EXTRA='trusted_proxies = ["127.0.0.1"]' gateway_config "$PORT" "$ECHO")
[forward_auth]
path = "/_check"
$(for alg in RS256 ES256 EdDSA; do printf '[issuers.%s]\nkind = "jwt"\nissuer = "https://%s.bench"\naudiences = ["bench"]\njwks_file = "%s/%s/jwks.json"\n' "$alg" "$alg" "$work" "$alg"; done)
[issuers.HS256]
kind = "jwt"
issuer = "https://HS256.bench"
audiences = ["bench"]
keys = [{ kid = "k-HS256", alg = "HS256", secret = "$hs_secret" }]
[[routes]]
path_prefix = "/none"
upstream = "echo"
$(for alg in RS256 ES256 EdDSA HS256; do printf '[[routes]]\npath_prefix = "/%s"\nupstream = "echo"\n[routes.auth]\nissuers = ["%s"]\nscopes = ["bench"]\n' "$alg" "$alg"; done)
[[routes]]
path_prefix = "/odata"
upstream = "echo"
[routes.auth]
issuers = ["RS256"]
[routes.odata]
max_top = 100
default_top = 20
private_fields = ["secret"]
EOF
$bin/portcullis check -c "$work/portcullis.toml" >/dev/null

fixed=$([[ $RESPONSE_BYTES == echo ]] || echo "$RESPONSE_BYTES")
start echo "$LOAD_CORE" $bin/examples/echo "127.0.0.1:$ECHO" 1 $fixed
start passthrough "$PROXY_CORE" $bin/examples/passthrough "127.0.0.1:$PASS" "127.0.0.1:$ECHO" 1
start portcullis "$PROXY_CORE" $bin/portcullis serve -c "$work/portcullis.toml"
systems=(passthrough portcullis)
for p in $ECHO $PASS $PORT; do wait_port "$p"; done

if command -v haproxy >/dev/null; then
  cat > "$work/haproxy.cfg" <<EOF
global
  nbthread 1
  log stderr format short alert
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend fe
  bind 127.0.0.1:$HAPROXY
  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('\$.alg')
  http-request deny deny_status 401 unless { var(txn.alg) -m str RS256 }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify(txn.alg,"$work/RS256/public.pem") -m int 1 }
  # The claims every other system checks too (like with like): iss, aud, exp.
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('\$.iss') -m str https://RS256.bench }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('\$.aud') -m str bench }
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('\$.exp','int')
  http-request set-var(txn.now) date()
  http-request deny deny_status 401 unless { var(txn.exp),sub(txn.now) -m int gt 0 }
  default_backend be
backend be
  server s1 127.0.0.1:$ECHO
EOF
  start haproxy "$PROXY_CORE" haproxy -f "$work/haproxy.cfg"
  wait_port $HAPROXY && systems+=(haproxy)
fi
if command -v nginx >/dev/null; then
  cat > "$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log stderr crit;
events { worker_connections 1024; }
http {
  access_log off;
  upstream echo { server 127.0.0.1:$ECHO; keepalive 64; }
  upstream portcullis { server 127.0.0.1:$PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX;
    location / { proxy_pass http://echo; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$NGINX_AUTH;
    location = /_check {
      internal;
      proxy_pass http://portcullis/_check;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-Method \$request_method;
      proxy_set_header X-Forwarded-Uri \$request_uri;
      proxy_set_header X-Forwarded-Host \$host;
    }
    location / {
      auth_request /_check;
      auth_request_set \$auth_subject \$upstream_http_x_auth_subject;
      proxy_set_header X-Auth-Subject \$auth_subject;
      proxy_set_header Authorization "";
      proxy_pass http://echo; proxy_http_version 1.1; proxy_set_header Connection "";
    }
  }
}
EOF
  start nginx "$PROXY_CORE" nginx -c "$work/nginx.conf" -p "$work"
  wait_port $NGINX && wait_port $NGINX_AUTH && systems+=(nginx nginx+auth_request)
fi

# The peers of ../shared/peers, each pinned to the proxy core with one worker, in front of the
# same echo upstream, on the same key: name | dir | env | port.
PEERS_DIR=${PEERS_DIR:-$(cd .. && pwd)/shared/peers}
PEER_TABLE="envoy|envoy|ENVOY_PORT=19005|19005
envoy+cache|envoy|ENVOY_JWT_CACHE=10000 ENVOY_PORT=19012 ENVOY_ADMIN_PORT=19022|19012
nginx+lua|nginx-lua|LUA_PORT=19008|19008
nginx+lua+cache|nginx-lua|LUA_JWT_CACHE=10000 LUA_PORT=19013|19013
nginx+njs|nginx-njs|NJS_PORT=19007|19007
apache+oauth2|apache-oauth2|OAUTH2_PORT=19011|19011
apache+oidc|apache-oidc|OIDC_KEYS=cert APACHE_PORT=19006|19006"
# Apache's www-data workers cannot enter the 0700 $work: the peers write under /tmp.
export RUN=${PEERS_RUN:-${TMPDIR:-/tmp}/portcullis-peers/run-compare}
peers_each() { # command: runs `command name dir envs port` for each peer
  local name dir envs port
  while IFS='|' read -r name dir envs port; do "$1" "$name" "$dir" "$envs" "$port"; done <<< "$PEER_TABLE"
}
start_peer() {
  [ -x "$PEERS_DIR/$2/start.sh" ] || return 0
  if env $3 KEYDIR="$work/RS256" UPSTREAM_PORT="$ECHO" CORE="$PROXY_CORE" THREADS=1 \
      ISS=https://RS256.bench AUD=bench "$PEERS_DIR/$2/start.sh" > "$work/peer-$1.log" 2>&1; then
    systems+=("$1")
  else
    echo "peer $1 did not start (../shared/peers/common/install.sh installs the peers): $(tail -2 "$work/peer-$1.log")" >&2
  fi
}
stop_peer() { [ -x "$PEERS_DIR/$2/stop.sh" ] && env $3 "$PEERS_DIR/$2/stop.sh" >/dev/null 2>&1; true; }
if [ "${PEERS:-1}" = 1 ] && [ -d "$PEERS_DIR" ]; then
  trap 'peers_each stop_peer; cleanup' EXIT
  peers_each start_peer
fi
peer_scenarios() { # the RS256 loadgen options
  local name dir envs port
  while IFS='|' read -r name dir envs port; do
    [[ " ${systems[*]} " == *" $name "* ]] || continue
    echo "RS256 cached|$name|http://127.0.0.1:$port/RS256|$1 --tokens 1000"
    echo "RS256 at $RATE/s|$name|http://127.0.0.1:$port/RS256|$1 --tokens 1000 --rate $RATE"
  done <<< "$PEER_TABLE"
}

# scenario name | system | url | loadgen options
scenarios() {
  local rs="--key $work/RS256/key.json --iss https://RS256.bench --aud bench --scope bench"
  echo "no auth|passthrough|http://127.0.0.1:$PASS/none|"
  echo "no auth|portcullis|http://127.0.0.1:$PORT/none|"
  [[ " ${systems[*]} " == *" nginx "* ]] && echo "no auth|nginx|http://127.0.0.1:$NGINX/none|"
  # The passthrough is sent the same tokens too: the limit for proxying these very requests.
  echo "RS256 cached|passthrough|http://127.0.0.1:$PASS/RS256|$rs --tokens 1000"
  echo "RS256 cached|portcullis|http://127.0.0.1:$PORT/RS256|$rs --tokens 1000"
  [[ " ${systems[*]} " == *" haproxy "* ]] && echo "RS256 cached|haproxy|http://127.0.0.1:$HAPROXY/RS256|$rs --tokens 1000"
  if [[ " ${systems[*]} " == *" nginx "* ]]; then
    echo "RS256 cached|nginx|http://127.0.0.1:$NGINX/RS256|$rs --tokens 1000"
    echo "RS256 cached|nginx+auth_request|http://127.0.0.1:$NGINX_AUTH/RS256|$rs --tokens 1000"
  fi
  local at="RS256 at $RATE/s"
  echo "$at|passthrough|http://127.0.0.1:$PASS/RS256|$rs --tokens 1000 --rate $RATE"
  echo "$at|portcullis|http://127.0.0.1:$PORT/RS256|$rs --tokens 1000 --rate $RATE"
  [[ " ${systems[*]} " == *" haproxy "* ]] && echo "$at|haproxy|http://127.0.0.1:$HAPROXY/RS256|$rs --tokens 1000 --rate $RATE"
  for alg in ES256 EdDSA HS256; do
    echo "$alg cached|portcullis|http://127.0.0.1:$PORT/$alg|--key $work/$alg/key.json --iss https://$alg.bench --aud bench --scope bench --tokens 1000"
  done
  peer_scenarios "$rs"
  [[ " ${systems[*]} " == *" nginx "* ]] && echo "$at|nginx|http://127.0.0.1:$NGINX/RS256|$rs --tokens 1000 --rate $RATE"
  echo "RS256 unique|portcullis|http://127.0.0.1:$PORT/RS256|$rs --tokens $UNIQUE_TOKENS"
  echo "RS256 + 10% invalid|portcullis|http://127.0.0.1:$PORT/RS256|$rs --tokens 1000 --invalid 0.1"
  echo "OData route|portcullis|http://127.0.0.1:$PORT/odata/People?\$filter=Age%20gt%2030%20and%20startswith(Name,'A')&\$orderby=Name&\$select=Id,Name|$rs --tokens 1000"
}

: > "$work/all.jsonl"
for round in $(seq "$ROUNDS"); do
  while IFS='|' read -r scenario system url options; do
    label="$system / $scenario"
    # A system that answered nothing is a row of zeros in the table, not the end of the run.
    # shellcheck disable=SC2086
    $loadgen run --url "$url" --connections "$CONNECTIONS" --duration "$DURATION" --label "$label" \
      --json "$work/one.json" --quiet $options || true
    python3 - "$work/one.json" "$scenario" "$system" "$round" >> "$work/all.jsonl" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); r.update(scenario=sys.argv[2], system=sys.argv[3], round=int(sys.argv[4]))
print(json.dumps(r))
PY
  done < <(scenarios)
done

python3 bench/summarize.py "$work/all.jsonl" "$OUT"
