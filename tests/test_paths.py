"""Where outputs go: runs/<profile> by default, relative paths never taken from the kernel's folder,
and nothing a user runs by default touches the committed run."""

import os
import shutil
import subprocess
import sys

import pytest

from chocolib import paths
from conftest import REPO, assert_user_error, run_cli


@pytest.fixture
def no_choco_env(monkeypatch):
    for name in ("CHOCO_OUT", "CHOCO_DATA", "CHOCO_ANNOTATIONS"):
        monkeypatch.delenv(name, raising=False)


def test_the_default_output_root_is_runs_profile_never_the_repository(no_choco_env):
    assert paths.RunPaths.at(None, "cpu").root == REPO / "runs" / "cpu"
    assert paths.RunPaths.at(None).root == REPO / "runs" / "tiny"
    assert paths.RunPaths.at(None, "full").root != REPO


def test_relative_environment_paths_are_taken_from_the_repository_root(no_choco_env, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # e.g. a Jupyter kernel in notebooks/
    monkeypatch.setenv("CHOCO_OUT", "runs/mine")
    monkeypatch.setenv("CHOCO_DATA", "../elsewhere/kaggle")
    monkeypatch.setenv("CHOCO_ANNOTATIONS", "exports/coco.json")
    run = paths.RunPaths.at(None, "cpu")
    assert run.root == REPO / "runs" / "mine"
    assert paths.resolve_data(run, "cpu", None) == ((REPO / "../elsewhere/kaggle").resolve(), False)
    assert paths.resolve_annotations(REPO, None) == REPO / "exports" / "coco.json"
    assert paths.RunPaths.at("/abs/out").root == paths.from_repo("/abs/out")


def test_relative_command_line_paths_are_taken_from_where_the_user_stands(tmp_path):
    result = run_cli("report", "--out", "runs/mine", cwd=tmp_path)
    assert_user_error(result, str(tmp_path / "runs" / "mine" / "report" / "run.json"), "no run here")


def _clone_of_the_working_tree(destination):
    """The repository as a fresh clone would have it, with this checkout's uncommitted changes."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=destination, check=True)
    subprocess.run([*git, "add", "-A"], cwd=destination, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "clone"], cwd=destination, check=True)
    return destination


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_notebook_run_with_its_defaults_leaves_a_fresh_clone_clean(tmp_path):
    clone = _clone_of_the_working_tree(tmp_path / "clone")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHOCO_")}
    env["PYTHONPATH"] = str(clone)  # the kernel imports the clone's chocolib, as in the clone's own .venv
    notebook = clone / "notebooks" / "01_annotation_import.ipynb"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(notebook),
            str(tmp_path / "executed.ipynb"),
            "--cwd",
            str(clone / "notebooks"),
            "--kernel",
            "python3",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone, capture_output=True, text=True, check=True
    )
    assert status.stdout == "", status.stdout
    assert sorted(p.name for p in (clone / "runs" / "tiny" / "figures").glob("01_*.png"))
