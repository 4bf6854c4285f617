"""Fine-tune pretrained encoders with a fusion head, end to end, straight from the builder's processed folder:
`python train_hf_e2e.py --config configs/mer_builder_at_hf_e2e.yaml --run_name R [--set key=value ...]`.

Same config schema, protocols, run folders and outputs as train.py; see docs/finetuning.md.
"""

from mer.commands import train_e2e_main

if __name__ == "__main__":
    raise SystemExit(train_e2e_main())
