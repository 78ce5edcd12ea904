#!/usr/bin/env bash
# Installs the production profile's daemons (PostgreSQL, Redis, nginx) from Debian, only when missing.
# Idempotent: a machine that has them runs no apt-get at all.
set -euo pipefail

packages=(postgresql redis-server nginx)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${missing[*]}. Install them as root:" >&2
  echo "  apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

# The packages' install scripts would start the stock daemons (nginx on 0.0.0.0:80, a default
# PostgreSQL cluster); the profile starts its own on loopback, so forbid that while installing.
policy=/usr/sbin/policy-rc.d
added_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  added_policy=1
fi
cleanup() { if [ -n "$added_policy" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

echo "Installing ${missing[*]} (Debian packages for the production profile)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
