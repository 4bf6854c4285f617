"""Data-parallel training under torchrun: one process per device, rank 0 writes, every rank decides alike.

`torchrun --nproc_per_node N train.py ...` starts N copies of the command with RANK, WORLD_SIZE,
LOCAL_RANK and the rendezvous address in the environment; `distributed_session` joins them into
one process group (NCCL on GPUs, one GPU per local rank; gloo on CPU). Without torchrun it yields
the single-process context, and every helper here is then the identity, so a trainer written
against them runs unchanged both ways.

What a trainer does with it (`mer.training.trainer` for train.py; an end-to-end trainer the same way):

* build the model identically on every rank (same seed), then `wrap_model` for the training
  forward/backward; read weights, save checkpoints and predict through the unwrapped model;
* cut each epoch into the same global batches as a single process (the seeded (seed, epoch)
  order, `training.batch_size` rows each) and train on `shard_batch(rows)`: every rank gets an equal
  share of each batch (what torch's DistributedSampler does to an epoch, done per batch), so all
  ranks take the same number of steps, the learning-rate schedule is the single-process one, and
  DistributedDataParallel's average of the shares' mean-loss gradients is the batch's gradient
  (exactly so when the batch divides evenly and no class weights are set);
* gather what metrics need (`gather_rows`, `all_reduce_sum`) and predict on validation rows with
  `sharded_predict`, so every rank computes the same metrics, early stopping and LR decisions;
* write files, print and show progress bars only where `ctx.is_main`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..features.store import FeatureStore, SubsetStore

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the job: rank `rank` of `world_size` (1 = not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = DistContext()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@contextmanager
def distributed_session(device: torch.device) -> Iterator[tuple[DistContext, torch.device]]:
    """Join torchrun's process group for the block (NCCL on CUDA, else gloo) and yield (context, device):
    on CUDA, each rank's device is `cuda:LOCAL_RANK`. Outside torchrun: (SINGLE, device), nothing joined."""
    if not launched_by_torchrun():
        yield SINGLE, device
        return
    import torch.distributed as dist

    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE is set but {missing} are not: start distributed runs with torchrun")
    ctx = DistContext(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))
    if device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if not ctx.is_main:
        logging.getLogger("mer").setLevel(logging.WARNING)  # rank 0 reports progress; others only problems
    try:
        yield ctx, device
    finally:
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    """Wait until every rank gets here (e.g. until rank 0 has written what the others read next)."""
    if ctx.enabled:
        import torch.distributed as dist

        dist.barrier()


def wrap_model(model: nn.Module, ctx: DistContext, device: torch.device, partly_used: bool = False) -> nn.Module:
    """The module to run the training forward/backward through: DistributedDataParallel when distributed
    (gradients averaged over ranks in the backward pass; it broadcasts rank 0's weights first), else
    `model` itself. `partly_used`: some trainable weights may get no gradient in a step (pretrained
    encoders with training-only parts), which DDP must then look for."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=partly_used
    )


def shard_batch(rows: np.ndarray, ctx: DistContext) -> tuple[np.ndarray, np.ndarray]:
    """This rank's share of one global batch, and which of its rows are real (not padding).

    Rank r takes rows r, r + W, r + 2W, ...; a share shorter than the others is padded by repeating a
    row, as DistributedSampler pads an epoch, so every rank runs the same steps. Padding rows take part
    in the loss like DistributedSampler's repeats but are left out of the metrics.
    """
    if not ctx.enabled:
        return rows, np.ones(len(rows), bool)
    share = -(-len(rows) // ctx.world_size)
    mine = rows[ctx.rank :: ctx.world_size]
    pad = share - len(mine)
    filler = np.full(pad, mine[0] if len(mine) else rows[0], dtype=rows.dtype)
    return np.concatenate([mine, filler]), np.arange(share) < len(mine)


def all_reduce_sum(value: float, ctx: DistContext) -> float:
    """The sum of `value` over ranks (e.g. of per-rank loss totals)."""
    return float(sum(gather_objects(value, ctx)))


def gather_objects(value: Any, ctx: DistContext) -> list[Any]:
    """Every rank's `value`, in rank order (small things: label arrays, per-rank predictions)."""
    if not ctx.enabled:
        return [value]
    import torch.distributed as dist

    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, value)
    return out


def gather_rows(values: np.ndarray, ctx: DistContext) -> np.ndarray:
    """Concatenate each rank's rows (e.g. labels and predictions of its shares) in rank order."""
    parts = gather_objects(values, ctx)
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def sharded_predict(predict: Callable[[FeatureStore], np.ndarray], store: FeatureStore, ctx: DistContext) -> np.ndarray:
    """`predict(store)` with rows split over ranks (rank r: rows r, r + W, ...) and put back in store order
    on every rank, so each rank sees the whole result."""
    if not ctx.enabled:
        return predict(store)
    rows = np.arange(len(store))
    parts = gather_objects(predict(SubsetStore(store, rows[ctx.rank :: ctx.world_size])), ctx)
    width = next(p.shape[1:] for p in parts if len(p)) if any(len(p) for p in parts) else (0,)
    out = np.empty((len(store), *width), dtype=parts[0].dtype)
    for rank, part in enumerate(parts):
        out[rank :: ctx.world_size] = part
    return out
