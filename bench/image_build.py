#!/usr/bin/env python3
"""Benchmark of `cargo xtask image build`: a cold build of every image against
a rebuild after changing one line of one component's code, in one run.

Cold: no build contexts (the existing ones are moved aside and put back at
the end, so the dependency wheels are collected again, from pip's cache) and `--no-cache` (no Docker layer reused). Rebuild: the contexts
and layers the cold build left, after a one-line change.

The rebuild must reuse the dependency layers: target <= 25% of the cold time
for the changed component. Also checked: building again with nothing changed
gives every component the same image id (reproducible builds, docs/ci-cd.md). Needs a Docker engine and the local base images
(`cargo xtask services up base-images`).

Usage: python3 bench/image_build.py [COMPONENT]   (default: storage)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
XTASK = ROOT / "target" / "debug" / "xtask"
TARGET_RATIO = 0.25
ENV = {**os.environ, "XTASK_BASE_IMAGE": os.environ.get("XTASK_BASE_IMAGE", "local/python:3.11-bookworm")}


def build(*args: str) -> tuple[float, dict[str, float]]:
    """Build all images; return the wall time and each component's build time."""
    start = time.perf_counter()
    done = subprocess.run([str(XTASK), "image", "build", *args], cwd=ROOT, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"xtask image build {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}")
    report = json.loads((ROOT / "target/xtask/report.json").read_text())
    return elapsed, {t["task"]["component"]: t["seconds"] for t in report["tasks"]}


def image_ids() -> dict[str, str]:
    images = json.loads((ROOT / "target/xtask/images.json").read_text())
    return {name: entry["image_id"] for name, entry in images["components"].items()}


def cached_steps(component: str) -> int:
    log = (ROOT / "target/xtask/logs" / f"build-{component}.log").read_text()
    return log.count("Using cache")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("component", nargs="?", default="storage", help="the component whose code changes")
    component = parser.parse_args().component
    subprocess.run(["cargo", "build", "--quiet", "-p", "xtask"], cwd=ROOT, check=True)
    print("warming pip's cache ...")
    build()
    before = image_ids()
    unchanged_wall, _ = build()
    changed_ids = sorted(c for c, i in image_ids().items() if before.get(c) != i)
    contexts = ROOT / "target/xtask/image"
    aside = ROOT / "target/xtask/image.bench-aside"
    # The benchmark deletes only what it made: the user's contexts come back at the end.
    shutil.rmtree(aside, ignore_errors=True)
    contexts.rename(aside)
    module = next((ROOT / "components" / component / "src").glob("*/__init__.py"))
    original = module.read_text()
    try:
        cold_wall, cold = build("--no-cache")
        module.write_text(original + "# benchmark: one changed line\n")
        warm_wall, warm = build()
        reused = cached_steps(component)
    finally:
        module.write_text(original)
        shutil.rmtree(contexts, ignore_errors=True)
        aside.rename(contexts)
    print(f"{'component':<10} {'cold':>8} {'rebuild':>8} {'ratio':>6}")
    for name in sorted(cold):
        print(f"{name:<10} {cold[name]:7.1f}s {warm[name]:7.1f}s {warm[name] / cold[name]:6.2f}")
    print(f"{'all':<10} {cold_wall:7.1f}s {warm_wall:7.1f}s {warm_wall / cold_wall:6.2f}")
    ratio = warm[component] / cold[component]
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    same = "every image id the same" if not changed_ids else f"NEW ids for {', '.join(changed_ids)}"
    print(f"unchanged rebuild: {unchanged_wall:.1f}s, {same}")
    print(f"{component} changed: rebuild / cold = {ratio:.2f} (target <= {TARGET_RATIO:.2f}: {verdict}); "
          f"{reused} build steps reused from cache")


if __name__ == "__main__":
    main()
