"""The local web demo: trained checkpoints behind a Gradio page on 127.0.0.1 (`mer demo --ckpt K [--ckpt K2 ...]`).

Upload an audio or video file, or record one with the microphone or the webcam; give the
transcript or leave it empty (Whisper then writes it when the model reads text); the page shows the
label, the probability of every class as bars, the timeline of a long recording, and the
explanation card (`mer.explain`). A file that cannot be used gets the same one-line reason as
`predict.py` gives. The server listens on 127.0.0.1 only, unless `--host` says otherwise; Gradio's
public share link is off unless `--share` is given.

    from mer.prediction.web import build_app
    app = build_app(["outputs/demo/runs/baseline_at/seed1/checkpoints/best.pt"])
    app.launch(server_name="127.0.0.1")
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mer_builder.audio import AudioDecodeError, load_audio

from .inputs import find_media
from .predictor import Prediction, PredictionError, Predictor

DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAX_FILE_MB = 200.0
LONG_RECORDING_S = 10.0  # longer files also get a timeline
TIMELINE_WINDOW_S, TIMELINE_HOP_S = 4.0, 2.0
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]  # no web fonts: the page makes no outside requests


class DemoModels:
    """The checkpoints the page offers, each loaded once, by a readable name (its run folder and seed)."""

    def __init__(self, checkpoints: Sequence[Path | str], device: str = "cpu", **predictor_options: Any):
        if not checkpoints:
            raise PredictionError("give at least one checkpoint (--ckpt K)")
        self.paths: dict[str, Path] = {}
        for path in map(Path, checkpoints):
            name = _display_name(path)
            while name in self.paths:
                name += "'"
            self.paths[name] = path
        self.device, self.options = device, predictor_options
        self._loaded: dict[str, Predictor] = {}

    @property
    def names(self) -> list[str]:
        return list(self.paths)

    def get(self, name: str) -> Predictor:
        if name not in self._loaded:
            self._loaded[name] = Predictor.from_checkpoint(self.paths[name], self.device, **self.options)
        return self._loaded[name]


def _display_name(path: Path) -> str:
    """`<run>/<seed>` for `<run>/<seed>/checkpoints/best.pt`, else the file name."""
    parts = path.resolve().parts
    if len(parts) >= 4 and parts[-2] == "checkpoints":
        return f"{parts[-4]}/{parts[-3]} ({path.stem})"
    return path.name


@dataclass
class Analysis:
    """What one click on "Analyse" shows: a status line, the probabilities, the images and the details."""

    status: str
    probabilities: dict[str, float] | None = None
    timeline: str | None = None  # PNG paths
    card: str | None = None
    explanation: str = ""
    details: dict = field(default_factory=dict)


def _error(name: str, reason: str) -> Analysis:
    return Analysis(f"**error:** {name}: {reason}")


def analyse(
    models: DemoModels,
    model_name: str,
    media: str | None,
    transcript: str | None,
    window_s: float | None,
    explain: bool,
    out_dir: Path,
    max_file_mb: float = DEFAULT_MAX_FILE_MB,
) -> Analysis:
    """Predict (and explain) one uploaded or recorded file; every problem becomes an error line, never an exception."""
    from .outputs import plot_timeline

    if not media:
        return Analysis("Upload or record a recording first.")
    path = Path(media)
    name = path.name
    failures = find_media([path])[1]
    if failures:
        return _error(name, failures[0].reason)
    size_mb = path.stat().st_size / 1e6
    if size_mb > max_file_mb:
        return _error(name, f"the file is {size_mb:.0f} MB; this demo takes files up to {max_file_mb:g} MB "
                      "(--max_file_mb), or use predict.py, which has no limit")  # fmt: skip
    try:
        samples, rate = load_audio(path, target_sr=None)
    except AudioDecodeError as exc:
        return _error(name, str(exc).removeprefix(f"{path}: "))
    duration = len(samples) / rate
    window = window_s if window_s else TIMELINE_WINDOW_S if duration > LONG_RECORDING_S else None
    hop = None if window_s else TIMELINE_HOP_S if window else None
    try:
        predictor = models.get(model_name)
        run = predictor.explain if explain else predictor.predict
        (result,) = run([path], texts=[(transcript or "").strip() or None], window_s=window, hop_s=hop)
    except PredictionError as exc:
        return Analysis(f"**error:** {exc}")
    if result.error is not None:
        return _error(name, result.error)
    timeline = card = None
    if result.timeline and len(result.timeline) > 1:
        timeline = str(out_dir / "timeline.png")
        plot_timeline(result, predictor.labels, Path(timeline))
    if result.explanation is not None:
        from ..explain.card import draw_card

        card = str(out_dir / "card.png")
        draw_card(result.explanation, name, Path(card))
    return Analysis(
        _summary(result, name),
        dict(result.probabilities),
        timeline,
        card,
        _explanation_text(result),
        {**result.to_dict(), "path": name},
    )


def _summary(result: Prediction, name: str) -> str:
    label = str(result.label)  # a prediction without an error has its label
    lines = [
        f"**{label}** (p = {result.probabilities[label]:.3f}) for {name}: "
        f"{'+'.join(result.modalities)}, {result.duration_s:.2f} s"
    ]
    if result.transcript:
        lines.append(f"transcript ({result.transcript_source}): {result.transcript}")
    if result.timeline and len(result.timeline) > 1:
        first = result.timeline[0]
        lines.append(f"timeline: {len(result.timeline)} windows of {first.end_s - first.start_s:g} s")
    lines += [f"note: {note}" for note in result.notes]
    return "\n\n".join(lines)


def _explanation_text(result: Prediction) -> str:
    if result.explanation is None:
        return ""
    notes = "".join(f"\n\n*{note}*" for note in result.explanation.notes)
    return result.explanation.sentence + notes


def build_app(
    checkpoints: Sequence[Path | str] | DemoModels, max_file_mb: float = DEFAULT_MAX_FILE_MB, device: str = "cpu"
) -> Any:
    """The Gradio page (a `gradio.Blocks`), not yet launched. Every checkpoint is loaded here, so a broken one
    stops the start with its reason instead of failing on the first click."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    models = checkpoints if isinstance(checkpoints, DemoModels) else DemoModels(checkpoints, device)
    for name in models.names:
        models.get(name)
    work = Path(tempfile.mkdtemp(prefix="mer-demo-"))

    def run(model_name, upload, microphone, webcam, transcript, window_s, explain):
        media = upload or microphone or webcam
        out_dir = Path(tempfile.mkdtemp(dir=work))  # one folder per click: the images of two clicks never mix
        a = analyse(models, model_name, media, transcript, window_s, explain, out_dir, max_file_mb)
        return (
            a.status,
            gr.update(value=a.probabilities, visible=a.probabilities is not None),
            gr.update(value=a.timeline, visible=a.timeline is not None),
            gr.update(value=a.card, visible=a.card is not None),
            a.explanation,
            a.details,
        )

    with gr.Blocks(title="mer: emotion recognition demo", analytics_enabled=False) as app:
        gr.Markdown(
            "# mer: emotion recognition\nUpload or record speech (audio or video). Leave the transcript empty to "
            "let Whisper write it (for models that read text). Runs on this machine only."
        )
        with gr.Row():
            with gr.Column():
                model = gr.Dropdown(models.names, value=models.names[0], label="model (checkpoint)")
                with gr.Tabs():
                    with gr.Tab("upload"):
                        upload = gr.File(label="audio or video file", type="filepath", elem_id="upload")
                    with gr.Tab("record audio"):
                        microphone = gr.Audio(sources=["microphone"], type="filepath", label="microphone")
                    with gr.Tab("record video"):
                        webcam = gr.Video(sources=["webcam"], label="webcam")
                transcript = gr.Textbox(label="transcript (optional)", elem_id="transcript")
                window = gr.Number(
                    value=0, label=f"timeline window in s (0: {TIMELINE_WINDOW_S:g} s windows for files over "
                    f"{LONG_RECORDING_S:g} s)", minimum=0,
                )  # fmt: skip
                explain = gr.Checkbox(value=True, label="explain the prediction")
                button = gr.Button("Analyse", variant="primary", elem_id="analyse")
            with gr.Column():
                status = gr.Markdown(elem_id="status")
                probabilities = gr.Label(num_top_classes=7, label="probabilities", visible=False, elem_id="label")
                explanation = gr.Markdown(elem_id="explanation")
                card = gr.Image(label="explanation card", type="filepath", visible=False, elem_id="card")
                timeline = gr.Image(label="timeline", type="filepath", visible=False, elem_id="timeline")
                with gr.Accordion("details (JSON)", open=False):
                    details = gr.JSON()
        button.click(
            run,
            [model, upload, microphone, webcam, transcript, window, explain],
            [status, probabilities, timeline, card, explanation, details],
        )
    return app


