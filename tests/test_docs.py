"""The front page and the method pages: every relative link points to a file that exists, and the
front page stays a page a newcomer reads in five minutes."""

import re

import pytest

from conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_points_to_a_file_that_exists(page):
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+://|^mailto:|^#", target):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(REPO)} links to missing files: {broken}"


def test_the_readme_is_short_and_links_every_method_page():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 210
    for page in sorted((REPO / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in text, f"README.md does not link docs/{page.name}"
    assert "make all" in text and "make test" in text and 'pytest -q -m "not slow"' in text


def _printed(notebook: str) -> str:
    """Everything the committed run's executed `notebook` printed (its stream outputs)."""
    import nbformat

    executed = nbformat.read(REPO / "report" / "executed" / notebook, as_version=4)
    return "\n".join(
        output.get("text", "")
        for cell in executed.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )


def _table_row(text: str, starts: str) -> str:
    rows = [line for line in text.splitlines() if line.startswith(f"| {starts}")]
    assert rows, f"README.md has no results row starting with {starts!r}"
    return rows[0]


def test_the_readmes_results_are_what_the_committed_run_printed():
    """The first rows of "Results at a glance" quote the committed run (report/executed/), and the
    section names the commit report/run.json recorded: a rerun committed without its README, or a
    README edited by hand, turns this red."""
    import json

    run = json.loads((REPO / "report" / "run.json").read_text(encoding="utf-8"))
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    glance = readme[readme.index("## Results at a glance") : readme.index("## Running it on the real Kaggle data")]
    assert f"`make canonical` at commit {run['git']['commit'][:7]}" in glance, "README names another commit than report/run.json"

    printed = _printed("05_inference_submission.ipynb")
    summary = re.search(
        r"Validation count F1 (?P<val>\d+\.\d+) at threshold (?P<threshold>\d+\.\d+)[ ,].*?; mAP@\.5 (?P<map>\d+\.\d+); corruption F1 "
        r"(?P<corruption>\d+\.\d+), shift F1 (?P<shift>\d+\.\d+), dev-hard F1 (?P<dev_hard>\d+\.\d+); their mean, the criterion: (?P<criterion>\d+\.\d+)",
        printed,
    )
    assert summary, "notebook 05 of the committed run printed no summary line"
    faster = _table_row(glance, "Faster R-CNN")
    cells = [cell.strip(" *") for cell in faster.strip("|").split("|")]
    assert cells[1].replace("*", "") == f"{summary['val']} ({summary['threshold']})"
    assert cells[2] == summary["corruption"] and cells[3].startswith(summary["shift"])
    assert cells[4] == summary["dev_hard"] and cells[5] == summary["map"]
    assert summary["criterion"] in glance, "the criterion notebook 05 printed is not in the section"

    yolo = re.search(r"YOLO12s at (?P<val>\d+\.\d+) \(threshold (?P<threshold>\d+\.\d+)\)", printed)
    assert yolo, "notebook 05 of the committed run printed no comparison line"
    assert f"| {yolo['val']} ({yolo['threshold']}) |" in _table_row(glance, "YOLO12s")
