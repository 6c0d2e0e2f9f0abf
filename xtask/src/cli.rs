//! Command-line definitions (clap derive), nothing else.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "The MLOps platform's CI/CD pipeline: every stage, runnable on a laptop and in CI",
    version
)]
pub struct Cli {
    /// Monorepo root (default: the nearest folder above the current one holding `components/`).
    #[arg(long, global = true, env = "XTASK_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the discovered components: name, language, dependencies, image, manifests.
    Components {
        /// Print a JSON array, usable directly as a GitHub Actions matrix (`fromJSON`).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        affected: AffectedArgs,
    },
    /// Run components' tests with pytest (and the Rust workspace's `cargo test` when no names are given).
    Test(TestArgs),
    /// Every code-quality check (lint, format, imports, typecheck, security, audit), and the Rust workspace's fmt and clippy.
    Quality(RunArgs),
    /// Lint with flake8 (and clippy for the Rust workspace).
    Lint(RunArgs),
    /// Format with black (and cargo fmt); `--check` only reports.
    Fmt(FixArgs),
    /// Sort imports with isort (profile black); `--check` only reports.
    Imports(FixArgs),
    /// Type-check with mypy (strict), in each component's own environment.
    Typecheck(RunArgs),
    /// Scan each component's source with bandit.
    Security(RunArgs),
    /// Check each component's resolved dependencies for known vulnerabilities with safety.
    Audit(RunArgs),
    /// Build, tag and push the components' container images.
    Image {
        #[command(subcommand)]
        action: ImageCommand,
    },
    /// Check every tool the pipeline uses: found or not, its version, and how to install it.
    Doctor,
    /// The task cache (`target/xtask/cache/`): why a task re-runs, or remove it all.
    Cache {
        #[command(subcommand)]
        action: CacheCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// Name the inputs that changed since the task's last recorded success, e.g. `cache why test:storage`.
    Why {
        /// A task id as the summary shows it, e.g. test:storage, lint:client, test:xtask.
        task: String,
    },
    /// Remove every recorded success.
    Clean,
}

/// Only the components a change touches.
#[derive(Args, Debug, Clone, Default)]
pub struct AffectedArgs {
    /// Only components whose files changed since the merge-base with the base ref (uncommitted changes count), and every component depending on them.
    #[arg(long)]
    pub affected: bool,

    /// The base ref for --affected (default: the pull request's base on GitHub, else origin/main, else main).
    #[arg(long, value_name = "REF", requires = "affected")]
    pub base: Option<String>,
}

/// Flags shared by every stage that runs tasks.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Components to run, by name or by folder (`components/storage`); default: all of them.
    #[arg(value_name = "COMPONENT")]
    pub components: Vec<String>,

    /// How many tasks run at once (default: the number of cores).
    #[arg(short = 'j', long, value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<usize>,

    /// Stop starting new tasks after the first failure.
    #[arg(long)]
    pub fail_fast: bool,

    /// Print the exact commands that would run, and run nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print the plan (with --dry-run) or the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Print every task's output, not only that of tasks that failed.
    #[arg(short, long)]
    pub verbose: bool,

    /// Run every task, even those whose inputs match a recorded success (successes are still recorded); `image build` also ignores Docker's layer cache.
    #[arg(long)]
    pub no_cache: bool,

    #[command(flatten)]
    pub affected: AffectedArgs,
}

fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("must be a whole number, at least 1".into()),
    }
}

/// `cargo xtask test`: the stage's flags, and arguments for pytest after `--`.
#[derive(Args, Debug, Clone)]
pub struct TestArgs {
    #[command(flatten)]
    pub run: RunArgs,

    /// Passed to every pytest run as they are, e.g. `-- -k roundtrip -x` (the Rust workspace's tests are then left out).
    #[arg(last = true, value_name = "PYTEST_ARGS")]
    pub pytest: Vec<String>,
}

/// A check that can also fix what it finds.
#[derive(Args, Debug, Clone)]
pub struct FixArgs {
    /// Report what would change, change nothing (as CI runs it).
    #[arg(long)]
    pub check: bool,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Build each component's image from a context of wheels (no network inside the build).
    Build {
        #[command(flatten)]
        image: ImageArgs,
        /// Push the images once built.
        #[arg(long)]
        push: bool,
    },
    /// Push images built earlier (same tags as `image build` gives them).
    Push(ImageArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ImageArgs {
    /// The git ref being built, e.g. refs/heads/main or refs/tags/v1.2.3 (default: GITHUB_REF, else the checked-out commit).
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,

    /// Tag the images with exactly this tag instead of the tag policy's.
    #[arg(long)]
    pub tag: Option<String>,

    /// Registry and namespace, e.g. localhost:5000 or ghcr.io/owner (default: XTASK_REGISTRY, else ghcr.io from GITHUB_REPOSITORY, plus Docker Hub when DOCKER_HUB_USERNAME is set).
    #[arg(long, value_name = "HOST[/NAMESPACE]")]
    pub registry: Option<String>,

    /// Base image for every Dockerfile's BASE_IMAGE (default: XTASK_BASE_IMAGE; a component's `[tool.xtask] base-image` wins).
    #[arg(long, value_name = "IMAGE")]
    pub base_image: Option<String>,

    /// Push even with uncommitted changes (the tags then end in -dirty).
    #[arg(long)]
    pub allow_dirty: bool,

    #[command(flatten)]
    pub run: RunArgs,
}
