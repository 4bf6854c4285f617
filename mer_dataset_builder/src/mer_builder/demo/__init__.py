"""The synthetic demo corpus: every built-in corpus in its exact native layout, audio made with numpy.

Each corpus has a writer module here (`demo/<name>.py`, `write(corpus_dir, seed)`) that lays
out a small corpus exactly as the real one ships, traps included, so `all --raw_dir D/raw`
runs end to end with no download. The test fixtures call the same writers.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

from ..recipes import canonical_name, get_recipe


def write_demo(out_dir: Path, datasets: Iterable[str] | None = None, seed: int = 0) -> Path:
    """Write `out_dir/raw/<corpus folder>` for each dataset (all by default); returns the raw dir."""
    from ..manifest import CORPORA

    raw_dir = Path(out_dir) / "raw"
    for name in [canonical_name(d) for d in (datasets or CORPORA)]:
        writer = importlib.import_module(f"{__name__}.{name}")
        writer.write(raw_dir / get_recipe(name).FOLDER, seed=seed)
    return raw_dir
