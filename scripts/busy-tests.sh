#!/usr/bin/env bash
# Run the tests on a busy machine, as CI may: CPU burners on every core
# (twice as many burners as cores by default, so the load average is about
# 3 x the core count with the tests' own processes), then the given command,
# by default the tests that drive real peers. The burners are stopped on the
# way out, whatever happens; the load average before and after is printed.
#
#   scripts/busy-tests.sh                                  # integration, peers, store
#   BURNERS=2 scripts/busy-tests.sh .venv/bin/python -m pytest tests/integration -x
#
# Other people may share this machine: run it once to check, not in a loop.
set -uo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
burners=${BURNERS:-$(( $(nproc) * 2 ))}
pids=()
stop_burners() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    wait "${pids[@]}" 2>/dev/null
}
trap stop_burners EXIT
trap 'exit 130' INT TERM
for _ in $(seq "$burners"); do
    "$python" -c 'while True: pass' &
    pids+=($!)
done
echo "busy-tests: $burners CPU burners on $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
if [ $# -eq 0 ]; then
    set -- env RADMFA_REQUIRE_INTEGRATION=1 "$python" -m pytest -q -p no:cacheprovider \
        tests/integration tests/peers tests/store
fi
started=$SECONDS
"$@"
status=$?
echo "busy-tests: exit $status after $(( SECONDS - started )) s; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit "$status"
