#!/usr/bin/env bash
# The production profile on one machine: PostgreSQL (tracker store), Redis (lock store), the action
# server, two Rasa servers, their metrics exporter, nginx in front and the operator console beside it
# (never behind nginx), each started directly as a process (no systemd), all on 127.0.0.1. How it
# scales past one machine: docs/deployment.md.
#   scripts/prod.sh up       start whatever is not running (idempotent) and wait until all answer
#   scripts/prod.sh down     stop everything; the conversations stay in PostgreSQL
#   scripts/prod.sh status   what runs, with pids and ports
#   scripts/prod.sh purge    down, then delete PROD_DIR with the database
#   scripts/prod.sh rotate-logs   rotate log/*.log (daily from cron; nginx reopens its files)
# PROD_DIR (default var/prod, gitignored) holds prod.env (ports, generated passwords), the configs
# rendered from deploy/*.tmpl, logs, pid files and the data.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PROD_DIR=$(realpath -m "${PROD_DIR:-var/prod}")
BIN=$ROOT/.venv/bin
MODEL=${MODEL:-$ROOT/models/assistant.tar.gz}
WIDGET_JS=$ROOT/widget/dist/rasa-widget.js
ENV_FILE=$PROD_DIR/prod.env
RUN_DIR=$PROD_DIR/run
# Both Rasa servers write their metrics here (prometheus_client's multiprocess mode, one file per
# process); one exporter sums them all (docs/deployment.md).
METRICS_DIR=$PROD_DIR/metrics
LOG_DIR=$PROD_DIR/log
CONF_DIR=$PROD_DIR/conf
START_TIMEOUT=${PROD_START_TIMEOUT:-300}
STOP_TIMEOUT=30
SERVICES=(postgres redis actions rasa1 rasa2 metrics nginx console)
# As the Makefile sets them, for a direct call too: no telemetry calls out, quieter logs.
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1
export PYTHONWARNINGS=ignore::DeprecationWarning

die() {
  echo "prod: $*" >&2
  exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# The command prefix that runs a program as a daemon's own user when we are root (PostgreSQL refuses
# to run as root, and Redis need not); setpriv execs, so a recorded pid is the daemon's own.
as_user() {
  AS=()
  if is_root; then AS=(setpriv --reuid="$1" --regid="$1" --init-groups --); fi
}

# The daemons' users must reach their data; a checkout under a private home (e.g. /root) is out of
# their reach, and then the data lives in /var/tmp under a name derived from PROD_DIR.
state_dir() {
  local dir=$PROD_DIR/state
  if is_root; then
    local user
    for user in postgres redis www-data; do
      if id "$user" >/dev/null 2>&1 && ! setpriv --reuid="$user" --regid="$user" --init-groups -- \
        test -x "$PROD_DIR"; then
        dir=/var/tmp/rasa-prod-$(printf '%s' "$PROD_DIR" | sha256sum | cut -c1-12)
        break
      fi
    done
  fi
  printf '%s\n' "$dir"
}

pg_bin() {
  local dir
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1)
  [ -n "$dir" ] || die "PostgreSQL is not installed: run scripts/ensure_prod_packages.sh"
  printf '%s\n' "$dir"
}

random_secret() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

# prod.env is written from deploy/prod.env.example: defaults, or the value a variable has in the
# environment at that moment; passwords are generated. Later runs keep what it holds and only add
# settings that a newer example brought.
write_env_file() {
  local line key value
  declare -A chosen=()
  if [ -f "$ENV_FILE" ]; then
    while IFS= read -r line; do
      case $line in '' | '#'*) continue ;; esac
      chosen[${line%%=*}]=1
    done <"$ENV_FILE"
  else
    (umask 077 && : >"$ENV_FILE")
  fi
  while IFS= read -r line; do
    case $line in '' | '#'*) continue ;; esac
    key=${line%%=*}
    [ -n "${chosen[$key]:-}" ] && continue
    value=${!key:-}
    if [ -z "$value" ]; then
      case $key in
        *_PASSWORD) value=$(random_secret) ;;
        *) value=${line#*=} ;;
      esac
    fi
    chosen[$key]=1
    printf '%s=%q\n' "$key" "$value" >>"$ENV_FILE"
  done <deploy/prod.env.example
}

