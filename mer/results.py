"""Results tables: every `metrics_eval.json` under a folder -> one table, mean ± std across seeds.

Evaluations are grouped by what was run (run name, protocol, fold, evaluated set, model,
modalities, label type), read from the files themselves rather than from folder names. Within a group
each seed counts once. For protocols with folds (LOCO, LOSO) a `mean over folds` row averages
the per-fold means, with the standard deviation across folds. A model with distilled branch heads
(`training.distill`) also gets a row per head (modalities `A head`: that modality's own classifier
alone), with its agreement with the teacher in an extra column.

`list_runs` is the other view (`mer results --list`): one line per run folder with its config hash (the
prefix of its hash-named checkpoints), model, data and best validation value, to find runs again.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mer_builder.fsutil import csv_text

from .metrics import HEADLINE, format_mean_std, mean_std, summarize
from .modalities import MODALITY_LETTERS

COLUMN_TITLES = {"acc": "acc (WA)", "macro_f1": "macro-F1", "weighted_f1": "weighted-F1", "uar": "UAR"}
FOLD_MEAN = "mean over folds"
AGREEMENT = "agreement"  # a distilled branch head's share of predictions equal to the teacher's
logger = logging.getLogger(__name__)


@dataclass
class ResultRow:
    run: str
    protocol: str
    fold: str
    eval_set: str
    model: str
    modalities: str
    label_type: str = "emotion"
    seeds: list = field(default_factory=list)
    n: int = 0
    summary: dict = field(default_factory=dict)
    absent: list = field(default_factory=list)


def find_evaluations(folder: Path) -> list[Path]:
    return sorted(Path(folder).rglob("metrics_eval.json"))


def collect(folder: Path) -> list[ResultRow]:
    groups: dict[tuple, dict] = defaultdict(dict)
    for path in find_evaluations(folder):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: unreadable metrics file ({exc})") from None
        key = (
            str(record.get("run")),
            str(record.get("protocol")),
            str(record.get("fold")),
            str(record.get("eval_set")),
            str(record.get("model")),
            "+".join(m[0].upper() for m in record.get("modalities", [])),
            str(record.get("label_type", "emotion")),
        )
        seed = record.get("seed")
        if seed in groups[key]:
            logger.warning(
                "%s repeats seed %s of %s/%s/%s; keeping %s", path, seed, key[0], key[2], key[3], groups[key][seed][0]
            )
            continue
        groups[key][seed] = (path, record)
        for modality, head in (record.get("branch_heads") or {}).items():
            head_key = (*key[:5], f"{MODALITY_LETTERS[modality]} head", key[6])
            groups[head_key][seed] = (path, {**head, "classes_absent": record.get("classes_absent", [])})
    rows = []
    for key, by_seed in groups.items():
        records = [record for _, record in by_seed.values()]
        absent = sorted({c for r in records for c in r.get("classes_absent", [])})
        keys = (*HEADLINE, AGREEMENT) if all(AGREEMENT in r for r in records) else HEADLINE
        rows.append(
            ResultRow(
                *key, seeds=sorted(by_seed, key=str), n=records[0]["n"], summary=summarize(records, keys), absent=absent
            )
        )
    rows.sort(key=lambda r: (r.run, r.model, r.modalities, r.fold, r.eval_set))
    return _with_fold_means(rows)


def _with_fold_means(rows: list[ResultRow]) -> list[ResultRow]:
    by_run: dict[tuple, list[ResultRow]] = defaultdict(list)
    for row in rows:
        by_run[(row.run, row.protocol, row.model, row.modalities, row.label_type)].append(row)
    out = []
    for (run, protocol, model, modalities, label_type), group in by_run.items():
        out.extend(group)
        if protocol in ("loco", "iemocap_loso") and len({r.fold for r in group}) > 1:
            means = [{k: r.summary[k]["mean"] for k in HEADLINE} for r in group]
            out.append(
                ResultRow(
                    run,
                    protocol,
                    FOLD_MEAN,
                    f"{len(group)} folds",
                    model,
                    modalities,
                    label_type,
                    seeds=sorted({s for r in group for s in r.seeds}, key=str),
                    n=sum(r.n for r in group),
                    summary=summarize(means),
                )
            )
    return out


def markdown_table(rows: Sequence[ResultRow]) -> str:
    """Percentages, `mean ± std` over seeds (over folds in the fold-mean rows); a label type other than
    emotion is named beside the evaluated set (`testB (sentiment)`)."""
    agreement = any(AGREEMENT in r.summary for r in rows)
    header = ["run", "protocol", "fold", "eval set", "model", "mod.", "seeds", "n", *COLUMN_TITLES.values()]
    header += [*(["teacher agreement"] * agreement), "absent"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        eval_set = r.eval_set if r.label_type == "emotion" else f"{r.eval_set} ({r.label_type})"
        cells = [r.run, r.protocol, r.fold, eval_set, r.model, r.modalities, str(len(r.seeds)), str(r.n)]
        cells += [format_mean_std(r.summary[k]["mean"], r.summary[k]["std"], r.summary[k]["n"]) for k in COLUMN_TITLES]
        if agreement:
            found = r.summary.get(AGREEMENT)
            cells.append(format_mean_std(found["mean"], found["std"], found["n"]) if found else "-")
        cells.append(", ".join(r.absent) or "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_table(rows: Sequence[ResultRow]) -> str:
    columns = ["run", "protocol", "fold", "eval_set", "model", "modalities", "label_type", "seeds", "n"]
    metrics = (*HEADLINE, *([AGREEMENT] * any(AGREEMENT in r.summary for r in rows)))
    columns += [f"{k}_{s}" for k in metrics for s in ("mean", "std")] + ["absent"]
    records: list[Mapping] = []
    for r in rows:
        record = {
            "run": r.run,
            "protocol": r.protocol,
            "fold": r.fold,
            "eval_set": r.eval_set,
            "model": r.model,
            "modalities": r.modalities,
            "label_type": r.label_type,
            "seeds": " ".join(map(str, r.seeds)),
            "n": r.n,
            "absent": " ".join(r.absent),
        }
        for k in (k for k in metrics if k in r.summary):
            mean, std = r.summary[k]["mean"], r.summary[k]["std"]
            record[f"{k}_mean"] = "" if math.isnan(mean) else f"{mean:.4f}"
            record[f"{k}_std"] = "" if math.isnan(std) else f"{std:.4f}"
        records.append(record)
    return csv_text(records, columns)


@dataclass
class RunSummary:
    """One run folder for `--list`: what it trained, on which data, and how well it selected on val."""

    run: str
    config_hash: str
    model: str
    modalities: str
    label_type: str
    data: str
    metric: str
    units: int
    best: dict = field(default_factory=dict)  # {"mean", "std", "n"} of the best val value per unit


def _best_val(path: Path, key: str, maximize: bool) -> float:
    """The best value of `key` over the epochs of one unit's metrics_val.csv (NaN when it has none)."""
    with path.open(encoding="utf-8", newline="") as handle:
        values = [float(row[key]) for row in csv.DictReader(handle) if row.get(key) not in (None, "")]
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return math.nan
    return max(values) if maximize else min(values)


