"""EMOVO: the Italian emotional speech corpus (Costantini, Iaderola, Paoloni & Todisco, LREC 2014).

Six actors (f1 f2 f3 female, m1 m2 m3 male) read 14 sentences in seven emotional states: 588
recordings, 48 kHz (mostly stereo). Layout under `--raw_dir` (EMOVO.zip as distributed; some copies
put the actor folders under `Dataset/`):

    EMOVO/f1/dis-f1-b1.wav     <emotion>-<actor>-<sentence>.wav
    EMOVO/documents/           the paper and the corpus description (not read)

| code | Italian | canonical |
|---|---|---|
| dis | disgusto | disgust |
| gio | gioia | joy |
| neu | neutro | neutral |
| pau | paura | fear |
| rab | rabbia | anger |
| sor | sorpresa | surprise |
| tri | tristezza | sadness |

Sentence codes: b1-b3 short, l1-l4 long, n1-n5 nonsense, d1-d2 questions, the same in every emotion,
so the text gives no label away. The actor in the name must match its folder. Language `it`.
Licence: free for research, from Fondazione Ugo Bordoni (voice.fub.it); `download` says where to
get it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..manifest import CORPORA
from .common import CorpusLayoutError, ParseContext, Utterance, located_or_manual
from .layout import find_corpus_dir, list_files

NAME = "emovo"
CORPUS = CORPORA[NAME]
FOLDER = "EMOVO"
LANGUAGE = "it"
LICENCE = "free for research use (Fondazione Ugo Bordoni)"
DOWNLOAD_PAGE = "http://voice.fub.it/activities/corpora/emovo/index.html"
ACTORS: dict[str, str] = {"f1": "female", "f2": "female", "f3": "female", "m1": "male", "m2": "male", "m3": "male"}
LABELS: dict[str, str | None] = {
    "dis": "disgust",
    "gio": "joy",
    "neu": "neutral",
    "pau": "fear",
    "rab": "anger",
    "sor": "surprise",
    "tri": "sadness",
}
SENTENCES: dict[str, str] = {
    "b1": "Gli operai si alzano presto.",
    "b2": "I vigili sono muniti di pistola.",
    "b3": "La cascata fa molto rumore.",
    "l1": "L'autunno prossimo Tony partirà per la Spagna: nella prima metà di ottobre.",
    "l2": "Ora prendo la felpa di là ed esco per fare una passeggiata.",
    "l3": "Un attimo dopo s'è incamminato... ed è inciampato.",
    "l4": "Vorrei il numero telefonico del Signor Piatti.",
    "n1": "La casa forte vuole col pane.",
    "n2": "La forza trova il passo e l'aglio rosso.",
    "n3": "Il gatto sta scorrendo nella pera.",
    "n4": "Insalata pastasciutta coscia d'agnello limoncello.",
    "n5": "Uno quarantatré dieci mille cinquantasette venti.",
    "d1": "Sabato sera cosa farà?",
    "d2": "Porti con te quella cosa?",
}
FILE_NAME = re.compile(r"([a-z]{3})-([fm][1-3])-([bldn][1-5])")
INNER_FOLDERS: tuple[str, ...] = ("Dataset",)


def actor_root(corpus_dir: Path) -> Path | None:
    for root in (corpus_dir, *(corpus_dir / f for f in INNER_FOLDERS)):
        if any((root / actor).is_dir() for actor in ACTORS):
            return root
    return None


def locate(raw_dir: Path | str) -> Path:
    return find_corpus_dir(raw_dir, CORPUS, FOLDER, lambda p: actor_root(p) is not None, "f1/ ... m3/ actor folders")


def download(raw_dir: Path | str, force: bool = False) -> Path:
    return located_or_manual(
        raw_dir, locate, CORPUS, FOLDER,
        lambda corpus_dir: (
            f"EMOVO is distributed for research from {DOWNLOAD_PAGE}; unzip EMOVO.zip so that "
            f"{corpus_dir / 'f1' / 'dis-f1-b1.wav'} exists (actor folders f1 f2 f3 m1 m2 m3)."
        ),
    )  # fmt: skip


def parse(corpus_dir: Path | str, ctx: ParseContext) -> Iterator[Utterance]:
    root = actor_root(Path(corpus_dir))
    if root is None:
        raise CorpusLayoutError(CORPUS, corpus_dir, "no f1/ ... m3/ actor folders")
    for actor, gender in ACTORS.items():
        for path in list_files(root / actor, "*.wav") if (root / actor).is_dir() else []:
            match = FILE_NAME.fullmatch(path.stem.lower())
            if match is None or match[2] != actor or match[3] not in SENTENCES:
                ctx.problem(
                    path, f"file name is not <emotion>-{actor}-<sentence>.wav with a sentence {sorted(SENTENCES)}"
                )
                continue
            emotion = ctx.label(path, match[1], LABELS)
            if emotion is None:
                continue
            yield Utterance(
                dataset=CORPUS, native_id=path.stem, source=path, speaker_id=actor, raw_label=match[1],
                emotion=emotion, text=SENTENCES[match[3]], language=LANGUAGE, gender=gender,
            )  # fmt: skip
