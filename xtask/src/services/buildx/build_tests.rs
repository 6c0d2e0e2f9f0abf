use super::*;

const BUILDX_MOD: &str = "module x\n\ngo 1.26.8\n\ntool github.com/docker/buildx/cmd/buildx\n\nrequire (\n\tgithub.com/docker/buildx v0.38.2 // indirect\n\tgithub.com/moby/buildkit v0.34.2 // indirect\n)\n";
const BUILDKIT_MOD: &str = "module y\n\nrequire (\n\tgithub.com/moby/buildkit v0.34.2 // indirect\n)\n";

#[test]
fn versions_come_from_the_pins() {
    let v = versions(BUILDX_MOD, BUILDKIT_MOD).unwrap();
    assert_eq!((v.buildx.as_str(), v.buildkit.as_str()), ("v0.38.2", "v0.34.2"));
    assert_eq!(
        versions("module x\n", BUILDKIT_MOD).unwrap_err(),
        "cannot read the github.com/docker/buildx pin from .ci/buildx/buildx/go.mod"
    );
}

#[test]
fn the_key_changes_with_any_pin_and_with_go() {
    let v = versions(BUILDX_MOD, BUILDKIT_MOD).unwrap();
    let files = vec![("buildx/go.mod", BUILDX_MOD.to_string()), ("buildkit/go.mod", BUILDKIT_MOD.to_string())];
    let k = key(&files, &v, "go1.26.8");
    assert_eq!(k.len(), 16);
    assert_eq!(k, key(&files, &v, "go1.26.8"));
    assert_ne!(k, key(&files, &v, "go1.26.9"));
    let bumped = vec![files[0].clone(), ("buildkit/go.mod", BUILDKIT_MOD.replace("v0.34.2", "v0.34.1"))];
    assert_ne!(k, key(&bumped, &v, "go1.26.8"));
}

#[test]
fn the_stamps_are_upstreams_version_variables() {
    assert_eq!(
        ldflags(BUILDX, "v0.38.2"),
        "-s -w -X github.com/docker/buildx/version.Version=v0.38.2 -X github.com/docker/buildx/version.Package=github.com/docker/buildx"
    );
}
