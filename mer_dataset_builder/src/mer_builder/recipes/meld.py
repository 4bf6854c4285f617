"""MELD: the Multimodal EmotionLines Dataset (Poria et al., ACL 2019), dialogue clips from *Friends*.

13,708 utterances in 1,433 multi-party dialogues, each an mp4 clip (video plus audio) with a
transcript, a speaker name and one of seven emotions, which are exactly our label space.
The official splits (train 9,989 / dev 1,109 / test 2,610 rows) are kept: train -> train,
dev -> val, test -> test (the `testB` group).

Native layout (the contents of the official `MELD.Raw.tar.gz`, whose inner `train.tar.gz`,
`dev.tar.gz` and `test.tar.gz` hold the clip folders), under `--raw_dir` as `MELD/` or as the
tarball unpacks, `MELD.Raw/`; inner archives still packed beside the CSVs are unpacked on first parse:

    MELD/train_sent_emo.csv   MELD/train_splits/dia{D}_utt{U}.mp4
    MELD/dev_sent_emo.csv     MELD/dev_splits_complete/dia{D}_utt{U}.mp4
    MELD/test_sent_emo.csv    MELD/output_repeated_splits_test/dia{D}_utt{U}.mp4

CSV columns: `Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,
Episode,StartTime,EndTime`; UTF-8 with non-ASCII punctuation (’ … —), CRLF line endings.
`Sentiment` (negative / neutral / positive) is recorded as the record's `sentiment`, for
`data.label_type: sentiment`.

Traps handled here:
* Dialogue numbers restart in every split, so `dia0_utt0.mp4` exists in all three clip
  folders with different content: clips are looked up in their own split's folder only,
  and ids (`train_dia0_utt0`) and dialogue ids (`train_0`) carry the split.
* `Sr No.` is not unique in the train CSV and `Utterance_ID`s have gaps: utterances are
  keyed by (Dialogue_ID, Utterance_ID), whose order rebuilds the dialogue.
* Some rows have no clip (dev `dia110_utt7`): the utterance is still yielded with `source`
  at the expected path, so the builder's `--audio_failure` policy decides, visibly.
* Some clips have no row (dev `dia66_utt9`, test `final_videos_testdia101_utt0`): they are
  reported as drops, never guessed a label.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..download import COMPLETED_MARKER, DownloadError, extract_archive, fetch
from ..fsutil import atomic_write_bytes
from ..manifest import CORPORA
from ..textio import UnreadableRecord, csv_rows
from .common import ParseContext, Utterance
from .layout import find_corpus_dir, find_under, is_junk

NAME = "meld"
CORPUS = CORPORA[NAME]
FOLDER = "MELD"
LANGUAGE = "en"
LICENCE = "GPL-3.0 (declare-lab/MELD); clips from the Friends TV series"
ARCHIVE_FOLDERS: tuple[str, ...] = ("MELD.Raw",)
URL = "http://web.eecs.umich.edu/~mihalcea/downloads/MELD.Raw.tar.gz"
ARCHIVE_NAME = "MELD.Raw.tar.gz"
# The authors publish no checksum for MELD.Raw.tar.gz, so none is recorded (never an invented one).
ARCHIVE_SHA256: str | None = None
STAGING = "MELD.Raw.unpacked"  # the outer archive unpacks here; only its inner archives and CSVs are used

CSV_HEADER: tuple[str, ...] = (
    "Sr No.",
    "Utterance",
    "Speaker",
    "Emotion",
    "Sentiment",
    "Dialogue_ID",
    "Utterance_ID",
    "Season",
    "Episode",
    "StartTime",
    "EndTime",
)
# MELD's seven emotions are the canonical space itself; the table still spells every one out.
LABELS: dict[str, str | None] = {
    "anger": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "joy": "joy",
    "neutral": "neutral",
    "sadness": "sadness",
    "surprise": "surprise",
}

# The Sentiment column's values, spelt out like the emotion table.
SENTIMENT_LABELS: dict[str, str] = {"negative": "negative", "neutral": "neutral", "positive": "positive"}


@dataclass(frozen=True)
class MeldSplit:
    official: str  # MELD's own name, used in ids
    split: str  # the manifest split
    csv: str
    clips: str  # clip folder
    archive: str  # inner archive of MELD.Raw.tar.gz that unpacks to `clips`


SPLITS: tuple[MeldSplit, ...] = (
    MeldSplit("train", "train", "train_sent_emo.csv", "train_splits", "train.tar.gz"),
    MeldSplit("dev", "val", "dev_sent_emo.csv", "dev_splits_complete", "dev.tar.gz"),
    MeldSplit("test", "test", "test_sent_emo.csv", "output_repeated_splits_test", "test.tar.gz"),
)
EXPECTED = f"{', '.join(s.csv for s in SPLITS)} beside {', '.join(s.clips + '/' for s in SPLITS)}"


def _has_csvs(folder: Path) -> bool:
    return all((folder / s.csv).is_file() for s in SPLITS)


def locate(raw_dir: Path | str) -> Path:
    """The MELD folder: the three CSVs are required; clip folders may be absent (every clip then is missing)."""
    return find_corpus_dir(raw_dir, CORPUS, FOLDER, _has_csvs, EXPECTED, ARCHIVE_FOLDERS)


def _placed_marker(corpus: Path, split: MeldSplit) -> Path:
    return corpus / f"{COMPLETED_MARKER}.{split.clips}"


def _is_complete(corpus: Path) -> bool:
    """All CSVs and clip folders present; if `download` began laying them out, it must have finished."""
    if not (_has_csvs(corpus) and all((corpus / s.clips).is_dir() for s in SPLITS)):
        return False
    return not (corpus / STAGING).exists() or all(_placed_marker(corpus, s).exists() for s in SPLITS)


def _move_files(source: Path, target: Path) -> None:
    """Move the files of the flat folder `source` into `target`, replacing same-named ones and nothing else."""
    target.mkdir(parents=True, exist_ok=True)
    for item in sorted(source.iterdir()):
        item.replace(target / item.name)


def _place_clips(corpus: Path, split: MeldSplit, inner: Path, staging: Path, force: bool = False) -> None:
    """Unpack a split's inner archive (`train.tar.gz`) under `staging` and move its clips into `corpus/<clips>/`."""
    unpacked = extract_archive(inner, staging / f"{split.official}.unpacked", force=force)
    found = find_under(unpacked, split.clips, want_dir=True)
    if found is None:
        raise DownloadError(f"{inner}: unpacked, but no {split.clips}/ folder came out of it")
    _move_files(found, corpus / split.clips)
    _placed_marker(corpus, split).write_text("ok\n")


