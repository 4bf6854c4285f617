"""`Predictor`: a trained checkpoint and the feature pipeline it was trained on, run on media files.

    from mer import Predictor
    predictor = Predictor.from_checkpoint("outputs/run/seed1/checkpoints/best.pt")
    for p in predictor.predict(["clip.wav", "scene.mp4"], texts=["I can't believe it!", None]):
        print(p.path, p.label, p.probabilities, p.modalities) if p.ok else print(p.path, p.error)

The features are rebuilt from the checkpoint's `feature_config` with `FeaturePipeline`, the
code path that made the training features, so a file predicted here gets the numbers the same
utterance had in training. Missing modalities follow how the model was trained:

* no transcript: by default (`transcribe="auto"`) Whisper transcribes the file when the model
  reads text (`mer.transcription`; the packaged tiny.en runs offline), and with word timestamps
  each timeline window gets the words it covers. With `transcribe="never"` the text modality is
  masked out (the models route around it, as in modality dropout) when the model was trained
  with `training.modality_dropout > 0`; a model trained without it cannot do without text, so
  that is an error. A model without text ignores any.
* video: a video file's audio track is always used; its faces are used when the model takes
  video. An audio file, or a video without a face, gets the zero face vector that the training
  features gave clips without video or without a face.
* a checkpoint trained with cross-modal distillation (`training.distill`) has branch heads: when only
  one modality of an input is there (audio without a transcript) and that modality has a head, the
  head predicts instead of the fusion, also for a model trained without modality dropout. The result's
  `head` names it (None: the fused model predicted).

One bad file never stops the others: it comes back as a `Prediction` whose `error` says why.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import torch
from tqdm import tqdm

from mer_builder.audio import CONTAINER_SUFFIXES, AudioDecodeError, conform_samples
from mer_builder.errors import InputError

from ..explain.explainer import Explainer, ExplainInput, Explanation
from ..explain.reference import REFERENCE_KEY
from ..features.config import FeatureConfigError
from ..features.frames import pad_frames
from ..features.isolation import finite_or_error, isolated
from ..features.packaged import ModelNotAvailableError, is_packaged
from ..features.pipeline import FeaturePipeline
from ..features.text import Turn
from ..modalities import modality_names
from ..models import FusionModel, reads_frames
from ..training.checkpoint import CheckpointError, checkpoint_kind, load_checkpoint, model_from_checkpoint
from ..transcription import DEFAULT_WHISPER, TRANSCRIBE_MODES, Transcriber, Transcript, TranscriptionError, file_sha256

T = TypeVar("T")
AUDIO_ONLY_CONTAINERS = frozenset({".m4a", ".aac"})
VIDEO_SUFFIXES = CONTAINER_SUFFIXES - AUDIO_ONLY_CONTAINERS
BUFFERED_AUDIO_S = 600.0  # decoded audio held at once (besides a single longer file)
ENCODER_KINDS = ("audio", "text", "video", "face_detector")
SILENCE_PEAK = 1e-4  # -80 dBFS: a muted microphone or an empty track


class PredictionError(InputError, ValueError):
    """Prediction cannot run at all (checkpoint, features, a modality the model needs); the message says what to do."""


@dataclass(frozen=True)
class WindowPrediction:
    """One window of a long recording: its span in seconds and the model's output on it."""

    start_s: float
    end_s: float
    label: str
    probabilities: dict[str, float]
    transcript: str | None = None  # the words Whisper timed inside this window (machine transcripts only)


@dataclass(frozen=True)
class Prediction:
    """The result for one input file. `error` is None when it was predicted, else the reason it was not."""

    path: str
    label: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    modalities: tuple[str, ...] = ()
    duration_s: float | None = None
    transcript: str | None = None
    transcript_source: str | None = None  # "given" (texts=...) or "whisper"; None: no transcript
    timeline: tuple[WindowPrediction, ...] = ()
    notes: tuple[str, ...] = ()
    error: str | None = None
    explanation: Explanation | None = None  # from Predictor.explain
    head: str | None = None  # the branch head that predicted (e.g. "audio"); None: the fused model

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """Plain values; `head` only when a branch head predicted, so models without heads keep their output."""
        data = asdict(self)
        if self.head is None:
            del data["head"]
        data["modalities"], data["notes"], data["timeline"] = (
            list(self.modalities),
            list(self.notes),
            list(data["timeline"]),
        )
        data["explanation"] = None if self.explanation is None else self.explanation.to_dict()
        return data


