"""Pretrained-encoder extraction speed against the usual way of calling each encoder, timed in the same run.

    python bench/bench_pretrained.py                                  # real RAVDESS + MELD samples
    python bench/bench_pretrained.py --parts whisper --limit 64       # a quick check

1. Whisper tiny.en (packaged, CTranslate2 int8). mer's extraction encodes each clip at its own
   length (padded with silence to the next whole second, clips of equal padded length batched);
   the baseline is the classic call that pads every clip to Whisper's 30 s window (mer with
   `--whisper_pad_to_s 30`, which gives exactly that call), same clips, same batch size, same run.
   Timed twice: the whole extraction command (decode, encode, hashing text, pickles written),
   and the encoder alone on already decoded clips. Then the accuracy that each set of vectors
   supports: UAR of a logistic regression over the mean+std vectors, leave-one-actor-out over the
   actors present (speaker-disjoint; pooled predictions; averaged over C in 0.01, 0.1, 1), so the
   test set is every clip rather than one actor's 52. Goal: >= 10x at equal UAR (within 1 point).
   The clips are real RAVDESS speech, normalised by mer's builder (`mer_builder prepare`).
2. Every audio encoder (`--parts encoders`): clips/s of the extraction command, audio only, on the same
   clips: MFCC mean+std, the packaged Whisper tiny.en (vectors; vectors + frames kept for
   attentive_frames, `--frame_pool 2`), and any transformers speech model given with
   `--speech_model` (a local folder or hub id; `--audio_layers all` when `--all_layers`).
3. all-MiniLM-L6-v2 (packaged): sentences/s of mer's text encoder (length-sorted batches of 32)
   against one sentence at a time, and against batches of 32 in corpus order, on real MELD
   transcripts; the embeddings must agree. Goal: >= 3x over one at a time.

Torch and CTranslate2 use --threads threads; the load average is printed before and after,
because on a busy 2-core machine the absolute figures move a lot (the ratios much less).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "mer_dataset_builder" / "src")]  # runnable from a plain checkout

from mer.features.config import FeatureConfig, SpeechEncoderSpec, TextEncoderSpec  # noqa: E402
from mer.features.extract import RunOptions, run_extraction  # noqa: E402
from mer.features.safe_pickle import safe_load  # noqa: E402

REAL = REPO.parent / "shared" / "data" / "real"
BATCH = 16


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def prepare_ravdess(raw_dir: Path, work: Path, limit: int | None) -> Path:
    """mer's builder on the real RAVDESS files (optionally only the first `limit` records)."""
    from mer_builder.cli import main as builder
    from mer_builder.manifest import MANIFEST_NAME, read_manifest, write_manifest

    processed = work / "P"
    code = builder(["prepare", "--datasets", "ravdess", "--raw_dir", str(raw_dir), "--out_dir", str(processed),
                    "--quiet"])  # fmt: skip
    if code != 0:
        raise SystemExit(f"mer_builder prepare failed on {raw_dir} (exit {code})")
    if limit:
        records = read_manifest(processed / MANIFEST_NAME)
        keep = sorted(records, key=lambda r: r.id)[:: max(1, len(records) // limit)][:limit]
        write_manifest(keep, processed / MANIFEST_NAME)
    return processed


def extract(processed: Path, out: Path, pad_to_s: float, config: FeatureConfig | None = None) -> tuple[float, int]:
    """The extraction runner (what extract_at_features_hf.py runs), model loading included."""
    config = config or FeatureConfig(audio=(SpeechEncoderSpec(pad_to_s=pad_to_s),))  # hashing text: audio decides
    options = RunOptions(batch_size=BATCH, chunk_size=BATCH, quiet=True, num_workers=1)
    started = time.perf_counter()
    info = run_extraction(processed, out, config, options)
    seconds = time.perf_counter() - started
    return seconds, info["timing"]["extracted"]


def read_vectors(features: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [safe_load(p) for p in sorted(features.glob("*/RAVDESS/*.pkl"))]
    x = np.stack([r["audio_features"] for r in rows])
    return x, np.array([r["true_label"] for r in rows]), np.array([r["speaker_id"] for r in rows])


def loso_uar(x: np.ndarray, y: np.ndarray, speakers: np.ndarray) -> dict[str, float]:
    """UAR of leave-one-speaker-out logistic regressions (pooled predictions), per C and their mean."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.preprocessing import StandardScaler

    out = {}
    for c in (0.01, 0.1, 1.0):
        predicted = np.zeros_like(y)
        for speaker in np.unique(speakers):
            test = speakers == speaker
            scaler = StandardScaler().fit(x[~test])
            model = LogisticRegression(C=c, max_iter=3000).fit(scaler.transform(x[~test]), y[~test])
            predicted[test] = model.predict(scaler.transform(x[test]))
        out[f"C={c:g}"] = float(balanced_accuracy_score(y, predicted))
    out["mean"] = float(np.mean(list(out.values())))
    return out


def bench_whisper(raw_dir: Path, work: Path, limit: int | None, threads: int, encoder_clips: int) -> dict:
    from mer.features.packaged import packaged_path
    from mer.features.pipeline import FeaturePipeline
    from mer.features.whisper import WhisperFrameEncoder
    from mer_builder.manifest import MANIFEST_NAME, read_manifest

    processed = prepare_ravdess(raw_dir, work, limit)
    wavs = [processed / r.audio_path for r in read_manifest(processed / MANIFEST_NAME)]
    print(f"Whisper tiny.en, {len(wavs)} real RAVDESS clips ({raw_dir}), batches of {BATCH}, {threads} threads")
    results: dict = {"clips": len(wavs)}
    for name, pad in (("mer (own length, 1 s quantum)", 1.0), ("padded 30 s call", 30.0)):
        seconds, n = extract(processed, work / f"F_{pad:g}", pad)
        results[name] = {"seconds": seconds, "clips_per_s": n / seconds}
    native, padded = results["mer (own length, 1 s quantum)"], results["padded 30 s call"]
    results["extraction_ratio"] = native["clips_per_s"] / padded["clips_per_s"]
    print(f"  extraction command      mer {native['clips_per_s']:7.2f} clips/s   padded {padded['clips_per_s']:6.2f} "
          f"clips/s   ratio {results['extraction_ratio']:.1f}x (goal >= 10x)")  # fmt: skip
    # the encoder alone, on decoded clips
    pipeline = FeaturePipeline(FeatureConfig())
    waves = [pipeline.load_waveform(w) for w in wavs[:encoder_clips]]
    path = str(packaged_path("packaged:whisper-tiny.en"))
    rates = {}
    for pad in (1.0, 30.0):
        encoder = WhisperFrameEncoder(path, pad_to_s=pad, threads=threads)
        encoder(waves[:2], BATCH)
        started = time.perf_counter()
        encoder(waves, BATCH)
        rates[pad] = len(waves) / (time.perf_counter() - started)
    results["encoder_only"] = {"clips": len(waves), "mer_clips_per_s": rates[1.0], "padded_clips_per_s": rates[30.0],
                               "ratio": rates[1.0] / rates[30.0]}  # fmt: skip
    print(f"  encoder alone ({len(waves)} clips) mer {rates[1.0]:7.2f} clips/s   padded {rates[30.0]:6.2f} clips/s   "
          f"ratio {rates[1.0] / rates[30.0]:.1f}x")  # fmt: skip
    # what the vectors are worth
    uar = {}
    for name, pad in (("mer", 1.0), ("padded", 30.0)):
        x, y, speakers = read_vectors(work / f"F_{pad:g}")
        uar[name] = loso_uar(x, y, speakers)
    results["uar"] = uar
    results["uar_difference_points"] = 100 * (uar["mer"]["mean"] - uar["padded"]["mean"])
    actors = len(np.unique(read_vectors(work / "F_1")[2]))
    print(f"  downstream UAR, leave-one-actor-out over {actors} actors (logistic regression on mean+std, 768-d):")
    for name in ("mer", "padded"):
        per_c = "  ".join(f"{k} {v:.3f}" for k, v in uar[name].items() if k != "mean")
        print(f"    {name:<7} {uar[name]['mean']:.3f}   ({per_c})")
    print(f"    difference {results['uar_difference_points']:+.1f} UAR points (goal: within 1 point)")
    return results


def bench_encoders(raw_dir: Path, work: Path, limit: int | None, speech_models: list[str], all_layers: bool) -> dict:
    """Clips/s of the extraction command per audio encoder (text off), same clips, same run; the size of each
    kept frame store."""
    from mer.features.config import MfccSpec

    processed = prepare_ravdess(raw_dir, work / "encoders", limit)
    whisper = SpeechEncoderSpec()
    configs = {
        "MFCC-80 mean+std": MfccSpec(),
        "Whisper tiny.en mean+std": whisper,
        "Whisper tiny.en mean+std + frames (pool 2)": SpeechEncoderSpec(frames=True, frame_pool=2),
    }
    for model in speech_models:
        layers = "all" if all_layers else "last"
        configs[f"{model} mean+std"] = SpeechEncoderSpec(model, layers=layers)
        configs[f"{model} mean+std + frames"] = SpeechEncoderSpec(model, layers=layers, frames=True)
    results: dict = {}
    print(f"audio encoders, extraction command, audio only, {limit or 'all'} RAVDESS clips, batches of {BATCH}")
    for k, (name, part) in enumerate(configs.items()):
        out = work / "encoders" / f"F{k}"
        seconds, n = extract(processed, out, 0.0, FeatureConfig(audio=(part,), text=None))
        frames = [safe_load(p).get("audio_frames") for p in out.glob("*/RAVDESS/*.pkl")]
        kept = [f for f in frames if f is not None]
        results[name] = {"clips": n, "seconds": seconds, "clips_per_s": n / seconds}
        note = ""
        if kept:
            per_clip, megabytes = float(np.mean([len(f) for f in kept])), sum(f.size for f in kept) * 4 / 1e6
            results[name] |= {"frames_per_clip": per_clip, "frame_store_mb_float32": megabytes}
            note = f"   {per_clip:.0f} frames/clip, {megabytes:.0f} MB as float32"
        print(f"  {name:<48} {n / seconds:7.2f} clips/s{note}")
    return results


def meld_sentences(raw_dir: Path, n: int) -> list[str]:
    with (raw_dir / "MELD" / "train_sent_emo.csv").open(encoding="utf-8", newline="") as handle:
        return [row["Utterance"] for row, _ in zip(csv.DictReader(handle), range(n), strict=False)]


def bench_minilm(raw_dir: Path, n: int) -> dict:
    from mer.features.hf import load_text_encoder

    sentences = meld_sentences(raw_dir, n)
    spec = TextEncoderSpec()
    encoders = {"one at a time": load_text_encoder(spec, batch_size=1), "mer": load_text_encoder(spec, batch_size=32)}
    encoders["mer"](sentences[:64])
    encoders["one at a time"](sentences[:16])
    rates, vectors = {}, {}
    for name in ("one at a time", "mer"):
        started = time.perf_counter()
        vectors[name] = encoders[name](sentences)
        rates[name] = len(sentences) / (time.perf_counter() - started)
    started = time.perf_counter()
    for start in range(0, len(sentences), 32):  # batches of 32 in corpus order: no sort across the corpus
        encoders["mer"](sentences[start : start + 32])
    rates["batches of 32, corpus order"] = len(sentences) / (time.perf_counter() - started)
    agree = float(np.abs(vectors["mer"] - vectors["one at a time"]).max())
    ratio = rates["mer"] / rates["one at a time"]
    words = np.mean([len(s.split()) for s in sentences])
    print(f"all-MiniLM-L6-v2, {len(sentences)} real MELD sentences (mean {words:.1f} words):")
    labels = {"mer": "mer: length-sorted batches of 32"}
    for name in ("one at a time", "batches of 32, corpus order", "mer"):
        print(f"  {labels.get(name, name):<34} {rates[name]:8.1f} sentences/s")
    print(f"  ratio {ratio:.1f}x (goal >= 3x); max |difference| of the embeddings {agree:.1e}")
    return {"sentences": len(sentences), "rates": rates, "ratio": ratio, "max_abs_difference": agree}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real_dir", type=Path, default=REAL, help="folder holding RAVDESS/ and MELD/ (native layout)")
    parser.add_argument(
        "--parts", nargs="+", choices=["whisper", "encoders", "minilm"], default=["whisper", "encoders", "minilm"]
    )
    parser.add_argument("--speech_model", nargs="*", default=[], help="encoders: transformers speech models to time")
    parser.add_argument("--all_layers", action="store_true", help="encoders: keep all hidden layers of those models")
    parser.add_argument("--limit", type=int, default=None, help="use only this many RAVDESS clips (spread over actors)")
    parser.add_argument("--encoder_clips", type=int, default=64, help="clips for the encoder-alone timing")
    parser.add_argument("--sentences", type=int, default=2000, help="MELD sentences for the MiniLM part")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work_dir", type=Path, default=None, help="scratch space (default: a temp dir, removed)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(f"cpus {os.cpu_count()}, load average {load_average()}, torch {torch.__version__}, threads {args.threads}")
    work = Path(tempfile.mkdtemp(prefix="mer-bench-pretrained-", dir=args.work_dir))
    results: dict = {}
    try:
        if "whisper" in args.parts:
            results["whisper"] = bench_whisper(args.real_dir, work, args.limit, args.threads, args.encoder_clips)
        if "encoders" in args.parts:
            results["encoders"] = bench_encoders(args.real_dir, work, args.limit, args.speech_model, args.all_layers)
        if "minilm" in args.parts:
            results["minilm"] = bench_minilm(args.real_dir, args.sentences)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average at the end {load_average()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
