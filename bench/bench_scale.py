"""Scale-out overheads on one machine, each measured against its baseline in the same run.

1. Extraction throughput, utterances/s: `extract_at_features`' runner (MFCC mean+std + hashing text,
   pickles, index) on `--n` synthetic 16 kHz utterances (2.5-4.9 s, mean 3.7 s), with `--workers`
   processes of the local backend against a Dask LocalCluster of the same number of single-threaded
   workers on 127.0.0.1. Both are warmed up on 20 utterances first (imports, worker start); the
   LocalCluster is started before the timed run, as a cluster is when it serves many runs. The
   cold figure (mer starting and stopping its own LocalCluster inside the run) is printed too.
   Goal: Dask overhead <= 15% (throughput >= 0.87x local, i.e. time <= 1.15x).
2. Training throughput, samples/s: `train.py` on synthetic memmap features (`--rows` rows of
   928-d features, audio 160 + text 768, the baseline config's FlexibleAT, batches of 64), started by
   `torchrun --nproc_per_node 1` against `--nproc_per_node 2` (DistributedDataParallel, gloo, one
   thread per process), each from the fastest of `--epochs` epochs' `seconds` in metrics_train.csv.
   No goal: on one machine two processes share its cores, which only pays off when each has its own.

    python bench/bench_scale.py                                # the full sizes
    python bench/bench_scale.py --n 400 --rows 4000 --epochs 2  # a quick check
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench"), str(REPO / "mer_dataset_builder" / "src")]

from bench_features import WARMUP, write_corpus  # noqa: E402

from mer.features.config import FeatureConfig  # noqa: E402
from mer.features.extract import RunOptions, run_extraction  # noqa: E402
from mer_builder.parallel import LOCAL_CLUSTER  # noqa: E402

GOAL_OVERHEAD = 0.15


def _timed_extraction(corpus: Path, out: Path, **options) -> float:
    started = time.perf_counter()
    info = run_extraction(corpus, out, FeatureConfig(), RunOptions(quiet=True, **options))
    seconds = time.perf_counter() - started
    assert info["status"] == "ok" and info["timing"]["skipped_existing"] == 0, info["counts"]
    return seconds


def _same_pickles(a: Path, b: Path) -> bool:
    names = sorted(p.relative_to(a) for p in a.rglob("*.pkl"))
    return names == sorted(p.relative_to(b) for p in b.rglob("*.pkl")) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names
    )


def bench_extraction(work: Path, n: int, workers: int, chunk_size: int) -> dict:
    from dask.distributed import Client, LocalCluster

    print(f"writing {n} + {WARMUP} synthetic utterances ...", flush=True)
    write_corpus(work / "corpus", n, seed=0)
    write_corpus(work / "warmup", WARMUP, seed=1)
    common = {"num_workers": workers, "chunk_size": chunk_size}
    _timed_extraction(work / "warmup", work / "F_warm_local", **common)
    local_s = _timed_extraction(work / "corpus", work / "F_local", **common)
    with LocalCluster(n_workers=workers, **LOCAL_CLUSTER) as cluster, Client(cluster):
        dask_options = {**common, "backend": "dask", "scheduler": cluster.scheduler_address}
        _timed_extraction(work / "warmup", work / "F_warm_dask", **dask_options)
        dask_s = _timed_extraction(work / "corpus", work / "F_dask", **dask_options)
    cold_s = _timed_extraction(work / "corpus", work / "F_dask_cold", **common, backend="dask")
    identical = all(_same_pickles(work / "F_local", work / name) for name in ("F_dask", "F_dask_cold"))
    overhead, cold_overhead = dask_s / local_s - 1, cold_s / local_s - 1
    print(f"MFCC + hashing extraction, {n} utterances of mean 3.7 s, {workers} workers, tasks of {chunk_size}:")
    print(f"  local process pool          {n / local_s:8.1f} utt/s  ({local_s:.2f} s)")
    print(f"  Dask LocalCluster (running) {n / dask_s:8.1f} utt/s  ({dask_s:.2f} s)   overhead {overhead:+.1%} "
          f"(goal <= {GOAL_OVERHEAD:.0%})")  # fmt: skip
    print(f"  Dask, cluster started by mer {n / cold_s:7.1f} utt/s  ({cold_s:.2f} s)   overhead {cold_overhead:+.1%} "
          "(includes starting and stopping the cluster)")  # fmt: skip
    print(f"  pickles byte-identical across the three runs: {identical}")
    return {
        "n": n, "workers": workers, "chunk_size": chunk_size, "local_s": local_s, "dask_s": dask_s,
        "dask_cold_s": cold_s, "overhead": overhead, "cold_overhead": cold_overhead, "identical": identical,
    }  # fmt: skip


def bench_training(work: Path, rows: int, epochs: int) -> dict:
    from bench_train import write_store

    print(f"writing {rows} + {rows // 10} rows of synthetic features ...", flush=True)
    features = work / "train_features"
    write_store(features / "train", rows, seed=0)
    write_store(features / "val", rows // 10, seed=1)
    sets = [
        f"data.features_dir={features}", f"experiment.output_dir={work / 'runs'}", "experiment.seeds=[0]",
        f"training.epochs={epochs}", "training.batch_size=64", "training.num_threads=1", "evaluation.test=false",
        "training.early_stopping.patience=null",
    ]  # fmt: skip
    samples_per_s = {}
    for processes in (1, 2):
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
        command += [str(REPO / "train.py"), "--config", "mer_builder_at_simple", "--quiet", "--set", *sets]
        command += [f"experiment.name=procs{processes}"]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if done.returncode:
            raise SystemExit(f"train.py with {processes} processes failed:\n{done.stderr[-3000:]}")
        with open(work / "runs" / f"procs{processes}" / "seed0" / "metrics_train.csv", encoding="utf-8") as f:
            seconds = min(float(row["seconds"]) for row in csv.DictReader(f))
        samples_per_s[processes] = rows / seconds
    speedup = samples_per_s[2] / samples_per_s[1]
    print(f"train.py, {rows} rows of 928-d features, batch 64, one thread per process (fastest of {epochs} epochs):")
    print(f"  1 process               {samples_per_s[1]:9.0f} samples/s")
    print(f"  torchrun, 2 processes   {samples_per_s[2]:9.0f} samples/s   ({speedup:.2f}x)")
    return {"rows": rows, "epochs": epochs, "samples_per_s": samples_per_s, "speedup": speedup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3000, help="synthetic utterances for the extraction benchmark")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk_size", type=int, default=64, help="utterances per task")
    parser.add_argument("--rows", type=int, default=20_000, help="synthetic feature rows for the training benchmark")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs per run (the fastest is kept)")
    parser.add_argument("--parts", nargs="+", choices=["extract", "train"], default=["extract", "train"])
    parser.add_argument("--work_dir", type=Path, default=None, help="scratch space (default: a temp dir, removed)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}, numpy {np.__version__}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="mer-bench-scale-", dir=args.work_dir))
    try:
        results = {}
        if "extract" in args.parts:
            results["extract"] = bench_extraction(work, args.n, args.workers, args.chunk_size)
        if "train" in args.parts:
            results["train"] = bench_training(work, args.rows, args.epochs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
