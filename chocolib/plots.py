"""Figures shared by the notebooks. Each function returns a matplotlib Figure; the notebook saves it
with `fileio.save_figure` under ``<out>/figures/``. Class colours come from `chocolib.classes`."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Patch, Rectangle

from chocolib import classes


def draw_boxes(ax, image, boxes: pd.DataFrame, show_names: bool = True) -> None:
    """Show `image` on `ax` with `boxes` (normalised cx, cy, w, h and a ``class`` column) in class colours."""
    width, height = image.size
    ax.imshow(image)
    ax.set_axis_off()
    for box in boxes.to_dict("records"):
        color = classes.COLORS[box["class"]]
        x0, y0 = (box["cx"] - box["w"] / 2) * width, (box["cy"] - box["h"] / 2) * height
        ax.add_patch(Rectangle((x0, y0), box["w"] * width, box["h"] * height, fill=False, edgecolor=color, linewidth=1.5))
        if show_names:
            ax.text(
                x0,
                y0 - 2,
                box["class"],
                fontsize=6,
                color="black",
                va="bottom",
                bbox={"facecolor": color, "edgecolor": "none", "pad": 1, "alpha": 0.85},
            )


def class_legend(fig) -> None:
    handles = [Patch(facecolor=classes.COLORS[n], label=n) for n in classes.KAGGLE_NAMES]
    fig.legend(handles=handles, loc="lower center", ncol=7, fontsize=7, frameon=False, bbox_to_anchor=(0.5, -0.06))


def class_frequency(counts: pd.DataFrame, labels: pd.DataFrame) -> plt.Figure:
    """Chocolates per class: train.csv's counts beside the imported boxes."""
    table = pd.DataFrame(
        {
            "train.csv": counts.sum().reindex(classes.KAGGLE_NAMES),
            "annotation": labels["class"].value_counts().reindex(classes.KAGGLE_NAMES, fill_value=0),
        }
    )
    fig, ax = plt.subplots(figsize=(8, 4.2))
    y = range(len(table))
    ax.barh([i - 0.2 for i in y], table["train.csv"], height=0.4, color="#c7c7c7", edgecolor="#555", label="train.csv")
    ax.barh(
        [i + 0.2 for i in y],
        table["annotation"],
        height=0.4,
        color=[classes.COLORS[n] for n in table.index],
        edgecolor="#555",
        label="annotation (boxes)",
    )
    pad = 0.01 * table.to_numpy().max()
    for i, (a, b) in enumerate(zip(table["train.csv"], table["annotation"])):
        ax.text(
            max(a, b) + pad, i, f"{b}" if a == b else f"{b} boxes vs {a}", va="center", fontsize=7, color="black" if a == b else "#d62728"
        )
    ax.set_yticks(list(y), table.index)
    ax.invert_yaxis()
    ax.set_xlabel("chocolates in the training photos")
    ax.set_title(f"Class frequency: {int(table['annotation'].sum())} boxes vs {int(table['train.csv'].sum())} counted")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8, frameon=False)
    ax.margins(x=0.15)
    fig.tight_layout()
    return fig


