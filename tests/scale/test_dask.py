"""The builder's prepare and the MFCC extractor on a real Dask LocalCluster (2 worker processes on 127.0.0.1):
byte-identical to the local run, resumable across backends, a killed worker's task rerun, and a worker that
cannot see the shared folders failing the run in one line."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from mer.features.cli import extract_main
from mer_builder.cli import main as builder_main
from mer_builder.parallel import LOCAL_CLUSTER, SharedFilesystemError, open_executor

from .conftest import DEMO, assert_same_tree, build, extract, run_with_a_killed_worker

pytest.importorskip("distributed", reason="dask[distributed] is not installed (pip install 'mer[dask]')")


def _ran_mfcc(client) -> bool:
    """True if any worker process of the cluster computed MFCCs (so the tasks did not run in the driver)."""
    return any(client.run(lambda: "mer.features.mfcc" in sys.modules).values())


def test_dask_build_and_mfcc_features_match_the_local_run_byte_for_byte(reference, dask_cluster, tmp_path):
    cluster, client = dask_cluster
    address = cluster.scheduler_address
    outcomes = build(reference.raw, tmp_path / "processed", backend="dask", scheduler=address, num_workers=2)
    assert [o.report["audio"]["normalised"] for o in outcomes] == [120, 50]  # nothing reused: all ran on Dask
    assert_same_tree(tmp_path / "processed", reference.processed)
    # Pickles record their input files (path, size, mtime), so features are compared from the same processed dir.
    info = extract(reference.processed, tmp_path / "features", backend="dask", scheduler=address)
    assert info["runtime"]["backend"] == "dask" and info["timing"]["extracted"] == 170
    assert_same_tree(tmp_path / "features", reference.features)
    assert _ran_mfcc(client)


def test_runs_resume_across_backends(reference, dask_cluster, tmp_path, monkeypatch):
    cluster, _ = dask_cluster
    processed = tmp_path / "processed"
    build(reference.raw, processed, datasets=["cremad"])  # local first, one corpus
    cremad, iemocap = build(reference.raw, processed, backend="dask", scheduler=cluster.scheduler_address)
    assert cremad.report["audio"]["reused"] == 120 and cremad.report["audio"]["normalised"] == 0
    assert iemocap.report["audio"]["normalised"] == 50
    assert_same_tree(processed, reference.processed, resumed=True)

    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)  # the address from the environment
    features = tmp_path / "features"
    base = ["--processed_dir", str(reference.processed), "--out_dir", str(features), "--chunk_size", "16", "--quiet"]
    assert extract_main([*base, "--backend", "dask", "--splits", "train"]) == 0
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS")
    info = extract(reference.processed, features, backend="local", num_workers=2)  # then the rest, locally
    assert info["timing"]["skipped_existing"] == 130 and info["timing"]["extracted"] == 40
    assert_same_tree(features, reference.features, resumed=True)


def test_a_killed_worker_has_its_task_rerun_and_the_run_completes(reference, dask_cluster, tmp_path):
    cluster, client = dask_cluster
    before = set(client.run(lambda: __import__("os").getpid()).values())
    (tmp_path / "out").mkdir()
    shared = {"inputs": {"--raw_dir": reference.raw}, "outputs": {"--out_dir": tmp_path / "out"}}
    with open_executor("dask", 2, cluster.scheduler_address, **shared) as executor:
        run_with_a_killed_worker(executor, reference.raw, tmp_path / "out", tmp_path / "killed")
    client.wait_for_workers(2, timeout=60)
    after = set(client.run(lambda: __import__("os").getpid()).values())
    assert int((tmp_path / "killed").read_text()) in before - after  # the nanny replaced the killed worker


def test_a_worker_that_loses_the_output_folder_fails_the_run_naming_it(reference, dask_cluster, tmp_path):
    cluster, _ = dask_cluster
    out = tmp_path / "out"
    with open_executor("dask", 2, cluster.scheduler_address, outputs={"--out_dir": out}) as executor:
        for probe in out.iterdir():  # what a worker with its own, unshared folder at the same path sees
            probe.unlink()
        with pytest.raises(SharedFilesystemError, match=r"cannot see --out_dir .*shared filesystem"):
            list(executor.map_tasks(len, [[1], [2]]))


def _can_hide_folders() -> str | None:
    """Why a worker in its own mount namespace cannot be started here, or None if it can."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"unshare -m is not permitted here ({probe.stderr.strip()})"


@pytest.mark.slow
def test_a_worker_that_cannot_see_raw_dir_fails_prepare_with_one_line(reference, tmp_path, capsys):
    """A real Dask worker in its own mount namespace, with an empty folder mounted over --raw_dir."""
    reason = _can_hide_folders()
    if reason:
        pytest.skip(f"cannot start a worker that does not see the raw folder: {reason}")
    from dask.distributed import Client, LocalCluster

    hide = f"mount -t tmpfs tmpfs {reference.raw} && exec {sys.executable} -m distributed.cli.dask_worker"
    with LocalCluster(n_workers=0, **LOCAL_CLUSTER) as cluster, Client(cluster) as client:
        worker = subprocess.Popen(
            ["unshare", "-m", "sh", "-c", f"{hide} {cluster.scheduler_address} --nthreads 1 --no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            client.wait_for_workers(1, timeout=120)
            argv = ["prepare", "--raw_dir", str(reference.raw), "--out_dir", str(tmp_path / "out"), "--datasets",
                    *DEMO, "--backend", "dask", "--scheduler", cluster.scheduler_address, "--quiet"]  # fmt: skip
            assert builder_main(argv) == 1
        finally:
            worker.terminate()
            worker.wait(timeout=60)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: a worker on host ")
    assert f"cannot see --raw_dir {reference.raw}" in err[0] and "shared filesystem" in err[0]


@pytest.mark.slow
def test_without_an_address_mer_starts_and_stops_its_own_local_cluster(reference, tmp_path, monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    out = tmp_path / "processed"
    argv = ["prepare", "--raw_dir", str(reference.raw), "--out_dir", str(out), "--datasets", *DEMO,
            "--backend", "dask", "--num_workers", "2", "--quiet"]  # fmt: skip
    assert builder_main(argv) == 0
    assert_same_tree(out, reference.processed)
