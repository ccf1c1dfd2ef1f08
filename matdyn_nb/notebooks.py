"""Run a numbered notebook headless and keep its report: ``python -m matdyn_nb run NOTEBOOK``.

The notebooks in ``notebooks/`` read their size from ``MATDYN_NB_MODE`` and their seed from
``MATDYN_NB_SEED``; a case study's last cell writes its closing table (paper / ours / truth) as
JSON to ``MATDYN_NB_RESULTS`` when that is set. :func:`run_notebook` sets the three, executes
the notebook top to bottom in a fresh kernel (nbclient, as JupyterLab's Run All would), and
writes into ``out``:

- ``NAME.ipynb``: the executed notebook, every output in it;
- ``NAME.html``: the report (nbconvert), plotly figures included with plotly.js inline, so it
  opens offline;
- ``NAME.closing_table.json``: the closing table, with the mode, seed, minutes and machine.

Other values of a notebook's parameters cell (``YOUR_STACK``, ``N_REFERENCES``, ...) are set with
``parameters=``, as papermill does: a cell assigning them is inserted after the parameters cell.

A failing cell stops the run with :class:`NotebookFailed`, which names the cell; the partial
notebook and report (outputs up to the failing cell, its traceback included) are written first.
``scripts/validate.py`` and the command line are thin uses of this module.
"""

import ast
import json
import os
import platform
import re
import sys
import time
from dataclasses import dataclass, field
from html import escape as html_escape
from pathlib import Path
from typing import TextIO

from ._provenance import provenance_attrs
from .errors import ConfigError

__all__ = ["MODES", "NotebookFailed", "NotebookRun", "find_notebook", "format_table", "known_notebooks", "run_notebook"]

MODES = ("small", "standard", "paper")
_NUMBERED = re.compile(r"^(\d+)_(.+)$")


class NotebookFailed(RuntimeError):
    """A cell of a notebook run by :func:`run_notebook` raised, or its kernel died.

    ``cell`` and ``n_cells`` count code cells (``cell`` is the execution count the report
    shows), ``first_line`` is the cell's first line, ``error`` the exception as
    ``"Name: message"``, and ``report`` the partial HTML report written before raising.
    """

    def __init__(self, notebook: Path, cell: int, n_cells: int, first_line: str, error: str, report: Path):
        self.notebook, self.cell, self.n_cells = notebook, cell, n_cells
        self.first_line, self.error, self.report = first_line, error, report
        super().__init__(
            f"cell {cell}/{n_cells} of {notebook.name} failed: {first_line}\n"
            f"  {error}\n"
            f"the partial report (outputs up to this cell, its traceback included) is {report}"
        )


@dataclass
class NotebookRun:
    """What :func:`run_notebook` wrote, and the closing table (``None`` for a notebook without one)."""

    notebook: Path
    mode: str
    seed: int
    seconds: float
    executed: Path
    report: Path
    table_file: Path | None
    table: dict | None = field(repr=False)
    parameters: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """The record kept in ``NAME.closing_table.json`` (and by ``scripts/validate.py``)."""
        return {
            "notebook": self.notebook.name,
            "mode": self.mode,
            "seed": self.seed,
            "parameters": self.parameters,
            "minutes": round(self.seconds / 60, 1),
            "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores",
            "table": self.table,
        }


def _folders() -> list[Path]:
    """Where numbered notebooks are looked for: ``$MATDYN_NB_NOTEBOOKS``, ./notebooks, the repository's."""
    if os.environ.get("MATDYN_NB_NOTEBOOKS"):
        return [Path(os.environ["MATDYN_NB_NOTEBOOKS"])]
    folders = [Path.cwd() / "notebooks", Path(__file__).resolve().parents[1] / "notebooks"]
    return [f for i, f in enumerate(folders) if f.is_dir() and f.resolve() not in {g.resolve() for g in folders[:i]}]


