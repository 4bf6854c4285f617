"""Training one model (one fold, one seed): the epoch loop, model selection on val, checkpoints, curves.

A unit folder gets
    checkpoints/best.pt   the selected weights (EMA weights when EMA is on) with the full metadata
    checkpoints/<hash>[-<fold>]-seed<k>.pt   the same file (a hard link), named by the config's hash
    checkpoints/last.pt   the same plus the training state, rewritten every epoch, for --resume
    metrics_train.csv     per epoch: loss, acc, macro_f1, weighted_f1, uar (on the augmented
                          training batches as they were trained), lr, seconds
    metrics_val.csv       per epoch: the same on the validation rows, with the weights selected on
    plots/{loss,acc,wf1,uar}.png

With cross-modal distillation (`training.distill`) the model has branch heads and metrics_val.csv also
has, per head, head_<modality>_acc and head_<modality>_uar (the head alone on the val rows) and, per
student, head_<modality>_agreement: the share of val rows where its argmax equals the teacher's (a
checkpoint teacher's own teacher_acc and teacher_uar beside them).

Everything random depends only on (seed, epoch): the row order, dropout, modality dropout and
noise. A run resumed from last.pt therefore reproduces the uninterrupted run exactly.

Under torchrun (`mer.training.distributed`) every rank trains on its share of each batch through
DistributedDataParallel, metrics are computed on all ranks' rows, and rank 0 alone writes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
from tqdm import tqdm

from mer_builder.fsutil import atomic_write_text, csv_text
from mer_builder.labels import label_space

from ..config import config_hash
from ..features.store import FeatureStore
from ..inference import FUSION, predict_logits, predict_outputs
from ..metrics import HEADLINE, classification_metrics, cross_entropy, head_metrics
from ..modalities import modality_names
from ..models import FusionModel, reads_frames
from ..models.layers import ModalityEncoder, auxiliary_loss
from .augment import add_feature_noise, modality_presence
from .checkpoint import (
    TrainableModel,
    build_for_store,
    init_from_checkpoint,
    load_checkpoint,
    load_model_state,
    load_teacher,
    make_checkpoint,
    save_alias,
    save_checkpoint,
)
from .data import balanced_class_weights, batch_rows, epoch_order, feature_statistics, iterate, length_batches
from .distributed import SINGLE, DistContext, all_reduce_sum, gather_rows, shard_batch, sharded_predict, wrap_model
from .early_stopping import EarlyStopping
from .ema import EMA
from .losses import Objective, classifier_of, distill_teacher
from .plots import plot_history
from .precision import Precision
from .runtime import epoch_seed, seed_epoch, seed_everything
from .schedule import LRSchedule, build_optimizer
from .tracking import RunTracker

logger = logging.getLogger(__name__)
TRAIN_COLUMNS = ("epoch", "loss", *HEADLINE, "lr", "seconds")
VAL_COLUMNS = ("epoch", "loss", *HEADLINE, "seconds")


@dataclass
class UnitResult:
    unit_dir: Path
    best_checkpoint: Path
    best_epoch: int
    best_value: float | None
    epochs_run: int
    stopped_early: bool


def _row(epoch: int, loss: float, metrics: Mapping, seconds: float, **extra: float) -> dict:
    values = {"loss": loss, **{k: metrics[k] for k in HEADLINE}}
    return {"epoch": epoch, **{k: round(v, 6) for k, v in values.items()}, **extra, "seconds": round(seconds, 3)}


class Trainer:
    def __init__(
        self,
        config: Mapping,
        modalities: tuple[str, ...],
        train_store: FeatureStore,
        val_store: FeatureStore,
        unit_dir: Path,
        seed: int,
        fold: str,
        device: torch.device,
        quiet: bool = False,
        tracker: RunTracker | None = None,
        checkpoint_extras: Mapping | None = None,
        dist: DistContext = SINGLE,
    ):
        """`checkpoint_extras`: plain values stored in every checkpoint (e.g. the explanations' acoustic reference)."""
        self.config, self.training = config, config["training"]
        self.checkpoint_extras = dict(checkpoint_extras or {})
        self.modalities, self.train_store, self.val_store = modalities, train_store, val_store
        self.unit_dir, self.seed, self.fold, self.device = Path(unit_dir), seed, fold, device
        self.quiet, self.tracker, self.dist = quiet or not dist.is_main, tracker, dist
        self.best_path = self.unit_dir / "checkpoints" / "best.pt"
        self.last_path = self.unit_dir / "checkpoints" / "last.pt"
        self.config_hash = config_hash(config)
        fold_part = "" if fold == "pooled" else f"-{fold}"
        self.alias_path = self.unit_dir / "checkpoints" / f"{self.config_hash}{fold_part}-seed{seed}.pt"

        self.labels = label_space(config["data"]["label_type"]).classes  # logit order, recorded in checkpoints
        seed_everything(seed, self.training["deterministic"])
        self.raw_inputs = getattr(train_store, "kind", "features") != "features"  # fine-tuning on raw inputs
        self.model = build_for_store(config, modalities, train_store, len(self.labels)).to(device)
        self.forward_model = wrap_model(self.model, dist, device, partly_used=self.raw_inputs)
        self.frames = reads_frames(self.model)  # modalities whose stored frames the model reads
        widths = {**train_store.dims, **{m: getattr(train_store, "frame_dims", {})[m] for m in self.frames}}
        self.dims = {m: widths[m] for m in modalities} if isinstance(self.model, FusionModel) else dict(self.model.dims)
        self.accumulate = self.training["grad_accum_steps"]
        self.steps_per_epoch = -(-len(self._epoch_batches(1)) // self.accumulate)
        self.stopper = EarlyStopping(
            self.training["early_stopping"]["metric"],
            self.training["early_stopping"]["patience"],
            self.training["early_stopping"]["min_delta"],
        )
        self.optimizer = build_optimizer(self.model, self.training)
        self.schedule = LRSchedule(self.training, self.steps_per_epoch, self.stopper.maximize)
        self.ema = EMA(self.model, self.training["ema_decay"]) if self.training["ema_decay"] else None
        self.precision = Precision(self.training["amp"], device)
        weights = None
        if self.training["class_weights"] == "balanced":
            weights = balanced_class_weights(train_store.labels, len(self.labels)).to(device)
        self.objective = Objective(self.training, len(self.labels), weights).to(device)
        self.epoch, self.step, self.stopped_early = 0, 0, False
        self.history: dict[str, list[dict]] = {"train": [], "val": []}
        self.noise_scale: dict[str, torch.Tensor] = {}
        self._setup_distillation()

    def _setup_distillation(self) -> None:
        """The teacher (a head of this model, or a frozen checkpoint), the students, and the val columns."""
        teacher = distill_teacher(self.training["distill"])
        self.heads = self.model.head_modalities if isinstance(self.model, FusionModel) else ()
        self.students = modality_names(self.training["distill"]["students"]) if teacher else ()
        self.teacher_model: FusionModel | None = None
        self.teacher_head = teacher[1] if teacher and teacher[0] == "modality" else None
        self.read_modalities = self.modalities
        if teacher and teacher[0] == "ckpt":
            self.teacher_model = load_teacher(teacher[1], list(self.labels), self.train_store, self.device)
            extra = tuple(m for m in self.teacher_model.modalities if m not in self.modalities)
            self.read_modalities = (*self.modalities, *extra)
        self._val_teacher: np.ndarray | None = None  # a checkpoint teacher's val logits (it never changes)
        columns = [f"head_{m}_{k}" for m in self.heads for k in ("acc", "uar", "agreement")]
        columns = [c for c in columns if not (c.endswith("agreement") and c.split("_")[1] not in self.students)]
        if self.teacher_model is not None:
            columns += ["teacher_acc", "teacher_uar"]
        self.head_columns = tuple(columns)
        self.val_columns = (*VAL_COLUMNS[:-1], *columns, VAL_COLUMNS[-1])

    def _teacher_logits(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor | None:
        if self.teacher_model is None:
            return None
        with torch.no_grad():
            return self.teacher_model({m: features[m] for m in self.teacher_model.modalities}).float()

    # -- state -----------------------------------------------------------------------------------
    def _fit_statistics(self, into_encoders: bool) -> None:
        """Train-set mean/std per feature: loaded into the encoders chosen by `model.standardize`, and
        kept as the scale of the feature noise for every modality."""
        letters = self.config["model"]["standardize"]
        chosen = [m for m in modality_names(letters) if m in self.modalities] if letters and into_encoders else []
        if self.raw_inputs or (not chosen and not self.training["feature_noise"]):
            return  # fine-tuned encoders end in LayerNorm'd pooled vectors: nothing to standardise
        statistics = feature_statistics(self.train_store, self.modalities, quiet=self.quiet, frames=self.frames)
        for m, (mean, std) in statistics.items():
            self.noise_scale[f"{m}_frames" if m in self.frames else m] = std.to(self.device)
            if m in chosen:
                encoder = cast(ModalityEncoder, cast(FusionModel, self.model).encoders[m])
                encoder.set_statistics(mean.to(self.device), std.to(self.device))

    def _checkpoint(self, model_state_from: TrainableModel, val_metrics: Mapping, with_state: bool) -> dict:
        extra = {
            **self.checkpoint_extras,
            "fold": self.fold,
            "seed": self.seed,
            "config_hash": self.config_hash,
            "epoch": self.stopper.best_epoch if not with_state else self.epoch,
            "val_metrics": {k: val_metrics[k] for k in ("loss", *HEADLINE, *self.head_columns)},
        }
        if with_state:
            extra["train_state"] = {
                "epoch": self.epoch,
                "step": self.step,
                "stopped_early": self.stopped_early,
                "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(),
                "early_stopping": self.stopper.state_dict(),
                "ema": self.ema.state_dict() if self.ema else None,
                "objective": self.objective.training_state(),
                "precision": self.precision.state_dict(),
                "history": self.history,
            }
        return make_checkpoint(
            model_state_from, self.config, self.dims, self.labels, self.train_store.feature_config, **extra
        )

    def _restore(self) -> None:
        checkpoint = load_checkpoint(self.last_path)
        state = checkpoint.get("train_state")
        if state is None:
            raise ValueError(f"{self.last_path}: has no training state to resume from")
        load_model_state(self.model, checkpoint["model_state"], str(self.last_path))
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.stopper.load_state_dict(state["early_stopping"])
        if self.ema and state["ema"]:
            self.ema.load_state_dict(state["ema"])
        self.objective.load_training_state(state.get("objective", {}))
        self.precision.load_state_dict(state.get("precision", {}))
        self.epoch, self.step, self.stopped_early = state["epoch"], state["step"], state["stopped_early"]
        self.history = {k: list(v) for k, v in state["history"].items()}

    @property
    def finished(self) -> bool:
        return self.stopped_early or self.epoch >= self.training["epochs"]

    # -- loop ------------------------------------------------------------------------------------
    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        order = epoch_order(len(self.train_store), self.seed, epoch)
        lengths = getattr(self.train_store, "lengths", None)
        if self.training["length_bucketing"] and lengths is not None:
            return length_batches(order, lengths, self.training["batch_size"], self.seed, epoch)
        return batch_rows(order, self.training["batch_size"])

    def _train_epoch(self) -> dict:
        started = time.perf_counter()
        # torch, numpy and random (encoders draw from all of them); each rank its own dropout and noise
        seed_epoch(epoch_seed(self.seed, self.epoch) + self.dist.rank)
        self.model.train()
        shares = [shard_batch(rows, self.dist) for rows in self._epoch_batches(self.epoch)]
        batches = [rows for rows, _ in shares]
        sigma, p_drop = self.training["feature_noise"], self.training["modality_dropout"]
        total_loss, labels_seen, predictions, lr = 0.0, [], [], self.schedule.lr_at(self.step)
        embedding: list[torch.Tensor] = []
        hook = (
            classifier_of(self.model).register_forward_pre_hook(lambda _, args: embedding.append(args[0]))
            if self.objective.needs_embedding
            else None
        )
        progress = tqdm(total=len(batches), desc=f"{self.fold} seed {self.seed} epoch {self.epoch}", disable=self.quiet)
        crop_seed = (self.seed, self.epoch) if self.raw_inputs else None
        self.optimizer.zero_grad(set_to_none=True)
        for index, (features, labels) in enumerate(
            iterate(self.train_store, batches, self.read_modalities, self.device, crop_seed, self.frames)
        ):
            teacher_logits = self._teacher_logits(features)
            features = {k: v for k, v in features.items() if k in self.modalities} if self.teacher_model else features
            group_end = min(len(batches), (index // self.accumulate + 1) * self.accumulate)
            group_size = group_end - (index // self.accumulate) * self.accumulate
            lr = self.schedule.apply(self.optimizer, self.step)
            present = modality_presence(len(labels), len(self.modalities), p_drop, self.device)
            embedding.clear()
            with self.precision.autocast():
                logits = self.forward_model(add_feature_noise(features, self.noise_scale, sigma), present)
                heads = getattr(self.model, "branch_logits", None)
                loss = self.objective(
                    logits.float(), labels, embedding[0] if embedding else None, heads, teacher_logits
                )
                loss = loss + auxiliary_loss(self.model)
            self.precision.backward(loss / group_size)
            if index + 1 == group_end:
                self.precision.step(self.optimizer, self.model, self.training["grad_clip"])
                self.optimizer.zero_grad(set_to_none=True)
                if self.ema:
                    self.ema.update(self.model)
                self.step += 1
            real = shares[index][1]
            total_loss += float(loss.item()) * int(real.sum())
            labels_seen.append(labels.cpu().numpy()[real])
            predictions.append(logits.argmax(1).detach().cpu().numpy()[real])
            progress.set_postfix(loss=f"{loss.item():.3f}")
            progress.update()
        progress.close()
        if hook is not None:
            hook.remove()
        y_true = gather_rows(np.concatenate(labels_seen), self.dist)
        y_pred = gather_rows(np.concatenate(predictions), self.dist)
        metrics = classification_metrics(y_true, y_pred, self.labels)
        total_loss = all_reduce_sum(total_loss, self.dist)
        return _row(self.epoch, total_loss / len(y_true), metrics, time.perf_counter() - started, lr=lr)

    def _val_outputs(self) -> dict[str, np.ndarray]:
        """The val logits of the fused output and of every branch head (one pass, rows split over ranks)."""
        names = (FUSION, *self.heads)
        size = self.training["eval_batch_size"]

        def predict(rows: FeatureStore) -> np.ndarray:
            out = predict_outputs(self.model, rows, size, self.device)
            # a rank's share may be empty: then only an empty FUSION array comes back
            return np.concatenate([out.get(n, out[FUSION]) for n in names], axis=1)

        stacked = sharded_predict(predict, self.val_store, self.dist)
        return dict(zip(names, np.split(stacked, len(names), axis=1), strict=True))

    def _head_metrics(self, outputs: Mapping[str, np.ndarray], labels: np.ndarray) -> dict[str, float]:
        """Each branch head's own val acc and UAR, and each student's agreement with the teacher."""
        if not self.heads:
            return {}
        extra: dict[str, float] = {}
        if self.teacher_model is not None:
            if self._val_teacher is None:
                model, size = self.teacher_model, self.training["eval_batch_size"]
                self._val_teacher = sharded_predict(
                    lambda rows: predict_logits(model, rows, size, self.device), self.val_store, self.dist
                )
            teacher = self._val_teacher.argmax(1)
            found = classification_metrics(labels, teacher, self.labels)
            extra.update(teacher_acc=found["acc"], teacher_uar=found["uar"])
        else:
            teacher = outputs[cast(str, self.teacher_head)].argmax(1)
        heads = head_metrics({m: outputs[m] for m in self.heads}, labels, self.labels, teacher, self.students)
        for m, found in heads.items():
            extra.update({f"head_{m}_{k}": found[k] for k in ("acc", "uar", "agreement") if k in found})
        return {k: round(v, 6) for k, v in extra.items()}

    def _validate(self) -> tuple[dict, dict]:
        started = time.perf_counter()
        with self.ema.applied(self.model) if self.ema else contextlib.nullcontext():
            outputs = self._val_outputs()
            logits = outputs[FUSION]
            labels = self.val_store.labels
            metrics = classification_metrics(labels, logits.argmax(1), self.labels)
            metrics["loss"] = cross_entropy(logits, labels)
            head_metrics = self._head_metrics(outputs, labels)
            metrics.update(head_metrics)
            improved = self.stopper.update(self.epoch, metrics)
            if improved and self.dist.is_main:
                save_checkpoint(self.best_path, self._checkpoint(self.model, metrics, with_state=False))
                save_alias(self.best_path, self.alias_path)
        return _row(self.epoch, metrics["loss"], metrics, time.perf_counter() - started, **head_metrics), metrics

    def _write_history(self) -> None:
        atomic_write_text(self.unit_dir / "metrics_train.csv", csv_text(self.history["train"], TRAIN_COLUMNS))
        atomic_write_text(self.unit_dir / "metrics_val.csv", csv_text(self.history["val"], self.val_columns))

    def fit(self, resume: bool = False) -> UnitResult:
        """Train until the epoch budget or early stopping; with `resume`, continue from last.pt if there is one."""
        if self.dist.is_main:
            self.unit_dir.mkdir(parents=True, exist_ok=True)
        resuming = resume and self.last_path.is_file()
        if resuming:
            self._restore()
            logger.info("[%s seed %s] resumed after epoch %d from %s", self.fold, self.seed, self.epoch, self.last_path)
        elif self.training["init_ckpt"]:
            logger.info(init_from_checkpoint(self.model, self.training["init_ckpt"]))
        if not self.finished:
            self._fit_statistics(into_encoders=not resuming)  # a resumed model already holds its statistics
        while not self.finished:
            self.epoch += 1
            train_row = self._train_epoch()
            val_row, val_metrics = self._validate()
            self.schedule.epoch_end(val_metrics[self.stopper.key])
            self.history["train"].append(train_row)
            self.history["val"].append(val_row)
            self.stopped_early = self.stopper.should_stop
            if self.dist.is_main:
                save_checkpoint(self.last_path, self._checkpoint(self.model, val_metrics, with_state=True))
                self._write_history()
            if self.tracker is not None:
                self.tracker.epoch(self.epoch, train_row, val_row)
            marker = " *" if self.stopper.best_epoch == self.epoch else ""
            logger.info(
                f"[{self.fold} seed {self.seed}] epoch {self.epoch:3d}  train loss {train_row['loss']:.4f}  "
                f"val loss {val_row['loss']:.4f} acc {val_row['acc']:.3f} wF1 {val_row['weighted_f1']:.3f} "
                f"UAR {val_row['uar']:.3f}  ({train_row['seconds']:.1f}s){marker}"
            )
            if self.stopped_early:
                logger.info(
                    f"[{self.fold} seed {self.seed}] early stop: val {self.stopper.metric} did not improve for "
                    f"{self.stopper.bad_epochs} epochs (best {self.stopper.best:.4f}, epoch {self.stopper.best_epoch})"
                )
        if self.dist.is_main:
            plot_history(self.history["train"], self.history["val"], self.unit_dir / "plots", self.stopper.best_epoch)
        return UnitResult(
            self.unit_dir,
            self.best_path,
            self.stopper.best_epoch,
            self.stopper.best,
            self.epoch,
            self.stopped_early,
        )
