"""The latent Monte Carlo on 1 and 2 dask workers, and a projection of the paper's brass run.

Run (alone on the machine): .venv/bin/python benchmarks/variations_dask.py [--json out.json]

Each run is ``sample_variations`` streamed to a fresh zarr store (keep_images="none", the
paper-scale mode) with the brass filters (IOU >= 0.5 and mass deviation <= 20 %, gamma
0.5) on the shipped ``brass-small``, and with the entropy filter on ``nanoparticles-small``:
in this process with 1 torch thread, then on a ``LocalCluster`` of 1 and of 2 worker
processes with 1 thread each. Chunks are small (2 and 4 references) so a run has 8-12
tasks: the first chunk of a new store runs alone (it creates the store), then the rest in
parallel. dask's nanny starts workers with OMP_NUM_THREADS=1, so torch
runs 1 thread per worker (printed, as seen on the workers). Workers load the model before
the clock starts; cluster start-up is not counted. The stores of all runs are compared
byte for byte.

The projection: the paper's brass run is 3000 references x 400 samples (401 volumes per
reference). Per worker it takes (3000 x 401) / (volumes per CPU second of one worker)
seconds (CPU time, so the figure holds on a busy machine too); the
paper's brass generator (``GANConfig.preset("brass", "paper")``, random weights) is timed
with 1 thread beside the shipped one, and its extra decoding time per volume is added.
Report ratios and throughputs, never absolute-time asserts.
"""

import argparse
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from matdyn_nb.gan import GANConfig, Generator, pretrained_model
from matdyn_nb.latent import sample_variations
from matdyn_nb.latent._dask import worker_model
from matdyn_nb.metrics import EntropyDiff, IoU, MassDeviation
from matdyn_nb.versions import cpu_description

CASES = {
    "brass-small": dict(
        n_references=24, n_samples=40, chunk=2, gamma=0.5, metrics=[IoU(), MassDeviation()],
        filters="iou >= 0.5 and mass_dev <= 0.2",
    ),
    "nanoparticles-small": dict(
        n_references=32, n_samples=32, chunk=4, gamma=1.0, metrics=[EntropyDiff()], filters="entropy_diff <= 0.2",
    ),
}  # fmt: skip
PAPER_BRASS = (3000, 400)


def files(store: Path) -> str:
    digest = hashlib.sha256()
    for f in sorted(p for p in store.rglob("*") if p.is_file()):
        digest.update(str(f.relative_to(store)).encode() + f.read_bytes())
    return digest.hexdigest()


def cpu_seconds(client=None) -> float:
    """CPU time of this process, or summed over the workers' processes."""
    return time.process_time() if client is None else sum(client.run(time.process_time).values())


