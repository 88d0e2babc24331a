# Sourced by the integration scripts (tap.sh, host_lib.sh):
# wait_for WHAT SECONDS SHELL_EXPR: until the expression holds, looked at
# every 20 ms (or every $wait_every seconds), at most SECONDS; on giving
# up it says what it waited for.
# shellcheck shell=sh
wait_for() {
	local end
	end=$(($(date +%s) + $2))
	until eval "$3"; do
		if [ "$(date +%s)" -ge "$end" ]; then
			echo "# gave up after $2 s waiting for: $1"
			return 1
		fi
		sleep "${wait_every:-0.02}"
	done
}

