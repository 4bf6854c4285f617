"""Explanations of single predictions, built only from measurements on the model and the recording.

For the predicted class c with probability p:

* modalities: the fusion gate's weight on each modality (GFL in flexible_at, the three pair gates of
  gated_avt; models without gates report none), and occlusion: p again with that modality masked
  out (as a missing modality is masked in prediction). A modality's share is its drop in p over the
  sum of the drops that are positive.
* words: the signed effect of each word of the transcript on p. For feature-vector models it is
  leave-one-word-out: p minus p with the word removed from the transcript (the text features
  rebuilt from the shorter transcript, everything else unchanged), so a positive effect means the
  word supported c. A text path that can be differentiated (a fine-tuned text encoder) is scored
  by integrated gradients instead (`word_attributions`).
* cues: `acoustics.acoustic_cues` of the recording beside the checkpoint's neutral reference
  (`reference`): the deviation from the neutral median, and whether the value lies inside the
  10th-90th percentile band of neutral speech.
* sentence: a few clauses filled in from the numbers above, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import torch

from .acoustics import CUES, acoustic_cues
from .reference import REFERENCE_CLASS

if TYPE_CHECKING:
    from ..features.text import Turn

MAX_WORDS = 128  # leave-one-word-out scores at most this many words (one forward pass per word)
WORD_EFFECT_FLOOR = 0.01  # words that move the probability less than this are not named in the sentence
SENTENCE_WORDS = 3
MODALITY_NAMES = {"audio": "audio", "text": "words", "video": "face"}


@dataclass(frozen=True)
class ModalityContribution:
    modality: str
    gate: float | None  # the fusion gates' weight on this modality (shares summing to 1), None without gates
    probability_without: float | None  # the predicted class's probability with this modality masked
    drop: float | None  # probability - probability_without
    share: float | None  # this modality's part of the positive drops


@dataclass(frozen=True)
class WordEffect:
    index: int  # position in the transcript's words
    word: str
    effect: float  # change of the predicted class's probability the word is responsible for (+: supports it)


@dataclass(frozen=True)
class CueReading:
    cue: str
    unit: str
    value: float | None
    neutral: float | None = None  # the median of the training set's neutral class
    deviation: float | None = None  # value - neutral
    typical: bool | None = None  # inside the neutral class's 10th-90th percentile band


@dataclass(frozen=True)
class Explanation:
    label: str
    probability: float
    modalities: tuple[ModalityContribution, ...]
    words: tuple[WordEffect, ...]
    word_method: str | None  # "leave-one-word-out" | "integrated-gradients" | None (no transcript)
    cues: tuple[CueReading, ...]
    reference: str | None  # what the cues are compared with, None when the checkpoint has no reference
    sentence: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def top_words(self, k: int = SENTENCE_WORDS, sign: int = 1) -> list[WordEffect]:
        """The k words that most supported (sign=1) or most opposed (sign=-1) the prediction."""
        chosen = [w for w in self.words if sign * w.effect >= WORD_EFFECT_FLOOR]
        return sorted(chosen, key=lambda w: -sign * w.effect)[:k]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("modalities", "words", "cues", "notes"):
            data[key] = list(data[key])
        return data


class WordAttributor(Protocol):
    """Scores every word of a transcript: the signed effect on the predicted class's probability."""

    method: str

    def __call__(self, words: Sequence[str], target: int) -> list[float]: ...


@dataclass
class ExplainInput:
    """One recording as the predictor saw it: the whole-file features, waveform and transcript."""

    waveform: np.ndarray
    features: dict[str, np.ndarray | None]
    text: str | None
    speaker: str | None = None
    context: tuple[Turn, ...] = ()


