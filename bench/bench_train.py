"""Seconds per training epoch over a memmap feature store, against a per-row loader baseline timed in the same run.

    python bench/bench_train.py                 # 100,000 rows, audio 160-d, text 768-d, FlexibleAT and RobustATV
    python bench/bench_train.py --rows 5000     # a quick check

For each model, one epoch is timed with the same model, optimiser and batch size fed three ways:
* `mer`: mer's loader (`mer.training.data.iterate`): a shuffled row index per epoch, each batch
  read from the memmap in one sorted fancy-index call, the next batch read in a background thread;
* `per-row`: the common PyTorch pattern: a `Dataset` whose `__getitem__` reads one row from the same
  memmap, batched by `DataLoader`'s default collate (shuffle=True, num_workers=0);
* `pickle`: the published reference's layout: one pickle per utterance, loaded in `__getitem__`
  (skip it with --no_pickle; writing 100,000 small files takes a while).
It also times a read-only pass of each loader (no model), which isolates the data path. Each model is
warmed up on a few batches first, the two loaders alternate, and the best of --repeats epochs is kept,
so one-time start-up costs and load spikes do not decide the ratio (baseline seconds / mer seconds).
Set --threads to pin torch's CPU threads (default 2); on a busy machine the figures are not meaningful.
"""

from __future__ import annotations

import argparse
import json
import pickle
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from mer.config import defaults
from mer.features.store import MemmapStore, open_feature_store
from mer.models import build_model
from mer.training.data import batch_rows, epoch_order, iterate
from mer.training.schedule import build_optimizer

ROOT = Path(__file__).resolve().parents[1]

DIMS = {"audio": 160, "text": 768}
CHUNK = 20_000


def write_store(path: Path, rows: int, seed: int = 0) -> MemmapStore:
    """A memmap feature dir in the documented format, written chunk by chunk (never all in memory)."""
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, rows).astype(np.int64)
    for name, dim in DIMS.items():
        array = np.lib.format.open_memmap(path / f"{name}.npy", mode="w+", dtype=np.float32, shape=(rows, dim))
        for start in range(0, rows, CHUNK):
            stop = min(start + CHUNK, rows)
            array[start:stop] = rng.standard_normal((stop - start, dim), dtype=np.float32)
        array.flush()
        del array
    np.save(path / "labels.npy", labels)
    with (path / "meta.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(f'{{"id": "BENCH/{i}", "dataset": "BENCH"}}\n' for i in range(rows))
    info = {"modalities": list(DIMS), "dims": DIMS, "dtype": "float32", "n_rows": rows, "feature_config": None}
    (path / "info.json").write_text(json.dumps(info), encoding="utf-8")
    return open_feature_store(path)


class RowDataset(torch.utils.data.Dataset):
    """The per-row baseline: one memmap row per item, as most training scripts do it."""

    def __init__(self, store: MemmapStore):
        self.arrays, self.labels = store._arrays, store.labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[dict[str, np.ndarray], int]:
        return {m: np.array(a[i], dtype=np.float32) for m, a in self.arrays.items()}, int(self.labels[i])


def write_pickles(path: Path, store: MemmapStore) -> list[Path]:
    """One pickle per row, with the field names the extractor uses."""
    path.mkdir(parents=True, exist_ok=True)
    files = []
    for start in range(0, len(store), CHUNK):
        rows = np.arange(start, min(start + CHUNK, len(store)))
        batch = store.batch(rows)
        for k, i in enumerate(rows):
            item = {f"{m}_features": batch[m][k] for m in DIMS} | {"true_label": int(batch["labels"][k])}
            files.append(path / f"{i:07d}.pkl")
            files[-1].write_bytes(pickle.dumps(item, protocol=5))
    return files


class PickleDataset(torch.utils.data.Dataset):
    def __init__(self, files: list[Path]):
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[dict[str, np.ndarray], int]:
        item = pickle.loads(self.files[i].read_bytes())
        return {m: item[f"{m}_features"] for m in DIMS}, item["true_label"]


def mer_batches(store: MemmapStore, batch_size: int, seed: int) -> Iterable:
    return iterate(store, batch_rows(epoch_order(len(store), seed, 1), batch_size), tuple(DIMS), torch.device("cpu"))


def loader(dataset: torch.utils.data.Dataset, batch_size: int, seed: int) -> Iterable:
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)


def time_epoch(batches: Iterable, step: Callable | None) -> float:
    started = time.perf_counter()
    for features, labels in batches:
        if step is not None:
            step(features, labels)
    return time.perf_counter() - started


def best_of(
    repeats: int, store: MemmapStore, baselines: dict, batch_size: int, step: Callable | None
) -> dict[str, float]:
    """Seconds per epoch of mer's loader and each baseline, best of `repeats`, the loaders alternating."""
    times: dict[str, list[float]] = {"mer": [], **{name: [] for name in baselines}}
    for repeat in range(repeats):
        times["mer"].append(time_epoch(mer_batches(store, batch_size, repeat), step))
        for name, dataset in baselines.items():
            times[name].append(time_epoch(loader(dataset, batch_size, repeat), step))
    return {name: min(values) for name, values in times.items()}


def make_step(model_name: str, seed: int) -> Callable:
    config = defaults()
    config["model"]["name"] = model_name
    torch.manual_seed(seed)
    model = build_model(config["model"], tuple(DIMS), DIMS, 7).train()
    optimizer = build_optimizer(model, config["training"])

    def step(features: dict, labels: torch.Tensor) -> None:
        loss = torch.nn.functional.cross_entropy(model(features), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    warm = torch.Generator().manual_seed(seed)
    for _ in range(5):
        step({m: torch.randn(64, d, generator=warm) for m, d in DIMS.items()}, torch.randint(0, 7, (64,)))
    return step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="synthetic rows (default 100,000)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--models", nargs="+", default=["flexible_at", "robust_atv"])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=2, help="epochs timed per loader; the best is reported")
    parser.add_argument("--no_pickle", action="store_true", help="skip the per-utterance pickle baseline")
    parser.add_argument("--workdir", type=Path, help="where to write the synthetic store (default: a temp dir)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        started = time.perf_counter()
        store = write_store(Path(tmp) / "train", args.rows)
        size_mb = sum(f.stat().st_size for f in Path(tmp, "train").iterdir()) / 1e6
        print(f"store: {args.rows} rows, audio 160-d + text 768-d float32, {size_mb:.0f} MB on disk, "
              f"written in {time.perf_counter() - started:.1f}s; torch {torch.__version__}, {args.threads} threads, "
              f"batch {args.batch_size}")  # fmt: skip
        baselines: dict[str, torch.utils.data.Dataset] = {"per-row": RowDataset(store)}
        if not args.no_pickle:
            started = time.perf_counter()
            baselines["pickle"] = PickleDataset(write_pickles(Path(tmp) / "pickles", store))
            print(f"pickles: {args.rows} files written in {time.perf_counter() - started:.1f}s")
        header = f"{'what':<24}{'mer s/epoch':>13}" + "".join(
            f"{n + ' s/epoch':>18}{n + ' / mer':>14}" for n in baselines
        )
        print("\n" + header)
        for name in [None, *args.models]:
            step = make_step(name, 0) if name else None
            times = best_of(args.repeats, store, baselines, args.batch_size, step)
            cells = "".join(f"{times[n]:>18.2f}{times[n] / times['mer']:>13.1f}x" for n in baselines)
            print(f"{'train ' + name if name else 'read only (no model)':<24}{times['mer']:>13.2f}{cells}")
        print(f"\n{args.rows} rows per epoch; rows/s = rows / (s/epoch).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
