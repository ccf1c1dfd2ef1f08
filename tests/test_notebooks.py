"""matdyn_nb.notebooks and ``python -m matdyn_nb run``: names, errors, and real runs of tiny notebooks.

The real case studies run under nbval (scripts/test.sh) and, through the command line with
their HTML report opened in chromium, in tests/e2e/test_report_e2e.py.
"""

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from matdyn_nb.__main__ import main
from matdyn_nb.errors import ConfigError
from matdyn_nb.notebooks import NotebookFailed, find_notebook, format_table, known_notebooks, run_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

PARAMETERS = """import os

MODE = os.environ.get("MATDYN_NB_MODE", "small")
SEED = int(os.environ.get("MATDYN_NB_SEED", 0))"""
FIGURE = """import plotly.graph_objects as go

go.Figure(go.Heatmap(z=[[SEED, 1], [2, 3]]))"""
WIDGET = """import ipywidgets

from matdyn_nb._progress import progress_bar

sum(progress_bar(range(3)))  # the run sets TQDM_DISABLE: no progress-bar widget in the report
ipywidgets.IntSlider(SEED)"""
TABLE = """import pandas as pd

summary = pd.DataFrame(
    [("answer", 42, SEED * 2, 42), ("mode", "-", MODE, "-")], columns=["quantity", "paper", "ours (this run)", "truth"]
).set_index("quantity")
if os.environ.get("MATDYN_NB_RESULTS"):
    summary.astype(str).to_json(os.environ["MATDYN_NB_RESULTS"], indent=1)
summary"""


