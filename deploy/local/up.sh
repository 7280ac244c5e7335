#!/usr/bin/env bash
# The whole two-cluster chain on this machine, as real processes on loopback:
#
#   "workload cluster"                      "management cluster"
#   prometheus-node-exporter <- Prometheus --HTTPS, basic auth--> rampart relay --token--> rampart store
#                               (scrapes itself, node-exporter                            (query API, ruler)
#                                and Rampart)                      Alertmanager <--alerts-------'
#
# The store's ruler evaluates, for the writer's tenant, Rampart's
# self-monitoring rules (deploy/rules) on the metrics that Prometheus
# scrapes from Rampart and writes back, and RampartChainCheck, an alert that
# always fires, so that the way to Alertmanager can be seen working.
#
# The relay serves HTTPS with a self-signed certificate made here: for
# development only, never for a real deployment. Every credential is made
# fresh by `rampart hash-secret --generate`; Rampart's configs hold only
# their hashes. Stop everything with deploy/local/down.sh.
#
# Needs Debian's prometheus, prometheus-node-exporter and
# prometheus-alertmanager, openssl and curl, and a release build of rampart:
# $RAMPART_BIN, else release/rampart under $CARGO_TARGET_DIR (default
# $HOME/.cache/rampart-target, where scripts/run builds), else the
# checkout's target/release/rampart (`cargo build --release`).
# Ports and the state directory can be chosen through the environment:
#   RAMPART_LOCAL_DIR (default ${TMPDIR:-/tmp}/rampart-local)
#   RAMPART_LOCAL_STORE_PORT 19090, RAMPART_LOCAL_RELAY_PORT 19091,
#   RAMPART_LOCAL_PROMETHEUS_PORT 19092, RAMPART_LOCAL_ALERTMANAGER_PORT 19093,
#   RAMPART_LOCAL_NODE_EXPORTER_PORT 19100
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

dir="${RAMPART_LOCAL_DIR:-${TMPDIR:-/tmp}/rampart-local}"
store_port="${RAMPART_LOCAL_STORE_PORT:-19090}"
relay_port="${RAMPART_LOCAL_RELAY_PORT:-19091}"
prometheus_port="${RAMPART_LOCAL_PROMETHEUS_PORT:-19092}"
alertmanager_port="${RAMPART_LOCAL_ALERTMANAGER_PORT:-19093}"
node_port="${RAMPART_LOCAL_NODE_EXPORTER_PORT:-19100}"
repo="$(cd "$here/../.." && pwd)"
rampart="${RAMPART_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/rampart-target}/release/rampart}"
[ -n "${RAMPART_BIN:-}" ] || [ -x "$rampart" ] || rampart="$repo/target/release/rampart"
tenant=team-a
writer=workload-1

die() { echo "up.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 not found: apt-get install $2"; }
need prometheus prometheus
need prometheus-node-exporter prometheus-node-exporter
need prometheus-alertmanager prometheus-alertmanager
need openssl openssl
need curl curl
[ -x "$rampart" ] || die "no rampart binary at $rampart: run cargo build --release, or set RAMPART_BIN"

