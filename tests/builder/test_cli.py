"""The command line: flags, exit codes, one-line errors, the `all` chain, downloads and --quiet."""

import io
import json
import subprocess
import sys
import tarfile

import pytest

from mer_builder.cli import main
from mer_builder.manifest import CORPORA, MANIFEST_NAME, read_manifest

COMMANDS = ("download", "prepare", "validate", "integrity", "all", "demo")


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(capsys, command):
    code, out, _ = _run(capsys, command, "--help")
    assert code == 0 and f"mer_builder {command}" in out and "--quiet" in out


def test_prepare_help_lists_exactly_the_build_flags(capsys):
    _, out, _ = _run(capsys, "prepare", "--help")
    flags = {word.strip("[],") for word in out.split() if word.startswith(("--", "[--"))}
    assert flags == {
        "--help", "--datasets", "--raw_dir", "--out_dir", "--mead_contempt", "--emovdb_sleepy", "--ravdess_calm",
        "--iemocap_frustrated", "--audio_failure", "--num_workers", "--backend", "--scheduler", "--seed", "--force",
        "--continue_on_error", "--quiet", "--verbose", "--debug", "--split_ratios", "--split_spec", "--emodb_boredom",
        "--transcribe_missing", "--whisper",
    }  # fmt: skip
    for choice in ("map_to_disgust", "map_to_neutral", "map_to_anger", "replace_with_silence"):
        assert choice in out


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "mer_builder", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "download" in result.stdout and "Exit codes" in result.stdout


def test_usage_errors_exit_2_like_every_mer_tool(capsys, tmp_path):
    code, _, err = _run(capsys, "prepare", "--raw_dir", tmp_path, "--out_dir", tmp_path / "o", "--datasets", "timit")
    assert code == 2 and "unknown dataset 'timit'" in err
    code, _, err = _run(capsys, "prepare", "--raw_dir", tmp_path)
    assert code == 2 and "--out_dir" in err
    code, _, err = _run(capsys, "prepare", "--raw_dir", tmp_path, "--out_dir", tmp_path / "o", "--ravdess_calm", "keep")
    assert code == 2 and "invalid choice" in err


def test_prepare_validate_integrity_succeed_on_a_good_corpus(capsys, toy_raw, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "prepare", "--datasets", "ravdess", "--raw_dir", toy_raw, "--out_dir", out,
                             "--num_workers", "2", "--quiet")  # fmt: skip
    assert code == 0 and err == ""
    assert "RAVDESS: 24 records (test 4, train 16, val 4); audio: 24 normalised; 6 left out by label policy" in stdout
    assert f"wrote {out / MANIFEST_NAME}" in stdout
    code, stdout, _ = _run(capsys, "validate", "--out_dir", out)
    assert code == 0 and stdout.splitlines()[-1] == "validate: OK" and "RAVDESS" in stdout
    code, stdout, _ = _run(capsys, "integrity", "--out_dir", out, "--quiet")
    assert code == 0 and stdout.splitlines()[-1] == "integrity: OK"


def test_validate_exits_2_with_the_table_and_the_reason(capsys, toy_raw, tmp_path):
    out = tmp_path / "out"
    assert _run(capsys, "prepare", "--datasets", "ravdess", "--raw_dir", toy_raw, "--out_dir", out, "--quiet")[0] == 0
    lines = (out / MANIFEST_NAME).read_text("utf-8").splitlines()
    row = json.loads(lines[0])
    row["emotion"] = "contempt"
    (out / MANIFEST_NAME).write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n", encoding="utf-8")
    code, stdout, _ = _run(capsys, "validate", "--out_dir", out)
    assert code == 2
    assert f"[RAVDESS] {row['id']}: line 1: emotion 'contempt' is outside the label space" in stdout
    assert stdout.splitlines()[-1] == "validate: FAILED (1 issue)"
    (out / "audio" / "RAVDESS" / "M01_ang_1.wav").write_bytes(b"RIFF")
    code, stdout, _ = _run(capsys, "integrity", "--out_dir", out, "--quiet")
    assert code == 2 and "M01_ang_1.wav: cannot decode" in stdout


