"""Evaluate a fine-tuned checkpoint on groups of a processed folder:

    python evaluate_hf_e2e.py --config outputs/R/config_resolved.yaml --ckpt K \
        --set data.eval_splits=[testB] --output_dir O

See docs/finetuning.md.
"""

from mer.commands import evaluate_e2e_main

if __name__ == "__main__":
    raise SystemExit(evaluate_e2e_main())
