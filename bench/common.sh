# Sourced by the bench scripts (compare.sh, soak.sh, profile.sh): what each of them needs the same
# way. Gives `$work` (a scratch directory), `$bin` (the release builds), `start NAME CORE CMD…`
# (a pinned background process, stopped on exit), `wait_port PORT`, `gateway_config PORT ECHO`
# (the head of a one-thread, quiet Portcullis config in front of the echo upstream),
# `rs256_issuer` (an RS256 issuer's key, config block and token options) and
# `rs256_gateway PORT ECHO` (a whole config with a route without auth and a cached-RS256 one)
# and `plain_nginx PORT ECHO` (nginx as a plain keep-alive proxy, the ceiling: its arguments in
# `$plain_nginx_args`).

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # pingora servers drain for their grace period on SIGTERM; do not wait on one that lingers.
  for _ in $(seq 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet --bin portcullis --example echo --example passthrough --example loadgen
bin=${CARGO_TARGET_DIR:-target}/release

start() { # name core command...: output in $work/NAME.log, pid in $last_pid
  local name=$1 core=$2; shift 2
  taskset -c "$core" "$@" > "$work/$name.log" 2>&1 &
  last_pid=$!
  pids+=("$last_pid")
}

wait_port() { # port [tenths of a second, default 100]
  for _ in $(seq "${2:-100}"); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 did not open" >&2; return 1
}

gateway_config() { # port echo_port; SERVER_EXTRA: more [server] lines (A/B of a setting)
  cat <<EOT
[server]
threads = 1
${SERVER_EXTRA:-}
[log]
level = "warn"
access_log = false
[[listeners]]
address = "127.0.0.1:$1"
[upstreams.echo]
addresses = ["127.0.0.1:$2"]
EOT
}

# An RS256 issuer, its key in $work/keys: `$rs256_issuer_config` is its block of a gateway
# config, `$rs256_tokens` the load generator's options for its tokens (add --tokens N).
rs256_issuer() {
  $bin/examples/loadgen keys --alg RS256 --out "$work/keys" --kid bench 2>/dev/null
  rs256_issuer_config=$(cat <<EOT
[issuers.RS256]
kind = "jwt"
issuer = "https://rs256.bench"
audiences = ["bench"]
jwks_file = "$work/keys/jwks.json"
EOT
)
  rs256_tokens="--key $work/keys/key.json --iss https://rs256.bench --aud bench --scope bench"
}

# A gateway in front of the echo upstream with the RS256 issuer and two routes, /none (no auth)
# and /RS256 (its tokens with scope bench).
rs256_gateway() { # port echo_port
  rs256_issuer
  cat > "$work/portcullis.toml" <<EOT
$(gateway_config "$1" "$2")
$rs256_issuer_config
[[routes]]
path_prefix = "/none"
upstream = "echo"
[[routes]]
path_prefix = "/RS256"
upstream = "echo"
[routes.auth]
scopes = ["bench"]
EOT
}

# Plain nginx in front of the echo upstream: one worker, no master, keep-alive to the upstream,
# no access log. The ceiling the performance work measures against (compare.sh has its own, with
# the auth_request server beside it). Run it as `nginx "${plain_nginx_args[@]}"`.
plain_nginx() { # port echo_port
  mkdir -p "$work/plain-nginx"
  cat > "$work/plain-nginx/nginx.conf" <<EOT
master_process off;
daemon off;
worker_processes 1;
pid $work/plain-nginx/nginx.pid;
error_log stderr crit;
events { worker_connections 1024; }
http {
  access_log off;
  upstream echo { server 127.0.0.1:$2; keepalive 64; }
  server {
    listen 127.0.0.1:$1;
    location / { proxy_pass http://echo; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOT
  plain_nginx_args=(-c "$work/plain-nginx/nginx.conf" -p "$work/plain-nginx")
}
