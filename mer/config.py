"""Experiment configuration: one schema of every key, YAML files over its defaults, `--set` overrides on top.

Every key is declared once in `SCHEMA` with its default, type, allowed range and a one-line
help, so loading, validation, `train.py --list_keys` and the docs all read the same table.
A config file or an override naming a key outside the schema is an error that lists the
nearest valid keys, because a misspelt key silently keeping its default is the classic way
to run the wrong experiment. The merged config is validated in full before any work starts.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mer_builder.errors import InputError
from mer_builder.labels import LABEL_TYPES
from mer_builder.manifest import GROUPS

from .device import DEVICE_PATTERN
from .modalities import MODALITY_LETTERS, MODALITY_NAMES, modality_names
from .models import MODELS, ModalityMismatch, check_modalities
from .models.moe import ROUTINGS
from .protocols import PROTOCOLS
from .registry import Registry
from .training.losses import CKPT_TEACHER, LOSSES


class ConfigError(InputError, ValueError):
    """The configuration is invalid; the message names the key (and file) and what was expected."""


@dataclass(frozen=True)
class Key:
    default: Any
    kind: str  # int | float | bool | str | path | list_str | list_int | modalities
    help: str
    choices: tuple[str, ...] | Registry | None = None  # a registry's names are read when checked
    low: float | None = None  # inclusive bounds
    high: float | None = None
    above: float | None = None  # exclusive lower bound
    below: float | None = None  # exclusive upper bound
    nullable: bool = False
    min_items: int = 1  # list kinds


METRIC_CHOICES = ("uar", "wf1", "macro_f1", "acc", "loss")
ENCODER_MODES = ("frozen", "full", "lora")
ENCODER_POOLINGS = ("mean", "mean_std", "attentive", "cls")
DEFAULT_ENCODERS = {"audio": "packaged:whisper-tiny.en", "text": "packaged:all-MiniLM-L6-v2"}


def _encoder_keys(modality: str, default_model: str, default_mode: str) -> dict[str, Key]:
    """The same keys for every fine-tunable encoder (encoders.audio.*, encoders.text.*)."""
    p = f"encoders.{modality}."
    return {
        p + "model": Key(
            default_model, "str", f"fine-tuning: {modality} encoder: hub id, local folder or packaged:NAME"
        ),
        p + "mode": Key(default_mode, "str", f"fine-tuning: how the {modality} encoder trains", choices=ENCODER_MODES),
        p + "pooling": Key(
            "mean", "str", f"fine-tuning: {modality} frames/tokens -> one vector", choices=ENCODER_POOLINGS
        ),
        p + "attention_heads": Key(1, "int", "attentive pooling: attention heads", low=1),
        p + "lr": Key(3e-5, "float", f"fine-tuning: peak learning rate of the {modality} encoder", low=0.0),
        p + "layer_decay": Key(
            1.0, "float", "layer-wise learning-rate decay: layer k of L trains at lr * decay^(L-k)", low=0.0, high=1.0
        ),
        p + "gradient_checkpointing": Key(False, "bool", "recompute activations in backward (less memory, slower)"),
        p + "lora_r": Key(8, "int", "lora: adapter rank", low=1),
        p + "lora_alpha": Key(16.0, "float", "lora: scaling numerator (scale = alpha / r)", low=0.0),
        p + "lora_dropout": Key(0.05, "float", "lora: dropout on the adapter input", low=0.0, below=1.0),
        p + "lora_targets": Key(
            None, "list_str", "lora: module names to adapt; null = the attention projections", nullable=True
        ),
    }


ENCODER_KEYS: dict[str, Key] = {
    **_encoder_keys("audio", DEFAULT_ENCODERS["audio"], "frozen"),
    **_encoder_keys("text", DEFAULT_ENCODERS["text"], "full"),
}
REGISTRIES: dict[str, Registry] = {"model.name": MODELS, "experiment.protocol": PROTOCOLS, "training.loss": LOSSES}

SCHEMA: dict[str, Key] = {
    # experiment
    "experiment.name": Key(
        None, "str", "run folder name under output_dir (default: the config file's name)", nullable=True
    ),
    "experiment.output_dir": Key("outputs", "path", "where run folders are written"),
    "experiment.protocol": Key("pooled", "str", "evaluation protocol", choices=PROTOCOLS),
    "experiment.seeds": Key([1], "list_int", "one training run per seed; results report mean and std over them"),
    # data
    "data.features_dir": Key(
        None, "path", "feature root holding train/ val/ testA/ testB/ (memmap or pickle dirs)", nullable=True
    ),
    "data.modalities": Key(
        ["A", "T"], "modalities", "modalities the model uses: a subset of A (audio), T (text), V (video)"
    ),
    "data.corpora": Key(
        None, "list_str", "use only these corpora (dataset names, e.g. [RAVDESS, MELD]); null = all", nullable=True
    ),
    "data.label_type": Key(
        "emotion",
        "str",
        "what the model predicts: the 7 emotions, or negative/neutral/positive sentiment (rows without one "
        "are left out and counted)",
        choices=LABEL_TYPES,
    ),
    "data.holdout": Key(None, "str", "loco: the one corpus to hold out; null = one fold per corpus", nullable=True),
    "data.loso_val": Key(
        "speaker",
        "str",
        "iemocap_loso validation slice: one speaker or one whole session of the next training session",
        choices=("speaker", "session"),
    ),
    "data.report_groups": Key(
        ["testA", "testB"], "list_str", "pooled: the test groups reported after training", choices=GROUPS
    ),
    "data.eval_dir": Key(
        None, "path", "evaluate.py: the feature dir to evaluate (one group dir, memmap or pickle)", nullable=True
    ),
    # data: fine-tuning (train_hf_e2e.py) reads the builder's output instead of feature stores
    "data.processed_dir": Key(
        None, "path", "fine-tuning: the builder's processed folder (meta_manifest.jsonl + audio/)", nullable=True
    ),
    "data.eval_splits": Key(
        None,
        "list_str",
        "fine-tuning evaluation: the groups of data.processed_dir to evaluate; null = data.report_groups",
        choices=GROUPS,
        nullable=True,
    ),
    "data.max_audio_s": Key(
        6.0, "float", "fine-tuning: audio cropped to this (random crop in training, centre otherwise)", low=0.1
    ),
    "data.max_text_tokens": Key(128, "int", "fine-tuning: tokens per utterance, context included", low=8),
    "data.include_speaker": Key(False, "bool", "fine-tuning: text as 'speaker: utterance' (MELD, IEMOCAP)"),
    "data.context_window": Key(
        0,
        "int",
        "fine-tuning: the K previous utterances of the same dialogue as the tokenizer's second segment "
        "(truncated first)",
        low=0,
    ),
    # model
    "model.name": Key("flexible_at", "str", "fusion model", choices=MODELS),
    "model.hidden_dim": Key(256, "int", "width of every modality projection and of the fusion", low=4),
    "model.dropout": Key(0.2, "float", "dropout in projections and head", low=0.0, below=1.0),
    "model.gate": Key(
        "sigmoid",
        "str",
        "gated fusion layer gate: sigmoid (element-wise) or softmax (the published reference)",
        choices=("sigmoid", "softmax"),
    ),
    "model.ffn_mult": Key(
        2, "int", "SwiGLU head (and transformer feed-forward) width as a multiple of hidden_dim", low=1
    ),
    "model.num_layers": Key(2, "int", "robust_atv, token_frames: transformer layers", low=1),
    "model.num_heads": Key(4, "int", "robust_atv, token_frames: attention heads (must divide hidden_dim)", low=1),
    "model.num_experts": Key(4, "int", "moe: expert MLPs the router chooses among", low=1),
    "model.top_k": Key(2, "int", "moe: experts each modality token is sent to (at most num_experts)", low=1),
    "model.routing": Key(
        "token",
        "str",
        "moe: route each modality token on its own content (token) or also on the transcript (text, needs T)",
        choices=ROUTINGS,
    ),
    "model.balance_weight": Key(
        0.01, "float", "moe: weight of the load-balancing loss added to the training loss (0 = off)", low=0.0
    ),
    "model.rank": Key(4, "int", "lmf: rank of the modality-specific low-rank factors", low=1),
    "model.frames_head": Key(
        "flexible_at",
        "str",
        "attentive_frames: the fusion head over the pooled frames (a model over vectors)",
        choices=MODELS,
    ),
    "model.pool_heads": Key(1, "int", "attentive_frames: attention heads of the statistics pooling", low=1),
    "model.standardize": Key(
        ["A", "T", "V"],
        "modalities",
        "modalities whose features are z-scored with train-set statistics stored in the model (true = all, "
        "false or [] = none); leave sparse hashing text out",
        min_items=0,
    ),
    **ENCODER_KEYS,
    # training
    "training.epochs": Key(30, "int", "maximum epochs", low=1),
    "training.batch_size": Key(64, "int", "training batch size", low=1),
    "training.eval_batch_size": Key(
        1024, "int", "batch size for validation and evaluation (at most 64 for fine-tuning's raw inputs)", low=1
    ),
    "training.optimizer": Key("adamw", "str", "optimiser", choices=("adamw", "adam", "sgd")),
    "training.lr": Key(1e-3, "float", "peak learning rate", low=0.0, nullable=False),
    "training.weight_decay": Key(0.01, "float", "weight decay (decoupled for adamw)", low=0.0),
    "training.momentum": Key(0.9, "float", "sgd: momentum (Nesterov)", low=0.0, below=1.0),
    "training.scheduler": Key("cosine", "str", "learning-rate schedule", choices=("cosine", "step", "plateau", "none")),
    "training.warmup_epochs": Key(0, "float", "linear warm-up epochs before the schedule (may be fractional)", low=0),
    "training.min_lr": Key(0.0, "float", "cosine: final learning rate", low=0.0),
    "training.step_size": Key(10, "int", "step: epochs between decays", low=1),
    "training.gamma": Key(0.5, "float", "step and plateau: multiplicative decay", low=0.0, high=1.0),
    "training.plateau_patience": Key(2, "int", "plateau: epochs without val improvement before a decay", low=0),
    "training.grad_clip": Key(
        1.0, "float", "clip the gradient norm to this; null = no clipping", low=0.0, nullable=True
    ),
    "training.loss": Key("cross_entropy", "str", "training loss", choices=LOSSES),
    "training.focal_gamma": Key(2.0, "float", "focal: the focusing exponent (0 = cross-entropy)", low=0.0),
    "training.class_weights": Key("none", "str", "loss class weights", choices=("none", "balanced")),
    "training.label_smoothing": Key(0.0, "float", "label smoothing of the cross-entropy", low=0.0, below=1.0),
    "training.supcon_weight": Key(
        0.0, "float", "weight of the supervised prototypical contrastive loss on the fused embedding; 0 = off", low=0.0
    ),
    "training.supcon_temperature": Key(0.1, "float", "supervised contrastive loss: temperature", low=1e-4),
    "training.grad_accum_steps": Key(1, "int", "batches accumulated per optimiser step", low=1),
    "training.amp": Key("none", "str", "mixed precision on CUDA", choices=("none", "bf16", "fp16")),
    "training.length_bucketing": Key(
        True, "bool", "fine-tuning: batch utterances of similar length together so padding stays small"
    ),
    "training.init_ckpt": Key(
        None,
        "path",
        "start from this checkpoint's weights (e.g. stage 2 from stage 1's best.pt); the optimiser starts fresh",
        nullable=True,
    ),
    "training.modality_dropout": Key(
        0.0, "float", "per-sample probability of dropping each modality (never all)", low=0.0, below=1.0
    ),
    "training.feature_noise": Key(
        0.0, "float", "Gaussian feature noise, in units of each feature's train std", low=0.0
    ),
    "training.ema_decay": Key(
        None,
        "float",
        "exponential moving average of the weights (e.g. 0.999); null = off",
        low=0.0,
        below=1.0,
        nullable=True,
    ),
    # cross-modal distillation (see docs/training.md): per-modality heads taught by a teacher in the same run
    "training.distill.teacher": Key(
        None,
        "str",
        "distillation teacher: a modality of this run (text, audio, video: its own head, trained on the labels) "
        "or ckpt:PATH (a trained mer checkpoint, frozen); null = no distillation",
        nullable=True,
    ),
    "training.distill.students": Key(
        ["A"], "modalities", "distillation: the modalities that get a head of their own, taught by the teacher"
    ),
    "training.distill.temperature": Key(2.0, "float", "distillation: softmax temperature of both sides", above=0.0),
    "training.distill.weight": Key(
        0.5,
        "float",
        "distillation: a student head's loss is (1-w) CE(labels) + w T^2 KL(teacher || student)",
        low=0.0,
        high=1.0,
    ),
    "training.early_stopping.metric": Key(
        "uar", "str", "val metric for model selection and early stopping", choices=METRIC_CHOICES
    ),
    "training.early_stopping.patience": Key(
        8, "int", "epochs without improvement before stopping; null = never stop early", low=1, nullable=True
    ),
    "training.early_stopping.min_delta": Key(0.0, "float", "smallest change that counts as an improvement", low=0.0),
    "training.device": Key("auto", "str", "auto (CUDA when available, else CPU), cpu, cuda, cuda:N or mps"),
    "training.num_threads": Key(
        None,
        "int",
        "torch CPU threads; null = the CPUs free when training starts (available CPUs minus the load average)",
        low=1,
        nullable=True,
    ),
    "training.deterministic": Key(True, "bool", "ask torch for deterministic kernels"),
    # run logs (see mer/training/tracking.py)
    "logging.tensorboard": Key(True, "bool", "write TensorBoard event files per fold and seed (<unit>/tensorboard/)"),
    "logging.mlflow_uri": Key(
        None,
        "str",
        "MLflow tracking URI (e.g. sqlite:///mlflow.db, http://host:5000, file:./mlruns); null = no MLflow",
        nullable=True,
    ),
    "logging.mlflow_experiment": Key(None, "str", "MLflow experiment name; null = experiment.name", nullable=True),
    # evaluation
    "evaluation.test": Key(True, "bool", "evaluate the protocol's test sets after training (turn off while tuning)"),
}

# The configs shipped with mer: inside the installed package (mer/configs/, package data), or in a
# source checkout (editable install) the repository's configs/ folder, which is where they are kept.
_PACKAGE_DIR = Path(__file__).resolve().parent
SHIPPED_CONFIG_DIRS = (_PACKAGE_DIR / "configs", _PACKAGE_DIR.parent / "configs")


def shipped_configs() -> dict[str, Path]:
    """Name -> path of every config that ships with mer (`mer_builder_at_simple`, `loco`, ...)."""
    for folder in SHIPPED_CONFIG_DIRS:
        if folder.is_dir():
            return {path.stem: path for path in sorted(folder.glob("*.yaml"))}
    return {}


def find_config(name: Path | str) -> Path:
    """A config file from a path, or by the name of a shipped config from any folder.

    `configs/loco.yaml` is used as given when it exists; otherwise `loco`, `loco.yaml` and
    `configs/loco.yaml` all name the shipped `loco` config, so commands copied from the docs
    work outside the repository too.
    """
    path = Path(name).expanduser()
    if path.is_file():
        return path
    shipped = shipped_configs()
    stem = path.name.removesuffix(".yaml").removesuffix(".yml")
    if path.parent in (Path("."), Path("configs")) and stem in shipped:
        return shipped[stem]
    raise ConfigError(
        f"{name}: config file not found; give a YAML file's path or the name of a config shipped with mer "
        f"({', '.join(shipped) or 'none found'})"
    )


RESUME_MAY_DIFFER = (
    "training.epochs",
    "training.device",
    "training.num_threads",
    "experiment.seeds",
    "logging.tensorboard",
    "logging.mlflow_uri",
    "logging.mlflow_experiment",
)


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `1e-3` as a string; configs mean a number."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def parse_value(text: str) -> Any:
    """A `--set` value as YAML: numbers, booleans, null, lists like `[A,T]`; anything else stays a string."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse {text!r} as a YAML value: {exc}") from None


