#!/usr/bin/env bash
# A second Docker engine that cannot see this machine's temporary directories: what a CI runner's
# Docker-in-Docker, a remote engine over DOCKER_HOST or Podman look like to fpack.
#
#   lab/remote-engine.sh start [PORT]    start it (if not running); prints DOCKER_HOST=tcp://...
#   lab/remote-engine.sh load IMAGE...   copy images from the main engine into it (once: kept;
#                                        the port from FPACK_REMOTE_ENGINE_PORT, default 23750)
#   lab/remote-engine.sh stop [PORT]     stop it (its images stay in its data root)
#   lab/remote-engine.sh status [PORT]   exit 0 if it answers
#
# dockerd runs in its own mount namespace with a private tmpfs on /tmp, so a bind mount of a host
# path under /tmp (pytest's tmp_path, tempfile's directories) gives the container an empty
# directory, exactly as on an engine on another machine. It listens on loopback TCP only, with its
# own data root, exec root, pidfile and containerd namespace, and a bridge of its own made here
# (never docker0), with --iptables=false --ip-masq=false --ip-forward=false: it changes nothing of
# the host's network. Not `--bridge none`: a dockerd started with it deletes any link named docker0
# (libnetwork's removeDefaultBridgeInterface), which in the same network namespace is the main
# engine's bridge. Containers with network_mode=host (fpack's build containers) share the host's
# network, so an index on the host's loopback is reachable from them.
set -euo pipefail

PORT_DEFAULT=${FPACK_REMOTE_ENGINE_PORT:-23750}  # or pass PORT to start, stop, status
ROOT=${FPACK_REMOTE_ENGINE_ROOT:-/var/lib/fpack-lab-remote}
LOAD_TIMEOUT=${FPACK_REMOTE_LOAD_TIMEOUT:-600}  # seconds per image: docker save | docker load

log() { printf '[remote-engine] %s\n' "$*" >&2; }
die() { printf 'lab/remote-engine.sh: %s\n' "$*" >&2; exit 1; }

paths() {
  PORT=${1:-$PORT_DEFAULT}
  HOST="tcp://127.0.0.1:$PORT"
  DATA="$ROOT/$PORT/data"
  EXEC="/run/fpack-remote-$PORT"   # short: it holds unix sockets (108-byte path limit)
  PIDFILE="$ROOT/$PORT/dockerd.pid"
  LOG="$ROOT/$PORT/dockerd.log"
  CONFIG="$ROOT/$PORT/daemon.json"
  BRIDGE="fpackr$PORT"             # interface names: 15 bytes at most
  CIDR=${FPACK_REMOTE_ENGINE_CIDR:-10.199.0.1/24}
}

# The engine's own bridge, made before dockerd starts: given `--bridge NAME`, dockerd uses an
# existing link and never creates, renames or deletes docker0.
make_bridge() {
  ip link show "$BRIDGE" >/dev/null 2>&1 && return
  ip link add name "$BRIDGE" type bridge
  ip addr add "$CIDR" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

answers() { DOCKER_HOST=$HOST timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start() {
  paths "${1:-}"
  if answers; then echo "DOCKER_HOST=$HOST"; return; fi
  [ "$(id -u)" = 0 ] || die "starting dockerd needs root (unshare, mount, dockerd)"
  command -v dockerd >/dev/null || die "no dockerd: run lab/setup.sh first"
  if ss -ltn "sport = :$PORT" 2>/dev/null | grep -q LISTEN; then
    die "127.0.0.1:$PORT is taken by something that is not a Docker engine; pass another PORT"
  fi
  mkdir -p "$DATA" "$(dirname "$PIDFILE")"
  # An empty config file: the main engine's /etc/docker/daemon.json (hosts, bridge...) must not
  # apply to this one.
  echo '{}' >"$CONFIG"
  make_bridge
  log "starting dockerd on $HOST (log: $LOG)"
  # setsid and nohup: dockerd outlives this script; the tmpfs lives as long as its namespace.
  setsid nohup unshare --mount --propagation private sh -c '
      mount -t tmpfs -o mode=1777 fpack-private-tmp /tmp &&
      exec dockerd "$@"' fpack-remote-engine \
    --config-file "$CONFIG" -H "$HOST" --data-root "$DATA" --exec-root "$EXEC" \
    --pidfile "$PIDFILE" --bridge "$BRIDGE" --iptables=false --ip-masq=false --ip6tables=false \
    --ip-forward=false \
    --containerd-namespace fpack-remote --containerd-plugins-namespace fpack-remote-plugins \
    --cgroup-parent fpack-remote \
    >"$LOG" 2>&1 </dev/null &
  disown
  for _ in $(seq 1 60); do
    if answers; then echo "DOCKER_HOST=$HOST"; return; fi
    sleep 1
  done
  die "dockerd did not answer on $HOST within 60 s; see $LOG"
}

load() {
  paths ""
  answers || die "the engine on $HOST is not running: lab/remote-engine.sh start first"
  local image want have
  for image in "$@"; do
    want=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null) ||
      die "the main engine has no image $image: run lab/setup.sh --arm64 first"
    have=$(DOCKER_HOST=$HOST docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
    [ "$want" = "$have" ] && continue
    log "loading $image into $HOST"
    # Bounded: a stuck pipe must fail the lab with a message, not hang it.
    timeout "$LOAD_TIMEOUT" sh -c 'docker save "$1" | DOCKER_HOST="$2" docker load -q >/dev/null' \
      sh "$image" "$HOST" || die "copying $image into $HOST failed or took over $LOAD_TIMEOUT s"
  done
}

stop() {
  paths "${1:-}"
  [ -s "$PIDFILE" ] || { log "not running ($PIDFILE missing)"; return; }
  local pid
  pid=$(cat "$PIDFILE")
  # Only that pid, and only if it is the dockerd this script started (its pidfile argument).
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--pidfile $PIDFILE"; then
    kill "$pid"
    for _ in $(seq 1 30); do
      if ! kill -0 "$pid" 2>/dev/null; then
        ip link del "$BRIDGE" 2>/dev/null || true
        log "stopped"; return
      fi
      sleep 1
    done
    die "dockerd $pid did not stop within 30 s"
  fi
  log "pid $pid is not this engine's dockerd; nothing stopped"
}

cmd=${1:-}
shift || true
case "$cmd" in
  start) start "$@" ;;
  load) load "$@" ;;
  stop) stop "$@" ;;
  status) paths "${1:-}"; answers ;;
  *) echo "usage: lab/remote-engine.sh start [PORT] | load IMAGE... | stop [PORT] | status [PORT]" >&2
     exit 2 ;;
esac
