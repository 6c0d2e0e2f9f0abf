use super::*;

#[test]
fn missing_commands_name_their_packages_once() {
    let have = |c: &str| c == "docker";
    let wanted = [
        ("docker", "docker.io"),
        ("dockerd", "docker.io"),
        ("htpasswd", "apache2-utils"),
        ("debootstrap", "debootstrap"),
    ];
    assert_eq!(missing(&wanted, &have), ["apache2-utils", "debootstrap", "docker.io"]);
    assert_eq!(missing(&wanted[..1], &have), Vec::<&str>::new());
}

fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect()
}

#[test]
fn the_mirror_is_the_stanza_of_the_plain_suite() {
    let deb822 = "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n\
                  # the main archive\nTypes: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n";
    assert_eq!(
        debian_mirror(&files(&[("/etc/apt/sources.list.d/debian.sources", deb822)]), "bookworm").as_deref(),
        Some("http://mirror.example/debian")
    );
    let list = "# deb http://old.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/d bookworm main\n";
    assert_eq!(
        debian_mirror(&files(&[("/etc/apt/sources.list", list)]), "bookworm").as_deref(),
        Some("http://mirror.example/d")
    );
    assert_eq!(debian_mirror(&files(&[("/etc/apt/sources.list", list)]), "trixie"), None);
    assert_eq!(debian_mirror(&files(&[("/etc/apt/sources.list.d/x.sources", "Suites: bookworm\n")]), "bookworm"), None);
}
