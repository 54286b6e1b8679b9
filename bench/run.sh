#!/usr/bin/env bash
# Runs pipeline and ninja -j2 (and make -j2) on the same generated DAGs, in one go, and
# prints wall-time ratios and peak RSS. Usage: bench/run.sh [BUILD_DIR] [N] [ROUNDS]
# Ratios, not absolute times: these machines are noisy, and their speed drifts over
# minutes. So the three tools run interleaved, round after round (each run in a fresh
# directory, no state carried over); a ratio is taken within each round, between runs
# seconds apart, and the table shows the median over ROUNDS (default 5) rounds, with the
# lowest and highest round in brackets.
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

rounds=${3:-5}
run_one() {  # run_one TOOL SHAPE ROUND -> "seconds peak_rss_kb"
  local tool=$1 shape=$2 d="$out/$1-$2-$3"
  rm -rf "$d"; cp -r "$out/$shape" "$d"
  case $tool in
    pipeline) time_cmd "$d" "$bin" run dag.yaml -j 2 ;;
    ninja) time_cmd "$d" ninja -j 2 ;;
    make) time_cmd "$d" make -j 2 ;;
  esac
}
ratio() { awk "BEGIN{printf \"%.3f\", $1/$2}"; }
spread() { sort -n | awk '{a[NR]=$1} END {printf "%.2fx [%.2f-%.2f]", a[int((NR+1)/2)], a[1], a[NR]}'; }

printf '%-12s %6s | %8s %8s %8s | %-19s %-19s | %11s\n' shape tasks pipeline ninja make "pl/ninja [range]" "pl/make [range]" "pl peak RSS"
for shape in independent chain layered; do
  python3 "$here/gen.py" "$shape" "$n" "$out/$shape"
  pt=(); nt=(); mt=(); rn=(); rm_=(); rss=0
  for i in $(seq "$rounds"); do
    read -r ps pm < <(run_one pipeline "$shape" "$i")
    read -r ns _ < <(run_one ninja "$shape" "$i")
    read -r ms _ < <(run_one make "$shape" "$i")
    pt+=("$ps"); nt+=("$ns"); mt+=("$ms"); rn+=("$(ratio "$ps" "$ns")"); rm_+=("$(ratio "$ps" "$ms")")
    [ "$pm" -gt "$rss" ] && rss=$pm
    # every attempt must have been committed
    rows=$(sqlite3 "$out/pipeline-$shape-$i/.pipeline/pipeline.db" "SELECT count(*) FROM task_attempts WHERE state='succeeded'")
    [ "$rows" = "$n" ] || { echo "expected $n committed attempts, found $rows" >&2; exit 1; }
  done
  printf '%-12s %6d | %7.2fs %7.2fs %7.2fs | %-19s %-19s | %8d KB\n' "$shape" "$n" \
    "$(printf '%s\n' "${pt[@]}" | median)" "$(printf '%s\n' "${nt[@]}" | median)" "$(printf '%s\n' "${mt[@]}" | median)" \
    "$(printf '%s\n' "${rn[@]}" | spread)" "$(printf '%s\n' "${rm_[@]}" | spread)" "$rss"
done

# Peak RSS at 10,000 tasks (independent shape), and the ratio to ninja there (one round:
# a long DAG must not cost more per task than a short one).
python3 "$here/gen.py" independent 10000 "$out/big"
cp -r "$out/big" "$out/big-ninja"
read -r s m < <(time_cmd "$out/big" "$bin" run dag.yaml -j 2)
read -r ns _ < <(time_cmd "$out/big-ninja" ninja -j 2)
echo "10,000 independent tasks: ${s}s (ninja ${ns}s, $(ratio "$s" "$ns")x), peak RSS ${m} KB"

# Validation cost vs yaml-cpp's bare parse of the same 10k-task file.
python3 "$here/gen.py" layered 10000 "$out/v"
t_parse=(); t_val=()
for i in 1 2 3 4 5; do
  read -r s _ < <(time_cmd "$out/v" "$build/bench/yaml_parse" dag.yaml); t_parse+=("$s")
  read -r s _ < <(time_cmd "$out/v" "$bin" validate -q dag.yaml); t_val+=("$s")
done
p=$(printf '%s\n' "${t_parse[@]}" | median); v=$(printf '%s\n' "${t_val[@]}" | median)
printf '10,000-task validate: pipeline %.3fs, yaml-cpp YAML::LoadFile %.3fs, ratio %.2fx\n' "$v" "$p" "$(awk "BEGIN{print $v/$p}")"
