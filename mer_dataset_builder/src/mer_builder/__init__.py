"""mer_builder: emotion corpora in their native layouts (or described by a card) into one validated manifest."""

from .labels import EMOTIONS, NUM_CLASSES, LabelPolicy, label_index
from .manifest import MANIFEST_NAME, ManifestRecord, iter_manifest, read_manifest

__version__ = "0.1.0"
__all__ = [
    "EMOTIONS",
    "MANIFEST_NAME",
    "NUM_CLASSES",
    "LabelPolicy",
    "ManifestRecord",
    "iter_manifest",
    "label_index",
    "read_manifest",
]
