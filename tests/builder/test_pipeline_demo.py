"""End to end on the real recipes: the demo walk-through, broken inputs in native layouts, resume, real samples."""

import json
import shlex
import shutil
from pathlib import Path

import pytest

from mer_builder.cli import main
from mer_builder.manifest import CORPORA, MANIFEST_NAME, read_manifest

pytestmark = pytest.mark.slow


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """The demo of every built-in corpus, written once by the `demo` command."""
    root = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out_dir", str(root)]) == 0
    return root


def _copy_corpora(demo_dir, raw, names) -> None:
    for name in names:
        folder = __import__(f"mer_builder.recipes.{name}", fromlist=["FOLDER"]).FOLDER
        shutil.copytree(demo_dir / "raw" / folder, raw / folder)


def test_demo_walkthrough_runs_end_to_end_and_rebuilds_byte_identically(capsys, tmp_path):
    code, stdout, _ = _run(capsys, "demo", "--out_dir", tmp_path / "d")
    assert code == 0
    next_line = stdout.splitlines()[-1]
    assert next_line == f"next: python -m mer_builder all --raw_dir {tmp_path / 'd' / 'raw'} --out_dir " + str(
        tmp_path / "d" / "processed"
    )
    argv = shlex.split(next_line.removeprefix("next: "))[3:]
    code, stdout, err = _run(capsys, *argv, "--quiet")
    assert code == 0, err
    out = tmp_path / "d" / "processed"
    records = read_manifest(out / MANIFEST_NAME)
    assert {r.dataset for r in records} == set(CORPORA.values())
    assert {r.group for r in records if r.dataset == "MELD" and r.split == "test"} == {"testB"}
    assert {r.group for r in records if r.dataset != "MELD" and r.split == "test"} == {"testA"}
    assert "validate: OK" in stdout and "integrity: OK" in stdout
    assert "dia1_utt2.mp4: file not found (dropped)" in err  # the demo's MELD row without a clip, as in real MELD
    manifest = (out / MANIFEST_NAME).read_bytes()
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "audio").rglob("*.wav")}
    assert len(mtimes) == len(records)
    code, stdout, _ = _run(capsys, *argv, "--quiet")
    assert code == 0 and (out / MANIFEST_NAME).read_bytes() == manifest
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert all("normalised" not in line for line in stdout.splitlines() if " records (" in line)


def test_label_policy_flags_reach_every_recipe(capsys, demo_dir, tmp_path):
    raw = demo_dir / "raw"
    datasets = ("--datasets", "mead", "ravdess", "emovdb", "iemocap", "emodb")
    assert _run(capsys, "prepare", *datasets, "--raw_dir", raw, "--out_dir", tmp_path / "drop", "--quiet")[0] == 0
    mapped = ("--mead_contempt", "map_to_disgust", "--ravdess_calm", "map_to_neutral", "--emovdb_sleepy",
              "map_to_neutral", "--iemocap_frustrated", "map_to_anger",
              "--emodb_boredom", "map_to_neutral")  # fmt: skip
    code, _, _ = _run(capsys, "prepare", *datasets, *mapped, "--raw_dir", raw, "--out_dir", tmp_path / "map", "--quiet")
    assert code == 0
    by_default = {(r.dataset, r.raw_label) for r in read_manifest(tmp_path / "drop" / MANIFEST_NAME)}
    mapped_to = {(r.dataset, r.raw_label): r.emotion for r in read_manifest(tmp_path / "map" / MANIFEST_NAME)}
    governed_by = (("MEAD", "disgust"), ("RAVDESS", "neutral"), ("EmoV-DB", "neutral"), ("IEMOCAP", "anger"),
                   ("EmoDB", "neutral"))  # fmt: skip
    for dataset, emotion in governed_by:
        [governed] = [raw for (d, raw) in mapped_to if d == dataset and (d, raw) not in by_default]
        assert mapped_to[dataset, governed] == emotion


