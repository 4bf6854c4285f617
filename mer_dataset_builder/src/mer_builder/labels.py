"""The canonical label spaces and the label policies, defined once for the whole project.

Every corpus recipe maps its raw labels through an explicit table into `EMOTIONS`;
labels outside the space are dropped unless a policy flag maps them. Corpora that also rate
sentiment record it in `SENTIMENTS` (MELD's Sentiment column; a continuous score such as
CMU-MOSEI's through `sentiment_from_score`). `LABEL_SPACES` names both label types, the field
that holds each in the manifest and the feature metadata, and their class order. The training
side imports the same names, so the index order can never drift between stages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
NUM_CLASSES: int = len(EMOTIONS)
LABEL_OF: dict[str, int] = {name: index for index, name in enumerate(EMOTIONS)}

SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
# Sentiment scores on CMU-MOSEI's 7-point scale (-3 very negative .. +3 very positive, the mean of the
# annotators' ratings) are binned as the scale's integer classes are, by rounding to the nearest integer
# (halves away from zero), and keeping the sign: a score rounding to 0 is neutral. So score <= -0.5 is
# negative, score >= 0.5 positive, anything between neutral; the mean of three ratings (-1, 0, 0) = -1/3
# is neutral and (-1, -1, 0) = -2/3 negative.
SENTIMENT_NEUTRAL_HALF_WIDTH = 0.5


def sentiment_from_score(score: float) -> str:
    """The sentiment class of a continuous score (CMU-MOSEI's -3..3 scale), by the rule above."""
    if score != score:  # NaN
        raise ValueError("sentiment score is NaN")
    if score <= -SENTIMENT_NEUTRAL_HALF_WIDTH:
        return "negative"
    if score >= SENTIMENT_NEUTRAL_HALF_WIDTH:
        return "positive"
    return "neutral"


@dataclass(frozen=True)
class LabelSpace:
    """One label type: its classes in index order and the record field (manifest, feature metadata)
    that holds a row's class name. A row whose field is missing has no label of this type."""

    name: str
    classes: tuple[str, ...]
    field: str

    def index(self, name: str) -> int:
        try:
            return self.classes.index(name)
        except ValueError:
            raise ValueError(f"{name!r} is not in the {self.name} label space {self.classes}") from None


LABEL_SPACES: dict[str, LabelSpace] = {
    "emotion": LabelSpace("emotion", EMOTIONS, "emotion"),
    "sentiment": LabelSpace("sentiment", SENTIMENTS, "sentiment"),
}
LABEL_TYPES: tuple[str, ...] = tuple(LABEL_SPACES)


def label_space(label_type: str) -> LabelSpace:
    try:
        return LABEL_SPACES[label_type]
    except KeyError:
        raise ValueError(f"unknown label type {label_type!r}; expected one of {list(LABEL_SPACES)}") from None


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
