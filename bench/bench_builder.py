"""Audio normalisation speed and memory of the dataset builder, against baselines timed in the same run.

Writes a synthetic corpus of `--n` 48 kHz mono PCM16 utterances, then normalises it to 16 kHz
three ways, each in a fresh child process whose whole process tree (parent, fork server, workers)
is sampled for peak memory:

* builder: `mer_builder.pipeline.prepare` (parse, splits, parallel audio, manifest) with `--workers`;
* librosa loop: `librosa.load(path, sr=16000)` + `soundfile.write`, one process, warmed up on 20
  files first (its first calls are slow) and timed on all of them;
* ffmpeg per file: one `ffmpeg` subprocess per file, when ffmpeg is on PATH (or, failing that, the
  static binary of the `imageio-ffmpeg` package, if installed: `pip install imageio-ffmpeg`).

Goals: builder >= 1.8x the librosa loop with 2 workers, >= 5x ffmpeg per file; `--rss_check` also
runs the builder on 4x the corpus: its peak tree RSS must stay within 1.2x. Linux only (reads /proc).

    python bench/bench_builder.py --n 2000
    python bench/bench_builder.py --n 2000 --rss_check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SOURCE_SR = 48000
WARMUP_FILES = 20
SAMPLE_INTERVAL_S = 0.01
# Every method gets the same single-threaded numeric libraries, so only the process count differs.
THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}


# ---- the synthetic corpus -------------------------------------------------------------------------


def write_corpus(folder: Path, n: int, mean_s: float, seed: int = 0) -> float:
    """n wavs under folder/spkNN/ (20 speakers), voiced-tone 'speech' of 0.6-1.4 x mean_s; returns total seconds."""
    from mer_builder.demo.tones import PROSODY, synth_utterance

    rng = np.random.default_rng(seed)
    emotions = sorted(PROSODY)
    # A few hundred distinct clips, each written with its own gain: real audio, cheap to lay out.
    bank = [synth_utterance(emotions[i % len(emotions)], rng, SOURCE_SR, mean_s * rng.uniform(0.6, 1.4))
            for i in range(min(n, 200))]  # fmt: skip
    total = 0.0
    for i in range(n):
        clip = bank[i % len(bank)] * rng.uniform(0.5, 1.0)
        path = folder / f"spk{i % 20:02d}" / f"{emotions[(i % len(bank)) % len(emotions)]}_{i:06d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, clip, SOURCE_SR, subtype="PCM_16")
        total += len(clip) / SOURCE_SR
    return total


def source_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("spk*/*.wav"))


class SyntheticRecipe:
    """The bench corpus as a builder recipe: speaker = folder, emotion = first token of the file name."""

    CORPUS = "RAVDESS"  # an acted 48 kHz corpus, like RAVDESS

    def __init__(self, folder: Path):
        self.folder = folder

    def locate(self, raw_dir: Path) -> Path:
        return self.folder

    def parse(self, corpus_dir: Path, ctx):
        from mer_builder.recipes.common import Utterance

        for path in source_files(corpus_dir):
            speaker = path.parent.name
            yield Utterance(
                dataset=self.CORPUS, native_id=path.stem, source=path, speaker_id=speaker,
                raw_label=path.stem.split("_")[0], emotion=path.stem.split("_")[0], text="synthetic", language="en",
                gender="male" if int(speaker[3:]) % 2 else "female",
            )  # fmt: skip


# ---- the three methods, each run inside a child process ---------------------------------------------


def run_builder(corpus: Path, out: Path, workers: int) -> float:
    from mer_builder.pipeline import BuildOptions, prepare

    start = time.perf_counter()
    [outcome] = prepare([SyntheticRecipe(corpus)], BuildOptions(corpus, out, num_workers=workers, quiet=True))
    elapsed = time.perf_counter() - start
    if outcome.failed or outcome.report["audio"]["normalised"] != len(source_files(corpus)):
        raise SystemExit(f"builder did not normalise every file: {outcome.report}")
    return elapsed


def run_librosa(corpus: Path, out: Path, workers: int) -> float:
    import librosa

    files = source_files(corpus)
    out.mkdir(parents=True, exist_ok=True)
    for path in files[:WARMUP_FILES]:
        samples, _ = librosa.load(path, sr=16000)
        sf.write(out / f"warmup_{path.name}", samples, 16000, subtype="PCM_16")
    start = time.perf_counter()
    for path in files:
        samples, _ = librosa.load(path, sr=16000)
        sf.write(out / path.name, samples, 16000, subtype="PCM_16")
    return time.perf_counter() - start


def ffmpeg_executable() -> str | None:
    """ffmpeg on PATH, else imageio-ffmpeg's bundled binary (the machine may have no system ffmpeg)."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(corpus: Path, out: Path, workers: int) -> float:
    files = source_files(corpus)
    out.mkdir(parents=True, exist_ok=True)
    ffmpeg = ffmpeg_executable()
    start = time.perf_counter()
    for path in files:
        subprocess.run(
            [ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(path), "-ac", "1", "-ar", "16000",
             "-c:a", "pcm_s16le", str(out / path.name)],
            check=True,
        )  # fmt: skip
    return time.perf_counter() - start