def timed_run(model, case: dict, store: Path, client=None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the processes that decode) of one run."""
    start, cpu = time.perf_counter(), cpu_seconds(client)
    sample_variations(model, rng=0, store=store, client=client, progress=False, **case)
    return time.perf_counter() - start, cpu_seconds(client) - cpu


def preload(folder: str, model_id: str) -> None:
    """Load the model on a worker (its cached copy), returning nothing to the client."""
    worker_model(folder, model_id)


def decode_seconds_per_volume(generator: torch.nn.Module, latent_dim: int, batch: int = 16, repeats: int = 3) -> float:
    """CPU seconds per volume of the bare generator (no metrics, no store), best of ``repeats``."""
    z = torch.randn(batch, latent_dim, generator=torch.Generator().manual_seed(0))
    best = float("inf")
    with torch.no_grad():
        generator(z)
        for _ in range(repeats):
            start = time.process_time()
            generator(z)
            best = min(best, time.process_time() - start)
    return best / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    torch.set_num_threads(1)  # the in-process row: one worker's share of the machine
    machine = f"{cpu_description()}, {torch.get_num_threads()} torch thread per worker, torch {torch.__version__}"
    print("machine:", machine)
    work = Path(tempfile.mkdtemp(prefix="variations_dask."))
    rows = []
    try:
        for name, case in CASES.items():
            model = pretrained_model(name)
            volumes = case["n_references"] * (case["n_samples"] + 1)
            row = {"model": name, "n_references": case["n_references"], "n_samples": case["n_samples"]}
            row["in_process_s"], row["in_process_cpu_s"] = timed_run(model, case, work / f"{name}-local.zarr")
            digests = {files(work / f"{name}-local.zarr")}
            for n_workers in (1, 2):
                with (
                    LocalCluster(n_workers=n_workers, threads_per_worker=1, dashboard_address=None) as cluster,
                    Client(cluster) as client,
                ):
                    threads = set(client.run(torch.get_num_threads).values())
                    client.run(preload, str(model.folder), model.model_id)  # loaded before the clock
                    store = work / f"{name}-{n_workers}.zarr"
                    wall, cpu = timed_run(model, case, store, client)
                    row[f"workers_{n_workers}_s"], row[f"workers_{n_workers}_cpu_s"] = wall, cpu
                    row[f"workers_{n_workers}_torch_threads"] = sorted(threads)
                    digests.add(files(store))
            row["identical_stores"] = len(digests) == 1
            for key in ("in_process", "workers_1", "workers_2"):
                row[f"{key}_volumes_per_s"] = volumes / row[f"{key}_s"]
                row[f"{key}_volumes_per_cpu_s"] = volumes / row[f"{key}_cpu_s"]
            row["speedup_2_vs_1"] = row["workers_1_s"] / row["workers_2_s"]
            rows.append(row)
            print(
                f"{name}: {case['n_references']} x {case['n_samples']} ({volumes} images) | in process "
                f"{row['in_process_volumes_per_s']:.1f}/s | 1 worker {row['workers_1_volumes_per_s']:.1f}/s | "
                f"2 workers {row['workers_2_volumes_per_s']:.1f}/s | speed-up {row['speedup_2_vs_1']:.2f}x | per CPU "
                f"second: {row['in_process_volumes_per_cpu_s']:.1f} / {row['workers_1_volumes_per_cpu_s']:.1f} / "
                f"{row['workers_2_volumes_per_cpu_s']:.1f} | "
                f"worker torch threads {row['workers_2_torch_threads']} | identical stores {row['identical_stores']}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    small = pretrained_model("brass-small")
    paper_config = GANConfig.preset("brass", "paper")
    paper = Generator(paper_config).eval()
    small_decode = decode_seconds_per_volume(small.generator, small.latent_dim)
    paper_decode = decode_seconds_per_volume(paper, paper_config.latent_dim)
    brass = rows[0]
    # CPU seconds, not wall seconds: a core's work per volume, whatever else shares the machine
    per_volume = 1 / brass["workers_1_volumes_per_cpu_s"]
    total = PAPER_BRASS[0] * (PAPER_BRASS[1] + 1)
    projection = {
        "volumes": total,
        "small_decode_s_per_volume": small_decode,
        "paper_decode_s_per_volume": paper_decode,
        "worker_hours_brass_small": total * per_volume / 3600,
        "worker_hours_paper_generator": total * (per_volume - small_decode + paper_decode) / 3600,
        "two_worker_efficiency": brass["speedup_2_vs_1"] / 2,
    }
    print(
        f"paper brass run, {PAPER_BRASS[0]} x {PAPER_BRASS[1]} ({total} volumes): "
        f"{projection['worker_hours_brass_small']:.1f} worker-hours with brass-small "
        f"({1 / per_volume:.1f} volumes per CPU second of a worker, metrics and store included); the paper's "
        f"generator decodes in {paper_decode * 1e3:.1f} ms per volume vs {small_decode * 1e3:.1f} ms -> "
        f"{projection['worker_hours_paper_generator']:.1f} worker-hours"
    )
    for workers in (2, 16, 64, 256):
        hours = projection["worker_hours_paper_generator"] / workers
        print(f"  {workers:4d} one-core workers at perfect scaling: {hours:.2f} h (paper generator)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine, "rows": rows, "projection": projection}, handle, indent=1)


if __name__ == "__main__":
    main()
