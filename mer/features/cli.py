"""Command lines of extract_at_features.py, extract_at_features_hf.py and build_memmap_features.py.

Each turns flags into a `FeatureConfig` (what the numbers are) and `RunOptions` (how the run
goes), then calls the runner; expected problems end with one line `error: ...` and the exit code
of the shared convention (`mer_builder.cli_common`: 2 invalid input, 1 failed run).
"""

from __future__ import annotations

import argparse
import os
import pickle
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from mer_builder.cli_common import UsageError, add_num_workers, add_out_dir, cli_parser, run_command
from mer_builder.parallel import BACKENDS

from .config import (
    AudioPart,
    EgemapsSpec,
    FaceVideoSpec,
    FeatureConfig,
    HashingSpec,
    MfccSpec,
    SpeechEncoderSpec,
    TextEncoderSpec,
    TextSpec,
)
from .packaged import is_packaged

SPLIT_CHOICES = ("train", "val", "test", "testA", "testB")
AUDIO_FEATURE_CHOICES = {"mfcc": ("mfcc",), "egemaps": ("egemaps",), "mfcc+egemaps": ("mfcc", "egemaps")}
# Beyond the InputError/RunFailure kinds: a missing optional package, an unreadable pickle.
RUNTIME_ERRORS = (ImportError, pickle.UnpicklingError)


def _common_parser(description: str, prog: str | None) -> argparse.ArgumentParser:
    parser = cli_parser(prog, description)
    io = parser.add_argument_group("input and output")
    io.add_argument("--processed_dir", type=Path, required=True, help="the builder's output (meta_manifest.jsonl)")
    add_out_dir(io, "feature dir F (F/<group>/<id>.pkl, ...)")
    io.add_argument(
        "--splits", nargs="+", choices=SPLIT_CHOICES, default=["train", "val", "test"], help="test = testA + testB"
    )
    text = parser.add_argument_group("text")
    text.add_argument("--include_speaker_in_text", action="store_true", help="prefix each turn with 'speaker: '")
    text.add_argument(
        "--meld_context_window",
        type=int,
        default=0,
        metavar="K",
        help="add a block encoding the K previous utterances of the dialogue (MELD, IEMOCAP); 0 = off",
    )
    run = parser.add_argument_group("run")
    add_num_workers(
        run,
        "extraction (-1 = all cores); with --backend dask or ray and no cluster address, "
        "the size of the local cluster started",
    )
    run.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="where tasks run: local processes, a Dask cluster or a Ray cluster; dask and ray need --processed_dir "
        "and --out_dir on a filesystem every worker shares (see docs/scaling.md)",
    )
    run.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler for --backend dask (default: DASK_SCHEDULER_ADDRESS, else a LocalCluster); "
        "Ray reads RAY_ADDRESS",
    )
    run.add_argument(
        "--chunk_size",
        type=int,
        default=None,
        help="utterances per task, computed as one batch (default: 64; with pretrained encoders --batch_size, "
        "so the progress bar moves per batch); clips go out sorted by duration",
    )
    run.add_argument("--force", action="store_true", help="re-extract even pickles made by the same config")
    run.add_argument("--max_failure_rate", type=float, default=0.01, help="fail the run above this share of failures")
    return parser


def _groups(splits: Sequence[str]) -> tuple[str, ...]:
    wanted = {g for s in splits for g in (("testA", "testB") if s == "test" else (s,))}
    return tuple(g for g in ("train", "val", "testA", "testB") if g in wanted)


NONE, PACKAGED = "none", "packaged"


def _model(name: str, packaged_default: str) -> str:
    """`packaged` is the modality's offline default; local folders are recorded by absolute path, so the
    saved config works from any directory."""
    if name == PACKAGED:
        return packaged_default
    path = Path(name).expanduser()
    return str(path.resolve()) if path.is_dir() else name


def _text_spec(args: argparse.Namespace, encoder: HashingSpec | TextEncoderSpec) -> TextSpec:
    return TextSpec(encoder, include_speaker=args.include_speaker_in_text, context_window=args.meld_context_window)


def _run(
    args: argparse.Namespace,
    config: FeatureConfig,
    argv: Sequence[str] | None,
    device: str,
    batch: int,
    pretrained: bool = False,
) -> int:
    if args.quiet:  # also silences model-loading bars in worker processes, which inherit the environment
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    from ..api import extract

    info = extract(
        args.processed_dir,
        args.out_dir,
        config,
        groups=_groups(args.splits),
        num_workers=args.num_workers,
        backend=args.backend,
        scheduler=args.scheduler,
        chunk_size=args.chunk_size or (batch if pretrained else 64),
        force=args.force,
        quiet=args.quiet,
        max_failure_rate=args.max_failure_rate,
        device=device,
        batch_size=batch,
        runtime={"command": shlex.join([Path(sys.argv[0]).name, *(sys.argv[1:] if argv is None else argv)])},
    )
    if not args.quiet:
        done = {g: c["rows"] for g, c in info["counts"].items()}
        timing = info["timing"]
        print(
            f"features in {args.out_dir}: rows {done}, dims {info['dims']}; this run extracted {timing['extracted']} "
            f"in {timing['seconds']:.1f} s ({timing['clips_per_s']} clips/s), reused {timing['skipped_existing']}, "
            f"failed {info['n_failed']}"
        )
    return 0


