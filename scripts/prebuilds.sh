#!/usr/bin/env bash
# Builds every prebuild that ships, from the same sources and flags (binding.gyp, native/):
#   prebuilds/linux-x64/peercomm.glibc.node    this machine's gcc
#   prebuilds/linux-arm64/peercomm.glibc.node  Debian's gcc-aarch64-linux-gnu (cross)
# N-API (one binary serves every Node version with N-API 8), stripped, tagged glibc so that
# node-gyp-build never offers them on musl (Alpine), where no prebuild is shipped (none tested).
# Each target is built in a scratch copy of the sources, so build/ (a local build, which
# node-gyp-build prefers) is left alone. Needs: gcc, make, python3, gcc-aarch64-linux-gnu.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# node-gyp must build against the headers that come with this Node (no download).
if [ -z "${npm_config_nodedir:-}" ]; then
  prefix=$(dirname "$(dirname "$(command -v node)")")
  [ -f "$prefix/include/node/node_api.h" ] && export npm_config_nodedir="$prefix"
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# build ARCH CROSS_PREFIX (empty for this machine)
build() {
  local arch=$1 cross=$2 dir="$scratch/$1"
  mkdir -p "$dir"
  cp -r package.json binding.gyp native "$dir/"
  rm -rf "prebuilds/linux-$arch"
  CC="${cross}gcc" CXX="${cross}g++" LINK="${cross}gcc" \
    npx --no-install prebuildify --napi --strip --strip-bin "${cross}strip" --tag-libc \
      --arch "$arch" --cwd "$dir" --out "$root"
  local out="prebuilds/linux-$arch/peercomm.glibc.node"
  test -f "$out"
  echo "$out: $(stat -c %s "$out") bytes"
}

build x64 ""
build arm64 aarch64-linux-gnu-
