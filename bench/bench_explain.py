"""Are explanations faithful? Deleting what an explanation ranks highest must hurt the prediction more than
deleting as much at random.

Words (`--words_ckpt`, e.g. a MELD text model, on the `--words_group` utterances of `--words_processed`):
each utterance with more than `--max_k` words is explained (`mer.explain`: leave-one-word-out for
feature-vector models), then for k = 1..max_k the k top-ranked words, or k words drawn at random
(`--draws` times), are removed from the transcript and the model predicts again. The drop of the
predicted class's probability, averaged over utterances, gives one deletion curve per ranking; the
area between them is the mean over k of (top drop - random drop), and the goal is a top-k drop at
least twice the random one.

Modalities (`--modality_ckpt`, an audio+text model trained with modality dropout, on
`--modality_group` of `--modality_processed`, e.g. RAVDESS): the modality the fusion gate weighs
most, or the one occlusion ranks first, is masked, against a modality chosen at random (the expected
drop over the modalities). With two modalities the random baseline includes the top one half of the
time, so the ratio cannot exceed 2 unless masking the other modality raises the probability.

    python bench/bench_explain.py --words_ckpt K1 --words_processed P1 --modality_ckpt K2 --modality_processed P2

Prints the curves and the load average, and writes `<out_dir>/explain_faithfulness.json` and
`<out_dir>/deletion_curves.png`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "mer_dataset_builder" / "src")]  # runnable from a plain checkout


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words_ckpt", type=Path, help="a model that reads text")
    parser.add_argument("--words_processed", type=Path, help="the builder output its utterances come from")
    parser.add_argument("--words_group", default="testB", help="manifest group to explain (default: %(default)s)")
    parser.add_argument("--modality_ckpt", type=Path, help="an audio+text model trained with modality dropout")
    parser.add_argument("--modality_processed", type=Path, help="the builder output its utterances come from")
    parser.add_argument("--modality_group", default="testA", help="manifest group (default: %(default)s)")
    parser.add_argument("--max_k", type=int, default=5, help="delete up to this many words (default: %(default)s)")
    parser.add_argument("--draws", type=int, default=10, help="random deletions per k (default: %(default)s)")
    parser.add_argument("--limit", type=int, help="at most this many utterances per part (evenly spaced)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out_dir", type=Path, default=Path("outputs/bench_explain"))
    return parser.parse_args()


def records_of(processed: Path, group: str, limit: int | None, keep=lambda r: True) -> list:
    from mer_builder.manifest import MANIFEST_NAME, read_manifest

    records = [r for r in read_manifest(processed / MANIFEST_NAME) if r.group == group and keep(r)]
    if limit and len(records) > limit:
        records = [records[i] for i in np.linspace(0, len(records) - 1, limit).round().astype(int)]
    return records


def whole_file(predictor, processed: Path, record):
    """The `ExplainInput` of one manifest record: its whole-file features as prediction makes them."""
    from mer.explain.explainer import ExplainInput

    waveform = predictor.pipeline.load_waveform(processed / record.audio_path)
    features = {}
    if "audio" in predictor.modalities:
        features["audio"] = predictor.pipeline.audio_features([waveform])[0]
    if "text" in predictor.modalities:
        features["text"] = predictor.pipeline.text_features([record.text], [record.speaker_id], [()])[0]
    return ExplainInput(waveform, features, record.text, record.speaker_id)


def word_deletion(args: argparse.Namespace) -> dict:
    from mer import Predictor
    from mer.explain.explainer import Explainer

    predictor = Predictor.from_checkpoint(args.words_ckpt, device="cpu", batch_size=256)
    explainer = Explainer(predictor)
    records = records_of(args.words_processed, args.words_group, args.limit, lambda r: len(r.text.split()) > args.max_k)
    rng = np.random.default_rng(args.seed)
    ks = range(1, args.max_k + 1)
    top, random, started = {k: [] for k in ks}, {k: [] for k in ks}, time.perf_counter()
    for record in records:
        item = whole_file(predictor, args.words_processed, record)
        explanation = explainer.explain(item)
        target = predictor.labels.index(explanation.label)
        words = [w.word for w in explanation.words]
        ranked = [w.index for w in sorted(explanation.words, key=lambda w: -w.effect)]
        deletions = [(k, "top", set(ranked[:k])) for k in ks]
        for k in ks:
            deletions += [
                (k, "random", set(rng.choice(len(words), k, replace=False).tolist())) for _ in range(args.draws)
            ]
        texts = [" ".join(w for i, w in enumerate(words) if i not in gone) for _, _, gone in deletions]
        vectors = predictor.pipeline.text_features(texts, [record.speaker_id] * len(texts), [()] * len(texts))
        rows = {m: [item.features[m]] * len(texts) for m in predictor.modalities if m != "text"}
        rows["text"] = list(vectors)
        after = predictor.class_probabilities(rows)[:, target]
        for (k, kind, _), p in zip(deletions, after, strict=True):
            (top if kind == "top" else random)[k].append(explanation.probability - float(p))
    top_curve = [float(np.mean(top[k])) for k in ks]
    random_curve = [float(np.mean(random[k])) for k in ks]  # every draw of every utterance weighs the same
    return {
        "checkpoint": str(args.words_ckpt),
        "utterances": len(records),
        "k": list(ks),
        "top_drop": top_curve,
        "random_drop": random_curve,
        "ratio_per_k": [t / r if r > 0 else None for t, r in zip(top_curve, random_curve, strict=True)],
        "area_between": float(np.mean(np.subtract(top_curve, random_curve))),
        "ratio": float(np.sum(top_curve) / np.sum(random_curve)) if np.sum(random_curve) > 0 else None,
        "seconds": round(time.perf_counter() - started, 1),
    }


def modality_deletion(args: argparse.Namespace) -> dict:
    from mer import Predictor
    from mer.explain.explainer import Explainer

    predictor = Predictor.from_checkpoint(args.modality_ckpt, device="cpu", batch_size=256)
    explainer = Explainer(predictor)
    records = records_of(args.modality_processed, args.modality_group, args.limit, lambda r: bool(r.text.strip()))
    by_gate, by_occlusion, random, top_names, started = [], [], [], {}, time.perf_counter()
    for record in records:
        explanation = explainer.explain(whole_file(predictor, args.modality_processed, record))
        modalities = explanation.modalities
        if len(modalities) < 2 or any(m.gate is None for m in modalities):
            raise SystemExit(
                f"{args.modality_ckpt}: needs a gated model over two or more modalities (flexible_at, gated_avt)"
            )
        gate_top = max(modalities, key=lambda m: m.gate if m.gate is not None else -1)
        occlusion_top = max(modalities, key=lambda m: m.drop)
        by_gate.append(gate_top.drop)
        by_occlusion.append(occlusion_top.drop)
        random.append(float(np.mean([m.drop for m in modalities])))
        top_names[gate_top.modality] = top_names.get(gate_top.modality, 0) + 1
    return {
        "checkpoint": str(args.modality_ckpt),
        "utterances": len(records),
        "top_by_gate_drop": float(np.mean(by_gate)),
        "top_by_occlusion_drop": float(np.mean(by_occlusion)),
        "random_drop": float(np.mean(random)),
        "gate_ratio": float(np.mean(by_gate) / np.mean(random)) if np.mean(random) > 0 else None,
        "occlusion_ratio": float(np.mean(by_occlusion) / np.mean(random)) if np.mean(random) > 0 else None,
        "gate_top_counts": top_names,
        "seconds": round(time.perf_counter() - started, 1),
    }


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def plot(words: dict, path: Path) -> None:
    from mer.training.plots import new_figure, save_png

    fig = new_figure(5, 3.4)
    ax = fig.subplots()
    ax.plot(words["k"], words["top_drop"], "o-", label="top-ranked words deleted")
    ax.plot(words["k"], words["random_drop"], "s--", label="random words deleted")
    ax.fill_between(words["k"], words["random_drop"], words["top_drop"], alpha=0.15)
    ax.set_xlabel("words deleted (k)")
    ax.set_ylabel("drop of the predicted class's probability")
    ax.set_title(f"deletion curves ({words['utterances']} utterances)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_png(fig, path)


def main() -> int:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; "
          f"torch threads {args.threads}")  # fmt: skip
    report: dict = {"load_average": os.getloadavg(), "threads": args.threads, "max_k": args.max_k, "draws": args.draws}
    if args.words_ckpt:
        words = report["words"] = word_deletion(args)
        print(f"\nwords: {words['utterances']} utterances with more than {args.max_k} words ({words['seconds']} s)")
        print("| k | top-k deleted: drop | random k deleted: drop | ratio |\n|---|---|---|---|")
        for k, t, r, q in zip(words["k"], words["top_drop"], words["random_drop"], words["ratio_per_k"], strict=True):
            print(f"| {k} | {t:.4f} | {r:.4f} | {ratio(q)} |")
        print(f"area between the curves {words['area_between']:.4f}; top/random over k = {ratio(words['ratio'])} "
              f"(goal >= 2x: {'met' if words['ratio'] and words['ratio'] >= 2 else 'missed'})")  # fmt: skip
        args.out_dir.mkdir(parents=True, exist_ok=True)
        plot(words, args.out_dir / "deletion_curves.png")
    if args.modality_ckpt:
        modal = report["modalities"] = modality_deletion(args)
        print(f"\nmodalities: {modal['utterances']} utterances ({modal['seconds']} s); the gate's top modality: "
              f"{modal['gate_top_counts']}")  # fmt: skip
        print(f"drop with the top modality masked: by gate {modal['top_by_gate_drop']:.4f} "
              f"({ratio(modal['gate_ratio'])} random), by occlusion {modal['top_by_occlusion_drop']:.4f} "
              f"({ratio(modal['occlusion_ratio'])} random); random: {modal['random_drop']:.4f}")  # fmt: skip
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "explain_faithfulness.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out_dir / 'explain_faithfulness.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