class LeaveOneWordOut:
    """Word effects of a feature-vector model: the text features rebuilt without each word in turn."""

    method = "leave-one-word-out"

    def __init__(self, predictor: Any, item: ExplainInput):
        self.predictor, self.item = predictor, item

    def __call__(self, words: Sequence[str], target: int) -> list[float]:
        variants = [" ".join([*words[:i], *words[i + 1 :]]) for i in range(len(words))]
        pipeline, item = self.predictor.pipeline, self.item
        filled = [i for i, v in enumerate(variants) if v]
        vectors = pipeline.text_features(
            [variants[i] for i in filled], [item.speaker] * len(filled), [item.context] * len(filled)
        )
        text: list[np.ndarray | None] = [None] * len(variants)  # a one-word transcript without its word: no text
        for i, vector in zip(filled, vectors, strict=True):
            text[i] = vector
        rows = {m: [item.features[m]] * len(variants) for m in self.predictor.modalities if m != "text"}
        rows["text"] = text
        base = self.predictor.class_probabilities({m: [item.features[m]] for m in self.predictor.modalities})[0, target]
        return [float(base - p) for p in self.predictor.class_probabilities(rows)[:, target]]


class EncoderGradients:
    """Word effects of a fine-tuned text encoder: integrated gradients (`word_attributions`) over its token
    embeddings, through the encoder, its pooling and the fusion head, the other modalities held fixed.

    The transcript is tokenised exactly as in prediction (speaker prefix, context as the second segment);
    only the tokens of the transcript's words are attributed and replaced in the baseline, so the speaker
    prefix, the context and the special tokens stay as they were."""

    method = "integrated-gradients"

    def __init__(self, predictor: Any, item: ExplainInput):
        self.predictor, self.item = predictor, item

    @staticmethod
    def applies(predictor: Any) -> bool:
        """A fine-tuned (not frozen) text encoder with a fast tokenizer (character offsets)."""
        pipeline = predictor.pipeline
        backbones = getattr(getattr(pipeline, "model", None), "backbones", {})
        return "text" in backbones and bool(getattr(getattr(pipeline, "tokenizer", None), "is_fast", False))

    def __call__(self, words: Sequence[str], target: int) -> list[float]:
        from ..features.text import format_turn

        pipeline, item = self.predictor.pipeline, self.item
        inputs, tokenizer, model = pipeline.text_inputs, pipeline.tokenizer, pipeline.model
        text = " ".join(words)
        recent = tuple(item.context)[-inputs.context_window :] if inputs.context_window else ()
        ((ids, types),) = inputs.tokenize(tokenizer, [text], [item.speaker], [recent])
        first = format_turn(text, item.speaker, inputs.include_speaker)
        word_index = _token_words(tokenizer, ids, first, len(first) - len(text), words)
        device = torch.device(self.predictor.device)
        fixed = {
            m: torch.from_numpy(np.asarray(v, np.float32))[None].to(device)
            for m, v in item.features.items()
            if m != "text" and v is not None and m in self.predictor.modalities
        }
        present = torch.tensor([[m == "text" or m in fixed for m in self.predictor.modalities]], device=device)
        types_row = torch.tensor([types], device=device)

        def forward(batch_ids: torch.Tensor) -> torch.Tensor:
            n = batch_ids.shape[0]
            tokens = {
                "text_ids": batch_ids,
                "text_mask": torch.ones_like(batch_ids),
                "text_types": types_row.expand(n, -1),
            }
            text_vector = model.encode("text", tokens)
            vectors = {  # a missing modality: zeros, masked (as in prediction)
                m: text_vector
                if m == "text"
                else fixed[m].expand(n, -1)
                if m in fixed
                else text_vector.new_zeros(n, pipeline.dims[m])
                for m in self.predictor.modalities
            }
            mask = None if bool(present.all()) else present.expand(n, -1)
            return torch.softmax(model.head(vectors, mask).float(), dim=-1)

        embeddings = model.backbones["text"].model.get_input_embeddings()
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        with torch.enable_grad():
            effects = word_attributions(
                embeddings, forward, torch.tensor([ids], device=device), word_index, target, pad
            )
        return [*effects, *[0.0] * (len(words) - len(effects))]  # words cut off by the length cap have no tokens


