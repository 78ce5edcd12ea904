#!/usr/bin/env bash
# `rasa data validate`, failing on any warning: --fail-on-warnings alone has been seen passing
# with a warning printed (RasaHQ/rasa#10079), so the output is checked too.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(.venv/bin/rasa data validate --fail-on-warnings 2>&1)
status=$?
warnings=$(grep -E "UserWarning|WARNING|ERROR" <<<"$out" | grep -v -E "DeprecationWarning|MovedIn20Warning|SAWarning")
if [ $status -ne 0 ] || [ -n "$warnings" ]; then
  echo "$out" | grep -v -E "^\s*$" | tail -40
  echo "rasa data validate: failed (status $status)" >&2
  exit 1
fi
echo "rasa data validate: no errors, no warnings"