def _notebook(path: Path, *sources: str) -> Path:
    nb = new_notebook(cells=[new_markdown_cell("# a tiny case study")] + [new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize(
    "name, expected",
    [
        ("02", "02_nanoparticle_diffusion"),
        ("2", "02_nanoparticle_diffusion"),
        ("nanoparticles", "02_nanoparticle_diffusion"),
        ("02_nanoparticle_diffusion", "02_nanoparticle_diffusion"),
        ("02_nanoparticle_diffusion.ipynb", "02_nanoparticle_diffusion"),
        ("nanoparticle_diffusion", "02_nanoparticle_diffusion"),
        ("0", "00_getting_started"),
        ("getting-started", "00_getting_started"),
        ("ta_chart", "01_ta_test_chart"),
        ("brass", "03_brass_sulfidation"),
        ("Brass", "03_brass_sulfidation"),
        (str(NOTEBOOKS / "03_brass_sulfidation.ipynb"), "03_brass_sulfidation"),
    ],
)
def test_a_notebook_is_named_by_number_case_name_file_name_or_path(name, expected):
    assert find_notebook(name, NOTEBOOKS) == NOTEBOOKS / f"{expected}.ipynb"


def test_the_notebooks_are_found_from_the_repository_or_the_current_folder(tmp_path, monkeypatch):
    assert [p.stem[:2] for p in known_notebooks(NOTEBOOKS)] == ["00", "01", "02", "03", "04"]
    assert find_notebook("cxdi", NOTEBOOKS) == NOTEBOOKS / "04_cxdi_phase_retrieval.ipynb"
    monkeypatch.chdir(tmp_path)  # no ./notebooks here: the repository's (editable install) are used
    assert find_notebook("brass") == NOTEBOOKS / "03_brass_sulfidation.ipynb"
    _notebook(tmp_path / "notebooks" / "07_my_own_study.ipynb", "1")
    assert find_notebook("7") == tmp_path / "notebooks" / "07_my_own_study.ipynb"  # ./notebooks comes first


def test_unknown_ambiguous_and_missing_notebooks_are_refused_with_the_list(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown notebook 'xyz'.*00_getting_started; 01_ta_test_chart.*03_"):
        find_notebook("xyz", NOTEBOOKS)
    with pytest.raises(ConfigError, match="unknown notebook '9'"):
        find_notebook("9", NOTEBOOKS)
    with pytest.raises(ConfigError, match="no notebook file"):
        find_notebook(str(tmp_path / "missing.ipynb"), NOTEBOOKS)
    _notebook(tmp_path / "01_gold_particles.ipynb", "1")
    _notebook(tmp_path / "02_gold_films.ipynb", "1")
    with pytest.raises(ConfigError, match="'gold' is ambiguous: it matches 01_gold_particles, 02_gold_films"):
        find_notebook("gold", tmp_path)
    with pytest.raises(ConfigError, match="no numbered notebooks"):
        find_notebook("01", tmp_path / "empty")


def test_cli_usage_errors_exit_2(capsys):
    assert main(["run", "xyz"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown notebook 'xyz'") and "02_nanoparticle_diffusion" in err
    with pytest.raises(SystemExit) as exit_:
        main(["run", "01", "--mode", "huge"])
    assert exit_.value.code == 2
    with pytest.raises(ConfigError, match="unknown mode 'huge'"):
        run_notebook("01", mode="huge")


def test_format_table_aligns_the_columns_the_notebooks_write():
    table = {"paper": {"v (nm/s)": "340", "width": "311"}, "ours (this run)": {"v (nm/s)": "343", "width": "309"}}
    assert format_table(table).splitlines() == [
        "quantity  paper  ours (this run)",
        "--------  -----  ---------------",
        "v (nm/s)  340    343",
        "width     311    309",
    ]


def test_run_writes_the_notebook_the_report_and_the_closing_table(tmp_path, capsys):
    path = _notebook(tmp_path / "05_tiny_study.ipynb", PARAMETERS, FIGURE, WIDGET, TABLE)
    out = tmp_path / "out"
    assert main(["run", str(path), "--mode", "standard", "--seed", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for i, first in enumerate(["import os", "import plotly.graph_objects as go", "import ipywidgets"], start=1):
        assert f"cell  {i}/4  {first}  " in printed  # a progress line per cell, with its seconds
    assert "answer    42     6                42" in printed  # the closing table, printed
    assert f"report: {out / '05_tiny_study.html'}" in printed

    record = json.loads((out / "05_tiny_study.closing_table.json").read_text())
    assert (record["notebook"], record["mode"], record["seed"]) == ("05_tiny_study.ipynb", "standard", 3)
    assert record["table"]["ours (this run)"] == {"answer": "6", "mode": "standard"}
    executed = nbformat.read(out / "05_tiny_study.ipynb", 4)
    assert [c.execution_count for c in executed.cells if c.cell_type == "code"] == [1, 2, 3, 4]
    assert executed.metadata["matdyn_nb"]["mode"] == "standard"
    html = (out / "05_tiny_study.html").read_text()
    assert "plotly-graph-div" in html and "window.Plotly = Plotly" in html  # plotly.js inline: opens offline
    assert "IntSlider: an interactive widget; open 05_tiny_study.ipynb in JupyterLab" in html
    assert html.count("an interactive widget") == 1
    assert not list(out.glob(".*"))  # no temporary files left


def test_a_failing_cell_is_named_and_its_partial_report_kept(tmp_path, capsys):
    path = _notebook(tmp_path / "06_broken.ipynb", PARAMETERS, 'print("before")', "x = 1 / 0", 'print("never")')
    out = tmp_path / "out"
    (out / "06_broken.closing_table.json").parent.mkdir()
    (out / "06_broken.closing_table.json").write_text("{}")  # an older run's table must not survive
    assert main(["run", str(path), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "cell  3/4  x = 1 / 0  FAILED after" in captured.out
    report = out / "06_broken.html"
    assert captured.err.splitlines() == [
        "error: cell 3/4 of 06_broken.ipynb failed: x = 1 / 0",
        "  ZeroDivisionError: division by zero",
        f"the partial report (outputs up to this cell, its traceback included) is {report}",
    ]
    assert "ZeroDivisionError" in report.read_text()
    executed = nbformat.read(out / "06_broken.ipynb", 4)
    assert [len(c.get("outputs", [])) for c in executed.cells] == [0, 0, 1, 1, 0]  # before, the traceback, none
    assert not (out / "06_broken.closing_table.json").exists()
    with pytest.raises(NotebookFailed) as failed:
        run_notebook(path, out=out, log=False, timeout=5)
    assert (failed.value.cell, failed.value.n_cells, failed.value.report) == (3, 4, report)


def _with_parameters(path: Path, parameters: str, *sources: str) -> Path:
    _notebook(path, parameters, *sources)
    nb = nbformat.read(path, 4)
    nb.cells[1].metadata["tags"] = ["parameters"]
    nbformat.write(nb, path)
    return path


def test_parameters_are_set_after_the_parameters_cell_as_papermill_does(tmp_path, capsys):
    cell = PARAMETERS + "\nYOUR_STACK = None\nN = 3\nSIZES = (1, 2)\nFACTOR = 2 * N  # derived: not recomputed"
    path = _with_parameters(tmp_path / "07_params.ipynb", cell, "print(YOUR_STACK, N, SIZES, FACTOR, MODE)")
    out = tmp_path / "out"
    args = ["run", str(path), "--out", str(out), "-p", "YOUR_STACK", "my frames.tif", "-p", "N", "5"]
    assert main([*args, "-p", "SIZES", "(4, 8)"]) == 0
    assert "YOUR_STACK='my frames.tif', N=5, SIZES=(4, 8)" in capsys.readouterr().out
    executed = nbformat.read(out / "07_params.ipynb", 4)
    injected = executed.cells[2]
    assert injected.metadata["tags"] == ["injected-parameters"]
    assert injected.source.splitlines()[1:] == ["YOUR_STACK = 'my frames.tif'", "N = 5", "SIZES = (4, 8)"]
    assert executed.cells[3].outputs[0]["text"] == "my frames.tif 5 (4, 8) 6 small\n"
    assert executed.metadata["matdyn_nb"]["parameters"] == {"YOUR_STACK": "my frames.tif", "N": 5, "SIZES": [4, 8]}


def test_parameters_the_notebook_does_not_have_are_refused_before_it_runs(tmp_path, capsys):
    path = _with_parameters(tmp_path / "08_params.ipynb", PARAMETERS + "\nN = 3", "print(N)")
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "-p", "M", "5"]) == 2
    assert "08_params.ipynb's parameters cell has no 'M'; it sets ['MODE', 'N', 'SEED']" in capsys.readouterr().err
    assert main(["run", str(path), "--out", str(out), "-p", "MODE", "paper"]) == 2
    assert "MODE is set by the mode option (--mode)" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="is not a literal"):
        run_notebook(path, out=out, log=False, parameters={"N": object()})
    untagged = _notebook(tmp_path / "09_plain.ipynb", PARAMETERS, "print(1)")
    with pytest.raises(ConfigError, match="has no parameters cell"):
        run_notebook(untagged, out=out, log=False, parameters={"SEED": 1})
    assert not (out / "08_params.ipynb").exists()  # refused before any kernel ran