def known_notebooks(folder: str | Path | None = None) -> list[Path]:
    """The numbered notebooks (``NN_name.ipynb``) in ``folder``, or in the first notebooks folder found.

    Without ``folder``: ``$MATDYN_NB_NOTEBOOKS`` if set, else ``./notebooks``, else the
    ``notebooks/`` folder of the repository the package was installed from (editable install).
    """
    folders = [Path(folder)] if folder is not None else _folders()
    for f in folders:
        found = sorted(p for p in f.glob("*.ipynb") if _NUMBERED.match(p.stem))
        if found:
            return found
    return []


def _words(text: str) -> list[str]:
    """Lower-case words, a trailing plural s dropped: "nanoparticles" and "nanoparticle" match."""
    return [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in re.split(r"[\W_]+", text.lower()) if w]


def find_notebook(name: str | Path, folder: str | Path | None = None) -> Path:
    """The notebook ``name`` designates.

    ``name`` is a path to an ``.ipynb``, or names a numbered notebook of ``folder`` (see
    :func:`known_notebooks`) by its number (``"02"``, ``"2"``), its file name with or without
    number and suffix (``"02_nanoparticle_diffusion"``, ``"nanoparticle_diffusion"``), or words
    of its name (``"nanoparticles"``, ``"brass"``, ``"ta_chart"``). Raises ``ConfigError``
    listing the known notebooks when none matches, or when several do.
    """
    text = str(name).strip()
    path = Path(text).expanduser()
    if path.suffix == ".ipynb" and path.is_file():
        return path.resolve()
    if len(path.parts) > 1:
        raise ConfigError(f"no notebook file {text!r}")
    known = known_notebooks(folder)
    if not known:
        where = folder if folder is not None else "./notebooks (or $MATDYN_NB_NOTEBOOKS)"
        raise ConfigError(
            f"no notebook {text!r}: there is no such .ipynb file, and no numbered notebooks (NN_name.ipynb) in "
            f"{where}; give the path to an .ipynb, or run from the repository's folder"
        )
    stem = path.name.removesuffix(".ipynb")
    matches = []
    for nb in known:
        number, title = _NUMBERED.match(nb.stem).groups()
        if stem.isdigit() and int(stem) == int(number) or stem.lower() in (nb.stem.lower(), title.lower()):
            return nb.resolve()
        query = _words(stem)
        if query and set(query) <= set(_words(title)):
            matches.append(nb)
    listing = "; ".join(nb.stem for nb in known)
    if len(matches) == 1:
        return matches[0].resolve()
    if matches:
        raise ConfigError(
            f"notebook {text!r} is ambiguous: it matches {', '.join(m.stem for m in matches)}; give its number"
        )
    raise ConfigError(
        f"unknown notebook {text!r}; the notebooks in {known[0].parent} are: {listing}. "
        "Give a number (02), a name (nanoparticles) or a path to an .ipynb"
    )


def _first_line(source: str, width: int = 72) -> str:
    line = next((s.strip() for s in source.splitlines() if s.strip()), "")
    return line if len(line) <= width else line[: width - 3] + "..."


def format_table(table: dict) -> str:
    """A closing table (columns -> {quantity: value}, as the notebooks write it) as aligned text."""
    columns = list(table)
    quantities = list(dict.fromkeys(q for c in columns for q in table[c]))
    rows = [["quantity", *columns]] + [[q, *(str(table[c].get(q, "")) for c in columns)] for q in quantities]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


_WIDGET = "application/vnd.jupyter.widget-view+json"


