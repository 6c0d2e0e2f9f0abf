use super::*;

/// flake8 on components/demo/src (exit 1).
const FLAKE8: &str = r###"components/demo/src/demo/dashes.py:2:4: W291 trailing whitespace
components/demo/src/demo/dashes.py:4:3: E128 continuation line under-indented for visual indent
components/demo/src/demo/lint.py:1:1: F401 'os' imported but unused
components/demo/src/demo/lint.py:6:28: F821 undefined name 'missing_name'
components/demo/src/demo/ugly.py:1:15: E231 missing whitespace after ','
"###;

/// flake8 on components/broken/src and a missing path `nope` (exit 1).
const FLAKE8_ERRORS: &str = r###"components/broken/src/broken/syn.py:1:8: E999 SyntaxError: invalid syntax
nope:0:1: E902 FileNotFoundError: [Errno 2] No such file or directory: 'nope'
"###;

/// black stdout on components/demo/src (exit 1); its stderr was empty thanks to -q.
const BLACK: &str = r###"--- /tmp/h4-fx/components/demo/src/demo/dashes.py	2026-11-26 14:25:09.016309+00:00
+++ /tmp/h4-fx/components/demo/src/demo/dashes.py	2026-11-26 14:25:09.671064+00:00
@@ -1,4 +1,3 @@
 x = 1
---x   
-y = [1,
-  2]
+--x
+y = [1, 2]
--- /tmp/h4-fx/components/demo/src/demo/ugly.py	2026-11-26 14:23:29.652603+00:00
+++ /tmp/h4-fx/components/demo/src/demo/ugly.py	2026-11-26 14:25:09.711764+00:00
@@ -1,6 +1,6 @@
-def add(a: int,b: int) -> int:
-    return a+b
+def add(a: int, b: int) -> int:
+    return a + b
 
 
 def mul(a: int, b: int) -> int:
-    return a*b
+    return a * b
"###;

