"""The report: its pieces, every figure the notebooks save, and the HTML-only path without LaTeX."""

import re
import shutil

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


def test_markdown_table():
    table = pd.DataFrame({"a": [1.23456, float("nan")], "b": ["x|y", None]}, index=pd.Index(["r1", "r2"], name="row"))
    assert report.markdown_table(table, digits=2).splitlines() == [
        "| row | a | b |", "| --- | --- | --- |", "| r1 | 1.23 | x\\|y |", "| r2 |  |  |"]


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
