#!/usr/bin/env bash
# Times `make run` from a fresh clone of this repository to its first answer over REST, as a
# newcomer would run it (install, builds, training, serving). Needs ports 5005, 5055, 5056, 8080,
# 8081 and 9100 free. Prints the seconds and the answer's first words; leaves the clone's log.
#   benchmarks/first_answer.sh [REPO]     (default: this checkout; `make bench-first-answer`)
set -uo pipefail
repo=$(cd "${1:-$(dirname "$0")/..}" && pwd)
work=$(mktemp -d /tmp/first-answer.XXXXXX)
git clone -q "$repo" "$work/main"
[ -d "$repo/../shared" ] && cp -r "$repo/../shared" "$work/shared"
cd "$work/main" || exit 1
began=$(date +%s)
setsid make run >"$work/run.log" 2>&1 &
group=$!
answer=
while [ $(($(date +%s) - began)) -lt 1800 ] && kill -0 "$group" 2>/dev/null; do
  answer=$(curl -s -m 20 -XPOST http://localhost:5005/webhooks/rest/webhook -H 'Content-Type: application/json' \
    -d '{"sender": "first-answer", "message": "does valium help with opioid withdrawal"}' 2>/dev/null)
  if grep -q '"text"' <<<"$answer"; then break; fi
  answer=
  sleep 2
done
elapsed=$(($(date +%s) - began))
kill -INT -- "-$group" 2>/dev/null
for _ in $(seq 1 30); do kill -0 "$group" 2>/dev/null || break; sleep 1; done
kill -KILL -- "-$group" 2>/dev/null
if [ -z "$answer" ]; then
  echo "No answer after $elapsed s; see $work/run.log" >&2
  exit 1
fi
echo "First answer $elapsed s after make run (fresh clone in $work): ${answer:0:120}"
grep -E "^Quick model trained" "$work/run.log" || true
