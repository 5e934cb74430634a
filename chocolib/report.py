"""``python -m chocolib report``: the run's report, as PDF (LaTeX) and HTML, built by nbconvert.

The report is a notebook, ``report/report.ipynb``, that reads only the run's files — histories,
evaluations, the comparison, the analysis, ``run.json`` — and shows the figures the numbered
notebooks saved. It is executed with papermill into ``<out>/report/executed/report.ipynb`` and
converted with its code hidden: ``report.html`` always, ``report.pdf`` when XeLaTeX is there.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from pathlib import Path

import pandas as pd

from chocolib import fileio, paths
from chocolib.errors import ChocoError

log = logging.getLogger(__name__)

TEMPLATE = paths.REPO_ROOT / "report" / "report.ipynb"
#: the LaTeX template of the PDF: nbconvert's article on A4
LATEX_TEMPLATE = paths.REPO_ROOT / "report" / "latex" / "a4.tex.j2"
#: the section titles, in order (the tests look for each in the PDF's text)
SECTIONS = (
    "Abstract",
    "Data",
    "Pipeline overview",
    "Model architectures",
    "Training",
    "Inference and submission",
    "Analysis",
    "Gallery",
    "Reproducibility",
)
#: Debian packages nbconvert's PDF export needs
LATEX_PACKAGES = "texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc"


# --------------------------------------------------------------------------------------------
# Pieces the report notebook uses
# --------------------------------------------------------------------------------------------
def markdown_table(table: pd.DataFrame, digits: int = 4, index: bool = True) -> str:
    """A pandas table as a Markdown (pipe) table, floats to `digits` decimals: pandoc turns it into
    a LaTeX table in the PDF and nbconvert into HTML. A column with no value at all is dropped; a
    missing value in a kept column reads "n/a" (the caller says why, beside the table)."""

    def missing(value) -> bool:
        return value is None or (isinstance(value, float) and math.isnan(value))

    def cell(value) -> str:
        if missing(value):
            return "n/a"
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value).replace("|", "\\|")

    frame = table.reset_index() if index else table
    frame = frame[[c for c in frame.columns if not all(missing(v) for v in frame[c])]]
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 version``, ``10 versions``."""
    return f"{count} {word if count == 1 else words or word + 's'}"


def shown_path(path: str | Path, run_root: str | Path | None = None) -> str:
    """A path as the report shows it: relative to the run's output root when inside it, else to
    the repository when inside it or beside it (``../shared/data/…``), else by its last two folders
    (``…/user/kaggle``): never the machine's absolute path."""
    import os

    path = Path(path)
    if not path.is_absolute():
        return str(path)
    if run_root is not None and Path(run_root) != paths.REPO_ROOT and path.is_relative_to(run_root):
        return f"{path.relative_to(run_root)} (in the run's folder)"
    relative = Path(os.path.relpath(path, paths.REPO_ROOT))
    if relative.parts[:1] != ("..",) or relative.parts[1:2] != ("..",):
        return str(relative)
    return "…/" + "/".join(path.parts[-2:])


def shown_command(command: str) -> str:
    """A recorded command line with its absolute paths shown as `shown_path` shows them."""
    return " ".join(shown_path(word) if word.startswith("/") else word for word in command.split())


class FigureCounter:
    """Numbers the report's figures in the order they appear: 'Figure 1', 'Figure 2', … with no gap
    when a figure is missing from a run."""

    def __init__(self):
        self.count = 0

    def caption(self, text: str) -> str:
        self.count += 1
        return f"Figure {self.count}: {text}"


def figure_image(path: str | Path, max_width: int = 1400):
    """A saved figure for the report: scaled to at most `max_width` pixels and re-encoded as JPEG,
    so that the PDF and HTML stay a few megabytes (the PNGs under figures/ keep full resolution)."""
    import io

    from IPython.display import Image as DisplayImage
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        if image.width > max_width:
            image = image.resize((max_width, round(image.height * max_width / image.width)), Image.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85, optimize=True)
    return DisplayImage(data=buffer.getvalue(), format="jpeg", width=720)