/// black stderr on components/broken/src (exit 123), stdout empty.
const BLACK_STDERR_SYNTAX: &str = r###"error: cannot parse for target version Python 3.11: /tmp/h4-fx/components/broken/src/broken/syn.py:1:6
    def f(:
         ^
ParseError: bad input
"###;

/// isort stdout on components/demo/src (exit 1).
const ISORT: &str = r###"--- /tmp/h4-fx/components/demo/src/demo/imports.py:before	2026-11-26 14:23:29.657732
+++ /tmp/h4-fx/components/demo/src/demo/imports.py:after	2026-11-26 14:25:02.047656
@@ -1,6 +1,6 @@
-import sys
 import json
 import os
+import sys
 
 
 def paths() -> list[str]:
"###;

/// ... and its stderr.
const ISORT_STDERR: &str = r###"ERROR: /tmp/h4-fx/components/demo/src/demo/imports.py Imports are incorrectly sorted and/or formatted.
"###;

/// mypy on components/demo/src (exit 1).
const MYPY: &str = r###"components/demo/src/demo/typed.py:6:12: error: Incompatible return value type (got "int", expected "str")  [return-value]
components/demo/src/demo/typed.py:6:19: error: Argument 1 to "double" has incompatible type "str"; expected "int"  [arg-type]
components/demo/src/demo/typed.py:10:12: error: Incompatible return value type (got "list[int]", expected "list[float]")  [return-value]
components/demo/src/demo/typed.py:10:12: note: "list" is invariant -- see https://mypy.readthedocs.io/en/stable/common_issues.html#variance
components/demo/src/demo/typed.py:10:12: note: Consider using "Sequence" instead, which is covariant
components/demo/src/demo/lint.py:6:5: error: Returning Any from function declared to return "int"  [no-any-return]
components/demo/src/demo/lint.py:6:28: error: Name "missing_name" is not defined  [name-defined]
"###;

/// mypy on components/broken/src (exit 2).
const MYPY_SYNTAX: &str = r###"components/broken/src/broken/syn.py:1:8: error: Expected a parameter or the end of the parameter list  [syntax]
components/broken/src/broken/syn.py:1:9: error: Expected `)`, found newline  [syntax]
"###;

/// mypy on a missing path `nope` (exit 2).
const MYPY_MISSING: &str = r###"nope: error: Cannot read file: No such file or directory
"###;

/// bandit on components/demo/src (exit 1).
const BANDIT: &str = r###"{
  "errors": [],
  "generated_at": "2026-11-26T14:25:04Z",
  "metrics": {
    "_totals": {
      "CONFIDENCE.HIGH": 2,
      "CONFIDENCE.LOW": 1,
      "CONFIDENCE.MEDIUM": 0,
      "CONFIDENCE.UNDEFINED": 0,
      "SEVERITY.HIGH": 1,
      "SEVERITY.LOW": 1,
      "SEVERITY.MEDIUM": 1,
      "SEVERITY.UNDEFINED": 0,
      "loc": 29,
      "nosec": 0,
      "skipped_tests": 0
    },
    "components/demo/src/demo/__init__.py": {
      "CONFIDENCE.HIGH": 0,
      "CONFIDENCE.LOW": 0,
      "CONFIDENCE.MEDIUM": 0,
      "CONFIDENCE.UNDEFINED": 0,
      "SEVERITY.HIGH": 0,
      "SEVERITY.LOW": 0,
      "SEVERITY.MEDIUM": 0,
      "SEVERITY.UNDEFINED": 0,
      "loc": 0,
      "nosec": 0,
      "skipped_tests": 0
    },
    "components/demo/src/demo/imports.py": {
      "CONFIDENCE.HIGH": 0,
      "CONFIDENCE.LOW": 0,
      "CONFIDENCE.MEDIUM": 0,
      "CONFIDENCE.UNDEFINED": 0,
      "SEVERITY.HIGH": 0,
      "SEVERITY.LOW": 0,
      "SEVERITY.MEDIUM": 0,
      "SEVERITY.UNDEFINED": 0,
      "loc": 5,
      "nosec": 0,
      "skipped_tests": 0
    },
    "components/demo/src/demo/lint.py": {
      "CONFIDENCE.HIGH": 0,
      "CONFIDENCE.LOW": 0,
      "CONFIDENCE.MEDIUM": 0,
      "CONFIDENCE.UNDEFINED": 0,
      "SEVERITY.HIGH": 0,
      "SEVERITY.LOW": 0,
      "SEVERITY.MEDIUM": 0,
      "SEVERITY.UNDEFINED": 0,
      "loc": 4,
      "nosec": 0,
      "skipped_tests": 0
    },
    "components/demo/src/demo/shell.py": {
      "CONFIDENCE.HIGH": 2,
      "CONFIDENCE.LOW": 1,
      "CONFIDENCE.MEDIUM": 0,
      "CONFIDENCE.UNDEFINED": 0,
      "SEVERITY.HIGH": 1,
      "SEVERITY.LOW": 1,
      "SEVERITY.MEDIUM": 1,
      "SEVERITY.UNDEFINED": 0,
      "loc": 10,
      "nosec": 0,
      "skipped_tests": 0
    },
    "components/demo/src/demo/typed.py": {
      "CONFIDENCE.HIGH": 0,
      "CONFIDENCE.LOW": 0,
      "CONFIDENCE.MEDIUM": 0,
      "CONFIDENCE.UNDEFINED": 0,
      "SEVERITY.HIGH": 0,
      "SEVERITY.LOW": 0,
      "SEVERITY.MEDIUM": 0,
      "SEVERITY.UNDEFINED": 0,
      "loc": 6,
      "nosec": 0,
      "skipped_tests": 0
    },
    "components/demo/src/demo/ugly.py": {
      "CONFIDENCE.HIGH": 0,
      "CONFIDENCE.LOW": 0,
      "CONFIDENCE.MEDIUM": 0,
      "CONFIDENCE.UNDEFINED": 0,
      "SEVERITY.HIGH": 0,
      "SEVERITY.LOW": 0,
      "SEVERITY.MEDIUM": 0,
      "SEVERITY.UNDEFINED": 0,
      "loc": 4,
      "nosec": 0,
      "skipped_tests": 0
    }
  },
  "results": [
    {
      "code": "1 import subprocess\n2 import sys\n3 \n",
      "col_offset": 0,
      "end_col_offset": 17,
      "filename": "components/demo/src/demo/shell.py",
      "issue_confidence": "HIGH",
      "issue_cwe": {
        "id": 78,
        "link": "https://cwe.mitre.org/data/definitions/78.html"
      },
      "issue_severity": "LOW",
      "issue_text": "Consider possible security implications associated with the subprocess module.",
      "line_number": 1,
      "line_range": [
        1
      ],
      "more_info": "https://bandit.readthedocs.io/en/1.9.4/blacklists/blacklist_imports.html#b404-import-subprocess",
      "test_id": "B404",
      "test_name": "blacklist"
    },
    {
      "code": "5 def run(cmd: str) -> int:\n6     return subprocess.run(cmd, shell=True).returncode\n7 \n",
      "col_offset": 11,
      "end_col_offset": 42,
      "filename": "components/demo/src/demo/shell.py",
      "issue_confidence": "HIGH",
      "issue_cwe": {
        "id": 78,
        "link": "https://cwe.mitre.org/data/definitions/78.html"
      },
      "issue_severity": "HIGH",
      "issue_text": "subprocess call with shell=True identified, security issue.",
      "line_number": 6,
      "line_range": [
        6
      ],
      "more_info": "https://bandit.readthedocs.io/en/1.9.4/plugins/b602_subprocess_popen_with_shell_equals_true.html",
      "test_id": "B602",
      "test_name": "subprocess_popen_with_shell_equals_true"
    },
    {
      "code": "9 def spawn(cmd: str) -> None:\n10     launch(cmd, shell=True)\n11 \n",
      "col_offset": 4,
      "end_col_offset": 27,
      "filename": "components/demo/src/demo/shell.py",
      "issue_confidence": "LOW",
      "issue_cwe": {
        "id": 78,
        "link": "https://cwe.mitre.org/data/definitions/78.html"
      },
      "issue_severity": "MEDIUM",
      "issue_text": "Function call with shell=True parameter identified, possible security issue.",
      "line_number": 10,
      "line_range": [
        10
      ],
      "more_info": "https://bandit.readthedocs.io/en/1.9.4/plugins/b604_any_other_function_with_shell_equals_true.html",
      "test_id": "B604",
      "test_name": "any_other_function_with_shell_equals_true"
    }
  ]
}"###;

