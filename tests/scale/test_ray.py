"""The builder's prepare and the MFCC extractor on a local Ray instance: byte-identical to the local run, and
a killed worker's task rerun by Ray. Skipped, with the reason, where Ray does not install or start."""

from __future__ import annotations

import pytest

from mer_builder.parallel import open_executor

from .conftest import assert_same_tree, build, extract, run_with_a_killed_worker

pytestmark = pytest.mark.slow  # a local Ray instance takes several seconds to start


def test_ray_build_and_mfcc_features_match_the_local_run_byte_for_byte(reference, ray_instance, tmp_path):
    outcomes = build(reference.raw, tmp_path / "processed", backend="ray", num_workers=2)
    assert [o.report["audio"]["normalised"] for o in outcomes] == [120, 50]
    assert_same_tree(tmp_path / "processed", reference.processed)
    info = extract(reference.processed, tmp_path / "features", backend="ray", num_workers=2)
    assert info["runtime"]["backend"] == "ray" and info["timing"]["extracted"] == 170
    assert_same_tree(tmp_path / "features", reference.features)
    assert ray_instance.is_initialized()  # mer used the caller's Ray and left it running


def test_ray_reruns_the_task_of_a_killed_worker(reference, ray_instance, tmp_path):
    (tmp_path / "out").mkdir()
    shared = {"inputs": {"--raw_dir": reference.raw}, "outputs": {"--out_dir": tmp_path / "out"}}
    with open_executor("ray", 2, **shared) as executor:
        run_with_a_killed_worker(executor, reference.raw, tmp_path / "out", tmp_path / "killed")
