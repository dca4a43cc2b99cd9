#!/usr/bin/env bash
# Installs the Debian packages memtrace needs to build (the BPF programs are
# compiled with clang; libbpf is built from source against libelf and zlib).
# Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(clang libelf-dev zlib1g-dev pkg-config make)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
