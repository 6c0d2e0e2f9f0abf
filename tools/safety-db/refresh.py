"""Rebuild this offline safety database from an unpacked `safety-db` wheel.

Usage: python3 tools/safety-db/refresh.py UNPACKED_WHEEL_DIR
(UNPACKED_WHEEL_DIR holds safety_db/insecure.json and safety_db/insecure_full.json.)
See README.md for where the wheel comes from and why the advisories get URLs.
"""

import json
import sys
from pathlib import Path

# Every distribution the components, their tests and the pipeline's tool
# virtualenvs resolve to (plus pip), by canonical name. Names the database
# has no advisory for are harmless; list them so a future refresh keeps them.
PACKAGES = """
ast-serialize bandit black certifi charset-normalizer click dparse flake8 idna
iniconfig isort librt markdown-it-py mccabe mdurl mypy mypy-extensions packaging
pathspec pip platformdirs pluggy py4j pyarrow pycodestyle pyflakes pygments
pyparsing pyspark pytest pytokens pyyaml requests rich ruamel-yaml safety
setuptools stevedore typing-extensions urllib3
""".split()

# safety 2.3.5 builds each advisory's URL as $meta.base_domain + more_info_path;
# with no base_domain it yields the string "None" and `--json` crashes on it.
BASE_DOMAIN = "https://pyup.io"


def more_info_path(advisory: dict) -> str:
    number = advisory["id"].replace("pyup.io-", "")
    cve = (advisory.get("cve") or "").split(",")[0].strip()
    # PyUp's own pages: /vulnerabilities/CVE-…/N/ or, without a CVE, PVE-2021-N.
    return f"/vulnerabilities/{cve or 'PVE-2021-' + number}/{number}/"


def main() -> None:
    src = Path(sys.argv[1]) / "safety_db"
    out = Path(__file__).resolve().parent
    for name in ("insecure.json", "insecure_full.json"):
        db = json.loads((src / name).read_text())
        # Same key order as the source ($meta first, then packages A-Z).
        kept = {k: v for k, v in db.items() if k == "$meta" or k in PACKAGES}
        if name == "insecure_full.json":
            kept["$meta"]["base_domain"] = BASE_DOMAIN
            for key, advisories in kept.items():
                if key == "$meta":
                    continue
                for adv in advisories:
                    adv.setdefault("more_info_path", more_info_path(adv))
        # The source is exactly json.dumps(indent=4) with no final newline.
        (out / name).write_text(json.dumps(kept, indent=4))
        print(f"{name}: {len(kept) - 1} packages")


if __name__ == "__main__":
    main()
