"""Every metrics_eval.json under a folder -> one results table (mean ± std across seeds), printed as Markdown.

    python scripts/collect_results.py outputs/demo/runs [--md results.md] [--csv results.csv]

The same as `mer results`. Rows are grouped by run, protocol, fold, evaluated set, model and modalities
(read from the files); LOCO and LOSO runs get a `mean over folds` row. See docs/training.md.
"""

from mer.commands import results_main

if __name__ == "__main__":
    raise SystemExit(results_main())
