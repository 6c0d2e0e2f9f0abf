#!/usr/bin/env python3
"""Benchmark of the task cache on the real components, against Turborepo, in one run.

Measures the pull-request plan, `cargo xtask ci --event pull_request` (tests
and quality, each stage a child process), as one whole process through
`cargo xtask`:

  cold        empty task cache, warm environments
  no change   the same again: everything replayed from the cache
  leaf        a one-line change in client (a leaf): only its tasks re-run
  storage     a one-line change in storage: it and every dependent re-run

Then sets up a Turborepo tree of the same shape in a temp dir (turbo from
npm, pinned; 4 packages with the same dependency edges; test and quality
tasks that sleep as long as ours took) and times its fully cached run.

Targets (printed, never asserted): no change <= 1.0 x Turborepo's fully cached
run and < 2% of cold; the leaf change < 40% of cold.

The user's task cache is moved aside and put back at the end; changed source
lines are restored; the temp dir is removed. Writes target/xtask/bench.json.

Usage: python3 bench/run.py [--repeat N] [--no-turbo]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "target/xtask/cache"
ASIDE = ROOT / "target/xtask/cache.bench-aside"
TURBO_VERSION = "2.11.11"
PASSWORD_FILE = Path("/var/lib/xtask-registry/password")
CHANGES = {
    "leaf": ROOT / "components/client/src/mlops_client/__init__.py",
    "storage": ROOT / "components/storage/src/mlops_storage/__init__.py",
}
# The repo's own dependency edges: cdc and spark need storage; client's tests start it.
EDGES = {"storage": {}, "cdc": {"dependencies": ["storage"]}, "spark": {"dependencies": ["storage"]},
         "client": {"devDependencies": ["storage"]}}


def env() -> dict[str, str]:
    # No cluster (its dry run is never cached) and no GitHub: the plan as a laptop runs it.
    e = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_") and k not in ("KUBECONFIG", "KUBECONFIG_B64")}
    # The xtask's image tests need the loopback registry that `cargo xtask services up` starts.
    if PASSWORD_FILE.exists():
        e.setdefault("XTASK_TEST_REGISTRY", "127.0.0.1:5000")
        e.setdefault("XTASK_TEST_REGISTRY_USER", "xtask")
        e.setdefault("XTASK_TEST_REGISTRY_PASSWORD_FILE", str(PASSWORD_FILE))
    return e


def xtask(*args: str, check: bool = True) -> float:
    """Run `cargo xtask ARGS` as a user does; return its wall time."""
    start = time.perf_counter()
    done = subprocess.run(["cargo", "xtask", *args], cwd=ROOT, env=env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if check and done.returncode != 0:
        sys.exit(f"cargo xtask {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    return elapsed


def plan() -> tuple[float, list[str], dict[str, float]]:
    """The pull-request plan. Wall time, the tasks that ran, and every task's seconds."""
    total = xtask("ci", "--event", "pull_request")
    ran, seconds = [], {}
    for stage in ("test", "quality"):
        for t in json.loads((ROOT / f"target/xtask/ci/{stage}.json").read_text())["tasks"]:
            seconds[t["task"]["id"]] = t["seconds"]
            if not t["cached"]:
                ran.append(t["task"]["id"])
    return total, ran, seconds


def median_of(n: int, fn) -> float:
    return statistics.median(fn() for _ in range(n))