load_env() {
  write_env_file
  set -a
  # shellcheck source=/dev/null
  . "$ENV_FILE"
  set +a
  export ACTION_SERVER_URL=${ACTION_SERVER_URL:-http://127.0.0.1:$PROD_ACTIONS_PORT/webhook}
  local host
  # This profile starts its own daemons on loopback: a remote host here would be a mistake.
  for host in "$DB_HOST" "$REDIS_HOST" "$(sed -E 's#^[a-z]+://([^:/]+).*#\1#' <<<"$ACTION_SERVER_URL")"; do
    [[ $host == 127.* || $host == localhost ]] || die "$host is not a loopback address (see $ENV_FILE)"
  done
  STATE_DIR=$(state_dir)
  export STATE_DIR LOG_DIR
  # A prod.env written before these settings existed: the defaults of deploy/prod.env.example.
  [ -n "${PROD_RATE_PER_CLIENT:-}" ] && [ -n "${PROD_RATE_BURST:-}" ] ||
    eval "$(grep -E '^PROD_RATE_(PER_CLIENT|BURST)=' "$ROOT/deploy/prod.env.example" | sed 's/^/export /')"
}

port_of() {
  case $1 in
    postgres) echo "$DB_PORT" ;;
    redis) echo "$REDIS_PORT" ;;
    actions) echo "$PROD_ACTIONS_PORT" ;;
    rasa1) echo "$PROD_RASA1_PORT" ;;
    rasa2) echo "$PROD_RASA2_PORT" ;;
    metrics) echo "$PROD_METRICS_PORT" ;;
    nginx) echo "$PROD_HTTP_PORT" ;;
    console) echo "$PROD_CONSOLE_PORT" ;;
  esac
}

# What identifies each service's process in its command line, so a pid file left behind and a
# pid reused by another program (another Rasa on another port) are not mistaken for it.
signature_of() {
  case $1 in
    postgres) echo "$STATE_DIR/postgres/data" ;;
    redis) echo "redis-server 127.0.0.1:$REDIS_PORT" ;;
    actions) echo "--port $PROD_ACTIONS_PORT" ;;
    rasa1) echo "-p $PROD_RASA1_PORT " ;;
    rasa2) echo "-p $PROD_RASA2_PORT " ;;
    metrics) echo "insights.exporter --port $PROD_METRICS_PORT " ;;
    nginx) echo "$CONF_DIR/nginx.conf" ;;
    console) echo "-m console --endpoints $PROD_ENDPOINTS --host 127.0.0.1 --port $PROD_CONSOLE_PORT" ;;
  esac
}

