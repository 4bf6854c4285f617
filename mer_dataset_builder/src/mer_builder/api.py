"""The builder's Python API: `build()` runs any chain of its stages and returns what happened.

    from mer_builder.api import build          # also `mer.build`
    result = build("/data/emotion", "/data/processed", ["ravdess", "meld"])
    result.exit_code, result.manifest, result.outcomes, result.checks

`datasets` may mix builder names with your own corpora (`load_card("mine.yaml", "mine")`); without
it, prepare (and `all`) take every corpus found under `raw_dir` (the others are in `result.absent`).

Every `mer-builder` command is a call of `build` with its stages (`all` runs the four); the
command line only prints the result. Progress goes to the `mer_builder` logger.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import recipes
from .download import DownloadError, quiet_downloads
from .errors import EXIT_FAILED, EXIT_INVALID, EXIT_OK, InputError
from .labels import LabelPolicy
from .manifest import CORPORA, MANIFEST_NAME
from .parallel import default_num_workers
from .pipeline import BuildOptions, CorpusOutcome, Recipe, prepare
from .recipes import canonical_name
from .recipes.common import CorpusError, CorpusLayoutError, ManualDownloadRequired
from .split_spec import SplitSpec
from .validate import CheckResult, integrity, validate

STAGES = ("download", "prepare", "validate", "integrity")
logger = logging.getLogger(__name__)
Corpus = str | Recipe  # a builder name, or a recipe object (a corpus card)


def recipe_of(name: Corpus) -> Recipe:
    """The recipe module of a builder name, or the recipe object itself (a corpus card)."""
    return recipes.get_recipe(name) if isinstance(name, str) else name


def present_corpora(raw_dir: Path) -> tuple[list[str], list[str]]:
    """(builder names found under raw_dir, display names of the corpora not there at all).

    A corpus found in a shape its recipe does not accept counts as present, so `prepare` explains it.
    """
    present, absent = [], []
    for name in CORPORA:
        try:
            recipes.get_recipe(name).locate(raw_dir)
        except CorpusLayoutError as exc:
            if exc.absent:
                absent.append(CORPORA[name])
                continue
        present.append(name)
    if not present:
        folders = ", ".join(recipes.get_recipe(n).FOLDER for n in CORPORA)
        raise InputError(f"{raw_dir}: no corpus found; expected corpus folders such as {folders} (or name --datasets)")
    return present, absent


@dataclass
class BuildResult:
    """What `build` did: corpora found or fetched, per-corpus prepare outcomes, and the checks run."""

    out_dir: Path | None
    raw_dir: Path | None = None
    available: list[Corpus] = field(default_factory=list)  # corpora found or downloaded under raw_dir
    unavailable: list[CorpusError] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)  # corpora not under raw_dir, passed over (no datasets named)
    outcomes: list[CorpusOutcome] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    stopped: bool = False  # the chain stopped after the download stage

    @property
    def manifest(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / MANIFEST_NAME

    @property
    def troubled(self) -> list[CorpusOutcome]:
        """Corpora that failed or have problems (broken inputs) in their prepare report."""
        return [o for o in self.outcomes if o.failed or o.problems]

    @property
    def exit_code(self) -> int:
        """0 ok; 1 a corpus unavailable or a prepare problem (run time); 2 a check failed (invalid data)."""
        codes = [EXIT_FAILED if self.unavailable or self.stopped else EXIT_OK]
        codes.append(EXIT_FAILED if self.troubled else EXIT_OK)
        codes += [EXIT_OK if check.ok else EXIT_INVALID for check in self.checks]
        return next((code for code in codes if code), EXIT_OK)


def download_corpora(
    names: Sequence[Corpus], raw_dir: Path, force: bool = False, quiet: bool = False
) -> tuple[list[Corpus], list[CorpusError]]:
    """(corpora available under raw_dir, failures); every corpus is tried so all instructions show at once."""
    available: list[Corpus] = []
    failures: list[CorpusError] = []
    for name in names:
        recipe: Any = recipe_of(name)
        if not force:
            try:
                logger.info("%s: present at %s", recipe.CORPUS, recipe.locate(raw_dir))
                available.append(name)
                continue
            except CorpusLayoutError as exc:
                if exc.found_at is not None:  # it is here, misplaced: moving it fixes that, a download does not
                    failures.append(exc)
                    continue
                logger.info("%s: not found (%s)", recipe.CORPUS, exc.reason)
        try:
            with quiet_downloads(quiet):
                path = recipe.download(raw_dir, force=force)
            logger.info("%s: downloaded to %s", recipe.CORPUS, path)
            available.append(name)
        except ManualDownloadRequired as exc:
            logger.warning("%s cannot be downloaded by a script. %s", recipe.CORPUS, exc.reason)
            failures.append(exc)
        except DownloadError as exc:
            failures.append(CorpusError(recipe.CORPUS, None, str(exc)))
        except CorpusError as exc:
            failures.append(exc)
    return available, failures


def build(
    raw_dir: Path | str | None,
    out_dir: Path | str | None,
    datasets: Sequence[Corpus] | None = None,
    *,
    stages: Sequence[str] = STAGES,
    policy: LabelPolicy | None = None,
    audio_failure: str = "drop",
    num_workers: int | None = None,
    backend: str = "local",
    scheduler: str | None = None,
    seed: int = 0,
    force: bool = False,
    continue_on_error: bool = False,
    quiet: bool = False,
    split_spec: SplitSpec | None = None,
    transcribe_missing: bool = False,
    whisper: str | None = None,
) -> BuildResult:
    """Run `stages` (any of download, prepare, validate, integrity, in that order) for `datasets`.

    raw_dir holds the corpora in their native layouts; out_dir gets the manifest, audio, stats and
    build report. `datasets` are builder names (`ravdess`, `cremad`, ...) or recipe objects (corpus
    cards); None means every corpus to download, every corpus found under raw_dir to prepare, and
    every corpus in the manifest to check. `split_spec` sets ratios, speaker lists or folds per corpus.
    `force` downloads again in the download stage alone, and otherwise normalises every audio file
    again. In a chain, a corpus that is not available stops it unless `continue_on_error`; the checks
    run on the corpora that were prepared. `transcribe_missing` gives utterances without a transcript
    Whisper's (`whisper`: the model; default the packaged tiny.en), marked as machine transcripts in
    the manifest. `backend` runs prepare's audio tasks on `local` processes, a Dask cluster (`scheduler`,
    else DASK_SCHEDULER_ADDRESS, else a LocalCluster of `num_workers`) or Ray (RAY_ADDRESS, else a local
    instance): see mer_builder.parallel. Expected problems are in the result (`exit_code`, `unavailable`,
    `troubled`, `checks`).
    """
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise InputError(f"unknown build stage(s) {unknown}; expected any of {list(STAGES)}")
    raw = None if raw_dir is None else Path(raw_dir)
    out = None if out_dir is None else Path(out_dir)
    names = _unique_corpora(datasets) if datasets else list[Corpus](CORPORA)
    builtin = [n for n in names if isinstance(n, str)]
    if raw is None and builtin and {"download", "prepare"} & set(stages):
        raise InputError(
            f"raw_dir (--raw_dir) is needed to download or prepare the built-in corpora "
            f"({', '.join(CORPORA[n] for n in builtin)})"
        )
    if out is None and {"prepare", "validate", "integrity"} & set(stages):
        raise InputError("out_dir is needed to prepare or check corpora")
    workers = default_num_workers() if num_workers is None else num_workers
    result = BuildResult(out, raw)
    checked: list[str] | None = None if datasets is None else [recipe_of(n).CORPUS for n in names]
    if datasets is None and "prepare" in stages:
        present, result.absent = present_corpora(raw)  # type: ignore[arg-type]
        names = list[Corpus](present)

    if "download" in stages:
        only_download = tuple(stages) == ("download",)
        result.available, result.unavailable = download_corpora(names, raw, force and only_download, quiet)  # type: ignore[arg-type]
        if not only_download and ((result.unavailable and not continue_on_error) or not result.available):
            result.stopped = True
            return result
        names = result.available
    if "prepare" in stages:
        options = BuildOptions(
            raw_dir=raw, out_dir=out, policy=policy or LabelPolicy(), audio_failure=audio_failure,  # type: ignore[arg-type]
            num_workers=workers, backend=backend, scheduler=scheduler, seed=seed, force=force,
            continue_on_error=continue_on_error, quiet=quiet, split_spec=split_spec or SplitSpec(),
            transcribe_missing=transcribe_missing, whisper=whisper,
        )  # fmt: skip
        result.outcomes = prepare(names, options)
        checked = [o.corpus for o in result.outcomes if not o.failed]
        if not checked:
            return result
    if "validate" in stages:
        result.checks.append(validate(out, checked))  # type: ignore[arg-type]
    if "integrity" in stages:
        result.checks.append(integrity(out, checked, workers, quiet))  # type: ignore[arg-type]
    return result


def _unique_corpora(datasets: Sequence[Corpus]) -> list[Corpus]:
    """Builder names made canonical (aliases, any case) and each corpus kept once, in the order given."""
    unique: dict[str, Corpus] = {}
    for name in datasets:
        corpus = canonical_name(name) if isinstance(name, str) else name
        unique.setdefault(corpus if isinstance(corpus, str) else corpus.CORPUS, corpus)
    return list(unique.values())