def serve(
    app: Any,
    host: str = DEFAULT_HOST,
    port: int | None = None,
    share: bool = False,
    max_file_mb: float = DEFAULT_MAX_FILE_MB,
    block: bool = True,
) -> str:
    """Launch the page and return its local URL; it serves until interrupted, or, with `block=False`, until
    `app.close()`."""
    import gradio as gr

    try:
        app.launch(
            server_name=host,
            server_port=port,
            share=share,
            max_file_size=f"{max_file_mb:g}mb",
            theme=gr.themes.Default(font=SYSTEM_FONTS, font_mono=["ui-monospace", "monospace"]),
            prevent_thread_lock=not block,
            quiet=not block,
        )
    except ValueError as exc:
        # Gradio gives up on its own server after five 3 s requests; on a busy machine the first page takes
        # longer than that. The server is up by then: wait for it here, with more patience.
        if "localhost is not accessible" not in str(exc) or not _wait_until_up(app.local_url):
            app.close()
            raise
        print(f"serving on {app.local_url}")
        if block:
            app.block_thread()
    return app.local_url


def _wait_until_up(url: str, seconds: float = 120.0) -> bool:
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=10).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(1)
    return False


def web_demo_parser(prog: str = "mer demo") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Try trained checkpoints in the browser (local only).")
    parser.add_argument("--ckpt", type=Path, action="append", required=True, help="a checkpoint; repeat for more")
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    parser.add_argument("--share", action="store_true", help="also open a public Gradio share link (off by default)")
    parser.add_argument(
        "--max_file_mb", type=float, default=DEFAULT_MAX_FILE_MB, help="largest upload (default: %(default)s MB)"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: %(default)s)")
    return parser


def web_demo_main(argv: Sequence[str] | None = None, prog: str = "mer demo") -> int:
    """Start the page and serve until interrupted; 2 when a checkpoint cannot be loaded."""
    args = web_demo_parser(prog).parse_args(argv)
    try:
        app = build_app(args.ckpt, args.max_file_mb, args.device)
    except PredictionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    serve(app, args.host, args.port, args.share, args.max_file_mb)
    return 0


if __name__ == "__main__":
    raise SystemExit(web_demo_main(prog="python -m mer.prediction.web"))
