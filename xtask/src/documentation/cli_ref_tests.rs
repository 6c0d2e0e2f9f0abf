use super::*;
use clap::{Arg, Command};

fn sample() -> Command {
    Command::new("cargo xtask")
        .about("the pipeline")
        .arg(Arg::new("root").long("root").global(true).value_name("DIR").help("monorepo root").env("XTASK_ROOT"))
        .subcommand(
            Command::new("deploy")
                .about("deploy an environment")
                .arg(Arg::new("env").required(true).value_name("ENV").help("the environment"))
                .arg(Arg::new("timeout").long("timeout").value_name("D").default_value("5m").help("how long | at most"))
                .arg(Arg::new("confirm").long("confirm").action(clap::ArgAction::SetTrue).help("yes")),
        )
        .subcommand(Command::new("image").about("images").subcommand(Command::new("build").about("build them")))
}

#[test]
fn every_command_argument_default_and_variable_is_on_the_page() {
    let pages = render(&sample());
    let files: Vec<&str> = pages.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(files, ["docs/reference/cli.md", "docs/reference/cli/deploy.md", "docs/reference/cli/image.md"]);
    let page: String = pages.iter().map(|(_, p)| p.as_str()).collect();
    assert!(page.starts_with("# Command-line reference\n"), "{page}");
    assert!(page.contains("| `--root <DIR>` | monorepo root (variable `XTASK_ROOT`) |  |"), "{page}");
    assert!(
        page.contains("- [`cargo xtask deploy`](cli/deploy.md#cargo-xtask-deploy): deploy an environment\n"),
        "{page}"
    );
    assert!(
        page.contains("  - [`cargo xtask image build`](cli/image.md#cargo-xtask-image-build): build them\n"),
        "{page}"
    );
    assert!(page.contains("## cargo xtask image build\n\nbuild them\n"), "{page}");
    assert!(page.contains("| `<ENV>` | the environment (required) |  |"), "{page}");
    assert!(page.contains("| `--timeout <D>` | how long \\| at most | `5m` |"), "{page}");
    assert!(page.contains("| `--confirm` | yes |  |"), "{page}");
    assert!(page.contains("`cargo xtask deploy [OPTIONS] <ENV>`\n"), "{page}");
    assert!(!page.contains("--help |"), "clap's own flags stay out: {page}");
}

#[test]
fn the_real_command_line_renders_every_subcommand() {
    let pages = render(&<crate::cli::Cli as clap::CommandFactory>::command());
    let page: String = pages.iter().map(|(_, p)| p.as_str()).collect();
    for sub in ["test", "logs", "docs cli", "services up", "manifests validate", "canary"] {
        assert!(page.contains(&format!("## cargo xtask {sub}\n")), "{sub}");
    }
    assert!(page.contains("`--kubernetes-version"), "validate's flag");
}

#[test]
fn angle_brackets_in_prose_are_escaped_and_code_is_left_alone() {
    assert_eq!(
        one_line("scenarios in components/<c>/perf.toml,\n  `target/<c>` stays".into()),
        "scenarios in components/&lt;c&gt;/perf.toml, `target/<c>` stays"
    );
}