METHODS = {"builder": run_builder, "librosa": run_librosa, "ffmpeg": run_ffmpeg}


# ---- peak memory of a process tree ------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                kids += [int(k) for k in handle.read().split()]
    except OSError:
        pass
    return kids


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time the process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB; PSS splits pages shared by forked workers fairly between them."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class TreeSampler(threading.Thread):
    """Samples a process and all its descendants: peak summed RSS and PSS, and the CPU time each used."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_rss_kb, self.peak_pss_kb, self.peak_processes = pid, 0, 0, 0
        self.cpu_s: dict[int, float] = {}  # last reading per process (workers exit before the end)
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            tree, frontier = [], [self.pid]
            while frontier:
                pid = frontier.pop()
                tree.append(pid)
                frontier += _children(pid)
            sizes = [_memory_kb(pid) for pid in tree]
            for pid in tree:
                cpu = _cpu_seconds(pid)
                if cpu is not None:
                    self.cpu_s[pid] = cpu
            self.peak_rss_kb = max(self.peak_rss_kb, sum(r for r, _ in sizes))
            self.peak_pss_kb = max(self.peak_pss_kb, sum(p for _, p in sizes))
            self.peak_processes = max(self.peak_processes, len(tree))
            self._done.wait(SAMPLE_INTERVAL_S)

    def stop(self) -> None:
        self._done.set()
        self.join()


def measure(method: str, corpus: Path, out: Path, workers: int) -> dict:
    """Run one method in a child process; its elapsed time, and the peak memory of its process tree."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, **THREAD_ENV}
    child = subprocess.Popen(
        [sys.executable, __file__, "--_run", method, "--_corpus", str(corpus), "--_out", str(out),
         "--workers", str(workers)],
        stdout=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    sampler = TreeSampler(child.pid)
    sampler.start()
    stdout, _ = child.communicate()
    sampler.stop()
    if child.returncode:
        raise SystemExit(f"{method} failed with exit code {child.returncode}")
    result = json.loads(stdout.strip().splitlines()[-1])
    shutil.rmtree(out, ignore_errors=True)
    return {**result, "peak_rss_mb": sampler.peak_rss_kb / 1024, "peak_pss_mb": sampler.peak_pss_kb / 1024,
            "processes": sampler.peak_processes, "cpu_s": sum(sampler.cpu_s.values())}  # fmt: skip


# ---- the report ----------------------------------------------------------------------------------


def _row(label: str, n: int, r: dict | None, reason: str = "") -> str:
    if r is None:
        return f"{label:<34}{'skipped: ' + reason}"
    return (f"{label:<34}{n / r['seconds']:>9.1f}{r['seconds']:>10.2f}{r['cpu_s']:>9.1f}{r['peak_rss_mb']:>9.0f}"
            f"{r['peak_pss_mb']:>9.0f}{r['processes']:>7d}")  # fmt: skip


def _ratio(name: str, fast: dict | None, slow: dict | None, goal: float) -> str:
    if fast is None or slow is None:
        return f"{name}: n/a"
    ratio = slow["seconds"] / fast["seconds"]
    return f"{name}: {ratio:.2f}x (goal >= {goal}x: {'met' if ratio >= goal else 'NOT met'})"


def bench(args: argparse.Namespace, work: Path) -> None:
    load = os.getloadavg()[0]
    cpus = len(os.sched_getaffinity(0))
    print(f"machine: {cpus} CPUs available, load average {load:.2f}"
          + ("  (busy: ratios are unreliable; rerun on a quiet machine)" if load > 0.25 * cpus else ""))  # fmt: skip
    corpus = work / f"corpus_{args.n}"
    seconds = write_corpus(corpus, args.n, args.seconds)
    print(f"corpus: {args.n} utterances, {SOURCE_SR // 1000} kHz mono PCM16, {seconds / args.n:.2f} s mean "
          f"({seconds / 3600:.2f} h) in {corpus}")  # fmt: skip
    results = {"builder": measure("builder", corpus, work / "out_builder", args.workers),
               "librosa": measure("librosa", corpus, work / "out_librosa", 1)}  # fmt: skip
    has_ffmpeg = ffmpeg_executable() is not None
    results["ffmpeg"] = measure("ffmpeg", corpus, work / "out_ffmpeg", 1) if has_ffmpeg else None
    print(f"\n{'method':<34}{'utt/s':>9}{'seconds':>10}{'CPU s':>9}{'RSS MB':>9}{'PSS MB':>9}{'procs':>7}")
    print(_row(f"builder ({args.workers} workers)", args.n, results["builder"]))
    print(_row("librosa.load + soundfile.write", args.n, results["librosa"]))
    no_ffmpeg = "no ffmpeg on PATH and imageio-ffmpeg not installed"
    print(_row("ffmpeg subprocess per file", args.n, results["ffmpeg"], no_ffmpeg))
    print(
        "(seconds: wall time of the timed part. CPU s, RSS, PSS: the whole process tree, i.e. parent, fork server\n"
        "and workers; CPU over the child's whole life, start-up included; RSS and PSS are peaks of the sums)\n"
    )
    print(_ratio("builder vs librosa loop", results["builder"], results["librosa"], 1.8))
    print(_ratio("builder vs ffmpeg per file", results["builder"], results["ffmpeg"], 5.0))
    if args.rss_check:
        big_n = 4 * args.n
        big = work / f"corpus_{big_n}"
        write_corpus(big, big_n, args.seconds)
        large = measure("builder", big, work / "out_builder_big", args.workers)
        ratio = large["peak_rss_mb"] / results["builder"]["peak_rss_mb"]
        print(f"\nbuilder peak tree RSS: {args.n} utt {results['builder']['peak_rss_mb']:.0f} MB, "
              f"{big_n} utt {large['peak_rss_mb']:.0f} MB: {ratio:.2f}x (goal <= 1.2x: "
              f"{'met' if ratio <= 1.2 else 'NOT met'}); PSS {results['builder']['peak_pss_mb']:.0f} -> "
              f"{large['peak_pss_mb']:.0f} MB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="utterances in the corpus (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="builder worker processes (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=3.5,
                        help="mean utterance length; RAVDESS's is 3.7 s (default: %(default)s)")  # fmt: skip
    parser.add_argument("--rss_check", action="store_true", help="also run the builder on 4x the corpus")
    parser.add_argument("--work_dir", type=Path, help="keep the corpora and outputs here (default: a temp dir)")
    parser.add_argument("--_run", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--_corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._run:
        print(json.dumps({"seconds": METHODS[args._run](args._corpus, args._out, args.workers)}))
        return
    if args.n < WARMUP_FILES:
        parser.error(f"--n must be at least {WARMUP_FILES} (the librosa warm-up)")
    if args.work_dir:
        bench(args, args.work_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="bench_builder_") as tmp:
            bench(args, Path(tmp))


if __name__ == "__main__":
    main()
