# Sourced by scripts/bench-edge-vs-nginx and scripts/bench-edge-instructions: starts, on
# loopback ports in a temporary directory, everything the edge benchmarks drive.
#
#   upstream nginx   answers every POST in microseconds: /mcp with a tools/call result,
#                    /list with a tools/list result (HTTP/1.1 on $upstream_port,
#                    h2c on $upstream_h2_port)
#   reference nginx  a plain reverse proxy to the upstream, keep-alive upstream connections,
#                    as many workers as the edge has runtime threads: HTTP/1.1 on $proxy_port,
#                    h2c on $proxy_h2_port, TLS (ALPN h2, http/1.1) on $proxy_tls_port
#   gatehouse        a control plane (SQLite) and one edge on $edge_port (h1 and h2c), plus,
#                    with BENCH_EDGE_TLS=1, a second edge with TLS on $edge_tls_port
#
# Gatehouse config: org "default", workspace "bench", servers "static" (tools/call target),
# "listed" (its /list answer is a tools/list, filtered because the workspace allows only
# `echo`) and "byo" (bring-your-own JWT from an inline JWKS). $token is a gateway token of
# the workspace, $jwt a JWT that "byo" accepts.
#
# EDGE_PREFIX (e.g. a valgrind command line) is put before the edge's command, CP_PREFIX
# before the control plane's.
# Governance on the request path: BENCH_EDGE_AUDIT=false turns the edge's audit trail off (it
# is on by default, as in production); BENCH_RATE_LIMIT=1 adds an org-wide rate limit that
# matches every request and never refuses one (counted by each edge locally; with
# BENCH_REDIS_URL the edges share it through that Redis).

bench_need() { command -v "$1" >/dev/null 2>&1 || { [[ -x /usr/sbin/$1 ]] && return; echo "installing $2 from Debian" >&2; apt-get install -y -q "$2" >/dev/null; }; }

bench_build() {
  if [[ -z "${GATEHOUSE_BIN:-}" ]]; then
    cargo build --release --locked -p gatehouse >&2
    GATEHOUSE_BIN=${CARGO_TARGET_DIR:-target}/release/gatehouse
  fi
}

bench_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

CALL_BODY='{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
LIST_BODY='{"jsonrpc":"2.0","id":8,"method":"tools/list"}'

bench_cleanup() {
  for pid in "${bench_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for f in "$work"/nginx-*.pid; do [[ -f $f ]] && kill "$(cat "$f" 2>/dev/null)" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

# The configuration of nginx instance $1 ($work/nginx-$1.conf) with the given http-level
# blocks ($2), worker count ($3) and further main-level directives ($4, optional).
bench_nginx_conf() {
  cat >"$work/nginx-$1.conf" <<EOF
worker_processes $3; ${4:-}
pid $work/nginx-$1.pid;
error_log $work/nginx-$1-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path $work/$1-body; proxy_temp_path $work/$1-proxy;
  fastcgi_temp_path $work/$1-fastcgi; uwsgi_temp_path $work/$1-uwsgi; scgi_temp_path $work/$1-scgi;
  ssl_certificate $work/tls.crt; ssl_certificate_key $work/tls.key;
  $2
}
EOF
}

# nginx instance $1 with the given http-level blocks ($2) and worker count ($3), started.
bench_nginx() {
  bench_nginx_conf "$@"
  "$NGINX" -c "$work/nginx-$1.conf" -p "$work"
}

# The reference proxy's location: every path to the upstream group `mcp`, kept alive.
BENCH_PROXY_PASS="location / { proxy_pass http://mcp; proxy_http_version 1.1; proxy_set_header Connection \"\"; }"