def annotated_grid(photos: list[tuple[str, object]], labels: pd.DataFrame, ncols: int = 3) -> plt.Figure:
    """A grid of (stem, PIL image) with their boxes and class names."""
    nrows = math.ceil(len(photos) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 2.9 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, (stem, image) in zip(axes.flat, photos):
        boxes = labels[labels["stem"] == stem]
        draw_boxes(ax, image, boxes)
        ax.set_title(f"{stem}: {len(boxes)} chocolate{'s' if len(boxes) != 1 else ''}", fontsize=9)
    class_legend(fig)
    fig.tight_layout()
    return fig


def box_sizes(labels: pd.DataFrame) -> plt.Figure:
    """Box size (square root of the area, in the photo's pixels) and aspect ratio per class."""
    table = labels.assign(
        aspect=(labels["w"] * labels["width_px"]) / (labels["h"] * labels["height_px"]),
    )
    palette = {n: classes.COLORS[n] for n in classes.KAGGLE_NAMES}
    order = [n for n in classes.KAGGLE_NAMES if n in set(table["class"])]
    fig, (ax_size, ax_aspect) = plt.subplots(1, 2, figsize=(10, 4.4), sharey=True)
    for ax, column, label in (
        (ax_size, "side_px", "box size √(w·h), pixels of the photo"),
        (ax_aspect, "aspect", "box aspect ratio w / h"),
    ):
        sns.boxplot(
            data=table, y="class", x=column, hue="class", order=order, palette=palette, ax=ax, fliersize=0, linewidth=0.8, legend=False
        )
        # the points' jitter comes from a local seeded generator (seaborn's stripplot uses NumPy's
        # global one), so the same data always gives the same figure bytes
        jitter = np.random.default_rng(0).uniform(-0.2, 0.2, len(table))
        rows = table["class"].map({name: i for i, name in enumerate(order)}).to_numpy() + jitter
        ax.scatter(table[column], rows, s=3, color="black", alpha=0.5, linewidths=0)
        ax.set_xlabel(label)
        ax.set_ylabel("")
    ax_aspect.axvline(1, color="#888", linestyle=":", linewidth=1)
    sizes = table.groupby("width_px").size()
    resolution = ", ".join(f"{int(w)}×{int(table[table['width_px'] == w]['height_px'].iloc[0])}" for w in sizes.index)
    fig.suptitle(f"Box sizes per class ({len(table)} boxes; photos {resolution})", fontsize=10)
    fig.tight_layout()
    return fig


def augmented_versions(panels: list[tuple[str, object, pd.DataFrame, bool]], ncols: int = 4) -> plt.Figure:
    """A photo and its augmented versions: (title, PIL image, boxes, kept) per panel; removed ones are marked."""
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.7 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, (title, image, boxes, kept) in zip(axes.flat, panels):
        draw_boxes(ax, image, boxes, show_names=False)
        n = len(boxes)
        ax.set_title(
            f"{title}: {n} box{'es' if n != 1 else ''}" if kept else f"{title}: removed, no chocolate left",
            fontsize=8,
            color="black" if kept else "#d62728",
        )
    class_legend(fig)
    fig.tight_layout()
    return fig


def split_class_counts(train_before: pd.Series, val: pd.Series, train_after: pd.Series) -> plt.Figure:
    """Chocolates per class in train and validation, before and after the augmentation passes."""
    names = list(classes.KAGGLE_NAMES)
    fig, (ax_before, ax_after) = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
    y = np.arange(len(names))
    tb, v, ta = (s.reindex(names, fill_value=0) for s in (train_before, val, train_after))
    ax_before.barh(y - 0.2, tb, height=0.4, color=[classes.COLORS[n] for n in names], edgecolor="#555", label="train (photos)")
    ax_before.barh(y + 0.2, v, height=0.4, color="#c7c7c7", edgecolor="#555", label="validation")
    for i, (a, b) in enumerate(zip(tb, v)):
        ax_before.text(max(a, b) + 0.01 * tb.max(), i, f"{b / (a + b):.0%} val" if a + b else "", va="center", fontsize=7)
    ax_before.set_title(f"Before: {int(tb.sum())} chocolates in train, {int(v.sum())} in validation", fontsize=10)
    ax_after.barh(y, ta, height=0.6, color=[classes.COLORS[n] for n in names], edgecolor="#555")
    ax_after.set_title(f"After augmentation: {int(ta.sum())} boxes in train", fontsize=10)
    ax_before.set_yticks(y, names)
    ax_before.invert_yaxis()
    ax_before.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8, frameon=False)
    for ax in (ax_before, ax_after):
        ax.set_xlabel("chocolates (boxes)")
        ax.margins(x=0.15)
    fig.tight_layout()
    return fig


