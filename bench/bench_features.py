"""Feature extraction and loader throughput against their baselines, timed in the same run.

1. MFCC extraction, utterances/s: `extract_at_features`' runner (MFCC mean+std + hashing text,
   pickles, index; `--workers` processes) against the per-file librosa loop
   (`librosa.load` + `librosa.feature.mfcc(n_mfcc=80)` + `pickle.dump`), on `--n` synthetic
   16 kHz utterances of 2.5-4.9 s (mean 3.7 s), same STFT and mel parameters (n_fft 2048,
   hop 512, 128 mels). Both are warmed up on 20 files before timing. Goal: >= 3x.
2. Training-loader reads, samples/s over one shuffled pass in batches of 256: memmap dir
   against per-sample pickles, `--rows` rows of 928-d features (160 audio + 768 text).
   Goal: >= 30x.

    python bench/bench_features.py                   # the full sizes (2,000 utterances, 100,000 rows)
    python bench/bench_features.py --n 200 --rows 5000   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from mer.features.config import FeatureConfig
from mer.features.extract import RunOptions, run_extraction
from mer.features.memmap import build_memmap
from mer.features.store import open_feature_store
from mer_builder.audio import write_wav
from mer_builder.demo.tones import synth_utterance
from mer_builder.labels import EMOTIONS, LABEL_OF
from mer_builder.manifest import MANIFEST_NAME, ManifestRecord, write_manifest

REPO = Path(__file__).resolve().parents[1]

WARMUP = 20


def write_corpus(root: Path, n: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        emotion = EMOTIONS[i % len(EMOTIONS)]
        duration = float(rng.uniform(2.5, 4.9))
        record = ManifestRecord(
            id=f"BENCH/utt{i:06d}", dataset="BENCH", split="train", group="train", speaker_id=f"spk{i % 10}",
            emotion=emotion, label=LABEL_OF[emotion], raw_label=emotion, text=f"synthetic utterance number {i}",
            audio_path=f"audio/utt{i:06d}.wav", duration_s=duration, sample_rate=16000, language="en",
        )  # fmt: skip
        write_wav(root / record.audio_path, synth_utterance(emotion, rng, duration_s=duration))
        records.append(record)
    write_manifest(records, root / MANIFEST_NAME)
    return [root / r.audio_path for r in records]


def librosa_loop(wavs: list[Path], out_dir: Path) -> None:
    import librosa

    out_dir.mkdir(parents=True, exist_ok=True)
    for k, wav in enumerate(wavs):
        y, sr = librosa.load(wav, sr=None)
        mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=80, n_fft=2048, hop_length=512, n_mels=128)
        with (out_dir / f"{k:06d}.pkl").open("wb") as handle:
            pickle.dump({"audio_features": np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)])}, handle)


def bench_mfcc(work: Path, n: int, workers: int) -> dict:
    print(f"writing {n} + {WARMUP} synthetic utterances ...", flush=True)
    wavs = write_corpus(work / "corpus", n, seed=0)
    write_corpus(work / "warmup", WARMUP, seed=1)
    librosa_loop(wavs[:WARMUP], work / "baseline_warmup")
    started = time.perf_counter()
    librosa_loop(wavs, work / "baseline")
    baseline = n / (time.perf_counter() - started)
    options = RunOptions(num_workers=workers, quiet=True)
    run_extraction(work / "warmup", work / "F_warmup", FeatureConfig(), options)  # starts the worker pool
    started = time.perf_counter()
    run_extraction(work / "corpus", work / "F", FeatureConfig(), options)
    ours = n / (time.perf_counter() - started)
    print(f"MFCC extraction, {n} utterances of mean 3.7 s at 16 kHz (n_fft 2048, hop 512, 128 mels, 80 MFCC):")
    print(f"  baseline librosa loop (1 process) {baseline:9.1f} utt/s")
    print(f"  mer runner ({workers} workers)           {ours:9.1f} utt/s   ratio {ours / baseline:.2f}x (goal >= 3x)")
    return {"n": n, "workers": workers, "baseline_utt_s": baseline, "ours_utt_s": ours, "ratio": ours / baseline}


def write_pickle_dir(root: Path, rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(rows):
        item = {
            "id": f"BENCH/utt{i:06d}", "dataset": "BENCH", "split": "train", "group": "train",
            "speaker_id": f"spk{i % 10}", "emotion": EMOTIONS[i % 7], "true_label": i % 7,
            "audio_features": rng.standard_normal(160, dtype=np.float32),
            "text_features": rng.standard_normal(768, dtype=np.float32),
        }  # fmt: skip
        path = root / "BENCH" / f"utt{i:06d}.pkl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(item, protocol=4))
        lines.append(json.dumps({"path": f"BENCH/utt{i:06d}.pkl", "id": item["id"], "true_label": i % 7}) + "\n")
    (root / "index.jsonl").write_text("".join(lines))


def full_pass(store, order: np.ndarray, batch_size: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(order), batch_size):
        store.batch(order[start : start + batch_size])
    return len(order) / (time.perf_counter() - started)


def bench_loader(work: Path, rows: int, batch_size: int) -> dict:
    print(f"writing {rows} pickles of 928-d features ...", flush=True)
    write_pickle_dir(work / "pickles", rows, seed=0)
    started = time.perf_counter()
    build_memmap(work / "pickles", work / "memmap", quiet=True)
    pack_s = time.perf_counter() - started
    order = np.random.default_rng(0).permutation(rows)
    pickles, memmap = open_feature_store(work / "pickles"), open_feature_store(work / "memmap")
    full_pass(memmap, order[: batch_size * 4], batch_size)  # warm-up
    pickle_rate = full_pass(pickles, order, batch_size)
    memmap_rate = full_pass(memmap, order, batch_size)
    print(f"Loader, {rows} rows x 928 float32, shuffled batches of {batch_size} (memmap packed in {pack_s:.1f} s):")
    print(f"  per-sample pickles {pickle_rate:12.0f} samples/s")
    print(f"  memmap             {memmap_rate:12.0f} samples/s   ratio {memmap_rate / pickle_rate:.1f}x (goal >= 30x)")
    return {"rows": rows, "pickle_samples_s": pickle_rate, "memmap_samples_s": memmap_rate,
            "ratio": memmap_rate / pickle_rate, "pack_s": pack_s}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="synthetic utterances for the MFCC benchmark")
    parser.add_argument("--rows", type=int, default=100_000, help="rows for the loader benchmark")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--parts", nargs="+", choices=["mfcc", "loader"], default=["mfcc", "loader"])
    parser.add_argument("--work_dir", type=Path, default=None, help="scratch space (default: a temp dir, removed)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}, numpy {np.__version__}")
    work = Path(tempfile.mkdtemp(prefix="mer-bench-", dir=args.work_dir))
    try:
        results = {}
        if "mfcc" in args.parts:
            results["mfcc"] = bench_mfcc(work, args.n, args.workers)
        if "loader" in args.parts:
            results["loader"] = bench_loader(work, args.rows, args.batch_size)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