bench_start() {
  bench_need nginx nginx
  bench_need openssl openssl
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  work=$(mktemp -d)
  bench_pids=()
  trap bench_cleanup EXIT
  upstream_port=$(bench_free_port); upstream_h2_port=$(bench_free_port)
  proxy_port=$(bench_free_port); proxy_h2_port=$(bench_free_port); proxy_tls_port=$(bench_free_port)
  api_port=$(bench_free_port); grpc_port=$(bench_free_port)
  edge_port=$(bench_free_port); edge_tls_port=$(bench_free_port)
  # The edge's runtime has one worker thread per core; the reference gets as many workers.
  proxy_workers=${BENCH_NGINX_WORKERS:-$(nproc)}

  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null

  local call='{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hello"}]}}'
  local list='{"jsonrpc":"2.0","id":8,"result":{"tools":[{"name":"echo","inputSchema":{"type":"object"}},{"name":"delete_everything","inputSchema":{"type":"object"}}]}}'
  local answers="default_type application/json; location /list { return 200 '$list'; } location / { return 200 '$call'; }"
  bench_nginx upstream "
  server { listen 127.0.0.1:$upstream_port; $answers }
  server { listen 127.0.0.1:$upstream_h2_port http2; $answers }" 1
  local pass=$BENCH_PROXY_PASS
  bench_nginx proxy "
  upstream mcp { server 127.0.0.1:$upstream_port; keepalive 64; keepalive_requests 100000000; }
  server { listen 127.0.0.1:$proxy_port; $pass }
  server { listen 127.0.0.1:$proxy_h2_port http2; $pass }
  server { listen 127.0.0.1:$proxy_tls_port ssl http2; $pass }" "$proxy_workers"

  GATEHOUSE_MASTER_KEY=$("$GATEHOUSE_BIN" keygen)
  export GATEHOUSE_MASTER_KEY
  export GATEHOUSE_ADMIN_TOKEN="gha_bench_$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  export GATEHOUSE_NODE_TOKEN="ghn_bench_$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  export RUST_LOG=${BENCH_LOG:-warn}
  GATEHOUSE_DATABASE_URL="sqlite://$work/gatehouse.db?mode=rwc" GATEHOUSE_API_ADDR=127.0.0.1:$api_port \
    GATEHOUSE_GRPC_ADDR=127.0.0.1:$grpc_port GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS=true \
    ${CP_PREFIX:-} "$GATEHOUSE_BIN" control-plane >"$work/cp.log" 2>&1 &
  bench_pids+=($!)
  local edge_env=(GATEHOUSE_CONTROL_PLANE_URL=http://127.0.0.1:$grpc_port GATEHOUSE_ALLOW_LOOPBACK_UPSTREAMS=true
    GATEHOUSE_EDGE_AUDIT="${BENCH_EDGE_AUDIT:-true}")
  if [[ -n ${BENCH_REDIS_URL:-} ]]; then edge_env+=(GATEHOUSE_REDIS_URL="$BENCH_REDIS_URL"); fi
  # shellcheck disable=SC2086
  env "${edge_env[@]}" GATEHOUSE_EDGE_ADDR=127.0.0.1:$edge_port GATEHOUSE_NODE_ID=bench-edge \
    ${EDGE_PREFIX:-} "$GATEHOUSE_BIN" edge >"$work/edge.log" 2>&1 &
  edge_pid=$!
  bench_pids+=("$edge_pid")
  if [[ ${BENCH_EDGE_TLS:-0} == 1 ]]; then
    env "${edge_env[@]}" GATEHOUSE_EDGE_ADDR=127.0.0.1:$edge_tls_port GATEHOUSE_NODE_ID=bench-edge-tls \
      GATEHOUSE_EDGE_TLS_CERT="$work/tls.crt" GATEHOUSE_EDGE_TLS_KEY="$work/tls.key" \
      "$GATEHOUSE_BIN" edge >"$work/edge-tls.log" 2>&1 &
    edge_tls_pid=$!
    bench_pids+=("$edge_tls_pid")
  fi

  bench_api() { curl -sf -H "Authorization: Bearer $GATEHOUSE_ADMIN_TOKEN" -H 'Content-Type: application/json' "http://127.0.0.1:$api_port$1" "${@:2}"; }
  for _ in $(seq 300); do bench_api /v1/workspaces >/dev/null 2>&1 && break; sleep 0.1; done
  python3 - "$work" <<'EOF'
import base64, json, sys, time
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
work = sys.argv[1]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
n = key.public_key().public_numbers()
jwk = {"kty": "RSA", "kid": "bench", "alg": "RS256", "use": "sig",
       "n": b64(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")), "e": b64(n.e.to_bytes(3, "big"))}
head = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "bench"}).encode())
now = int(time.time())
claims = {"iss": "https://idp.bench", "aud": "gatehouse-bench", "sub": "bench-user", "iat": now, "exp": now + 86400}
body = b64(json.dumps(claims).encode())
sig = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
open(f"{work}/jwt", "w").write(f"{head}.{body}.{b64(sig)}")
open(f"{work}/jwks.json", "w").write(json.dumps({"keys": [jwk]}))
EOF
  jwt=$(cat "$work/jwt")
  local validation
  validation="{\"jwks\":$(cat "$work/jwks.json"),\"issuer\":\"https://idp.bench\",\"audience\":\"gatehouse-bench\",\"workspace\":\"bench\"}"
  bench_api /v1/workspaces -d '{"name":"Bench","slug":"bench"}' >/dev/null
  bench_api /v1/servers -d "{\"name\":\"Static\",\"slug\":\"static\",\"url\":\"http://127.0.0.1:$upstream_port/mcp\",\"auth_type\":\"none\"}" >/dev/null
  bench_api /v1/servers -d "{\"name\":\"Listed\",\"slug\":\"listed\",\"url\":\"http://127.0.0.1:$upstream_port/list\",\"auth_type\":\"none\"}" >/dev/null
  bench_api /v1/servers -d "{\"name\":\"BYO\",\"slug\":\"byo\",\"url\":\"http://127.0.0.1:$upstream_port/mcp\",\"auth_type\":\"none\",\"advanced_config\":{\"jwt_validation\":$validation}}" >/dev/null
  bench_api /v1/workspaces/bench/servers/static -X PUT -d '{}' >/dev/null
  bench_api /v1/workspaces/bench/servers/byo -X PUT -d '{}' >/dev/null
  bench_api /v1/workspaces/bench/servers/listed -X PUT -d '{"tools":{"allow":["echo"]}}' >/dev/null
  token=$(bench_api /v1/auth/tokens -d '{"user":"bench","team":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  if [[ ${BENCH_RATE_LIMIT:-0} == 1 ]]; then
    bench_api /v1/rate-limits -d '{"name":"bench","match":{},"limit":{"requests":1000000000,"per":"second"}}' >/dev/null
  fi

  bench_wait_edge "http://127.0.0.1:$edge_port" "$work/edge.log"
  if [[ ${BENCH_EDGE_TLS:-0} == 1 ]]; then bench_wait_edge "https://127.0.0.1:$edge_tls_port" "$work/edge-tls.log"; fi
}

# One request of each kind through the edge at $1; stops the benchmark unless all answer 200.
bench_wait_edge() {
  local code=000 slug auth body
  for row in "static $token $CALL_BODY" "byo $jwt $CALL_BODY" "listed $token $LIST_BODY"; do
    read -r slug auth body <<<"$row"
    for _ in $(seq 600); do
      code=$(curl -sk -o "$work/answer" -w '%{http_code}' -X POST "$1/mcp/$slug" \
        -H "Authorization: Bearer $auth" -H 'Content-Type: application/json' \
        -H 'Accept: application/json, text/event-stream' -d "$body" || true)
      [[ $code == 200 ]] && break
      sleep 0.1
    done
    [[ $code == 200 ]] || { echo "the edge at $1 does not answer 200 for $slug (got $code); see $2" >&2; cat "$2" >&2; exit 1; }
  done
  # The filtered list must have lost the tool the workspace does not allow.
  if grep -q delete_everything "$work/answer"; then echo "tools/list was not filtered" >&2; exit 1; fi
}
