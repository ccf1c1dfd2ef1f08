#!/usr/bin/env bash
# Two-process training over emulated network links: benchmarks/train_ddp.py --modes 3 with the
# loopback interface capped by a token bucket at each rate in turn (root and iproute2's tc needed;
# the cap is removed on exit, also on error or Ctrl-C).
# Usage: sudo bash benchmarks/train_ddp_links.sh [PRESET [STEPS [RATE...]]]
#        RATE as tc writes it (10gbit, 1gbit, 100mbit) or none;
#        defaults: nanoparticles-small 16 none 10gbit 1gbit 100mbit
set -euo pipefail
preset=${1:-nanoparticles-small}
steps=${2:-16}
rates=("${@:3}")
((${#rates[@]})) || rates=(none 10gbit 1gbit 100mbit)
python=${PYTHON:-.venv/bin/python}
trap 'tc qdisc del dev lo root 2>/dev/null || true' EXIT
for rate in "${rates[@]}"; do
    tc qdisc del dev lo root 2>/dev/null || true
    if [[ $rate != none ]]; then
        bits=$(numfmt --from=si "$(tr '[:lower:]' '[:upper:]' <<<"${rate%bit}")")
        # A burst of 10 ms at the rate (at least 64 kB, one loopback packet) keeps tbf exact.
        burst=$((bits / 800 > 65536 ? bits / 800 : 65536))
        tc qdisc add dev lo root tbf rate "$rate" burst "$burst" latency 100ms
    fi
    "$python" benchmarks/train_ddp.py --preset "$preset" --steps "$steps" --rounds 2 --modes 3 | tail -n 4
done