def unpack_inner_archives(corpus: Path, ctx: ParseContext) -> None:
    """`MELD.Raw/` as the outer tarball unpacks: the clip folders are still packed beside the CSVs; unpack them."""
    for split in SPLITS:
        inner = corpus / split.archive
        if inner.is_file() and not _placed_marker(corpus, split).exists():
            try:
                _place_clips(corpus, split, inner, corpus / STAGING)
            except DownloadError as exc:
                ctx.problem(inner, str(exc).removeprefix(f"{inner}: "))


def download(raw_dir: Path | str, force: bool = False) -> Path:
    """Fetch MELD.Raw.tar.gz into `raw_dir/MELD/` and lay out its CSVs and inner clip archives there.

    Resumable (a `.part` file) and idempotent (completion markers); an existing complete
    folder is left untouched unless `force`. The archive (about 10 GB) and its unpacked
    copy `MELD.Raw.unpacked/` stay beside the corpus so a rerun never downloads again;
    delete both once the build is done to reclaim the space.
    """
    corpus = Path(raw_dir) / FOLDER
    if _is_complete(corpus) and not force:
        return corpus
    archive = fetch(URL, corpus / ARCHIVE_NAME, sha256=ARCHIVE_SHA256, force=force)
    staging = extract_archive(archive, corpus / STAGING, force=force)
    for split in SPLITS:
        if not _placed_marker(corpus, split).exists() or force:
            inner = find_under(staging, split.archive, want_dir=False)
            if inner is None:
                raise DownloadError(f"{archive}: no {split.archive} inside; expected it to hold {split.clips}/")
            _place_clips(corpus, split, inner, staging, force)
        target = corpus / split.csv
        if not target.is_file() or force:
            found = find_under(staging, split.csv, want_dir=False)
            if found is None:
                raise DownloadError(f"{archive}: no {split.csv} inside")
            atomic_write_bytes(target, found.read_bytes())
    return corpus


UTF8_HINT = "MELD's CSVs are UTF-8"


