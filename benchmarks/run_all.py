"""Run every CPU benchmark in turn (``make bench``); each prints its own ratios.

The scan, RLE and UI-stall benchmarks read ``../shared/data`` (development machines only);
they are skipped with a note when it is absent. Results and commands are kept in
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
DEMO = HERE.parent / "resources" / "models" / "demo"

RUNS: list[tuple[str, list[str], bool]] = [
    ("bench_scan.py", [], True),
    ("bench_rle.py", [], True),
    ("bench_postprocess.py", [], False),
    ("bench_predict.py", ["--n", "12", "--rounds", "3"], False),
    (
        "bench_ui.py",
        ["--model", str(DEMO), "--stall-folder", str(SHARED / "stage2-unlabeled")],
        True,
    ),
    ("bench_train_gpu.py", [], False),
]


def main() -> int:
    """Run the benchmarks; return non-zero if any of them failed."""
    failed = []
    for script, args, needs_shared in RUNS:
        print(f"\n===== {script} {' '.join(args)}", flush=True)
        if needs_shared and not SHARED.is_dir():
            print(f"skipped: {SHARED} not present (development machines only)")
            continue
        if subprocess.call([sys.executable, str(HERE / script), *args]) != 0:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