def defaults() -> dict:
    config: dict = {}
    for dotted, key in SCHEMA.items():
        set_dotted(config, dotted, copy.deepcopy(key.default))
    return config


def get_dotted(config: Mapping, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node[part]
    return node


def set_dotted(config: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def flatten(config: Mapping, prefix: str = "") -> dict[str, Any]:
    """Nested sections -> {"section.key": value}; a mapping is a section only where the schema has one."""
    flat: dict[str, Any] = {}
    for name, value in config.items():
        dotted = f"{prefix}{name}"
        if isinstance(value, Mapping) and any(k.startswith(dotted + ".") for k in SCHEMA):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _unknown_key_error(dotted: str, where: str) -> ConfigError:
    near = difflib.get_close_matches(dotted, SCHEMA, n=3, cutoff=0.6)
    section = dotted.rsplit(".", 1)[0] if "." in dotted else ""
    siblings = [k for k in SCHEMA if section and k.startswith(section + ".")]
    if not siblings:
        siblings = sorted({k.split(".")[0] for k in SCHEMA})
    hint = f"; did you mean {' or '.join(near)}?" if near else ""
    return ConfigError(f"{where}: unknown key {dotted!r}{hint} Valid keys here: {', '.join(siblings)}")


def merge(config: dict, updates: Mapping, where: str) -> None:
    """Overlay a nested mapping (a config file's content); every leaf must be a schema key."""
    for dotted, value in flatten(updates).items():
        if dotted not in SCHEMA:
            raise _unknown_key_error(dotted, where)
        set_dotted(config, dotted, value)


def apply_overrides(config: dict, overrides: Iterable[str]) -> None:
    """Apply `key.path=value` strings; values parse as YAML."""
    for item in overrides:
        dotted, sep, text = item.partition("=")
        dotted = dotted.strip()
        if not sep or not dotted:
            raise ConfigError(f"--set {item!r}: expected key.path=value, e.g. --set training.lr=3e-4")
        if dotted not in SCHEMA:
            raise _unknown_key_error(dotted, f"--set {item}")
        set_dotted(config, dotted, parse_value(text))


def load_config(path: Path | str | None, overrides: Sequence[str] = ()) -> dict:
    """Defaults, then the YAML file (if any; a path or a shipped config's name), then the overrides; not yet
    validated."""
    config = defaults()
    if path is not None:
        path = find_config(path)
        try:
            content = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        if content is not None and not isinstance(content, Mapping):
            raise ConfigError(f"{path}: expected a mapping of sections (experiment, data, model, training)")
        merge(config, content or {}, str(path))
        if config["experiment"]["name"] is None:
            config["experiment"]["name"] = path.stem
    apply_overrides(config, overrides)
    return config


def choices_of(key: Key) -> tuple[str, ...] | None:
    return key.choices.names() if isinstance(key.choices, Registry) else key.choices


def _check(dotted: str, key: Key, value: Any) -> Any:
    """The value coerced to the key's type, or a ConfigError naming the key."""

    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{dotted}: expected {expected}, got {value!r}")

    if value is None:
        if key.nullable:
            return None
        raise fail(f"a {key.kind} value (this key cannot be null)")
    if key.kind == "bool":
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if key.kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(f"a number ({key.kind})")
        if key.kind == "int":
            if float(value) != int(value):
                raise fail("an integer")
            value = int(value)
        else:
            value = float(value)
        if key.low is not None and value < key.low:
            raise fail(f"a value >= {key.low}")
        if key.above is not None and value <= key.above:
            raise fail(f"a value > {key.above}")
        if key.high is not None and value > key.high:
            raise fail(f"a value <= {key.high}")
        if key.below is not None and value >= key.below:
            raise fail(f"a value < {key.below}")
        return value
    if key.kind in ("str", "path"):
        if not isinstance(value, (str, Path)) or not str(value):
            raise fail("a non-empty string")
        value = str(value)
        choices = choices_of(key)
        if choices and value not in choices:
            raise fail(f"one of {list(choices)}")
        return value
    if key.kind in ("list_str", "list_int", "modalities"):
        if key.kind == "modalities" and key.min_items == 0 and isinstance(value, bool):
            value = list(MODALITY_NAMES) if value else []
        items = value if isinstance(value, list) else [value]
        if len(items) < key.min_items:
            raise fail("a non-empty list")
        if key.kind == "list_int":
            if any(isinstance(v, bool) or not isinstance(v, int) for v in items):
                raise fail("a list of integers, e.g. [1, 2, 3]")
            return items
        items = [str(v) for v in items]
        if key.kind == "modalities":
            items = [v.upper() for v in items]
            bad = [v for v in items if v not in MODALITY_NAMES]
            if bad or len(set(items)) != len(items):
                raise fail(f"distinct letters from {list(MODALITY_NAMES)}, e.g. [A, T]")
            return [m for m in MODALITY_NAMES if m in items]
        choices = choices_of(key)
        if choices and any(v not in choices for v in items):
            raise fail(f"a list of values from {list(choices)}")
        return items
    raise AssertionError(f"unknown kind {key.kind}")


def validate(config: dict, require: Iterable[str] = ()) -> dict:
    """Type- and range-check every key, check required paths exist, and return the config with
    paths made absolute. `require` lists keys that must be set (and exist, for paths)."""
    for dotted in flatten(config):
        if dotted not in SCHEMA:
            raise _unknown_key_error(dotted, "config")
    checked = copy.deepcopy(config)
    for dotted, key in SCHEMA.items():
        value = _check(dotted, key, get_dotted(config, dotted))
        if key.kind == "path" and value is not None:
            value = str(Path(value).expanduser().resolve())
        set_dotted(checked, dotted, value)
    for dotted in require:
        value = get_dotted(checked, dotted)
        if value is None:
            raise ConfigError(f"{dotted} must be set (in the config file or with --set {dotted}=...)")
        if SCHEMA[dotted].kind == "path" and not Path(value).exists():
            raise ConfigError(f"{dotted}: {value} does not exist")
    if not DEVICE_PATTERN.match(checked["training"]["device"]):
        raise ConfigError(
            f"training.device: expected auto, cpu, cuda, cuda:N or mps, got {checked['training']['device']!r}"
        )
    model, hidden = checked["model"], checked["model"]["hidden_dim"]
    if model["name"] in ("robust_atv", "token_frames") and hidden % model["num_heads"]:
        raise ConfigError(f"model.num_heads ({model['num_heads']}) must divide model.hidden_dim ({hidden})")
    modalities = checked["data"]["modalities"]
    if model["name"] == "moe" and model["top_k"] > model["num_experts"]:
        raise ConfigError(f"model.top_k ({model['top_k']}) must not exceed model.num_experts ({model['num_experts']})")
    if model["name"] == "moe" and model["routing"] == "text" and "T" not in modalities:
        raise ConfigError(
            f"model.routing text routes on the transcript; data.modalities must include T (got {modalities})"
        )
    try:
        check_modalities(model["name"], modality_names(checked["data"]["modalities"]))
    except ModalityMismatch as exc:
        raise ConfigError(str(exc)) from None
    _check_distill(checked)
    if len(set(checked["experiment"]["seeds"])) != len(checked["experiment"]["seeds"]):
        raise ConfigError(f"experiment.seeds: repeated seed in {checked['experiment']['seeds']}")
    if checked["experiment"]["name"] is None:
        raise ConfigError("experiment.name must be set (pass --run_name or --set experiment.name=...)")
    return checked


def _check_distill(checked: dict) -> None:
    """`training.distill`: a teacher of this run's modalities or a checkpoint that exists, and students the data
    has, other than the teacher. Normalises a modality teacher to its name and a checkpoint to an absolute path."""
    distill = checked["training"]["distill"]
    teacher = distill["teacher"]
    if teacher is None:
        return
    modalities = checked["data"]["modalities"]
    students = distill["students"]
    absent = [m for m in students if m not in modalities]
    if absent:
        raise ConfigError(
            f"training.distill.students: {absent} not in data.modalities {modalities}; a student must be a "
            "modality the model is trained on"
        )
    if teacher.startswith(CKPT_TEACHER):
        path = Path(teacher.removeprefix(CKPT_TEACHER)).expanduser()
        if not path.is_file():
            raise ConfigError(f"training.distill.teacher: {teacher}: checkpoint file not found")
        distill["teacher"] = CKPT_TEACHER + str(path.resolve())
        return
    letter = teacher.upper() if teacher.upper() in MODALITY_NAMES else MODALITY_LETTERS.get(teacher.lower())
    if letter is None:
        raise ConfigError(
            f"training.distill.teacher: expected one of {list(MODALITY_LETTERS)} or ckpt:PATH, got {teacher!r}"
        )
    if letter not in modalities:
        raise ConfigError(
            f"training.distill.teacher: {MODALITY_NAMES[letter]} is not in data.modalities {modalities}; the teacher "
            "must be a modality of this run (or ckpt:PATH)"
        )
    if letter in students:
        raise ConfigError(
            f"training.distill: {MODALITY_NAMES[letter]} is both the teacher and a student; leave it out of students"
        )
    distill["teacher"] = MODALITY_NAMES[letter]


def differing_keys(a: Mapping, b: Mapping, ignore: Iterable[str] = ()) -> list[str]:
    """Schema keys whose values differ between two configs (for resume checks)."""
    skip = set(ignore)
    flat_a, flat_b = flatten(a), flatten(b)
    return [k for k in SCHEMA if k not in skip and flat_a.get(k) != flat_b.get(k)]


# Keys that do not change what a run trains: where it is written, on what, for how long it may resume to.
HASH_IGNORES = ("experiment.name", "experiment.output_dir", *RESUME_MAY_DIFFER)


def config_hash(config: Mapping, length: int = 8) -> str:
    """A short hash of what a run trains (data, model, training settings): the keys that differ from their
    defaults, outside `HASH_IGNORES`. The same experiment under another run name or output folder, resumed
    with more epochs, or read from a saved config that predates a newer key (at its default), keeps its hash."""
    flat = flatten(config)
    changed = {k: flat[k] for k in SCHEMA if k in flat and k not in HASH_IGNORES and flat[k] != SCHEMA[k].default}
    text = json.dumps(changed, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def dump(config: Mapping) -> str:
    return yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True)


def describe_keys() -> str:
    """Every key with its default and help, one per line (train.py --list_keys)."""
    width = max(map(len, SCHEMA))
    lines = []
    for dotted, key in SCHEMA.items():
        default = yaml.safe_dump(key.default, default_flow_style=True).strip().removesuffix("...").strip()
        choices = f" [{'|'.join(choices_of(key) or ())}]" if key.choices else ""
        lines.append(f"{dotted:<{width}}  {default:<12} {key.help}{choices}")
    for dotted, registry in REGISTRIES.items():
        lines += ["", f"{dotted} choices:", registry.describe()]
    return "\n".join(lines)
