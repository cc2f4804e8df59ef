#!/bin/sh
# Builds and runs tools/zap-batch-live.c with 16 kB anonymous mTHP set to
# `always`, under the lock rmapcheck-exec takes (/run/rmapcheck-exec.lock,
# so no conformance run changes the knobs meanwhile), and puts the knob
# back on every exit but SIGKILL. Root only.
set -e
dir=$(dirname "$0")
bin=$(mktemp /tmp/zap-batch-live.XXXXXX)
cc -O1 -Wall -o "$bin" "$dir/zap-batch-live.c"
knob=/sys/kernel/mm/transparent_hugepage/hugepages-16kB/enabled
exec 9>/run/rmapcheck-exec.lock
flock 9
old=$(sed 's/.*\[\(.*\)\].*/\1/' "$knob")
trap 'echo "$old" > "$knob"; rm -f "$bin"' EXIT
trap 'exit 1' INT TERM HUP
echo always > "$knob"
"$bin"
