#!/usr/bin/env bash
# Runs pipeline and ninja -j2 (and make -j2) on the same generated DAGs, in one go, and
# prints wall-time ratios and peak RSS. Usage: bench/run.sh [BUILD_DIR] [N]
# Ratios, not absolute times: these machines are noisy. Each measurement is the median of
# 3 runs, each in a fresh directory (no state carried over).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
n=${2:-2000}
bin="$build/pipeline"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# time_cmd DIR CMD... -> prints "seconds peak_rss_kb"
time_cmd() {
  local dir=$1; shift
  ( cd "$dir" && /usr/bin/time -f "%e %M" -o "$out/time" "$@" >/dev/null 2>&1 ) || { echo "FAILED: $*" >&2; exit 1; }
  cat "$out/time"
}

measure() {  # measure TOOL SHAPE -> "median_seconds max_rss"
  local tool=$1 shape=$2 t=() r=()
  for i in 1 2 3; do
    local d="$out/$tool-$shape-$i"
    rm -rf "$d"; cp -r "$out/$shape" "$d"
    case $tool in
      pipeline) read -r s m < <(time_cmd "$d" "$bin" run dag.yaml -j 2) ;;
      ninja) read -r s m < <(time_cmd "$d" ninja -j 2) ;;
      make) read -r s m < <(time_cmd "$d" make -j 2) ;;
    esac
    t+=("$s"); r+=("$m")
  done
  printf '%s %s\n' "$(printf '%s\n' "${t[@]}" | median)" "$(printf '%s\n' "${r[@]}" | sort -n | tail -1)"
}

printf '%-12s %6s | %9s %9s %9s | %10s %10s | %11s\n' shape tasks pipeline ninja make "pl/ninja" "pl/make" "pl peak RSS"
for shape in independent chain layered; do
  python3 "$here/gen.py" "$shape" "$n" "$out/$shape"
  read -r ps pm < <(measure pipeline "$shape")
  read -r ns nm < <(measure ninja "$shape")
  read -r ms mm < <(measure make "$shape")
  # every attempt must have been committed
  rows=$(sqlite3 "$out/pipeline-$shape-1/.pipeline/pipeline.db" "SELECT count(*) FROM task_attempts WHERE state='succeeded'")
  [ "$rows" = "$n" ] || { echo "expected $n committed attempts, found $rows" >&2; exit 1; }
  printf '%-12s %6d | %8.2fs %8.2fs %8.2fs | %9.2fx %9.2fx | %8d KB\n' "$shape" "$n" "$ps" "$ns" "$ms" \
    "$(awk "BEGIN{print $ps/$ns}")" "$(awk "BEGIN{print $ps/$ms}")" "$pm"
done

# Peak RSS at 10,000 tasks (independent shape).
python3 "$here/gen.py" independent 10000 "$out/big"
read -r s m < <(time_cmd "$out/big" "$bin" run dag.yaml -j 2)
echo "10,000 independent tasks: ${s}s, peak RSS ${m} KB"

# Validation cost vs yaml-cpp's bare parse of the same 10k-task file.
python3 "$here/gen.py" layered 10000 "$out/v"
t_parse=(); t_val=()
for i in 1 2 3 4 5; do
  read -r s _ < <(time_cmd "$out/v" "$build/bench/yaml_parse" dag.yaml); t_parse+=("$s")
  read -r s _ < <(time_cmd "$out/v" "$bin" validate -q dag.yaml); t_val+=("$s")
done
p=$(printf '%s\n' "${t_parse[@]}" | median); v=$(printf '%s\n' "${t_val[@]}" | median)
printf '10,000-task validate: pipeline %.3fs, yaml-cpp YAML::LoadFile %.3fs, ratio %.2fx\n' "$v" "$p" "$(awk "BEGIN{print $v/$p}")"
