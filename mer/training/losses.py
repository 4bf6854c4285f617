"""The training objective: a classification loss from the registry (`training.loss`), plus an optional
contrastive term.

Every classification loss takes the class weights chosen by `training.class_weights` (or None) and
honours `training.label_smoothing`. `training.supcon_weight > 0` adds a supervised prototypical
contrastive loss on the fused embedding (the classifier's input), after the idea of SPCL for emotion
recognition in conversation: each sample is pulled towards the other samples of its class in the
batch and towards its class prototype, pushed from the rest. Prototypes are the means of the last
`queue_size` embeddings seen per class, so every class has an anchor even when a batch of 32 holds
none of its samples (MELD's fear and disgust are 2-3 % of the data).

Cross-modal distillation (`training.distill`) adds, for each student modality's own head,

    (1 - w) * L(student, labels) + w * T^2 * KL(softmax(teacher / T) || softmax(student / T))

where L is the registry's classification loss above (same class weights and smoothing), w the weight and
T the temperature; T^2 keeps the soft term's gradient on the scale of the hard one as T grows (Hinton et
al., 2015). The teacher's logits are detached: the student moves towards the teacher, never the reverse.
A teacher that is a modality of the same run has a head of its own, trained on the labels by L alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn
from torch.nn import functional as F

from ..modalities import modality_names
from ..registry import Registry

CKPT_TEACHER = "ckpt:"  # training.distill.teacher: ckpt:PATH names a checkpoint teacher
LOSSES: Registry[Callable[[Mapping, torch.Tensor | None], nn.Module]] = Registry("loss")


@LOSSES.register("cross_entropy", "cross-entropy (with training.class_weights and training.label_smoothing)")
def cross_entropy(training: Mapping, weights: torch.Tensor | None) -> nn.Module:
    return nn.CrossEntropyLoss(weight=weights, label_smoothing=training["label_smoothing"])


class FocalLoss(nn.Module):
    """Cross-entropy scaled by (1 - p_true)^gamma, so well-classified examples weigh less (gamma 0 = cross-entropy).

    With class weights the result is the weighted mean, as for `nn.CrossEntropyLoss`.
    """

    weight: torch.Tensor | None

    def __init__(self, gamma: float, weight: torch.Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.gamma, self.label_smoothing = gamma, label_smoothing
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        per_sample = nn.functional.cross_entropy(
            logits, target, weight=self.weight, reduction="none", label_smoothing=self.label_smoothing
        )
        p_true = torch.softmax(logits.float(), dim=-1).gather(1, target.unsqueeze(1)).squeeze(1)
        scaled = (1.0 - p_true).clamp_min(0.0) ** self.gamma * per_sample
        norm = self.weight[target].sum() if self.weight is not None else torch.tensor(float(len(target)))
        return scaled.sum() / norm.clamp_min(1e-12)


@LOSSES.register("focal", "focal loss: cross-entropy down-weighting easy examples by training.focal_gamma")
def focal(training: Mapping, weights: torch.Tensor | None) -> nn.Module:
    return FocalLoss(training["focal_gamma"], weights, training["label_smoothing"])


class PrototypeContrastive(nn.Module):
    """Supervised contrastive loss over a batch plus one prototype per class (see the module docstring)."""

    queue: torch.Tensor  # (classes, queue_size, dim) once the first batch has set the width
    filled: torch.Tensor
    cursor: torch.Tensor

    def __init__(self, num_classes: int, temperature: float, queue_size: int = 64):
        super().__init__()
        self.num_classes, self.temperature, self.queue_size = num_classes, temperature, queue_size
        self.register_buffer("queue", torch.zeros(0))
        self.register_buffer("filled", torch.zeros(num_classes, dtype=torch.long))
        self.register_buffer("cursor", torch.zeros(num_classes, dtype=torch.long))

    def _prototypes(self) -> tuple[torch.Tensor, torch.Tensor]:
        counts = self.filled.clamp_max(self.queue_size)
        slots = torch.arange(self.queue_size, device=self.queue.device)[None] < counts[:, None]
        sums = (self.queue * slots[..., None]).sum(1)
        return F.normalize(sums, dim=-1), counts > 0

    @torch.no_grad()
    def _remember(self, z: torch.Tensor, labels: torch.Tensor) -> None:
        for c in labels.unique().tolist():
            for vector in z[labels == c]:
                self.queue[c, self.cursor[c] % self.queue_size] = vector
                self.cursor[c] += 1
                self.filled[c] += 1

    def forward(self, embedding: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        z = F.normalize(embedding.float(), dim=-1)
        if self.queue.numel() == 0:
            self.queue = torch.zeros(self.num_classes, self.queue_size, z.shape[1], device=z.device)
        prototypes, known = self._prototypes()
        n = len(z)
        similarity = torch.cat([z @ z.T, z @ prototypes.T], dim=1) / self.temperature
        others = torch.ones_like(similarity, dtype=torch.bool)
        others[:, :n] &= ~torch.eye(n, dtype=torch.bool, device=z.device)
        others[:, n:] &= known[None]
        positive = torch.cat([labels[:, None] == labels[None], F.one_hot(labels, self.num_classes).bool()], 1) & others
        log_prob = similarity - torch.logsumexp(similarity.masked_fill(~others, float("-inf")), dim=1, keepdim=True)
        has_positive = positive.any(1)
        per_anchor = -(log_prob * positive).sum(1) / positive.sum(1).clamp_min(1)
        self._remember(z.detach(), labels)
        return per_anchor[has_positive].mean() if has_positive.any() else similarity.sum() * 0.0


def soft_target_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), averaged over the batch."""
    log_student = F.log_softmax(student.float() / temperature, dim=-1)
    log_teacher = F.log_softmax(teacher.detach().float() / temperature, dim=-1)
    return F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True) * temperature**2