/// bandit on components/broken/src and a missing path `nope` (exit 0!).
const BANDIT_ERRORS: &str = r###"{
  "errors": [
    {
      "filename": "./nope",
      "reason": "No such file or directory"
    },
    {
      "filename": "components/broken/src/broken/syn.py",
      "reason": "syntax error while parsing AST from file"
    }
  ],
  "generated_at": "2026-11-26T14:25:49Z",
  "metrics": {
    "_totals": {
      "CONFIDENCE.HIGH": 0,
      "CONFIDENCE.LOW": 0,
      "CONFIDENCE.MEDIUM": 0,
      "CONFIDENCE.UNDEFINED": 0,
      "SEVERITY.HIGH": 0,
      "SEVERITY.LOW": 0,
      "SEVERITY.MEDIUM": 0,
      "SEVERITY.UNDEFINED": 0,
      "loc": 2,
      "nosec": 0,
      "skipped_tests": 0
    },
    "components/broken/src/broken/syn.py": {
      "loc": 2,
      "nosec": 0,
      "skipped_tests": 0
    }
  },
  "results": []
}"###;

/// bandit on the real components/client/src/mlops_client/__init__.py (exit 0).
const BANDIT_CLEAN: &str = r###"{
  "errors": [],
  "generated_at": "2026-11-26T14:26:33Z",
  "metrics": {
    "./components/client/src/mlops_client/__init__.py": {
      "CONFIDENCE.HIGH": 0,
      "CONFIDENCE.LOW": 0,
      "CONFIDENCE.MEDIUM": 0,
      "CONFIDENCE.UNDEFINED": 0,
      "SEVERITY.HIGH": 0,
      "SEVERITY.LOW": 0,
      "SEVERITY.MEDIUM": 0,
      "SEVERITY.UNDEFINED": 0,
      "loc": 17,
      "nosec": 0,
      "skipped_tests": 0
    },
    "_totals": {
      "CONFIDENCE.HIGH": 0,
      "CONFIDENCE.LOW": 0,
      "CONFIDENCE.MEDIUM": 0,
      "CONFIDENCE.UNDEFINED": 0,
      "SEVERITY.HIGH": 0,
      "SEVERITY.LOW": 0,
      "SEVERITY.MEDIUM": 0,
      "SEVERITY.UNDEFINED": 0,
      "loc": 17,
      "nosec": 0,
      "skipped_tests": 0
    }
  },
  "results": []
}"###;

/// safety check --json --db tools/safety-db -r req-vuln.txt (exit 64).
const SAFETY: &str = r###"{
    "report_meta": {
        "scan_target": "files",
        "scanned": [
            "req-vuln.txt"
        ],
        "policy_file": null,
        "policy_file_source": "local",
        "api_key": false,
        "local_database_path": "/work/main/tools/safety-db",
        "safety_version": "2.3.5",
        "timestamp": "2026-11-26 14:22:37",
        "packages_found": 1,
        "vulnerabilities_found": 3,
        "vulnerabilities_ignored": 0,
        "remediations_recommended": 0,
        "telemetry": {
            "os_type": "Linux",
            "os_release": "6.18.44-fc-v782",
            "os_description": "Linux-6.18.44-fc-v782-x86_64-with-glibc2.36",
            "python_version": "3.11.7",
            "safety_command": "check",
            "safety_options": {
                "db": {
                    "--db": 1
                },
                "files": {
                    "-r": 1
                },
                "json": {
                    "--json": 1
                }
            },
            "safety_version": "2.3.5",
            "safety_source": "cli"
        },
        "git": {
            "error": "not-git-repo"
        },
        "project": null,
        "json_version": 1
    },
    "scanned_packages": {
        "urllib3": {
            "name": "urllib3",
            "version": "1.24.1"
        }
    },
    "affected_packages": {
        "urllib3": {
            "name": "urllib3",
            "version": "1.24.1",
            "found": "req-vuln.txt",
            "insecure_versions": [],
            "secure_versions": [],
            "latest_version_without_known_vulnerabilities": null,
            "latest_version": null,
            "more_info_url": "https://pyup.io"
        }
    },
    "announcements": [],
    "vulnerabilities": [
        {
            "vulnerability_id": "37071",
            "package_name": "urllib3",
            "ignored": {},
            "ignored_reason": null,
            "ignored_expires": null,
            "vulnerable_spec": "<1.24.2",
            "all_vulnerable_specs": [
                "<1.24.2"
            ],
            "analyzed_version": "1.24.1",
            "advisory": "The urllib3 library before 1.24.2 for Python mishandles certain cases where the desired set of CA certificates is different from the OS store of CA certificates, which results in SSL connections succeeding in situations where a verification failure is the correct outcome. This is related to use of the ssl_context, ca_certs, or ca_certs_dir argument.",
            "is_transitive": false,
            "published_date": null,
            "fixed_versions": [],
            "closest_versions_without_known_vulnerabilities": [],
            "resources": [],
            "CVE": "CVE-2019-11324",
            "severity": null,
            "affected_versions": [],
            "more_info_url": "https://pyup.io/vulnerabilities/CVE-2019-11324/37071/"
        },
        {
            "vulnerability_id": "38834",
            "package_name": "urllib3",
            "ignored": {},
            "ignored_reason": null,
            "ignored_expires": null,
            "vulnerable_spec": "<1.25.9",
            "all_vulnerable_specs": [
                "<1.25.9"
            ],
            "analyzed_version": "1.24.1",
            "advisory": "urllib3 before 1.25.9 allows CRLF injection if the attacker controls the HTTP request method, as demonstrated by inserting CR and LF control characters in the first argument of putrequest(). See: CVE-2020-26137. NOTE: this is similar to CVE-2020-26116.",
            "is_transitive": false,
            "published_date": null,
            "fixed_versions": [],
            "closest_versions_without_known_vulnerabilities": [],
            "resources": [],
            "CVE": "CVE-2020-26137",
            "severity": null,
            "affected_versions": [],
            "more_info_url": "https://pyup.io/vulnerabilities/CVE-2020-26137/38834/"
        },
        {
            "vulnerability_id": "37055",
            "package_name": "urllib3",
            "ignored": {},
            "ignored_reason": null,
            "ignored_expires": null,
            "vulnerable_spec": "<=1.24.1",
            "all_vulnerable_specs": [
                "<=1.24.1"
            ],
            "analyzed_version": "1.24.1",
            "advisory": "In the urllib3 library through 1.24.1 for Python, CRLF injection is possible if the attacker controls the request parameter.",
            "is_transitive": false,
            "published_date": null,
            "fixed_versions": [],
            "closest_versions_without_known_vulnerabilities": [],
            "resources": [],
            "CVE": "CVE-2019-11236",
            "severity": null,
            "affected_versions": [],
            "more_info_url": "https://pyup.io/vulnerabilities/CVE-2019-11236/37055/"
        }
    ],
    "ignored_vulnerabilities": [],
    "remediations": {
        "urllib3": {
            "current_version": "1.24.1",
            "vulnerabilities_found": 3,
            "recommended_version": null,
            "other_recommended_versions": [],
            "more_info_url": "https://pyup.io/?from=1.24.1"
        }
    }
}
"###;

