"""Fine-tuning pretrained encoders end to end with mer's fusion heads, reading the builder's output directly.

`inputs`: the manifest as batches of waveforms and token ids; `encoders`: loading, training modes
(frozen, full, lora) and per-layer learning rates; `model`: encoders + pooling + fusion head;
`pipeline`: one way to make the inputs for training, evaluation and prediction. The training loop
is the one train.py uses (mer.training.trainer). See docs/finetuning.md.
"""
