"""Scale-out fixtures: a small demo (CREMA-D + IEMOCAP: the two quickest to write, 170 utterances), its local
build and MFCC features as the reference, a real Dask LocalCluster and a local Ray instance started here."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from mer.features.config import FeatureConfig
from mer.features.extract import RunOptions, run_extraction
from mer_builder.demo import write_demo
from mer_builder.parallel import LOCAL_CLUSTER, PROBE_PREFIX
from mer_builder.pipeline import BuildOptions, prepare

DEMO = ("cremad", "iemocap")
CHUNK = 16  # utterances per extraction task: several tasks per worker on the small demo
RUN_FACTS = ("timing", "runtime")  # the parts of feature_info.json that describe the run, not the features


def build(raw: Path, out: Path, datasets=DEMO, **options):
    return prepare(list(datasets), BuildOptions(raw_dir=raw, out_dir=out, quiet=True, **options))


def extract(processed: Path, out: Path, **options) -> dict:
    return run_extraction(processed, out, FeatureConfig(), RunOptions(quiet=True, chunk_size=CHUNK, **options))


def _without_audio_counts(report: dict) -> dict:
    """A build report without its counts of normalised vs reused audio (what a resumed run does differently)."""
    report = {k: v for k, v in report.items() if k != "audio"}
    if "corpora" in report:
        report["corpora"] = {name: _without_audio_counts(entry) for name, entry in report["corpora"].items()}
    return report


def tree(root: Path, resumed: bool = False) -> dict[str, bytes]:
    """Every file under `root` by relative path; feature_info.json without the run's timing and runtime; for a
    `resumed` run, the reports without the counts of work done vs reused."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if path.name == "feature_info.json":
                info = {k: v for k, v in json.loads(data).items() if k not in RUN_FACTS}
                if resumed:  # rows and failures per group, not how many were extracted vs reused
                    info["counts"] = {g: (c["rows"], c["failed"]) for g, c in info["counts"].items()}
                data = json.dumps(info, sort_keys=True).encode()
            elif resumed and path.name.endswith("report.json"):
                data = json.dumps(_without_audio_counts(json.loads(data)), sort_keys=True).encode()
            files[str(path.relative_to(root))] = data
    assert not [name for name in files if PROBE_PREFIX in name], "a shared-filesystem probe file was left behind"
    return files


def assert_same_tree(ours: Path, reference: Path, resumed: bool = False) -> None:
    mine, theirs = tree(ours, resumed), tree(reference, resumed)
    assert sorted(mine) == sorted(theirs)
    differing = [name for name in theirs if mine[name] != theirs[name]]
    assert not differing, f"{len(differing)} files differ from the local run, e.g. {differing[:3]}"


@dataclass(frozen=True)
class Reference:
    raw: Path
    processed: Path
    features: Path


@pytest.fixture(scope="session")
def reference(tmp_path_factory) -> Reference:
    """The demo built and featurised by the local backend in this process (one worker)."""
    root = tmp_path_factory.mktemp("scale_reference")
    raw = write_demo(root, DEMO)
    build(raw, root / "processed")
    extract(root / "processed", root / "features")
    return Reference(raw, root / "processed", root / "features")


@pytest.fixture(scope="session")
def dask_cluster():
    """A real LocalCluster on 127.0.0.1: two single-threaded worker processes, each under a nanny that
    restarts it if it dies."""
    pytest.importorskip("distributed", reason="dask[distributed] is not installed (pip install 'mer[dask]')")
    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, **LOCAL_CLUSTER) as cluster,
        Client(cluster) as client,
    ):
        yield cluster, client


@pytest.fixture(scope="session")
def ray_instance():
    """A local Ray instance with 2 CPUs, shared by the Ray tests (mer reuses an initialised Ray)."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'mer[ray]')")
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    except Exception as exc:  # the package imports but cannot start here (shared memory, ports, platform)
        pytest.skip(f"Ray is installed but cannot start a local instance here: {type(exc).__name__}: {exc}")
    yield ray
    ray.shutdown()


@dataclass(frozen=True)
class KillOnce:
    """A task function that kills the worker process running it the first time any worker calls it (the
    marker file records which process died), then runs `fn` like the real task on every retry."""

    fn: Callable
    marker: str

    def __call__(self, task):
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return self.fn(task)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable: the worker was killed")


def by_value(obj):
    """Let Dask and Ray ship `obj`'s class to workers by value (test modules are not importable there)."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[type(obj).__module__])
    return obj


def audio_jobs(raw: Path, out: Path, n: int = 24):
    """Real normalisation jobs: the first `n` CREMA-D demo wavs, normalised into `out`."""
    from mer_builder.normalise import AudioJob

    jobs = []
    for source in sorted((raw / "CREMA-D").rglob("*.wav"))[:n]:
        stat = source.stat()
        jobs.append(AudioJob(source.stem, str(source), str(out / f"{source.stem}.wav"), stat.st_size,
                             stat.st_mtime_ns, None))  # fmt: skip
    return jobs


def run_with_a_killed_worker(executor, raw: Path, out: Path, marker: Path) -> None:
    """Normalise real audio on `executor` while the first task kills its worker; check the run completed with
    the same bytes as an in-process run, and that a worker really died."""
    from mer_builder.normalise import normalise_task
    from mer_builder.parallel import cut_tasks

    jobs = audio_jobs(raw, out / "cluster")
    results = [r for batch in executor.map_tasks(by_value(KillOnce(normalise_task, str(marker))), cut_tasks(jobs, 4))
               for r in batch.results]  # fmt: skip
    assert marker.is_file() and int(marker.read_text()) != os.getpid(), "no worker was killed"
    assert sorted(r.key for r in results) == sorted(j.key for j in jobs)
    assert all(r.ok and r.error is None for r in results)
    local = normalise_task(audio_jobs(raw, out / "local")).results
    assert {r.key: r.duration_s for r in results} == {r.key: r.duration_s for r in local}
    for job in jobs:
        assert Path(job.dest).read_bytes() == (out / "local" / Path(job.dest).name).read_bytes()
