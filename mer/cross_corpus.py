"""The cross-corpus table: leave-one-corpus-out over every corpus present, and the train-on-A / test-on-B matrix.

    python cross_corpus.py --config configs/loco.yaml --set data.features_dir=M [--seeds 1 2 3]
    mer cross-corpus ...        (the same command; its command line is in mer.commands)

runs two experiments under `<output_dir>/<name>/` with the same model and training settings:

    loco/        protocol loco: for each corpus, train on all the others, report its held-out UAR
    pairwise/    protocol pairwise: train on each corpus alone, report every corpus (EmoBox's pairwise view;
                 the diagonal is the corpus's own test split)
    cross_corpus.md, cross_corpus.csv, cross_corpus.png   UAR mean ± std over seeds: the matrix (rows = train,
                 columns = test) with the LOCO column beside it, as markdown, CSV and a heatmap

Each experiment resumes like `train.py --resume` (finished folds and seeds are kept). A fold that
cannot select a model (its training corpora have no val rows) is skipped with its reason, and the
table marks it `-`.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from mer_builder.fsutil import atomic_write_text

from .experiment import run_experiment
from .metrics import format_mean_std
from .results import FOLD_MEAN, ResultRow, collect

LOCO_COLUMN = "LOCO (all others)"
FILES = ("cross_corpus.md", "cross_corpus.csv", "cross_corpus.png")


def _cells(rows: list[ResultRow], prefix: str) -> dict[tuple[str, str], dict]:
    """(train corpus or '*', test corpus) -> UAR summary, from one experiment's result rows."""
    cells = {}
    for row in rows:
        if row.fold == FOLD_MEAN:
            continue
        train = row.fold.removeprefix(prefix) if prefix == "train_" else "*"
        cells[train, row.eval_set] = {**row.summary["uar"], "n_rows": row.n, "seeds": len(row.seeds)}
    return cells


def tables(pairwise: list[ResultRow], loco: list[ResultRow]) -> tuple[list[str], dict, dict]:
    """(corpora, matrix cells {(train, test): summary}, LOCO cells {test: summary})."""
    matrix = _cells(pairwise, "train_")
    held_out = {test: cell for (_, test), cell in _cells(loco, "loco_").items()}
    corpora = sorted({t for pair in matrix for t in pair} | set(held_out))
    return corpora, matrix, held_out


def _fmt(cell: dict | None) -> str:
    return "-" if cell is None else format_mean_std(cell["mean"], cell["std"], cell["n"])


def markdown(corpora: list[str], matrix: dict, held_out: dict, command: str) -> str:
    header = ["train \\ test", *corpora]
    lines = [
        "# Cross-corpus UAR (%)",
        "",
        f"Command: `{command}`",
        "",
        "Rows: the corpus trained on (model selection on its own val split); columns: the corpus tested "
        "(the diagonal is its own test split, elsewhere all its rows). Mean ± std over seeds; `-`: not run "
        "(the fold had no validation rows, see the log).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for train in corpora:
        lines.append("| " + " | ".join([train, *(_fmt(matrix.get((train, test))) for test in corpora)]) + " |")
    lines.append("| " + " | ".join([f"**{LOCO_COLUMN}**", *(_fmt(held_out.get(test)) for test in corpora)]) + " |")
    lines += [
        "",
        "The last row is leave-one-corpus-out: trained on every other corpus, tested on the one held out.",
        "",
    ]
    return "\n".join(lines)


def csv_text(corpora: list[str], matrix: dict, held_out: dict) -> str:
    lines = ["protocol,train,test,uar_mean,uar_std,seeds,n_rows"]
    entries = [("pairwise", train, test, matrix.get((train, test))) for train in corpora for test in corpora]
    entries += [("loco", "all others", test, held_out.get(test)) for test in corpora]
    for protocol, train, test, cell in entries:
        if cell is not None:
            lines.append(
                f"{protocol},{train},{test},{cell['mean']:.4f},{cell['std']:.4f},{cell['seeds']},{cell['n_rows']}"
            )
    return "\n".join(lines) + "\n"


def heatmap(corpora: list[str], matrix: dict, held_out: dict, path: Path) -> None:
    """Rows = train corpus (+ LOCO), columns = test corpus; UAR in each cell, blank where not run."""
    from .training.plots import new_figure, save_png

    labels = [*corpora, LOCO_COLUMN]
    values = np.full((len(labels), len(corpora)), np.nan)
    for i, train in enumerate(corpora):
        for j, test in enumerate(corpora):
            if (train, test) in matrix:
                values[i, j] = matrix[train, test]["mean"]
    for j, test in enumerate(corpora):
        if test in held_out:
            values[-1, j] = held_out[test]["mean"]
    fig = new_figure(3.0 + 0.9 * len(corpora), 1.2 + 0.6 * len(labels))  # room for the row labels
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(corpora)), corpora, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("tested on")
    ax.set_ylabel("trained on")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if not np.isnan(values[i, j]):
                ax.text(j, i, f"{100 * values[i, j]:.0f}", ha="center", va="center",
                        color="black" if values[i, j] > 0.6 else "white")  # fmt: skip
    ax.axhline(len(corpora) - 0.5, color="white", linewidth=2)
    fig.colorbar(image, ax=ax, fraction=0.046, label="UAR")
    ax.set_title("cross-corpus UAR")
    save_png(fig, path)


def run_cross_corpus(config: dict, command: str, resume: bool = True, quiet: bool = False) -> Path:
    """Run LOCO and pairwise with `config`'s model and training settings; write the tables; returns their folder."""
    experiment = config["experiment"]
    out = Path(experiment["output_dir"]) / experiment["name"]
    results = {}
    for protocol in ("loco", "pairwise"):
        sub = copy.deepcopy(config)
        sub["experiment"].update(protocol=protocol, name=protocol, output_dir=str(out))
        sub["data"]["holdout"] = None
        sub["evaluation"]["test"] = True
        run_dir = run_experiment(sub, resume=resume and (out / protocol).exists(), quiet=quiet)
        results[protocol] = collect(run_dir)
    corpora, matrix, held_out = tables(results["pairwise"], results["loco"])
    text = markdown(corpora, matrix, held_out, command)
    atomic_write_text(out / FILES[0], text)
    atomic_write_text(out / FILES[1], csv_text(corpora, matrix, held_out))
    heatmap(corpora, matrix, held_out, out / FILES[2])
    return out