def _token_words(tokenizer: Any, ids: Sequence[int], first: str, offset: int, words: Sequence[str]) -> list[int | None]:
    """The transcript word of each token of `ids` (None for special, speaker-prefix and context tokens).

    `first` is the first segment (the transcript after `offset` characters of speaker prefix); its tokens
    are found in `ids` as the run that the first segment tokenises to on its own."""
    encoded = tokenizer(first, add_special_tokens=False, return_offsets_mapping=True)
    own, spans = encoded["input_ids"], encoded["offset_mapping"]
    starts, position = [], offset
    for word in words:
        starts.append(position)
        position += len(word) + 1
    out: list[int | None] = [None] * len(ids)
    lead = next((i for i in range(len(ids)) if ids[i : i + len(own)] == own[: len(ids) - i]), None)
    if lead is None:
        return out
    for k, (start, end) in enumerate(spans[: len(ids) - lead]):
        if end > start and start >= offset:
            out[lead + k] = max(i for i, s in enumerate(starts) if s <= start)
    return out


def word_attributions(
    embeddings: torch.nn.Module,
    forward: Callable[[torch.Tensor], torch.Tensor],
    input_ids: torch.Tensor,
    word_index: Sequence[int | None],
    target: int,
    baseline_id: int,
    steps: int = 32,
) -> list[float]:
    """Integrated gradients (captum) of the target class's probability with respect to the token embeddings,
    summed over each token's embedding and then over the tokens of each word.

    `forward(input_ids) -> probabilities (1, C)` runs the model; `embeddings` is the module whose output
    is attributed (the encoder's embedding layer); `word_index[t]` is the word of token t (None for
    special tokens); the baseline replaces every token but the special ones by `baseline_id` (the pad
    token). The attributions of all words sum to p(input) - p(baseline) (completeness).
    """
    from captum.attr import LayerIntegratedGradients

    special = torch.tensor([w is None for w in word_index])
    baseline = torch.where(special, input_ids[0], torch.full_like(input_ids[0], baseline_id))[None]
    explainer = LayerIntegratedGradients(forward, embeddings)
    attributions = explainer.attribute(input_ids, baselines=baseline, target=target, n_steps=steps)
    per_token = attributions.sum(dim=-1)[0].detach().cpu().numpy()
    words = max((w for w in word_index if w is not None), default=-1) + 1
    totals = np.zeros(words)
    for token, word in enumerate(word_index):
        if word is not None:
            totals[word] += per_token[token]
    return totals.tolist()


def gate_shares(model: torch.nn.Module, features: Mapping[str, torch.Tensor]) -> dict[str, float] | None:
    """The fusion gates' mean weight per modality for one input (None for models without gates).

    A GatedFusion layer mixes h = z * h1 + (1 - z) * h2: its first modality gets mean(z), the second
    1 - mean(z). With several pair gates (gated_avt) each modality's weights are summed over the
    pairs it is in and divided by the number of pairs, so the shares sum to 1."""
    from ..models import FlexibleAT, GatedAVT
    from ..models.gated_avt import PAIRS
    from ..models.gfl import GatedFusion

    head = model if isinstance(model, FlexibleAT | GatedAVT) else getattr(model, "head", None)  # e2e: a wrapped head
    pairs: list[tuple[str, str, GatedFusion]]
    if isinstance(head, FlexibleAT) and head.fusion is not None:
        first, second = head.modalities
        pairs = [(first, second, head.fusion)]
    elif isinstance(head, GatedAVT):
        pairs = [(a, b, cast(GatedFusion, head.pairs[f"{a}_{b}"])) for a, b in PAIRS]
    else:
        return None
    captured: list[torch.Tensor] = []
    hooks = [fusion.gate.register_forward_hook(lambda _m, _i, out: captured.append(out)) for *_, fusion in pairs]
    try:
        with torch.inference_mode():
            model(features, None)
    finally:
        for hook in hooks:
            hook.remove()
    shares = dict.fromkeys(head.modalities, 0.0)
    for (first, second, fusion), logits in zip(pairs, captured, strict=True):
        z = torch.sigmoid(logits) if fusion.gate_kind == "sigmoid" else torch.softmax(logits, dim=-1)
        weight = float(z.mean()) if fusion.gate_kind == "sigmoid" else float(z.sum() / z.shape[-1])
        shares[first] += weight / len(pairs)
        shares[second] += (1 - weight) / len(pairs)
    return shares


