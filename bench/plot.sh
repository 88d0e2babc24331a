#!/bin/sh
# The plots of make bench, from its CSV files: one PNG per benchmark, next
# to the CSV, with gnuplot (Debian's gnuplot-nox; scripts/deps installs it).
#
#   blackout-memory.png   blackout against memory in use, both modes, with
#                         the bare-exec floor and a copy-based handover
#   blackout-devices.png  blackout against devices, both modes, with the
#                         floor and a cold restart
#   phases.png            where the blackout goes at the largest device count
#   plan.png              the planner's time per row of bench_plan
#   loss.png              the packets dropped through the updates (% of
#                         those generated) against pktgen's rate, per device
#                         count (bench_loss.sh; when loss.csv is there)
#   kvcache.png           kvcache against memcached: ops/s and p99 at 1 and
#                         4 threads, the load sharing the cores and on one
#                         of its own (bench_kvcache.sh; when kvcache.csv is
#                         there)
#
# usage: plot.sh DIR   (DIR holds blackout.csv, phases.csv, plan.csv and
#                       perhaps loss.csv and kvcache.csv)
set -eu
dir=$1
if ! command -v gnuplot >/dev/null; then
	echo "plot.sh: gnuplot not installed (scripts/deps installs gnuplot-nox): no plots" >&2
	exit 0
fi
cd "$dir"
plots=
# One series of blackout.csv as "x y" lines: plot's input.
series() {	# SERIES MODE XCOL YCOL
	awk -F, -v s="$1" -v m="$2" -v x="$3" -v y="$4" \
		'NR > 1 && $9 == s && $1 == m && $y != "" { print $x, $y }' blackout.csv
}
series memory exec 3 5 >mem-exec.dat
series memory socket 3 5 >mem-socket.dat
series memory exec 3 6 >mem-floor.dat
series memory exec 3 7 >mem-copy.dat
series devices exec 2 5 >dev-exec.dat
series devices socket 2 5 >dev-socket.dat
series devices exec 2 6 >dev-floor.dat
series devices exec 2 8 >dev-cold.dat
top=$(awk -F, 'NR > 1 { if ($2 + 0 > n) n = $2 + 0 } END { print n }' phases.csv)
# "PHASE EXEC_MS SOCKET_MS", in the order the phases come (a phase only one
# mode has is 0 in the other).
awk -F, -v n="$top" 'NR > 1 && $2 == n {
	if (!($3 in seen)) { seen[$3] = 1; order[++k] = $3 }
	ms[$1, $3] = $4
     } END { for (i = 1; i <= k; i++)
		printf "%s %s %s\n", order[i], ms["exec", order[i]] + 0, ms["socket", order[i]] + 0 }' \
	phases.csv >phases.dat
awk -F, 'NR > 1 { printf "\"%s %dk x %d\" %s\n", $1, $2 / 1000, $3, $6 }' plan.csv >plan.dat

gnuplot <<GP
set terminal png size 900,560
set grid
set key top left
set logscale xy

set output "blackout-memory.png"
set title "Blackout against memory in use (one run, medians)"
set xlabel "preserved memory in use (MiB)"
set ylabel "ms"
plot "mem-exec.dat" with linespoints title "Baton, exec mode", \
     "mem-socket.dat" with linespoints title "Baton, socket mode", \
     "mem-floor.dat" with linespoints title "bare exec holding it (floor)", \
     "mem-copy.dat" with linespoints title "copy through a pipe"

set output "blackout-devices.png"
set title "Blackout against devices (demo-host, pktgen + edu; one run, medians)"
set xlabel "pktgen devices"
set logscale x 2
plot "dev-exec.dat" with linespoints title "Baton, exec mode", \
     "dev-socket.dat" with linespoints title "Baton, socket mode", \
     "dev-floor.dat" with linespoints title "bare exec with their fds and rings (floor)", \
     "dev-cold.dat" with linespoints title "cold restart (devices reset)"

unset logscale
set output "phases.png"
set title "Where the blackout goes at $top devices (median time up to each phase's end, ms)"
set style data histograms
set style histogram clustered
set style fill solid 0.8
set xtics rotate by -45
set xlabel ""
set key top right
plot "phases.dat" using 2:xtic(1) title "exec mode", \
     "" using 3 title "socket mode"

set output "plan.png"
set title "Planner: median ms per run"
set logscale y
set key off
plot "plan.dat" using 2:xtic(1) with histogram
GP
if [ -f loss.csv ]; then
	plots=
	for n in $(awk -F, 'NR > 1 { print $1 }' loss.csv | sort -nu); do
		# Dropped while an update ran and between them (columns 8, 9), in
		# % of the packets generated (4).
		awk -F, -v n="$n" 'NR > 1 && $1 == n { print $2, 100 * ($8 + $9) / $4 }' loss.csv \
			>"loss-$n.dat"
		plots="$plots${plots:+, }\"loss-$n.dat\" with linespoints title \"$n devices\""
	done
	gnuplot <<GP
set terminal png size 900,560
set grid
set key top left
set logscale x
set output "loss.png"
set title "Packets dropped through repeated updates, against pktgen's rate (one run)"
set xlabel "packets/s per device"
set ylabel "% of the packets generated, dropped (rings full)"
plot $plots
GP
fi
kvplot=
if [ -f kvcache.csv ]; then
	kvplot=kvcache.png
	# "LABEL MC_OPS KV_OPS MC_P99 KV_P99", one line a thread count and load.
	awk -F, 'NR > 1 { k = $1 " thr, " $3; if (!(k in seen)) { seen[k] = 1; order[++n] = k }
		ops[k, $2] = $4; p99[k, $2] = $6 }
	     END { for (i = 1; i <= n; i++)
		printf "\"%s\" %s %s %s %s\n", order[i], ops[order[i], "memcached"],
		       ops[order[i], "kvcache"], p99[order[i], "memcached"], p99[order[i], "kvcache"] }' \
		kvcache.csv >kvcache.dat
	gnuplot <<GP
set terminal png size 900,800
set grid
set output "kvcache.png"
set style data histograms
set style histogram clustered
set style fill solid 0.8
set key outside below horizontal center
set yrange [0:*]
set multiplot layout 2,1 title "kvcache against memcached (kvload, 16 connections; one run, medians)"
set ylabel "ops/s"
plot "kvcache.dat" using 2:xtic(1) title "memcached", "" using 3 title "kvcache"
set ylabel "p99 latency (us)"
plot "kvcache.dat" using 4:xtic(1) title "memcached", "" using 5 title "kvcache"
unset multiplot
GP
fi
rm -f ./*.dat
echo "plots: $dir/blackout-memory.png blackout-devices.png phases.png plan.png${plots:+ loss.png}${kvplot:+ $kvplot}"