/// ... -r req-clean.txt holding urllib3==2.5.0 (exit 0).
const SAFETY_CLEAN: &str = r###"{
    "report_meta": {
        "scan_target": "files",
        "scanned": [
            "req-clean.txt"
        ],
        "policy_file": null,
        "policy_file_source": "local",
        "api_key": false,
        "local_database_path": "/work/main/tools/safety-db",
        "safety_version": "2.3.5",
        "timestamp": "2026-11-26 14:22:38",
        "packages_found": 1,
        "vulnerabilities_found": 0,
        "vulnerabilities_ignored": 0,
        "remediations_recommended": 0,
        "telemetry": {
            "os_type": "Linux",
            "os_release": "6.18.44-fc-v782",
            "os_description": "Linux-6.18.44-fc-v782-x86_64-with-glibc2.36",
            "python_version": "3.11.7",
            "safety_command": "check",
            "safety_options": {
                "db": {
                    "--db": 1
                },
                "files": {
                    "-r": 1
                },
                "json": {
                    "--json": 1
                }
            },
            "safety_version": "2.3.5",
            "safety_source": "cli"
        },
        "git": {
            "error": "not-git-repo"
        },
        "project": null,
        "json_version": 1
    },
    "scanned_packages": {
        "urllib3": {
            "name": "urllib3",
            "version": "2.5.0"
        }
    },
    "affected_packages": {},
    "announcements": [],
    "vulnerabilities": [],
    "ignored_vulnerabilities": [],
    "remediations": {}
}
"###;

/// A requirements file with comments, odd spellings and an unpinned line...
const REQ_MULTI: &str = r###"# pinned for the demo
pyarrow==14.0.0
PyYAML==5.3   # old
Urllib3 == 1.24.1
requests[socks]>=2.0
setuptools==40.0.0
"###;

