import json

import av
import numpy as np
import pytest

from mer.features.cli import extract_hf_main
from mer.features.config import FaceVideoSpec
from mer.features.memmap import build_memmap
from mer.features.safe_pickle import safe_load
from mer.features.store import open_feature_store
from mer.features.video import (
    N_BLENDSHAPES,
    FaceDetector,
    MissingMediaError,
    VideoDecodeError,
    load_face_video_encoder,
    sample_frames,
    square_crop,
)
from tests.mer.features.conftest import Utt, write_processed_dir

pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning")


def _numbered_video(path, n_frames=50, fps=25):
    """Frame k is a flat grey of level 5 * k, so a decoded frame tells which one it was."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"qscale": "1"}
        for k in range(n_frames):
            image = np.full((48, 64, 3), 5 * k, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def _frame_numbers(frames):
    return [round(float(f.mean()) / 5) for f in frames]


def test_frames_are_sampled_at_the_requested_rate_or_spread_over_long_clips(tmp_path):
    video = _numbered_video(tmp_path / "clip.mp4")
    assert _frame_numbers(sample_frames(video, fps=2, max_frames=32)) == [0, 13, 25, 38]
    assert _frame_numbers(sample_frames(video, fps=2, max_frames=2)) == [0, 25]
    assert sample_frames(video, fps=100, max_frames=100)[0].shape == (48, 64, 3)
    assert len(sample_frames(video, fps=100, max_frames=100)) == 50  # never more frames than the clip has


def test_unreadable_media_is_reported_by_name(tmp_path):
    with pytest.raises(MissingMediaError, match=r"nope\.mp4: media file not found"):
        sample_frames(tmp_path / "nope.mp4", 2, 8)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01 not a video at all" * 100)
    with pytest.raises(VideoDecodeError, match=r"garbage\.mp4: cannot decode video"):
        sample_frames(garbage, 2, 8)


def test_square_crop_keeps_faces_at_the_border_square_with_black_outside():
    frame = np.full((100, 200, 3), 200, np.uint8)
    crop = square_crop(frame, (150.0, 10.0, 210.0, 70.0), margin=0.25, size=32)  # runs off the right edge
    assert crop.shape == (32, 32, 3)
    assert crop[:, -4:].max() == 0 and crop[16, :8].min() == 200


def test_face_detection_on_real_video(feat_media):
    with FaceDetector(FaceVideoSpec.detector, 0.5).opened() as detect:
        faces = [detect(f) for f in sample_frames(feat_media / "single_face.mp4", 2, 4)]
        assert all(face is not None for face in faces)
        x0, y0, x1, y1 = faces[0].box
        assert 150 < x0 < x1 < 450 and 50 < y0 < y1 < 360  # the face in the middle of the 640x360 frame
        assert faces[0].blendshapes.shape == (N_BLENDSHAPES,) and faces[0].blendshapes.min() >= 0
        assert all(detect(f) is None for f in sample_frames(feat_media / "no_face.mp4", 2, 4))


def test_packaged_face_encoder_gives_a_zero_vector_and_a_zero_count_without_a_face(feat_media):
    encoder = load_face_video_encoder(FaceVideoSpec(max_frames=4))
    assert encoder.dim == 2 * (1280 + N_BLENDSHAPES)
    result = encoder([feat_media / "single_face.mp4", feat_media / "no_face.mp4", None])
    assert result.face_frames == [4, 0, None]
    assert np.abs(result.vectors[0]).sum() > 0 and np.isfinite(result.vectors).all()
    assert not result.vectors[1].any() and not result.vectors[2].any()


def test_hf_command_with_faces_end_to_end(feat_media, tiny_models, tmp_path):
    utts = [
        Utt("RAVDESS/01-01-03-01-01-01-01", "train", "RAVDESS_01", "joy", "Kids are talking by the door",
            media_path=str(feat_media / "single_face.mp4")),
        Utt("RAVDESS/01-01-04-01-01-01-01", "train", "RAVDESS_01", "sadness", "Dogs are sitting by the door",
            media_path=str(feat_media / "no_face.mp4")),
        Utt("RAVDESS/03-01-05-01-01-01-01", "train", "RAVDESS_01", "anger", "Kids are talking by the door"),
        Utt("RAVDESS/01-01-05-01-01-01-01", "train", "RAVDESS_01", "anger", "Dogs are sitting by the door",
            media_path="video/missing.mp4"),
    ]  # fmt: skip
    processed = write_processed_dir(tmp_path / "processed", utts)
    out = tmp_path / "F"
    args = ["--processed_dir", str(processed), "--out_dir", str(out), "--quiet", "--device", "cpu",
            "--num_workers", "1",
            "--audio_model", str(tiny_models["wavlm_layer"]), "--text_model", str(tiny_models["bert"]),
            "--video_model", str(tiny_models["resnet"]), "--video_max_frames", "3",
            "--max_failure_rate", "0.3"]  # fmt: skip
    assert extract_hf_main(args) == 0
    info = json.loads((out / "feature_info.json").read_text())
    assert info["dims"] == {"audio": 64, "text": 32, "video": 2 * (16 + N_BLENDSHAPES)}
    assert info["video"] == {
        "clips_with_face": 1,
        "clips_without_face": ["RAVDESS/01-01-04-01-01-01-01"],
        "clips_without_media": 1,
    }
    assert [(f["id"], f["reason"]) for f in info["failures"]] == [("RAVDESS/01-01-05-01-01-01-01", "missing_media")]
    assert info["failures"][0]["file"] == str(processed / "video" / "missing.mp4")
    face = safe_load(out / "train" / "RAVDESS" / "01-01-03-01-01-01-01.pkl")
    assert face["video_face_frames"] == 3 and face["video_features"].any()
    assert not safe_load(out / "train" / "RAVDESS" / "03-01-05-01-01-01-01.pkl")["video_features"].any()
    build_memmap(out / "train", tmp_path / "M", quiet=True)
    store = open_feature_store(tmp_path / "M")
    assert store.modalities == ("audio", "text", "video") and len(store) == 3
    np.testing.assert_array_equal(store.batch([0])["video"][0], face["video_features"])
