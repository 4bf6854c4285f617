"""Your own corpus without code: a corpus card (YAML) that turns a table or a folder-per-label layout into a recipe.

`python -m mer_builder prepare --datasets mycorpus=path/to/card.yaml --out_dir P` builds it like a
built-in corpus: the same record checks, splits, reports, validation, features, LOCO and predict.
Paths in the card are relative to the card's own folder. Two layouts:

    # a table: CSV (or TSV: a .tsv/.tab file) with a header row
    name: MyCorpus              # display name used in ids, folders and reports (default: the CLI key)
    table: metadata.csv         # columns path,emotion,speaker; optional text,language,gender,
                                #   dialogue_id,utterance_index,split (train|val|test, dev = val)
    audio_root: clips           # optional: what `path` is relative to (default: the table's folder)

    # or one folder per label: <folders>/<label>/<file>, the speaker taken from the file name
    folders: data
    speaker_regex: '^(?P<speaker>[A-Za-z]+\\d+)_'   # named group `speaker`, else the first group
    extensions: [.wav, .flac]   # optional (default: the audio and video formats mer decodes)

    # both
    labels: {angry: anger, happy: joy, calm: null}  # raw label -> one of the 7 classes, null = drop
    language: en                # default language (a `language` column overrides it per row)
    licence: CC BY 4.0

A raw label missing from `labels` is a problem naming the row (nothing is silently dropped); a
label mapped to null is dropped and counted. Text is optional: rows without it get an empty
transcript. A `split` column keeps the card's own splits (speakers may recur across them, as in
official splits); it must then be filled on every row. Without it, splits are speaker-disjoint
like every corpus's, and `--split_spec` applies.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..labels import EMOTIONS
from .common import CorpusLayoutError, ParseContext, Utterance
from .layout import is_junk, list_files

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
REQUIRED_COLUMNS: tuple[str, ...] = ("path", "emotion", "speaker")
OPTIONAL_COLUMNS: tuple[str, ...] = ("text", "language", "gender", "dialogue_id", "utterance_index", "split")
CARD_KEYS: frozenset[str] = frozenset(
    {"name", "table", "audio_root", "folders", "speaker_regex", "extensions", "labels", "language", "licence"}
)
DEFAULT_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".mp4", ".avi", ".mkv", ".webm")
CARD_SPLITS: dict[str, str] = {"train": "train", "val": "val", "dev": "val", "valid": "val", "test": "test"}
GENDERS: dict[str, str] = {"m": "male", "male": "male", "f": "female", "female": "female"}


class CardError(InputError, ValueError):
    """The card itself is wrong; the message names the card file and the key."""


@dataclass
class CorpusCard:
    """A recipe read from a corpus card: `NAME`, `CORPUS`, `FOLDER`, `LICENCE`, `locate`, `download`, `parse`."""

    NAME: str
    CORPUS: str
    CARD: Path
    labels: dict[str, str | None]
    language: str
    LICENCE: str | None = None
    table: Path | None = None
    audio_root: Path | None = None
    folders: Path | None = None
    speaker_regex: re.Pattern | None = None
    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS
    FOLDER: str | None = field(default=None)  # a card's data is found from the card, never under --raw_dir

    @property
    def data(self) -> Path:
        return self.table if self.table is not None else self.folders  # type: ignore[return-value]

    def locate(self, raw_dir: Path | str | None = None) -> Path:
        """The table file or the label folders' parent (named by the card, so `--raw_dir` plays no part)."""
        data = self.data
        if not (data.is_file() if self.table is not None else data.is_dir()):
            what = "table" if self.table is not None else "folders"
            raise CorpusLayoutError(self.CORPUS, data, f"the card {self.CARD} names it as `{what}`, but it is missing")
        return data

    def download(self, raw_dir: Path | str | None = None, force: bool = False) -> Path:
        return self.locate(raw_dir)

    def parse(self, corpus_dir: Path, ctx: ParseContext) -> Iterator[Utterance]:
        if self.table is not None:
            yield from self._parse_table(self.table, ctx)
        elif self.folders is not None and self.speaker_regex is not None:  # load_card sets one layout's keys
            yield from self._parse_folders(self.folders, self.speaker_regex, ctx)

    def _utterance(self, source: Path, root: Path, raw: str, emotion: str, speaker: str, **extra: Any) -> Utterance:
        native = source.relative_to(root).with_suffix("").as_posix() if source.is_relative_to(root) else source.stem
        return Utterance(
            dataset=self.CORPUS, native_id=native, source=source, speaker_id=speaker, raw_label=raw, emotion=emotion,
            text=extra.pop("text", ""), language=extra.pop("language", None) or self.language, **extra,
        )  # fmt: skip

    def _parse_table(self, table: Path, ctx: ParseContext) -> Iterator[Utterance]:
        root = self.audio_root or table.parent
        delimiter = "\t" if table.suffix.lower() in (".tsv", ".tab") else ","
        try:
            with table.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.DictReader(handle, delimiter=delimiter)
                columns = [c.strip() for c in reader.fieldnames or ()]
                missing = [c for c in REQUIRED_COLUMNS if c not in columns]
                unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
                if missing or unknown:
                    ctx.problem(table, f"columns {columns}: missing {missing}, unknown {unknown}; expected "
                                f"{list(REQUIRED_COLUMNS)} and optionally {list(OPTIONAL_COLUMNS)}")  # fmt: skip
                    return
                rows = [(reader.line_num, _clean(row)) for row in reader]
        except UnicodeDecodeError as exc:
            ctx.problem(table, f"not UTF-8 ({exc.reason} at byte {exc.start})")
            return
        with_split = [line for line, row in rows if row.get("split")]
        if with_split and len(with_split) != len(rows):
            ctx.problem(table, f"the split column is filled on {len(with_split)} of {len(rows)} rows; fill it on all")
            return
        for line, row in rows:
            where = f"{table}:{line}"
            if not row["path"] or not row["speaker"]:
                ctx.problem(where, "empty path or speaker")
                continue
            split = row.get("split") or None
            if split is not None and split.lower() not in CARD_SPLITS:
                ctx.problem(where, f"split {split!r} is not one of {sorted(CARD_SPLITS)}")
                continue
            extras = self._row_extras(row, where, ctx)
            if extras is None:
                continue
            source = root / row["path"]
            emotion = ctx.label(where, row["emotion"], self.labels, dropped_file=source)
            if emotion is None:
                continue
            yield self._utterance(
                source, root, row["emotion"], emotion, row["speaker"], split=split and CARD_SPLITS[split.lower()],
                **extras,
            )  # fmt: skip

    @staticmethod
    def _row_extras(row: dict[str, str], where: str, ctx: ParseContext) -> dict[str, Any] | None:
        extras: dict[str, Any] = {"text": row.get("text", ""), "language": row.get("language") or None}
        if row.get("gender"):
            gender = GENDERS.get(row["gender"].lower())
            if gender is None:
                ctx.problem(where, f"gender {row['gender']!r} is not one of {sorted(GENDERS)}")
                return None
            extras["gender"] = gender
        if row.get("dialogue_id"):
            extras["dialogue_id"] = row["dialogue_id"]
        if row.get("utterance_index"):
            if not row["utterance_index"].isdigit():
                ctx.problem(where, f"utterance_index {row['utterance_index']!r} is not a whole number")
                return None
            extras["utterance_index"] = int(row["utterance_index"])
        return extras

    def _parse_folders(self, root: Path, speaker_regex: re.Pattern, ctx: ParseContext) -> Iterator[Utterance]:
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not is_junk(p)):
            files = [p for p in list_files(folder, "*", recursive=True) if p.suffix.lower() in self.extensions]
            if not files:
                continue
            if folder.name not in self.labels:
                ctx.problem(folder, f"label folder {folder.name!r} is not in the card's labels {sorted(self.labels)}")
                continue
            for path in files:
                match = speaker_regex.search(path.name)
                speaker = match and (match.groupdict().get("speaker") or (match.groups() or (None,))[0])
                if not speaker:
                    ctx.problem(path, f"speaker_regex {speaker_regex.pattern!r} finds no speaker in the name")
                    continue
                emotion = ctx.label(path, folder.name, self.labels)
                if emotion is not None:
                    yield self._utterance(path, root, folder.name, emotion, speaker)


