"""The report: its pieces, every figure the notebooks save, and the HTML-only path without LaTeX."""

import re

import nbformat
import pandas as pd
import pytest

from chocolib import paths, pipeline, report
from chocolib.errors import ChocoError


def _saved_figures() -> set[str]:
    names = set()
    for notebook in pipeline.discover_notebooks():
        names |= set(re.findall(r"\d\d_[a-z0-9_]+\.png", notebook.read_text()))
    return names


def test_the_report_shows_every_figure_the_notebooks_save():
    template = report.TEMPLATE.read_text()
    missing = sorted(name for name in _saved_figures() if name not in template)
    assert not missing, f"report/report.ipynb does not show {missing}"
    assert "00_pipeline.png" in template


def test_the_template_is_committed_clean_with_every_section():
    nb = nbformat.read(report.TEMPLATE, as_version=4)
    assert all(not c.outputs for c in nb.cells if c.cell_type == "code")
    headings = [c.source.strip().lstrip("# ") for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("# ")]
    assert headings == list(report.SECTIONS)


def test_markdown_table_says_n_a_and_drops_empty_columns():
    table = pd.DataFrame(
        {"a": [1.23456, float("nan")], "b": ["x|y", None], "empty": [None, float("nan")]}, index=pd.Index(["r1", "r2"], name="row")
    )
    assert report.markdown_table(table, digits=2).splitlines() == [
        "| row | a | b |",
        "| --- | --- | --- |",
        "| r1 | 1.23 | x\\|y |",
        "| r2 | n/a | n/a |",
    ]


def test_plural():
    assert [report.plural(n, "version") for n in (0, 1, 2)] == ["0 versions", "1 version", "2 versions"]
    assert report.plural(1, "(photo, class) pair") == "1 (photo, class) pair"


def test_the_report_never_shows_a_machines_absolute_path():
    assert report.shown_path(paths.REPO_ROOT / "runs" / "cpu") == "runs/cpu"
    assert report.shown_path(paths.REPO_ROOT) == "."
    assert report.shown_path(paths.REPO_ROOT.parent / "shared" / "data" / "iapr2025-twin") == "../shared/data/iapr2025-twin"
    assert report.shown_path("/home/someone/downloads/kaggle") == "…/downloads/kaggle"
    assert report.shown_path("data/kaggle") == "data/kaggle"
    assert report.shown_path("/tmp/run/data/raw/embedded", "/tmp/run") == "data/raw/embedded (in the run's folder)"
    command = f"python -m chocolib pipeline --data /home/someone/kaggle --out {paths.REPO_ROOT / 'runs' / 'k'}"
    assert report.shown_command(command) == "python -m chocolib pipeline --data …/someone/kaggle --out runs/k"


def test_figures_are_numbered_without_gaps():
    figures = report.FigureCounter()
    assert [figures.caption("a"), figures.caption("b")] == ["Figure 1: a", "Figure 2: b"]
    template = report.TEMPLATE.read_text()
    assert not re.search(r"Figure \d", template), "captions are numbered by report.FigureCounter, not by hand"


def test_the_pdf_template_is_a4():
    template = report.LATEX_TEMPLATE.read_text()
    assert "a4paper" in template and "extends 'index.tex.j2'" in template


def test_pipeline_figure_follows_the_stages():
    record = {"notebooks": [{"name": "01_annotation_import.ipynb"}, {"name": "02_augmentation.ipynb"}]}
    stages = report.pipeline_stages(record)
    assert stages == ["01_annotation_import", "02_augmentation", "report"]
    fig = report.pipeline_figure(stages)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["01\nannotation import", "02\naugmentation", "report"]


def test_report_without_a_run_is_a_clear_error(tmp_path):
    with pytest.raises(ChocoError, match="no run here"):
        report.build_report(tmp_path)
