"""Splits you choose: `--split_ratios` and `--split_spec spec.yaml` (speaker lists or folds per corpus).

    ratios: [0.7, 0.15, 0.15]          # train/val/test speaker shares for every corpus (default 0.8/0.1/0.1)
    single_speaker: utterances         # a corpus with one speaker: utterance-level split (default), or train_only
    corpora:
      RAVDESS:                         # the literature's fold: actors 21-24 held out
        test: [Actor_21, Actor_22, Actor_23, Actor_24]
        val: [Actor_19, Actor_20]      # optional; else drawn from the other speakers at the ratios
      IEMOCAP:                         # folds by speaker; each record keeps its fold in the manifest
        folds: {Ses01: [Ses01F, Ses01M], Ses02: [Ses02F, Ses02M], Ses03: [Ses03F, Ses03M],
                Ses04: [Ses04F, Ses04M], Ses05: [Ses05F, Ses05M]}
        test_fold: Ses05
        val_fold: Ses04                # optional; else val speakers are drawn from the training folds
      CREMA-D: {ratios: [0.7, 0.15, 0.15]}
      ESD: {single_speaker: train_only}

Corpora are named as in the manifest (`RAVDESS`, `CREMA-D`) or by their CLI name. Official splits
(MELD's, CMU-MOSEI's, a card's `split` column) are kept whatever the spec says. Listed speakers the
corpus does not have are reported, not an error (a partial copy of a corpus is common); a speaker
the corpus has but no fold names is an error. Every record says how its split was made (`split_by`:
official, speaker, spec, utterance) and, with folds, its `fold`; the corpus report keeps the spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .splits import SPLIT_RATIOS

SINGLE_SPEAKER_POLICIES: tuple[str, ...] = ("utterances", "train_only")
CORPUS_KEYS: frozenset[str] = frozenset({"ratios", "test", "val", "folds", "test_fold", "val_fold", "single_speaker"})
SPEC_KEYS: frozenset[str] = frozenset({"ratios", "single_speaker", "corpora"})
Ratios = tuple[float, float, float]


class SplitSpecError(InputError, ValueError):
    """The split spec or ratios cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class CorpusSplit:
    """How one corpus is split: ratios, explicit speaker lists, or folds, and the single-speaker policy."""

    ratios: Ratios = SPLIT_RATIOS
    test: tuple[str, ...] = ()
    val: tuple[str, ...] = ()
    folds: dict[str, tuple[str, ...]] = field(default_factory=dict)
    test_fold: str | None = None
    val_fold: str | None = None
    single_speaker: str = "utterances"

    @property
    def explicit(self) -> bool:
        return bool(self.test or self.val or self.folds)

    def describe(self) -> dict[str, Any]:
        """What the corpus report keeps (only what was set beyond the defaults, plus the ratios)."""
        data = {k: v for k, v in asdict(self).items() if v not in ((), {}, None)}
        data["ratios"] = list(self.ratios)
        data["folds"] = {k: list(v) for k, v in self.folds.items()} if self.folds else None
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class SplitSpec:
    ratios: Ratios = SPLIT_RATIOS
    single_speaker: str = "utterances"
    corpora: dict[str, CorpusSplit] = field(default_factory=dict)
    source: str | None = None

    def for_corpus(self, corpus: str, cli_name: str | None = None) -> CorpusSplit:
        for key in (corpus, cli_name):
            if key and key in self.corpora:
                return self.corpora[key]
        return CorpusSplit(ratios=self.ratios, single_speaker=self.single_speaker)


def check_ratios(values: Any, where: str) -> Ratios:
    """Three non-negative numbers summing to 1 (train/val/test), with a positive train share."""
    if isinstance(values, str):
        values = [v for v in values.replace("/", ",").split(",") if v.strip()]
    try:
        ratios = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise SplitSpecError(f"{where}: ratios must be three numbers train,val,test, got {values!r}") from None
    if len(ratios) != 3 or min(ratios) < 0 or ratios[0] <= 0 or abs(sum(ratios) - 1) > 1e-6:
        raise SplitSpecError(f"{where}: ratios must be three shares train,val,test summing to 1, got {values!r}")
    return ratios