/// ... and safety's report on it (exit 64).
const SAFETY_MULTI: &str = r###"{
    "report_meta": {
        "scan_target": "files",
        "scanned": [
            "req-multi.txt"
        ],
        "policy_file": null,
        "policy_file_source": "local",
        "api_key": false,
        "local_database_path": "/work/main/tools/safety-db",
        "safety_version": "2.3.5",
        "timestamp": "2026-11-26 14:24:34",
        "packages_found": 4,
        "vulnerabilities_found": 5,
        "vulnerabilities_ignored": 0,
        "remediations_recommended": 0,
        "telemetry": {
            "os_type": "Linux",
            "os_release": "6.18.44-fc-v782",
            "os_description": "Linux-6.18.44-fc-v782-x86_64-with-glibc2.36",
            "python_version": "3.11.7",
            "safety_command": "check",
            "safety_options": {
                "db": {
                    "--db": 1
                },
                "files": {
                    "-r": 1
                },
                "json": {
                    "--json": 1
                }
            },
            "safety_version": "2.3.5",
            "safety_source": "cli"
        },
        "git": {
            "error": "not-git-repo"
        },
        "project": null,
        "json_version": 1
    },
    "scanned_packages": {
        "pyarrow": {
            "name": "pyarrow",
            "version": "14.0.0"
        },
        "PyYAML": {
            "name": "PyYAML",
            "version": "5.3"
        },
        "Urllib3": {
            "name": "Urllib3",
            "version": "1.24.1"
        },
        "setuptools": {
            "name": "setuptools",
            "version": "40.0.0"
        }
    },
    "affected_packages": {
        "PyYAML": {
            "name": "PyYAML",
            "version": "5.3",
            "found": "req-multi.txt",
            "insecure_versions": [],
            "secure_versions": [],
            "latest_version_without_known_vulnerabilities": null,
            "latest_version": null,
            "more_info_url": "https://pyup.io"
        },
        "Urllib3": {
            "name": "Urllib3",
            "version": "1.24.1",
            "found": "req-multi.txt",
            "insecure_versions": [],
            "secure_versions": [],
            "latest_version_without_known_vulnerabilities": null,
            "latest_version": null,
            "more_info_url": "https://pyup.io"
        }
    },
    "announcements": [],
    "vulnerabilities": [
        {
            "vulnerability_id": "38100",
            "package_name": "pyyaml",
            "ignored": {},
            "ignored_reason": null,
            "ignored_expires": null,
            "vulnerable_spec": "<5.3.1",
            "all_vulnerable_specs": [
                "<5.3.1"
            ],
            "analyzed_version": "5.3",
            "advisory": "A vulnerability was discovered in the PyYAML library in versions before 5.3.1, where it is susceptible to arbitrary code execution when it processes untrusted YAML files through the full_load method or with the FullLoader loader. Applications that use the library to process untrusted input may be vulnerable to this flaw. An attacker could use this flaw to execute arbitrary code on the system by abusing the python/object/new constructor. See: CVE-2020-1747.",
            "is_transitive": false,
            "published_date": null,
            "fixed_versions": [],
            "closest_versions_without_known_vulnerabilities": [],
            "resources": [],
            "CVE": "CVE-2020-1747",
            "severity": null,
            "affected_versions": [],
            "more_info_url": "https://pyup.io/vulnerabilities/CVE-2020-1747/38100/"
        },
        {
            "vulnerability_id": "39611",
            "package_name": "pyyaml",
            "ignored": {},
            "ignored_reason": null,
            "ignored_expires": null,
            "vulnerable_spec": "<5.4",
            "all_vulnerable_specs": [
                "<5.4"
            ],
            "analyzed_version": "5.3",
            "advisory": "A vulnerability was discovered in the PyYAML library in versions before 5.4, where it is susceptible to arbitrary code execution when it processes untrusted YAML files through the full_load method or with the FullLoader loader. Applications that use the library to process untrusted input may be vulnerable to this flaw. This flaw allows an attacker to execute arbitrary code on the system by abusing the python/object/new constructor. This flaw is due to an incomplete fix for CVE-2020-1747. See CVE-2020-14343.",
            "is_transitive": false,
            "published_date": null,
            "fixed_versions": [],
            "closest_versions_without_known_vulnerabilities": [],
            "resources": [],
            "CVE": "CVE-2020-14343",
            "severity": null,
            "affected_versions": [],
            "more_info_url": "https://pyup.io/vulnerabilities/CVE-2020-14343/39611/"
        },
        {
            "vulnerability_id": "37071",
            "package_name": "urllib3",
            "ignored": {},
            "ignored_reason": null,
            "ignored_expires": null,
            "vulnerable_spec": "<1.24.2",
            "all_vulnerable_specs": [
                "<1.24.2"
            ],
            "analyzed_version": "1.24.1",
            "advisory": "The urllib3 library before 1.24.2 for Python mishandles certain cases where the desired set of CA certificates is different from the OS store of CA certificates, which results in SSL connections succeeding in situations where a verification failure is the correct outcome. This is related to use of the ssl_context, ca_certs, or ca_certs_dir argument.",
            "is_transitive": false,
            "published_date": null,
            "fixed_versions": [],
            "closest_versions_without_known_vulnerabilities": [],
            "resources": [],
            "CVE": "CVE-2019-11324",
            "severity": null,
            "affected_versions": [],
            "more_info_url": "https://pyup.io/vulnerabilities/CVE-2019-11324/37071/"
        },
        {
            "vulnerability_id": "38834",
            "package_name": "urllib3",
            "ignored": {},
            "ignored_reason": null,
            "ignored_expires": null,
            "vulnerable_spec": "<1.25.9",
            "all_vulnerable_specs": [
                "<1.25.9"
            ],
            "analyzed_version": "1.24.1",
            "advisory": "urllib3 before 1.25.9 allows CRLF injection if the attacker controls the HTTP request method, as demonstrated by inserting CR and LF control characters in the first argument of putrequest(). See: CVE-2020-26137. NOTE: this is similar to CVE-2020-26116.",
            "is_transitive": false,
            "published_date": null,
            "fixed_versions": [],
            "closest_versions_without_known_vulnerabilities": [],
            "resources": [],
            "CVE": "CVE-2020-26137",
            "severity": null,
            "affected_versions": [],
            "more_info_url": "https://pyup.io/vulnerabilities/CVE-2020-26137/38834/"
        },
        {
            "vulnerability_id": "37055",
            "package_name": "urllib3",
            "ignored": {},
            "ignored_reason": null,
            "ignored_expires": null,
            "vulnerable_spec": "<=1.24.1",
            "all_vulnerable_specs": [
                "<=1.24.1"
            ],
            "analyzed_version": "1.24.1",
            "advisory": "In the urllib3 library through 1.24.1 for Python, CRLF injection is possible if the attacker controls the request parameter.",
            "is_transitive": false,
            "published_date": null,
            "fixed_versions": [],
            "closest_versions_without_known_vulnerabilities": [],
            "resources": [],
            "CVE": "CVE-2019-11236",
            "severity": null,
            "affected_versions": [],
            "more_info_url": "https://pyup.io/vulnerabilities/CVE-2019-11236/37055/"
        }
    ],
    "ignored_vulnerabilities": [],
    "remediations": {
        "pyyaml": {
            "current_version": "5.3",
            "vulnerabilities_found": 2,
            "recommended_version": null,
            "other_recommended_versions": [],
            "more_info_url": "https://pyup.io/?from=5.3"
        },
        "urllib3": {
            "current_version": "1.24.1",
            "vulnerabilities_found": 3,
            "recommended_version": null,
            "other_recommended_versions": [],
            "more_info_url": "https://pyup.io/?from=1.24.1"
        }
    }
}
"###;