def removed_versions(versions: pd.DataFrame, shown: list[tuple[str, object]]) -> plt.Figure:
    """What augmentation took away: share of boxes kept per version, and (name, image) of some removed versions."""
    augmented = versions[versions["pass"] > 0]
    n_removed = int((~augmented["kept"]).sum())
    fig = plt.figure(figsize=(12, 3.6))
    grid = fig.add_gridspec(1, 1 + max(len(shown), 1), width_ratios=[1.6] + [1] * max(len(shown), 1))
    ax = fig.add_subplot(grid[0, 0])
    share = (augmented["boxes_out"] / augmented["boxes_in"].clip(lower=1)).clip(upper=1)
    ax.hist(share, bins=np.linspace(0, 1, 11), color="#8c564b", edgecolor="white")
    ax.set_xlabel("share of a photo's boxes kept in a version")
    ax.set_ylabel("augmented versions")
    dropped = int((augmented["boxes_in"] - augmented["boxes_out"]).sum())
    ax.set_title(
        f"{dropped} of {int(augmented['boxes_in'].sum())} boxes dropped; {n_removed} of {len(augmented)} versions removed", fontsize=9
    )
    if not shown:
        note = fig.add_subplot(grid[0, 1])
        note.set_axis_off()
        note.text(0.5, 0.5, "no version was left empty", ha="center", va="center", fontsize=10, color="#555")
    for i, (name, image) in enumerate(shown, start=1):
        panel = fig.add_subplot(grid[0, i])
        panel.imshow(image)
        panel.set_axis_off()
        panel.set_title(f"removed: {name}", fontsize=8, color="#d62728")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Training (notebook 04)
# --------------------------------------------------------------------------------------------
def _mark_best(ax, best_epoch: int) -> None:
    ax.axvline(best_epoch, color="red", linestyle="--", linewidth=1.2, label=f"best epoch ({best_epoch})")


def _log_scale_if_spread(ax, *series) -> None:
    """A log axis when one epoch's value dwarfs the rest (e.g. the first epochs of a model trained
    from scratch, whose batch-norm statistics are not settled yet), so the rest stays readable."""
    values = pd.concat(series)
    values = values[values > 0]
    if len(values) > 2 and values.max() > 5 * values.median():
        ax.set_yscale("log")


def _epoch_axis(ax, history: pd.DataFrame) -> None:
    ax.set_xlabel("epoch")
    ax.set_xlim(0.5, max(history["epoch"].max(), 2) + 0.5)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)


