"""The `mer` command: one entry point whose subcommands are the pipeline's stages.

    mer build ...        the corpus builder (same as `mer-builder ...` and `python -m mer_builder ...`)
    mer extract ...      MFCC + hashed-text features          (extract_at_features.py)
    mer extract-hf ...   pretrained-encoder features           (extract_at_features_hf.py)
    mer memmap ...       pickles -> memory-mapped arrays        (build_memmap_features.py)
    mer train ...        train under a protocol                 (train.py)
    mer finetune ...     fine-tune encoders end to end          (train_hf_e2e.py)
    mer evaluate ...     evaluate a checkpoint                  (evaluate.py, evaluate_hf_e2e.py)
    mer predict ...      predict your own recordings            (predict.py)
    mer results ...      every metrics_eval.json -> one table   (scripts/collect_results.py)
    mer cross-corpus ... LOCO + train-on-A/test-on-B UAR tables (cross_corpus.py)
    mer demo ...         the whole pipeline on the synthetic demo corpus; `mer demo --ckpt K`: the web demo

Each subcommand is a `main(argv, prog)` function named by "module:function" and imported only
when it runs, so `mer --help` starts instantly. A new subcommand is one more `COMMANDS` entry.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import __version__


@dataclass(frozen=True)
class Command:
    target: str  # "module:function"; the function takes (argv, prog) and returns the exit code
    help: str

    def load(self) -> Callable[..., int]:
        module, _, function = self.target.partition(":")
        return getattr(importlib.import_module(module), function)


COMMANDS: dict[str, Command] = {
    "build": Command("mer_builder.cli:main", "fetch, prepare and check the corpora as one manifest (the builder)"),
    "extract": Command("mer.features.cli:extract_main", "MFCC (+ eGeMAPS) audio and hashed n-gram text features"),
    "extract-hf": Command("mer.features.cli:extract_hf_main", "pretrained speech, text and face encoder features"),
    "memmap": Command("mer.features.cli:memmap_main", "pack a pickle feature group into memory-mapped arrays"),
    "train": Command("mer.commands:train_main", "train fusion models under a protocol, for one or more seeds"),
    "finetune": Command(
        "mer.commands:train_e2e_main", "fine-tune pretrained encoders with a fusion head on a processed folder"
    ),
    "evaluate": Command("mer.commands:evaluate_main", "evaluate a checkpoint (features or fine-tuned)"),
    "predict": Command("mer.prediction.cli:predict_main", "predict the emotions of your own recordings"),
    "results": Command("mer.commands:results_main", "every metrics_eval.json under a folder -> one table"),
    "cross-corpus": Command(
        "mer.commands:cross_corpus_main", "leave-one-corpus-out and train-on-A/test-on-B UAR tables (md, CSV, PNG)"
    ),
    "demo": Command(
        "mer.demo:demo_main", "the whole pipeline on the built-in synthetic demo corpus; with --ckpt K, the web demo"
    ),
}
EXIT_USAGE = 2


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: mer COMMAND [options]      (mer COMMAND --help describes each)",
        "",
        "Multi-corpus, multimodal emotion recognition.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {command.help}" for name, command in COMMANDS.items()),
        "",
        "options:",
        "  -h, --help  show this message and exit",
        "  --version   print the version and exit",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if args else sys.stderr)
        return 0 if args else EXIT_USAGE
    if args[0] == "--version":
        print(f"mer {__version__}")
        return 0
    name, rest = args[0], args[1:]
    command = COMMANDS.get(name)
    if command is None:
        print(
            f"{usage()}\n\nmer: error: unknown command {name!r}; choose one of {', '.join(COMMANDS)}", file=sys.stderr
        )
        return EXIT_USAGE
    return command.load()(rest, prog=f"mer {name}")
