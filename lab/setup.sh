#!/usr/bin/env bash
# Brings up the fpack test lab on this machine: a Docker engine and Debian-built Python base images.
#
# Registries such as Docker Hub cannot be reached from the lab, so every image the tests run is built
# here from Debian with debootstrap, once per machine: a rootfs tarball is cached under
# $FPACK_LAB_CACHE and an image is imported only when `docker image inspect` does not find it.
#
#   lab/setup.sh            engine + the amd64 images (Python 3.9, 3.11, 3.13)
#   lab/setup.sh --arm64    also the arm64 image (qemu-user-static; slow the first time)
set -euo pipefail

CACHE=${FPACK_LAB_CACHE:-/var/cache/fpack-lab}
MIRROR=${FPACK_LAB_MIRROR:-http://deb.debian.org/debian}
WANT_ARM64=0
for arg in "$@"; do
  case "$arg" in
    --arm64) WANT_ARM64=1 ;;
    *) echo "lab/setup.sh: unknown option $arg (expected --arm64)" >&2; exit 2 ;;
  esac
done

log() { printf '[lab] %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "lab/setup.sh: the lab installs Debian packages and starts dockerd: run it as root" >&2
    exit 2
  fi
}

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v readelf >/dev/null || missing+=(binutils)
  command -v docker-registry >/dev/null || [ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
  if [ "$WANT_ARM64" = 1 ]; then
    [ -e /usr/bin/qemu-aarch64-static ] || missing+=(qemu-user-static)
    command -v update-binfmts >/dev/null || missing+=(binfmt-support)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    need_root
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

start_docker() {
  if docker info >/dev/null 2>&1; then return; fi
  need_root
  log "starting dockerd (log: /var/log/fpack-lab-dockerd.log)"
  # setsid and disown: dockerd must outlive this script and must not be one of its jobs, or
  # waiting for the image builds below would wait for dockerd too, forever.
  setsid nohup dockerd >/var/log/fpack-lab-dockerd.log 2>&1 </dev/null &
  disown
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 1
  done
  echo "lab/setup.sh: dockerd did not come up in 60 s; see /var/log/fpack-lab-dockerd.log" >&2
  exit 1
}

enable_arm64() {
  [ -d /proc/sys/fs/binfmt_misc ] || return 0
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    echo "lab/setup.sh: qemu-aarch64 is not registered with binfmt_misc; arm64 containers cannot run" >&2
    exit 1
  fi
}

# rootfs SUITE ARCH EXTRA_PACKAGES -> prints the path of a cached rootfs tarball
rootfs() {
  local suite=$1 arch=$2 extra=$3
  local key="${suite}-${arch}-$(printf '%s' "$extra" | md5sum | cut -c1-8)"
  local tar="$CACHE/$key.tar"
  if [ ! -s "$tar" ]; then
    need_root
    mkdir -p "$CACHE"
    local dir
    dir=$(mktemp -d "$CACHE/.rootfs-$key.XXXXXX")
    log "debootstrap $suite ($arch): a few minutes, once per machine"
    debootstrap --variant=minbase --arch="$arch" \
      --include="python3,python3-venv,python3-pip,ca-certificates${extra:+,$extra}" \
      "$suite" "$dir" "$MIRROR" >"$dir.log" 2>&1 || {
        echo "lab/setup.sh: debootstrap $suite $arch failed; see $dir.log" >&2; exit 1; }
    rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*
    tar -C "$dir" -cf "$tar.tmp" .
    mv "$tar.tmp" "$tar"   # written last: a cached tarball is always whole
    rm -rf "$dir" "$dir.log"
  fi
  printf '%s\n' "$tar"
}

# image NAME SUITE ARCH [EXTRA_PACKAGES]
image() {
  local name=$1 suite=$2 arch=$3 extra=${4:-}
  if docker image inspect "$name" >/dev/null 2>&1; then return; fi
  local tar
  tar=$(rootfs "$suite" "$arch" "$extra")
  log "importing $name"
  if [ "$arch" = amd64 ]; then
    docker import -c 'CMD ["python3"]' "$tar" "$name" >/dev/null
  else
    # `docker import` would record the image as amd64; a FROM scratch build records the platform.
    local ctx
    ctx=$(mktemp -d)
    ln "$tar" "$ctx/rootfs.tar" 2>/dev/null || cp "$tar" "$ctx/rootfs.tar"
    printf 'FROM scratch\nADD rootfs.tar /\nCMD ["python3"]\n' >"$ctx/Dockerfile"
    DOCKER_BUILDKIT=0 docker build -q --platform "linux/$arch" -t "$name" "$ctx" >/dev/null 2>&1
    rm -rf "$ctx"
  fi
}

# build_image NAME BASE PLATFORM: BASE plus a C compiler and Python headers, for the packages
# fpack must compile from source. Made with apt-get in a container (plain-http apt reaches the
# mirror from containers) and saved to $CACHE, so a lost image is reloaded rather than rebuilt.
build_image() {
  local name=$1 base=$2 platform=$3
  if docker image inspect "$name" >/dev/null 2>&1; then return; fi
  local tar="$CACHE/build-$(printf '%s' "$name" | tr '/:' '__').tar"
  if [ -s "$tar" ]; then
    log "loading $name"
    docker load -q -i "$tar" >/dev/null
    return
  fi
  need_root
  mkdir -p "$CACHE"
  local ctx
  ctx=$(mktemp -d)
  printf 'FROM %s\nRUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends build-essential python3-dev >/dev/null && rm -rf /var/lib/apt/lists/*\n' \
    "$base" >"$ctx/Dockerfile"
  log "building $name from $base for $platform (once per machine; minutes under qemu)"
  DOCKER_BUILDKIT=0 docker build -q --platform "$platform" -t "$name" "$ctx" >"$ctx.log" 2>&1 || {
    echo "lab/setup.sh: building $name failed; see $ctx.log" >&2; exit 1; }
  docker save -o "$tar.tmp" "$name"
  mv "$tar.tmp" "$tar"   # written last: a cached image tarball is always whole
  rm -rf "$ctx" "$ctx.log"
}

# A plain `wait` returns 0 whatever the jobs did: wait for each PID given, and fail if any failed.
# Only the PIDs given: a bare `jobs -p` would include any long-lived process started in the background.
wait_for() {
  local failed=0 pid
  for pid in "$@"; do wait "$pid" || failed=1; done
  [ "$failed" = 0 ] || { echo "lab/setup.sh: an image failed to build (see above)" >&2; exit 1; }
}

install_packages
start_docker
# Runtime images: what a function runs on. Build images add a compiler for source-only packages.
pids=()
image fpack-lab/python:3.9 bullseye amd64 & pids+=($!)
image fpack-lab/python:3.11 bookworm amd64 & pids+=($!)
image fpack-lab/python:3.13 trixie amd64 & pids+=($!)
wait_for "${pids[@]}"
if [ "$WANT_ARM64" = 1 ]; then
  enable_arm64
  image fpack-lab/python:3.11-arm64 bookworm arm64
fi
pids=()
build_image fpack-lab/build:3.11 fpack-lab/python:3.11 linux/amd64 & pids+=($!)
build_image fpack-lab/build:3.13 fpack-lab/python:3.13 linux/amd64 & pids+=($!)
wait_for "${pids[@]}"
if [ "$WANT_ARM64" = 1 ]; then
  build_image fpack-lab/build:3.11-arm64 fpack-lab/python:3.11-arm64 linux/arm64
fi
log "ready: $(docker images --format '{{.Repository}}:{{.Tag}}' 'fpack-lab/*' | sort | tr '\n' ' ')"
