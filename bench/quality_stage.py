#!/usr/bin/env python3
"""Benchmark of `cargo xtask quality` over all components, measured in one run.

Runs the stage's tasks one after another (-j 1) and reads each task's time
from the report, computes the lower bound max(slowest task, total / cores),
then runs the stage in parallel and prints the times and ratios.

Usage: python3 bench/quality_stage.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
XTASK = ROOT / "target" / "debug" / "xtask"
TARGET_RATIO = 1.20


def quality(*args: str) -> tuple[float, dict[str, float]]:
    """Run the stage; return its wall time and each task's time."""
    start = time.perf_counter()
    done = subprocess.run([str(XTASK), "quality", *args], cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"xtask quality {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}")
    report = json.loads((ROOT / "target/xtask/report.json").read_text())
    return elapsed, {t["task"]["id"]: t["seconds"] for t in report["tasks"]}


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    subprocess.run(["cargo", "build", "--quiet", "-p", "xtask"], cwd=ROOT, check=True)
    listed = subprocess.run([str(XTASK), "components", "--json"], cwd=ROOT, check=True, capture_output=True)
    names = [c["name"] for c in json.loads(listed.stdout)]
    cores = os.cpu_count() or 1
    print("warming environments ...")
    quality(*names)
    sequential, tasks = quality("-j", "1", *names)
    total = sum(tasks.values())
    slowest = max(tasks, key=lambda t: tasks[t])
    bound = max(tasks[slowest], total / cores)
    parallel, _ = quality(*names)
    ratio = parallel / bound
    print(f"tasks              {len(tasks)} over {', '.join(names)}; cores: {cores}")
    print(f"slowest task       {tasks[slowest]:6.2f} s  ({slowest})")
    print(f"one after another  {sequential:6.2f} s  (sum of tasks {total:.2f} s)")
    print(f"lower bound        {bound:6.2f} s  (max(slowest, total / {cores} cores))")
    print(f"whole stage        {parallel:6.2f} s")
    print(f"stage / bound      {ratio:6.2f}  (target <= {TARGET_RATIO:.2f}: {'met' if ratio <= TARGET_RATIO else 'MISSED'})")
    print(f"stage / sequential {parallel / sequential:6.2f}")


if __name__ == "__main__":
    main()