def _clean(row: dict) -> dict[str, str]:
    return {key.strip(): (value or "").strip() for key, value in row.items() if key}


def _require(data: dict, key: str, kind: type, card: Path) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
        raise CardError(f"{card}: `{key}` must be a non-empty {kind.__name__}, got {value!r}")
    return value


def load_card(path: Path | str, key: str) -> CorpusCard:
    """Read and check a card; `key` is the name given on the command line (`key=path/to/card.yaml`)."""
    import yaml

    card = Path(path).resolve()
    try:
        data = yaml.safe_load(card.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CardError(f"{card}: corpus card not found") from None
    except yaml.YAMLError as exc:
        raise CardError(f"{card}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise CardError(f"{card}: expected a mapping of card keys ({', '.join(sorted(CARD_KEYS))})")
    unknown = sorted(set(data) - CARD_KEYS)
    if unknown:
        raise CardError(f"{card}: unknown keys {unknown}; a card has {sorted(CARD_KEYS)}")
    name = str(data.get("name") or key)
    if not NAME_PATTERN.fullmatch(name):
        raise CardError(f"{card}: name {name!r} must be letters, digits, '-', '_' or '.' (it names folders and ids)")
    labels = _require(data, "labels", dict, card)
    bad = {str(raw): target for raw, target in labels.items() if target is not None and target not in EMOTIONS}
    if bad:
        raise CardError(f"{card}: labels map to {bad}, outside the label space {list(EMOTIONS)} (null drops a label)")
    if ("table" in data) == ("folders" in data):
        raise CardError(f"{card}: give exactly one of `table` (a CSV/TSV) and `folders` (<folders>/<label>/<file>)")
    base = card.parent
    fields: dict[str, Any] = {}
    if "table" in data:
        fields["table"] = base / _require(data, "table", str, card)
        if "audio_root" in data:
            fields["audio_root"] = base / _require(data, "audio_root", str, card)
    else:
        fields["folders"] = base / _require(data, "folders", str, card)
        pattern = _require(data, "speaker_regex", str, card)
        try:
            fields["speaker_regex"] = re.compile(pattern)
        except re.error as exc:
            raise CardError(f"{card}: speaker_regex {pattern!r} is not a regular expression ({exc})") from None
        if "extensions" in data:
            extensions = data["extensions"]
            if not isinstance(extensions, list) or not all(isinstance(e, str) for e in extensions):
                raise CardError(f"{card}: `extensions` must be a list like [.wav, .flac]")
            fields["extensions"] = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
    return CorpusCard(
        NAME=key, CORPUS=name, CARD=card, labels={str(k): v for k, v in labels.items()},
        language=str(_require(data, "language", str, card)), LICENCE=data.get("licence"), **fields,
    )  # fmt: skip