def turbo_tree(tmp: Path, seconds: dict[str, float]) -> Path:
    """A Turborepo monorepo shaped like ours, whose tasks sleep as long as ours took."""
    root = tmp / "turbo"
    npm = subprocess.run(["npm", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    (root / "packages").mkdir(parents=True)
    (root / "package.json").write_text(json.dumps({
        "name": "bench-turbo", "private": True, "workspaces": ["packages/*"],
        "packageManager": f"npm@{npm}", "devDependencies": {"turbo": TURBO_VERSION},
    }, indent=2))
    (root / "turbo.json").write_text(json.dumps({
        "$schema": "https://turbo.build/schema.json",
        "tasks": {"test": {"dependsOn": ["^test"], "outputs": ["junit.xml"]}, "quality": {"dependsOn": ["^quality"]}},
    }, indent=2))
    for name, deps in EDGES.items():
        pkg = root / "packages" / name
        (pkg / "src").mkdir(parents=True)
        (pkg / "src/index.js").write_text(f"module.exports = '{name}';\n")
        test_s = seconds.get(f"test:{name}", 1.0)
        quality_s = sum(s for t, s in seconds.items() if t.endswith(f":{name}") and not t.startswith("test:"))
        # Like ours: the test task leaves a JUnit file (a cached output), quality only a verdict.
        test = f"node -e \"setTimeout(() => require('fs').writeFileSync('junit.xml', '<testsuites/>'), {int(test_s * 1000)})\""
        quality = f"node -e \"setTimeout(() => 0, {int(quality_s * 1000)})\""
        manifest = {"name": name, "version": "0.1.0", "private": True, "scripts": {"test": test, "quality": quality}}
        for kind, names in deps.items():
            manifest[kind] = {d: "0.1.0" for d in names}
        (pkg / "package.json").write_text(json.dumps(manifest, indent=2))
    (root / ".gitignore").write_text("node_modules/\n.turbo/\n")
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=root, check=True)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    subprocess.run(["git", "init", "--quiet"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "tree"], cwd=root, check=True)
    return root


def turbo_cached(root: Path, repeat: int) -> tuple[float, float]:
    """Turbo's cold run, then the median of its fully cached runs."""
    e = {**os.environ, "TURBO_TELEMETRY_DISABLED": "1", "DO_NOT_TRACK": "1"}
    cmd = [str(root / "node_modules/.bin/turbo"), "run", "test", "quality"]

    def once() -> float:
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=root, env=e, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"turbo failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
        return time.perf_counter() - start

    cold = once()
    return cold, median_of(repeat, once)


def change(path: Path, original: bytes) -> None:
    path.write_bytes(original + b"# bench: a one-line change\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="no-change runs to take the median of (default 5)")
    parser.add_argument("--no-turbo", action="store_true", help="skip the Turborepo comparison")
    args = parser.parse_args()

    subprocess.run(["cargo", "build", "--quiet", "-p", "xtask", "--all-targets"], cwd=ROOT, check=True)
    originals = {k: p.read_bytes() for k, p in CHANGES.items()}
    if ASIDE.exists():
        sys.exit(f"{ASIDE} exists: an earlier benchmark was interrupted; put it back as {CACHE} first")
    moved = CACHE.exists()
    if moved:
        CACHE.rename(ASIDE)
    results: dict = {}
    try:
        print("warming environments (their tasks' results are then dropped) ...")
        xtask("test", "--no-cache", "--", "--collect-only", "-q")
        xtask("quality", "--no-cache")
        xtask("cache", "clean")

        print("cold run of the pull-request plan (empty cache, warm environments) ...")
        cold, ran, seconds = plan()
        print(f"  {cold:7.2f} s, {len(ran)} tasks ran")
        print("no-change re-run ...")
        no_change = median_of(args.repeat, lambda: plan()[0])
        _, ran_again, _ = plan()
        scenarios = {}
        for name, path in CHANGES.items():
            print(f"one-line change in {path.relative_to(ROOT)} ...")
            change(path, originals[name])
            try:
                took, ran_now, _ = plan()
            finally:
                path.write_bytes(originals[name])
            scenarios[name] = {"seconds": took, "ran": ran_now}
            print(f"  {took:7.2f} s, re-ran: {', '.join(ran_now)}")
        results = {
            "cold": {"seconds": cold, "tasks": len(ran)},
            "no_change": {"seconds": no_change, "ran": ran_again, "runs": args.repeat},
            **scenarios,
        }
        if not args.no_turbo:
            with tempfile.TemporaryDirectory(prefix="xtask-bench-turbo-") as tmp:
                print(f"Turborepo {TURBO_VERSION}: same shape, tasks sleeping as long as ours ...")
                tcold, tcached = turbo_cached(turbo_tree(Path(tmp), seconds), args.repeat)
                results["turbo"] = {"version": TURBO_VERSION, "cold": tcold, "cached": tcached}
    finally:
        for name, path in CHANGES.items():
            path.write_bytes(originals[name])
        if moved:
            shutil.rmtree(CACHE, ignore_errors=True)
            ASIDE.rename(CACHE)

    print()
    verdict = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    print(f"cold run (test + quality)       {cold:8.2f} s")
    print(f"no-change re-run                {no_change:8.3f} s   {no_change / cold:6.2%} of cold"
          f"  (target < 2%: {verdict(no_change / cold < 0.02)})")
    for name in CHANGES:
        s = results[name]["seconds"]
        target = "  (target < 40%: " + verdict(s / cold < 0.40) + ")" if name == "leaf" else ""
        print(f"{name + ' change':<31} {s:8.2f} s   {s / cold:6.2%} of cold{target}")
    if "turbo" in results:
        t = results["turbo"]
        ratio = no_change / t["cached"]
        results["ratios"] = {"no_change_vs_turbo_cached": ratio}
        print(f"turbo cold run                  {t['cold']:8.2f} s")
        print(f"turbo fully cached run          {t['cached']:8.3f} s")
        print(f"no-change / turbo cached        {ratio:8.2f} x  (target <= 1.0: {verdict(ratio <= 1.0)})")
    results.setdefault("ratios", {}).update({
        "no_change_vs_cold": no_change / cold,
        "leaf_vs_cold": results["leaf"]["seconds"] / cold,
        "storage_vs_cold": results["storage"]["seconds"] / cold,
    })
    out = ROOT / "target/xtask/bench.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.rename(out)
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
