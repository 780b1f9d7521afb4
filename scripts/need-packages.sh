#!/usr/bin/env bash
# Installs the named Debian packages that are not installed yet (apt-get, with sudo when not root);
# does nothing, and needs no network, when all are present. Shared by every script that builds.
#   scripts/need-packages.sh cmake g++ libgtest-dev
set -euo pipefail
need=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "$(basename "${0}"): installing ${need[*]}" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
