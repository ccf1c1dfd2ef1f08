"""Run a case-study notebook at a given size and seed, and keep its closing table.

Usage: .venv/bin/python scripts/validate.py notebooks/02_nanoparticle_diffusion.ipynb [--mode standard] [--seeds 0 1 2]

Each run executes the notebook top to bottom (nbclient, as JupyterLab would) with
MATDYN_NB_MODE, MATDYN_NB_SEED and MATDYN_NB_RESULTS set; the notebook's last cell writes its
"paper / ours / truth" table there. The tables, the wall time and the machine are written to
docs/validation/<notebook>-<mode>-seed<S>.json; docs/validation.md quotes them.
"""

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def run(notebook: Path, mode: str, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results.json"
        os.environ.update(MATDYN_NB_MODE=mode, MATDYN_NB_SEED=str(seed), MATDYN_NB_RESULTS=str(results),
                          TQDM_DISABLE="1")  # fmt: skip
        nb = nbformat.read(notebook, 4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": tmp}}).execute()
        minutes = (time.perf_counter() - start) / 60
        table = json.loads(results.read_text())
    return {
        "notebook": notebook.name,
        "mode": mode,
        "seed": seed,
        "minutes": round(minutes, 1),
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores",
        "table": table,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--mode", default="standard", choices=["small", "standard", "paper"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    out = ROOT / "docs" / "validation"
    out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        summary = run(args.notebook.resolve(), args.mode, seed)
        path = out / f"{args.notebook.stem}-{args.mode}-seed{seed}.json"
        path.write_text(json.dumps(summary, indent=1))
        print(f"{path.relative_to(ROOT)}: {summary['minutes']} min")
        for quantity, values in summary["table"]["ours (this run)"].items():
            print(f"  {quantity}: {values}")


if __name__ == "__main__":
    main()
