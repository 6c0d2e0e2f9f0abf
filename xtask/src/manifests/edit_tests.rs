use super::*;

const OVERLAY: &str = "# The staging environment.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: mlops-staging
resources:
  - ../../base # everything
images:
  # storage first, by hand
  - name: ghcr.io/o/storage
    newName: old.example/storage # where it lives
    newTag: \"1234\"
    digest: sha256:old
  - name: ghcr.io/o/cdc
    newTag: latest

patches:
  - path: settings.yaml
";

fn pin(name: &str, new_name: Option<&str>, tag: &str, digest: Option<&str>) -> Pin {
    Pin {
        name: name.into(),
        new_name: new_name.map(String::from),
        new_tag: tag.into(),
        digest: digest.map(String::from),
    }
}

#[test]
fn pins_change_only_their_values_and_keep_comments_and_order() {
    let pins = [
        pin("ghcr.io/o/storage", Some("reg/mlops/storage"), "abc", Some("sha256:new")),
        pin("ghcr.io/o/cdc", Some("reg/mlops/cdc"), "abc", Some("sha256:cdc")),
    ];
    let out = pin_images(OVERLAY, &pins).unwrap();
    let expected = OVERLAY
        .replace("newName: old.example/storage # where", "newName: reg/mlops/storage # where")
        .replace("newTag: \"1234\"", "newTag: abc")
        .replace("sha256:old", "sha256:new")
        .replace("    newTag: latest\n", "    newTag: abc\n    newName: reg/mlops/cdc\n    digest: sha256:cdc\n");
    assert_eq!(out, expected);
    // Idempotent: the same pins change nothing more.
    assert_eq!(pin_images(&out, &pins).unwrap(), out);
}

#[test]
fn a_missing_entry_or_list_is_added_at_the_end() {
    let pins = [pin("ghcr.io/o/spark", Some("reg/spark"), "1.2", Some("sha256:s"))];
    let out = pin_images(OVERLAY, &pins).unwrap();
    assert!(
        out.contains("    newTag: latest\n  - name: ghcr.io/o/spark\n    newName: reg/spark\n    newTag: \"1.2\"\n    digest: sha256:s\n\npatches:"),
        "{out}"
    );
    let bare = "kind: Kustomization\nresources:\n- ../../base\n\n";
    let out = pin_images(bare, &pins).unwrap();
    assert_eq!(out, "kind: Kustomization\nresources:\n- ../../base\n# Each component's image, pinned by `cargo xtask manifests update`.\nimages:\n  - name: ghcr.io/o/spark\n    newName: reg/spark\n    newTag: \"1.2\"\n    digest: sha256:s\n");
    let empty = "kind: Kustomization\nimages: []\n";
    assert!(pin_images(empty, &pins).unwrap().starts_with("kind: Kustomization\nimages:\n  - name: ghcr.io/o/spark\n"));
    // Dashes at the key's own indentation, as `kustomize edit` writes them, stay that way.
    let flush = "images:\n- name: a\n  newTag: x\n";
    assert_eq!(
        pin_images(flush, &[pin("b", None, "v2", None)]).unwrap(),
        "images:\n- name: a\n  newTag: x\n- name: b\n  newTag: v2\n"
    );
}

#[test]
fn a_tag_without_a_known_digest_drops_the_old_digest_and_keeps_the_name() {
    let out = pin_images(OVERLAY, &[pin("ghcr.io/o/storage", None, "v9", None)]).unwrap();
    assert!(out.contains("  - name: ghcr.io/o/storage\n    newName: old.example/storage # where it lives\n    newTag: v9\n  - name: ghcr.io/o/cdc"), "{out}");
}

#[test]
fn what_cannot_be_edited_safely_is_refused_with_its_line() {
    let broken = "images:\n  - name: a\n   newTag: [\n";
    assert!(pin_images(broken, &[]).unwrap_err().to_string().starts_with("line 3: "));
    let flow = "images: [{name: a}]\n";
    let e = pin_images(flow, &[pin("a", None, "t", None)]).unwrap_err().to_string();
    assert_eq!(e, "line 1: `images:` is written in flow style: write it as a block list, one `- ` item a line");
    let entry = "images:\n  - {name: a, newTag: t}\n";
    let e = pin_images(entry, &[pin("a", None, "u", None)]).unwrap_err().to_string();
    assert_eq!(e, "line 2: write this images entry in block style (one `key: value` a line)");
}

#[test]
fn values_yaml_would_misread_are_quoted() {
    for (v, want) in [
        ("abc1234", "abc1234"),
        ("1234567", "\"1234567\""),
        ("1.2", "\"1.2\""),
        ("1e10", "\"1e10\""),
        ("1.2.3", "\"1.2.3\""),
        ("yes", "\"yes\""),
        ("127.0.0.1:5000/mlops/web", "127.0.0.1:5000/mlops/web"),
        ("sha256:ab", "sha256:ab"),
        ("a b", "\"a b\""),
        ("", "\"\""),
    ] {
        assert_eq!(scalar(v), want, "{v}");
    }
}

#[test]
fn resources_are_listed_and_missing_ones_added_after_the_last() {
    let base = "resources:\n  - data.yaml\n  # components\n  - \"../../components/a/k8s\" # a\n\nimages: []\n";
    assert_eq!(resources(base).unwrap(), [(2, "data.yaml".to_string()), (4, "../../components/a/k8s".to_string())]);
    let wanted = ["../../components/a/k8s/".to_string(), "../../components/b/k8s".to_string()];
    let out = add_resources(base, &wanted).unwrap();
    assert_eq!(out, base.replace("# a\n", "# a\n  - ../../components/b/k8s\n"));
    assert_eq!(add_resources(&out, &wanted).unwrap(), out);
    assert_eq!(add_resources("kind: K\n", &wanted[1..]).unwrap(), "kind: K\nresources:\n  - ../../components/b/k8s\n");
}

#[test]
fn the_diff_shows_changed_lines_with_context_and_where() {
    let old = "a\nb\nc\nd\ne\nf\ng\n";
    let new = "a\nB\nc\nd\ne\nf\ng\nh\n";
    assert_eq!(diff(old, new), "@@ line 1 @@\n a\n-b\n+B\n c\n@@ line 7 @@\n g\n+h\n");
    assert_eq!(diff(old, old), "");
}
