"""CMU-MOSEI: Multimodal Opinion Sentiment and Emotion Intensity (Zadeh, Liang, Poria, Cambria & Morency, ACL 2018).

About 23,500 sentence segments from 3,228 YouTube monologue videos of over 1,000 speakers, the
corpus of the reference paper. Each segment has a sentiment score in [-3, 3] and six emotion
intensities in [0, 3] (happiness, sadness, anger, fear, disgust, surprise; the mean of three
annotators' ratings). Layout under `--raw_dir` (`CMU_MOSEI.zip` unpacks to `Raw/`, found as it
lands; the labels and folds come from the CMU Multimodal SDK):

    CMU-MOSEI/Audio/Full/WAV_16000/<video>.wav                      one wav per video
    CMU-MOSEI/Transcript/Segmented/Combined/<video>.txt             <video>___<n>___<start>___<end>___<text>
    CMU-MOSEI/Labels/CMU_MOSEI_Labels.csd                           the SDK's label sequence (HDF5)
    CMU-MOSEI/cmu_mosei_std_folds.py                                the SDK's standard folds (optional)
    CMU-MOSEI/Videos/Full/Combined/<video>.mp4                      (optional: becomes media_path)

Segments are the official label intervals: `<csd>/<root>/data/<video>/intervals` (N x 2 seconds)
with `features` (N x 7: sentiment, happy, sad, anger, surprise, disgust, fear). Intervals may
start before 0 (read from 0) and overlap; they are numbered by start time within the video, so
`<video>_<k>` is the id and `k` the turn order (`dialogue_id` is the video). The transcript is the
text of the transcript segments that overlap the interval by more than half of their own length.

Kept on every record: `emotion_scores` (the six intensities under canonical names: joy, sadness,
anger, surprise, disgust, fear) and `sentiment_score` (a float), with its 3-class `sentiment`
(negative/neutral/positive, binned by `labels.sentiment_from_score`). The single label is chosen
by this policy, fixed and documented:

* all six intensities 0 -> neutral (raw label `none`);
* else the emotion with the highest intensity (raw label the MOSEI name, e.g. `happy`);
* a tie at the top -> dropped and counted ("tie between ..."): the segment has no single label.

Splits: the standard folds (train / valid -> val / test) when `cmu_mosei_std_folds.py` is there;
videos outside every fold are dropped and counted. Without it, the builder's seeded split by
video is used and each record notes it. MOSEI publishes no speaker ids: the video is the speaker
(one speaker per video; the folds are video-disjoint). Language `en`. Licence: research use, terms
of the CMU MultiComp Lab; `download` says where to get the files.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..labels import sentiment_from_score
from ..manifest import CORPORA
from .common import CorpusLayoutError, ParseContext, Utterance, located_or_manual
from .layout import find_corpus_dir, find_under

NAME = "mosei"
CORPUS = CORPORA[NAME]
FOLDER = "CMU-MOSEI"
LANGUAGE = "en"
LICENCE = "research use (CMU MultiComp Lab terms)"
ARCHIVE_FOLDERS: tuple[str, ...] = ("Raw", "CMU_MOSEI")
RAW_URL = "http://immortal.multicomp.cs.cmu.edu/raw_datasets/CMU_MOSEI.zip"
LABELS_URL = "http://immortal.multicomp.cs.cmu.edu/CMU-MOSEI/labels/CMU_MOSEI_Labels.csd"
SDK_URL = "https://github.com/CMU-MultiComp-Lab/CMU-MultimodalSDK"
AUDIO_DIR = Path("Audio", "Full", "WAV_16000")
TRANSCRIPT_DIR = Path("Transcript", "Segmented", "Combined")
VIDEO_DIR = Path("Videos", "Full", "Combined")
LABELS_FILE = "CMU_MOSEI_Labels.csd"
FOLDS_FILE = "cmu_mosei_std_folds.py"
FOLDS: dict[str, str] = {"standard_train_fold": "train", "standard_valid_fold": "val", "standard_test_fold": "test"}
# Column order of the label sequence's features after the sentiment column.
EMOTION_COLUMNS: tuple[str, ...] = ("happy", "sad", "anger", "surprise", "disgust", "fear")
LABELS: dict[str, str] = {
    "happy": "joy",
    "sad": "sadness",
    "anger": "anger",
    "surprise": "surprise",
    "disgust": "disgust",
    "fear": "fear",
    "none": "neutral",
}
NO_FOLDS_NOTE = f"no {FOLDS_FILE}: split by the builder's seeded hash of the video, not the standard folds"


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


def locate(raw_dir: Path | str) -> Path:
    def is_root(path: Path) -> bool:
        return (path / AUDIO_DIR).is_dir() and find_under(path, LABELS_FILE, want_dir=False, depth=2) is not None

    return find_corpus_dir(
        raw_dir, CORPUS, FOLDER, is_root, f"{AUDIO_DIR}/<video>.wav and {LABELS_FILE} (in it or in Labels/)",
        ARCHIVE_FOLDERS,
    )  # fmt: skip


def download(raw_dir: Path | str, force: bool = False) -> Path:
    return located_or_manual(
        raw_dir, locate, CORPUS, FOLDER,
        lambda corpus_dir: (
            f"CMU-MOSEI is shared for research by the CMU MultiComp Lab: download {RAW_URL} and unzip its Raw/ folder "
            f"as {corpus_dir}; put {LABELS_URL} in {corpus_dir / 'Labels'}; for the standard splits copy "
            f"{FOLDS_FILE} from the CMU Multimodal SDK ({SDK_URL}, mmsdk/mmdatasdk/dataset/standard_datasets/"
            f"CMU_MOSEI/) into {corpus_dir}."
        ),
    )  # fmt: skip


def read_labels(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Video -> (intervals N x 2, features N x 7) from the SDK's computational sequence (HDF5)."""
    try:
        import h5py
    except ImportError:
        raise CorpusLayoutError(CORPUS, path, "reading the .csd labels needs h5py: pip install h5py") from None
    out = {}
    with h5py.File(path, "r") as handle:
        roots = [key for key in handle if isinstance(handle[key], h5py.Group) and "data" in handle[key]]
        if len(roots) != 1:
            raise CorpusLayoutError(CORPUS, path, f"expected one sequence with a data group, found {roots}")
        for video, group in handle[roots[0]]["data"].items():
            out[video] = (np.asarray(group["intervals"], dtype=np.float64), np.asarray(group["features"], np.float64))
    return out