def _html(nb, title: str) -> str:
    """The report: nbconvert's lab template; a widget (it needs a live kernel) shown as a note."""
    import copy

    from nbconvert import HTMLExporter

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if _WIDGET in output.get("data", {}):
                kind = output["data"].get("text/plain", "a widget").split("(")[0]
                output["data"] = {
                    "text/html": f"<p><em>{html_escape(kind)}: an interactive widget; open {title}.ipynb in "
                    "JupyterLab and run the notebook to use it.</em></p>"
                }
    exporter = HTMLExporter(template_name="lab", embed_images=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


def _this_python_kernels():
    """A kernel-spec manager whose every kernel is ipykernel on this Python, the one with matdyn_nb.

    A ``python3`` kernelspec installed elsewhere (``~/.local/share/jupyter``, a conda base) may
    point to another Python; the run must not depend on it.
    """
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())

    return ThisPython()


def _write(path: Path, text: str) -> None:
    """Write under a temporary name, then rename: a reader never sees half a report."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


_SET_BY_OPTIONS = {"MODE": "mode", "SEED": "seed"}


def _inject(nb, parameters: dict, path: Path) -> None:
    """Insert a cell assigning ``parameters`` after ``nb``'s parameters cell, checking them first."""
    import nbformat

    where = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    if not where:
        raise ConfigError(
            f"{path.name} has no parameters cell (a code cell tagged 'parameters'), so parameters "
            f"{sorted(parameters)} cannot be set; edit the notebook instead"
        )
    tree = ast.parse(nb.cells[where[0]].source)
    known = sorted({t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                    if isinstance(t, ast.Name)})  # fmt: skip
    for name, value in parameters.items():
        if name in _SET_BY_OPTIONS:
            raise ConfigError(f"{name} is set by the {_SET_BY_OPTIONS[name]} option (--{_SET_BY_OPTIONS[name]})")
        if name not in known:
            raise ConfigError(f"{path.name}'s parameters cell has no {name!r}; it sets {known}")
        try:
            literal = ast.literal_eval(repr(value)) == value
        except (ValueError, SyntaxError):
            literal = False
        if not literal:
            raise ConfigError(
                f"parameter {name}={value!r} is not a literal (numbers, strings, bools, None, and lists, tuples "
                "or dicts of them); pass a path or a number the notebook turns into the object"
            )
    lines = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(f"# Parameters injected by matdyn_nb run\n{lines}")
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(where[0] + 1, cell)


