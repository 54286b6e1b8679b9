#!/usr/bin/env bash
# Installs the Debian 12 packages pipeline needs to build, test and run its example,
# only those that are missing (a second run does nothing and needs no network).
set -euo pipefail
pkgs=(cmake ninja-build g++ clang pkg-config make
      libyaml-cpp-dev libspdlog-dev nlohmann-json3-dev libsqlite3-dev libcurl4-openssl-dev
      libgtest-dev libgmock-dev libcli11-dev libcpp-httplib-dev
      sqlite3 python3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