mkdir -p "$dir"/{run,logs,certs,secrets,config,store,relay,prometheus,alertmanager,node-exporter,rules}
dir="$(cd "$dir" && pwd)"
for pidfile in "$dir"/run/*.pid; do
  [ -e "$pidfile" ] || continue
  if kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    die "already up ($pidfile is running): run $here/down.sh first"
  fi
  rm -f "$pidfile"
done

# --- TLS for the relay: a throw-away CA and a server certificate for 127.0.0.1.
certs="$dir/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
  -subj "/O=Rampart local chain/CN=DEVELOPMENT ONLY - Rampart local CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$certs/ca.key" -out "$certs/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/O=Rampart local chain/CN=DEVELOPMENT ONLY - localhost" \
  -keyout "$certs/relay.key" -out "$certs/relay.csr" 2>/dev/null
printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$certs/relay.ext"
openssl x509 -req -in "$certs/relay.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" -CAcreateserial \
  -days 7 -extfile "$certs/relay.ext" -out "$certs/relay.crt" 2>/dev/null
chmod 600 "$certs"/*.key
cat >"$certs/README" <<EOF
DEVELOPMENT ONLY: a throw-away CA and certificate made by deploy/local/up.sh for
the relay on 127.0.0.1. Never use them for anything else.
EOF

# --- Credentials: plaintext only where a client needs it, hashes in configs.
generate() { # prints "token hash"
  "$rampart" hash-secret --generate | awk '/^token:/ {t = $2} /^hash:/ {h = $2} END {print t, h}'
}
read -r relay_token relay_token_hash < <(generate)
read -r writer_password writer_password_hash < <(generate)
read -r metrics_token metrics_token_hash < <(generate)
read -r operator_token operator_token_hash < <(generate)
umask 077
printf %s "$relay_token" >"$dir/secrets/relay-store.token"
printf %s "$writer_password" >"$dir/secrets/writer.password"
# Prometheus presents it to /metrics of store and relay (role metrics).
printf %s "$metrics_token" >"$dir/secrets/metrics.token"
# Yours: reads every tenant, reloads rules, admin (the commands printed below).
printf %s "$operator_token" >"$dir/secrets/operator.token"
umask 022

# --- Rule files of the writer's tenant: the self-monitoring rules and an
# alert that always fires.
rules="$dir/rules/$tenant"
rm -rf "$rules"
mkdir -p "$rules"
cp "$repo/deploy/rules/rampart-self-monitoring.yaml" "$rules/"
cat >"$rules/chain-check.yaml" <<'EOF'
# Always firing: shows that the store's ruler evaluates and that its alerts
# reach Alertmanager (deploy/local/up.sh).
groups:
  - name: rampart-chain
    rules:
      - alert: RampartChainCheck
        expr: vector(1)
        for: 0s
        labels:
          severity: none
        annotations:
          summary: The local chain's ruler works; this alert always fires.
EOF
"$rampart" rules check "$rules"/*.yaml >"$dir/logs/rules-check.log" 2>&1 ||
  { cat "$dir/logs/rules-check.log" >&2; die "rule files in $rules do not load"; }

# --- Configs.
cat >"$dir/config/store.yaml" <<EOF
# rampart store (the management cluster's store); see deploy/config/store.yaml.
listen: 127.0.0.1:$store_port
data_dir: $dir/store
auth:
  # Every endpoint but /-/healthy and /-/ready needs one of these.
  credentials:
    # Only the relay writes: the hash of its service token.
    - {name: relay, tenants: "*", roles: [write], bearer_token_hashes: ["$relay_token_hash"]}
    - {name: prometheus-scraper, tenants: "*", roles: [metrics], bearer_token_hashes: ["$metrics_token_hash"]}
    - {name: operator, tenants: "*", roles: [read, rules, admin], bearer_token_hashes: ["$operator_token_hash"]}
rules:
  tenants:
    $tenant: $rules
  # As often as Prometheus scrapes, so that alerts show up quickly.
  evaluation_interval: 5s
  external_labels:
    ruler: rampart-local
alerting:
  alertmanagers:
    - static_configs: [{targets: ["127.0.0.1:$alertmanager_port"]}]
      scheme: http
      timeout: 10s
EOF
cat >"$dir/config/relay.yaml" <<EOF
# rampart relay (the management cluster's door); see deploy/config/relay.yaml.
listen: 127.0.0.1:$relay_port
data_dir: $dir/relay
tls:
  cert_file: $certs/relay.crt
  key_file: $certs/relay.key
auth:
  credentials:
    - name: $writer
      tenants: [$tenant]
      roles: [write]
      basic_auth:
        - username: $writer
          password_hash: "$writer_password_hash"
    - {name: prometheus-scraper, tenants: "*", roles: [metrics], bearer_token_hashes: ["$metrics_token_hash"]}
store:
  url: http://127.0.0.1:$store_port/api/v1/write
  bearer_token_file: $dir/secrets/relay-store.token
EOF
cat >"$dir/config/prometheus.yml" <<EOF
# The workload cluster's Prometheus.
global:
  scrape_interval: 5s
  external_labels:
    cluster: local
scrape_configs:
  - job_name: node
    static_configs: [{targets: ["127.0.0.1:$node_port"]}]
  - job_name: prometheus
    static_configs: [{targets: ["127.0.0.1:$prometheus_port"]}]
  - job_name: alertmanager
    static_configs: [{targets: ["127.0.0.1:$alertmanager_port"]}]
  # Rampart's own metrics, under the job names its self-monitoring rules use.
  - job_name: rampart-store
    authorization: {credentials_file: $dir/secrets/metrics.token}
    static_configs: [{targets: ["127.0.0.1:$store_port"]}]
  - job_name: rampart-relay
    scheme: https
    tls_config: {ca_file: $certs/ca.crt}
    authorization: {credentials_file: $dir/secrets/metrics.token}
    static_configs: [{targets: ["127.0.0.1:$relay_port"]}]
remote_write:
  - name: rampart
    url: https://127.0.0.1:$relay_port/api/v1/write
    basic_auth:
      username: $writer
      password_file: $dir/secrets/writer.password
    tls_config:
      ca_file: $certs/ca.crt
    queue_config:
      batch_send_deadline: 1s
EOF
cat >"$dir/config/alertmanager.yml" <<EOF
# Alertmanager of the management cluster: holds alerts (API and UI).
route:
  receiver: hold
  group_wait: 1s
receivers:
  - name: hold
EOF

# --- Start, in the order data and alerts flow backwards, and wait for each.
start() { # name command...
  local name="$1"; shift
  nohup "$@" >"$dir/logs/$name.log" 2>&1 &
  echo $! >"$dir/run/$name.pid"
}
wait_for() { # name url [curl args...]
  local name="$1" url="$2"; shift 2
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "$@" "$url" 2>/dev/null; do
    if ! kill -0 "$(cat "$dir/run/$name.pid")" 2>/dev/null; then
      tail -n 20 "$dir/logs/$name.log" >&2
      "$here/down.sh" >/dev/null 2>&1 || true
      die "$name exited; its log is $dir/logs/$name.log"
    fi
    if [ $SECONDS -ge $deadline ]; then
      "$here/down.sh" >/dev/null 2>&1 || true
      die "$name not ready at $url within 60 s; its log is $dir/logs/$name.log"
    fi
    sleep 0.2
  done
}

start alertmanager prometheus-alertmanager --config.file="$dir/config/alertmanager.yml" \
  --storage.path="$dir/alertmanager" --web.listen-address="127.0.0.1:$alertmanager_port" \
  --cluster.listen-address=
wait_for alertmanager "http://127.0.0.1:$alertmanager_port/-/ready"
start store "$rampart" store --config "$dir/config/store.yaml"
wait_for store "http://127.0.0.1:$store_port/-/ready"
start relay "$rampart" relay --config "$dir/config/relay.yaml"
wait_for relay "https://127.0.0.1:$relay_port/-/ready" --cacert "$certs/ca.crt"
start node-exporter prometheus-node-exporter --web.listen-address="127.0.0.1:$node_port" \
  --collector.textfile.directory="$dir/node-exporter"
wait_for node-exporter "http://127.0.0.1:$node_port/metrics"
start prometheus prometheus --config.file="$dir/config/prometheus.yml" \
  --storage.tsdb.path="$dir/prometheus" --storage.tsdb.retention.time=1d \
  --web.listen-address="127.0.0.1:$prometheus_port"
wait_for prometheus "http://127.0.0.1:$prometheus_port/-/ready"

cat <<EOF
The Rampart chain is up (state, logs and configs in $dir).
  node-exporter   http://127.0.0.1:$node_port/metrics
  Prometheus      http://127.0.0.1:$prometheus_port   workload: scrapes node-exporter, itself and Rampart, remote-writes to the relay
  rampart relay   https://127.0.0.1:$relay_port  tenant $tenant, basic auth user $writer (DEVELOPMENT ONLY certificate: $certs/ca.crt)
  rampart store   http://127.0.0.1:$store_port   query API and ruler; only the relay's token may write
  Alertmanager    http://127.0.0.1:$alertmanager_port   the ruler's alerts (API and UI)
The first rates answer after about 15 s (two scrapes). Every endpoint but the
probes needs a credential; yours (read, rules and admin, every tenant) is
\$auth below:
  auth="Authorization: Bearer \$(cat $dir/secrets/operator.token)"
  curl -s -H "\$auth" -H 'X-Scope-OrgID: $tenant' http://127.0.0.1:$store_port/api/v1/query \\
    --data-urlencode 'query=sum by (mode) (rate(node_cpu_seconds_total[1m]))'
The ruler evaluates the rule files in $rules every 5 s
for tenant $tenant (self-monitoring, and RampartChainCheck, which always fires):
  curl -s -H "\$auth" -H 'X-Scope-OrgID: $tenant' http://127.0.0.1:$store_port/api/v1/rules
  curl -s -H "\$auth" -H 'X-Scope-OrgID: $tenant' http://127.0.0.1:$store_port/api/v1/alerts
  curl -s http://127.0.0.1:$alertmanager_port/api/v2/alerts
After editing them: curl -X POST -H "\$auth" http://127.0.0.1:$store_port/-/reload
The store's tamper verification, on demand: curl -X POST -H "\$auth" http://127.0.0.1:$store_port/api/v1/admin/verify
Stop it with: $here/down.sh
EOF
