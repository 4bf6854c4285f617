"""Fine-tuning speed: training utterances/s with mer's length-bucketed batches against batches padded to their
longest member, over the same data, model and optimiser, in the same run; peak memory of each.

    python bench/bench_finetune.py                       # real MELD transcripts, packaged MiniLM, 80 steps each
    python bench/bench_finetune.py --processed_dir P     # an existing processed folder (text of its train group)

Data: the MELD train transcripts from ../shared/data/real/MELD (built into a temporary processed
folder by the builder, text only, when --processed_dir is not given), as "speaker: utterance",
at most 128 tokens. Model: the packaged all-MiniLM-L6-v2 fully fine-tuned with mean pooling and
the FlexibleAT head, AdamW, batch 32. Both loops run mer's own training step on the same rows:

* `bucketed`: mer's `length_batches` (the epoch's shuffled order cut into pools of 50 batches,
  each pool sorted by token count, batches shuffled);
* `padded`: the usual loop: consecutive slices of the same shuffled order, each padded to its
  longest utterance.

Each loop runs in its own process (so each peak RSS is its own), after --warmup steps that are
not timed; the ratio is padded seconds per utterance over bucketed. Pin --threads and run it on
an idle machine (it prints the load average it saw).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

REAL_MELD = ROOT.parent / "shared" / "data" / "real"


def run_phase(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    from mer.config import defaults
    from mer.finetune.encoders import EncoderSpec
    from mer.finetune.inputs import TextInputs, open_utterances
    from mer.finetune.model import FinetuneModel
    from mer.finetune.pipeline import prepare_inputs
    from mer.training.data import batch_rows, epoch_order, iterate, length_batches
    from mer.training.schedule import build_optimizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec = EncoderSpec("text", "packaged:all-MiniLM-L6-v2", mode="full", pooling="mean", lr=3e-5)
    store, _ = open_utterances(args.processed_dir, ["text"], 6.0, groups=["train"])
    prepare_inputs(store, {"text": spec}, TextInputs(128, True, 0), torch.device("cpu"))
    config = defaults()
    config["model"].update(hidden_dim=256, dropout=0.1)
    model = FinetuneModel(["text"], {"text": spec}, {}, config["model"], 7).train()
    optimizer = build_optimizer(model, {**config["training"], "lr": 1e-3})
    order = epoch_order(len(store), 1, 1)
    if args._phase == "bucketed":
        batches = length_batches(order, store.lengths, args.batch_size, 1, 1)
    else:
        batches = batch_rows(order, args.batch_size)
    batches = batches[: args.warmup + args.steps]
    utterances, tokens, padded_tokens, started = 0, 0, 0, None
    for step, (features, labels) in enumerate(iterate(store, batches, ("text",), torch.device("cpu"))):
        if step == args.warmup:
            started = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(features), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= args.warmup:
            utterances += len(labels)
            tokens += int(features["text_mask"].sum())
            padded_tokens += int(features["text_mask"].numel())
    seconds = time.perf_counter() - started
    return {
        "phase": args._phase,
        "steps": len(batches) - args.warmup,
        "utterances": utterances,
        "seconds": seconds,
        "utterances_per_s": utterances / seconds,
        "padding_share": 1 - tokens / padded_tokens,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "mean_tokens": float(np.mean(store.lengths)),
    }


def build_meld(work: Path) -> Path:
    """MELD's real label CSVs through the builder (no clips: silent audio, which this bench never reads)."""
    out = work / "processed"
    command = [sys.executable, "-m", "mer_builder", "all", "--raw_dir", str(REAL_MELD), "--datasets", "meld",
               "--out_dir", str(out), "--audio_failure", "replace_with_silence", "--quiet"]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processed_dir", type=Path, help="default: build MELD's real CSVs into a temp folder")
    parser.add_argument("--steps", type=int, default=80, help="timed optimiser steps per loop")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--_phase", choices=("bucketed", "padded"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._phase:
        print(json.dumps(run_phase(args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.processed_dir is None:
            if not (REAL_MELD / "MELD").is_dir():
                raise SystemExit(f"{REAL_MELD / 'MELD'} not found: pass --processed_dir")
            args.processed_dir = build_meld(Path(tmp))
        print(f"load average at start: {os.getloadavg()[0]:.2f}; threads {args.threads}; batch {args.batch_size}")
        results = {}
        for phase in ("padded", "bucketed"):
            command = [sys.executable, __file__, "--processed_dir", str(args.processed_dir), "--steps",
                       str(args.steps), "--warmup", str(args.warmup), "--batch_size", str(args.batch_size),
                       "--threads", str(args.threads), "--_phase", phase]  # fmt: skip
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HF_HUB_OFFLINE": "1"}
            done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
            results[phase] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"MELD train transcripts: mean {results['bucketed']['mean_tokens']:.1f} tokens per utterance")
    print("| loop | utterances/s | padding share | peak RSS MB |")
    print("|---|---|---|---|")
    for phase in ("padded", "bucketed"):
        r = results[phase]
        print(f"| {phase} | {r['utterances_per_s']:.1f} | {r['padding_share']:.1%} | {r['peak_rss_mb']:.0f} |")
    ratio = results["bucketed"]["utterances_per_s"] / results["padded"]["utterances_per_s"]
    print(f"bucketed / padded: {ratio:.2f}x (goal >= 1.5x); load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
