"""What every corpus recipe shares: the utterance it yields, the context it reports into, its errors.

A recipe module (one per corpus) defines:

* `NAME` (CLI name), `CORPUS` (display name used in ids and folders), `FOLDER` (where it
  lives under `--raw_dir`), a module docstring describing the corpus and its native layout;
* `LABELS`, the explicit raw label -> canonical emotion table (None: always dropped), and
  `POLICY_LABELS` (raw label -> policy flag) where a flag governs a label;
* `locate(raw_dir) -> Path`: `raw_dir/FOLDER` (or the folder the corpus's archive unpacks to) when it
  holds the corpus, else `CorpusLayoutError` saying what was expected and where the corpus seems to
  be (`layout.find_corpus_dir`);
* `LANGUAGE` (or a language per speaker) and `LICENCE`, recorded in the build report;
* `download(raw_dir, force=False) -> Path`: the corpus folder. A corpus a script may fetch
  (RAVDESS, EmoV-DB, MELD) is fetched resumably and unpacked unless it is already in place
  (`force` fetches and unpacks again); a gated one is returned when in place, else
  `ManualDownloadRequired` gives exact placement instructions. The caller silences
  download progress bars around the call, never through a recipe argument;
* `parse(corpus_dir, ctx) -> Iterator[Utterance]`: every usable utterance, in a stable order.
  Raw labels go through `ctx.label`; inputs deliberately left out (a dropped label, a song,
  a duplicate copy, a clip with no annotation) go to `ctx.drop`, broken inputs to
  `ctx.problem`. Archives a corpus ships packed (EmoV-DB's, MEAD's `audio.tar`) are unpacked
  in place on first parse. `source` may be missing (a MELD row without its clip): the builder's
  `--audio_failure` decides. `split` is set only where official splits are kept (MELD).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, RunFailure
from ..labels import POLICY_CHOICES, LabelPolicy, map_raw_label


class CorpusError(RunFailure):
    """A problem with one corpus input; the message names the corpus and the file."""

    def __init__(self, corpus: str, path: Path | str | None, reason: str):
        self.corpus, self.path, self.reason = corpus, None if path is None else str(path), reason
        where = f" {self.path}" if self.path else ""
        super().__init__(f"[{corpus}]{where}: {reason}")


class CorpusLayoutError(CorpusError, InputError):
    """The corpus folder is missing or not in the native layout the recipe expects.

    `found_at` is where the corpus was found instead (one folder too deep, under another name):
    it is there, only misplaced, so it should be moved rather than downloaded again. `absent` says
    nothing of the corpus was found at all (rather than found in the wrong shape).
    """

    def __init__(
        self,
        corpus: str,
        path: Path | str | None,
        reason: str,
        found_at: Path | None = None,
        absent: bool = False,
    ):
        super().__init__(corpus, path, reason)
        self.found_at = found_at
        self.absent = absent


class ManualDownloadRequired(CorpusError):
    """The corpus is gated or hosted where a script may not fetch it; the reason says where to put it."""


def located_or_manual(
    raw_dir: Path | str, locate: Callable[[Path | str], Path], corpus: str, folder: str, how: Callable[[Path], str]
) -> Path:
    """`download` for a corpus a script may not fetch: the corpus where `locate` finds it, else
    ManualDownloadRequired with `how(raw_dir / folder)`, the instructions for putting it there."""
    try:
        return locate(raw_dir)
    except CorpusLayoutError as exc:
        corpus_dir = Path(raw_dir) / folder
        raise ManualDownloadRequired(corpus, corpus_dir, how(corpus_dir)) from exc


@dataclass
class Utterance:
    """One utterance as a recipe finds it: before audio normalisation and split assignment."""

    dataset: str
    native_id: str
    source: Path
    speaker_id: str
    raw_label: str
    emotion: str
    text: str
    language: str
    sentiment: str | None = None  # canonical (labels.SENTIMENTS), where the corpus rates sentiment
    gender: str | None = None
    split: str | None = None
    media_path: Path | None = None
    dialogue_id: str | None = None
    utterance_index: int | None = None
    intensity: str | None = None
    session: str | None = None
    # Length the corpus metadata states (e.g. MELD's StartTime/EndTime); sizes the silence that
    # `--audio_failure replace_with_silence` writes when the media cannot be decoded.
    expected_duration_s: float | None = None
    # (start, end) seconds of `source` that hold the utterance (CMU-MOSEI's label intervals); None = all of it
    segment: tuple[float, float] | None = None
    emotion_scores: dict[str, float] | None = None
    sentiment_score: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.dataset}/{self.native_id}"


@dataclass
class ParseContext:
    """Options a recipe reads, and where it reports what it did not keep.

    `drops` are policy decisions (a label outside the space, an unsupported modality);
    `problems` are broken inputs. A problem raises at once unless `continue_on_error`.
    """

    corpus: str
    policy: LabelPolicy = field(default_factory=LabelPolicy)
    continue_on_error: bool = False
    drops: list[dict] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)

    def drop(self, path: Path | str, reason: str, **details: str) -> None:
        """Record a drop; `reason` is counted as is, so per-file facts go in `details` (e.g. `duplicate_of`)."""
        self.drops.append({"dataset": self.corpus, "file": str(path), "reason": reason, **details})

    def problem(self, path: Path | str, reason: str) -> None:
        if not self.continue_on_error:
            raise CorpusError(self.corpus, path, reason)
        self.problems.append({"dataset": self.corpus, "file": str(path), "reason": reason})

    def label(
        self,
        where: Path | str,
        raw: str,
        table: Mapping[str, str | None],
        policy_labels: Mapping[str, str] | None = None,
        always_dropped: Mapping[str, str] | None = None,
        dropped_file: Path | str | None = None,
    ) -> str | None:
        """The canonical emotion of `raw`, or None after recording why the utterance is not kept.

        `where` is the file (or `file:line`) the label comes from. A label its policy flag drops is a
        drop naming the flag and the choice that would keep it; a label the table drops is a drop
        giving its reason from `always_dropped` (raw label -> why) when there is one. Drops name
        `dropped_file` (the audio left out) when given, else `where`. A raw label the corpus does
        not define is a problem at `where`: it raises unless `continue_on_error`.
        """
        try:
            emotion = map_raw_label(raw, table, self.policy, policy_labels)
        except KeyError as exc:
            self.problem(where, exc.args[0])
            return None
        if emotion is None:
            file = where if dropped_file is None else dropped_file
            flag = (policy_labels or {}).get(raw)
            if flag:
                keep = " or ".join(f"--{flag} {c}" for c, mapped in POLICY_CHOICES[flag].items() if mapped)
                how = f"dropped by --{flag} {getattr(self.policy, flag)} ({keep} keeps it)"
                self.drop(file, f"raw label {raw!r} is outside the label space: {how}")
            else:
                why = (always_dropped or {}).get(raw, "outside the label space")
                self.drop(file, f"raw label {raw!r} is always dropped: {why}")
        return emotion