# The pid in the service's pid file, if that process is alive and is still that service.
pid_of() {
  local file=$RUN_DIR/$1.pid pid
  [ -f "$file" ] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$(signature_of "$1")" || return 1
  echo "$pid"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts a command in its own session (Ctrl-C in the calling terminal does not reach it), records
# its pid, appends its output to log/<name>.log.
launch() {
  local name=$1
  shift
  local port
  port=$(port_of "$name")
  port_busy "$port" && die "$name: port $port on 127.0.0.1 is taken by another program"
  setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/$name.pid"
}

# Polls a readiness check once a second until it passes, the service exits or START_TIMEOUT passes.
wait_ready() {
  local name=$1
  shift
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if ! pid_of "$name" >/dev/null; then
      tail -n 30 "$LOG_DIR/$name.log" >&2 || true
      die "$name exited while starting; log: $LOG_DIR/$name.log"
    fi
    ((SECONDS < deadline)) || die "$name not ready after ${START_TIMEOUT}s; log: $LOG_DIR/$name.log"
    sleep 1
  done
}

render() { "$BIN/python" "$ROOT/scripts/render_template.py" "$@"; }

http_ok() { curl -fsS -o /dev/null --max-time 5 "$1"; }

redis_ready() {
  [ "$(REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

start_postgres() {
  local pgbin data=$STATE_DIR/postgres/data
  pgbin=$(pg_bin)
  if ! [ -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    is_root && chown -R postgres: "$STATE_DIR/postgres"
    chmod 700 "$data"
    local pwfile=$STATE_DIR/postgres/admin-password
    (umask 077 && printf '%s\n' "$PG_ADMIN_PASSWORD" >"$pwfile")
    is_root && chown postgres: "$pwfile"
    as_user postgres
    "${AS[@]}" "$pgbin/initdb" -D "$data" -U postgres --pwfile="$pwfile" --auth=scram-sha-256 \
      -E UTF8 --locale=C >>"$LOG_DIR/postgres.log" 2>&1 || die "initdb failed; log: $LOG_DIR/postgres.log"
    rm -f "$pwfile"
    echo "include 'postgresql.prod.conf'" >>"$data/postgresql.conf"
  fi
  render "$ROOT/deploy/postgresql.conf.tmpl" "$data/postgresql.prod.conf" --mode 600
  render "$ROOT/deploy/pg_hba.conf.tmpl" "$data/pg_hba.conf" --mode 600
  is_root && chown postgres: "$data/postgresql.prod.conf" "$data/pg_hba.conf"
  as_user postgres
  launch postgres "${AS[@]}" "$pgbin/postgres" -D "$data"
}

# The Rasa servers' role and database, and the role's password as prod.env has it now.
setup_database() {
  PGPASSWORD=$PG_ADMIN_PASSWORD "$(pg_bin)/psql" -h 127.0.0.1 -p "$DB_PORT" -U postgres -d postgres \
    -q -v ON_ERROR_STOP=1 -v user="$DB_USER" -v pw="$DB_PASSWORD" -v db="$DB_NAME" <<'SQL' >/dev/null
SELECT format('CREATE ROLE %I LOGIN', :'user')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" WITH LOGIN PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
}

start_redis() {
  local dir=$STATE_DIR/redis
  mkdir -p "$dir"
  render "$ROOT/deploy/redis.conf.tmpl" "$dir/redis.conf" --mode 600
  is_root && chown -R redis: "$dir"
  as_user redis
  launch redis "${AS[@]}" "$(command -v redis-server)" "$dir/redis.conf"
}

start_actions() {
  # rasa-sdk has no authentication: loopback only, never behind the public nginx.
  # rasa-sdk's own command: what `rasa run actions` runs, without importing Rasa (less memory).
  launch actions env SANIC_HOST=127.0.0.1 "$BIN/python" -m rasa_sdk --port "$PROD_ACTIONS_PORT" \
    --actions actions
}

start_rasa() {
  local name=$1 cors=()
  # Web pages on other origins that embed the widget (space-separated), as scripts/serve.sh does.
  if [ -n "${PROD_WIDGET_ORIGIN:-}" ]; then
    read -r -a cors <<<"$PROD_WIDGET_ORIGIN"
    cors=(--cors "${cors[@]}")
  fi
  # No --enable-api: the HTTP API (model upload, tracker edits) is not needed to chat. Started by
  # the launcher `make run` uses (serving/launch.py): the same overrides, checked the same way.
  launch "$name" env PROMETHEUS_MULTIPROC_DIR="$METRICS_DIR" \
    "$BIN/python" -m serving.launch run -m "$MODEL" -i 127.0.0.1 -p "$(port_of "$name")" \
    --endpoints "$PROD_ENDPOINTS" --credentials "$PROD_CREDENTIALS" "${cors[@]}"
}

# The metrics folder is emptied only when no Rasa server runs (prometheus_client: before the
# processes start): a server restarted beside a running one keeps adding to the same sums, and the
# files of a server that died stay, so its counts do not vanish from the totals.
prepare_metrics_dir() {
  if ! pid_of rasa1 >/dev/null && ! pid_of rasa2 >/dev/null; then rm -rf "$METRICS_DIR"; fi
  mkdir -p "$METRICS_DIR"
}

# Prometheus scrapes http://127.0.0.1:$PROD_METRICS_PORT/metrics: the sums over both Rasa servers'
# processes and the open queue items (from PostgreSQL); never behind nginx.
start_metrics() {
  launch metrics env PROMETHEUS_MULTIPROC_DIR="$METRICS_DIR" "$BIN/python" -m insights.exporter \
    --port "$PROD_METRICS_PORT" --host 127.0.0.1 --endpoints "$PROD_ENDPOINTS"
}

# The operator console (docs/curation.md): loopback only, its own port, never behind the public nginx;
# it reads the servers' PostgreSQL (the endpoints file, ${VAR}s from prod.env) and writes data/nlu of
# this checkout. Its password is CONSOLE_PASSWORD in prod.env (generated on the first start).
start_console() {
  launch console "$BIN/python" -m console --endpoints "$PROD_ENDPOINTS" --host 127.0.0.1 \
    --port "$PROD_CONSOLE_PORT"
}

# The widget under a name carrying its content's hash (nginx redirects /widget/rasa-widget.js to it).
publish_widget() {
  local hash
  [ -f "$WIDGET_JS" ] || die "$WIDGET_JS is missing: run make widget"
  hash=$(sha256sum "$WIDGET_JS" | cut -c1-16)
  export WIDGET_FILE=rasa-widget.$hash.js
  mkdir -p "$STATE_DIR/widget"
  find "$STATE_DIR/widget" -name 'rasa-widget.*.js' ! -name "$WIDGET_FILE" -delete
  install -m 644 "$WIDGET_JS" "$STATE_DIR/widget/$WIDGET_FILE"
}

start_nginx() {
  local nginx dir=$STATE_DIR/nginx
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  mkdir -p "$dir"
  publish_widget
  render "$ROOT/deploy/nginx.conf.tmpl" "$CONF_DIR/nginx.conf"
  "$nginx" -t -q -c "$CONF_DIR/nginx.conf" -p "$dir/" -e "$LOG_DIR/nginx-error.log" ||
    die "nginx configuration rejected: $CONF_DIR/nginx.conf"
  launch nginx "$nginx" -c "$CONF_DIR/nginx.conf" -p "$dir/" -e "$LOG_DIR/nginx-error.log"
}

up() {
  [ -f "$MODEL" ] || die "$MODEL is missing: run make train"
  mkdir -p "$PROD_DIR"
  load_env
  # Every ${VAR} the channels need, named at once, before anything starts.
  "$BIN/python" scripts/check_credentials.py "$PROD_CREDENTIALS"
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$CONF_DIR" "$STATE_DIR"
  chmod 755 "$STATE_DIR"
  [ "$STATE_DIR" = "$PROD_DIR/state" ] || ln -sfn "$STATE_DIR" "$PROD_DIR/state"

  pid_of postgres >/dev/null || start_postgres
  pid_of redis >/dev/null || start_redis
  pid_of actions >/dev/null || start_actions
  wait_ready postgres "$(pg_bin)/pg_isready" -h 127.0.0.1 -p "$DB_PORT" -q
  setup_database
  wait_ready redis redis_ready
  prepare_metrics_dir
  pid_of rasa1 >/dev/null || start_rasa rasa1
  pid_of rasa2 >/dev/null || start_rasa rasa2
  wait_ready actions http_ok "http://127.0.0.1:$PROD_ACTIONS_PORT/health"
  wait_ready rasa1 http_ok "http://127.0.0.1:$PROD_RASA1_PORT/"
  wait_ready rasa2 http_ok "http://127.0.0.1:$PROD_RASA2_PORT/"
  pid_of metrics >/dev/null || start_metrics
  wait_ready metrics http_ok "http://127.0.0.1:$PROD_METRICS_PORT/metrics"
  pid_of nginx >/dev/null || start_nginx
  wait_ready nginx http_ok "http://127.0.0.1:$PROD_HTTP_PORT/health"
  pid_of console >/dev/null || start_console
  wait_ready console http_ok "http://127.0.0.1:$PROD_CONSOLE_PORT/login"
  cat <<MSG
Production profile up (logs: $LOG_DIR):
  curl -s -XPOST http://127.0.0.1:$PROD_HTTP_PORT/webhooks/rest/webhook -H 'Content-Type: application/json' \\
       -d '{"sender": "me", "message": "does valium help with opioid withdrawal"}'
  socket.io: http://127.0.0.1:$PROD_HTTP_PORT/socket.io/    stop: make prod-down
  metrics (Prometheus, loopback only): http://127.0.0.1:$PROD_METRICS_PORT/metrics
  operator console: http://127.0.0.1:$PROD_CONSOLE_PORT  (password: CONSOLE_PASSWORD in $ENV_FILE)
MSG
}

stop_service() {
  local name=$1 signal=$2 pid
  pid=$(pid_of "$name") || {
    rm -f "$RUN_DIR/$name.pid"
    return 0
  }
  # Rasa may have children of its own: signal its whole group (setsid made the pid its leader).
  # PostgreSQL, Redis and nginx stop their workers themselves on a signal to the main process.
  case $name in
    rasa* | actions | metrics | console) kill -s "$signal" -- "-$pid" 2>/dev/null || kill -s "$signal" "$pid" 2>/dev/null || true ;;
    *) kill -s "$signal" "$pid" 2>/dev/null || true ;;
  esac
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "prod: $name did not stop in ${STOP_TIMEOUT}s: killing it" >&2
    kill -s KILL -- "-$pid" 2>/dev/null || kill -s KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN_DIR/$name.pid"
}

down() {
  [ -f "$ENV_FILE" ] || return 0
  load_env
  # Front to back, so no request arrives at a server that is already gone.
  stop_service console TERM
  stop_service nginx TERM
  stop_service metrics TERM
  stop_service rasa1 TERM
  stop_service rasa2 TERM
  stop_service actions TERM
  stop_service redis TERM
  stop_service postgres INT # "fast" shutdown: ends sessions, checkpoints, exits
}

status() {
  [ -f "$ENV_FILE" ] || {
    echo "Production profile never started here ($PROD_DIR)"
    return 0
  }
  load_env
  local name pid
  for name in "${SERVICES[@]}"; do
    if pid=$(pid_of "$name"); then
      printf '  %-9s running  pid %-7s 127.0.0.1:%s\n' "$name" "$pid" "$(port_of "$name")"
    else
      printf '  %-9s stopped\n' "$name"
    fi
  done
}

purge() {
  down
  if [ -f "$ENV_FILE" ]; then
    [ "$STATE_DIR" = "$PROD_DIR/state" ] || rm -rf "$STATE_DIR"
  fi
  rm -rf "$PROD_DIR"
  echo "Production profile deleted: $PROD_DIR"
}

# Rotates the logs in log/ (run it daily, e.g. from cron or a systemd timer): each <name>.log
# becomes <name>.log.1, older ones <name>.log.2.gz ... up to LOG_KEEP (default 7) files. Every
# service, nginx included, writes to its log in append mode, so the file is copied and emptied in
# place and the writer goes on at its new end (a line written in the instant between the two can be
# lost). nginx's own reopen on SIGUSR1 is not used: its workers, running as www-data, cannot reopen
# a file in a log folder they cannot reach (a checkout under /root) and then keep writing to the
# rotated file.
rotate_logs() {
  [ -f "$ENV_FILE" ] || return 0
  load_env
  local keep=${LOG_KEEP:-7} log n
  for log in "$LOG_DIR"/*.log; do
    [ -f "$log" ] || continue
    rm -f "$log.$keep.gz"
    for ((n = keep - 1; n >= 2; n--)); do
      if [ -f "$log.$n.gz" ]; then mv "$log.$n.gz" "$log.$((n + 1)).gz"; fi
    done
    if [ -f "$log.1" ]; then gzip -c "$log.1" >"$log.2.gz" && rm -f "$log.1"; fi
    cp -p "$log" "$log.1" && : >"$log"
  done
}

case ${1:-} in
  up) up ;;
  rotate-logs) rotate_logs ;;
  down) down && echo "Production profile stopped; the conversations stay in $PROD_DIR" ;;
  status) status ;;
  purge) purge ;;
  *) die "usage: scripts/prod.sh up|down|status|purge|rotate-logs" ;;
esac
