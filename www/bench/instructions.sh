#!/usr/bin/env bash
# Instructions per message through Machine.feed (+ one send each), measured
# with callgrind: the difference between 10 and 60 iterations of a chunk of
# 64 frames, divided by 50 × 64. Deterministic enough (within 0.3%) to
# compare builds on a busy machine, where throughput is not.
# Usage (in www/, after npm run build): bench/instructions.sh [binary|text] [size]
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-binary}
size=${2:-16}
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    node --predictable --no-liftoff bench/feed.js "$1" "$kind" "$size" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
few=$(count 10)
many=$(count 60)
echo "$kind $size B: $(((many - few) / (50 * 64))) instructions/message"
