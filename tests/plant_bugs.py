"""Plant realistic one-line bugs, one at a time, and check that the tests meant to catch each turn red.

    python tests/plant_bugs.py            # the bugs the fast tests (-m "not slow") must catch
    python tests/plant_bugs.py --slow     # also those only the slow tests (training, the pipeline) catch
    python tests/plant_bugs.py --only collate threshold_json

Each mutation replaces one exact line fragment in one file of chocolib, runs the named tests with
``pytest -x -q``, and always puts the file back (byte for byte, checked). A mutation whose
fragment is no longer in the file is reported as stale, never skipped silently: the list has to
follow the code. Prints one row per mutation (caught / MISSED, the test that failed, seconds) and
exits non-zero when one is missed. A test suite is only as good as the bugs it would notice.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    original: str
    planted: str
    tests: tuple[str, ...]
    slow: bool = False


MUTATIONS = [
    Mutation(
        "collate",
        "chocolib/predict.py",
        "image.to(torch.float32) / 255",
        "image.to(torch.float32)",
        ("tests/test_predict.py::test_detect_gives_the_model_floats_in_0_1_and_counts_what_it_finds",),
    ),
    Mutation(
        "threshold_json",
        "chocolib/predict.py",
        "threshold = read_threshold(weights.parent)",
        "threshold = None",
        ("tests/test_predict.py::test_predict_without_threshold_uses_the_saved_one_and_every_option_reaches_it",),
    ),
    Mutation(
        "threshold_on_clean_only",
        "chocolib/predict.py",
        'chosen = plateau_middle(sweep, "objective")',
        'chosen = plateau_middle(sweep, "f1")',
        (
            "tests/test_predict.py::test_a_suite_pulls_the_threshold_to_where_the_worse_photos_still_count",
            "tests/test_judge.py::test_the_threshold_is_chosen_where_the_suites_still_count_unless_asked_for_clean_validation",
        ),
    ),
    Mutation(
        "count_curve_strict",
        "chocolib/predict.py",
        "keep = self.score >= (",
        "keep = self.score > (",
        ("tests/test_predict.py::test_count_curve_scores_the_counts_of_detections_for_one_threshold_and_one_per_class",),
    ),
    Mutation(
        "clean_detected_twice",
        "chocolib/judge.py",
        "seed, corruptions, tta=tta, clean=found)",
        "seed, corruptions, tta=tta)",
        ("tests/test_judge.py::test_the_criterion_is_the_mean_of_its_four_parts",),
    ),
    Mutation(
        "boxes_in_bf16",
        "chocolib/models/__init__.py",
        "    keep_boxes_in_fp32(model)\n    return model, used",
        "    return model, used",
        ("tests/test_precision.py::test_under_bf16_the_faster_rcnn_makes_anchors_and_decodes_boxes_in_fp32",),
    ),
    Mutation(
        "yolo_boxes_in_bf16",
        "chocolib/models/yolo12.py",
        "raw = decoded_in_fp32(model, model(batch))",
        "raw = model(batch)",
        ("tests/test_precision.py::test_under_bf16_yolo12_decodes_its_boxes_and_computes_its_loss_in_fp32",),
    ),
    Mutation(
        "tta_flag",
        "chocolib/predict.py",
        "    weights, images, out = Path(weights), Path(images), Path(out)\n    threshold, tta = threshold_for(weights, threshold), tta_for(weights, tta)",
        "    weights, images, out = Path(weights), Path(images), Path(out)\n    threshold, tta = threshold_for(weights, threshold), tta_for(weights, None)",
        ("tests/test_predict.py::test_predict_without_threshold_uses_the_saved_one_and_every_option_reaches_it",),
    ),
    Mutation(
        "work_side_flag",
        "chocolib/cli.py",
        "            args.device,\n            args.work_side,\n",
        "            args.device,\n            None,\n",
        ("tests/test_predict.py::test_predict_without_threshold_uses_the_saved_one_and_every_option_reaches_it",),
    ),
    Mutation(
        "patience",
        "chocolib/engine.py",
        "progress.stopped_early = progress.stale >= config.patience",
        "progress.stopped_early = progress.stale > config.patience",
        ("tests/test_engine.py::test_early_stopping_and_the_best_epoch_follow_a_scripted_history",),
    ),
    Mutation(
        "monitor",
        "chocolib/engine.py",
        'return value < best if monitor == "val_loss" else value > best',
        "return value < best",
        ("tests/test_engine.py::test_early_stopping_and_the_best_epoch_follow_a_scripted_history",),
    ),
    Mutation(
        "tie_is_better",
        "chocolib/engine.py",
        'return value < best if monitor == "val_loss" else value > best',
        'return value <= best if monitor == "val_loss" else value >= best',
        ("tests/test_engine.py::test_early_stopping_and_the_best_epoch_follow_a_scripted_history",),
    ),
    Mutation(
        "metric_tp",
        "chocolib/metric.py",
        "tp = np.minimum(true_counts, predicted_counts)",
        "tp = np.maximum(true_counts, predicted_counts)",
        ("tests/test_metric.py",),
    ),
    Mutation(
        "metric_fpn",
        "chocolib/metric.py",
        "fpn = np.abs(true_counts - predicted_counts)",
        "fpn = (true_counts - predicted_counts)",
        ("tests/test_metric.py",),
    ),
    Mutation(
        "kaggle_order",
        "chocolib/classes.py",
        '    "Jelly White",\n    "Jelly Milk",',
        '    "Jelly Milk",\n    "Jelly White",',
        ("tests/test_metric.py::test_the_class_order_is_kaggles_header_written_out",),
    ),
    Mutation(
        "plateau",
        "chocolib/predict.py",
        'return float(sweep["threshold"].iloc[(first + last) // 2])',
        'return float(sweep["threshold"].iloc[first])',
        ("tests/test_predict.py::test_plateau_middle",),
    ),
    Mutation(
        "clean_to_model",
        "chocolib/robustness.py",
        "corrupted = [(predict.as_tensor(corrupt(image, name, severity, seed, stem)), photo_id)",
        "corrupted = [(predict.as_tensor(image), photo_id)",
        ("tests/test_robustness.py::test_the_model_sees_each_corrupted_photo_not_the_clean_one",),
    ),
    Mutation(
        "paste_label",
        "chocolib/copy_paste.py",
        "labels.append(cutout.label)",
        "labels.append(self.pool[0].label)",
        ("tests/test_copy_paste.py::test_a_pasted_chocolates_label_is_the_class_whose_pixels_it_holds",),
    ),
    Mutation(
        "zoom_out_boxes",
        "chocolib/shifts.py",
        "boxes = scene.boxes * scale + [left, top, left, top]",
        "boxes = scene.boxes + [left, top, left, top]",
        ("tests/test_shifts.py",),
    ),
    Mutation(
        "zoom_in_truth",
        "chocolib/shifts.py",
        "keep = visible >= MIN_VISIBLE",
        "keep = visible > 0",
        ("tests/test_shifts.py::test_zoom_in_counts_only_chocolates_at_least_half_in_the_frame",),
    ),
    Mutation(
        "scale_jitter_boxes",
        "chocolib/augment.py",
        'xyxy = self._xyxy(target["boxes"]) * scale + torch.tensor([left, top, left, top], dtype=torch.float32)',
        'xyxy = self._xyxy(target["boxes"]) + torch.tensor([left, top, left, top], dtype=torch.float32)',
        ("tests/test_augment.py::test_zoom_out_shrinks_the_chocolate_onto_the_photos_own_colour_and_zoom_in_enlarges_it",),
    ),
    Mutation(
        "bf16_everywhere",
        "chocolib/precision.py",
        "        if CPU_BF16_FASTER.get(model, False):",
        "        if True:",
        ("tests/test_precision.py::test_auto_follows_the_device_and_the_measurement",),
    ),
    Mutation(
        "resume_precision",
        "chocolib/precision.py",
        '    if saved and saved["device_type"] == chosen.device_type:',
        "    if False:",
        ("tests/test_precision.py::test_a_resumed_run_keeps_the_precision_it_started_in",),
    ),
    Mutation(
        "criterion_of_four",
        "chocolib/judge.py",
        "    return sum(measured.values()) / len(measured)",
        "    return sum(measured.values()) / len(PARTS)",
        ("tests/test_judge.py",),
    ),
    Mutation(
        "pen_hides_its_neighbours",
        "chocolib/shifts.py",
        "if _covered(np.maximum(hidden, mask), scene.boxes).max() <= cover + PEN_SLACK:",
        "if _covered(mask, scene.boxes[index : index + 1]).max() <= cover + PEN_SLACK:",
        ("tests/test_shifts.py",),
    ),
    Mutation(
        "crowded_occluders_ignored",
        "chocolib/train.py",
        "[copy_paste.copy_paste(samples, copy_paste_params(config))] if config.copy_paste",
        "[copy_paste.copy_paste(samples, copy_paste.CopyPasteParams())] if config.copy_paste",
        ("tests/test_copy_paste.py",),
    ),
    Mutation(
        "stretched_box_not_updated",
        "chocolib/copy_paste.py",
        "    boxes[row] = box\n    return True",
        "    return True",
        ("tests/test_copy_paste.py::test_a_chocolate_stretched_where_it_lies_gets_the_box_of_its_new_shape",),
    ),
    Mutation(
        "cutout_row_counts_cutouts_not_boxes",
        "chocolib/copy_paste.py",
        "alpha, (x0, y0, x1, y1), row))",
        "alpha, (x0, y0, x1, y1), len(cutouts)))",
        ("tests/test_copy_paste.py::test_each_cutout_knows_its_boxs_row_even_after_a_skipped_box",),
    ),
    Mutation(
        "chocolate_aspect_ignored",
        "chocolib/copy_paste.py",
        "stretch_p=CHOCOLATE_ASPECT_P if chocolate_aspect else 0.0,",
        "stretch_p=0.0,",
        ("tests/test_copy_paste.py::test_the_training_setting_chocolate_aspect_stretches_a_third_of_the_chocolates",),
    ),
    Mutation(
        "copy_paste_flag_ignored",
        "chocolib/cli.py",
        "        copy_paste=args.copy_paste,\n",
        "",
        ("tests/test_train_yolo.py::test_the_train_command_turns_copy_paste_on_for_either_model",),
    ),
    Mutation(
        "foreshortened_boxes_not_resized",
        "chocolib/augment.py",
        'return v2.functional.resize(image, size, antialias=True), {**target, "boxes": boxes}',
        "return v2.functional.resize(image, size, antialias=True), target",
        ("tests/test_augment.py::test_foreshortening_squeezes_one_axis_and_the_box_with_it",),
    ),
    Mutation(
        "yolo_copy_paste_ignored",
        "chocolib/train_yolo.py",
        "config.mosaic, mosaic_until, config.crop, config.copy_paste)",
        "config.mosaic, mosaic_until, config.crop)",
        ("tests/test_train_yolo.py",),
    ),
    Mutation(
        "merge_adds_one_class_twice",
        "chocolib/predict.py",
        "member_scores[member_labels == label].max()",
        "member_scores[member_labels == label].sum()",
        ("tests/test_predict.py::test_boxes_of_different_classes_on_one_chocolate_are_one_chocolate_under_suppress_and_merge",),
    ),
    Mutation(
        "rule_chosen_on_raw_suites",
        "chocolib/predict.py",
        "ruled_suites = {name: [(found.one_per_chocolate(rule), t)",
        "ruled_suites = {name: [(found, t)",
        ("tests/test_predict.py::test_choose_counting_takes_the_rule_that_counts_the_hesitant_chocolates_and_ties_to_off",),
    ),
    Mutation(
        "dev_hard_counted_raw",
        "chocolib/predict.py",
        '"f1": f1_at(found.one_per_chocolate(cross_class), truth, threshold),',
        '"f1": f1_at(found, truth, threshold),',
        ("tests/test_judge.py::test_the_cross_class_rule_is_chosen_with_the_threshold_and_reaches_every_part",),
    ),
    Mutation(
        "saved_rule_ignored",
        "chocolib/predict.py",
        "        rule = read_cross_class(weights.parent)",
        '        rule = "off"',
        ("tests/test_predict.py::test_saved_threshold_is_what_predict_uses",),
    ),
    # only the slow tests train or run the pipeline
    Mutation(
        "no_resume",
        "chocolib/engine.py",
        '    path = out / "last.pt"\n    if not path.is_file():',
        '    path = out / "last.pt"\n    if True:',
        ("tests/test_train.py::test_a_run_killed_mid_training_resumes_to_the_same_history",),
        slow=True,
    ),
    Mutation(
        "no_training_step",
        "chocolib/engine.py",
        "        clip_gradients(model, clip_grad_norm)\n        optimizer.step()",
        "        clip_gradients(model, clip_grad_norm)",
        ("tests/test_notebooks.py::test_the_trained_detector_beats_an_untrained_one_on_the_validation_photos",),
        slow=True,
    ),
    Mutation(
        "classify_trusts_the_detector_alone",
        "chocolib/predict.py",
        "votes[int(label)] = scores[best] ** (1 - CROP_WEIGHT) * crop[best] ** CROP_WEIGHT",
        "votes[int(label)] = scores[best]",
        ("tests/test_crop_classifier.py::test_classify_counts_the_chocolate_the_detector_finds_as_the_class_both_agree_on",),
    ),
    Mutation(
        "crop_scores_of_the_wrong_class",
        "chocolib/models/crop_classifier.py",
        "probability = self.of_crops(crops)[np.arange(len(labels)), labels - 1]",
        "probability = self.of_crops(crops).max(axis=1)",
        ("tests/test_crop_classifier.py::test_a_saved_classifier_scores_boxes_and_a_detector_beside_it_gets_the_second_look",),
    ),
    Mutation(
        "blur_gate_inverted",
        "chocolib/models/crop_classifier.py",
        "return probability ** np.minimum(1.0, sharpness(crops) / self.sharpness_floor)",
        "return probability ** np.minimum(1.0, self.sharpness_floor / np.maximum(sharpness(crops), 1e-9))",
        ("tests/test_crop_classifier.py::test_the_classifier_has_its_full_say_on_sharp_crops_and_none_on_a_crop_without_detail",),
    ),
    Mutation(
        "profile_rule_ignored",
        "chocolib/predict.py",
        'objectives = table["objective"].round(12).where(table["cross_class"].isin(allowed), -np.inf)',
        'objectives = table["objective"].round(12)',
        ("tests/test_crop_classifier.py::test_a_profile_may_fix_the_rule_while_every_rule_is_still_compared",),
    ),
    Mutation(
        "crop_not_squared",
        "chocolib/models/crop_classifier.py",
        "half = (boxes[:, 2:] - boxes[:, :2]).amax(dim=1, keepdim=True) * context / 2",
        "half = (boxes[:, 2:] - boxes[:, :2]) * context / 2",
        ("tests/test_crop_classifier.py::test_a_crop_is_the_square_around_its_box_with_a_rim_and_black_beyond_the_photo",),
    ),
]


def run(mutation: Mutation) -> tuple[str, str, float]:
    """(caught / MISSED / stale, the first failing test, seconds)."""
    path = REPO / mutation.path
    before = path.read_bytes()
    text = before.decode("utf-8")
    if text.count(mutation.original) != 1:
        return "stale", f"{mutation.original!r} is in {mutation.path} {text.count(mutation.original)} times", 0.0
    started = time.perf_counter()
    try:
        path.write_text(text.replace(mutation.original, mutation.planted), encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutation.tests],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
    finally:
        path.write_bytes(before)
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(before).digest()
    failed = next((line.split(" ")[1] for line in result.stdout.splitlines() if line.startswith("FAILED ")), "")
    return (
        ("caught" if result.returncode == 1 and failed else "MISSED" if result.returncode == 0 else f"error {result.returncode}"),
        failed,
        time.perf_counter() - started,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", action="store_true", help="also the mutations only the slow tests catch")
    parser.add_argument("--only", nargs="+", default=None, help="mutation names")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if (args.only is None or m.name in args.only) and (args.slow or not m.slow or args.only)]
    rows = []
    for mutation in chosen:
        verdict, failed, seconds = run(mutation)
        rows.append((mutation.name, mutation.path, verdict, failed, seconds))
        print(f"{mutation.name:20s} {mutation.path:24s} {verdict:8s} {seconds:6.1f} s  {failed}", flush=True)
    missed = [r for r in rows if r[2] != "caught"]
    print(
        f"\n{len(rows) - len(missed)} of {len(rows)} planted bugs caught"
        + (f"; not caught: {', '.join(r[0] for r in missed)}" if missed else "")
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