def run_notebook(
    notebook: str | Path,
    *,
    mode: str = "small",
    seed: int = 0,
    out: str | Path = "reports",
    log: TextIO | bool = True,
    timeout: float | None = None,
    parameters: dict | None = None,
) -> NotebookRun:
    """Execute ``notebook`` headless at ``mode`` and ``seed``; write its report into ``out``.

    Parameters
    ----------
    notebook
        Anything :func:`find_notebook` accepts: ``"02"``, ``"nanoparticles"``, a path.
    mode
        ``"small"`` (minutes on a laptop CPU), ``"standard"`` (a larger CPU run) or ``"paper"``
        (the paper's sizes, for a GPU); set as ``MATDYN_NB_MODE`` for the notebook.
    seed
        ``MATDYN_NB_SEED``: the notebook's sampling seed.
    out
        Folder for ``NAME.ipynb``, ``NAME.html`` and ``NAME.closing_table.json`` (made if
        missing; a previous report of the same notebook there is replaced). The kernel runs
        in it, so files a notebook writes land there too.
    log
        Where a line per code cell goes (``cell i/n  first line  seconds``): a text stream,
        ``True`` for standard output, ``False`` for none.
    timeout
        Seconds a single cell may run; ``None``: no limit (paper-size training takes hours).
    parameters
        Names of the notebook's parameters cell (the code cell tagged ``parameters``) and the
        values to give them, e.g. ``{"YOUR_STACK": "frames.tif", "N_REFERENCES": 50}``:
        numbers, strings, bools, None, and lists, tuples and dicts of them. They are
        assigned in a cell inserted after the parameters cell (tagged
        ``injected-parameters``, as papermill does), so values that cell derives from
        them are not recomputed. ``MODE`` and ``SEED`` are set by ``mode`` and ``seed``.

    Returns
    -------
    NotebookRun
        The paths written and the closing table (``None`` for a notebook that writes none).

    Raises
    ------
    NotebookFailed
        A cell raised, timed out, or the kernel died; the partial report is written first.
    ConfigError
        An unknown notebook or mode, or parameters the notebook's parameters cell does not
        assign, or values that are not literals.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; choose one of {list(MODES)}")
    path = find_notebook(notebook)
    out = Path(out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    name = path.stem
    executed, report = out / f"{name}.ipynb", out / f"{name}.html"
    table_file, results = out / f"{name}.closing_table.json", out / f".{name}.results.json"
    for stale in (table_file, results):  # a failed run must not leave an older run's table beside it
        stale.unlink(missing_ok=True)

    nb = nbformat.read(path, as_version=4)
    parameters = dict(parameters or {})
    if parameters:
        _inject(nb, parameters, path)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    state = {"index": None, "start": 0.0}

    stream = sys.stdout if log is True else log or None

    def say(text: str, end: str = "\n") -> None:
        if stream is not None:
            stream.write(text + end)
            stream.flush()

    def started(cell, cell_index, **_) -> None:
        state.update(index=cell_index, start=time.perf_counter())
        say(f"cell {code.index(cell_index) + 1:>2}/{len(code)}  {_first_line(cell.source)}", end="")

    def finished(cell, cell_index, execute_reply, **_) -> None:
        failed = execute_reply is not None and execute_reply["content"]["status"] == "error"
        say(f"  {'FAILED after ' if failed else ''}{time.perf_counter() - state['start']:.1f} s")

    env = dict(
        os.environ,
        MATDYN_NB_MODE=mode,
        MATDYN_NB_SEED=str(seed),
        MATDYN_NB_RESULTS=str(results),
        TQDM_DISABLE="1",  # progress bars are noise in a report
        # the mimetype for JupyterLab when the .ipynb is opened, and HTML with plotly.js inline for the report
        PLOTLY_RENDERER="plotly_mimetype+notebook",
    )
    client = NotebookClient(
        nb,
        # the kernel app's own log (its "running over TCP without encryption" warning on a local socket) is
        # not the notebook's: errors only. Cell outputs, warnings included, go to the report as usual.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(out)}},
        store_widget_state=False,  # widgets need a live kernel; their state would only make the files big
        on_cell_execute=started,
        on_cell_executed=finished,
    )
    client.create_kernel_manager().kernel_spec_manager = _this_python_kernels()  # the client still owns it
    given = "".join(f", {k}={v!r}" for k, v in parameters.items())
    say(f"running {path.name} (mode {mode}, seed {seed}{given}) in a fresh kernel; report in {out}")
    start = time.perf_counter()
    failure = None
    try:
        client.execute(env=env)
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        failure = err
    finally:  # the report, partial on a failure or an interrupt: the outputs so far are worth keeping
        seconds = time.perf_counter() - start
        nb.metadata["matdyn_nb"] = {
            "mode": mode,
            **provenance_attrs(seed),
            "parameters": parameters,
            "seconds": round(seconds, 1),
        }
        _write(executed, nbformat.writes(nb))
        _write(report, _html(nb, name))
    if failure is not None:
        index = state["index"]
        if isinstance(failure, CellExecutionError):
            error = f"{failure.ename}: {failure.evalue}"
        elif isinstance(failure, CellTimeoutError):
            error = f"timed out after {timeout} s"
        else:
            error = "the kernel died (out of memory? interrupted?)"
            say("  kernel died")
        cell = code.index(index) + 1 if index in code else 0
        first = _first_line(nb.cells[index].source) if index is not None else ""
        raise NotebookFailed(path, cell, len(code), first, error, report) from None
    table = None
    if results.exists():
        table = json.loads(results.read_text())
        results.unlink()
    run = NotebookRun(path, mode, seed, seconds, executed, report, table_file if table else None, table, parameters)
    if table:
        _write(table_file, json.dumps(run.summary(), indent=1))
    return run