@dataclass
class _Input:
    """One file on its way through: what was given, what was decoded, what it produced."""

    index: int
    path: Path
    text: str | None
    speaker: str | None
    context: tuple[Turn, ...]
    samples: np.ndarray | None = None  # an in-memory waveform given instead of a file
    sample_rate: int | None = None
    transcribe: bool = False
    transcript: Transcript | None = None
    waveform: np.ndarray | None = None
    spans: list[tuple[int, int]] = field(default_factory=list)
    used: list[str] = field(default_factory=list)  # text and video, once their features are in
    notes: list[str] = field(default_factory=list)
    error: str | None = None


class Predictor:
    """A checkpoint ready to predict: its model, its rebuilt feature pipeline, and what it can do without."""

    def __init__(
        self,
        checkpoint: Mapping,
        source: str = "checkpoint",
        device: str = "auto",
        batch_size: int = 16,
        encoders: Mapping[str, str] | None = None,
        quiet: bool = True,
        whisper: str = DEFAULT_WHISPER,
        language: str | None = None,
        transcript_cache: Path | str | None = None,
    ):
        """`encoders` points a pretrained part of the feature config at another copy of the same model
        ({"audio" | "text" | "video" | "face_detector": folder or hub id}), e.g. a folder on this machine.
        `whisper` and `language` choose the speech recogniser for files without a transcript (see
        `mer.transcription`); `transcript_cache` is the folder its transcripts are kept in."""
        if batch_size < 1:
            raise PredictionError(f"batch size must be at least 1, got {batch_size}")
        self.source, self.batch_size, self.quiet = source, batch_size, quiet
        self.labels: list[str] = list(checkpoint["labels"])
        self.modalities: tuple[str, ...] = tuple(checkpoint["modalities"])
        self.branch_heads: tuple[str, ...] = tuple(checkpoint.get("branch_heads") or ())
        students = (checkpoint.get("distill") or {}).get("students") or []
        self.distilled = set(modality_names(students)) if students else set()  # the heads taught by the teacher
        training = (checkpoint.get("config") or {}).get("training") or {}
        self.modality_dropout = float(training.get("modality_dropout") or 0.0)
        self.device = _device(device)
        if checkpoint_kind(checkpoint) == "finetune":  # the model's own encoders make the pooled vectors
            from ..finetune.pipeline import FinetunePipeline

            if encoders:
                raise PredictionError(
                    f"{source}: a fine-tuned checkpoint carries its encoders; --encoder does not apply"
                )
            model = _load_model(checkpoint, source).to(torch.device(self.device))
            self.pipeline = FinetunePipeline(checkpoint, model, self.device, batch_size)
            self.model = model.head
            self.max_audio_s: float | None = float(checkpoint["finetune"]["max_audio_s"])
        else:
            self.pipeline = _rebuild_pipeline(checkpoint, source, self.device, batch_size, encoders or {})
            self.model = model_from_checkpoint(checkpoint, source).to(torch.device(self.device))
            self.max_audio_s = None
        # a model over stored frames gets the frames the pipeline makes, as extraction stored them
        self.frames = reads_frames(self.model)
        unframed = [m for m in self.frames if m not in getattr(self.pipeline, "frame_dims", {})]
        if unframed:
            raise PredictionError(f"{source}: the model reads {unframed} frames but its feature config keeps none")
        self.transcriber = Transcriber(whisper, language, self.device, transcript_cache)
        self.acoustic_reference: dict | None = checkpoint.get(REFERENCE_KEY)
        self.checkpoint_info = {k: checkpoint.get(k) for k in ("fold", "seed", "epoch")}
        self.checkpoint_info["model"] = checkpoint["model_config"].get("name")

    @classmethod
    def from_checkpoint(
        cls,
        path: Path | str,
        device: str = "auto",
        batch_size: int = 16,
        encoders: Mapping[str, str] | None = None,
        quiet: bool = True,
        **transcription: Any,
    ) -> Predictor:
        """Load `checkpoints/best.pt` of a training run (weights-only: opening it runs no code).
        `transcription`: `whisper`, `language`, `transcript_cache`, as for the constructor."""
        try:
            checkpoint = load_checkpoint(path)
        except CheckpointError as exc:
            raise PredictionError(str(exc)) from None
        return cls(checkpoint, str(path), device, batch_size, encoders, quiet, **transcription)

    @property
    def can_skip_text(self) -> bool:
        """Whether a file without a transcript can still be predicted (no text input, trained to miss it, or
        the one other modality has a branch head of its own)."""
        others = tuple(m for m in self.modalities if m != "text")
        return (
            "text" not in self.modalities
            or (self.modality_dropout > 0 and len(self.modalities) > 1)
            or self.head_for(others) is not None
        )

    def head_for(self, present: Sequence[str]) -> str | None:
        """The branch head that predicts a row with these modalities present: the one modality's head when
        only one is there and it has a head; None (the fused model) otherwise."""
        return present[0] if len(present) == 1 and present[0] in self.branch_heads else None

    def _row_heads(self, features: Mapping[str, Sequence[np.ndarray | None]]) -> list[str | None]:
        n = len(next(iter(features.values())))
        return [self.head_for([m for m in self.modalities if features[m][r] is not None]) for r in range(n)]

    def encoder_names(self) -> list[tuple[str, str]]:
        """(modality, what makes its vector) for every modality the pipeline can compute."""
        if hasattr(self.pipeline, "specs"):  # fine-tuned: the model's own encoders
            return [(m, f"{spec.model} ({spec.mode}, {spec.pooling})") for m, spec in self.pipeline.specs.items()]
        config = self.pipeline.config
        names = []
        if config.audio:
            names.append(("audio", "+".join(getattr(p, "model", p.type) for p in config.audio)))
        if config.text is not None:
            names.append(("text", getattr(config.text.encoder, "model", config.text.encoder.type)))
        if config.video is not None:
            names.append(("video", config.video.encoder))
        return names

    @property
    def uses_text(self) -> bool:
        return "text" in self.modalities

    @property
    def context_window(self) -> int:
        text = self.pipeline.config.text
        return text.context_window if self.uses_text and text is not None else 0

    def predict(
        self,
        paths: Sequence[Path | str | np.ndarray],
        texts: Sequence[str | None] | None = None,
        speakers: Sequence[str | None] | None = None,
        contexts: Sequence[Sequence[Turn]] | None = None,
        window_s: float | None = None,
        hop_s: float | None = None,
        sample_rate: int | None = None,
        transcribe: str = "auto",
    ) -> list[Prediction]:
        """One `Prediction` per input, in order. An input is a media file's path, or a waveform as a numpy
        array ((n,) or (n, channels)) whose `sample_rate` must then be given; its result's `path` reads
        `<array i>`. `texts[i]` is the transcript of input i (None: none);
        `speakers` and `contexts` (earlier (speaker, text) turns, oldest first) matter when the
        model's features use them. With `window_s`, each file is also cut into windows of that
        length every `hop_s` seconds (default: `window_s`) and `timeline` holds one prediction per
        window; the file's probabilities are then the mean over its windows.

        `transcribe`: "auto" runs Whisper on the inputs without a transcript when the model reads
        text; "always" on every input (then `texts` must not be given); "never" not at all."""
        return self._run(paths, texts, speakers, contexts, window_s, hop_s, sample_rate, transcribe, explain=False)

    def explain(
        self,
        paths: Sequence[Path | str | np.ndarray],
        texts: Sequence[str | None] | None = None,
        speakers: Sequence[str | None] | None = None,
        contexts: Sequence[Sequence[Turn]] | None = None,
        window_s: float | None = None,
        hop_s: float | None = None,
        sample_rate: int | None = None,
        transcribe: str = "auto",
    ) -> list[Prediction]:
        """`predict`, with each predicted input's `explanation` (`mer.explain.explainer.Explanation`): the share of
        each modality (fusion gates and occlusion), the effect of each word of the transcript, the acoustic cues
        against the training set's neutral class, and a sentence built from those. The explanation is of the
        whole input, also when a timeline is asked for."""
        return self._run(paths, texts, speakers, contexts, window_s, hop_s, sample_rate, transcribe, explain=True)

    def _run(
        self,
        paths: Sequence[Path | str | np.ndarray],
        texts: Sequence[str | None] | None,
        speakers: Sequence[str | None] | None,
        contexts: Sequence[Sequence[Turn]] | None,
        window_s: float | None,
        hop_s: float | None,
        sample_rate: int | None,
        transcribe: str,
        explain: bool,
    ) -> list[Prediction]:
        n = len(paths)
        arrays = {i: p for i, p in enumerate(paths) if isinstance(p, np.ndarray)}
        if arrays and sample_rate is None:
            raise PredictionError("waveforms given as arrays need sample_rate= (their samples per second)")
        texts, speakers = _per_input(texts, n, "texts"), _per_input(speakers, n, "speakers")
        contexts = _per_input(contexts, n, "contexts")
        window, hop = _window_lengths(window_s, hop_s, self.pipeline.config.sample_rate)
        if transcribe not in TRANSCRIBE_MODES:
            raise PredictionError(f"transcribe must be one of {TRANSCRIBE_MODES}, got {transcribe!r}")
        if transcribe == "always" and any(t is not None for t in texts):
            raise PredictionError("transcribe='always' transcribes every input: give no transcripts with it")
        if transcribe == "never" and self.uses_text and not self.can_skip_text and all(t is None for t in texts):
            raise PredictionError(self._needs_text(f"no transcript for any of the {n} inputs"))
        items = [
            _Input(i, Path(f"<array {i}>" if i in arrays else p), (t or "").strip() or None, s, tuple(c or ()))  # type: ignore[arg-type]
            for i, (p, t, s, c) in enumerate(zip(paths, texts, speakers, contexts, strict=True))
        ]
        for i, samples in arrays.items():
            items[i].samples, items[i].sample_rate = samples, sample_rate
        for item in items:
            item.transcribe = transcribe == "always" or (transcribe == "auto" and item.text is None and self.uses_text)
        results: list[Prediction | None] = [None] * n
        with tqdm(total=n, desc="predict", unit="file", disable=self.quiet) as bar:
            for batch in self._decoded_batches(items, window, hop):
                for item, prediction in self._predict_batch(batch, window is not None, explain):
                    results[item.index] = prediction
                bar.update(len(batch))
        return [r for r in results if r is not None]

    def _needs_text(self, subject: str, heard_nothing: bool = False) -> str:
        whisper = "" if heard_nothing else " or let Whisper transcribe it (--transcribe auto)"
        return (
            f"{subject}, but the model in {self.source} needs text ({'+'.join(self.modalities)}, "
            "trained without modality dropout, so it cannot predict from audio alone); give a transcript "
            f"(--text, --transcripts, or texts=[...]){whisper}, or use a model trained with "
            "training.modality_dropout > 0 or on audio only"
        )

    def _decoded_batches(self, items: list[_Input], window: int | None, hop: int | None) -> Iterator[list[_Input]]:
        """Inputs with their audio decoded, up to `batch_size` files or BUFFERED_AUDIO_S seconds at a time."""
        batch: list[_Input] = []
        buffered = 0
        limit = BUFFERED_AUDIO_S * self.pipeline.config.sample_rate
        for item in items:
            self._decode(item, window, hop)
            batch.append(item)
            buffered += 0 if item.waveform is None else len(item.waveform)
            if len(batch) >= self.batch_size or buffered >= limit:
                yield batch
                batch, buffered = [], 0
        if batch:
            yield batch

    def _decode(self, item: _Input, window: int | None, hop: int | None) -> None:
        if self.uses_text and item.text is None and not self.can_skip_text and not item.transcribe:
            item.error = self._needs_text("no transcript for this file")
            return
        if item.samples is None and item.path.is_dir():
            item.error = "is a folder: give media files (mer.prediction.find_media lists the ones in a folder)"
            return
        try:
            if item.samples is not None:
                rate = self.pipeline.config.sample_rate
                item.waveform = conform_samples(item.samples, item.sample_rate, rate, str(item.path))  # type: ignore[arg-type]
            else:
                item.waveform = self.pipeline.load_waveform(item.path)
        except AudioDecodeError as exc:
            item.error = _reason(exc, item.path)
            return
        item.spans = _spans(len(item.waveform), window, hop)
        if self.max_audio_s and max(b - a for a, b in item.spans) > self.max_audio_s * self.pipeline.config.sample_rate:
            item.notes.append(
                f"audio longer than the model's {self.max_audio_s:g} s inputs: its centre {self.max_audio_s:g} s "
                "was used (--window_s gives a timeline over the whole file)"
            )
        if float(np.abs(item.waveform).max()) < SILENCE_PEAK:
            item.notes.append("the audio is silent (peak below -80 dBFS): the prediction says nothing about speech")
        if item.transcribe:
            self._transcribe(item)
        if item.text is not None and not self.uses_text:
            item.notes.append("transcript not used: the model takes no text")

    def _transcribe(self, item: _Input) -> None:
        """Whisper's transcript (with word times) becomes the input's text; a model that cannot load stops the run."""
        try:
            item.transcript = self.transcriber.transcribe(
                item.waveform,
                self.pipeline.config.sample_rate,
                None if item.samples is not None else file_sha256(item.path),  # an array is keyed by its samples
            )
        except TranscriptionError as exc:
            raise PredictionError(str(exc)) from None
        except Exception as exc:
            item.error = f"transcription failed: {type(exc).__name__}: {exc}"
            return
        item.text = item.transcript.text or None
        if item.text is None and self.uses_text:
            if not self.can_skip_text:
                item.error = self._needs_text("Whisper heard no words in this file", heard_nothing=True)
            else:
                item.notes.append("Whisper heard no words: predicted without text")

    def _predict_batch(
        self, batch: list[_Input], windowed: bool, explain: bool = False
    ) -> Iterator[tuple[_Input, Prediction]]:
        """Features of every window (or whole file) of the batch, one forward pass per `batch_size` rows."""
        segments = [(item, a, b) for item in batch if not item.error for a, b in item.spans]
        features: dict[str, list[np.ndarray | None]] = {}
        if "audio" in self.modalities:
            audio = isolated(
                lambda chunk: finite_or_error(self._audio_inputs(chunk), "audio"),
                [item.waveform[a:b] for item, a, b in segments],
                self.batch_size,
            )
            for (item, _, _), vector in zip(segments, audio, strict=True):
                if isinstance(vector, Exception) and not item.error:
                    item.error = f"audio features failed: {_reason(vector, item.path)}"
            features["audio"] = [None if isinstance(v, Exception) else v for v in audio]
        if "text" in self.modalities:
            features["text"] = self._text_vectors(segments)
        if "video" in self.modalities:
            by_item = self._video_vectors([item for item in batch if not item.error])
            features["video"] = [by_item.get(item.index) for item, _, _ in segments]

        live = [k for k, (item, _, _) in enumerate(segments) if not item.error]
        live_features = {m: [v[k] for k in live] for m, v in features.items()}
        probabilities = self.class_probabilities(live_features) if live else []
        rows = dict(zip(live, probabilities, strict=True))
        heads = dict(zip(live, self._row_heads(live_features) if live else [], strict=True))
        for item in batch:
            if item.error:
                yield item, Prediction(str(item.path), notes=tuple(item.notes), error=item.error)
            else:
                own = [(a, b, rows[k]) for k, (owner, a, b) in enumerate(segments) if owner is item]
                used = {heads[k] for k, (owner, _, _) in enumerate(segments) if owner is item}
                prediction = self._prediction(item, own, windowed, used)
                if explain:
                    first = next(k for k, (owner, _, _) in enumerate(segments) if owner is item)
                    whole = {m: v[first] for m, v in features.items()} if len(item.spans) == 1 else None
                    prediction = replace(prediction, explanation=self._explanation(item, whole))
                yield item, prediction

    def _audio_inputs(self, waveforms: list[np.ndarray]) -> Sequence[np.ndarray]:
        """What the model takes from each clip's audio: its vector, or its frames for a model over frames."""
        if "audio" not in self.frames:
            return self.pipeline.audio_features(waveforms)
        _, frames = self.pipeline.audio_features_and_frames(waveforms)
        return frames or []

    def _text_inputs(
        self, texts: Sequence[str], speakers: Sequence[str | None], contexts: Sequence[Sequence[Turn]]
    ) -> Sequence[np.ndarray]:
        """What the model takes from each transcript: its vector, or its token states for a model over frames."""
        if "text" not in self.frames:
            return self.pipeline.text_features(texts, speakers, contexts)
        return self.pipeline.text_features_and_frames(texts, speakers, contexts)[1] or []

    def _explanation(self, item: _Input, features: dict[str, np.ndarray | None] | None) -> Explanation:
        """The explanation of one whole input; `features` are its whole-input vectors (None: compute them, as
        for an input that was cut into windows)."""
        if features is None:
            features = {}
            if "audio" in self.modalities:
                features["audio"] = self.pipeline.audio_features([item.waveform])[0]
            if "text" in self.modalities:
                features["text"] = self._text_vectors([(item, 0, len(item.waveform))])[0]
            if "video" in self.modalities:
                features["video"] = self._video_vectors([item]).get(item.index)
        whole = ExplainInput(item.waveform, features, item.text, item.speaker, item.context)
        explanation = Explainer(self).explain(whole)
        if len(item.spans) > 1:
            note = "explains the whole recording as one input; the file's label is the mean over its timeline windows"
            explanation = replace(explanation, notes=(*explanation.notes, note))
        return explanation

    def _segment_text(self, item: _Input, start: int, end: int) -> str | None:
        """A window's transcript: the words Whisper timed inside it, else the whole file's (given texts have no
        times). A window without words has no text, unless the model cannot do without (then the whole file's)."""
        if item.transcript is None or item.text is None or len(item.spans) == 1:
            return item.text
        rate = self.pipeline.config.sample_rate
        words = item.transcript.between(start / rate, end / rate)
        if words or self.can_skip_text:
            return words or None
        note = "windows without words use the whole transcript (the model cannot do without text)"
        if note not in item.notes:
            item.notes.append(note)
        return item.text

    def _text_vectors(self, segments: list[tuple[_Input, int, int]]) -> list[np.ndarray | None]:
        """The text vector of every segment with a transcript; the ones without get none (masked out)."""
        texts = [None if item.error else self._segment_text(item, a, b) for item, a, b in segments]
        wanted = list(dict.fromkeys((item.index, t) for (item, _, _), t in zip(segments, texts, strict=True) if t))
        owners = {item.index: item for item, _, _ in segments}
        vectors = isolated(
            lambda chunk: finite_or_error(self._text_inputs(*zip(*chunk, strict=True)), "text"),
            [(text, owners[i].speaker, owners[i].context) for i, text in wanted],
            2 * self.batch_size,
        )
        found: dict[tuple[int, str], np.ndarray] = {}
        for (index, text), vector in zip(wanted, vectors, strict=True):
            item = owners[index]
            if isinstance(vector, Exception):
                item.error = item.error or f"text features failed: {vector}"
            else:
                found[index, text] = vector
                if "text" not in item.used:
                    item.used.append("text")
        return [found.get((item.index, t)) if t else None for (item, _, _), t in zip(segments, texts, strict=True)]

    def _video_vectors(self, items: list[_Input]) -> dict[int, np.ndarray]:
        """Face vectors; a file without a video track or without a face gets zeros, as its training features did."""
        from ..features.video import VideoDecodeError

        zeros = np.zeros(self.pipeline.dims["video"], np.float32)
        out = {}
        for item in items:
            out[item.index] = zeros
            if item.path.suffix.lower() not in VIDEO_SUFFIXES:
                item.notes.append("no video track: face features left empty (zeros), as for audio-only clips")
                continue
            try:
                found = self.pipeline.video_features([item.path])
            except VideoDecodeError as exc:
                item.notes.append(f"video not used ({_reason(exc, item.path)}): face features left empty (zeros)")
                continue
            if found.face_frames[0]:
                out[item.index] = found.vectors[0]
                item.used.append("video")
            else:
                item.notes.append("no face found in the video: face features left empty (zeros)")
        return out

    @torch.inference_mode()
    def class_probabilities(self, features: Mapping[str, Sequence[np.ndarray | None]]) -> np.ndarray:
        """The model's class probabilities (N, C) for feature vectors ({modality: one vector per row}, as the
        pipeline makes them); a None vector marks the modality missing for that row (masked, as in prediction)."""
        n = len(next(iter(features.values())))
        out = []
        device = torch.device(self.device)
        for start in range(0, n, self.batch_size):
            rows = range(start, min(start + self.batch_size, n))
            tensors, present = {}, []
            for modality in self.modalities:
                vectors = [features[modality][r] for r in rows]
                present.append([v is not None for v in vectors])
                if modality in self.frames:  # padded per batch; a missing modality has no real frame
                    dim = self.pipeline.frame_dims[modality]
                    padded, real = pad_frames([np.zeros((0, dim), np.float32) if v is None else v for v in vectors])
                    tensors[f"{modality}_frames"] = torch.from_numpy(padded).to(device)
                    tensors[f"{modality}_frames_mask"] = torch.from_numpy(real).to(device)
                    continue
                zeros = np.zeros(self.pipeline.dims[modality], np.float32)
                stacked = np.stack([zeros if v is None else v for v in vectors]).astype(np.float32, copy=False)
                tensors[modality] = torch.from_numpy(stacked).to(device)
            mask = torch.tensor(present, dtype=torch.bool).T.to(device)
            logits = self.model(tensors, None if bool(mask.all()) else mask)
            heads = self._row_heads({m: features[m][start : start + len(rows)] for m in self.modalities})
            for r, head in enumerate(heads):
                if head is not None:
                    logits[r] = cast(FusionModel, self.model).branch_logits[head][r]
            out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        return np.concatenate(out)

    def _prediction(
        self, item: _Input, rows: list[tuple[int, int, np.ndarray]], windowed: bool, heads: set[str | None]
    ) -> Prediction:
        """`heads`: which outputs predicted the input's rows (None: the fused model, else a branch head)."""
        sample_rate = self.pipeline.config.sample_rate
        head = "+".join(sorted("fusion" if h is None else h for h in heads)) if heads - {None} else None
        for alone in sorted(h for h in heads if h is not None):
            kind = "distilled" if alone in self.distilled else "own (teacher)"
            item.notes.append(
                f"predicted by the {kind} {alone} head (only {alone} was there)"
                + ("; windows with more modalities by the fused model" if None in heads else "")
            )
        mean = np.mean([p for _, _, p in rows], axis=0)
        timeline = ()
        if windowed:
            timeline = tuple(
                WindowPrediction(
                    round(a / sample_rate, 3),
                    round(b / sample_rate, 3),
                    self.labels[int(p.argmax())],
                    self._named(p),
                    None if item.transcript is None else item.transcript.between(a / sample_rate, b / sample_rate),
                )
                for a, b, p in rows
            )
        used = [m for m in self.modalities if m == "audio" or m in item.used]
        return Prediction(
            path=str(item.path),
            label=self.labels[int(mean.argmax())],
            probabilities=self._named(mean),
            modalities=tuple(used),
            duration_s=round(len(item.waveform) / sample_rate, 3),
            transcript=item.text,
            transcript_source=None if item.text is None else "whisper" if item.transcript else "given",
            timeline=timeline,
            notes=tuple(item.notes),
            head=head,
        )

    def _named(self, probabilities: np.ndarray) -> dict[str, float]:
        return {label: float(p) for label, p in zip(self.labels, probabilities, strict=True)}


