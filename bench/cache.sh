#!/usr/bin/env bash
# Caching overhead per task: N tasks that each write a small file, run (1) without declaring
# it, (2) declaring it as an output (hashing, content store, lineage, cache entry), and (3)
# the same DAG again, where every task is reused from the cache. Median of 3 each, fresh dirs.
# Usage: bench/cache.sh [BUILD_DIR] [N]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
n=${2:-500}
bin="$build/pipeline"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

gen() {  # gen DIR declare(0|1)
  mkdir -p "$1/out"
  python3 - "$1" "$2" "$n" <<'PY'
import sys
d, declare, n = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
with open(f"{d}/dag.yaml", "w") as f:
    f.write("dag: cache_bench\ntasks:\n")
    for i in range(n):
        f.write(f"  t{i}:\n")
        if declare:
            f.write(f"    command: echo {i} > {{{{ outputs.out }}}}\n    outputs: {{out: out/t{i}.txt}}\n")
        else:
            f.write(f"    command: echo {i} > out/t{i}.txt\n")
PY
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { ( cd "$1" && /usr/bin/time -f "%e" -o "$out/t" "$bin" run dag.yaml -j 2 >/dev/null 2>&1 ); cat "$out/t"; }

plain=(); declared=(); cached=()
for i in 1 2 3; do
  gen "$out/p$i" 0; gen "$out/d$i" 1
  plain+=("$(timed "$out/p$i")")
  declared+=("$(timed "$out/d$i")")
  cached+=("$(timed "$out/d$i")")
done
p=$(printf '%s\n' "${plain[@]}" | median); d=$(printf '%s\n' "${declared[@]}" | median); c=$(printf '%s\n' "${cached[@]}" | median)
hits=$(sqlite3 "$out/d1/.pipeline/pipeline.db" "SELECT count(*) FROM task_attempts WHERE state='cached'")
[ "$hits" = "$n" ] || { echo "expected $n cache hits, got $hits" >&2; exit 1; }
awk -v n="$n" -v p="$p" -v d="$d" -v c="$c" 'BEGIN {
  printf "%d tasks writing one small file each, -j 2\n", n
  printf "  no outputs declared:           %.2fs\n", p
  printf "  outputs declared (first run):  %.2fs  -> caching overhead %.2f ms/task (%.2fx)\n", d, (d-p)*1000/n, d/p
  printf "  second run, all cached:        %.2fs  -> %.2f ms/task, %.1fx faster than running\n", c, c*1000/n, d/c
}'