// Every constant above is real output of the pinned tools (argv from `command`), run with
// cwd = a scratch repo holding planted defects in components/demo/src/demo:
// lint.py (unused import, undefined name), ugly.py and dashes.py (black), imports.py (isort),
// typed.py (mypy), shell.py (bandit: subprocess with shell=True), and a syntax error in
// components/broken/src/broken/syn.py; safety ran on req-vuln.txt (urllib3==1.24.1).

/// What a test compares: (file, line, column, code, severity).
type Key = (String, Option<u32>, Option<u32>, String, Severity);

fn f(file: &str, line: Option<u32>, column: Option<u32>, code: &str, severity: Severity) -> Key {
    (file.into(), line, column, code.into(), severity)
}

fn keys(found: &[Finding]) -> Vec<Key> {
    found.iter().map(|x| (x.file.clone(), x.line, x.column, x.code.clone(), x.severity)).collect()
}

#[test]
fn flake8_findings_and_severities() {
    let found = flake8(FLAKE8);
    assert_eq!(
        keys(&found),
        [
            f("components/demo/src/demo/dashes.py", Some(2), Some(4), "W291", Severity::Medium),
            f("components/demo/src/demo/dashes.py", Some(4), Some(3), "E128", Severity::Medium),
            f("components/demo/src/demo/lint.py", Some(1), Some(1), "F401", Severity::High),
            f("components/demo/src/demo/lint.py", Some(6), Some(28), "F821", Severity::High),
            f("components/demo/src/demo/ugly.py", Some(1), Some(15), "E231", Severity::Medium),
        ]
    );
    assert_eq!(found[2].message, "'os' imported but unused");
    assert!(flake8("").is_empty());
}

#[test]
fn flake8_syntax_error_and_missing_path() {
    assert_eq!(
        keys(&flake8(FLAKE8_ERRORS)),
        [
            f("components/broken/src/broken/syn.py", Some(1), Some(8), "E999", Severity::High),
            f("nope", None, Some(1), "E902", Severity::High),
        ]
    );
}

#[test]
fn black_reports_each_file_once_at_its_first_change() {
    let found = black(BLACK);
    assert_eq!(
        keys(&found),
        [
            // dashes.py's removed line `--x   ` prints as `---x   ` inside the hunk: not a new file.
            f("/tmp/h4-fx/components/demo/src/demo/dashes.py", Some(2), None, "reformat", Severity::Low),
            f("/tmp/h4-fx/components/demo/src/demo/ugly.py", Some(1), None, "reformat", Severity::Low),
        ]
    );
    assert_eq!(found[1].message, "would reformat (1 changed region(s); run black)");
    assert!(black("").is_empty());
}

#[test]
fn black_parse_error_from_stderr() {
    let found = black(BLACK_STDERR_SYNTAX);
    assert_eq!(
        keys(&found),
        [f("/tmp/h4-fx/components/broken/src/broken/syn.py", Some(1), Some(6), "error", Severity::Medium)]
    );
    assert_eq!(found[0].message, "cannot parse for target version Python 3.11 (ParseError: bad input)");
    let found = black("error: cannot format src/a.py: INTERNAL ERROR: boom\n");
    assert_eq!(keys(&found), [f("src/a.py", None, None, "error", Severity::Medium)]);
}

#[test]
fn isort_diff_and_error_line_give_one_finding() {
    let both = format!("{ISORT}{ISORT_STDERR}");
    let want = [f("/tmp/h4-fx/components/demo/src/demo/imports.py", Some(1), None, "unsorted", Severity::Low)];
    assert_eq!(keys(&isort(&both)), want);
    assert_eq!(keys(&isort(ISORT)), want);
    // Without --diff only the stderr line is there: no line number.
    assert_eq!(keys(&isort(ISORT_STDERR)), [f(&want[0].0, None, None, "unsorted", Severity::Low)]);
}

