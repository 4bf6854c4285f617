import json

import pytest

from mer.features.config import (
    EgemapsSpec,
    FaceVideoSpec,
    FeatureConfig,
    FeatureConfigError,
    HashingSpec,
    MfccSpec,
    SpeechEncoderSpec,
    TextEncoderSpec,
    TextSpec,
)

CONFIGS = [
    FeatureConfig(),
    FeatureConfig(audio=(MfccSpec(n_mfcc=40), EgemapsSpec()), text=TextSpec(HashingSpec(dim=512), True, 3)),
    FeatureConfig(
        audio=(SpeechEncoderSpec("microsoft/wavlm-base", layer=6, pooling="mean"),),
        text=TextSpec(TextEncoderSpec("roberta-base", pooling="cls"), context_window=2),
        video=FaceVideoSpec("microsoft/resnet-50", fps=4.0, blendshapes=False),
    ),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_config_survives_json_and_keeps_its_hash(config):
    saved = json.loads(json.dumps(config.to_dict()))
    assert FeatureConfig.from_dict(saved) == config
    assert FeatureConfig.from_dict(saved).hash == config.hash
    reordered = json.loads(json.dumps(saved, sort_keys=True))
    assert FeatureConfig.from_dict(reordered).hash == config.hash


def test_every_setting_changes_the_hash():
    hashes = {c.hash for c in CONFIGS} | {FeatureConfig(text=TextSpec(include_speaker=True)).hash}
    hashes |= {FeatureConfig(audio=(MfccSpec(hop_length=256),)).hash}
    assert len(hashes) == len(CONFIGS) + 2


def test_bad_configs_are_refused_with_the_reason():
    with pytest.raises(FeatureConfigError, match=r"unknown keys \['n_mfccs'\]"):
        FeatureConfig.from_dict({"audio": [{"type": "mfcc", "n_mfccs": 20}]})
    with pytest.raises(FeatureConfigError, match="type must be one of"):
        FeatureConfig.from_dict({"audio": [{"type": "spectrogram"}]})
    with pytest.raises(FeatureConfigError, match="format_version 2"):
        FeatureConfig.from_dict({"format_version": 2})
    with pytest.raises(FeatureConfigError, match="cannot be combined"):
        FeatureConfig(audio=(SpeechEncoderSpec(), MfccSpec()))
    with pytest.raises(FeatureConfigError, match="speech encoders have no CLS"):
        FeatureConfig(audio=(SpeechEncoderSpec(pooling="cls"),))
    with pytest.raises(FeatureConfigError, match="context_window"):
        FeatureConfig(text=TextSpec(context_window=-1))
