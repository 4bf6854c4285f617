"""Evaluation protocols as row selections: which rows train, which select the model, which are reported.

A feature root holds one store per group (`train`, `val`, `testA`, `testB`). The groups
are read as one `ConcatStore`, and each protocol turns the per-row metadata into folds of
row indices. The selection logic works on plain arrays (`Rows`), so it is tested on a
synthetic manifest without any features, and the rules that prevent leakage are checked
when a fold is made:

* `pooled`: train on the train group, select on val, report each test group separately
  (testA = acted corpora, testB = MELD).
* `loco`: for each held-out corpus C, train on every other corpus's train rows, select on
  their val rows only, and report on all rows of C from every group. A fold whose training
  corpora have no val rows (e.g. only a train-only single-speaker corpus) is skipped with its
  reason, and the sweep goes on with the other folds.
* `pairwise` (EmoBox's train-on-A / test-on-B view): for each corpus A, train on A's train rows,
  select on A's val rows, and report A's test rows and every row of each other corpus.
* `iemocap_loso`: five folds by IEMOCAP session over its rows from every group. The test
  session is held out; validation is carved from the next session in the cycle (Ses05 ->
  Ses01): by default one of its speakers (speaker-disjoint from training), with
  `data.loso_val: session` the whole session. Everything else trains.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mer_builder.errors import InputError
from mer_builder.manifest import GROUPS

from .features.store import NO_LABEL, ConcatStore, FeatureStore, SubsetStore, open_feature_store
from .registry import Registry

GROUP_NAMES: tuple[str, ...] = GROUPS
IEMOCAP = "IEMOCAP"
_SESSION = re.compile(r"Ses0?(\d)")


class ProtocolError(InputError, ValueError):
    """The data cannot support the requested protocol; the message says what is missing."""


@dataclass
class Rows:
    """Per-row facts the protocols need, as arrays aligned with the combined store."""

    dataset: np.ndarray
    group: np.ndarray
    speaker: np.ndarray
    session: np.ndarray  # "" where not applicable

    @classmethod
    def from_meta(cls, meta: Sequence[Mapping], groups: Sequence[str]) -> Rows:
        return cls(
            dataset=np.asarray([str(m.get("dataset", "")) for m in meta], dtype=object),
            group=np.asarray(list(groups), dtype=object),
            speaker=np.asarray([str(m.get("speaker_id", "")) for m in meta], dtype=object),
            session=np.asarray([session_of(m) for m in meta], dtype=object),
        )

    def __len__(self) -> int:
        return len(self.dataset)


def session_of(meta: Mapping) -> str:
    """`Ses01`..`Ses05` for IEMOCAP rows (from `session`, else from the id), '' otherwise."""
    if meta.get("dataset") != IEMOCAP:
        return ""
    for source in (meta.get("session"), str(meta.get("id", "")).split("/")[-1]):
        match = _SESSION.search(str(source or ""))
        if match:
            return f"Ses0{match.group(1)}"
    raise ProtocolError(
        f"IEMOCAP row {meta.get('id')!r} has no session (expected a 'session' field or Ses0N in the id)"
    )


@dataclass
class Fold:
    name: str
    train: np.ndarray
    val: np.ndarray
    report: dict[str, np.ndarray] = field(default_factory=dict)

    def describe(self, rows: Rows) -> str:
        def corpora(index: np.ndarray) -> str:
            names, counts = np.unique(rows.dataset[index], return_counts=True)
            return ", ".join(f"{n} {c}" for n, c in zip(names, counts, strict=True)) or "-"

        parts = [f"train {len(self.train)} ({corpora(self.train)})", f"val {len(self.val)} ({corpora(self.val)})"]
        parts += [f"{name} {len(index)} ({corpora(index)})" for name, index in self.report.items()]
        return f"{self.name}: " + "; ".join(parts)


def _where(mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask).astype(np.int64)


def pooled_folds(rows: Rows, report_groups: Sequence[str] = ("testA", "testB")) -> list[Fold]:
    report = {g: _where(rows.group == g) for g in report_groups}
    return [Fold("pooled", _where(rows.group == "train"), _where(rows.group == "val"), report)]


def loco_folds(rows: Rows, holdout: str | None = None) -> list[Fold]:
    corpora = sorted(set(rows.dataset.tolist()))
    if holdout is not None and holdout not in corpora:
        raise ProtocolError(f"data.holdout {holdout!r} is not among the corpora in the features: {corpora}")
    if len(corpora) < 2:
        raise ProtocolError(f"loco needs at least two corpora, found {corpora}")
    folds = []
    for corpus in [holdout] if holdout else corpora:
        others = rows.dataset != corpus
        folds.append(
            Fold(
                f"loco_{corpus}",
                train=_where(others & (rows.group == "train")),
                val=_where(others & (rows.group == "val")),
                report={corpus: _where(~others)},
            )
        )
    return folds


def pairwise_folds(rows: Rows) -> list[Fold]:
    """Train on one corpus A (select on A's val rows); report A's test rows and every row of each other corpus."""
    corpora = sorted(set(rows.dataset.tolist()))
    if len(corpora) < 2:
        raise ProtocolError(f"pairwise needs at least two corpora, found {corpora}")
    folds = []
    for corpus in corpora:
        own = rows.dataset == corpus
        report = {corpus: _where(own & np.isin(rows.group, ("testA", "testB")))}
        report.update({other: _where(rows.dataset == other) for other in corpora if other != corpus})
        folds.append(
            Fold(f"train_{corpus}", _where(own & (rows.group == "train")), _where(own & (rows.group == "val")), report)
        )
    return folds


def loso_folds(rows: Rows, val_mode: str = "speaker") -> list[Fold]:
    iemocap = rows.dataset == IEMOCAP
    sessions = sorted(set(rows.session[iemocap].tolist()))
    if len(sessions) < 3:
        raise ProtocolError(f"iemocap_loso needs IEMOCAP rows from at least 3 sessions, found {sessions or 'none'}")
    folds = []
    for k, test_session in enumerate(sessions):
        val_session = sessions[(k + 1) % len(sessions)]
        in_val_session = iemocap & (rows.session == val_session)
        if val_mode == "session":
            val = in_val_session
        else:
            speakers = sorted(set(rows.speaker[in_val_session].tolist()))
            val = in_val_session & (rows.speaker == speakers[0])
        test = iemocap & (rows.session == test_session)
        folds.append(
            Fold(f"loso_{test_session}", _where(iemocap & ~test & ~val), _where(val), {test_session: _where(test)})
        )
    return folds


def check_fold(fold: Fold, rows: Rows, protocol: str) -> None:
    """Refuse folds that leak or cannot select a model; cheap, so it runs on every fold."""
    if len(fold.train) == 0:
        raise ProtocolError(f"{fold.name}: no training rows")
    if len(fold.val) == 0:
        raise ProtocolError(f"{fold.name}: no validation rows, so no model selection is possible")
    evaluated = np.concatenate(list(fold.report.values())) if fold.report else np.zeros(0, np.int64)
    fitted = np.concatenate([fold.train, fold.val])
    if np.intersect1d(fitted, evaluated).size:
        raise ProtocolError(f"{fold.name}: rows used for training or validation are also reported")
    if protocol == "loco":
        shared = set(rows.dataset[fitted].tolist()) & set(rows.dataset[evaluated].tolist())
        if shared:
            raise ProtocolError(f"{fold.name}: corpus {sorted(shared)} is in both training and test")
    if protocol == "iemocap_loso":
        shared = set(rows.session[fitted].tolist()) & set(rows.session[evaluated].tolist())
        if shared:
            raise ProtocolError(f"{fold.name}: session {sorted(shared)} is in both training and test")
        if _speakers(rows, fold.train) & _speakers(rows, fold.val):
            raise ProtocolError(f"{fold.name}: a speaker is in both training and validation")


def _speakers(rows: Rows, index: np.ndarray) -> set[tuple[str, str]]:
    return set(zip(rows.session[index].tolist(), rows.speaker[index].tolist(), strict=True))


def _unusable_fold(fold: Fold, rows: Rows) -> str | None:
    """Why a LOCO or pairwise fold cannot select a model (no train or val rows in its training corpora), or None."""
    if len(fold.train) and len(fold.val):
        return None
    others = sorted(set(rows.dataset[np.concatenate([fold.train, fold.val])].tolist())) or sorted(
        set(rows.dataset.tolist()) - set(fold.report)
    )
    missing = "training" if not len(fold.train) else "validation"
    return (
        f"{fold.name} skipped: its training corpora ({', '.join(others)}) have no {missing} rows (a corpus built "
        "train-only, e.g. one with a single speaker, has none); rebuild one of them with val rows to run this fold"
    )


# name -> fold maker taking (rows, holdout, report_groups, loso_val): the `data` keys a protocol may read.
PROTOCOLS: Registry[Callable[[Rows, str | None, Sequence[str], str], list[Fold]]] = Registry("protocol")


@PROTOCOLS.register("pooled", "train on the train group, select on val, report each test group (testA, testB)")
def _pooled(rows: Rows, holdout: str | None, report_groups: Sequence[str], loso_val: str) -> list[Fold]:
    return pooled_folds(rows, report_groups)


@PROTOCOLS.register("loco", "leave one corpus out: train and select on the others, report the held-out corpus")
def _loco(rows: Rows, holdout: str | None, report_groups: Sequence[str], loso_val: str) -> list[Fold]:
    return loco_folds(rows, holdout)


@PROTOCOLS.register("iemocap_loso", "leave one IEMOCAP session out; validation from the next session")
def _loso(rows: Rows, holdout: str | None, report_groups: Sequence[str], loso_val: str) -> list[Fold]:
    return loso_folds(rows, loso_val)


@PROTOCOLS.register("pairwise", "train on one corpus, select on its val, report its test and every other corpus")
def _pairwise(rows: Rows, holdout: str | None, report_groups: Sequence[str], loso_val: str) -> list[Fold]:
    return pairwise_folds(rows)


def make_folds(
    protocol: str,
    rows: Rows,
    holdout: str | None = None,
    report_groups: Sequence[str] = ("testA", "testB"),
    loso_val: str = "speaker",
    skipped: list[str] | None = None,
) -> list[Fold]:
    """The protocol's folds, each checked for leakage. A LOCO or pairwise fold that cannot select a model is left
    out with its reason appended to `skipped` (the sweep goes on with the others); if none is left, that is an error."""
    folds = PROTOCOLS[protocol](rows, holdout, report_groups, loso_val)
    kept, reasons = [], []
    for fold in folds:
        fold.report = {name: index for name, index in fold.report.items() if len(index)}
        reason = _unusable_fold(fold, rows) if protocol in ("loco", "pairwise") else None
        if reason:
            reasons.append(reason)
            continue
        check_fold(fold, rows, protocol)
        kept.append(fold)
    if not kept:
        raise ProtocolError("; ".join(reasons) or "no folds")
    if skipped is not None:
        skipped.extend(reasons)
    return kept


@dataclass
class ProtocolData:
    """All groups of a feature root as one store, with the row facts the protocols need.

    `unlabelled` counts, per corpus, the rows left out for having no label of the store's label
    type (e.g. RAVDESS under `data.label_type: sentiment`)."""

    store: FeatureStore
    rows: Rows
    root: Path
    unlabelled: dict[str, int] = field(default_factory=dict)

    def subset(self, index: np.ndarray) -> SubsetStore:
        return SubsetStore(self.store, index)


def _keep(store: FeatureStore, rows: Rows, keep: np.ndarray) -> tuple[SubsetStore, Rows]:
    return SubsetStore(store, keep), Rows(rows.dataset[keep], rows.group[keep], rows.speaker[keep], rows.session[keep])


def open_features(
    features_dir: Path | str, corpora: Sequence[str] | None = None, label_type: str = "emotion"
) -> ProtocolData:
    """Open every group dir under `features_dir` (memmap or pickle) with labels of `label_type`, optionally
    keep only some corpora, and leave out the rows without a label of that type."""
    root = Path(features_dir)
    present = [g for g in GROUP_NAMES if (root / g).is_dir()]
    if not present:
        raise ProtocolError(f"{root}: expected group folders {list(GROUP_NAMES)} (the output of the feature extractor)")
    stores = [open_feature_store(root / g, label_type) for g in present]
    store: FeatureStore = ConcatStore(stores)
    groups = [g for g, s in zip(present, stores, strict=True) for _ in range(len(s))]
    rows = Rows.from_meta(store.meta, groups)
    if corpora:
        available = sorted(set(rows.dataset.tolist()))
        missing = sorted(set(corpora) - set(available))
        if missing:
            raise ProtocolError(f"data.corpora names {missing}, not in {root} (available: {available})")
        store, rows = _keep(store, rows, _where(np.isin(rows.dataset, list(corpora))))
    labelled = store.labels != NO_LABEL
    names, counts = np.unique(rows.dataset[~labelled], return_counts=True)
    unlabelled = {str(n): int(c) for n, c in zip(names, counts, strict=True)}
    if not labelled.any():
        raise ProtocolError(
            f"{root}: no row has a {label_type} label (corpora {sorted(set(rows.dataset.tolist()))}). Sentiment "
            "comes from corpora that rate it (MELD, CMU-MOSEI); features extracted before mer recorded it "
            "need the builder and extract_at_features.py run again"
        )
    if unlabelled:
        store, rows = _keep(store, rows, _where(labelled))
    return ProtocolData(store, rows, root, unlabelled)
