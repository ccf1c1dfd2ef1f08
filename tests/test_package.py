import re
import subprocess
import sys
import tomllib
from pathlib import Path

import matdyn_nb
from matdyn_nb import analysis, cxdi, data, descriptors, gan, latent, metrics, twins, viewers, widgets

ROOT = Path(__file__).resolve().parents[1]


def test_public_names_exist():
    for module in (matdyn_nb, analysis, cxdi, data, descriptors, gan, latent, metrics, twins, viewers, widgets):
        for name in module.__all__:
            assert hasattr(module, name), name


def test_import_does_not_load_heavy_or_gui_modules():
    code = (
        "import sys, matdyn_nb; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'torch', 'napari', 'qtpy', 'PyQt6', 'PySide6', 'skimage', 'sklearn', 'h5py', 'tifffile', 'plotly'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _requirement_names(lines):
    names = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.match(r"([A-Za-z0-9_.\-]+(?:\[[^\]]+\])?)\s*(.*)", line)
        names[match.group(1).lower()] = match.group(2)
    return names


def test_binder_requirements_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _requirement_names(project["dependencies"])
    binder = _requirement_names((ROOT / "binder/requirements.txt").read_text().splitlines())
    assert set(binder) == set(declared)
    for name, spec in declared.items():
        if name != "torch":
            assert binder[name] == spec, name
    assert binder["torch"].startswith("==")  # binder pins the CPU series


def test_binder_runtime_is_a_python_the_package_supports():
    from packaging.specifiers import SpecifierSet

    runtime = (ROOT / "binder/runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    assert match, f"binder/runtime.txt must read python-X.Y (repo2docker), not {runtime!r}"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(f"{match.group(1)}.0"), (runtime, requires)
