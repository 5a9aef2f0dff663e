#!/usr/bin/env bash
# Runs longlm-dist under mpirun across several "hosts" on this one machine: each host is a network namespace
# with its own address (10.77.0.1, .2, ...) on a private switch (a bridge inside one more namespace), and
# mpirun starts the remote ranks through `ip netns exec` instead of ssh. Ranks talk over TCP on that network
# only, as on a cluster. Everything is created here and deleted on exit.
#   scripts/multihost_netns.sh HOSTS longlm-dist-arguments...
# Needs root (CAP_NET_ADMIN) and iproute2; exits 77 if the namespaces cannot be made.
set -euo pipefail
hosts=${1:?usage: multihost_netns.sh HOSTS arguments...}
shift
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${LONGLM_BIN:-$repo/.build/release/longlm-dist}
tag=lh$$
work=$(mktemp -d)
cleanup() {
  for ((i = 0; i < hosts; i++)); do ip netns del "$tag-$i" 2>/dev/null || true; done
  ip netns del "$tag-sw" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
command -v ip >/dev/null && ip netns add "$tag-sw" 2>/dev/null || { echo "multihost_netns: cannot create network namespaces" >&2; exit 77; }
ip -n "$tag-sw" link add br0 type bridge
ip -n "$tag-sw" link set br0 up
: > "$work/hosts"
{
  echo '#!/bin/sh'
  echo '# rsh for mpirun: run the command in the namespace of host $1.'
  echo 'host=$1; shift'
  echo 'case "$host" in'
} > "$work/rsh"
for ((i = 0; i < hosts; i++)); do
  ns=$tag-$i address=10.77.0.$((i + 1))
  ip netns add "$ns"
  ip link add "$tag-h$i" type veth peer name "$tag-s$i"
  ip link set "$tag-h$i" netns "$ns"
  ip link set "$tag-s$i" netns "$tag-sw"
  ip -n "$ns" link set "$tag-h$i" name eth0
  ip -n "$ns" addr add "$address/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  ip -n "$tag-sw" link set "$tag-s$i" master br0
  ip -n "$tag-sw" link set "$tag-s$i" up
  echo "$address slots=1" >> "$work/hosts"
  echo "  $address) ns=$ns ;;" >> "$work/rsh"
done
{
  echo '  *) echo "rsh: unknown host $host" >&2; exit 1 ;;'
  echo 'esac'
  echo 'exec ip netns exec "$ns" /bin/sh -c "$*"'
} >> "$work/rsh"
chmod +x "$work/rsh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# rtc_hwloc_vmhole none: the daemons do not map a shared topology into a hole of their address space; that
# mapping intermittently crashed the remote daemon (SIGSEGV in hwloc_shmem_topology_write) here.
ip netns exec "$tag-0" mpirun --hostfile "$work/hosts" --mca plm_rsh_agent "$work/rsh" --mca rtc_hwloc_vmhole none \
  --mca btl self,tcp --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
  -np "$hosts" --bind-to none -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM \
  "$bin" "$@"