def _load_model(checkpoint: Mapping, source: str) -> torch.nn.Module:
    """The fine-tuned model; an encoder that cannot be loaded here is a PredictionError naming it."""
    try:
        return model_from_checkpoint(checkpoint, source)
    except (ModelNotAvailableError, OSError) as exc:
        raise PredictionError(f"{source}: its encoder cannot be loaded here: {exc}") from None


def _device(name: str) -> str:
    from ..device import resolve_device

    return str(resolve_device(name))


def _per_input(values: Sequence | None, n: int, name: str) -> list:
    if values is None:
        return [None] * n
    if isinstance(values, str):
        raise PredictionError(f"{name} must be a list with one entry per input, got a single string")
    values = list(values)
    if len(values) != n:
        raise PredictionError(f"got {n} inputs but {len(values)} {name}")
    return values


def _window_lengths(window_s: float | None, hop_s: float | None, sample_rate: int) -> tuple[int | None, int | None]:
    if window_s is None:
        if hop_s is not None:
            raise PredictionError("a hop (--hop_s) needs a window length (--window_s)")
        return None, None
    hop_s = window_s if hop_s is None else hop_s
    if not (window_s > 0 and hop_s > 0 and math.isfinite(window_s) and math.isfinite(hop_s)):
        raise PredictionError(f"window and hop must be positive seconds, got window {window_s}, hop {hop_s}")
    return max(1, round(window_s * sample_rate)), max(1, round(hop_s * sample_rate))