def _rows(csv_path: Path, ctx: ParseContext) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for every non-blank row; a wrong header or width, or a row that is not UTF-8, is a
    problem of its own (the rows after it are read as usual)."""
    if not csv_path.is_file():
        ctx.problem(csv_path, f"missing; the corpus folder should hold {EXPECTED}")
        return
    rows = csv_rows(csv_path)
    header = next(rows, None)
    if isinstance(header, UnreadableRecord):
        ctx.problem(f"{csv_path}:{header.line}", header.describe(UTF8_HINT))
        return
    cells = [cell.strip() for cell in header.cells] if header else []
    if tuple(cells) != CSV_HEADER:
        ctx.problem(csv_path, f"header {cells} is not MELD's {list(CSV_HEADER)}")
        return
    for row in rows:
        if isinstance(row, UnreadableRecord):
            ctx.problem(f"{csv_path}:{row.line}", row.describe(UTF8_HINT))
        elif not any(cell.strip() for cell in row.cells):
            continue
        elif len(row.cells) != len(CSV_HEADER):
            ctx.problem(f"{csv_path}:{row.line}", f"{len(row.cells)} columns, expected {len(CSV_HEADER)}")
        else:
            yield row.line, dict(zip(CSV_HEADER, row.cells, strict=True))


def _clip_names(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {p.name for p in folder.iterdir() if p.suffix.lower() == ".mp4" and not is_junk(p) and p.is_file()}


def _clock_seconds(stamp: str) -> float:
    hours, minutes, seconds = stamp.strip().replace(",", ".").split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _span_seconds(start: str, end: str) -> float | None:
    """Clip length from the CSV's `HH:MM:SS,mmm` stamps (sizes the silence of a missing clip); None if unusable."""
    try:
        span = _clock_seconds(end) - _clock_seconds(start)
    except ValueError:
        return None
    return round(span, 3) if span > 0 else None


def _parse_split(corpus_dir: Path, split: MeldSplit, ctx: ParseContext) -> Iterator[Utterance]:
    csv_path, clip_dir = corpus_dir / split.csv, corpus_dir / split.clips
    clips = _clip_names(clip_dir)
    seen: dict[tuple[int, int], int] = {}
    for line, row in _rows(csv_path, ctx):
        where = f"{csv_path}:{line}"
        try:
            dialogue, turn = int(row["Dialogue_ID"]), int(row["Utterance_ID"])
        except ValueError:
            ids = f"Dialogue_ID {row['Dialogue_ID']!r}, Utterance_ID {row['Utterance_ID']!r}"
            ctx.problem(where, f"{ids}: expected integers")
            continue
        if (dialogue, turn) in seen:
            ctx.problem(where, f"dia{dialogue}_utt{turn} already on line {seen[dialogue, turn]}")
            continue
        seen[dialogue, turn] = line
        speaker, text = row["Speaker"].strip(), row["Utterance"].strip()
        if not speaker or not text:
            ctx.problem(where, "empty Speaker or Utterance")
            continue
        raw = row["Emotion"].strip()
        emotion = ctx.label(where, raw, LABELS)
        if emotion is None:
            continue
        sentiment = SENTIMENT_LABELS.get(row["Sentiment"].strip())
        if sentiment is None:
            ctx.problem(where, f"Sentiment {row['Sentiment']!r}: expected one of {sorted(SENTIMENT_LABELS)}")
        name = f"dia{dialogue}_utt{turn}.mp4"
        clip = clip_dir / name
        yield Utterance(
            dataset=CORPUS,
            native_id=f"{split.official}_dia{dialogue}_utt{turn}",
            source=clip,
            speaker_id=speaker,
            raw_label=raw,
            emotion=emotion,
            text=text,
            language=LANGUAGE,
            sentiment=sentiment,
            split=split.split,
            media_path=clip if name in clips else None,
            dialogue_id=f"{split.official}_{dialogue}",
            utterance_index=turn,
            expected_duration_s=_span_seconds(row["StartTime"], row["EndTime"]),
        )
    used = {f"dia{d}_utt{u}.mp4" for d, u in seen}
    for name in sorted(clips - used):
        ctx.drop(clip_dir / name, f"no row in {split.csv}: an unannotated clip")


def parse(corpus_dir: Path | str, ctx: ParseContext) -> Iterator[Utterance]:
    """Every labelled row of the three CSVs; `source` is the split's own clip (possibly missing).

    Inner archives still packed beside the CSVs (`train.tar.gz`, as in `MELD.Raw/`) are unpacked first.
    """
    unpack_inner_archives(Path(corpus_dir), ctx)
    for split in SPLITS:
        yield from _parse_split(Path(corpus_dir), split, ctx)
