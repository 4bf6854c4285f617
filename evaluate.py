"""Evaluate a checkpoint on a feature dir: `python evaluate.py --ckpt K --set data.eval_dir=F/testB --out_dir O`.

See docs/training.md.
"""

from mer.commands import evaluate_main

if __name__ == "__main__":
    raise SystemExit(evaluate_main())
