from pathlib import Path

import pytest

from mer.config import SCHEMA, ConfigError, apply_overrides, defaults, describe_keys, load_config, parse_value, validate

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3e-4", 3e-4),
        ("1.0e-3", 1e-3),
        ("-2E+1", -20.0),
        ("12", 12),
        ("true", True),
        ("null", None),
        ("[A,T]", ["A", "T"]),
        ("[1, 2, 3]", [1, 2, 3]),
        ("softmax", "softmax"),
        ("outputs/run 1", "outputs/run 1"),
    ],
)
def test_set_values_parse_as_yaml(text, value):
    assert parse_value(text) == value


def test_overrides_reach_nested_keys_and_coerce_types(tmp_path):
    config = load_config(
        None,
        [
            "training.lr=3e-4",
            "data.modalities=[t,a]",
            "training.early_stopping.metric=wf1",
            "training.epochs=5.0",
            "experiment.name=x",
            f"data.features_dir={tmp_path}",
        ],
    )
    checked = validate(config, require=["data.features_dir"])
    assert checked["training"]["lr"] == pytest.approx(3e-4)
    assert checked["data"]["modalities"] == ["A", "T"]
    assert checked["training"]["early_stopping"]["metric"] == "wf1"
    assert checked["training"]["epochs"] == 5 and isinstance(checked["training"]["epochs"], int)
    assert checked["data"]["features_dir"] == str(tmp_path.resolve())


def test_unknown_key_lists_the_nearest_valid_keys():
    with pytest.raises(ConfigError) as err:
        apply_overrides(defaults(), ["training.lrr=0.1"])
    message = str(err.value)
    assert "unknown key 'training.lrr'" in message and "did you mean training.lr" in message
    assert "training.weight_decay" in message  # the section's valid keys are listed


def test_unknown_key_in_a_config_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  hiden_dim: 64\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'model.hiden_dim'; did you mean model.hidden_dim"):
        load_config(path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.lr=fast", r"training.lr: expected a number"),
        ("training.epochs=0", r"training.epochs: expected a value >= 1"),
        ("training.epochs=2.5", r"training.epochs: expected an integer"),
        ("model.dropout=1.0", r"model.dropout: expected a value < 1.0"),
        ("model.gate=tanh", r"model.gate: expected one of \['sigmoid', 'softmax'\]"),
        ("data.modalities=[A,X]", r"data.modalities: expected distinct letters"),
        ("training.deterministic=yes please", r"training.deterministic: expected true or false"),
        ("experiment.seeds=[1,1]", r"repeated seed"),
        ("training.device=gpu", r"training.device: expected auto, cpu"),
        ("model.name=gated_avt", r"gated_avt takes all of A\+T\+V"),
    ],
)
def test_invalid_values_are_rejected_with_the_key_named(override, message):
    config = load_config(None, ["experiment.name=x", override])
    with pytest.raises(ConfigError, match=message):
        validate(config)


def test_set_without_equals_sign_explains_the_syntax():
    with pytest.raises(ConfigError, match=r"expected key\.path=value"):
        apply_overrides(defaults(), ["training.lr"])


def test_required_path_must_exist(tmp_path):
    config = load_config(None, ["experiment.name=x", f"data.features_dir={tmp_path / 'missing'}"])
    with pytest.raises(ConfigError, match=r"data.features_dir: .*missing does not exist"):
        validate(config, require=["data.features_dir"])
    with pytest.raises(ConfigError, match=r"data\.eval_dir must be set"):
        validate(config, require=["data.eval_dir"])


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load_and_validate(path, tmp_path):
    config = validate(load_config(path, [f"data.features_dir={tmp_path}"]), require=["data.features_dir"])
    assert config["experiment"]["name"] == path.stem


def test_every_key_is_documented():
    listing = describe_keys()
    assert all(key in listing for key in SCHEMA)
    docs = "".join((REPO / "docs" / name).read_text(encoding="utf-8") for name in ("training.md", "finetuning.md"))
    undocumented = [key for key in SCHEMA if f"`{key}`" not in docs]
    assert not undocumented, f"docs/training.md and docs/finetuning.md do not describe {undocumented}"


@pytest.mark.parametrize(("value", "expected"), [("true", ["A", "T", "V"]), ("false", []), ("[]", []), ("[a]", ["A"])])
def test_standardize_takes_modalities_or_a_boolean(value, expected):
    config = validate(load_config(None, ["experiment.name=x", f"model.standardize={value}"]))
    assert config["model"]["standardize"] == expected


def test_shipped_configs_are_found_by_name_from_any_folder(tmp_path, monkeypatch):
    from mer.config import find_config, shipped_configs

    monkeypatch.chdir(tmp_path)
    assert set(shipped_configs()) == {p.stem for p in (REPO / "configs").glob("*.yaml")}
    for name in ("loco", "loco.yaml", "configs/loco.yaml"):
        assert find_config(name).read_bytes() == (REPO / "configs" / "loco.yaml").read_bytes()
    assert load_config("mer_builder_at_simple")["experiment"]["name"] == "mer_builder_at_simple"
    (tmp_path / "loco.yaml").write_text("training:\n  epochs: 3\n")  # a file of the user's wins over the name
    assert load_config("loco.yaml")["training"]["epochs"] == 3
    with pytest.raises(ConfigError, match=r"lcoo: config file not found; .*name of a config shipped with mer \(.*loco"):
        load_config("lcoo")
