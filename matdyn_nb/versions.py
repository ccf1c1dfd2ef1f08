"""What this installation runs on: versions, CPU, GPU and threads, for bug reports and benchmarks.

``show_versions()`` prints it (paste it into a bug report); the benchmarks print
:func:`cpu_description` beside every timing, since the CPU decides which kernels run.
"""

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TextIO

from ._version import __version__

__all__ = ["cpu_description", "show_versions", "system_info"]

PACKAGES = (
    "torch",
    "numpy",
    "scipy",
    "xarray",
    "zarr",
    "dask",
    "distributed",
    "scikit-learn",
    "scikit-image",
    "trackpy",
    "safetensors",
    "h5py",
    "netCDF4",
    "tifffile",
    "ipywidgets",
    "plotly",
    "anywidget",
    "nbclient",
    "jupyterlab",
    "napari",
)
ENVIRONMENT = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ONEDNN_MAX_CPU_ISA", "CUDA_VISIBLE_DEVICES", "MATDYN_NB_MODE")


def _cpuinfo(key: str) -> str | None:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.split(":", 1)[0].strip() == key), None)


def cpu_description() -> str:
    """The CPU's model name and the vector instructions torch's kernels use on it.

    Returns
    -------
    str
        e.g. ``"AMD EPYC (AVX512, bfloat16 instructions: yes, AMX: no)"``. Loads torch.
    """
    import torch

    from .gan import cpu_has_bfloat16

    model = _cpuinfo("model name") or platform.processor() or platform.machine()
    amx = "yes" if torch.cpu._is_amx_tile_supported() else "no"
    bf16 = "yes" if cpu_has_bfloat16() else "no"
    return f"{model} ({torch.backends.cpu.get_cpu_capability()}, bfloat16 instructions: {bf16}, AMX: {amx})"


def system_info() -> dict[str, str]:
    """The versions and hardware :func:`show_versions` prints, as a dict of strings.

    Returns
    -------
    dict
        ``matdyn_nb``, ``python``, ``platform``, ``cpu``, ``cpu cores``, ``torch threads``,
        ``cuda``, one entry per package of :data:`PACKAGES` (``"not installed"`` where
        missing) and one per set variable of :data:`ENVIRONMENT`.
    """
    import torch

    info = {
        "matdyn_nb": f"{__version__} ({Path(__file__).parent})",
        "python": sys.version.replace("\n", " "),
        "platform": platform.platform(),
        "cpu": cpu_description(),
        "cpu cores": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "cuda": ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        if torch.cuda.is_available()
        else "not available",
    }
    for name in PACKAGES:
        try:
            info[name] = version(name)
        except PackageNotFoundError:
            info[name] = "not installed"
    info.update({name: os.environ[name] for name in ENVIRONMENT if name in os.environ})
    return info


def show_versions(file: TextIO | None = None) -> None:
    """Print the versions of matdyn_nb and its dependencies, the CPU, GPU and threads.

    Paste the output into a bug report: results and speed depend on them (e.g. the last
    bits of a float32 result on the CPU's vector unit, docs/validation.md §3).

    Parameters
    ----------
    file
        Where to print (default: standard output).
    """
    info = system_info()
    width = max(map(len, info))
    print("\n".join(f"{key:>{width}}: {value}" for key, value in info.items()), file=file or sys.stdout)
