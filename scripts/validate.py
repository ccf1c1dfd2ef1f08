"""Run a case-study notebook at a given size and seeds, and keep its closing table.

Usage: .venv/bin/python scripts/validate.py notebooks/02_nanoparticle_diffusion.ipynb [--mode standard] [--seeds 0 1 2]

Each run is ``python -m matdyn_nb run NOTEBOOK --mode MODE --seed S`` (matdyn_nb.notebooks:
nbclient executes the notebook top to bottom, as JupyterLab would, with MATDYN_NB_MODE and
MATDYN_NB_SEED set; its last cell writes the "paper / ours / truth" table). The report goes to
a temporary folder; the table, the wall time and the machine are written to
docs/validation/<notebook>-<mode>-seed<S>.json, which docs/validation.md quotes.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from matdyn_nb.notebooks import MODES, format_table, run_notebook

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="a path, a number (02) or a name (nanoparticles)")
    parser.add_argument("--mode", default="standard", choices=MODES)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    out = ROOT / "docs" / "validation"
    out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            run = run_notebook(args.notebook, mode=args.mode, seed=seed, out=tmp)
        if run.table is None:
            sys.exit(f"{run.notebook.name} wrote no closing table (MATDYN_NB_RESULTS)")
        summary = run.summary()
        path = out / f"{run.notebook.stem}-{args.mode}-seed{seed}.json"
        path.write_text(json.dumps(summary, indent=1))
        print(f"{path.relative_to(ROOT)}: {summary['minutes']} min\n{format_table(run.table)}")


if __name__ == "__main__":
    main()
