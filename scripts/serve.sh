#!/usr/bin/env bash
# Starts the action server, the Rasa server, the widget demo page and the operator console in the
# foreground; Ctrl-C stops all.
#   scripts/serve.sh          REST (and the other channels in credentials.yml) on $RASA_PORT
#   CREDENTIALS=credentials.messaging.yml scripts/serve.sh   also the messaging platforms (docs/channels.md)
#   scripts/serve.sh shell    a terminal chat instead of the server
# Without an up-to-date model (a fresh clone, or data changed), it first trains a quick model
# (serving/quick_model.py: no DIET, about a minute), serves it, and trains the full model in the
# background; the Rasa servers switch to the full model when it is ready, without a restart
# (serving/model_server.py). `make train` first avoids this.
# It also serves the website chat widget's demo page on $WIDGET_PORT (make widget builds the widget),
# the Prometheus metrics at http://localhost:$METRICS_PORT/metrics (loopback only by default)
# and the operator console on $CONSOLE_HOST:$CONSOLE_PORT (loopback; docs/curation.md), whose
# password is CONSOLE_PASSWORD, or one generated for this run and printed.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
MODEL=${MODEL:-models/assistant.tar.gz}
RASA_HOST=${RASA_HOST:-127.0.0.1}
RASA_PORT=${RASA_PORT:-5005}
ACTIONS_PORT=${ACTIONS_PORT:-5055}
CREDENTIALS=${CREDENTIALS:-credentials.yml}
WIDGET_PORT=${WIDGET_PORT:-8080}
METRICS_HOST=${METRICS_HOST:-127.0.0.1}
METRICS_PORT=${METRICS_PORT:-9100}
CONSOLE_HOST=${CONSOLE_HOST:-127.0.0.1}
CONSOLE_PORT=${CONSOLE_PORT:-8081}
MODEL_SERVER_PORT=${MODEL_SERVER_PORT:-5056}
QUICK_MODEL=models/quick.tar.gz
# The web pages allowed to talk to Rasa from a browser (CORS): the demo page, or your site's
# origin(s), space-separated.
export WIDGET_ORIGIN=${WIDGET_ORIGIN:-http://localhost:$WIDGET_PORT}

# Before starting anything: every ${VAR} the credentials file uses must be set (names them all).
if [ "${1:-}" != "shell" ]; then "$BIN/python" scripts/check_credentials.py "$CREDENTIALS"; fi

# Rasa's HTTP API (model, tracker, event endpoints) stays off unless RASA_ENABLE_API=true, and
# then only with a JWT secret: an open API lets anyone read every conversation.
api_args=()
if [ "${RASA_ENABLE_API:-false}" = "true" ]; then
  if [ -z "${RASA_JWT_SECRET:-}" ]; then
    echo "RASA_ENABLE_API=true needs RASA_JWT_SECRET (clients send 'Authorization: Bearer <JWT>')." >&2
    exit 2
  fi
  api_args=(--enable-api --jwt-secret "$RASA_JWT_SECRET" --jwt-method HS256)
fi
# 9100 is also node_exporter's port: say so now rather than after the model has loaded.
if [ "${1:-}" != "shell" ] && (exec 3<>"/dev/tcp/127.0.0.1/$METRICS_PORT") 2>/dev/null; then
  echo "Port $METRICS_PORT (the metrics) is taken by another program: choose one with METRICS_PORT=..." >&2
  exit 2
fi

# Each server runs in a session of its own (setsid), so that stopping one stops everything it
# started (Rasa's Sanic workers too); stop() signals those groups, then kills what is left.
pids=()
aside=() # started the same way, but their end does not stop the others (the model's training)
watcher=
stop() {
  trap - EXIT INT TERM HUP
  local pid
  [ -z "$watcher" ] || kill "$watcher" 2>/dev/null || true
  pids+=("${aside[@]}")
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    running || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
running() { # any process (not a zombie) left in the servers' groups
  ps -e -o pgid=,stat= | awk -v groups=" ${pids[*]} " \
    'index(groups, " " $1 " ") && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}
trap stop EXIT INT TERM HUP
start() {
  setsid "$@" &
  pids+=($!)
}
start_aside() {
  setsid "$@" &
  aside+=($!)
}

# A supervisor or `timeout` signals make alone. GNU make passes SIGTERM on to this script, but on
# SIGINT (which a terminal sends to every process of the group) it only waits for this script to
# end. So watch make: when it is gone, or its SIGINT handler has run (the signal is then back to
# its default in /proc/<pid>/status), stop as on Ctrl-C.
watch_parent() {
  local parent=$PPID started
  started=$(sigint_caught "$parent") || return 0
  while kill -0 "$parent" 2>/dev/null && [ "$(sigint_caught "$parent")" = "$started" ]; do sleep 0.5; done
  kill -TERM $$ 2>/dev/null || true
}
sigint_caught() { # 1 if process $1 catches SIGINT (bit 2 of SigCgt), else 0
  local mask
  mask=$(awk '/^SigCgt:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$mask" ] || return 1
  echo $(((16#$mask >> 1) & 1))
}

# Conversations are stored under var/ (endpoints.yml). Request bodies over 1 MB get 413 before
# they are read; messages are then cut to the channel's limit (credentials.yml).
mkdir -p var
export SANIC_REQUEST_MAX_SIZE=${SANIC_REQUEST_MAX_SIZE:-1000000}
# Rasa server processes (Sanic workers): one per core by default, at most 2 unless RASA_WORKERS says
# otherwise. They share conversations (SQLite store) and per-conversation locks (var/locks.db, which
# holds nothing between runs); docs/performance.md.
export SANIC_WORKERS=${RASA_WORKERS:-$(( $(nproc) < 2 ? 1 : 2 ))}
rm -f var/locks.db var/locks.db-wal var/locks.db-shm
# endpoints.yml names the default action server port; follow ACTIONS_PORT when it is moved.
sed "s#localhost:5055/#localhost:$ACTIONS_PORT/#" endpoints.yml > var/endpoints.yml

# No up-to-date model: a quick one now, the full one in the background (see the top of this file).
quick=false
if [ "${1:-}" != "shell" ] && [ "$MODEL" = models/assistant.tar.gz ] &&
  ! make --no-print-directory -q "$MODEL" 2>/dev/null; then
  quick=true
fi
if $quick; then
  mkdir -p var/log
  # Minutes the full training took here last time, else about 5 per DIET (this 2-core machine).
  if [ -s .rasa/full-train-seconds ]; then
    estimate=$(( ($(cat .rasa/full-train-seconds) + 59) / 60 ))
  else
    estimate=$(( 5 * $("$BIN/python" -m serving.quick_model --diets) ))
  fi
  echo "No up-to-date model yet: training a quick one first (about a minute) so that you can start."
  echo "The full model then trains in the background (about $estimate min; var/log/train.log) and the"
  echo "servers switch to it when it is ready, without a restart. (\`make train\` first avoids this.)"
  began=$(date +%s)
  "$BIN/python" -m serving.quick_model build/quick_config.yml
  rm -rf build/training-quick
  if ! "$BIN/python" -m serving.launch train --config build/quick_config.yml --out build/training-quick \
    --fixed-model-name quick >var/log/train-quick.log 2>&1; then
    echo "Training the quick model failed; see var/log/train-quick.log." >&2
    exit 1
  fi
  mv build/training-quick/quick.tar.gz "$QUICK_MODEL"
  echo "Quick model trained in $(( $(date +%s) - began )) s."
  # Rasa's model server feature: each server process asks for the newest model every 10 s.
  printf 'models:\n  url: http://127.0.0.1:%s/model\n  wait_time_between_pulls: 10\n' "$MODEL_SERVER_PORT" \
    >>var/endpoints.yml
  start_aside "$BIN/python" -m serving.model_server --port "$MODEL_SERVER_PORT" "$MODEL" "$QUICK_MODEL"
  train_full() { # $1: the estimate in minutes
    local began pid elapsed
    began=$(date +%s)
    make --no-print-directory train >var/log/train.log 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null && sleep 1; done
      kill -0 "$pid" 2>/dev/null || break
      elapsed=$(( ($(date +%s) - began) / 60 ))
      echo "  Full model: training, $elapsed min so far, about $(( $1 > elapsed ? $1 - elapsed : 1 )) min left."
    done
    if wait "$pid"; then
      echo "$(( $(date +%s) - began ))" >.rasa/full-train-seconds
      echo "  Full model trained in $(( ($(date +%s) - began + 59) / 60 )) min: the servers switch to it within seconds."
    else
      echo "  Training the full model failed (var/log/train.log); the quick model keeps answering." >&2
    fi
  }
  mkdir -p .rasa
  start_aside bash -c "$(declare -f train_full); train_full $estimate"
  MODEL=$QUICK_MODEL
fi

# The action server has no authentication: it listens on loopback only. rasa-sdk's own command is
# what `rasa run actions` runs, without importing Rasa (40 MB of memory instead of 120).
start env SANIC_HOST=127.0.0.1 "$BIN/python" -m rasa_sdk --port "$ACTIONS_PORT" --actions actions --quiet

# Rasa always starts through the launcher (serving/launch.py): the project's overrides, checked
# against the installed Rasa version, in every command (overrides/README.md).
if [ "${1:-}" = "shell" ]; then
  "$BIN/python" -m serving.launch shell -m "$MODEL" --endpoints var/endpoints.yml --quiet
  exit 0
fi
watch_parent &
watcher=$!

# Operations metrics (docs/deployment.md): every Rasa process (the Sanic workers and their parent)
# writes its counts into files of its own in this folder, and the exporter, a process of its own on
# $METRICS_PORT, sums them at each scrape. prometheus_client wants the folder emptied before the
# processes start; files of workers that exit stay until then (their counts must not vanish).
export PROMETHEUS_MULTIPROC_DIR=$PWD/var/metrics
rm -rf "$PROMETHEUS_MULTIPROC_DIR"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

read -r -a cors_origins <<<"$WIDGET_ORIGIN"
start "$BIN/python" -m serving.launch run -m "$MODEL" -i "$RASA_HOST" -p "$RASA_PORT" "${api_args[@]}" \
  --endpoints var/endpoints.yml --credentials "$CREDENTIALS" --cors "${cors_origins[@]}"

url="http://localhost:$RASA_PORT"
start "$BIN/python" -m scripts.serve_widget_demo --host "$RASA_HOST" --port "$WIDGET_PORT" --rasa-url "$url"
start "$BIN/python" -m insights.exporter --endpoints var/endpoints.yml --host "$METRICS_HOST" \
  --port "$METRICS_PORT"

# The operator console reads the same conversation database and writes data/nlu (docs/curation.md).
# Always behind a login: without CONSOLE_PASSWORD, a password for this run only.
console_note="password: \$CONSOLE_PASSWORD"
if [ -z "${CONSOLE_PASSWORD:-}" ]; then
  CONSOLE_PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  console_note="password for this run: $CONSOLE_PASSWORD"
fi
export CONSOLE_PASSWORD
start "$BIN/python" -m console --endpoints var/endpoints.yml --host "$CONSOLE_HOST" --port "$CONSOLE_PORT"
for _ in $(seq 1 180); do
  if curl -fsS "$url/" >/dev/null 2>&1; then
    cat <<MSG

  The assistant is ready.
    Talk to it:  curl -s -XPOST $url/webhooks/rest/webhook \\
                   -H 'Content-Type: application/json' \\
                   -d '{"sender": "me", "message": "does valium help with opioid withdrawal"}'
    Or in a terminal: make shell
    Website chat (demo page with the widget): http://localhost:$WIDGET_PORT
    Metrics for Prometheus: http://localhost:$METRICS_PORT/metrics
    Operator console (queue, dashboard): http://localhost:$CONSOLE_PORT  ($console_note)
  Ctrl-C stops the servers.

MSG
    if $quick; then
      echo "  It answers with the quick model until the full one is trained (progress below)."
      echo
    fi
    break
  fi
  if ! kill -0 "${pids[1]}" 2>/dev/null; then echo "The Rasa server exited; see the log above." >&2; exit 1; fi
  sleep 1
done
wait -n "${pids[@]}"