def extract_main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """extract_at_features.py: MFCC (+ eGeMAPS) audio and hashing text."""
    return run_command(extract_parser(prog), argv, lambda args: _extract(args, argv), RUNTIME_ERRORS)


def extract_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = _common_parser("Fast, dependency-light features: MFCC mean+std audio and hashed n-gram text.", prog)
    audio = parser.add_argument_group("audio")
    audio.add_argument("--audio_features", choices=list(AUDIO_FEATURE_CHOICES), default="mfcc", help="audio features")
    audio.add_argument("--n_mfcc", type=int, default=80, help="MFCC coefficients (the vector has 2 * n_mfcc)")
    audio.add_argument("--n_fft", type=int, default=2048, help="FFT window (samples)")
    audio.add_argument("--hop_length", type=int, default=512, help="hop between frames (samples)")
    audio.add_argument("--n_mels", type=int, default=128, help="mel bands")
    parser.add_argument("--text_dim", type=int, default=768, help="hashing buckets (doubled with a context window)")
    return parser


def _extract(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    parts: dict[str, AudioPart] = {
        "mfcc": MfccSpec(n_mfcc=args.n_mfcc, n_fft=args.n_fft, hop_length=args.hop_length, n_mels=args.n_mels),
        "egemaps": EgemapsSpec(),
    }
    config = FeatureConfig(
        audio=tuple(parts[name] for name in AUDIO_FEATURE_CHOICES[args.audio_features]),
        text=_text_spec(args, HashingSpec(dim=args.text_dim)),
    )
    return _run(args, config, argv, "cpu", 16)


def extract_hf_main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """extract_at_features_hf.py: pretrained speech, text and face encoders."""
    return run_command(extract_hf_parser(prog), argv, lambda args: _extract_hf(args, argv), RUNTIME_ERRORS)


def extract_hf_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = _common_parser(
        "Pretrained-encoder features. With no model options it runs offline on packaged models: "
        "Whisper tiny.en encoder (audio) and all-MiniLM-L6-v2 (text). With internet, e.g. "
        "--audio_model microsoft/wavlm-base --text_model roberta-base --video_model microsoft/resnet-50.",
        prog,
    )
    models = parser.add_argument_group(
        "models: none (leave the modality out), packaged (the offline default), packaged:<name>, a hub id, "
        "or a local folder"
    )
    models.add_argument(
        "--audio_model", default=PACKAGED, help=f"speech encoder (packaged = {SpeechEncoderSpec.model})"
    )
    models.add_argument("--text_model", default=PACKAGED, help=f"text encoder (packaged = {TextEncoderSpec.model})")
    models.add_argument(
        "--video_model",
        default=NONE,
        help=f"face-crop encoder; anything but none enables video (packaged = {FaceVideoSpec.encoder})",
    )
    models.add_argument("--face_detector", default=FaceVideoSpec.detector, help="MediaPipe face_landmarker .task")
    pooling = parser.add_argument_group("pooling")
    pooling.add_argument("--layer", type=int, default=-1, help="speech encoder hidden state (-1 = last)")
    pooling.add_argument(
        "--audio_layers",
        default="last",
        metavar="last|all|I,J,...",
        help="speech encoder hidden states to keep (transformers models): last (= --layer), all (for a learned "
        "weighted sum in attentive_frames, as SUPERB), or indices; several are stacked per frame",
    )
    frames = parser.add_argument_group("frame sequences (for model.name=attentive_frames)")
    frames.add_argument(
        "--audio_frames",
        action="store_true",
        help="also keep the speech encoder's per-frame outputs; build_memmap_features.py stores them ragged",
    )
    frames.add_argument(
        "--text_frames",
        action="store_true",
        help="also keep the text encoder's token states of each utterance (not of its context block)",
    )
    frames.add_argument(
        "--frame_pool", type=int, default=1, metavar="K", help="keep averages of K consecutive frames (Whisper: 50/s)"
    )
    frames.add_argument(
        "--max_frames", type=int, default=0, metavar="N", help="at most N kept frames per clip, averaged down (0 = all)"
    )
    pooling.add_argument("--text_layer", type=int, default=-1, help="text encoder hidden state (-1 = last)")
    pooling.add_argument("--pooling", choices=["mean", "meanstd", "cls"], help="set audio and text pooling at once")
    pooling.add_argument("--audio_pooling", choices=["mean", "meanstd"], default=None, help="default meanstd")
    pooling.add_argument("--text_pooling", choices=["mean", "meanstd", "cls"], default=None, help="default mean")
    limits = parser.add_argument_group("inputs")
    limits.add_argument("--max_audio_s", type=float, default=20.0, help="longer clips are encoded in windows")
    limits.add_argument(
        "--whisper_pad_to_s",
        type=float,
        default=SpeechEncoderSpec.pad_to_s,
        help="Whisper: pad each clip with silence to a multiple of this many seconds (30 = the classic padded call)",
    )
    limits.add_argument("--max_tokens", type=int, default=128, help="text tokens per utterance (longer is cut)")
    limits.add_argument("--video_fps", type=float, default=2.0, help="video frames read per second")
    limits.add_argument("--video_max_frames", type=int, default=32, help="most video frames read per clip")
    limits.add_argument("--no_blendshapes", action="store_true", help="face embedding only, without 52 blendshapes")
    device = parser.add_argument_group("device")
    device.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    device.add_argument("--batch_size", type=int, default=16)
    return parser


def _extract_hf(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    if args.pooling == "cls" and args.audio_pooling is None and args.audio_model != NONE:
        raise UsageError("--pooling cls applies to text only; also give --audio_pooling mean|meanstd")
    audio_pooling = args.audio_pooling or args.pooling or SpeechEncoderSpec.pooling
    text_pooling = args.text_pooling or args.pooling or TextEncoderSpec.pooling
    if NONE == args.audio_model == args.text_model == args.video_model:
        raise UsageError("--audio_model none, --text_model none and --video_model none: nothing to extract")
    if not args.audio_frames and (args.frame_pool != 1 or args.max_frames):
        raise UsageError("--frame_pool and --max_frames shape the kept frames: they need --audio_frames")
    audio: tuple[SpeechEncoderSpec, ...] = ()
    if args.audio_model != NONE:
        model = _model(args.audio_model, SpeechEncoderSpec.model)
        audio = (
            SpeechEncoderSpec(
                model,
                args.layer,
                audio_pooling,
                args.max_audio_s,
                pad_to_s=args.whisper_pad_to_s,
                layers=args.audio_layers,
                frames=args.audio_frames,
                frame_pool=args.frame_pool,
                max_frames=args.max_frames,
            ),
        )
    elif args.audio_frames:
        raise UsageError("--audio_frames needs a speech encoder (--audio_model is none)")
    text = None
    if args.text_model != NONE:
        model = _model(args.text_model, TextEncoderSpec.model)
        spec = TextEncoderSpec(model, args.text_layer, text_pooling, args.max_tokens, frames=args.text_frames)
        text = _text_spec(args, spec)
    elif args.text_frames:
        raise UsageError("--text_frames needs a text encoder (--text_model is none)")
    video = None
    if args.video_model != NONE:
        video = FaceVideoSpec(
            encoder=_model(args.video_model, FaceVideoSpec.encoder),
            detector=args.face_detector if is_packaged(args.face_detector) else str(Path(args.face_detector).resolve()),
            fps=args.video_fps,
            max_frames=args.video_max_frames,
            blendshapes=not args.no_blendshapes,
        )
    config = FeatureConfig(audio=audio, text=text, video=video)
    return _run(args, config, argv, args.device, args.batch_size, pretrained=True)


def memmap_main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """build_memmap_features.py: pack one pickle group dir into memory-mapped arrays."""
    return run_command(memmap_parser(prog), argv, _memmap, RUNTIME_ERRORS)


def memmap_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = cli_parser(prog, "Pack F/<group> pickles into memory-mapped .npy arrays.")
    parser.add_argument(
        "--in_dir",
        type=Path,
        required=True,
        help="a pickle group dir (F/train), or a feature root F to pack every group",
    )
    add_out_dir(parser, "M/train for a group dir, M for a feature root (each group replaced atomically)")
    parser.add_argument("--dtype", choices=["float32", "float16"], default="float32", help="stored value type")
    return parser


def _memmap(args: argparse.Namespace) -> int:
    from ..api import pack

    packed = pack(args.in_dir, args.out_dir, args.dtype, quiet=args.quiet)
    if not args.quiet:
        for group, info in packed.items():
            where = args.out_dir if len(packed) == 1 and group == args.in_dir.name else args.out_dir / group
            print(f"memmap features in {where}: {info['n_rows']} rows, dims {info['dims']}, {info['dtype']}")
    return 0
