"""Results tables: every `metrics_eval.json` under a folder -> one table, mean ± std across seeds.

Evaluations are grouped by what was run (run name, protocol, fold, evaluated set, model,
modalities), read from the files themselves rather than from folder names. Within a group
each seed counts once. For protocols with folds (LOCO, LOSO) a `mean over folds` row averages
the per-fold means, with the standard deviation across folds.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mer_builder.fsutil import csv_text

from .metrics import HEADLINE, format_mean_std, summarize

COLUMN_TITLES = {"acc": "acc (WA)", "macro_f1": "macro-F1", "weighted_f1": "weighted-F1", "uar": "UAR"}
FOLD_MEAN = "mean over folds"
logger = logging.getLogger(__name__)


@dataclass
class ResultRow:
    run: str
    protocol: str
    fold: str
    eval_set: str
    model: str
    modalities: str
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
        )
        seed = record.get("seed")
        if seed in groups[key]:
            logger.warning(
                "%s repeats seed %s of %s/%s/%s; keeping %s", path, seed, key[0], key[2], key[3], groups[key][seed][0]
            )
            continue
        groups[key][seed] = (path, record)
    rows = []
    for key, by_seed in groups.items():
        records = [record for _, record in by_seed.values()]
        absent = sorted({c for r in records for c in r.get("classes_absent", [])})
        rows.append(
            ResultRow(
                *key, seeds=sorted(by_seed, key=str), n=records[0]["n"], summary=summarize(records), absent=absent
            )
        )
    rows.sort(key=lambda r: (r.run, r.model, r.modalities, r.fold, r.eval_set))
    return _with_fold_means(rows)


def _with_fold_means(rows: list[ResultRow]) -> list[ResultRow]:
    by_run: dict[tuple, list[ResultRow]] = defaultdict(list)
    for row in rows:
        by_run[(row.run, row.protocol, row.model, row.modalities)].append(row)
    out = []
    for (run, protocol, model, modalities), group in by_run.items():
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
                    seeds=sorted({s for r in group for s in r.seeds}, key=str),
                    n=sum(r.n for r in group),
                    summary=summarize(means),
                )
            )
    return out


def markdown_table(rows: Sequence[ResultRow]) -> str:
    """Percentages, `mean ± std` over seeds (over folds in the fold-mean rows)."""
    header = ["run", "protocol", "fold", "eval set", "model", "mod.", "seeds", "n", *COLUMN_TITLES.values(), "absent"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r.run, r.protocol, r.fold, r.eval_set, r.model, r.modalities, str(len(r.seeds)), str(r.n)]
        cells += [format_mean_std(r.summary[k]["mean"], r.summary[k]["std"], r.summary[k]["n"]) for k in COLUMN_TITLES]
        cells.append(", ".join(r.absent) or "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_table(rows: Sequence[ResultRow]) -> str:
    columns = ["run", "protocol", "fold", "eval_set", "model", "modalities", "seeds", "n"]
    columns += [f"{k}_{s}" for k in HEADLINE for s in ("mean", "std")] + ["absent"]
    records: list[Mapping] = []
    for r in rows:
        record = {
            "run": r.run,
            "protocol": r.protocol,
            "fold": r.fold,
            "eval_set": r.eval_set,
            "model": r.model,
            "modalities": r.modalities,
            "seeds": " ".join(map(str, r.seeds)),
            "n": r.n,
            "absent": " ".join(r.absent),
        }
        for k in HEADLINE:
            mean, std = r.summary[k]["mean"], r.summary[k]["std"]
            record[f"{k}_mean"] = "" if math.isnan(mean) else f"{mean:.4f}"
            record[f"{k}_std"] = "" if math.isnan(std) else f"{std:.4f}"
        records.append(record)
    return csv_text(records, columns)
