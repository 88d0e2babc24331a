#!/bin/sh
# The fault matrix (fault_matrix.py): every fault at every phase, both
# modes, TAP, and kvcache's v1 -> v2 whose v2 cannot convert the items;
# then its section of docs/reliability.md must be what this
# run generates.
#
# usage: test_fault_matrix.sh DEVSIM DEMO_HOST_DIR REAP SOURCE_DIR RESULTS KVCACHE_DIR
set -u
devsim=$1 hosts=$2 reap=$3 src=$4 results=$5 kvcache=$6
here=$(dirname "$0")
python3 "$here/fault_matrix.py" run --devsim "$devsim" --hosts "$hosts" \
	--reap "$reap" --results "$results" --kvcache "$kvcache" --jobs 2
status=$?
python3 "$here/fault_matrix.py" doc "$results" >"$results.md"
if "$src/scripts/doc-section" --check "$src/docs/reliability.md" fault-matrix \
	<"$results.md" >"$results.diff"; then
	echo "# docs/reliability.md's fault matrix is what this run generates"
else
	echo "# docs/reliability.md's fault matrix differs from this run's; regenerate it with"
	echo "#   python3 tests/integration/fault_matrix.py doc $results |"
	echo "#   scripts/doc-section docs/reliability.md fault-matrix"
	head -40 "$results.diff" | sed 's/^/#   /'
	status=1
fi
exit "$status"
