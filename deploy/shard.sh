#!/bin/sh
# One shard of a sharded exhaustive check (docs/sharding.md).
#
# usage: shard.sh [CHECK FLAGS...]
# environment:
#   SHARD     this shard's index I (default: $JOB_COMPLETION_INDEX on a
#             Kubernetes Indexed Job, $SLURM_PROCID under srun)
#   SHARDS    the number of shards N (default: $SLURM_NTASKS under srun)
#   RUN_DIR   a directory every shard can read and write (a shared volume):
#             the exchange goes to RUN_DIR/exchange, this shard's JSON report
#             to RUN_DIR/reports/shard-I.json
#   RMAPCHECK the binary (default: rmapcheck on PATH)
#
# Every shard of a run must run at the same time (they meet at the end of
# every BFS level) with the same binary and the same CHECK FLAGS. Exit
# code: the check's (0 holds, 1 violation, 2 bad input or a failed shard).
set -eu
I=${SHARD:-${JOB_COMPLETION_INDEX:-${SLURM_PROCID:-}}}
N=${SHARDS:-${SLURM_NTASKS:-}}
[ -n "$I" ] && [ -n "$N" ] && [ -n "${RUN_DIR:-}" ] || {
	echo "shard.sh: set SHARD (or run as an indexed job), SHARDS and RUN_DIR" >&2
	exit 2
}
mkdir -p "$RUN_DIR/reports"
exec "${RMAPCHECK:-rmapcheck}" check --quiet --shard "$I/$N" --exchange "$RUN_DIR/exchange" \
	--json "$RUN_DIR/reports/shard-$I.json" "$@"
