"""Why a model predicted what it did: modality contributions, salient words, acoustic cues, and one sentence.

`Predictor.explain(...)` and `predict.py --explain` (see docs/explain.md). The parts:

    acoustics   pitch, loudness, speaking rate and voice clarity of a recording, in plain units
    reference   the training set's neutral-class cue statistics that checkpoints carry
    explainer   gates + occlusion per modality, leave-one-word-out (or integrated gradients) per word,
                cues against the reference, and the sentence built from those facts
    card        the PNG card of one explanation
"""
