"""What each environment's render (deploy/overlays/ENV) holds for storage's
safety: who may reach it, who may read, what a pod may use.

Rendered with ``kubectl kustomize`` (as ``cargo xtask manifests render``
does) and read as text, so the test needs no YAML library: kubectl prints
block style, one key per line. Skipped where kubectl is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ENVIRONMENTS = ("development", "staging", "production")
#: The pods that check the services: the smoke Jobs of the components'
#: k8s/ folders and the canary's load Job (xtask/src/canary/cluster.rs).
CHECKS = {"storage-smoke", "cdc-smoke", "client-smoke", "canary-load"}


class Doc:
    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines()
        self.kind = self.top("kind")
        self.name = next(
            (
                line.split(":", 1)[1].strip()
                for line in self.lines
                if line.startswith("  name:")
            ),
            "",
        )

    def top(self, key: str) -> str:
        for line in self.lines:
            if line.startswith(f"{key}:"):
                return line.split(":", 1)[1].strip()
        return ""

    def lists(self, key: str) -> list[list[str]]:
        """Every block list under ``key:`` (its items' scalar values)."""
        found = []
        for index, line in enumerate(self.lines):
            if line.strip() != f"{key}:":
                continue
            depth = len(line) - len(line.lstrip())
            items = []
            for more in self.lines[index + 1 :]:
                if len(more) - len(
                    more.lstrip()
                ) < depth or not more.lstrip().startswith("- "):
                    break
                items.append(more.strip()[2:].strip().strip('"'))
            found.append(items)
        return found


@cache
def render(env: str) -> tuple[Doc, ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: it renders the overlays")
    done = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy" / "overlays" / env)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return tuple(Doc(part) for part in re.split(r"(?m)^---$", done.stdout))


def one(env: str, kind: str, name: str) -> Doc:
    found = [d for d in render(env) if d.kind == kind and d.name == name]
    assert len(found) == 1, f"{env}: {kind}/{name} rendered {len(found)} times"
    return found[0]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_denies_by_default(env: str) -> None:
    deny = one(env, "NetworkPolicy", "default-deny")
    assert "  podSelector: {}" in deny.lines
    assert deny.lists("policyTypes") == [["Ingress", "Egress"]]
    assert "ingress:" not in deny.text and "egress:" not in deny.text


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_platform_flows_are_allowed_by_name(env: str) -> None:
    smoke = {
        label
        for d in render(env)
        if d.kind == "Job"
        for label in re.findall(r"app\.kubernetes\.io/name: (\S+-smoke)", d.text)
    }
    assert smoke == CHECKS - {"canary-load"}, "a smoke Job is missing here"
    storage = one(env, "NetworkPolicy", "storage")
    assert "app.kubernetes.io/name: storage" in storage.text
    (callers,) = storage.lists("values")
    assert set(callers) == CHECKS | {"cdc"}
    assert "port: 8080" in storage.text
    cdc = one(env, "NetworkPolicy", "cdc")
    (callers,) = cdc.lists("values")
    assert set(callers) == {"cdc-smoke", "canary-load"}
    assert 'mlops.dev/cdc-source: "true"' in cdc.text
    assert "app.kubernetes.io/name: storage" in cdc.text  # cdc -> storage
    checks = one(env, "NetworkPolicy", "checks")
    # kubectl prints keys in order: egress (to whom) before podSelector (who)
    where, who = checks.lists("values")
    assert set(who) == CHECKS and set(where) == {"storage", "cdc"}
    for policy in (storage, cdc):  # the OTel collector
        assert "kubernetes.io/metadata.name: observability" in policy.text
        assert "port: 4318" in policy.text and "port: 4317" in policy.text
    dns = one(env, "NetworkPolicy", "dns")
    assert "k8s-app: kube-dns" in dns.text and "port: 53" in dns.text


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_reads_need_the_token_outside_development(env: str) -> None:
    storage = one(env, "Deployment", "storage")
    lines = storage.lines
    if env == "development":
        assert "MLOPS_STORAGE_AUTH_READS" not in storage.text
        return
    at = lines.index("        - name: MLOPS_STORAGE_AUTH_READS")
    assert lines[at + 1].strip() == 'value: "true"'


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_pod_mounts_a_service_account_token(env: str) -> None:
    pods = [d for d in render(env) if d.kind in ("Deployment", "CronJob", "Job")]
    assert {d.name for d in pods} >= {"storage", "cdc", "spark-features"}
    for d in pods:
        assert "automountServiceAccountToken: false" in d.text, f"{d.kind}/{d.name}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_disruption_budgets_outside_development(env: str) -> None:
    budgets = {d.name: d for d in render(env) if d.kind == "PodDisruptionBudget"}
    if env == "development":
        assert budgets == {}
        return
    assert set(budgets) == {"storage", "cdc"}
    replicas = number(r"^  replicas: (\d+)$", one(env, "Deployment", "storage"))
    minimum = number(r"^  minAvailable: (\d+)$", budgets["storage"])
    assert 1 <= minimum < replicas, "a drain could not move any storage pod"
    assert "minAvailable: 1" in budgets["cdc"].text


def number(pattern: str, doc: Doc) -> int:
    found = re.search(pattern, doc.text, re.MULTILINE)
    assert found, f"{doc.kind}/{doc.name}: no {pattern}"
    return int(found.group(1))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_metrics_directory_is_bounded(env: str) -> None:
    storage = one(env, "Deployment", "storage").lines
    at = storage.index("      - emptyDir:")
    assert storage[at + 1].strip().startswith("sizeLimit:")
    assert storage[at + 2].strip() == "name: tmp"
