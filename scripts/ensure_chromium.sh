#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests when it is missing (`playwright install` downloads
# its own browser build, which cannot be fetched here; Playwright drives the system one instead).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then exit 0; fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version 2>/dev/null
