"""Rebuilding a checkpoint's features for prediction: missing or moved encoders, configs that do not fit, faces."""

import numpy as np
import pytest
import torch

from mer import Predictor
from mer.features.pipeline import FeaturePipeline
from mer.prediction import PredictionError
from mer.prediction.cli import predict_main
from mer.training.checkpoint import load_checkpoint, model_from_checkpoint

MFCC = [{"type": "mfcc"}]
HASHING = {"encoder": {"type": "hashing"}}
ROBERTA = {"encoder": {"type": "text_encoder", "model": "roberta-base"}}  # not in any cache here: HF_HUB_OFFLINE


def test_a_checkpoint_without_a_feature_config_cannot_predict(write_checkpoint):
    ckpt = write_checkpoint("flexible_at", {"audio": 160, "text": 768}, None)
    with pytest.raises(PredictionError, match="records no feature config"):
        Predictor.from_checkpoint(ckpt, device="cpu")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"audio": [{"type": "mfcc", "n_mfcc": 40}], "text": HASHING},
            "audio 80-d where the model was trained on 160-d",
        ),
        ({"audio": [{"type": "spectrogram"}], "text": HASHING}, "cannot be rebuilt by this mer (audio type must be"),
    ],
)
def test_features_that_do_not_fit_the_model_are_refused(write_checkpoint, config, message):
    ckpt = write_checkpoint("flexible_at", {"audio": 160}, config)
    with pytest.raises(PredictionError, match=message.replace("(", r"\(")):
        Predictor.from_checkpoint(ckpt, device="cpu")


def test_an_encoder_that_cannot_be_loaded_is_named_with_how_to_provide_it(write_checkpoint, demo, capsys):
    wav = str(demo.audio(demo.group("testA")[0]))
    hub = write_checkpoint("flexible_at", {"audio": 160, "text": 768}, {"audio": MFCC, "text": ROBERTA})
    assert predict_main(["--ckpt", str(hub), wav, "--text", "hello"]) == 2
    err = capsys.readouterr().err
    assert "trained on text features from the model 'roberta-base', which cannot be loaded here" in err
    assert "pass a local copy with --encoder text=PATH" in err and "Hugging Face cache" in err

    moved = write_checkpoint(
        "flexible_at", {"audio": 160, "text": 384},
        {"audio": MFCC, "text": {"encoder": {"type": "text_encoder", "model": "/gone/all-MiniLM-L6-v2"}}},
    )  # fmt: skip
    assert predict_main(["--ckpt", str(moved), wav, "--text", "I am so happy!"]) == 2
    assert "from the model '/gone/all-MiniLM-L6-v2', which cannot be loaded here" in capsys.readouterr().err
    # the same model from another place: the packaged copy
    argv = ["--ckpt", str(moved), wav, "--text", "I am so happy!", "--encoder", "text=packaged:all-MiniLM-L6-v2"]
    assert predict_main([*argv, "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[-3] == "audio+text"
    with pytest.raises(PredictionError, match="use no pretrained audio model"):
        Predictor.from_checkpoint(moved, device="cpu", encoders={"audio": "packaged:whisper-tiny.en"})


def test_an_encoder_the_model_does_not_read_is_not_loaded(write_checkpoint, demo):
    """An audio model trained beside unavailable text features still predicts: its text part is never built."""
    ckpt = write_checkpoint("flexible_at", {"audio": 160}, {"audio": MFCC, "text": ROBERTA})
    (result,) = Predictor.from_checkpoint(ckpt, device="cpu").predict([demo.audio(demo.group("testA")[0])])
    assert result.ok and result.modalities == ("audio",)


def test_a_video_model_reads_faces_from_video_files(write_checkpoint, demo, faceless_video):
    """Faces of the MELD clip go into the model exactly as the extractor computes them; a wav and a video
    without a face get the zero face vector the training features gave such clips, and say so."""
    pytest.importorskip("efficientnet_lite_pytorch", reason="the offline face encoder package is not installed")
    pytest.importorskip("mediapipe", reason="MediaPipe (face detection) is not installed")
    config = {"audio": MFCC, "text": HASHING,
              "video": {"type": "face", "encoder": "packaged:efficientnet-lite0", "max_frames": 3}}  # fmt: skip
    pipeline = FeaturePipeline.from_config(config)
    ckpt = write_checkpoint("gated_avt", dict(pipeline.dims), config)
    meld = next(r for r in demo.group("testB") if r.get("media_path"))
    text = meld["text"]
    clip, wav, faceless = Predictor.from_checkpoint(ckpt, device="cpu").predict(
        [meld["media_path"], demo.audio(meld), faceless_video], texts=[text] * 3
    )
    assert clip.modalities == ("audio", "text", "video") and clip.notes == ()
    assert wav.modalities == ("audio", "text") and wav.notes[0].startswith("no video track")
    assert faceless.modalities == ("audio", "text") and faceless.notes[0].startswith("no face found in the video")

    model = model_from_checkpoint(load_checkpoint(ckpt))
    for result, media in ((clip, meld["media_path"]), (wav, None)):
        features = pipeline.extract_one(audio=result.path, text=text, media_path=media)
        assert (np.abs(features["video"]).sum() > 0) == (media is not None)
        with torch.no_grad():
            logits = model({m: torch.from_numpy(features[m][None]) for m in model.modalities})
        expected = torch.softmax(logits, dim=1)[0].numpy()
        np.testing.assert_allclose(list(result.probabilities.values()), expected, atol=1e-5)