#[test]
fn mypy_errors_with_codes_and_notes_skipped() {
    let found = mypy(MYPY);
    let file = |n| format!("components/demo/src/demo/{n}");
    assert_eq!(
        keys(&found),
        [
            f(&file("typed.py"), Some(6), Some(12), "return-value", Severity::High),
            f(&file("typed.py"), Some(6), Some(19), "arg-type", Severity::High),
            f(&file("typed.py"), Some(10), Some(12), "return-value", Severity::High),
            f(&file("lint.py"), Some(6), Some(5), "no-any-return", Severity::High),
            f(&file("lint.py"), Some(6), Some(28), "name-defined", Severity::High),
        ]
    );
    assert_eq!(found[1].message, r#"Argument 1 to "double" has incompatible type "str"; expected "int""#);
    // An error's notes travel with it, so its annotation shows them.
    assert_eq!(
        found[2].message,
        "Incompatible return value type (got \"list[int]\", expected \"list[float]\")\n\
         \"list\" is invariant -- see https://mypy.readthedocs.io/en/stable/common_issues.html#variance\n\
         Consider using \"Sequence\" instead, which is covariant"
    );
    assert!(annotation(&found[2]).ends_with("expected \"list[float]\")%0A\"list\" is invariant -- see https://mypy.readthedocs.io/en/stable/common_issues.html#variance%0AConsider using \"Sequence\" instead, which is covariant"));
}

#[test]
fn mypy_overload_variants_go_with_their_error() {
    let out = "src/m.py:5:1: error: No overload variant of \"f\" matches argument type \"str\"  [call-overload]\n\
               src/m.py:5:1: note: Possible overload variants:\n\
               src/m.py:5:1: note:     def f(x: int) -> int\n\
               src/m.py:5:1: note:     def f(x: bytes) -> bytes\n\
               src/other.py:3:1: note: \"f\" defined here\n\
               src/m.py: note: In function \"g\":\n\
               src/m.py:9:1: note: a note on its own\n";
    let found = mypy(out);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].message,
        "No overload variant of \"f\" matches argument type \"str\"\nPossible overload variants:\n    def f(x: int) -> int\n    def f(x: bytes) -> bytes\nsrc/other.py:3: \"f\" defined here"
    );
}

#[test]
fn mypy_blocking_errors_still_parse() {
    let found = mypy(MYPY_SYNTAX);
    assert_eq!(found.len(), 2);
    assert_eq!((found[0].line, found[0].column, found[0].code.as_str()), (Some(1), Some(8), "syntax"));
    let found = mypy(MYPY_MISSING);
    assert_eq!(keys(&found), [f("nope", None, None, "error", Severity::High)]);
    assert_eq!(found[0].message, "Cannot read file: No such file or directory");
}

#[test]
fn bandit_issues_by_severity() {
    let found = bandit(BANDIT).unwrap();
    let file = "components/demo/src/demo/shell.py";
    assert_eq!(
        keys(&found),
        [
            f(file, Some(1), Some(1), "B404", Severity::Low),
            f(file, Some(6), Some(12), "B602", Severity::High),
            f(file, Some(10), Some(5), "B604", Severity::Medium),
        ]
    );
    assert_eq!(
        found[1].message,
        "subprocess call with shell=True identified, security issue. \
         [subprocess_popen_with_shell_equals_true, confidence high]"
    );
}

#[test]
fn bandit_unscanned_files_are_findings_and_clean_is_empty() {
    assert_eq!(
        keys(&bandit(BANDIT_ERRORS).unwrap()),
        [
            f("nope", None, None, "error", Severity::Medium),
            f("components/broken/src/broken/syn.py", None, None, "error", Severity::Medium),
        ]
    );
    assert!(bandit(BANDIT_CLEAN).unwrap().is_empty());
    assert!(bandit("not json").is_err());
}

#[test]
fn safety_vulnerabilities_with_requirement_lines() {
    let found = safety(SAFETY, &[("req-vuln.txt", "urllib3==1.24.1\n")]).unwrap();
    assert_eq!(
        keys(&found),
        [
            f("req-vuln.txt", Some(1), None, "CVE-2019-11324", Severity::High),
            f("req-vuln.txt", Some(1), None, "CVE-2020-26137", Severity::High),
            f("req-vuln.txt", Some(1), None, "CVE-2019-11236", Severity::High),
        ]
    );
    assert!(found[0].message.starts_with("urllib3 1.24.1 is vulnerable (<1.24.2): The urllib3 library before 1.24.2"));
    assert!(found[0].message.ends_with(" More info: https://pyup.io/vulnerabilities/CVE-2019-11324/37071/"));
    assert!(safety(SAFETY_CLEAN, &[("req-clean.txt", "urllib3==2.5.0\n")]).unwrap().is_empty());
}

#[test]
fn safety_finds_lines_whatever_the_spelling() {
    let found = safety(SAFETY_MULTI, &[("req-multi.txt", REQ_MULTI)]).unwrap();
    let lines: Vec<_> = found.iter().map(|x| (x.code.as_str(), x.line)).collect();
    assert_eq!(
        lines,
        [
            ("CVE-2020-1747", Some(3)),
            ("CVE-2020-14343", Some(3)),
            ("CVE-2019-11324", Some(4)),
            ("CVE-2020-26137", Some(4)),
            ("CVE-2019-11236", Some(4)),
        ]
    );
    assert!(found.iter().all(|x| x.file == "req-multi.txt"));
}

#[test]
fn safety_db_is_dated_and_every_advisory_has_a_link() {
    let text = include_str!("../../../tools/safety-db/insecure_full.json");
    let db = safety_db(text).unwrap();
    assert_eq!(db, SafetyDb { advisory: "PyUp.io metadata".into(), timestamp: 1625119202, date: "2021-07-01".into() });
    // safety 2.3.5's --json crashes unless it can build URLs from these (see the README).
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    assert!(v["$meta"]["base_domain"].is_string());
    for (name, advisories) in v.as_object().unwrap().iter().filter(|(k, _)| *k != "$meta") {
        for a in advisories.as_array().unwrap() {
            assert!(a["more_info_path"].is_string(), "{name}: {a}");
        }
    }
    assert!(v.get("urllib3").is_some());
}

