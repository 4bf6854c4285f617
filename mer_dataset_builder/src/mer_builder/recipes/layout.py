"""Finding a corpus and its files on disk, and saying precisely what is wrong when it is not where expected.

The common mistakes are a corpus unpacked one or two folders too deep (`RAVDESS/Audio_Speech_Actors_01-24/Actor_01`,
`IEMOCAP/IEMOCAP_full_release/Session1`), a folder with the wrong name (`raw/ravdess`, `raw/CREMA-D-master`),
and `--raw_dir` pointing at the corpus itself. Each gets its own hint, so the user can fix the layout without
reading the code. Corpora copied from macOS carry AppleDouble twins (`._Ses01F_impro01.txt`), `.DS_Store`
files and `__MACOSX` folders next to the real ones; `is_junk` keeps them out of every search.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from .common import CorpusLayoutError

NESTED_SEARCH_DEPTH = 2
DEPTH_WORDS = {1: "one folder", 2: "two folders"}


def is_junk(path: Path) -> bool:
    """Hidden files and folders (AppleDouble `._*`, `.DS_Store`, `.completed` markers) and `__MACOSX`."""
    return path.name.startswith(".") or path.name == "__MACOSX"


def list_files(folder: Path, pattern: str, recursive: bool = False) -> list[Path]:
    """Sorted files matching `pattern` in (or below) `folder`, without macOS junk (`._x.wav` twins, `__MACOSX/`)."""
    found = folder.rglob(pattern) if recursive else folder.glob(pattern)
    return sorted(
        path
        for path in found
        if path.is_file() and not any(is_junk(Path(part)) for part in path.relative_to(folder).parts)
    )


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(child for child in folder.iterdir() if child.is_dir() and not is_junk(child))
    except OSError:
        return []


def _folders(root: Path, depth: int) -> Iterator[Path]:
    """`root`, then the folders below it down to `depth` levels, shallowest first and sorted, junk skipped."""
    yield root
    level = [root]
    for _ in range(depth):
        level = [child for folder in level for child in _subfolders(folder)]
        yield from level


def find_under(root: Path, name: str, want_dir: bool, depth: int = 3) -> Path | None:
    """The shallowest `name` under `root` (at most `depth` levels down), or None."""
    for folder in _folders(root, depth):
        candidate = folder / name
        if candidate.is_dir() if want_dir else candidate.is_file():
            return candidate
    return None


def _hint(raw_dir: Path, folder: str, is_root: Callable[[Path], bool]) -> tuple[str, Path | None]:
    """(how to fix the layout, where the corpus was found instead) or ("", None) when it is nowhere near."""
    expected = raw_dir / folder
    for found in _folders(expected, NESTED_SEARCH_DEPTH):
        if found != expected and is_root(found):
            deeper = DEPTH_WORDS[len(found.relative_to(expected).parts)]
            return f"; it is {deeper} deeper, at {found}: move the contents of that folder up into {expected}", found
    if is_root(raw_dir):
        return (
            f"; --raw_dir {raw_dir} is the corpus folder itself: pass its parent as --raw_dir"
            f" and name the corpus folder {folder!r}"
        ), raw_dir
    for candidate in _subfolders(raw_dir):
        if candidate == expected:
            continue
        for found in _folders(candidate, 1):
            if is_root(found):
                if found.name == folder:
                    return f"; found it at {found}: pass --raw_dir {found.parent}", found
                return f"; found it at {found}: move or rename it to {expected}", found
    return "", None


def find_corpus_dir(
    raw_dir: Path | str,
    corpus: str,
    folder: str,
    is_root: Callable[[Path], bool],
    expected: str,
    archive_folders: tuple[str, ...] = (),
) -> Path:
    """The corpus folder, else a `CorpusLayoutError` with what was expected and a hint.

    `raw_dir/folder` comes first; then each of `archive_folders` (the folders the corpus's official
    archives unpack to, e.g. `IEMOCAP_full_release`) inside it and directly under `raw_dir`, so an
    archive unpacked as it comes is used where it lands. `expected` describes what the corpus folder
    holds (e.g. "Actor_XX/03-01-EE-II-SS-RR-AA.wav folders"). The error is `absent` when nothing of
    the corpus is there at all, so `prepare` without `--datasets` can pass over it.
    """
    raw_dir = Path(raw_dir)
    corpus_dir = raw_dir / folder
    candidates = [corpus_dir, *(corpus_dir / a for a in archive_folders), *(raw_dir / a for a in archive_folders)]
    for candidate in candidates:
        if candidate.is_dir() and is_root(candidate):
            return candidate
    hint, found = _hint(raw_dir, folder, is_root)
    state = "does not hold" if corpus_dir.is_dir() else "is missing; expected it to hold"
    absent = not hint and not any(candidate.exists() for candidate in candidates)
    raise CorpusLayoutError(
        corpus, corpus_dir, f"corpus folder {state} {expected}{hint}", found_at=found, absent=absent
    )