def test_broken_native_inputs_are_each_named_and_none_stops_the_others(capsys, demo_dir, tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    _copy_corpora(demo_dir, raw, ("ravdess", "esd", "cremad", "emovdb"))
    argv = ("prepare", "--raw_dir", raw, "--out_dir", out, "--datasets", "ravdess", "esd", "cremad", "emovdb",
            "--audio_failure", "error", "--continue_on_error", "--quiet")  # fmt: skip
    assert _run(capsys, *argv)[0] == 0
    first_build = {r.id: r for r in read_manifest(out / MANIFEST_NAME)}
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "audio").rglob("*.wav")}

    actor = raw / "RAVDESS" / "Actor_01"
    wavs = [p for p in sorted(actor.glob("03-*.wav")) if p.name.split("-")[2] != "02"]  # calm is dropped anyway
    truncated, zero, not_audio = wavs[0], wavs[1], wavs[2]
    truncated.write_bytes(truncated.read_bytes()[:-2000])
    zero.write_bytes(b"")
    not_audio.write_text("<html><body>Forbidden</body></html>\n" * 20)
    unknown_label = actor / "03-01-09-01-01-01-01.wav"
    shutil.copy(wavs[3], unknown_label)
    esd_speaker = next(p for p in sorted((raw / "ESD" / "Emotion Speech Dataset").iterdir()) if p.is_dir())
    missing_transcript = esd_speaker / f"{esd_speaker.name}.txt"
    missing_transcript.unlink()
    (raw / "extracted").mkdir()
    shutil.move(raw / "CREMA-D", raw / "extracted" / "CREMA-D")
    code, _, err = _run(capsys, *argv)

    assert code == 1 and "Traceback" not in err
    report = json.loads((out / "build_report.json").read_text())
    problems = {p["file"].split(":")[0]: p["reason"] for p in report["problems"]}
    assert problems[str(truncated)].startswith("truncated: the data chunk declares")
    assert problems[str(zero)] == "file is empty (0 bytes)"
    assert "cannot decode audio" in problems[str(not_audio)]
    assert "unknown emotion code '09'" in problems[str(unknown_label)]
    assert "missing transcript file" in problems[str(missing_transcript)]
    cremad = report["corpora"]["CREMA-D"]
    assert cremad["status"] == "failed" and cremad["file"] == str(raw / "CREMA-D")
    assert str(raw / "extracted" / "CREMA-D") in cremad["error"]  # says where it actually is
    assert f"error: [CREMA-D] {raw / 'CREMA-D'}:" in err
    # Nothing already written is lost: CREMA-D keeps its last good manifest, every untouched utterance
    # keeps its record and its audio file. (ESD lost a whole speaker, so its splits are re-dealt.)
    rebuilt = {r.id: r for r in read_manifest(out / MANIFEST_NAME)}
    broken_ids = {f"RAVDESS/{p.stem}" for p in (truncated, zero, not_audio)}
    broken_ids |= {i for i in first_build if i.startswith(f"ESD/{esd_speaker.name}_")}
    assert set(rebuilt) == set(first_build) - broken_ids and broken_ids < set(first_build)
    assert all(rebuilt[i] == first_build[i] for i in rebuilt if not i.startswith("ESD/"))
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


def test_an_interrupted_prepare_of_a_real_recipe_resumes(capsys, demo_dir, tmp_path):
    raw = tmp_path / "raw"
    _copy_corpora(demo_dir, raw, ("ravdess",))
    bad = next(p for p in sorted((raw / "RAVDESS").glob("Actor_0[3-9]/03-*.wav")) if p.name.split("-")[2] != "02")
    good = bad.read_bytes()
    bad.write_bytes(good[: len(good) // 2])
    out = tmp_path / "out"
    argv = ("prepare", "--datasets", "ravdess", "--raw_dir", raw, "--out_dir", out, "--audio_failure", "error",
            "--num_workers", "1", "--quiet")  # fmt: skip
    code, _, err = _run(capsys, *argv)
    assert code == 1 and err.startswith(f"error: [RAVDESS] {bad}: truncated: the data chunk declares")
    before = {p: p.stat().st_mtime_ns for p in (out / "audio").rglob("*.wav")}
    assert before
    bad.write_bytes(good)
    code, stdout, _ = _run(capsys, *argv)
    assert code == 0 and f"{len(before)} reused" in stdout
    assert {p: p.stat().st_mtime_ns for p in before} == before


@pytest.mark.real_data
def test_real_ravdess_and_esd_samples_build_and_check(capsys, real_corpus, tmp_path):
    real = real_corpus("RAVDESS").parent
    real_corpus("ESD")
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "all", "--datasets", "ravdess", "esd", "--raw_dir", real, "--out_dir", out,
                             "--quiet")  # fmt: skip
    assert code == 0, err
    records = read_manifest(out / MANIFEST_NAME)
    ravdess = [r for r in records if r.dataset == "RAVDESS"]
    actors = len(list((real / "RAVDESS").glob("Actor_*")))
    assert len(ravdess) == 52 * actors  # 60 files per actor, calm (8) dropped by default
    assert len({r.speaker_id for r in ravdess}) == actors and {r.gender for r in ravdess} == {"male", "female"}
    assert {r.split for r in ravdess} == {"train", "val", "test"}
    assert [r for r in records if r.dataset == "ESD"] and "integrity: OK" in stdout


def test_media_paths_are_absolute_even_from_a_relative_raw_dir(capsys, demo_dir, tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    _copy_corpora(demo_dir, raw, ["meld"])
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(capsys, "prepare", "--datasets", "meld", "--raw_dir", "raw", "--out_dir", "out", "--quiet")
    assert code == 0, err
    media = [r.media_path for r in read_manifest(tmp_path / "out" / MANIFEST_NAME) if r.media_path]
    assert media and all(Path(m).is_absolute() and Path(m).is_file() for m in media)
