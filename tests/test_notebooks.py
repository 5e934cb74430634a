"""The notebooks as a reader meets them, and the pipeline that runs them all (tiny profile)."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from chocolib import paths, pipeline, predict
from chocolib.errors import ChocoError
from conftest import IAPR, REPO, TWIN, assert_user_error, last_line, needs_shared, run_cli

NOTEBOOKS = pipeline.discover_notebooks()
PARAMETERS = {"profile", "data_dir", "annotations", "out_root", "seed"}
#: parameters only some notebooks declare (the pipeline passes each notebook those it declares)
OWN_PARAMETERS = {"05_inference_submission.ipynb": {"dev_hard"}}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_source_notebooks_are_committed_clean(notebook):
    nb = nbformat.read(notebook, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{notebook.name} cell {index} has outputs: clear them"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "one cell tagged 'parameters' for papermill"
    names = {line.split("=")[0].strip() for line in tagged[0].source.splitlines() if "=" in line and not line.startswith("#")}
    assert names == PARAMETERS | OWN_PARAMETERS.get(notebook.name, set())


def test_the_pipeline_passes_each_notebook_the_parameters_it_declares():
    everything = {name: None for name in PARAMETERS | {"dev_hard"}}
    for notebook in NOTEBOOKS:
        assert set(pipeline.declared(notebook, everything)) == PARAMETERS | OWN_PARAMETERS.get(notebook.name, set())


def _executed_errors(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [o.get("ename", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


def _digests(folder: Path, pattern: str) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob(pattern))}


#: what the first, killed run of `tiny_run` had written when it was killed
KILLED: dict = {}


def counted_set(dataset_dir: Path, out: Path) -> Path:
    """A dev-hard-like counted set (photos/, counts.csv) from a generated dataset's test photos
    and their held-back truth."""
    shutil.copytree(dataset_dir / "test", out / "photos")
    shutil.copy(dataset_dir / "test_truth.csv", out / "counts.csv")
    return out


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_source):
    """The tiny pipeline as a user meets it after a crash: a first run killed (its whole process
    group, the notebook's kernel too) once notebook 04 has finished an epoch, then the same
    command again, which must pick up where it stopped. Notebook 05 also scores a counted set."""
    out = tmp_path_factory.mktemp("tiny_run")
    dev_hard = counted_set(tiny_source, tmp_path_factory.mktemp("dev_hard"))
    command = [sys.executable, "-m", "chocolib", "pipeline", "--profile", "tiny", "--out", str(out), "--dev-hard", str(dev_hard)]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # history.csv is written last at the end of an epoch: once it is there, epoch 1 is complete
    history = out / "models" / "faster_rcnn" / "history.csv"
    deadline = time.monotonic() + 900
    while not history.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    # the kernel runs in a session of its own (jupyter_client): kill every descendant, then the pipeline
    import psutil

    assert first.poll() is None, "the first run ended before notebook 04 finished an epoch"
    children = psutil.Process(first.pid).children(recursive=True)
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    psutil.wait_procs(children, timeout=30)
    KILLED.update(
        record=json.loads((out / "report" / "run.json").read_text()),
        epochs=len(history.read_text().splitlines()) - 1,
        dev_hard=dev_hard,
    )
    return out, subprocess.run(command, capture_output=True, text=True)


@pytest.mark.slow
def test_a_killed_pipeline_picks_up_where_it_stopped(tiny_run):
    out, result = tiny_run
    assert result.returncode == 0, result.stderr[-3000:]
    killed = KILLED["record"]
    assert killed["status"] == "running" and KILLED["epochs"] == 1
    assert [n["status"] for n in killed["notebooks"]] == ["ok", "ok", "ok", "pending", "pending", "pending"]
    executed = nbformat.read(out / "report" / "executed" / "04_faster_rcnn_training.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert "resuming" in text and "after epoch 1 of 2" in text
    executed = nbformat.read(out / "report" / "executed" / "03_yolo12_attempt.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert "already holds this finished run" in text  # YOLO12s finished before the kill: not trained again


@pytest.mark.slow
def test_tiny_pipeline_end_to_end(tiny_run):
    out, result = tiny_run
    assert result.returncode == 0, result.stderr[-3000:]
    run_json = out / "report" / "run.json"
    record = json.loads(run_json.read_text())
    assert record["report"]["status"] == "ok" and last_line(result.stdout) == record["report"]["path"]
    assert record["status"] == "ok" and record["profile"]["name"] == "tiny" and record["data"]["embedded"]
    assert record["command"] == f"python -m chocolib pipeline --profile tiny --out {out} --dev-hard {KILLED['dev_hard']}"
    assert record["data"]["dev_hard"] == str(KILLED["dev_hard"])
    assert [n["name"] for n in record["notebooks"]] == [p.name for p in NOTEBOOKS]
    assert all(n["status"] == "ok" and n["seconds"] > 0 for n in record["notebooks"])
    assert record["packages"]["torch"] and record["packages"]["timm"] and record["git"]["commit"]
    # the tiny profile trains the offline pretrained start, as the cpu profile does
    assert record["models"]["faster_rcnn"] == {"backbone": "efficientnet_lite0", "weights_used": "imagenet"}
    for nb in NOTEBOOKS:
        assert not _executed_errors(out / "report" / "executed" / nb.name)
    for figure in (
        "01_class_frequency.png",
        "01_annotated_photos.png",
        "01_box_sizes.png",
        "02_augmented_versions.png",
        "02_class_counts.png",
        "02_removed.png",
        "03_training_draws.png",
        "03_training_loss.png",
        "03_loss_components.png",
        "03_val_f1.png",
        "03_learning_rate.png",
        "03_predictions.png",
        "04_backbone_ablation.png",
        "04_training_loss.png",
        "04_loss_components.png",
        "04_val_f1.png",
        "04_learning_rate.png",
        "04_crop_classifier.png",
        "05_threshold.png",
        "05_count_error.png",
        "05_count_confusion.png",
        "05_robustness.png",
        "05_shifts.png",
        "05_shift_errors.png",
        "06_heatmaps.png",
        "06_features_2d.png",
        "06_features_3d.png",
        "06_gallery.png",
    ):
        assert (out / "figures" / figure).stat().st_size > 10_000
    assert len(list((out / "data" / "interim" / "labels").glob("*.txt"))) == 12
    manifest = json.loads((out / "data" / "processed" / "augmented" / "manifest.json").read_text())
    assert manifest["params"]["passes"] == 1 and manifest["counts"]["val_photos"] >= 3
    history = (out / "models" / "faster_rcnn" / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 2 and (out / "models" / "faster_rcnn" / "best.pt").exists()  # tiny: 2 epochs
    # notebook 04's crop classifier lies beside the detector, and notebook 05's detections carry its scores
    assert (out / "models" / "faster_rcnn" / "crop_classifier.pt").is_file()
    assert "crop_score" in (out / "models" / "faster_rcnn" / "detections_val.csv").read_text().splitlines()[0]
    evaluation = json.loads((out / "models" / "faster_rcnn" / "evaluation.json").read_text())
    assert [rule["cross_class"] for rule in evaluation["cross_class_rules"]] == ["off", "suppress", "merge", "classify"]
    yolo_history = (out / "models" / "yolo12" / "history.csv").read_text().splitlines()
    assert len(yolo_history) == 1 + 2 and "train_box_loss" in yolo_history[0] and (out / "models" / "yolo12" / "best.pt").exists()
    executed_03 = nbformat.read(out / "report" / "executed" / "03_yolo12_attempt.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in executed_03.cells if c.cell_type == "code" for o in c.outputs)
    assert "YOLO12s: 9.26 M parameters" in printed
    assert not any(word in printed for word in ("Downloading", "https://", "Ultralytics Settings")), "notebook 03 went online or chatted"
    analysis = json.loads((out / "models" / "faster_rcnn" / "analysis.json").read_text())
    # EfficientNet-Lite0's body (48 convolutions, no squeeze-and-excitation) and the FPN's 4: every one has a map
    assert analysis["convolutions"] == 52 and analysis["spatial_convolutions"] == 52 and analysis["roi_points"] > 0
    assert set(analysis["silhouette"]) == {"512-d features", "PCA 2D", "t-SNE 2D", "t-SNE 3D"}
    assert not list(out.rglob("*.partial.ipynb")) and not list(out.rglob("*.tmp*"))


@pytest.mark.slow
def test_the_submission_scores_as_notebook_05_reported(tiny_run):
    """The tiny run's submission, scored by the command line against the embedded dataset's
    held-back truth, equals the score notebook 05 reported."""
    out, result = tiny_run
    assert result.returncode == 0, result.stderr[-3000:]
    data = out / "data" / "raw" / "embedded-tiny-seed0"
    submission = out / "submissions" / "RCNN_submission.csv"
    lines = submission.read_text().splitlines()
    assert lines[0] == (data / "sample_submission.csv").read_text().splitlines()[0]
    assert [line.split(",")[0] for line in lines[1:]] == [
        line.split(",")[0] for line in (data / "sample_submission.csv").read_text().splitlines()[1:]
    ]
    evaluation = json.loads((out / "models" / "faster_rcnn" / "evaluation.json").read_text())
    scored = run_cli("score", "--truth", data / "test_truth.csv", "--submission", submission)
    assert scored.returncode == 0, scored.stderr
    assert float(last_line(scored.stdout)) == pytest.approx(evaluation["test_score"], abs=5e-7)
    assert predict.SWEEP[0] <= evaluation["threshold"] <= predict.SWEEP[-1] and 0.0 <= evaluation["val_f1"] <= 1.0
    threshold = json.loads((out / "models" / "faster_rcnn" / "threshold.json").read_text())
    assert threshold["threshold"] == evaluation["threshold"]
    assert threshold["cross_class"] == evaluation["cross_class"] and threshold["cross_class"] in predict.CROSS_CLASS_RULES
    assert [row["cross_class"] for row in threshold["cross_class_rules"]] == list(predict.CROSS_CLASS_RULES)
    # the submission: the raw test detections counted under the rule and at the threshold notebook 05 saved
    import pandas as pd

    raw_test = predict.read_detections(out / "models" / "faster_rcnn" / "detections_test.csv")
    expected = raw_test.one_per_chocolate(threshold["cross_class"]).counts(threshold["threshold"])
    written = pd.read_csv(submission, dtype={"id": str}).set_index("id")
    pd.testing.assert_frame_equal(written, expected.loc[written.index], check_names=False)
    executed = nbformat.read(out / "report" / "executed" / "05_inference_submission.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert f"test score (course metric): {evaluation['test_score']:.6f}" in text


@pytest.mark.slow
def test_notebook_05_compares_both_models_from_their_files(tiny_run):
    import pandas as pd

    out, result = tiny_run
    assert result.returncode == 0, result.stderr[-3000:]
    data = out / "data" / "raw" / "embedded-tiny-seed0"
    comparison = pd.read_csv(out / "models" / "comparison.csv", index_col="model")
    assert list(comparison.index) == ["Faster R-CNN EfficientNet-Lite0 FPN", "YOLO12s"]
    assert comparison.loc["YOLO12s", "parameters (M)"] == pytest.approx(9.2582, abs=1e-4)
    for name, folder in (("Faster R-CNN EfficientNet-Lite0 FPN", "faster_rcnn"), ("YOLO12s", "yolo12")):
        evaluation = json.loads((out / "models" / folder / "evaluation.json").read_text())
        history = pd.read_csv(out / "models" / folder / "history.csv")
        row = comparison.loc[name]
        assert row["val count F1 at its threshold"] == pytest.approx(evaluation["val_f1"], abs=1e-4)
        assert row["training images/s"] == pytest.approx(history["images_per_s"].mean(), rel=1e-3)
        assert row["inference images/s"] == pytest.approx(evaluation["val_images_per_s"], rel=1e-3)
        assert row["epochs trained"] == len(history)
    submission = out / "submissions" / "YOLO12_submission.csv"
    scored = run_cli("score", "--truth", data / "test_truth.csv", "--submission", submission)
    assert scored.returncode == 0, scored.stderr
    yolo = json.loads((out / "models" / "yolo12" / "evaluation.json").read_text())
    assert float(last_line(scored.stdout)) == pytest.approx(yolo["test_score"], abs=5e-7)


@pytest.mark.slow
def test_a_notebook_runs_with_its_defaults_and_reproduces_the_files(tiny_run, tmp_path, monkeypatch):
    """As in Jupyter: no injected parameters; the output root comes from CHOCO_OUT (tests never write
    into the tree). Same seed and profile as the pipeline run: the same bytes in every figure and label."""
    import papermill

    monkeypatch.setenv("CHOCO_OUT", str(tmp_path))
    monkeypatch.delenv("CHOCO_DATA", raising=False)
    monkeypatch.delenv("CHOCO_ANNOTATIONS", raising=False)
    papermill.execute_notebook(
        str(NOTEBOOKS[0]), str(tmp_path / "out.ipynb"), cwd=str(NOTEBOOKS[0].parent), kernel_name="python3", progress_bar=False
    )
    assert (tmp_path / "data" / "raw" / "embedded-tiny-seed0" / "synth.json").exists()
    pipeline_out = tiny_run[0]
    for folder, pattern in (("figures", "01_*.png"), ("data/interim/labels", "*")):
        mine = _digests(tmp_path / folder, pattern)
        assert mine and mine == _digests(pipeline_out / folder, pattern), folder


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("xelatex") is None or shutil.which("pdftotext") is None,
    reason="no LaTeX/poppler here (make setup installs them on Debian; CI has them)",
)
def test_the_tiny_pipeline_ends_with_a_pdf_of_every_section_and_figure(tiny_run):
    import subprocess

    from chocolib import report

    out, result = tiny_run
    assert result.returncode == 0, result.stderr[-3000:]
    pdf = out / "report" / "report.pdf"
    assert last_line(result.stdout) == str(pdf) and (out / "report" / "report.html").stat().st_size > 10_000
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for section in report.SECTIONS:
        assert section in text, f"section {section!r} missing from the PDF"
    assert "Traceback" not in text and "Error" not in text
    page_one = " ".join(subprocess.run(["pdftotext", "-l", "1", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split())
    assert "smoke test" in page_one and "not meaningful" in page_one  # the tiny report says what it is, up front
    assert "595.28 x 841.89 pts (A4)" in subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert str(out) not in text and str(REPO) not in text and "/tmp/" not in text  # no machine's absolute path
    numbers = [int(n) for n in re.findall(r"Figure (\d+):", text)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 24
    assert " 1 versions" not in text
    images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
    figures = sorted((out / "figures").glob("*.png"))
    assert len([line for line in images if " image " in line]) >= len(figures) >= 24


@pytest.mark.slow
def test_without_latex_the_report_is_html_and_says_what_to_install(tiny_run, monkeypatch, caplog):
    from chocolib import report

    out, result = tiny_run
    assert result.returncode == 0, result.stderr[-3000:]
    monkeypatch.setattr(report.shutil, "which", lambda name: None)
    built = report.build_report(out)
    assert built == out / "report" / "report.html" and built.stat().st_size > 10_000
    assert "apt-get install texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc" in caplog.text


def test_a_failing_notebook_is_named_with_its_cell(tmp_path, tiny_source):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("profile = 'tiny'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("from chocolib.errors import ChocoError\nraise ChocoError('labels missing', 'some/file.txt')"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "01_broken.ipynb")
    nbformat.write(nbformat.v4.new_notebook(), folder / "02_never_runs.ipynb")
    with pytest.raises(ChocoError) as caught:
        pipeline.run_pipeline("tiny", data_dir=tiny_source, out_root=tmp_path / "out", notebooks_dir=folder)
    message = str(caught.value)
    executed = tmp_path / "out" / "report" / "executed" / "01_broken.ipynb"
    # [4]: the execution count shown in the executed copy, after papermill's injected-parameters cell
    assert "notebook 01_broken.ipynb failed in cell [4]: ChocoError: some/file.txt: labels missing" in message
    assert str(executed) in message and executed.exists()
    record = json.loads((tmp_path / "out" / "report" / "run.json").read_text())
    assert record["status"] == "failed" and [n["status"] for n in record["notebooks"]] == ["failed", "pending"]


def test_pipeline_without_an_annotation_export(tmp_path, tiny_source):
    import shutil

    data = Path(shutil.copytree(tiny_source, tmp_path / "kaggle", ignore=shutil.ignore_patterns("annotations")))
    result = run_cli("pipeline", "--profile", "tiny", "--data", data, "--out", tmp_path / "out")
    assert_user_error(result, "no annotation export", "--annotations")


def test_missing_earlier_output_names_the_notebook(tmp_path):
    with pytest.raises(ChocoError, match=r"run notebooks/01_annotation_import.ipynb first"):
        paths.require(tmp_path / "labels", "01_annotation_import")


@needs_shared
@pytest.mark.slow
def test_pipeline_on_the_twin_with_the_real_annotation(tmp_path):
    """The pipeline's --data/--annotations reach notebook 01 on the twin: only that notebook runs
    (the rest of the pipeline is the tiny run's, on the embedded dataset)."""
    only_01 = tmp_path / "notebooks"
    only_01.mkdir()
    shutil.copy(NOTEBOOKS[0], only_01 / NOTEBOOKS[0].name)
    record = pipeline.run_pipeline(
        "tiny",
        data_dir=TWIN,
        annotations=IAPR / "annotations" / "roboflow_yolo",
        out_root=tmp_path / "out",
        notebooks_dir=only_01,
        with_report=False,
    )
    assert Path(json.loads(record.read_text())["data"]["dataset"]).resolve() == TWIN.resolve()
    executed = nbformat.read(tmp_path / "out" / "report" / "executed" / NOTEBOOKS[0].name, as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert "images=90 boxes=584 mismatches=1" in text


@pytest.mark.slow
def test_the_trained_detector_beats_an_untrained_one_on_the_validation_photos(tiny_run):
    """Two tiny epochs must teach something: the validation loss of the run's best.pt against the
    same detector before training (its ImageNet body, random heads), on the same photos and the
    same seeded RoI sampling. Measured once: trained 0.934 against untrained 3.718 (0.25 of it); the
    bound leaves room for other machines and seeds."""
    import torch

    from chocolib import dataset, models, train

    out, result = tiny_run
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads((out / "models" / "faster_rcnn" / "config.json").read_text())
    config = train.TrainConfig(**{k: v for k, v in saved["train"].items() if k in train.TrainConfig.__dataclass_fields__})
    loader = torch.utils.data.DataLoader(
        dataset.DetectionDataset(out / "data" / "processed" / "augmented" / "val"), batch_size=2, collate_fn=dataset.collate_fn
    )
    trained, _ = models.load_detector(out / "models" / "faster_rcnn" / "best.pt")
    torch.manual_seed(config.seed)
    untrained, _ = models.build_detector(models.DetectorConfig(**saved["detector"]))
    losses = {
        name: train.evaluate(model, loader, torch.device("cpu"), config, epoch=1)["val_loss"]
        for name, model in (("trained", trained), ("untrained", untrained))
    }
    assert losses["trained"] < 0.5 * losses["untrained"], losses


@pytest.mark.slow
def test_bf16_inference_finds_what_fp32_finds_on_the_runs_checkpoint(tiny_run):
    """amp=bf16 at inference (`predict --amp bf16`; emulated, and slower, on a CPU without bf16
    units): on the tiny run's trained Faster R-CNN and its validation photos, the fp32 detections are
    found again in bf16, same class, same place, nearly the same score, so the counts at any threshold
    move only for boxes that sit on it. The score floor is lowered to 0.01 so that two tiny epochs
    leave enough detections to compare. The tiny run's YOLO12s (two epochs from random weights) has
    no detection to compare even at 0.01; its bf16 step is test_precision's."""
    import torch
    from torchvision.ops import box_iou

    from chocolib import predict

    out, result = tiny_run
    assert result.returncode == 0, result.stderr[-3000:]
    val = out / "data" / "processed" / "augmented" / "val" / "images"
    model, side = predict.load_for_inference(out / "models" / "faster_rcnn" / "best.pt", "cpu")
    model.roi_heads.score_thresh = 0.01
    found = {amp: predict.detect(model, val, side, amp=amp).table for amp in ("off", "bf16")}
    reference = found["off"][found["off"]["score"] >= 0.02]  # clear of the floor bf16 may cross
    assert len(reference) >= 10, f"only {len(reference)} fp32 detections to compare"
    corners, matched = ["x0", "y0", "x1", "y1"], 0
    for photo, mine in reference.groupby("id"):
        theirs = found["bf16"][found["bf16"]["id"] == photo]
        if theirs.empty:
            continue
        overlap = box_iou(torch.tensor(mine[corners].to_numpy()), torch.tensor(theirs[corners].to_numpy())).numpy()
        same_class = mine["label"].to_numpy()[:, None] == theirs["label"].to_numpy()[None, :]
        near_score = abs(mine["score"].to_numpy()[:, None] - theirs["score"].to_numpy()[None, :]) <= 0.05
        matched += int(((overlap >= 0.7) & same_class & near_score).any(axis=1).sum())
    assert matched >= 0.8 * len(reference), f"{matched} of {len(reference)} fp32 detections found again in bf16"


@pytest.mark.slow
def test_the_reports_numbers_are_the_runs(tiny_run):
    """The report's sentences carry evaluation.json's numbers, not numbers of their own."""
    out, result = tiny_run
    assert result.returncode == 0, result.stderr[-3000:]
    evaluation = json.loads((out / "models" / "faster_rcnn" / "evaluation.json").read_text())
    html = re.sub(r"<[^>]+>", "", (out / "report" / "report.html").read_text())
    html = " ".join(html.split())
    assert f"at a score threshold of {evaluation['threshold']:.2f} chosen on validation" in html
    assert f"mAP@.5 is {evaluation['map_50']:.4f}" in html
    assert f"{evaluation['shift_f1']:.4f} under the shift suite" in html
    dev_hard = evaluation["dev_hard"]
    assert dev_hard["photos"] == 6 and f"{dev_hard['f1']:.4f} on the 6 photos of the public hard set" in html
    parts = [evaluation["val_f1"], evaluation["corruption_f1"], evaluation["shift_f1"], dev_hard["f1"]]
    assert evaluation["criterion"] == pytest.approx(sum(parts) / 4)
    assert f"ranked by, is {evaluation['criterion']:.4f}" in html
    shifts_table = (out / "models" / "faster_rcnn" / "shifts.csv").read_text().splitlines()
    assert len(shifts_table) == 1 + 1 + 12  # header, clean, 4 shifts × 3 severities