class Explainer:
    """Explains predictions of a `Predictor` (its model, feature pipeline and checkpoint reference)."""

    def __init__(self, predictor: Any):
        self.predictor = predictor
        self.reference = predictor.acoustic_reference

    def explain(self, item: ExplainInput, attributor: WordAttributor | None = None) -> Explanation:
        predictor = self.predictor
        present = [m for m in predictor.modalities if item.features.get(m) is not None]
        probabilities = predictor.class_probabilities({m: [item.features.get(m)] for m in predictor.modalities})[0]
        target = int(probabilities.argmax())
        label, probability = predictor.labels[target], float(probabilities[target])
        notes: list[str] = []
        modalities = self._modalities(item, present, target, probability, notes)
        words: list[WordEffect] = []
        method = None
        if item.text and "text" in present:
            tokens = item.text.split()
            if len(tokens) > MAX_WORDS:
                notes.append(f"only the first {MAX_WORDS} of {len(tokens)} words were scored")
            tokens = tokens[:MAX_WORDS]
            if attributor is None:
                chosen = EncoderGradients if EncoderGradients.applies(predictor) else LeaveOneWordOut
                attributor = chosen(predictor, item)
            method = attributor.method
            effects = attributor(tokens, target)
            words = [WordEffect(i, w, round(e, 6)) for i, (w, e) in enumerate(zip(tokens, effects, strict=True))]
        cues = self._cues(item.waveform, predictor.pipeline.config.sample_rate)
        reference = None
        if self.reference:
            reference = f"the {REFERENCE_CLASS} class of the training set ({self.reference['files']} utterances)"
        else:
            notes.append("the checkpoint holds no neutral reference: cues are given without comparison")
        explanation = Explanation(label, probability, tuple(modalities), tuple(words), method, cues, reference, "")
        return replace(explanation, sentence=describe(explanation, predictor.modalities), notes=tuple(notes))

    def _modalities(
        self, item: ExplainInput, present: list[str], target: int, probability: float, notes: list[str]
    ) -> list[ModalityContribution]:
        predictor = self.predictor
        if len(predictor.modalities) == 1:
            return [ModalityContribution(present[0], None, None, None, 1.0)] if present else []
        gates = None
        if len(present) == len(predictor.modalities):
            device = torch.device(predictor.device)
            tensors = {m: torch.from_numpy(np.asarray(item.features[m], np.float32))[None].to(device) for m in present}
            gates = gate_shares(predictor.model, tensors)
        else:
            notes.append("gates are reported only when every modality is present")
        if predictor.modality_dropout <= 0 and len(present) > 1:
            notes.append("the model was trained without modality dropout: occlusion masks inputs it never lacked")
        masked = {
            m: [None if m == other else item.features.get(other) for other in predictor.modalities] for m in present
        }
        rows = {other: [masked[m][k] for m in present] for k, other in enumerate(predictor.modalities)}
        drops = {}  # a single modality present has nothing to be compared with: its share is 1
        if len(present) > 1:
            without = predictor.class_probabilities(rows)[:, target]
            drops = {m: probability - float(p) for m, p in zip(present, without, strict=True)}
        positive = sum(max(d, 0.0) for d in drops.values())
        out = []
        for m in predictor.modalities:
            if m not in present:
                continue
            drop = drops.get(m)
            share = (max(drop, 0.0) / positive if positive > 0 else None) if drop is not None else 1.0
            out.append(
                ModalityContribution(
                    m,
                    None if gates is None else round(gates[m], 6),
                    None if drop is None else round(probability - drop, 6),
                    None if drop is None else round(drop, 6),
                    None if share is None else round(share, 6),
                )
            )
        return out

    def _cues(self, waveform: np.ndarray, sample_rate: int) -> tuple[CueReading, ...]:
        measured = acoustic_cues(waveform, sample_rate)
        stats = (self.reference or {}).get("cues", {})
        readings = []
        for name, cue in CUES.items():
            value = measured[name]
            if value is None or name not in stats:
                readings.append(CueReading(name, cue.unit, None if value is None else round(value, 3)))
                continue
            s = stats[name]
            readings.append(
                CueReading(
                    name,
                    cue.unit,
                    round(value, 3),
                    s["p50"],
                    round(value - s["p50"], 3),
                    bool(s["p10"] <= value <= s["p90"]),
                )
            )
        return tuple(readings)


