"""IEMOCAP: the Interactive Emotional Dyadic Motion Capture database (Busso et al., 2008).

Five sessions, each a dyad of one female and one male actor, in improvised (`impro`) and
scripted (`script`) dialogs cut into utterances. Each utterance has a majority label
from several annotators and a transcript.

Native layout (the release `IEMOCAP_full_release`, whose contents go into `--raw_dir/IEMOCAP`):

    IEMOCAP/Session{1..5}/sentences/wav/<dialog>/<utterance>.wav
    IEMOCAP/Session{1..5}/dialog/EmoEvaluation/<dialog>.txt
    IEMOCAP/Session{1..5}/dialog/transcriptions/<dialog>.txt

An evaluation file starts with `% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]`; each
utterance then has a line `[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]`
followed by one line per annotator (`C-E2:<TAB>Neutral;<TAB>()`, `A-E3:<TAB>val 3; act 2; dom  2;<TAB>()`).
A transcription line reads `Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.` (CRLF line
endings); lines that are not utterances (e.g. `..._MXX0` turns that have no wav) are ignored.

Facts this recipe keeps straight:
* the speaker is the session plus the gender letter of the utterance's own suffix:
  `Ses01F_impro01_M000` is spoken by the male actor of session 1 (`Ses01M`), although the
  dialog name says F (that letter only tells who wore the motion-capture markers);
* `exc` (excited) -> joy; `fru` (frustrated) by `--iemocap_frustrated`; `xxx` (no majority)
  and `oth` (other) are always dropped, each counted in the build report;
* `utterance_index` is the turn order by start time within the dialog (the evaluation
  files are not in time order), so dialogue context can be rebuilt;
* AppleDouble twins (`._Ses01F_impro01.txt`) and the `Categorical/`, `Attribute/`,
  `Self-evaluation/` subfolders of EmoEvaluation are not dialogs and are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..manifest import CORPORA
from .common import CorpusLayoutError, ManualDownloadRequired, ParseContext, Utterance
from .layout import find_corpus_dir, is_junk, list_files

NAME = "iemocap"
CORPUS = CORPORA[NAME]
FOLDER = "IEMOCAP"
LANGUAGE = "en"
SESSIONS: tuple[int, ...] = (1, 2, 3, 4, 5)
LICENCE = "IEMOCAP release agreement: research use, by signed form"
ARCHIVE_FOLDERS: tuple[str, ...] = ("IEMOCAP_full_release",)
LICENCE_PAGE = "https://sail.usc.edu/iemocap/release_form.php"

LABELS: dict[str, str | None] = {
    "ang": "anger",
    "dis": "disgust",
    "fea": "fear",
    "hap": "joy",
    "exc": "joy",
    "neu": "neutral",
    "sad": "sadness",
    "sur": "surprise",
    "xxx": None,
    "oth": None,
}
POLICY_LABELS: dict[str, str] = {"fru": "iemocap_frustrated"}
ALWAYS_DROPPED: dict[str, str] = {"xxx": "the annotators reached no majority", "oth": "'other' has no class"}
GENDERS = {"F": "female", "M": "male"}

UTTERANCE_NAME = re.compile(r"^(Ses0[1-5])([FM])_\w+?_([FM])\d{3}$")
EVALUATION_LINE = re.compile(
    r"^\[(\d+(?:\.\d+)?) - (\d+(?:\.\d+)?)\]\s+(\S+)\s+(\w+)\s+\[\s*[-\d.]+,\s*[-\d.]+,\s*[-\d.]+\s*\]$"
)
EVALUATION_FORMAT = "[start - end]<TAB>utterance<TAB>label<TAB>[V, A, D]"
ANNOTATOR_LINE = re.compile(r"^[CA]-[EFM]\d+:")
TRANSCRIPT_LINE = re.compile(r"^(\S+) \[(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)\]:(.*)$")

EXPECTED = (
    "Session1..Session5, each with sentences/wav/<dialog>/<utterance>.wav, "
    "dialog/EmoEvaluation/<dialog>.txt and dialog/transcriptions/<dialog>.txt"
)
INSTRUCTIONS = (
    f"IEMOCAP is released only to those who sign its licence: fill in the form at {LICENCE_PAGE} "
    "(sail.usc.edu), download IEMOCAP_full_release from the link you are sent, and put its Session1 ... "
    "Session5 folders directly in <raw_dir>/IEMOCAP/ (i.e. <raw_dir>/IEMOCAP/Session1/sentences/wav/...)."
)


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    name: str
    label: str
    line: int


def _session_dirs(folder: Path) -> list[Path]:
    return [folder / f"Session{n}" for n in SESSIONS if (folder / f"Session{n}" / "sentences" / "wav").is_dir()]


def locate(raw_dir: Path | str) -> Path:
    return find_corpus_dir(
        raw_dir, CORPUS, FOLDER, lambda folder: bool(_session_dirs(folder)), EXPECTED, ARCHIVE_FOLDERS
    )


def download(raw_dir: Path | str, force: bool = False) -> Path:
    """IEMOCAP is licence-gated: returns the corpus if it is already in place, else says how to obtain it."""
    try:
        return locate(raw_dir)
    except CorpusLayoutError as exc:
        raise ManualDownloadRequired(CORPUS, Path(raw_dir) / FOLDER, f"{exc.reason}. {INSTRUCTIONS}") from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) with any line ending (the transcriptions use CRLF) and no trailing space.

    The release is ASCII; a stray byte that is not UTF-8 is read as Latin-1 rather than lost.
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    for number, line in enumerate(text.splitlines(), 1):
        yield number, line.rstrip()


def _read_evaluation(path: Path, ctx: ParseContext) -> list[Turn]:
    turns = []
    for number, line in _lines(path):
        if not line or line.startswith("%") or ANNOTATOR_LINE.match(line):
            continue
        match = EVALUATION_LINE.match(line)
        if match is None:
            ctx.problem(f"{path}:{number}", f"malformed line {line!r}; expected {EVALUATION_FORMAT}")
            continue
        start, end, name, label = match.groups()
        turns.append(Turn(float(start), float(end), name, label, number))
    return turns


def _read_transcriptions(path: Path) -> dict[str, str]:
    texts = {}
    for _, line in _lines(path):
        match = TRANSCRIPT_LINE.match(line)
        if match:
            texts[match.group(1)] = match.group(4).strip()
    return texts


def _parse_dialog(session_dir: Path, dialog: str, ctx: ParseContext) -> Iterator[Utterance]:
    wav_dir = session_dir / "sentences" / "wav" / dialog
    evaluation = session_dir / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
    transcription = session_dir / "dialog" / "transcriptions" / f"{dialog}.txt"
    wavs = {p.stem: p for p in list_files(wav_dir, "*.wav")} if wav_dir.is_dir() else {}
    if not evaluation.is_file():
        ctx.problem(evaluation, f"missing: the {len(wavs)} wavs of dialog {dialog} have no labels")
        return
    if not transcription.is_file():
        ctx.problem(transcription, f"missing: dialog {dialog} has no transcripts")
        return
    turns = _read_evaluation(evaluation, ctx)
    texts = _read_transcriptions(transcription)
    order = {turn.name: index for index, turn in enumerate(sorted(turns, key=lambda t: (t.start, t.name)))}
    labelled: set[str] = set()
    for turn in turns:
        where = f"{evaluation}:{turn.line}"
        name = UTTERANCE_NAME.match(turn.name)
        if name is None or not turn.name.startswith(f"{dialog}_"):
            ctx.problem(where, f"utterance {turn.name!r} is not a turn of dialog {dialog} (SesNN<G>_..._<G>NNN)")
            continue
        if turn.name in labelled:
            ctx.problem(where, f"{turn.name} is labelled twice")
            continue
        labelled.add(turn.name)
        wav = wavs.get(turn.name, wav_dir / f"{turn.name}.wav")
        emotion = ctx.label(where, turn.label, LABELS, POLICY_LABELS, ALWAYS_DROPPED, dropped_file=wav)
        if emotion is None:
            continue
        if turn.name not in texts:
            ctx.problem(transcription, f"no transcript line for {turn.name}")
            continue
        session, gender = name.group(1), name.group(3)
        text = texts[turn.name]
        yield Utterance(
            dataset=CORPUS,
            native_id=turn.name,
            source=wav,
            speaker_id=f"{session}{gender}",
            raw_label=turn.label,
            emotion=emotion,
            text=text,
            language=LANGUAGE,
            gender=GENDERS[gender],
            dialogue_id=dialog,
            utterance_index=order[turn.name],
            session=session,
            notes=[] if text else [f"the transcript line in {transcription.name} is empty"],
        )
    for stem in sorted(set(wavs) - labelled):
        ctx.problem(wavs[stem], f"no label line for it in {evaluation}")


def _dialogs(session_dir: Path) -> list[str]:
    """Dialogs named by a wav folder or an evaluation file.

    A wav folder without its evaluation file is a problem; an evaluation file without wavs
    still yields its turns, whose missing audio the builder's `--audio_failure` policy handles.
    """
    wav_root = session_dir / "sentences" / "wav"
    evaluation_dir = session_dir / "dialog" / "EmoEvaluation"
    from_wavs = {p.name for p in wav_root.iterdir() if p.is_dir() and not is_junk(p)}
    from_labels = {p.stem for p in list_files(evaluation_dir, "*.txt")} if evaluation_dir.is_dir() else set()
    return sorted(from_wavs | from_labels)


def parse(corpus_dir: Path | str, ctx: ParseContext) -> Iterator[Utterance]:
    corpus_dir = Path(corpus_dir)
    present = set(_session_dirs(corpus_dir))
    for number in SESSIONS:
        session_dir = corpus_dir / f"Session{number}"
        if session_dir not in present:
            ctx.problem(session_dir, f"missing or without sentences/wav; the full release has {EXPECTED}")
            continue
        for dialog in _dialogs(session_dir):
            yield from _parse_dialog(session_dir, dialog, ctx)
