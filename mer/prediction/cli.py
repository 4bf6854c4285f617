"""The command line of `predict.py` (the file at the repository root only calls `predict_main`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mer_builder.cli_common import UsageError, cli_parser, run_command
from mer_builder.fsutil import atomic_write_text

from ..transcription import DEFAULT_WHISPER, TRANSCRIBE_MODES
from .inputs import Failure, Transcripts, find_media
from .outputs import (
    OUTPUT_SUFFIXES,
    display_path,
    explain_folder,
    format_table,
    format_timeline,
    plot_folder,
    plot_names,
    plot_timeline,
    timeline_csv,
    timeline_path,
    write_explanation,
    write_predictions,
)
from .predictor import ENCODER_KINDS, Prediction, Predictor


def predict_parser(prog: str = "predict.py") -> argparse.ArgumentParser:
    parser = cli_parser(
        prog,
        "Predict the emotion of your own recordings (audio or video files, or folders of them) "
        "with a trained checkpoint. See docs/predict.md.",
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="media files or folders (searched recursively)")
    parser.add_argument("--ckpt", type=Path, required=True, help="checkpoint (checkpoints/best.pt of a training run)")
    text = parser.add_mutually_exclusive_group()
    text.add_argument("--text", help="the transcript of the single INPUT")
    text.add_argument(
        "--transcripts", type=Path, metavar="CSV", help="transcripts: path,text[,speaker,dialogue_id,utterance_index]"
    )
    parser.add_argument("--speaker", help="with --text: the speaker, for models whose text features name speakers")
    parser.add_argument(
        "--transcribe",
        choices=TRANSCRIBE_MODES,
        default="auto",
        help="run Whisper on inputs without a transcript when the model reads text (auto), on every input "
        "(always; not with --text/--transcripts), or never",
    )
    parser.add_argument(
        "--whisper",
        default=DEFAULT_WHISPER,
        metavar="MODEL",
        help="speech recogniser: packaged:whisper-tiny.en (offline, English), a CTranslate2 Whisper folder, "
        "or a faster-whisper model name such as small",
    )
    parser.add_argument("--language", help="language of the speech for --whisper (ISO code; default: detect)")
    parser.add_argument(
        "--transcript_cache", type=Path, metavar="DIR", help="keep transcripts here (default: ~/.cache/mer/transcripts)"
    )
    parser.add_argument("--output", type=Path, help="write predictions to this .csv or .jsonl (default: print a table)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--window_s", type=float, help="also predict windows of this many seconds (a timeline)")
    parser.add_argument("--hop_s", type=float, help="seconds between window starts (default: --window_s)")
    parser.add_argument("--plot", action="store_true", help="draw each timeline as a PNG beside --output")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="explain each prediction: modality shares (gates, occlusion), word effects, acoustic cues against the "
        "training set's neutral class, one sentence; with --output also a JSON and a PNG card per input in "
        "<output stem>.explain/ (see docs/explain.md)",
    )
    parser.add_argument("--batch_size", type=int, default=16, help="files (or windows) per batch")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda[:N]")
    parser.add_argument(
        "--encoder",
        action="append",
        default=[],
        metavar="KIND=PATH",
        help=f"load a pretrained feature model from here instead ({', '.join(ENCODER_KINDS)}); repeatable",
    )
    return parser


def _check_usage(args: argparse.Namespace) -> None:
    if args.speaker is not None and args.text is None:
        raise UsageError("--speaker goes with --text")
    if args.transcribe == "always" and (args.text is not None or args.transcripts is not None):
        raise UsageError("--transcribe always transcribes every input; it does not go with --text or --transcripts")
    if not args.inputs and args.transcripts is None:
        raise UsageError("give at least one INPUT (a media file or folder), or --transcripts CSV")
    if args.output is not None and args.output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(f"--output must end in .csv or .jsonl, got {args.output.name}")
    if args.plot and (args.output is None or args.window_s is None):
        raise UsageError("--plot draws the --window_s timeline of each input beside --output; give both")


def _encoders(values: Sequence[str]) -> dict[str, str]:
    encoders = {}
    for value in values:
        kind, sep, location = value.partition("=")
        if not sep or not location or kind not in ENCODER_KINDS:
            raise UsageError(f"--encoder {value}: expected KIND=PATH with KIND one of {', '.join(ENCODER_KINDS)}")
        encoders[kind] = location
    return encoders


def _refuse_existing_outputs(args: argparse.Namespace, media: list[Path]) -> None:
    """Stop before any work if a file this run would write exists and --overwrite was not given."""
    if args.output is None:
        return
    targets = [args.output]
    if args.window_s is not None:
        targets.append(timeline_path(args.output))
    if args.plot:
        targets += [plot_folder(args.output) / name for name in plot_names(media)]
    if args.explain:
        stems = [Path(name).stem for name in plot_names(media)]
        targets += [explain_folder(args.output) / f"{stem}{suffix}" for stem in stems for suffix in (".json", ".png")]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not args.overwrite:
        shown = ", ".join(existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
        raise FileExistsError(f"{shown} already exist(s); pass --overwrite to replace, or choose another --output")


def _texts(args: argparse.Namespace, transcripts: Transcripts | None, media: list[Path], predictor: Predictor) -> dict:
    """texts / speakers / contexts per media file, from --text or --transcripts."""
    if args.text is not None:
        return {"texts": [args.text] * len(media), "speakers": [args.speaker] * len(media)}
    if transcripts is None:
        return {}
    rows = [transcripts.get(path) for path in media]
    unused = len(transcripts.rows) - len({p.resolve() for p, r in zip(media, rows, strict=True) if r is not None})
    if unused and args.inputs:
        print(f"note: {unused} row(s) of {args.transcripts} name files not among the inputs", file=sys.stderr)
    context = transcripts.contexts(predictor.context_window) if predictor.context_window else {}
    return {
        "texts": [r.text if r else None for r in rows],
        "speakers": [r.speaker if r else None for r in rows],
        "contexts": [context.get(p.resolve(), ()) for p in media],
    }


def _describe(predictor: Predictor, transcribe: str) -> str:
    used = ", ".join(f"{m} {name}" for m, name in predictor.encoder_names() if m in predictor.modalities)
    note = ""
    if predictor.uses_text:
        note = f"; {'can' if predictor.can_skip_text else 'cannot'} predict without a transcript"
        if transcribe != "never":
            note += "; Whisper transcribes inputs that have none"
    return (
        f"model: {predictor.checkpoint_info['model']} over {'+'.join(predictor.modalities)} "
        f"({used}){note}; device {predictor.device}"
    )


def _report(results: list[Prediction], failures: list[Failure], args: argparse.Namespace, labels: list[str]) -> None:
    ok = [r for r in results if r.ok]
    if args.output is None:
        if ok:
            print(format_table(ok, labels))
        for r in ok:
            if r.timeline:
                print(f"\n{display_path(r.path)}: {len(r.timeline)} windows")
                print(format_timeline(r, labels))
        for r in ok:
            if r.transcript_source == "whisper":
                print(f"transcript (whisper): {display_path(r.path)}: {r.transcript}")
            if r.explanation is not None:
                print(f"explanation: {display_path(r.path)}: {r.explanation.sentence}")
    for r in results:
        for note in r.notes:
            print(f"note: {display_path(r.path)}: {note}", file=sys.stderr)
    failed = [(f.path, f.reason) for f in failures] + [(r.path, r.error) for r in results if not r.ok]
    for line in _failure_lines(failed):
        print(line, file=sys.stderr)
    if args.output is not None:
        print(f"wrote {args.output} ({len(ok)} predicted, {len(failed)} failed)")
    elif failed:
        print(f"{len(ok)} predicted, {len(failed)} failed", file=sys.stderr)


def _failure_lines(failed: list[tuple[str, str | None]]) -> list[str]:
    """One line per distinct reason: a reason shared by many files (a missing encoder, videos without an
    audio track) is said once, with how many files and the first few of them."""
    by_reason: dict[str, list[tuple[str, str]]] = {}
    for path, reason in failed:
        text = reason or "failed"
        shared = text.replace(f"'{path}'", "the file").replace(str(path), "the file")  # decoders name the file
        by_reason.setdefault(shared, []).append((display_path(path), text))
    lines = []
    for reason, files in by_reason.items():
        paths = [p for p, _ in files]
        if len(files) == 1:
            lines.append(f"error: {paths[0]}: {files[0][1]}")
        else:
            more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
            lines.append(f"error: {len(paths)} files ({', '.join(paths[:3])}{more}): {reason}")
    return lines


def predict_main(argv: Sequence[str] | None = None, prog: str = "predict.py") -> int:
    return run_command(predict_parser(prog), argv, _predict)


def _predict(args: argparse.Namespace) -> int:
    _check_usage(args)
    encoders = _encoders(args.encoder)
    transcripts = Transcripts.read(args.transcripts) if args.transcripts is not None else None
    media, failures = find_media(args.inputs or (transcripts.files if transcripts else []))
    if args.text is not None and len(media) > 1:
        raise UsageError(
            f"--text gives one transcript, but the inputs hold {len(media)} media files; use --transcripts"
        )
    _refuse_existing_outputs(args, media)
    predictor = Predictor.from_checkpoint(
        args.ckpt,
        args.device,
        args.batch_size,
        encoders,
        args.quiet,
        whisper=args.whisper,
        language=args.language,
        transcript_cache=args.transcript_cache,
    )
    print(_describe(predictor, args.transcribe), file=sys.stderr)
    run = predictor.explain if args.explain else predictor.predict
    results = run(
        media,
        window_s=args.window_s,
        hop_s=args.hop_s,
        transcribe=args.transcribe,
        **_texts(args, transcripts, media, predictor),
    )
    failed_rows = [Prediction(f.path, error=f.reason) for f in failures]
    if args.output is not None:
        write_predictions(args.output, [*results, *failed_rows], predictor.labels)
        if args.window_s is not None:
            atomic_write_text(timeline_path(args.output), timeline_csv(results, predictor.labels))
        if args.plot:
            for result, name in zip(results, plot_names(media), strict=True):
                if result.timeline:
                    plot_timeline(result, predictor.labels, plot_folder(args.output) / name)
        if args.explain:
            for result, name in zip(results, plot_names(media), strict=True):
                if result.explanation is not None:
                    write_explanation(result, explain_folder(args.output), Path(name).stem)
    _report(results, failures, args, predictor.labels)
    return 1 if failures or any(not r.ok for r in results) else 0
