"""Wall time of `import matdyn_nb` in a fresh interpreter (median of N runs).

Run: .venv/bin/python benchmarks/import_time.py [N]
The issue's target is under 2 s on the project's 2-core CPU machine.
"""

import statistics
import subprocess
import sys
import time


def main(n: int = 7) -> None:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import matdyn_nb"], check=True)
        times.append(time.perf_counter() - start)
    baseline = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        baseline.append(time.perf_counter() - start)
    med, base = statistics.median(times), statistics.median(baseline)
    print(f"import matdyn_nb: median {med:.3f} s over {n} runs (bare interpreter start {base:.3f} s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