def training_losses(history: pd.DataFrame, best_epoch: int, formula: str) -> plt.Figure:
    """The seed's Figure 2: training and validation loss per epoch, the best epoch in red.
    `formula` says what the loss sums (e.g. ``train.loss_formula(weights)``)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(history["epoch"], history["train_loss"], marker="o", markersize=3, label="training loss")
    ax.plot(history["epoch"], history["val_loss"], marker="o", markersize=3, label="validation loss")
    _mark_best(ax, best_epoch)
    _epoch_axis(ax, history)
    _log_scale_if_spread(ax, history["train_loss"], history["val_loss"])
    ax.set_ylabel("weighted loss")
    ax.set_title(f"Training and validation loss\n(loss = {formula})", fontsize=10)
    ax.legend()
    fig.tight_layout()
    return fig


def loss_components(
    history: pd.DataFrame, best_epoch: int, names, title: str = "The four Faster R-CNN losses (before weighting)"
) -> plt.Figure:
    """Each loss component, training and validation: a 2 × 2 grid for four, one row for three or fewer."""
    ncols = len(names) if len(names) <= 3 else 2
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols if nrows == 1 else 9, 3.3 * nrows), sharex=True, squeeze=False)
    for ax, name in zip(axes.flat, names):
        ax.plot(history["epoch"], history[f"train_{name}"], marker="o", markersize=3, label="training")
        ax.plot(history["epoch"], history[f"val_{name}"], marker="o", markersize=3, label="validation")
        _mark_best(ax, best_epoch)
        _epoch_axis(ax, history)
        _log_scale_if_spread(ax, history[f"train_{name}"], history[f"val_{name}"])
        ax.set_title(name.removeprefix("loss_").replace("_", " "), fontsize=10)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def validation_f1(history: pd.DataFrame, best_epoch: int, threshold: float) -> plt.Figure:
    """Validation count-F1 (the course metric) per epoch at a fixed score threshold, and, when the
    history has it (YOLO12's), at each epoch's best threshold of the sweep."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(history["epoch"], history["val_f1"], marker="o", markersize=3, color="tab:green", label=f"count F1 at score ≥ {threshold:g}")
    top = history.loc[history["val_f1"].idxmax()]
    ax.annotate(f"{top['val_f1']:.3f}", (top["epoch"], top["val_f1"]), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    if "val_f1_best" in history:
        ax.plot(
            history["epoch"],
            history["val_f1_best"],
            marker="^",
            markersize=3,
            color="tab:olive",
            alpha=0.8,
            label="count F1 at the epoch's best threshold of the sweep",
        )
        top = history.loc[history["val_f1_best"].idxmax()]
        ax.annotate(
            f"{top['val_f1_best']:.3f}",
            (top["epoch"], top["val_f1_best"]),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=8,
        )
    _mark_best(ax, best_epoch)
    _epoch_axis(ax, history)
    ax.set_ylim(-0.02, 1.05)
    ax.set_ylabel("validation count F1")
    ax.set_title("Validation count F1 per epoch", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def learning_rate_schedule(planned: np.ndarray, steps_per_epoch: int, history: pd.DataFrame, name: str = "OneCycleLR") -> plt.Figure:
    """The schedule over a full-length run (the rate each step used), with the epochs trained shaded."""
    fig, ax = plt.subplots(figsize=(7, 3.4))
    epochs = np.arange(1, len(planned) + 1) / steps_per_epoch
    ax.plot(epochs, planned, color="tab:purple", label=f"planned ({name})")
    done = int(history["epoch"].max())
    ax.axvspan(0, done, color="tab:purple", alpha=0.08, label=f"trained ({done} epoch{'s' if done != 1 else ''})")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_title(f"Learning-rate schedule: peak {planned.max():.3g}, {steps_per_epoch} steps per epoch", fontsize=10)
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def detections_grid(panels: list[tuple[str, object, pd.DataFrame, pd.DataFrame]], ncols: int = 3) -> plt.Figure:
    """Photos with the model's kept detections in class colours (with their scores) over the true
    boxes (white, dashed). Panels: (title, image, true boxes as `annotations.read_labels` rows,
    detections as `predict.Detections` rows)."""
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 3.6 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, (title, image, truth, found) in zip(axes.flat, panels):
        width, height = image.size
        as_centres = pd.DataFrame(
            {
                "cx": (found["x0"] + found["x1"]) / 2,
                "cy": (found["y0"] + found["y1"]) / 2,
                "w": found["x1"] - found["x0"],
                "h": found["y1"] - found["y0"],
                "class": found["class"],
            }
        )
        draw_boxes(ax, image, as_centres, show_names=False)
        for box in truth.to_dict("records"):
            ax.add_patch(
                Rectangle(
                    ((box["cx"] - box["w"] / 2) * width, (box["cy"] - box["h"] / 2) * height),
                    box["w"] * width,
                    box["h"] * height,
                    fill=False,
                    edgecolor="white",
                    linestyle="--",
                    linewidth=1,
                )
            )
        for box in found.to_dict("records"):
            ax.text(
                box["x0"] * width,
                box["y0"] * height - 2,
                f"{box['score']:.2f}",
                fontsize=6,
                va="bottom",
                clip_on=True,
                bbox={"facecolor": classes.COLORS[box["class"]], "edgecolor": "none", "pad": 1, "alpha": 0.85},
            )
        ax.set_title(title, fontsize=9)
    class_legend(fig)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Notebook 05: the threshold, the counts, the errors
# --------------------------------------------------------------------------------------------
def threshold_curve(choice) -> plt.Figure:
    """Count F1 against the score threshold (a `predict.ThresholdChoice`): clean validation's sweep,
    each suite's mean F1 and their mean (what the threshold is chosen by), the chosen point, what
    clean validation alone would choose, the seed's 0.6 and its grid, and the per-class thresholds'
    clean F1 as a line."""
    sweep, grid = choice.sweep, choice.seed_grid
    suites = [name for name in choice.chosen_on if name != "clean F1"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(
        sweep["threshold"],
        sweep["f1"],
        color="tab:blue",
        label=f"clean validation, {sweep['threshold'].min():.2f}–{sweep['threshold'].max():.2f} by 0.01",
    )
    for name, colour in zip(suites, ("tab:purple", "tab:brown", "tab:olive")):
        ax.plot(sweep["threshold"], sweep[name], color=colour, linewidth=1, label=f"{name.removesuffix(' F1')} suite, mean")
    top = sweep["objective"] if suites else sweep["f1"]
    if suites:
        ax.plot(sweep["threshold"], top, color="black", linewidth=1.8, label="their mean: what the threshold is chosen by")
    ax.scatter(grid["threshold"], grid["f1"], marker="s", s=28, color="tab:orange", zorder=3, label="the seed's grid (clean)")
    chosen = float(top[np.isclose(sweep["threshold"], choice.threshold)].iloc[0])
    ax.scatter(
        [choice.threshold],
        [chosen],
        marker="*",
        s=160,
        color="tab:red",
        zorder=4,
        label=f"chosen {choice.threshold:.2f}: clean F1 {choice.f1:.3f}" + (f", mean {chosen:.3f}" if suites else ""),
    )
    if suites and not np.isclose(choice.clean_threshold, choice.threshold):
        ax.scatter(
            [choice.clean_threshold],
            [choice.clean_threshold_f1],
            marker="v",
            s=60,
            color="tab:blue",
            zorder=4,
            label=f"clean validation alone would choose {choice.clean_threshold:.2f}",
        )
    ax.axvline(0.6, color="tab:orange", linestyle=":", linewidth=1, label=f"the seed's 0.6: clean F1 {choice.seed_f1:.3f}")
    ax.axhline(
        choice.per_class_f1,
        color="tab:green",
        linestyle="--",
        linewidth=1,
        label=f"per-class thresholds: clean F1 {choice.per_class_f1:.3f}",
    )
    ax.set_xlabel("score threshold")
    ax.set_ylabel("count F1")
    curves = [sweep["f1"], *[sweep[name] for name in suites]]
    low = min(min(curve.min() for curve in curves), grid["f1"].min(), choice.per_class_f1)
    ax.set_ylim(max(0.0, low - 0.05), min(1.02, max(max(curve.max() for curve in curves), choice.per_class_f1) + 0.05))
    ax.set_title("Choosing the score threshold on the validation photos" + (" and their suites" if suites else ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6.5, loc="lower left")
    fig.tight_layout()
    return fig


def corruption_curves(lines: pd.DataFrame) -> plt.Figure:
    """Count F1 against corruption severity (0: the clean photos), one panel per corruption, one
    line per test-time augmentation (`robustness.by_severity`'s table)."""
    names = list(dict.fromkeys(lines["corruption"]))
    settings = list(dict.fromkeys(lines["tta"]))
    columns = 5
    rows = math.ceil(len(names) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.0 * columns, 1.9 * rows + 0.5), sharex=True, sharey=True, squeeze=False)
    low = max(0.0, lines["f1"].min() - 0.05)
    for ax, name in zip(axes.flat, names):
        for k, tta in enumerate(settings):
            line = lines[(lines["corruption"] == name) & (lines["tta"] == tta)]
            ax.plot(
                line["severity"],
                line["f1"],
                marker="o",
                markersize=3,
                color=sns.color_palette("deep")[k],
                linestyle="-" if k == 0 else "--",
                label=f"TTA {tta}",
            )
        ax.set_title(name.replace("_", " "), fontsize=8)
        ax.set_ylim(low, 1.01)
        ax.set_xticks([0, 1, 2, 3], ["clean", "1", "2", "3"], fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names) :]:
        ax.set_axis_off()
    for ax in axes[:, 0]:
        ax.set_ylabel("count F1", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(settings), fontsize=8, frameon=False)
    fig.suptitle("Validation count F1 under each corruption, by severity", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def shift_curves(table: pd.DataFrame, floor: float = 0.95) -> plt.Figure:
    """Count F1 against shift severity (0: the clean photos), one panel per shift of a
    `shifts.shift_table`, each severity marked with its level; the dotted line at `floor`."""
    clean = float(table.loc[table["severity"] == 0, "f1"].iloc[0])
    names = [n for n in dict.fromkeys(table["shift"]) if n != "clean"]
    fig, axes = plt.subplots(1, len(names), figsize=(2.4 * len(names), 2.4), sharey=True, squeeze=False)
    low = max(0.0, min(table["f1"].min(), floor) - 0.05)
    for ax, name in zip(axes.flat, names):
        rows = table[table["shift"] == name].sort_values("severity")
        ax.plot([0, *rows["severity"]], [clean, *rows["f1"]], marker="o", markersize=3, color=sns.color_palette("deep")[0])
        ax.axhline(floor, color="grey", linestyle=":", linewidth=1)
        ax.set_title(name.replace("_", " "), fontsize=8)
        ax.set_xticks([0, *rows["severity"]], ["clean", *[f"{v:g}" for v in rows["level"]]], fontsize=7)
        ax.set_ylim(low, 1.01)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("count F1", fontsize=8)
    fig.suptitle("Validation count F1 when the camera or the table changes, by severity (its level below)", fontsize=10)
    fig.tight_layout()
    return fig


def class_errors_under_shift(errors: pd.DataFrame) -> plt.Figure:
    """Per class, over every shifted setting (`shifts.errors_by_class`): the share of its chocolates
    missed, and of those detected as another class."""
    shares = pd.DataFrame({"missed": errors["missed share"], "taken for another class": errors["swapped"] / errors["true"].clip(lower=1)})
    fig, ax = plt.subplots(figsize=(7, 4))
    shares.iloc[::-1].plot.barh(ax=ax, color=sns.color_palette("deep")[3:5], width=0.8)
    ax.set_xlabel("share of the class's chocolates, over every shifted setting")
    ax.legend(fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    ax.grid(axis="x", alpha=0.3)
    ax.set_ylabel("")
    ax.set_title("Where counting fails under the shifts", fontsize=10)
    fig.tight_layout()
    return fig


def count_error(true: pd.DataFrame, predicted: dict[str, pd.DataFrame]) -> plt.Figure:
    """Mean |true − predicted| count per class on the validation photos, one bar group per setting."""
    names = list(classes.KAGGLE_NAMES)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    height = 0.8 / max(len(predicted), 1)
    for k, (label, counts) in enumerate(predicted.items()):
        error = (true[names] - counts.loc[true.index, names]).abs().mean()
        positions = [i - 0.4 + height * (k + 0.5) for i in range(len(names))]
        ax.barh(
            positions,
            error.to_numpy(),
            height=height,
            label=f"{label} (mean over classes {error.mean():.2f})",
            color=[classes.COLORS[n] for n in names] if k == 0 else "none",
            edgecolor="#333",
            hatch=None if k == 0 else "///",
        )
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("mean |true − predicted| chocolates per validation photo")
    ax.set_title(f"Count error per class on {len(true)} validation photos", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def count_confusion(true: pd.DataFrame, predicted: pd.DataFrame, threshold: float, ncols: int = 5) -> plt.Figure:
    """Per class, how many validation photos have each (true count, predicted count) pair; the
    diagonal is a right count, above it over-counting, below it under-counting."""
    names = list(classes.KAGGLE_NAMES)
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 2.3 * nrows))
    for ax, name in zip(axes.flat, names):
        t, p = true[name].to_numpy(), predicted.loc[true.index, name].to_numpy()
        top = int(max(t.max(initial=0), p.max(initial=0)))
        matrix = np.zeros((top + 1, top + 1), dtype=int)
        np.add.at(matrix, (t, p), 1)
        sns.heatmap(
            matrix,
            ax=ax,
            cmap="Blues",
            cbar=False,
            annot=top <= 6,
            fmt="d",
            annot_kws={"fontsize": 7},
            linewidths=0.5,
            linecolor="white",
            square=True,
            vmin=0,
        )
        ax.invert_yaxis()
        ax.set_title(f"{name}: {np.mean(t == p):.0%} right", fontsize=8)
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("true", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in axes.flat[len(names) :]:
        ax.set_axis_off()
    fig.suptitle(
        f"Count confusion per class on {len(true)} validation photos (threshold {threshold:.2f}): photos per (true, predicted) count",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Notebook 06: heat maps, feature space, gallery
# --------------------------------------------------------------------------------------------
def crop_grid(crops: np.ndarray, truth: list[str], predicted: list[str], confidence: np.ndarray, ncols: int = 8) -> plt.Figure:
    """Crops (N × H × W × 3 uint8) as the crop classifier reads them, each titled with its true class
    and, beneath, what the classifier says (with its probability); a wrong answer in red."""
    nrows = max(1, math.ceil(len(crops) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.85 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, crop, true, said, p in zip(axes.flat, crops, truth, predicted, confidence):
        ax.imshow(crop)
        ax.set_title(f"{true}\n→ {said} {p:.2f}", fontsize=6.5, color="black" if said == true else "red")
    fig.tight_layout()
    return fig


def activation_grid(image, layers, ncols: int = 4) -> plt.Figure:
    """The seed's Figure 3: one photo with each chosen layer's mean activation overlaid (`analysis.LayerMap`s)."""
    nrows = math.ceil(len(layers) / ncols)
    width, height = image.size
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.6 * nrows * height / width + 0.4 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, layer in zip(axes.flat, layers):
        ax.imshow(image)
        ax.imshow(layer.heat, cmap="jet", alpha=0.5, vmin=0, vmax=1)
        ax.set_title(f"Layer {layer.number}: {layer.channels} ch, {layer.grid[0]}×{layer.grid[1]}", fontsize=8)
    fig.tight_layout()
    return fig


def _class_scatter(ax, points: np.ndarray, names, three_d: bool = False) -> None:
    for name in classes.KAGGLE_NAMES:
        chosen = np.asarray(names) == name
        if chosen.any():
            coords = points[chosen].T
            ax.scatter(
                *coords[: 3 if three_d else 2], s=10, color=classes.COLORS[name], label=name, alpha=0.85, edgecolors="black", linewidths=0.2
            )


def feature_space_2d(pca: np.ndarray, tsne: np.ndarray, names, explained: np.ndarray, silhouettes: dict) -> plt.Figure:
    """The seed's Figure 4: the RoI features by PCA and by t-SNE in 2D, coloured by predicted class
    (`silhouettes`: space name → score, as `analysis.separation`'s "by predicted class")."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    variance = f"{100 * explained[:2].sum():.1f} % of the variance" if len(explained) >= 2 else "too few points"
    panels = (
        (axes[0], pca, f"PCA: first two components ({variance})", silhouettes.get("PCA 2D")),
        (axes[1], tsne, "t-SNE (2D)", silhouettes.get("t-SNE 2D")),
    )
    for ax, points, title, score in panels:
        _class_scatter(ax, points, names)
        ax.set_title(
            f"{title}\nsilhouette {score:.3f}" if score is not None and np.isfinite(score) else f"{title}\nsilhouette undefined",
            fontsize=10,
        )
        ax.set_xticks([])
        ax.set_yticks([])
    if not len(pca):
        for ax in axes:
            ax.text(0.5, 0.5, "no detections to embed", ha="center", va="center", transform=ax.transAxes)
    class_legend(fig)
    fig.tight_layout()
    return fig


def feature_space_3d(pca: np.ndarray, tsne: np.ndarray, names, silhouettes: dict, explained: np.ndarray | None = None) -> plt.Figure:
    """The seed's Figure 5: the same RoI features in three dimensions."""
    fig = plt.figure(figsize=(11, 5))
    pca_title = (
        f"PCA: first three components ({100 * explained[:3].sum():.1f} % of the variance)"
        if explained is not None and len(explained) >= 3
        else "PCA (3D)"
    )
    for position, (points, title, key) in enumerate(((pca, pca_title, None), (tsne, "t-SNE (3D)", "t-SNE 3D")), start=1):
        ax = fig.add_subplot(1, 2, position, projection="3d")
        if len(points):
            _class_scatter(ax, points, names, three_d=True)
        score = silhouettes.get(key) if key else None
        ax.set_title(title + (f"\nsilhouette {score:.3f}" if score is not None and np.isfinite(score) else ""), fontsize=10)
        ax.set_xticklabels([])
        ax.set_yticklabels([])
        ax.set_zticklabels([])
    class_legend(fig)
    fig.tight_layout()
    return fig


def budget_ablation(table: pd.DataFrame) -> plt.Figure:
    """`benchmarks/accuracy_budget.py`'s candidates: count F1 (at 0.6 and at the best threshold)
    after the same minutes of training, with the steps each managed."""
    fig, ax = plt.subplots(figsize=(8, 3.4))
    names = table["candidate"].tolist()
    x = np.arange(len(names))
    ax.bar(x - 0.2, table["F1@0.6"], width=0.4, label="count F1 at 0.6", color="#9ecae1")
    ax.bar(x + 0.2, table["best F1"], width=0.4, label="count F1 at the best threshold", color="#3182bd")
    for position, row in zip(x, table.to_dict("records")):
        ax.text(
            position,
            max(row["F1@0.6"], row["best F1"]) + 0.02,
            f"{row['steps']} steps\n{row['images/s']:.2f} img/s",
            ha="center",
            va="bottom",
            fontsize=7,
        )
    ax.set_xticks(x, [f"{n}\n({w})" for n, w in zip(names, table["weights"])], fontsize=8)
    ax.set_ylim(0, 1.18)
    ax.set_ylabel("validation count F1")
    ax.set_title(f"Same training budget ({table['budget min'].iloc[0]:g} min on this machine), validation split", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
