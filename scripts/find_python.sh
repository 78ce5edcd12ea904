#!/usr/bin/env bash
# Prints a Python 3.10 interpreter: $PYTHON, pyenv's 3.10, or python3.10 on PATH. Rasa 3.6 needs 3.10.
set -u
is310() { [ -x "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; }
for candidate in "${PYTHON:-}" \
    "$(command -v pyenv >/dev/null 2>&1 && pyenv root 2>/dev/null)/versions/"3.10*/bin/python \
    "$HOME"/.pyenv/versions/3.10*/bin/python \
    "$(command -v python3.10 2>/dev/null)"; do
  if [ -n "$candidate" ] && is310 "$candidate"; then echo "$candidate"; exit 0; fi
done
echo "No Python 3.10 found: install it (e.g. 'pyenv install 3.10') or pass PYTHON=/path/to/python3.10" >&2
exit 1