#[test]
fn annotations_escape_data_and_properties() {
    let found = flake8(FLAKE8);
    assert_eq!(
        annotation(&found[2]),
        "::error file=components/demo/src/demo/lint.py,line=1,col=1,title=flake8 F401::'os' imported but unused"
    );
    let odd = Finding {
        tool: "black",
        file: "a,b:c.py".into(),
        line: Some(3),
        column: None,
        code: "reformat".into(),
        message: "100% sure\r\nnext, line: 2".into(),
        severity: Severity::Low,
    };
    assert_eq!(
        annotation(&odd),
        "::warning file=a%2Cb%3Ac.py,line=3,title=black reformat::100%25 sure%0D%0Anext, line: 2"
    );
    let no_line = Finding { line: None, column: Some(4), severity: Severity::Medium, ..odd };
    assert_eq!(annotation(&no_line), "::error file=a%2Cb%3Ac.py,title=black reformat::100%25 sure%0D%0Anext, line: 2");
}

#[test]
fn relativize_strips_the_root_only() {
    let mut found = black(BLACK);
    found.extend(flake8(FLAKE8));
    relativize(&mut found, Path::new("/tmp/h4-fx"));
    assert_eq!(found[0].file, "components/demo/src/demo/dashes.py");
    assert_eq!(found[2].file, "components/demo/src/demo/dashes.py");
    let mut other = black(BLACK);
    relativize(&mut other, Path::new("/tmp/h4"));
    assert!(other[0].file.starts_with("/tmp/h4-fx/"));
}

#[test]
fn exit_codes() {
    use Verdict::*;
    let cases = [
        ("flake8", [(0, Clean), (1, Findings), (2, Error)].as_slice()),
        ("black", &[(0, Clean), (1, Findings), (123, Error), (2, Error)]),
        ("isort", &[(0, Clean), (1, Findings), (2, Error)]),
        ("mypy", &[(0, Clean), (1, Findings), (2, Error)]),
        ("bandit", &[(0, Clean), (1, Findings), (2, Error)]),
        ("safety", &[(0, Clean), (64, Findings), (1, Error), (2, Error), (67, Error)]),
    ];
    for (tool, codes) in cases {
        for &(code, want) in codes {
            assert_eq!(judge(tool, code), want, "{tool} {code}");
        }
    }
    // flake8 exits 1 for a missing --config file too, printing no finding.
    assert_eq!(verdict("flake8", 1, &[]), Error);
    assert_eq!(verdict("flake8", 1, &flake8(FLAKE8)), Findings);
    // bandit exits 0 when a file could not be parsed.
    assert_eq!(verdict("bandit", 0, &bandit(BANDIT_ERRORS).unwrap()), Findings);
    assert_eq!(verdict("mypy", 2, &mypy(MYPY_SYNTAX)), Error);
}

#[test]
fn command_lines() {
    assert_eq!(
        command("mypy", &["components/storage/src"]),
        [
            "mypy",
            "--config-file",
            "tools/quality.toml",
            "--show-column-numbers",
            "--show-error-codes",
            "--no-error-summary",
            "--no-pretty",
            "--no-color-output",
            "components/storage/src"
        ]
    );
    assert_eq!(
        command("safety", &["a.txt", "b.txt"]).join(" "),
        "safety check --json --db tools/safety-db -r a.txt -r b.txt"
    );
    assert_eq!(command("bandit", &["src"]).join(" "), "bandit -f json -q -c tools/quality.toml -r src");
    let tools = ["flake8", "black", "isort", "mypy", "bandit", "safety"];
    assert!(tools.iter().all(|t| command(t, &[]).len() > 1));
}

#[test]
fn severity_orders_most_severe_first_and_serializes_lowercase() {
    let mut s = vec![Severity::Low, Severity::High, Severity::Medium];
    s.sort();
    assert_eq!(s, [Severity::High, Severity::Medium, Severity::Low]);
    let json = serde_json::to_string(&flake8(FLAKE8)[2]).unwrap();
    assert_eq!(
        json,
        r#"{"tool":"flake8","file":"components/demo/src/demo/lint.py","line":1,"column":1,"code":"F401","message":"'os' imported but unused","severity":"high"}"#
    );
}

#[test]
fn diff_first_change_for_insertions() {
    // Shapes black/isort can print: an insertion after context, and a context-free insertion.
    let after_context = "--- a.py\t2026\n+++ a.py\t2026\n@@ -1,3 +1,4 @@\n import os\n+\n \n x = 1\n";
    assert_eq!(black(after_context)[0].line, Some(2));
    let bare = "--- b.py:before\t2026\n+++ b.py:after\t2026\n@@ -5,0 +6,2 @@\n+import sys\n+\n";
    assert_eq!(keys(&isort(bare)), [f("b.py", Some(6), None, "unsorted", Severity::Low)]);
}

#[test]
fn fixing_runs_name_the_files_they_rewrote() {
    let root = Path::new("/repo");
    let black =
        "reformatted /repo/components/a/src/x.py\n\nAll done! \u{2728}\n1 file reformatted, 2 files left unchanged.\n";
    assert_eq!(rewritten("black", black, root), ["components/a/src/x.py"]);
    let isort = "Fixing /repo/components/a/src/y.py\nFixing /repo/components/a/src/x.py\n";
    assert_eq!(rewritten("isort", isort, root), ["components/a/src/x.py", "components/a/src/y.py"]);
    assert_eq!(rewritten("rustfmt", "/repo/xtask/src/main.rs\n", root), ["xtask/src/main.rs"]);
    assert!(rewritten("black", "All done!\n3 files left unchanged.\n", root).is_empty());
}
