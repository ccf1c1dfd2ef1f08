import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

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


@pytest.mark.parametrize("package", ["data", "twins", "metrics", "descriptors", "analysis"])
def test_layers_below_the_engine_import_without_torch(package):
    """The simulators, metrics, descriptors and analysis load in a fresh interpreter without
    torch or the torch-backed engine (gan, latent): layers import one way (docs/architecture.md)."""
    code = (
        f"import sys, matdyn_nb.{package}; "
        "engine = ('matdyn_nb.gan', 'matdyn_nb.latent'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or m in engine))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# docs/architecture.md: what each layer may import besides the foundations below; a module
# outside this table (the command line) sits on top, and no layer may import it
FOUNDATIONS = {"errors", "_files", "_progress", "_provenance", "_random", "_version", "_zarr"}
MAY_IMPORT = {
    "data": set(),
    "metrics": {"data"},
    "twins": {"data", "metrics"},
    "descriptors": {"data", "metrics"},
    "analysis": {"data", "metrics", "descriptors"},
    "gan": {"data"},
    "latent": {"data", "metrics", "gan"},
    "cxdi": {"data", "metrics", "twins", "gan"},
    "viewers": {"data", "metrics", "descriptors", "analysis"},
    "widgets": {"data", "metrics", "descriptors", "analysis", "gan", "latent", "viewers"},
}

# the foundations import nothing of the package but each other, as the provenance helper does
FOUNDATIONS_MAY_IMPORT = {"_provenance": {"_random", "_version"}, "_random": {"errors"}}


def _project_imports(path: Path) -> set[str]:
    """Top-level matdyn_nb names a module imports, at module level or inside functions."""
    package = path.relative_to(ROOT).with_suffix("").parts  # level 1 of .../x/__init__ is x itself
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level]
            names = [".".join(base + tuple(filter(None, [node.module, alias.name]))) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name.split(".")[1] for name in names if name.startswith("matdyn_nb.")}
    return found


@pytest.mark.parametrize("layer", [*MAY_IMPORT, *FOUNDATIONS])
def test_layers_import_one_way(layer):
    below = FOUNDATIONS if layer in MAY_IMPORT else FOUNDATIONS_MAY_IMPORT.get(layer, set())
    allowed = MAY_IMPORT.get(layer, set()) | below
    files = sorted((ROOT / "matdyn_nb" / layer).rglob("*.py")) or [ROOT / "matdyn_nb" / f"{layer}.py"]
    for path in files:
        wrong = _project_imports(path) - allowed - {layer}
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}, outside its layer's {sorted(allowed)}"


def test_provenance_attrs_have_one_spelling():
    from matdyn_nb import __version__
    from matdyn_nb._provenance import provenance_attrs

    assert provenance_attrs() == {"matdyn_nb_version": __version__}
    assert provenance_attrs(None)["seed"] == provenance_attrs(np.random.default_rng(1))["seed"] == -1
    assert provenance_attrs(np.int64(4), root_seed=4, model_id="m") == {
        "matdyn_nb_version": __version__, "seed": 4, "root_seed": 4, "model_id": "m",
    }  # fmt: skip
    # outputs write the version and the seed through the helper, never by hand
    by_hand = re.compile(r"""["'](version|matdyn_nb_version)["']\s*:|seed_attr\(""")
    for path in sorted((ROOT / "matdyn_nb").rglob("*.py")):
        if path.relative_to(ROOT / "matdyn_nb").as_posix() not in ("_provenance.py", "_random.py", "data/augment.py"):
            assert not by_hand.search(path.read_text()), path.relative_to(ROOT)


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


def test_citation_file_matches_the_package():
    citation = (ROOT / "CITATION.cff").read_text()
    fields = dict(re.findall(r"^(version|license): (\S+)$", citation, flags=re.MULTILINE))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert fields == {"version": matdyn_nb.__version__, "license": project["license"]["text"]}
    assert (ROOT / "LICENSE").read_text().startswith("BSD 3-Clause License")


def test_show_versions_names_the_package_its_dependencies_and_the_cpu(capsys):
    import torch

    from matdyn_nb.versions import PACKAGES

    matdyn_nb.show_versions()
    lines = dict(line.strip().split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["matdyn_nb"].startswith(matdyn_nb.__version__)
    assert lines["torch"] == torch.__version__
    assert set(PACKAGES) <= set(lines)
    assert f"({torch.backends.cpu.get_cpu_capability()}, bfloat16 instructions: " in lines["cpu"]