def _spans(n_samples: int, window: int | None, hop: int | None) -> list[tuple[int, int]]:
    """Sample ranges to predict: the whole file, or windows every `hop` plus one ending at the end,
    so every window has the full length and the whole recording is covered."""
    if window is None or n_samples <= window:
        return [(0, n_samples)]
    return [(a, a + window) for a in range(0, n_samples - window, hop)] + [(n_samples - window, n_samples)]


def _reason(exc: BaseException, path: Path) -> str:
    """The exception's message without the file name it usually starts with (the result already names the file)."""
    text = str(exc).strip() or type(exc).__name__
    return text.removeprefix(f"{path}: ")


def _encoder_entries(config: dict) -> list[tuple[str, str, dict, str]]:
    """(kind, model name, the dict holding it, its key) for every pretrained model the feature config loads."""
    entries = [("audio", part["model"], part, "model") for part in config.get("audio") or [] if "model" in part]
    text_encoder = (config.get("text") or {}).get("encoder") or {}
    if "model" in text_encoder:
        entries.append(("text", text_encoder["model"], text_encoder, "model"))
    video = config.get("video") or {}
    if video:
        entries += [
            ("video", video["encoder"], video, "encoder"),
            ("face_detector", video["detector"], video, "detector"),
        ]
    return entries