def pipeline_stages(record: dict) -> list[str]:
    """The stages of a run, from its own record (``run.json``): each notebook, then the report."""
    return [n["name"].removesuffix(".ipynb") for n in record["notebooks"]] + ["report"]


def pipeline_figure(stages: list[str]):
    """Figure 1: the pipeline as boxes and arrows, drawn from the list of its stages."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(1.35 * len(stages), 1.6))
    ax.set_axis_off()
    width, gap = 1.0, 0.35
    for position, stage in enumerate(stages):
        x = position * (width + gap)
        number, _, name = stage.partition("_")
        label = f"{number}\n{name.replace('_', ' ')}" if name else stage
        ax.add_patch(
            FancyBboxPatch(
                (x, 0),
                width,
                1,
                boxstyle="round,pad=0.02,rounding_size=0.08",
                facecolor="#e8eef7" if name else "#f7efe8",
                edgecolor="#34495e",
            )
        )
        ax.text(x + width / 2, 0.5, label, ha="center", va="center", fontsize=8, wrap=True)
        if position:
            ax.add_patch(FancyArrowPatch((x - gap, 0.5), (x, 0.5), arrowstyle="-|>", mutation_scale=10, color="#34495e"))
    ax.set_xlim(-0.1, len(stages) * (width + gap) - gap + 0.1)
    ax.set_ylim(-0.1, 1.1)
    ax.set_aspect("equal")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Building it
# --------------------------------------------------------------------------------------------
def _export(executed: Path, exporter_name: str) -> bytes:
    import nbconvert
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    if exporter_name == "PDFExporter":
        exporter = nbconvert.PDFExporter(extra_template_paths=[str(LATEX_TEMPLATE.parent)], template_file=LATEX_TEMPLATE.name)
    else:
        exporter = getattr(nbconvert, exporter_name)()
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": "report", "path": str(executed.parent)}})
    return body.encode() if isinstance(body, str) else body


def build_report(out_root: str | Path, template: Path = TEMPLATE) -> Path:
    """Execute the report notebook on the run under `out_root`, write ``report.html`` and, with
    LaTeX, ``report.pdf``; return the PDF's path, else the HTML's."""
    import papermill

    run = paths.RunPaths(paths.from_repo(out_root))
    if not run.run_json.is_file():
        raise ChocoError("no run here: `python -m chocolib pipeline` writes this record, then the report", run.run_json)
    executed = run.executed / "report.ipynb"
    partial = executed.with_name(".report.partial.ipynb")
    executed.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(template),
            str(partial),
            parameters={"out_root": str(run.root)},
            kernel_name="python3",
            cwd=str(template.parent),
            progress_bar=False,
            log_output=False,
        )
    except Exception as exc:
        cell = getattr(exc, "exec_count", None)
        raise ChocoError(
            f"the report notebook failed in cell [{cell}]: {getattr(exc, 'ename', type(exc).__name__)}: "
            f"{str(getattr(exc, 'evalue', exc)).strip().splitlines()[0] if str(getattr(exc, 'evalue', exc)).strip() else ''} "
            f"(executed copy: {executed})"
        ) from None
    finally:
        if partial.exists():
            partial.replace(executed)
    html = fileio.write_bytes(run.report / "report.html", _export(executed, "HTMLExporter"))
    if shutil.which("xelatex") is None:
        log.warning(
            "report: no LaTeX (xelatex) here, so no PDF; %s is written. For the PDF install LaTeX and pandoc "
            "(Debian/Ubuntu: apt-get install %s; macOS: MacTeX and pandoc) and run `python -m chocolib report` again",
            html,
            LATEX_PACKAGES,
        )
        return html
    try:
        pdf = fileio.write_bytes(run.report / "report.pdf", _export(executed, "PDFExporter"))
    except Exception as exc:  # LaTeX failed: nbconvert's message names the problem
        raise ChocoError(
            f"the PDF could not be built ({type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}); "
            f"{html} is written",
            executed,
        ) from None
    log.info("report: %s and %s in %.1f s", pdf, html, time.perf_counter() - started)
    return pdf
