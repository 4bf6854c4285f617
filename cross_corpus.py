"""Cross-corpus table: `python cross_corpus.py --config configs/loco.yaml --set data.features_dir=M`.

Leave-one-corpus-out over every corpus present plus the train-on-A/test-on-B matrix (see mer/cross_corpus.py).
"""

from mer.commands import cross_corpus_main

if __name__ == "__main__":
    raise SystemExit(cross_corpus_main())