def _used_config(checkpoint: Mapping, source: str, encoders: Mapping[str, str]) -> dict:
    """The checkpoint's feature config with `encoders` applied and the parts the model does not read
    left out (as `--<modality>_model none` does), so a missing unused encoder cannot block prediction."""
    if not checkpoint.get("feature_config"):
        raise PredictionError(
            f"{source}: the checkpoint records no feature config (its training features carried none), so the "
            "features cannot be rebuilt; train on features made by extract_at_features.py or extract_at_features_hf.py"
        )
    config = copy.deepcopy(dict(checkpoint["feature_config"]))
    modalities = set(checkpoint["modalities"])
    unknown = sorted(set(encoders) - set(ENCODER_KINDS))
    if unknown:
        raise PredictionError(f"unknown encoder kinds {unknown}; choose from {list(ENCODER_KINDS)}")
    for kind, location in encoders.items():
        targets = [(holder, key) for k, _, holder, key in _encoder_entries(config) if k == kind]
        if not targets:
            raise PredictionError(f"--encoder {kind}=...: the features of {source} use no pretrained {kind} model")
        for holder, key in targets:
            holder[key] = str(location)
    if "text" not in modalities:
        config["text"] = None
    if "video" not in modalities:
        config["video"] = None
    if "audio" not in modalities:
        config["audio"] = []
    return config