def test_out_dir_is_used_exactly_as_given(capsys, toy_raw, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, _ = _run(capsys, "prepare", "--datasets", "ravdess", "--raw_dir", "raw", "--out_dir", "rel/out", "--quiet")
    assert code == 0 and (tmp_path / "rel" / "out" / MANIFEST_NAME).is_file()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("mine")
    code, _, err = _run(capsys, "prepare", "--datasets", "ravdess", "--raw_dir", "raw", "--out_dir", "mine", "--quiet")
    assert code == 2 and err.startswith("error: mine: --out_dir is not empty") and err.count("\n") == 1
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["thesis.tex"]


def test_quiet_turns_off_progress_bars(capsys, toy_raw, tmp_path):
    args = ("prepare", "--datasets", "ravdess", "--raw_dir", toy_raw, "--num_workers", "1")
    _, _, err = _run(capsys, *args, "--out_dir", tmp_path / "a")
    assert "RAVDESS: audio: 100%" in err
    _, _, err = _run(capsys, *args, "--out_dir", tmp_path / "b", "--quiet")
    assert err == ""


def test_all_chains_the_stages_and_skips_a_present_corpus(capsys, toy_raw, tmp_path):
    code, stdout, err = _run(capsys, "all", "--datasets", "ravdess", "--raw_dir", toy_raw, "--out_dir",
                             tmp_path / "out")  # fmt: skip
    assert code == 0, err
    assert f"RAVDESS: present at {toy_raw / 'ToyRAVDESS'}" in err  # progress goes to stderr, results to stdout
    assert stdout.index("RAVDESS: 24 records") < stdout.index("validate: OK") < stdout.index("integrity: OK")


def test_without_datasets_every_corpus_present_is_prepared_and_the_absent_are_listed_in_one_line(
    capsys, toy_raw, tmp_path
):
    for command in ("prepare", "all"):
        code, out, err = _run(capsys, command, "--raw_dir", toy_raw, "--out_dir", tmp_path / command, "--quiet")
        assert code == 0, err
        skipped = [line for line in out.splitlines() if line.startswith("not under")]
        absent = ", ".join(name for key, name in CORPORA.items() if key != "ravdess")
        assert skipped == [f"not under {toy_raw}, skipped: {absent}"]
        assert "RAVDESS: 24 records" in out and "cannot be downloaded" not in err


def test_without_datasets_and_no_corpus_present_the_error_says_what_was_expected(capsys, tmp_path):
    code, _, err = _run(capsys, "prepare", "--raw_dir", tmp_path / "empty", "--out_dir", tmp_path / "o", "--quiet")
    assert code == 2 and err.startswith(f"error: {tmp_path / 'empty'}: no corpus found; expected corpus folders")
    assert "MEAD, MELD, RAVDESS" in err and len(err.splitlines()) == 1


def test_all_names_an_absent_gated_corpus_and_prints_where_to_put_it(capsys, toy_raw, tmp_path, toy_recipes):
    toy_recipes("iemocap")
    argv = ("all", "--datasets", "ravdess", "iemocap", "--raw_dir", toy_raw, "--out_dir", tmp_path / "out")
    code, stdout, err = _run(capsys, *argv)
    assert code == 1 and not (tmp_path / "out").exists()
    assert "IEMOCAP: not found (expected the folder ToyIEMOCAP/ directly under --raw_dir)" in err
    assert f"request access, then unpack it to {toy_raw}/ToyIEMOCAP/" in err
    assert f"error: [IEMOCAP] {toy_raw / 'ToyIEMOCAP'}: request access" in err
    code, stdout, err = _run(capsys, *argv, "--continue_on_error")
    assert code == 1 and "validate: OK" in stdout and "integrity: OK" in stdout
    assert {r.dataset for r in read_manifest(tmp_path / "out" / MANIFEST_NAME)} == {"RAVDESS"}


def test_all_downloads_a_fetchable_corpus_once(capsys, tmp_path, toy_recipes, write_toy, http_server):
    source = tmp_path / "upstream"
    write_toy(source / "ToyESD", speakers=("M01", "F02", "M03"), labels=("ang", "neu"), seconds=0.1)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(source / "ToyESD", arcname="ToyESD")
    http_server.files["/esd.tar.gz"] = buffer.getvalue()
    toy_recipes("esd", folder="ToyESD", url=http_server.url("/esd.tar.gz"))
    raw, out = tmp_path / "raw", tmp_path / "out"
    code, _, err = _run(capsys, "all", "--datasets", "esd", "--raw_dir", raw, "--out_dir", out)
    assert code == 0, err
    assert f"ESD: downloaded to {raw / 'ToyESD'}" in err and len(read_manifest(out / MANIFEST_NAME)) == 6
    code, _, err = _run(capsys, "download", "--datasets", "esd", "--raw_dir", raw)
    assert code == 0 and "ESD: present at" in err and len(http_server.requests) == 1
    code, _, _ = _run(capsys, "download", "--datasets", "esd", "--raw_dir", raw, "--force", "--quiet")
    assert code == 0 and len(http_server.requests) == 2


def test_bad_inputs_are_each_named_and_none_stops_the_others(capsys, toy_raw, tmp_path, toy_recipes, write_toy):
    corpus = toy_raw / "ToyRAVDESS"
    (corpus / "M01" / "M01_ang_1.wav").write_bytes((corpus / "M01" / "M01_ang_1.wav").read_bytes()[:30])
    (corpus / "F02" / "F02_hap_1.wav").write_bytes(b"")
    (corpus / "M03" / "M03_neu_1.wav").write_text("not audio\n" * 50)
    (corpus / "F04" / "F04_xyz_1.wav").write_bytes((corpus / "F04" / "F04_ang_1.wav").read_bytes())
    (corpus / "M05" / "transcripts.txt").unlink()
    toy_recipes("cremad")
    write_toy(toy_raw / "extracted" / "ToyCREMA-D", speakers=("M10",), labels=("ang",))
    esd = toy_recipes("esd")
    write_toy(toy_raw / esd.FOLDER, speakers=("M20", "F21", "M22"), labels=("ang", "neu"), seconds=0.1)
    out = tmp_path / "out"
    argv = ("prepare", "--datasets", "ravdess,cremadh", "esd", "--raw_dir", toy_raw, "--out_dir", out, "--quiet",
            "--audio_failure", "error")  # fmt: skip
    code, stdout, err = _run(capsys, *argv)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: [RAVDESS] {corpus / 'F04' / 'F04_xyz_1.wav'}: unknown raw label 'xyz'")
    code, stdout, err = _run(capsys, *argv, "--continue_on_error")
    assert code == 1
    assert f"error: [RAVDESS] {corpus / 'F02' / 'F02_hap_1.wav'}: file is empty" in err  # the first problem by path
    assert "(5 problems; all in" in err and f"error: [CREMA-D] {toy_raw / 'ToyCREMA-D'}: expected the folder" in err
    assert "CREMA-D: FAILED" in stdout and "ESD: 6 records" in stdout and "RAVDESS: 17 records" in stdout
    report = json.loads((out / "build_report.json").read_text())
    named = {p["file"] for p in report["problems"]}
    for bad in ("M01/M01_ang_1.wav", "F02/F02_hap_1.wav", "M03/M03_neu_1.wav", "F04/F04_xyz_1.wav",
                "M05/transcripts.txt"):  # fmt: skip
        assert str(corpus / bad) in named
    assert {r.dataset for r in read_manifest(out / MANIFEST_NAME)} == {"RAVDESS", "ESD"}


def test_a_failed_prepare_resumes_after_the_fix_without_rewriting_done_files(capsys, toy_raw, tmp_path):
    bad = toy_raw / "ToyRAVDESS" / "M03" / "M03_neu_1.wav"
    good = bad.read_bytes()
    bad.write_bytes(good[:40])
    out = tmp_path / "out"
    argv = ("prepare", "--datasets", "ravdess", "--raw_dir", toy_raw, "--out_dir", out, "--quiet", "--num_workers", "1",
            "--audio_failure", "error")  # fmt: skip
    code, _, err = _run(capsys, *argv)
    assert code == 1 and f"[RAVDESS] {bad}: cannot decode audio" in err
    before = {p: p.stat().st_mtime_ns for p in (out / "audio").rglob("*.wav")}
    bad.write_bytes(good)
    code, stdout, _ = _run(capsys, *argv)
    assert code == 0 and f"{len(before)} reused" in stdout
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_by_default_bad_audio_is_dropped_with_a_warning_naming_each_file(capsys, toy_raw, tmp_path):
    corpus = toy_raw / "ToyRAVDESS"
    broken = [corpus / "M01" / "M01_ang_1.wav", corpus / "F02" / "F02_hap_1.wav"]
    for path in broken:
        path.write_bytes(b"")
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "all", "--datasets", "ravdess", "--raw_dir", toy_raw, "--out_dir", out, "--quiet")
    assert code == 0 and "RAVDESS: 22 records" in stdout and "2 dropped (bad audio)" in stdout
    assert err.splitlines() == [
        f"warning: [RAVDESS] {path}: file is empty (0 bytes) (dropped)" for path in sorted(broken, key=str)
    ]
    assert "validate: OK" in stdout and "integrity: OK" in stdout


def test_ctrl_c_says_how_to_resume(capsys, toy_raw, tmp_path, toy_recipes):
    toy = toy_recipes("ravdess")

    def interrupted(corpus_dir, ctx):
        raise KeyboardInterrupt
        yield

    toy.parse = interrupted
    code, _, err = _run(capsys, "prepare", "--datasets", "ravdess", "--raw_dir", toy_raw, "--out_dir", tmp_path / "o")
    assert code == 130 and "run the same command again to resume" in err


def test_demo_refuses_to_write_over_an_existing_corpus_folder(capsys, tmp_path, toy_recipes):
    toy_recipes("ravdess")
    (tmp_path / "raw" / "ToyRAVDESS").mkdir(parents=True)
    code, _, err = _run(capsys, "demo", "--out_dir", tmp_path, "--datasets", "ravdess")
    assert code == 2 and "ToyRAVDESS: already exists" in err
