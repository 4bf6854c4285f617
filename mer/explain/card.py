"""The PNG card of one explanation: modality bars, the transcript with its words coloured by effect, the cue table."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ..training.plots import new_figure, save_png
from .acoustics import CUES
from .explainer import MODALITY_NAMES, Explanation

SUPPORT, OPPOSE = (0.84, 0.15, 0.16), (0.12, 0.47, 0.71)  # red: raised the prediction, blue: lowered it
CARD_WORDS = 40  # words drawn on the card (the JSON has them all)
FULL_COLOUR_EFFECT = 0.1  # a word that moves the probability this much or more gets the full colour


def _cell(value: float | None, unit: str = "", signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f} {unit}".strip() if signed else f"{value:.1f} {unit}".strip()


def draw_card(explanation: Explanation, title: str, path: Path) -> None:
    """Write the card of `explanation` to `path` (atomically)."""
    e = explanation
    fig = new_figure(9, 6.4)
    grid = fig.add_gridspec(4, 1, height_ratios=[1.2, 0.9, 1.5, 0.8])
    fig.suptitle(f"{title}: {e.label} (p = {e.probability:.2f})", fontsize=12, fontweight="bold")

    bars = fig.add_subplot(grid[0])
    names = [MODALITY_NAMES[m.modality] for m in e.modalities]
    positions = range(len(names))
    occlusion = [m.share or 0.0 for m in e.modalities]
    bars.barh([p + 0.2 for p in positions], occlusion, height=0.38, color="#4c72b0", label="occlusion share")
    if any(m.gate is not None for m in e.modalities):
        gates = [m.gate or 0.0 for m in e.modalities]
        bars.barh([p - 0.2 for p in positions], gates, height=0.38, color="#dd8452", label="fusion gate weight")
    bars.set_yticks(list(positions), names)
    bars.set_xlim(0, 1)
    bars.set_title("modalities", fontsize=10, loc="left")
    bars.legend(loc="lower right", fontsize=8, frameon=False)
    bars.grid(axis="x", alpha=0.3)

    words = fig.add_subplot(grid[1])
    words.axis("off")
    words.set_title(f"words ({e.word_method or 'no transcript'}): red raised, blue lowered", fontsize=10, loc="left")
    scale = max([FULL_COLOUR_EFFECT, *(abs(w.effect) for w in e.words)])
    x, y = 0.0, 0.8
    for w in e.words[:CARD_WORDS]:
        strength = min(1.0, abs(w.effect) / scale)
        colour = SUPPORT if w.effect > 0 else OPPOSE
        width = 0.012 * (len(w.word) + 1.5)
        if x + width > 1.0:
            x, y = 0.0, y - 0.3
        words.text(
            x,
            y,
            w.word,
            fontsize=10,
            transform=words.transAxes,
            bbox={"facecolor": (*colour, 0.85 * strength), "edgecolor": "none", "boxstyle": "round,pad=0.2"},
        )
        x += width
    if len(e.words) > CARD_WORDS:
        words.text(x, y, f"... (+{len(e.words) - CARD_WORDS} words)", fontsize=9, transform=words.transAxes)

    table = fig.add_subplot(grid[2])
    table.axis("off")
    table.set_title(f"acoustic cues vs {e.reference or 'no reference'}", fontsize=10, loc="left")
    rows = [
        [
            CUES[c.cue].label,
            _cell(c.value, c.unit),
            _cell(c.neutral, c.unit),
            _cell(c.deviation, c.unit, signed=True),
            "-" if c.typical is None else "typical" if c.typical else "unusual",
        ]
        for c in e.cues
    ]
    drawn = table.table(
        cellText=rows,
        colLabels=["cue", "this recording", "neutral median", "difference", "vs neutral 10-90%"],
        loc="upper left",
        cellLoc="left",
    )
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(9)
    drawn.scale(1, 1.25)

    text = fig.add_subplot(grid[3])
    text.axis("off")
    text.text(0, 1, "\n".join(textwrap.wrap(e.sentence, 115)), fontsize=9, va="top", transform=text.transAxes)
    save_png(fig, Path(path))
