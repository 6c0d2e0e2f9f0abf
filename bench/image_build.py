#!/usr/bin/env python3
"""Benchmark of `cargo xtask image build`: a cold build of every image against
a rebuild after changing one line of one component's code, in one run.

Cold: no build contexts (the existing ones are moved aside and put back at
the end, so the dependency wheels are collected again, from pip's cache) and `--no-cache` (no Docker layer reused). Rebuild: the contexts
and layers the cold build left, after a one-line change.

The rebuild must reuse the dependency layers: target <= 25% of the cold time
for the changed component. Also checked: building again with nothing changed
gives every component the same image id (reproducible builds, docs/measurements.md). Needs a Docker engine and the local base images
(`cargo xtask services up base-images`).

Through buildx (when `cargo xtask services up buildx` made its builder), in
the same run, for the one component, with a builder and an exported cache of
the benchmark's own: cold (`--no-cache`, an empty exported cache), a second
cold build that must be the same image (reproducible; the images suite checks
it once per run against the previous run's record instead), warm from
the exported cache (the builder's own cache emptied with `buildx prune`, its
image removed, the exported `type=local` cache kept: what a fresh CI runner
with the Actions cache has) and after a code-only change; the ratios to cold.
The warm-from-cache build must be measurably faster than cold (ratio < 1).

Usage: python3 bench/image_build.py [COMPONENT] [--buildx-only]   (default: storage)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
XTASK = ROOT / "target" / "debug" / "xtask"
TARGET_RATIO = 0.25
ENV = {**os.environ, "XTASK_BASE_IMAGE": os.environ.get("XTASK_BASE_IMAGE", "local/python:3.11-bookworm")}


def build(*args: str, env: dict[str, str] | None = None) -> tuple[float, dict[str, float]]:
    """Build all images; return the wall time and each component's build time."""
    start = time.perf_counter()
    done = subprocess.run([str(XTASK), "image", "build", *args], cwd=ROOT, env=env or ENV, capture_output=True,
                          text=True)
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
    # The legacy builder says "Using cache", BuildKit "CACHED".
    return log.count("Using cache") + log.count("CACHED")


def services_var(name: str) -> str | None:
    """A variable `cargo xtask services up` recorded (as every xtask command reads them)."""
    if os.environ.get(name):
        return os.environ[name]
    # The record the xtask reads: the override, a user's own (not root), the machine's, a checkout's old one.
    override = os.environ.get("XTASK_SERVICES_FILE")
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local/state")
    own = [state / "xtask/services.json"] if os.geteuid() != 0 else []
    machine = [Path("/var/lib/xtask/services.json"), ROOT / "target/xtask/services.json"]
    files = [ROOT / override] if override else own + machine
    state = None
    for file in files:
        try:
            state = json.loads(file.read_text())
            break
        except (OSError, ValueError):
            continue
    if state is None:
        return None
    return next((r["env"][name] for r in state.get("services", {}).values() if name in r.get("env", {})), None)


def buildx_timings(component: str) -> None:
    """Cold, warm-from-exported-cache and code-only-change builds through buildx, with a builder of its own."""
    config = services_var("XTASK_BUILDX_CONFIG")
    if not config or not (Path(config) / "builder.json").is_file():
        print("buildx: no builder (`cargo xtask services up buildx` makes it): buildx timings skipped")
        return
    work = Path(tempfile.mkdtemp(prefix="xtask-bench-buildx-"))
    own = work / "config"
    (own / "cli-plugins").mkdir(parents=True)
    os.symlink(os.readlink(Path(config) / "cli-plugins/docker-buildx"), own / "cli-plugins/docker-buildx")
    shutil.copy(Path(config) / "config.json", own / "config.json")
    spec = json.loads((Path(config) / "builder.json").read_text())
    spec["name"] = f"xtask-bench-{os.getpid()}"
    (own / "builder.json").write_text(json.dumps(spec))
    env = {**ENV, "XTASK_BUILDX_CONFIG": str(own), "XTASK_BUILDX_CACHE_DIR": str(work / "layers")}
    docker_env = {**os.environ, "DOCKER_CONFIG": str(own)}
    module = next((ROOT / "components" / component / "src").glob("*/__init__.py"))
    original = module.read_text()
    try:
        cold_wall, _ = build(component, "--no-cache", env=env)
        exported = (work / "layers" / component / "index.json").is_file()
        # Reproducible: a second cold build (contexts made anew, nothing reused) is the same image.
        # The test suite checks this once per run against the previous run's record instead.
        first_id = image_ids().get(component)
        shutil.rmtree(ROOT / "target/xtask/image", ignore_errors=True)
        second_wall, _ = build(component, "--no-cache", env=env)
        same_cold = first_id is not None and image_ids().get(component) == first_id
        # A fresh runner: the builder's own cache and the loaded image gone, the exported cache kept.
        subprocess.run(["docker", "buildx", "prune", "--all", "--force", "--builder", spec["name"]], env=docker_env,
                       check=True, capture_output=True)
        image = image_ids().get(component)
        if image:
            subprocess.run(["docker", "rmi", "--force", image], capture_output=True)
        shutil.rmtree(ROOT / "target/xtask/image", ignore_errors=True)
        warm_wall, _ = build(component, env=env)
        from_cache = cached_steps(component)
        module.write_text(original + "# benchmark: one changed line\n")
        code_wall, _ = build(component, env=env)
    finally:
        module.write_text(original)
        subprocess.run(["docker", "buildx", "rm", "--force", spec["name"]], env=docker_env, capture_output=True)
        container = f"{spec['name']}-buildkit"
        subprocess.run(["docker", "rm", "--force", "--volumes", container], capture_output=True)
        subprocess.run(["docker", "volume", "rm", f"{container}-state"], capture_output=True)
        shutil.rmtree(Path(spec["buildkitd_config"]).parent / f"{spec['name']}-run", ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    print(f"buildx, {component} (cache exported: {'yes' if exported else 'NO'}):")
    print(f"  cold (--no-cache, empty exported cache) {cold_wall:7.1f}s")
    print(f"  a second cold build                    {second_wall:7.1f}s  "
          f"{'the same image (reproducible)' if same_cold else 'ANOTHER image: NOT reproducible'}")
    print(f"  warm from the exported cache           {warm_wall:7.1f}s  ratio {warm_wall / cold_wall:.2f} "
          f"({from_cache} steps from cache; {'faster' if warm_wall < cold_wall else 'NOT faster'} than cold)")
    print(f"  code-only change                       {code_wall:7.1f}s  ratio {code_wall / cold_wall:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("component", nargs="?", default="storage", help="the component whose code changes")
    parser.add_argument("--buildx-only", action="store_true", help="only the buildx timings")
    opts = parser.parse_args()
    component = opts.component
    subprocess.run(["cargo", "build", "--quiet", "-p", "xtask"], cwd=ROOT, check=True)
    if opts.buildx_only:
        buildx_timings(component)
        return
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
    buildx_timings(component)


if __name__ == "__main__":
    main()