def _speakers(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise SplitSpecError(f"{where}: expected a list of speaker ids, got {value!r}")
    return tuple(str(v) for v in value)


def _policy(value: Any, where: str) -> str:
    if value not in SINGLE_SPEAKER_POLICIES:
        raise SplitSpecError(f"{where}: single_speaker must be one of {list(SINGLE_SPEAKER_POLICIES)}, got {value!r}")
    return value


def _corpus_split(data: Any, defaults: SplitSpec, where: str) -> CorpusSplit:
    if not isinstance(data, Mapping):
        raise SplitSpecError(f"{where}: expected a mapping of {sorted(CORPUS_KEYS)}")
    unknown = sorted(set(data) - CORPUS_KEYS)
    if unknown:
        raise SplitSpecError(f"{where}: unknown keys {unknown}; a corpus takes {sorted(CORPUS_KEYS)}")
    folds = {str(k): _speakers(v, f"{where}.folds.{k}") for k, v in (data.get("folds") or {}).items()}
    if folds and (data.get("test") or data.get("val")):
        raise SplitSpecError(f"{where}: give either test/val speaker lists or folds, not both")
    for key in ("test_fold", "val_fold"):
        if key in data and str(data[key]) not in folds:
            raise SplitSpecError(f"{where}.{key}: {data[key]!r} is not one of the folds {sorted(folds)}")
    if folds and "test_fold" not in data:
        raise SplitSpecError(f"{where}: folds need a test_fold")
    listed = [s for fold in folds.values() for s in fold] + list(data.get("test") or []) + list(data.get("val") or [])
    repeated = sorted({str(s) for s in listed if listed.count(s) > 1})
    if repeated:
        raise SplitSpecError(f"{where}: speakers {repeated} are listed more than once")
    return CorpusSplit(
        ratios=check_ratios(data["ratios"], f"{where}.ratios") if "ratios" in data else defaults.ratios,
        test=_speakers(data.get("test") or [], f"{where}.test"),
        val=_speakers(data.get("val") or [], f"{where}.val"),
        folds=folds,
        test_fold=str(data["test_fold"]) if "test_fold" in data else None,
        val_fold=str(data["val_fold"]) if "val_fold" in data else None,
        single_speaker=_policy(data.get("single_speaker", defaults.single_speaker), f"{where}.single_speaker"),
    )


def load_split_spec(path: Path | str | None, ratios: Any = None) -> SplitSpec:
    """The spec from `path` (None: defaults), with `ratios` (from --split_ratios) overriding its top-level ratios."""
    import yaml

    defaults = SplitSpec(ratios=check_ratios(ratios, "--split_ratios") if ratios is not None else SPLIT_RATIOS)
    if path is None:
        return defaults
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SplitSpecError(f"{path}: split spec not found") from None
    except yaml.YAMLError as exc:
        raise SplitSpecError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, Mapping) or set(data) - SPEC_KEYS:
        raise SplitSpecError(f"{path}: expected a mapping with keys {sorted(SPEC_KEYS)}")
    from_file = ratios is None and "ratios" in data
    top = SplitSpec(
        ratios=check_ratios(data["ratios"], f"{path}: ratios") if from_file else defaults.ratios,
        single_speaker=_policy(data.get("single_speaker", "utterances"), f"{path}: single_speaker"),
    )
    corpora = data.get("corpora") or {}
    if not isinstance(corpora, Mapping):
        raise SplitSpecError(f"{path}: corpora must map corpus names to their splits")
    parsed = {str(name): _corpus_split(value, top, f"{path}: corpora.{name}") for name, value in corpora.items()}
    return SplitSpec(top.ratios, top.single_speaker, parsed, str(path))
