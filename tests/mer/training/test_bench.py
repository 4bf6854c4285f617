import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_bench_train_runs_small_and_prints_ratios(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_train.py"), "--rows", "300", "--repeats", "1", "--threads", "1",
         "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    for line in ("read only (no model)", "train flexible_at", "train robust_atv"):
        row = next(r for r in result.stdout.splitlines() if r.startswith(line))
        assert len(re.findall(r"\d+\.\dx", row)) == 2  # a per-row and a pickle ratio
    assert not any(tmp_path.iterdir())  # the synthetic store is removed