def list_runs(folder: Path) -> list[RunSummary]:
    """Every run folder under `folder` (a folder holding config_resolved.yaml), read from its saved config
    and its units' metrics_val.csv."""
    from .config import config_hash
    from .experiment import CONFIG_NAME
    from .training.early_stopping import METRIC_KEYS

    summaries = []
    for config_path in sorted(Path(folder).rglob(CONFIG_NAME)):
        try:
            config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
            data, metric = config["data"], config["training"]["early_stopping"]["metric"]
            model = config["model"]["name"]
        except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
            raise ValueError(f"{config_path}: unreadable run config ({type(exc).__name__}: {exc})") from None
        run_dir = config_path.parent
        best = [_best_val(p, METRIC_KEYS[metric], metric != "loss") for p in sorted(run_dir.rglob("metrics_val.csv"))]
        mean, std = mean_std(best)
        corpora = data.get("corpora")
        summaries.append(
            RunSummary(
                run=str(run_dir.relative_to(folder)) if run_dir != Path(folder) else run_dir.resolve().name,
                config_hash=config_hash(config),
                model=str(model),
                modalities="+".join(str(m)[0].upper() for m in data.get("modalities") or []),
                label_type=str(data.get("label_type", "emotion")),
                data=str(data.get("features_dir") or data.get("processed_dir"))
                + (f" [{', '.join(corpora)}]" if corpora else ""),
                metric=metric,
                units=len(best),
                best={"mean": mean, "std": std, "n": len(best)},
            )
        )
    return summaries


def runs_table(runs: Sequence[RunSummary]) -> str:
    """The `--list` view as Markdown: one line per run, its best val metric as mean ± std over its units."""
    header = ["run", "config", "model", "mod.", "labels", "data", "units", "best val"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in runs:
        scale = 1.0 if r.metric == "loss" else 100.0
        digits = 3 if r.metric == "loss" else 1
        best = f"{r.metric} {format_mean_std(r.best['mean'], r.best['std'], r.best['n'], scale, digits)}"
        cells = [r.run, r.config_hash, r.model, r.modalities, r.label_type, r.data, str(r.units), best]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def runs_csv(runs: Sequence[RunSummary]) -> str:
    columns = ["run", "config_hash", "model", "modalities", "label_type", "data", "units", "metric"]
    records = []
    for r in runs:
        record: dict = {k: getattr(r, k) for k in columns}
        for stat in ("mean", "std"):
            value = r.best[stat]
            record[f"best_{stat}"] = "" if math.isnan(value) else f"{value:.4f}"
        records.append(record)
    return csv_text(records, [*columns, "best_mean", "best_std"])
