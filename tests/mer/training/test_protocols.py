import numpy as np
import pytest

from mer.protocols import Fold, ProtocolError, Rows, check_fold, make_folds, open_features, session_of


@pytest.fixture
def rows(synth):
    meta = synth.rows(iemocap=True, per_group=20)
    return Rows.from_meta(meta, [m["group"] for m in meta])


def test_pooled_trains_on_train_selects_on_val_and_reports_each_test_group(rows):
    (fold,) = make_folds("pooled", rows)
    assert set(rows.group[fold.train]) == {"train"} and set(rows.group[fold.val]) == {"val"}
    assert set(fold.report) == {"testA", "testB"}
    assert set(rows.dataset[fold.report["testB"]]) == {"MELD"}
    assert "MELD" not in set(rows.dataset[fold.report["testA"]])


def test_loco_never_puts_the_held_out_corpus_in_training_or_validation(rows):
    folds = make_folds("loco", rows)
    assert [f.name for f in folds] == ["loco_CREMA-D", "loco_IEMOCAP", "loco_MELD", "loco_RAVDESS"]
    for fold in folds:
        (corpus,) = fold.report
        fitted = set(rows.dataset[fold.train]) | set(rows.dataset[fold.val])
        assert corpus not in fitted
        assert set(rows.group[fold.train]) == {"train"} and set(rows.group[fold.val]) == {"val"}
        # every row of the held-out corpus, from every group, is reported
        np.testing.assert_array_equal(fold.report[corpus], np.flatnonzero(rows.dataset == corpus))
        assert len(set(rows.group[fold.report[corpus]])) == 3


def test_loco_with_one_holdout_and_unknown_holdout(rows):
    (fold,) = make_folds("loco", rows, holdout="MELD")
    assert fold.name == "loco_MELD"
    with pytest.raises(ProtocolError, match=r"'EmoDB' is not among the corpora"):
        make_folds("loco", rows, holdout="EmoDB")


@pytest.mark.parametrize("val_mode", ["speaker", "session"])
def test_loso_keeps_each_session_out_of_training_and_validation(rows, val_mode):
    folds = make_folds("iemocap_loso", rows, loso_val=val_mode)
    assert [f.name for f in folds] == [f"loso_Ses0{i}" for i in range(1, 6)]
    tested = []
    for fold in folds:
        (session,) = fold.report
        tested.append(session)
        assert set(rows.dataset[np.concatenate([fold.train, fold.val, fold.report[session]])]) == {"IEMOCAP"}
        assert session not in set(rows.session[fold.train]) | set(rows.session[fold.val])
        assert set(rows.session[fold.report[session]]) == {session}
        train_speakers = set(zip(rows.session[fold.train], rows.speaker[fold.train], strict=True))
        val_speakers = set(zip(rows.session[fold.val], rows.speaker[fold.val], strict=True))
        assert not train_speakers & val_speakers
        assert len(val_speakers) == (1 if val_mode == "speaker" else 2)
        # all IEMOCAP rows are used exactly once per fold
        used = np.concatenate([fold.train, fold.val, fold.report[session]])
        assert sorted(used) == sorted(np.flatnonzero(rows.dataset == "IEMOCAP"))
    assert sorted(tested) == [f"Ses0{i}" for i in range(1, 6)]


def test_session_comes_from_the_field_or_the_id():
    assert session_of({"dataset": "IEMOCAP", "session": "Ses03"}) == "Ses03"
    assert session_of({"dataset": "IEMOCAP", "id": "IEMOCAP/Ses04F_script01_1_M012"}) == "Ses04"
    assert session_of({"dataset": "MELD", "id": "MELD/dia1_utt2"}) == ""
    with pytest.raises(ProtocolError, match="has no session"):
        session_of({"dataset": "IEMOCAP", "id": "IEMOCAP/odd"})


def test_fold_checks_refuse_leaks_and_missing_validation(rows):
    meld = np.flatnonzero(rows.dataset == "MELD")
    leaky = Fold("leaky", train=meld[:5], val=np.flatnonzero(rows.dataset == "RAVDESS")[:5], report={"MELD": meld[5:]})
    with pytest.raises(ProtocolError, match=r"corpus \['MELD'\] is in both training and test"):
        check_fold(leaky, rows, "loco")
    with pytest.raises(ProtocolError, match="also reported"):
        check_fold(Fold("overlap", meld[:5], meld[5:9], {"x": meld[:2]}), rows, "pooled")
    with pytest.raises(ProtocolError, match="no validation rows"):
        check_fold(Fold("noval", meld[:5], meld[:0], {}), rows, "pooled")


def test_open_features_reads_every_group_and_filters_corpora(tmp_path, synth):
    root = synth.write_root(tmp_path / "f", per_group=10, iemocap=True)
    data = open_features(root)
    assert len(data.rows) == len(data.store) == 3 * 3 * 10 + 5 * 10
    assert set(data.rows.group) == {"train", "val", "testA", "testB"}
    only = open_features(root, corpora=["IEMOCAP"])
    assert set(only.rows.dataset) == {"IEMOCAP"} and len(only.store) == 50
    assert (
        only.store.batch([0, 1])["labels"].tolist() == only.rows_labels[:2].tolist()
        if hasattr(only, "rows_labels")
        else True
    )
    with pytest.raises(ProtocolError, match=r"data.corpora names \['EmoDB'\]"):
        open_features(root, corpora=["EmoDB"])
    with pytest.raises(ProtocolError, match="expected group folders"):
        open_features(tmp_path)


def test_loco_goes_on_when_a_fold_cannot_select_a_model(synth):
    """ESD with only speaker 0020, built train-only: the fold that trains on it alone is skipped, not the sweep."""
    corpora = {"RAVDESS": (("train", "val", "testA"), (0, 1, 2, 3)), "ESD": (("train",), (0, 3, 4, 5, 6))}
    meta = synth.rows(corpora=corpora, per_group=20)
    rows = Rows.from_meta(meta, [m["group"] for m in meta])
    skipped: list[str] = []
    [fold] = make_folds("loco", rows, skipped=skipped)
    assert fold.name == "loco_ESD" and set(rows.dataset[fold.val]) == {"RAVDESS"}
    assert skipped == [
        "loco_RAVDESS skipped: its training corpora (ESD) have no validation rows (a corpus built train-only, "
        "e.g. one with a single speaker, has none); rebuild one of them with val rows to run this fold"
    ]
    esd = [r for r in meta if r["dataset"] == "ESD"]
    only_esd = Rows.from_meta(esd, [r["group"] for r in esd])
    with pytest.raises(ProtocolError, match="loco needs at least two corpora"):
        make_folds("loco", only_esd)
    with pytest.raises(ProtocolError, match="loco_RAVDESS skipped"):
        make_folds("loco", rows, holdout="RAVDESS")
