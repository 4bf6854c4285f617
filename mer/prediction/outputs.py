"""Predictions on screen and on disk: a table, CSV or JSONL files, the per-window timeline CSV and its PNG.

Files (probabilities with 6 decimals, in the checkpoint's label order):

    predictions CSV   path, status (ok | failed), label, p_<class> for every class, modalities
                      (the ones actually used, joined by "+"), head (only when a distilled branch head
                      predicted some input: its modality, or "fusion"), duration_s, windows, transcript,
                      transcript_source (given | whisper), notes, error
    predictions JSONL one object per input: path, status, label, probabilities {class: p},
                      modalities [...], head (only when a distilled branch head predicted it),
                      duration_s, transcript, transcript_source,
                      timeline [{start_s, end_s, label, probabilities, transcript}], notes [...], error
    timeline CSV      path, start_s, end_s, label, p_<class> for every class, transcript (the words
                      Whisper timed inside the window); one row per window
    timeline PNG      class probabilities over time (stacked) with the predicted label of each window above
    explanations      with --explain: `explanation` (the sentence) in the CSV, the whole explanation object in
                      the JSONL, and <output stem>.explain/<input name>.json + .png (the card) per input

Every file is written atomically (`mer_builder.fsutil`).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mer_builder.fsutil import atomic_write_text, csv_text

from ..training.plots import new_figure, save_png
from .predictor import Prediction

OUTPUT_SUFFIXES = (".csv", ".jsonl")


def _probability_columns(labels: Sequence[str]) -> list[str]:
    return [f"p_{label}" for label in labels]


def _status(result: Prediction) -> str:
    return "ok" if result.ok else "failed"


def predictions_csv(results: Sequence[Prediction], labels: Sequence[str]) -> str:
    explained = any(r.explanation is not None for r in results)
    rows = [
        {
            "path": r.path,
            "status": _status(r),
            "label": r.label or "",
            **{f"p_{k}": f"{r.probabilities[k]:.6f}" for k in labels if r.ok},
            "modalities": "+".join(r.modalities),
            "head": r.head or "fusion",
            "duration_s": "" if r.duration_s is None else f"{r.duration_s:.3f}",
            "windows": len(r.timeline) or "",
            "transcript": r.transcript or "",
            "transcript_source": r.transcript_source or "",
            "explanation": r.explanation.sentence if r.explanation else "",
            "notes": "; ".join(r.notes),
            "error": r.error or "",
        }
        for r in results
    ]
    headed = any(r.head is not None for r in results)
    columns = ["path", "status", "label", *_probability_columns(labels), "modalities", *(["head"] * headed)]
    columns += ["duration_s", "windows"]
    columns += ["transcript", "transcript_source", *(["explanation"] if explained else []), "notes", "error"]
    return csv_text(rows, columns)


def predictions_jsonl(results: Sequence[Prediction]) -> str:
    lines = []
    for r in results:
        data = {"path": r.path, "status": _status(r), **{k: v for k, v in r.to_dict().items() if k != "path"}}
        data["probabilities"] = {k: round(v, 6) for k, v in r.probabilities.items()}
        for window in data["timeline"]:
            window["probabilities"] = {k: round(v, 6) for k, v in window["probabilities"].items()}
        lines.append(json.dumps(data, ensure_ascii=False) + "\n")
    return "".join(lines)


def timeline_csv(results: Sequence[Prediction], labels: Sequence[str]) -> str:
    rows = [
        {
            "path": r.path,
            "start_s": f"{w.start_s:.3f}",
            "end_s": f"{w.end_s:.3f}",
            "label": w.label,
            **{f"p_{k}": f"{w.probabilities[k]:.6f}" for k in labels},
            "transcript": w.transcript or "",
        }
        for r in results
        for w in r.timeline
    ]
    return csv_text(rows, ["path", "start_s", "end_s", "label", *_probability_columns(labels), "transcript"])


def write_predictions(path: Path, results: Sequence[Prediction], labels: Sequence[str]) -> None:
    """CSV or JSONL, chosen by the suffix of `path`."""
    text = predictions_jsonl(results) if path.suffix.lower() == ".jsonl" else predictions_csv(results, labels)
    atomic_write_text(path, text)


def timeline_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.timeline.csv")


def plot_folder(output: Path) -> Path:
    return output.with_name(f"{output.stem}.timeline")


def explain_folder(output: Path) -> Path:
    return output.with_name(f"{output.stem}.explain")


def write_explanation(result: Prediction, folder: Path, name: str) -> None:
    """<name>.json (the explanation with the prediction's label, probabilities and transcript) and <name>.png."""
    from ..explain.card import draw_card

    data = {k: v for k, v in result.to_dict().items() if k in ("path", "label", "probabilities", "transcript")}
    data["explanation"] = result.explanation.to_dict()
    atomic_write_text(folder / f"{name}.json", json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    draw_card(result.explanation, Path(result.path).name, folder / f"{name}.png")


def plot_names(paths: Sequence[Path]) -> list[str]:
    """A PNG name per input: its file stem, with -2, -3 ... when two inputs share one."""
    names, used = [], set()
    for path in paths:
        name, k = f"{path.stem}.png", 1
        while name in used:
            k += 1
            name = f"{path.stem}-{k}.png"
        used.add(name)
        names.append(name)
    return names


def display_path(path: str) -> str:
    """Relative to the current directory when the file is below it; as given otherwise."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative


def format_table(results: Sequence[Prediction], labels: Sequence[str]) -> str:
    """The predicted inputs as an aligned table: label, every class probability, modalities, duration."""
    header = ["file", "label", *labels, "modalities", "duration"]
    rows = [
        [
            display_path(r.path),
            r.label or "",
            *(f"{r.probabilities[k]:.3f}" for k in labels),
            "+".join(r.modalities),
            f"{r.duration_s:.2f} s",
        ]
        for r in results
        if r.ok
    ]
    return _align([header, *rows], right={*range(2, 2 + len(labels)), len(header) - 1})


def format_timeline(result: Prediction, labels: Sequence[str]) -> str:
    header = ["start", "end", "label", *labels]
    rows = [
        [f"{w.start_s:.2f}", f"{w.end_s:.2f}", w.label, *(f"{w.probabilities[k]:.3f}" for k in labels)]
        for w in result.timeline
    ]
    return _align([header, *rows], right={0, 1, *range(3, 3 + len(labels))})


def _align(table: list[list[str]], right: set[int]) -> str:
    """Columns padded to their widest cell; the `right` ones (numbers) right-aligned."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = [
        "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in table
    ]
    return "\n".join(line.rstrip() for line in lines)


def plot_timeline(result: Prediction, labels: Sequence[str], path: Path) -> None:
    """Stacked class probabilities at each window's centre (held flat out to the recording's ends) and, above
    them, a band with the label of the window closest to each moment."""
    from matplotlib import colormaps

    colours = colormaps["tab10"].colors
    windows = result.timeline
    centres = [(w.start_s + w.end_s) / 2 for w in windows]
    values = np.array([[w.probabilities[k] for k in labels] for w in windows]).T
    times = [windows[0].start_s, *centres, windows[-1].end_s]
    values = np.concatenate([values[:, :1], values, values[:, -1:]], axis=1)
    fig = new_figure(8, 3.8)
    band, ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 6])
    ax.stackplot(times, values, labels=labels, colors=colours[: len(labels)], alpha=0.85)
    edges = [windows[0].start_s, *((a + b) / 2 for a, b in itertools.pairwise(centres)), windows[-1].end_s]
    for w, (left, right) in zip(windows, itertools.pairwise(edges), strict=True):
        band.axvspan(left, right, color=colours[list(labels).index(w.label) % len(colours)], lw=0)
    band.set_yticks([])
    band.set_ylabel("label", rotation=0, ha="right", va="center")
    band.set_title(f"{Path(result.path).name}: {result.label} overall ({len(windows)} windows)", fontsize=10)
    ax.set_xlim(windows[0].start_s, windows[-1].end_s)
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    save_png(fig, Path(path))
