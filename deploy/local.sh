#!/bin/sh
# A sharded exhaustive check as N processes on this machine, then the
# merged verdict: the same run the cluster job definitions in this
# directory start on N machines (docs/sharding.md).
#
# usage: local.sh N RUN_DIR [CHECK FLAGS...]
#   RUN_DIR must not hold an earlier run's files.
# Prints the merged verdict, writes RUN_DIR/merged.json, and exits with the
# merge's code (0 holds, 1 violation, 2 a shard failed or bad input).
set -u
[ $# -ge 2 ] || { echo "usage: local.sh N RUN_DIR [CHECK FLAGS...]" >&2; exit 2; }
N=$1 RUN_DIR=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
export SHARDS="$N" RUN_DIR
pids=""
i=0
while [ "$i" -lt "$N" ]; do
	SHARD=$i "$HERE/shard.sh" --threads 1 "$@" >"$RUN_DIR.shard-$i.out" 2>&1 &
	pids="$pids $!"
	i=$((i + 1))
done
failed=0
for p in $pids; do
	wait "$p"
	c=$?
	# 0 and 1 are verdicts; anything else is a shard that did not finish.
	[ "$c" -le 1 ] || failed=1
done
[ "$failed" -eq 0 ] || { echo "local.sh: a shard failed; see $RUN_DIR.shard-*.out" >&2; exit 2; }
rm -f "$RUN_DIR".shard-*.out
"${RMAPCHECK:-rmapcheck}" merge "$RUN_DIR"/reports/shard-*.json --json "$RUN_DIR/merged.json"
