"""The canonical label space and the label policies, defined once for the whole project.

Every corpus recipe maps its raw labels through an explicit table into `EMOTIONS`;
labels outside the space are dropped unless a policy flag maps them. The training side
imports the same names, so the index order can never drift between stages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
NUM_CLASSES: int = len(EMOTIONS)
LABEL_OF: dict[str, int] = {name: index for index, name in enumerate(EMOTIONS)}

# Each policy: raw label it governs -> {choice: canonical emotion or None (drop)}.
POLICY_CHOICES: dict[str, dict[str, str | None]] = {
    "mead_contempt": {"drop": None, "map_to_disgust": "disgust"},
    "emovdb_sleepy": {"drop": None, "map_to_neutral": "neutral"},
    "ravdess_calm": {"drop": None, "map_to_neutral": "neutral"},
    "iemocap_frustrated": {"drop": None, "map_to_anger": "anger"},
    "emodb_boredom": {"drop": None, "map_to_neutral": "neutral"},
}


@dataclass(frozen=True)
class LabelPolicy:
    """How labels outside the 7-class space are treated; every default is `drop`."""

    mead_contempt: str = "drop"
    emovdb_sleepy: str = "drop"
    ravdess_calm: str = "drop"
    iemocap_frustrated: str = "drop"
    emodb_boredom: str = "drop"

    def __post_init__(self) -> None:
        for name, choice in asdict(self).items():
            if choice not in POLICY_CHOICES[name]:
                raise ValueError(f"--{name} must be one of {sorted(POLICY_CHOICES[name])}, got {choice!r}")

    def resolve(self, name: str) -> str | None:
        """The canonical emotion the policy `name` maps its raw label to, or None to drop."""
        return POLICY_CHOICES[name][getattr(self, name)]


def label_index(emotion: str) -> int:
    """Index of a canonical emotion; a clear error for anything outside the space."""
    try:
        return LABEL_OF[emotion]
    except KeyError:
        raise ValueError(f"{emotion!r} is not in the label space {EMOTIONS}") from None


def map_raw_label(
    raw: str,
    table: Mapping[str, str | None],
    policy: LabelPolicy | None = None,
    policy_labels: Mapping[str, str] | None = None,
) -> str | None:
    """Map a corpus's raw label to a canonical emotion, or None when it is dropped.

    `table` maps every raw label the corpus defines (None = always dropped);
    `policy_labels` maps the raw labels governed by a policy flag to that flag's name.
    A raw label in neither is unknown and raises, so a typo in a corpus never
    silently vanishes.
    """
    if policy_labels and raw in policy_labels:
        return (policy or LabelPolicy()).resolve(policy_labels[raw])
    if raw not in table:
        known = sorted(set(table) | set(policy_labels or {}))
        raise KeyError(f"unknown raw label {raw!r}; expected one of {known}")
    return table[raw]
