#!/usr/bin/env bash
# Runs tools/kswapd-by-hand.py on scenario files with a zram swap device at
# priority 200 and page-cluster 0, restored afterwards (needs mkswap from
# util-linux, root, a cgroup-v1 memory controller and zram).
set -u
PC=$(cat /proc/sys/vm/page-cluster)
Z=$(cat /sys/class/zram-control/hot_add)
cleanup(){ swapoff /dev/zram$Z 2>/dev/null; echo 1 > /sys/block/zram$Z/reset; echo $Z > /sys/class/zram-control/hot_remove; echo $PC > /proc/sys/vm/page-cluster; sleep 0.2; rmdir /sys/fs/cgroup/memory/rmapcheck-kswapd 2>/dev/null; }
trap cleanup EXIT INT TERM
echo 16M > /sys/block/zram$Z/disksize
mkswap /dev/zram$Z >/dev/null && swapon -p 200 /dev/zram$Z && echo 0 > /proc/sys/vm/page-cluster
for f in "$@"; do echo "== $f"; python3 "$(dirname "$0")/kswapd-by-hand.py" $f; done
