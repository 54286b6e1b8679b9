#!/usr/bin/env bash
# Hashing throughput: pipeline's HashPath (SHA-NI when the CPU has it) vs coreutils sha256sum,
# on a 1 GiB file of random data in $TMPDIR (page-cached after the first read, so this measures
# hashing, not the disk). Median of 3 runs each, via /usr/bin/time: wall time, and CPU time
# (user+sys), which is what to compare on a busy shared machine. Checks the digests match.
# Usage: bench/hash.sh [BUILD_DIR]   (a Release/RelWithDebInfo build is what you want to time)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
bin="$build/bench/hash_bench"
[ -x "$bin" ] || { echo "no $bin: cmake --build $build --target hash_bench" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/hash-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT
file="$work/random.bin"

head -c $((1 << 30)) /dev/urandom > "$file"
cat "$file" > /dev/null  # warm the page cache for both tools

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() {  # timed CMD... -> "wall cpu" seconds on stdout; CMD's stdout in $work/out
  /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" > "$work/out" 2>/dev/null
  awk '{printf "%s %.2f\n", $1, $2 + $3}' "$work/time"
}

t_pl=(); t_ss=(); t_port=(); c_pl=(); c_ss=(); c_port=()
for _ in 1 2 3; do
  read -r w c < <(timed "$bin" "$file"); t_pl+=("$w"); c_pl+=("$c"); d_pl=$(cut -d' ' -f1 "$work/out")
  read -r w c < <(timed sha256sum "$file"); t_ss+=("$w"); c_ss+=("$c"); d_ss=$(cut -d' ' -f1 "$work/out")
  read -r w c < <(timed "$bin" "$file" --portable); t_port+=("$w"); c_port+=("$c"); d_port=$(cut -d' ' -f1 "$work/out")
done
[ "$d_pl" = "$d_ss" ] && [ "$d_port" = "$d_ss" ] || {
  echo "DIGEST MISMATCH: hash_bench $d_pl, portable $d_port, sha256sum $d_ss" >&2; exit 1; }

med() { printf '%s\n' "$@" | median; }
pl=$(med "${t_pl[@]}"); ss=$(med "${t_ss[@]}"); port=$(med "${t_port[@]}")
cpl=$(med "${c_pl[@]}"); css=$(med "${c_ss[@]}"); cport=$(med "${c_port[@]}")
mbps() { awk -v s="$1" 'BEGIN { if (s > 0) printf "%5.0f MB/s", 1073741824 / s / 1e6; else print "n/a" }'; }
echo "1 GiB random file, median of 3 (/usr/bin/time; load average: $(cut -d' ' -f1 /proc/loadavg)):"
printf '  %-34s %7s %11s | %7s %11s\n' "" wall "" "cpu" ""
printf '  %-34s %6.2fs %s | %6.2fs %s\n' "hash_bench (SHA-NI if available)" "$pl" "$(mbps "$pl")" "$cpl" "$(mbps "$cpl")"
printf '  %-34s %6.2fs %s | %6.2fs %s\n' "hash_bench --portable" "$port" "$(mbps "$port")" "$cport" "$(mbps "$cport")"
printf '  %-34s %6.2fs %s | %6.2fs %s\n' "sha256sum" "$ss" "$(mbps "$ss")" "$css" "$(mbps "$css")"
printf '  speedup vs sha256sum: %.2fx wall, %.2fx cpu; digests match: %s\n' \
  "$(awk "BEGIN{print $ss/$pl}")" "$(awk "BEGIN{print $css/$cpl}")" "$d_ss"
