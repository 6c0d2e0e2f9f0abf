use super::*;

fn built(component: &str, commit: &str) -> Built {
    Built {
        component: component.into(),
        images: vec![format!("127.0.0.1:5000/mlops/{component}")],
        tags: vec![format!("{commit}-full"), "short".into()],
        revision: commit.into(),
        version: None,
        pushed: vec![pins::Pushed {
            image: format!("127.0.0.1:5000/mlops/{component}"),
            tag: format!("{commit}-full"),
            digest: Some("sha256:aa".into()),
        }],
    }
}

#[test]
fn names_numbers_and_the_branch_id() {
    assert_eq!(
        (env_name(7), namespace(7), dir(7)),
        ("pr-7".into(), "mlops-pr-7".into(), "target/xtask/overlays/pr-7".into())
    );
    assert_eq!(number("pr-42"), Some(42));
    for bad in ["pr-", "pr-07", "pr-4a", "development", "pr--1", "PR-4"] {
        assert_eq!(number(bad), None, "{bad}");
    }
    let id = branch_id("feature/preview");
    assert_eq!(id, branch_id("feature/preview"), "stable");
    assert_ne!(id, branch_id("feature/previews"));
    assert!((100_000..=999_999).contains(&id), "{id}");
}

#[test]
fn the_kustomization_renders_development_into_its_namespace_with_pins_and_a_quota() {
    let pin =
        Pin { name: "ghcr.io/x/cdc".into(), new_name: Some("reg/cdc".into()), new_tag: "abc".into(), digest: None };
    let made = files(7, &[pin]).unwrap();
    let k = &made[0].1;
    assert!(k.contains("namespace: mlops-pr-7\n"), "{k}");
    assert!(k.contains("  - ../../../../deploy/overlays/development\n  - quota.yaml\n"), "{k}");
    assert!(
        k.contains(
            "mlops.dev/environment: pr-7\n      app.kubernetes.io/managed-by: xtask\n      xtask.dev/preview: \"7\"\n"
        ),
        "{k}"
    );
    assert!(k.contains("value: 256Mi") && k.contains("path: /spec/suspend"), "{k}");
    let doc = crate::manifests::yaml::parse(k).unwrap();
    assert_eq!(doc["images"][0]["newName"], "reg/cdc", "{k}");
    let objects = crate::manifests::yaml::objects(&made[1].1).unwrap();
    assert_eq!(objects.iter().map(|o| o.kind.as_str()).collect::<Vec<_>>(), ["ResourceQuota", "LimitRange"]);
    assert_eq!(objects[0].value["spec"]["hard"]["requests.cpu"], "300m");
    assert!(!files(8, &[]).unwrap()[0].1.contains("images:"));
}

#[test]
fn images_are_this_commits_builds_else_mains_verified_release_else_the_overlays() {
    let wanted: Vec<(String, String)> =
        ["cdc", "storage", "spark"].iter().map(|c| (c.to_string(), format!("ghcr.io/x/{c}"))).collect();
    let report = [built("cdc", "head"), built("storage", "older")];
    let main = [("storage".to_string(), "127.0.0.1:5000/mlops/storage:main1@sha256:bb".to_string())];
    let chosen = choose(&wanted, &report, "head", Some((4, &main)));
    assert_eq!(chosen[0].origin, Origin::Built);
    let cdc = chosen[0].pin.clone().unwrap();
    assert_eq!(
        (cdc.new_name.unwrap(), cdc.new_tag, cdc.digest),
        ("127.0.0.1:5000/mlops/cdc".into(), "head-full".into(), Some("sha256:aa".into()))
    );
    // storage's build is another commit's: main's release runs it
    assert_eq!(chosen[1].origin, Origin::Main(4));
    let storage = chosen[1].pin.clone().unwrap();
    assert_eq!(
        (storage.name.as_str(), storage.new_tag.as_str(), storage.digest.as_deref()),
        ("ghcr.io/x/storage", "main1", Some("sha256:bb"))
    );
    assert_eq!((chosen[2].pin.clone(), chosen[2].origin.clone()), (None, Origin::Overlay));
    assert_eq!(Origin::Main(4).to_string(), "main's last verified release (development revision 4)");
    // no release known: the overlay's
    assert_eq!(choose(&wanted[1..2], &[], "head", None)[0].origin, Origin::Overlay);
}
