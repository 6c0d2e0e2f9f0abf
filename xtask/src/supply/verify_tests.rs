use super::*;
use crate::supply::statement::{provenance, Build};

fn prov(commit: &str, digest: &str) -> Attestation {
    let b = Build { repository: "file:///r/.git".into(), commit: commit.into(), ..Build::default() };
    Attestation { predicate_type: SLSA_V1.into(), subjects: vec![digest.into()], predicate: provenance(&b) }
}

#[test]
fn production_takes_exactly_the_release_commit() {
    let accept = Accept::for_guard(Guard::Release, "c1");
    let exactly = |c: &str| c == "c1";
    assert_eq!(verdict(&[prov("c1", "sha256:d")], "sha256:d", "file:///r/.git", &exactly, &accept), Ok("c1".into()));
    let err = verdict(&[prov("c0", "sha256:d")], "sha256:d", "file:///r/.git", &exactly, &accept).unwrap_err();
    assert!(err.contains("provenance names file:///r/.git at c0") && err.contains("the release's commit c1"), "{err}");
}

#[test]
fn another_repository_or_another_digest_does_not_count() {
    let accept = Accept::for_guard(Guard::Main, "c1");
    let any = |_: &str| true;
    let err = verdict(&[prov("c1", "sha256:d")], "sha256:d", "https://github.com/other/x", &any, &accept).unwrap_err();
    assert!(err.contains("not https://github.com/other/x at an ancestor of c1"), "{err}");
    let err = verdict(&[prov("c1", "sha256:other")], "sha256:d", "file:///r/.git", &any, &accept).unwrap_err();
    assert!(err.contains("no signed provenance"), "a provenance of another digest is not this one's: {err}");
}

#[test]
fn cosigns_words_become_one_reason_with_a_fix() {
    assert!(classify(
        "GET http://127.0.0.1:5999/v2/: dial tcp 127.0.0.1:5999: connect: connection refused",
        "signature"
    )
    .starts_with("registry unreachable"));
    assert!(classify("no signatures found", "signature").starts_with("not signed"));
    assert!(
        classify("no matching attestations: none of the attestations matched", "SBOM").starts_with("no signed SBOM")
    );
    assert!(classify("invalid signature when validating ASN.1 encoded signature", "signature")
        .contains("does not verify with this key"));
    let ok = Outcome {
        component: "web".into(),
        reference: "r@sha256:d".into(),
        result: Ok("0123456789abcdef".into()),
        as_before: false,
    };
    assert_eq!(ok.line(), "web: verified: signature, provenance (commit 0123456789ab), sbom (r@sha256:d)");
}

#[test]
fn the_attachments_are_the_same_in_any_order_cosign_lists_them() {
    let a = "📦 r@sha256:d\n└── 🔗 spdx via r@sha256:1\n   └── 🍒 sha256:2\n└── 🔗 sign via r@sha256:3\n   └── 🍒 sha256:4\n";
    let b = "📦 r@sha256:d\n└── 🔗 sign via r@sha256:3\n   └── 🍒 sha256:4\n└── 🔗 spdx via r@sha256:1\n   └── 🍒 sha256:2\n";
    assert_eq!(listed(a), listed(b));
    let c = "📦 r@sha256:d\n└── 🔗 sign via r@sha256:3\n   └── 🍒 sha256:4\n└── 🔗 spdx via r@sha256:9\n   └── 🍒 sha256:2\n";
    assert_ne!(listed(a), listed(c), "a replaced attachment is another list");
}
