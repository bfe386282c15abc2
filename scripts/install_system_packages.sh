#!/usr/bin/env bash
# Install the Debian packages that the tests need (Chromium for the browser
# tests, Slurm and munge for the test cluster, nauty for graph enumeration)
# when running as root on a Debian-like system and they are missing.
# Elsewhere print what is missing; the tests that need it then skip with the
# reason.
set -euo pipefail

packages=(chromium chromium-driver slurm-wlm munge nauty)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "note: Debian packages ${missing[*]} are missing and cannot be installed without root;" \
         "the tests that need them will be skipped" >&2
fi