def _percent(share: float) -> str:
    return f"{100 * share:.0f}%"


def describe(explanation: Explanation, modalities: Sequence[str]) -> str:
    """The sentence: the prediction, then what the modalities, the words and the cues measured, in that order."""
    e = explanation
    parts = [f"Predicted {e.label} (p = {e.probability:.2f})."]
    measured = [m for m in e.modalities if m.drop is not None]
    drops = {m.modality: m.drop for m in measured if m.drop is not None}
    if len(measured) > 1:
        ranked = sorted(measured, key=lambda m: -drops[m.modality])
        top = ranked[0]
        if drops[top.modality] <= 0:
            parts.append("Masking any one modality did not lower it, so no single modality was needed.")
        else:
            others = "; ".join(
                f"without the {MODALITY_NAMES[m.modality]}, {m.probability_without:.2f}" for m in ranked[1:]
            )
            pronoun = "them" if top.modality == "text" else "it"
            parts.append(
                f"The {MODALITY_NAMES[top.modality]} carried most of it: without {pronoun} the probability falls to "
                f"{top.probability_without:.2f} ({others})."
            )
        gated = [(m.modality, m.gate) for m in measured if m.gate is not None]
        if len(gated) == len(measured):
            gates = ", ".join(f"{MODALITY_NAMES[modality]} {_percent(gate)}" for modality, gate in gated)
            parts.append(f"The fusion gates weighted {gates}.")
    elif len(modalities) > 1 and len(e.modalities) == 1:
        parts.append(f"Only the {MODALITY_NAMES[e.modalities[0].modality]} was available.")
    supporting, opposing = e.top_words(), e.top_words(1, sign=-1)
    if supporting:
        named = ", ".join(f"'{w.word}' ({w.effect:+.2f})" for w in supporting)
        parts.append(f"Words that raised it: {named}.")
    if opposing:
        parts.append(f"Against it: '{opposing[0].word}' ({opposing[0].effect:+.2f}).")
    if e.words and not supporting and not opposing:
        parts.append(f"No single word moved it by {WORD_EFFECT_FLOOR} or more.")
    parts.append(_cue_clause(e))
    return " ".join(p for p in parts if p)


def _cue_clause(e: Explanation) -> str:
    readings = [c for c in e.cues if c.value is not None]
    if not readings:
        return "No voiced speech was found for acoustic cues."
    if e.reference is None:
        shown = ", ".join(f"{CUES[c.cue].label} {c.value:.1f} {c.unit}" for c in readings)
        return f"Acoustic cues: {shown} (no neutral reference to compare with)."
    outside = [c for c in readings if c.typical is False]
    if not outside:
        names = ", ".join(CUES[c.cue].label for c in readings)
        return f"The {names} were all within the usual range of neutral speech in the training set."
    described = []
    for c in outside:
        cue, deviation = CUES[c.cue], c.deviation or 0.0  # a cue outside the band has a deviation
        described.append((cue.up if deviation > 0 else cue.down).format(x=f"{abs(deviation):.1f}"))
    typical = [CUES[c.cue].label for c in readings if c.typical]
    within = f" ({', '.join(typical)} within the usual range)" if typical else ""
    return f"Compared with neutral speech in the training set: {'; '.join(described)}{within}."
