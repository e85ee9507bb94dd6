#!/usr/bin/env bash
# Instructions per whole echo (client send, server receive and send back,
# client receive; both ends in one process, over loopback, through the
# public API), measured with callgrind: the difference between a few and
# many iterations of bench/echo-count.js, divided by the difference.
# Counts user-space instructions of every thread (the kernel's work for the
# socket is not in them); independent of the machine's load, unlike
# throughput. ws uses bufferutil when it loads (set WS_NO_BUFFER_UTIL=1 for
# plain ws).
#
# Also reported: the instructions of libc's memcpy/memmove per echo, and
# those divided by the message size. glibc copies large blocks with
# `rep movsb`, which callgrind counts once per byte, so for large messages
# that quotient is close to the number of times the message's bytes were
# copied in user space (V8's TypedArray copies and wasm's memory.copy both
# end in memcpy; copies written as loops, such as masking, are not in it).
# Usage (in www/, after npm run build):
#   bench/echo-instructions.sh <ws|hybi> <size> [binary|text|deflate] [few] [many]
set -euo pipefail
cd "$(dirname "$0")/.."
impl=$1
size=$2
kind=${3:-binary}
few=${4:-5}
many=${5:-25}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Prints "total memcpy" for $1 iterations.
count() {
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1" \
    node --predictable --no-liftoff bench/echo-count.js "$impl" "$1" "$size" "$kind" >/dev/null 2>&1
  callgrind_annotate --threshold=100 "$out/cg.$1" 2>/dev/null | awk '
    /PROGRAM TOTALS/ { gsub(",", "", $1); total = $1 }
    /__mem(cpy|move)/ && !/PROGRAM/ { gsub(",", "", $1); copy += $1 }
    END { print total, copy + 0 }'
}
read -r a ca < <(count "$few")
read -r b cb < <(count "$many")
n=$((many - few))
per=$(((b - a) / n))
copy=$(((cb - ca) / n))
echo "$impl $kind $size B: $per instructions/echo, memcpy $copy ($(awk "BEGIN { printf \"%.1f\", $copy / $size }") × size)"
