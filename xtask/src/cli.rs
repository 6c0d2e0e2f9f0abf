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
    },
    /// Run components' tests with pytest (and the Rust workspace's `cargo test` when no names are given).
    Test(RunArgs),
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
}

/// Flags shared by every stage that runs tasks.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Components to run (default: all of them).
    #[arg(value_name = "COMPONENT")]
    pub components: Vec<String>,

    /// How many tasks run at once (default: the number of cores).
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
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
        #[command(flatten)]
        build: BuildArgs,
    },
    /// Push images built earlier (same tags as `image build` gives them), as they are.
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

    /// Push even with uncommitted changes (the tags then end in -dirty).
    #[arg(long)]
    pub allow_dirty: bool,

    #[command(flatten)]
    pub run: RunArgs,
}

/// What only a build takes (a push sends images built earlier as they are).
#[derive(Args, Debug, Clone, Default)]
pub struct BuildArgs {
    /// Push the images once built.
    #[arg(long)]
    pub push: bool,

    /// Build every layer afresh, ignoring Docker's cache.
    #[arg(long)]
    pub no_cache: bool,

    /// Base image for every Dockerfile's BASE_IMAGE (default: XTASK_BASE_IMAGE; a component's `[tool.xtask] base-image` wins).
    #[arg(long, value_name = "IMAGE")]
    pub base_image: Option<String>,
}
