"""Finding a corpus under --raw_dir: every hint a recipe relies on, and junk folders never mistaken for data."""

import re
from pathlib import Path

import pytest

from mer_builder.recipes.common import CorpusLayoutError
from mer_builder.recipes.layout import find_corpus_dir, find_under, is_junk


def _is_root(folder):
    return (folder / "Session1").is_dir()


def _locate(raw_dir):
    return find_corpus_dir(raw_dir, "IEMOCAP", "IEMOCAP", _is_root, "Session1..Session5")


def test_a_corpus_in_place_is_returned(tmp_path):
    (tmp_path / "IEMOCAP" / "Session1").mkdir(parents=True)
    assert _locate(tmp_path) == tmp_path / "IEMOCAP"


def test_a_corpus_two_folders_deeper_is_found_and_macos_junk_is_not(tmp_path):
    (tmp_path / "IEMOCAP" / "__MACOSX" / "Session1").mkdir(parents=True)
    (tmp_path / "IEMOCAP" / ".Trash" / "Session1").mkdir(parents=True)
    with pytest.raises(CorpusLayoutError) as info:
        _locate(tmp_path)
    assert str(info.value) == f"[IEMOCAP] {tmp_path / 'IEMOCAP'}: corpus folder does not hold Session1..Session5"
    nested = tmp_path / "IEMOCAP" / "download" / "IEMOCAP_full_release"
    (nested / "Session1").mkdir(parents=True)
    expected = f"it is two folders deeper, at {nested}: move the contents of that folder up into {tmp_path / 'IEMOCAP'}"
    with pytest.raises(CorpusLayoutError, match=re.escape(expected)):
        _locate(tmp_path)


def test_raw_dir_that_is_the_corpus_itself_or_a_wrongly_named_sibling_gets_a_hint(tmp_path):
    corpus = tmp_path / "iemocap_release"
    (corpus / "Session1").mkdir(parents=True)
    with pytest.raises(CorpusLayoutError, match=re.escape(f"--raw_dir {corpus} is the corpus folder itself")):
        _locate(corpus)
    with pytest.raises(CorpusLayoutError, match=re.escape(f"found it at {corpus}: move or rename it to")):
        _locate(tmp_path)


def test_macos_leftovers_are_junk():
    assert is_junk(Path("._Ses01F_impro01.txt")) and is_junk(Path(".DS_Store")) and is_junk(Path("__MACOSX"))
    assert not is_junk(Path("Ses01F_impro01.txt"))


def test_find_under_returns_the_shallowest_match_outside_junk(tmp_path):
    (tmp_path / "__MACOSX" / "train.tar.gz").parent.mkdir(parents=True)
    (tmp_path / "__MACOSX" / "train.tar.gz").write_bytes(b"")
    assert find_under(tmp_path, "train.tar.gz", want_dir=False) is None
    for folder in (tmp_path / "a" / "b", tmp_path / "z"):
        folder.mkdir(parents=True)
        (folder / "train.tar.gz").write_bytes(b"")
    assert find_under(tmp_path, "train.tar.gz", want_dir=False) == tmp_path / "z" / "train.tar.gz"
    assert find_under(tmp_path, "b", want_dir=True) == tmp_path / "a" / "b"
    assert find_under(tmp_path, "b", want_dir=False) is None
    assert find_under(tmp_path, "train.tar.gz", want_dir=False, depth=0) is None


def test_list_files_leaves_out_macos_junk(tmp_path):
    from mer_builder.recipes.layout import list_files

    (tmp_path / "a" / "__MACOSX").mkdir(parents=True)
    for name in ("a/x.wav", "a/._x.wav", "a/__MACOSX/y.wav", "a/b.txt", "z.wav"):
        (tmp_path / name).write_bytes(b"")
    assert list_files(tmp_path / "a", "*.wav") == [tmp_path / "a" / "x.wav"]
    assert list_files(tmp_path, "*.wav", recursive=True) == [tmp_path / "a" / "x.wav", tmp_path / "z.wav"]


def test_the_folder_an_archive_unpacks_to_is_used_where_it_lands(tmp_path):
    def locate(raw_dir):
        return find_corpus_dir(raw_dir, "IEMOCAP", "IEMOCAP", _is_root, "Session1..Session5", ("IEMOCAP_full_release",))

    with pytest.raises(CorpusLayoutError) as info:
        locate(tmp_path)
    assert info.value.absent  # nothing of the corpus anywhere: `prepare` without --datasets passes over it
    (tmp_path / "IEMOCAP_full_release" / "Session1").mkdir(parents=True)
    assert locate(tmp_path) == tmp_path / "IEMOCAP_full_release"
    (tmp_path / "IEMOCAP" / "IEMOCAP_full_release" / "Session1").mkdir(parents=True)
    assert locate(tmp_path) == tmp_path / "IEMOCAP" / "IEMOCAP_full_release"


def test_a_corpus_folder_in_the_wrong_shape_is_not_absent(tmp_path):
    (tmp_path / "IEMOCAP" / "notes").mkdir(parents=True)
    with pytest.raises(CorpusLayoutError) as info:
        _locate(tmp_path)
    assert not info.value.absent