def read_folds(path: Path) -> dict[str, str]:
    """Video -> split from the SDK's folds file, read as data (never executed)."""
    split_of = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = node.targets[0]
        if isinstance(target, ast.Name) and target.id in FOLDS:
            for video in ast.literal_eval(node.value):
                split_of[str(video)] = FOLDS[target.id]
    return split_of


def read_transcript(path: Path) -> list[Segment]:
    """The transcript segments of one video (`<video>___<n>___<start>___<end>___<text>`); [] when absent."""
    if not path.is_file():
        return []
    segments = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("___", 4)
        if len(parts) == 5:
            try:
                segments.append(Segment(float(parts[2]), float(parts[3]), parts[4].strip()))
            except ValueError:
                continue
    return segments


def text_of(segments: list[Segment], start: float, end: float) -> str:
    """The transcript segments overlapping [start, end] by more than half their own length, in time order."""
    chosen = [s for s in segments if min(end, s.end) - max(start, s.start) > 0.5 * (s.end - s.start)]
    return " ".join(s.text for s in sorted(chosen, key=lambda s: s.start) if s.text)


def single_label(intensities: np.ndarray) -> tuple[str | None, str]:
    """(raw label, reason if dropped) by the documented policy: zeros -> none, argmax, ties dropped."""
    top = float(intensities.max())
    if top <= 0:
        return "none", ""
    winners = [EMOTION_COLUMNS[i] for i in np.flatnonzero(intensities == top)]
    if len(winners) > 1:
        return None, f"tie between {' and '.join(winners)} at intensity {top:g}: no single label"
    return winners[0], ""


def parse(corpus_dir: Path | str, ctx: ParseContext) -> Iterator[Utterance]:
    corpus_dir = Path(corpus_dir)
    labels_path = find_under(corpus_dir, LABELS_FILE, want_dir=False, depth=2)
    folds_path = find_under(corpus_dir, FOLDS_FILE, want_dir=False, depth=2)
    split_of = read_folds(folds_path) if folds_path else None
    if labels_path is None:
        raise CorpusLayoutError(CORPUS, corpus_dir, f"no {LABELS_FILE} in it or in Labels/")
    for video, (intervals, features) in sorted(read_labels(labels_path).items()):
        where = f"{labels_path}:{video}"
        if intervals.ndim != 2 or features.ndim != 2 or features.shape[1] != 7 or len(features) != len(intervals):
            ctx.problem(where, f"intervals {intervals.shape} and features {features.shape}: expected N x 2 and N x 7")
            continue
        wav = corpus_dir / AUDIO_DIR / f"{video}.wav"
        split = None if split_of is None else split_of.get(video)
        if split_of is not None and split is None:
            ctx.drop(wav, "video in no standard fold (cmu_mosei_std_folds.py): not part of the official splits")
            continue
        segments = read_transcript(corpus_dir / TRANSCRIPT_DIR / f"{video}.txt")
        video_file = corpus_dir / VIDEO_DIR / f"{video}.mp4"
        order = sorted(range(len(intervals)), key=lambda i: (intervals[i][0], intervals[i][1]))
        for k, i in enumerate(order):
            start, end = (round(float(t), 4) for t in intervals[i])
            scores = features[i][1:]
            raw, why = single_label(scores)
            native = f"{video}_{k:03d}"
            if raw is None:
                ctx.drop(f"{wav}@{start}-{end}", why)
                continue
            emotion = ctx.label(where, raw, LABELS)
            if emotion is None:
                continue
            score = None if np.isnan(features[i][0]) else round(float(features[i][0]), 4)  # unrated: no sentiment
            yield Utterance(
                dataset=CORPUS, native_id=native, source=wav, speaker_id=video, raw_label=raw, emotion=emotion,
                text=text_of(segments, start, end), language=LANGUAGE, split=split,
                media_path=video_file if video_file.is_file() else None, dialogue_id=video, utterance_index=k,
                expected_duration_s=round(end - max(0.0, start), 3), segment=(start, end),
                emotion_scores={LABELS[c]: round(float(v), 4) for c, v in zip(EMOTION_COLUMNS, scores, strict=True)},
                sentiment_score=score, sentiment=None if score is None else sentiment_from_score(score),
                notes=[] if split_of is not None else [NO_FOLDS_NOTE],
            )  # fmt: skip
