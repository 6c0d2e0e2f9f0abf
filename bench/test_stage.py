#!/usr/bin/env python3
"""Benchmark of `cargo xtask test` with warm environments, measured in one run.

Runs each component's tests alone, computes the lower bound
max(slowest component, sum of all / cores), then runs the whole stage in
parallel and the same commands one after another (-j 1), and prints the
ratios. Also reports how long the no-change environment checks took.

Usage: python3 bench/test_stage.py      (from anywhere in the repo)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
XTASK = ROOT / "target" / "debug" / "xtask"
TARGET_RATIO = 1.20  # the stage must finish within 20% of the lower bound
TARGET_ENV_CHECK_S = 1.0  # per component, with no change


def xtask(*args: str) -> float:
    """Run the xtask, fail loudly if it fails, return its wall time."""
    start = time.perf_counter()
    done = subprocess.run([str(XTASK), *args], cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"xtask {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}")
    return elapsed


def env_check_ms(component: str) -> float:
    log = (ROOT / "target/xtask/logs" / f"test-{component}.log").read_text()
    found = re.search(r"up to date \(checked in ([0-9.]+) ms\)", log)
    if not found:
        sys.exit(f"{component}: environment was rebuilt, not reused; run the benchmark again")
    return float(found.group(1))


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    subprocess.run(["cargo", "build", "--quiet", "-p", "xtask"], cwd=ROOT, check=True)
    listed = subprocess.run([str(XTASK), "components", "--json"], cwd=ROOT, check=True, capture_output=True)
    names = [c["name"] for c in json.loads(listed.stdout)]
    cores = os.cpu_count() or 1
    print(f"components: {', '.join(names)}; cores: {cores}")
    print("warming environments ...")
    xtask("test", *names)

    alone = {name: xtask("test", name) for name in names}
    checks = {name: env_check_ms(name) for name in names}
    bound = max(max(alone.values()), sum(alone.values()) / cores)
    parallel = xtask("test", *names)
    sequential = xtask("test", "-j", "1", *names)

    for name in names:
        print(f"  {name:<10} alone {alone[name]:6.2f} s   env check {checks[name]:6.1f} ms")
    ratio = parallel / bound
    print(f"lower bound        {bound:6.2f} s  (max(slowest, sum / {cores} cores))")
    print(f"whole stage        {parallel:6.2f} s")
    print(f"one after another  {sequential:6.2f} s")
    print(f"stage / bound      {ratio:6.2f}  (target <= {TARGET_RATIO:.2f}: {'met' if ratio <= TARGET_RATIO else 'MISSED'})")
    print(f"stage / sequential {parallel / sequential:6.2f}")
    worst = max(checks.values()) / 1000
    print(f"slowest env check  {worst * 1000:6.1f} ms  (target < {TARGET_ENV_CHECK_S:.0f} s: {'met' if worst < TARGET_ENV_CHECK_S else 'MISSED'})")


if __name__ == "__main__":
    main()