def _rebuild_pipeline(
    checkpoint: Mapping, source: str, device: str, batch_size: int, encoders: Mapping[str, str]
) -> FeaturePipeline:
    config = _used_config(checkpoint, source, encoders)
    try:
        pipeline = FeaturePipeline.from_config(config, device=device, batch_size=batch_size)
    except FeatureConfigError as exc:
        raise PredictionError(f"{source}: its feature config cannot be rebuilt by this mer ({exc})") from None
    except (ModelNotAvailableError, FileNotFoundError, OSError) as exc:
        raise PredictionError(_missing_model_message(exc, config, source)) from None
    except ImportError as exc:
        raise PredictionError(f"{source}: its features need a package that is not installed: {exc}") from None
    made = pipeline.frame_dims if "frame_layers" in checkpoint else pipeline.dims  # a model over frames: per frame
    wrong = {
        m: (int(checkpoint["dims"][m]), made.get(m))
        for m in checkpoint["modalities"]
        if made.get(m) != int(checkpoint["dims"][m])
    }
    if wrong:
        detail = ", ".join(f"{m} {got}-d where the model was trained on {want}-d" for m, (want, got) in wrong.items())
        raise PredictionError(
            f"{source}: the rebuilt features do not fit the model ({detail}); an --encoder must point at the "
            "same model the training features were made with"
        )
    return pipeline


def _missing_model_message(exc: BaseException, config: dict, source: str) -> str:
    """Which of the config's models could not be loaded, why, and how to provide it."""
    text = str(exc)
    cause = exc.__cause__
    reason = f"{type(cause).__name__}: {str(cause).strip().splitlines()[0]}" if cause and str(cause).strip() else text
    for kind, name, _, _ in _encoder_entries(config):
        if name not in text:
            continue
        if is_packaged(name):
            return f"{source} was trained on {kind} features from {name}, which is not available here: {text}"
        return (
            f"{source} was trained on {kind} features from the model {name!r}, which cannot be loaded here "
            f"({reason}). Provide the same model: pass a local copy with --encoder {kind}=PATH "
            f"(in Python: encoders={{'{kind}': PATH}}; a folder saved with save_pretrained"
            f"{', or the .task file' if kind == 'face_detector' else ''}), or run once with internet access so the "
            "Hugging Face cache holds it"
        )
    return f"{source}: the feature extractor it was trained with cannot be rebuilt here: {text}"