def distill_teacher(distill: Mapping | None) -> tuple[str, str] | None:
    """("modality", name) or ("ckpt", path) for a validated `training.distill` section (or a checkpoint's
    copy of it); None: no distillation."""
    teacher = (distill or {}).get("teacher")
    if not teacher:
        return None
    if teacher.startswith(CKPT_TEACHER):
        return "ckpt", teacher.removeprefix(CKPT_TEACHER)
    return "modality", teacher


class Distillation(nn.Module):
    """The branch heads' losses (see the module docstring); the teacher is a head of the run (`teacher` names its
    modality) or a checkpoint, whose logits are passed in (`teacher` None)."""

    def __init__(self, distill: Mapping, classification: nn.Module):
        super().__init__()
        kind, name = distill_teacher(distill) or ("", "")
        self.classification, self.teacher = classification, name if kind == "modality" else None
        self.students = modality_names(distill["students"])
        self.temperature, self.weight = float(distill["temperature"]), float(distill["weight"])

    def forward(
        self, heads: Mapping[str, torch.Tensor], labels: torch.Tensor, teacher_logits: torch.Tensor | None = None
    ) -> torch.Tensor:
        loss = torch.zeros((), device=labels.device)
        if self.teacher is not None:
            teacher_logits = heads[self.teacher]
            loss = loss + self.classification(teacher_logits.float(), labels)
        if teacher_logits is None:
            raise ValueError("distillation needs the teacher's logits")
        for m in self.students:
            student = heads[m].float()
            hard = self.classification(student, labels)
            soft = soft_target_kl(student, teacher_logits, self.temperature)
            loss = loss + (1.0 - self.weight) * hard + self.weight * soft
        return loss


class Objective(nn.Module):
    """classification loss(logits, labels) [+ supcon_weight * contrastive(embedding, labels)]
    [+ the distillation losses of the branch heads]."""

    def __init__(self, training: Mapping, num_classes: int, weights: torch.Tensor | None = None):
        super().__init__()
        self.classification = LOSSES[training["loss"]](training, weights)
        self.supcon_weight = training["supcon_weight"]
        self.contrastive = (
            PrototypeContrastive(num_classes, training["supcon_temperature"]) if self.supcon_weight > 0 else None
        )
        distill = training.get("distill") or {}
        self.distillation = Distillation(distill, self.classification) if distill_teacher(distill) else None

    @property
    def needs_embedding(self) -> bool:
        return self.contrastive is not None

    def training_state(self) -> dict:
        """The prototype memory (for --resume), as plain tensors."""
        c = self.contrastive
        return {} if c is None else {"queue": c.queue.cpu(), "filled": c.filled.cpu(), "cursor": c.cursor.cpu()}

    def load_training_state(self, state: Mapping) -> None:
        if self.contrastive is not None and state:
            device = self.contrastive.filled.device
            self.contrastive.queue = state["queue"].to(device)
            self.contrastive.filled.copy_(state["filled"])
            self.contrastive.cursor.copy_(state["cursor"])

    def forward(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        embedding: torch.Tensor | None = None,
        heads: Mapping[str, torch.Tensor] | None = None,
        teacher_logits: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`heads`: the branch heads' logits (the model's `branch_logits`); `teacher_logits`: a checkpoint
        teacher's logits on the same batch."""
        loss = self.classification(logits, labels)
        if self.contrastive is not None:
            if embedding is None:
                raise ValueError("the contrastive loss needs the fused embedding")
            loss = loss + self.supcon_weight * self.contrastive(embedding, labels)
        if self.distillation is not None:
            if heads is None:
                raise ValueError("distillation needs the branch heads' logits")
            loss = loss + self.distillation(heads, labels, teacher_logits)
        return loss


def classifier_of(model: nn.Module) -> nn.Module:
    """The module whose input is the fused embedding: a fusion model's `head` (or `classifier`),
    looking through a fine-tuning model to the fusion model it wraps."""
    inner = getattr(model, "head", None)
    if isinstance(inner, nn.Module) and hasattr(inner, "modalities"):
        return classifier_of(inner)
    for name in ("head", "classifier"):
        module = getattr(model, name, None)
        if isinstance(module, nn.Module):
            return module
    raise ValueError(f"{type(model).__name__} has no `head` or `classifier` whose input is the fused embedding")
