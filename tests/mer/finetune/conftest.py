"""A small processed folder (the builder's output format) and tiny randomly initialised encoders for fine-tuning.

The corpus is learnable from either modality alone: each emotion has its own tone pattern
(the demo synthesiser) and its own words, so tests can check that training learns, that a
modality the model must do without still trains the other, and that outputs are exact.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mer_builder.audio import write_wav
from mer_builder.demo.tones import synth_utterance
from mer_builder.labels import LABEL_OF
from mer_builder.manifest import MANIFEST_NAME, ManifestRecord, group_of, write_manifest

WORDS = {
    "anger": ["i am so angry", "this makes me furious", "stop it now"],
    "joy": ["that is wonderful news", "i am so happy", "yes we did it"],
    "sadness": ["i miss her so much", "everything is lost", "i am so sad"],
}
SPEAKERS = ["Ross", "Rachel", "Monica", "Joey"]
TINY_VOCAB_WORDS = (
    "i am so angry this makes me furious stop it now that is wonderful news happy yes we did miss her much "
    "everything lost sad ross rachel monica joey : , . ! ?"
)


def _records(per_class: dict[str, int]) -> list[tuple[ManifestRecord, str]]:
    """MELD-like dialogues (speaker names, turn order) in train/val/test; emotion cycles within a dialogue."""
    out = []
    emotions = list(WORDS)
    for split, n in per_class.items():
        for k in range(n * len(emotions)):
            emotion = emotions[k % len(emotions)]
            dialogue, turn = k // 4, k % 4
            uid = f"MELD/{split}_dia{dialogue}_utt{turn}"
            text = WORDS[emotion][k % 3]
            record = ManifestRecord(
                id=uid, dataset="MELD", split=split, group=group_of("MELD", split), speaker_id=SPEAKERS[turn],
                emotion=emotion, label=LABEL_OF[emotion], raw_label=emotion, text=text,
                audio_path=f"audio/{uid}.wav", duration_s=0.5 + 0.05 * (k % 5), sample_rate=16000, language="en",
                dialogue_id=f"{split}_{dialogue}", utterance_index=turn,
            )  # fmt: skip
            out.append((record, emotion))
    return out


def write_corpus(root: Path, per_class: dict[str, int] | None = None, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    pairs = _records(per_class or {"train": 12, "val": 4, "test": 4})
    for record, emotion in pairs:
        write_wav(root / record.audio_path, synth_utterance(emotion, rng, duration_s=record.duration_s))
    write_manifest([r for r, _ in pairs], root / MANIFEST_NAME)
    return root


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 MELD-like utterances (3 emotions) in train 36 / val 12 / testB 12; read-only for tests."""
    return write_corpus(tmp_path_factory.mktemp("ft_corpus") / "processed")


@pytest.fixture(scope="session")
def tiny_encoders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Randomly initialised BERT, RoBERTa (byte-level BPE) and wav2vec2, saved with save_pretrained."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import (
        BertConfig,
        BertModel,
        BertTokenizerFast,
        RobertaConfig,
        RobertaModel,
        RobertaTokenizerFast,
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2Model,
    )

    root = tmp_path_factory.mktemp("tiny_encoders")
    torch.manual_seed(0)
    small = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
    paths = {name: root / name for name in ("bert", "roberta", "wav2vec2")}

    paths["bert"].mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_VOCAB_WORDS.split()]
    (paths["bert"] / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab=str(paths["bert"] / "vocab.txt")).save_pretrained(paths["bert"])
    BertModel(BertConfig(vocab_size=len(vocab), max_position_embeddings=128, **small)).save_pretrained(paths["bert"])

    paths["roberta"].mkdir()
    bpe = ByteLevelBPETokenizer()
    sentences = [s for group in WORDS.values() for s in group] + [f"{s}: hi" for s in SPEAKERS]
    bpe.train_from_iterator(sentences, vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(paths["roberta"]))
    tokenizer = RobertaTokenizerFast(
        vocab_file=str(paths["roberta"] / "vocab.json"), merges_file=str(paths["roberta"] / "merges.txt")
    )
    tokenizer.save_pretrained(paths["roberta"])
    RobertaModel(
        RobertaConfig(
            vocab_size=len(tokenizer), max_position_embeddings=130, pad_token_id=1, type_vocab_size=1, **small
        )
    ).save_pretrained(paths["roberta"])

    config = Wav2Vec2Config(
        conv_dim=(32, 32, 32), conv_kernel=(10, 8, 8), conv_stride=(5, 4, 8), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True, **small,
    )  # fmt: skip
    Wav2Vec2Model(config).save_pretrained(paths["wav2vec2"])
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True).save_pretrained(paths["wav2vec2"])
    return paths


def quick_sets(corpus: Path, output_dir: Path, **sets: object) -> list[str]:
    """`--set` strings for a fast CPU fine-tuning run on the test corpus."""
    base = {
        "data.processed_dir": str(corpus),
        "experiment.output_dir": str(output_dir),
        "data.report_groups": "[testB]",
        "data.max_audio_s": 1.0,
        "data.max_text_tokens": 32,
        "model.hidden_dim": 32,
        "model.dropout": 0.1,
        "training.epochs": 2,
        "training.batch_size": 8,
        "training.lr": 3e-3,
        "training.num_threads": 1,
        "encoders.text.lr": 1e-3,
        "encoders.audio.lr": 1e-3,
    }
    base.update(sets)
    return [f"{k}={v}" for k, v in base.items()]


@pytest.fixture(scope="session")
def ft():
    """Helpers of this module (test modules cannot import conftest under importlib mode)."""
    return SimpleNamespace(sets=quick_sets, write_corpus=write_corpus, words=WORDS)
