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
    /// Kubernetes manifests: pin images in an environment's overlay, render it, validate it.
    Manifests {
        #[command(subcommand)]
        action: ManifestsCommand,
    },
    /// Deploy an environment: lock, render and validate, apply, verify, record the release, prune; roll back on failure.
    Deploy(DeployArgs),
    /// Verify that what an environment's overlay renders is rolled out and ready.
    Verify(VerifyArgs),
    /// What runs in an environment now (pods not ready and why) and its release history; without ENV, every environment in one table.
    Status(StatusArgs),
    /// An environment's pods' logs merged in time order (JSON lines as fields); --follow streams them.
    Logs(LogsArgs),
    /// A canary held by an inconclusive verdict: `status` shows it, `promote` or `abort` decides.
    Canary(CanaryArgs),
    /// Put an earlier release of an environment back (the newest one before the current that still stands, or --to).
    Rollback(RollbackArgs),
    /// Delete what an environment's releases applied and free their volumes; the namespace and the history stay.
    Undeploy(UndeployArgs),
    /// A pull request's own environment pr-N: up (deploy, verify, smoke), down, list, sweep (docs/explanation/previews.md).
    Preview {
        #[command(subcommand)]
        action: PreviewCommand,
    },
    /// Check every tool the pipeline uses: found or not, its version, and how to install it.
    Doctor,
    /// The local cluster's real worker node (containerd, kubelet, kube-proxy, CoreDNS): up, down or status (as root; `services up kube` runs `node up`).
    Node {
        #[command(subcommand)]
        action: NodeCommand,
    },
    /// Compare each component's performance scenarios (components/<c>/perf.toml) between the base and this tree, base and head alternating; fail on a regression.
    Perf(PerfArgs),
    /// Run the pipeline's stages for a GitHub event (from GitHub's variables, or --event/--ref/--environment), as CI does.
    Ci(CiArgs),
    /// Check the GitHub workflows: thin steps, services started, actions pinned by commit, job timeouts, secrets on their step, every event plans.
    Workflows {
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<WorkflowsCommand>,
    },
    /// What the pipeline and its tests need running here: the Docker engine, a loopback registry, the base images, buildx's builder, a local Kubernetes cluster, the OpenTelemetry Collector.
    Services {
        #[command(subcommand)]
        action: ServicesCommand,
    },
    /// The task cache (`target/xtask/cache/`): why a task re-runs, or remove it all.
    Cache {
        #[command(subcommand)]
        action: CacheCommand,
    },
    /// The documentation's generated and checked parts: the CLI reference, the diagrams.
    Docs {
        #[command(subcommand)]
        action: DocsCommand,
    },
}

/// `cargo xtask ci`: the event, and what to do with its plan.
#[derive(Args, Debug, Clone)]
pub struct CiArgs {
    /// The event: pull_request, push, workflow_dispatch or schedule (default: GITHUB_EVENT_NAME, else pull_request).
    #[arg(long, value_name = "EVENT")]
    pub event: Option<String>,

    /// The git ref, e.g. refs/heads/main or refs/tags/v1.2.3 (default: GITHUB_REF, else the checked-out branch).
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,

    /// The environment to deploy a release or a dispatch to (default: the dispatch's input; a release: staging).
    #[arg(long, value_name = "ENV")]
    pub environment: Option<String>,

    /// Print the stages and the exact command of each; run nothing.
    #[arg(long)]
    pub plan: bool,

    /// With --plan: print the plan as JSON.
    #[arg(long, requires = "plan")]
    pub json: bool,

    /// Run only these stages of the plan (e.g. `--only deploy`), as a CI job does; their dependencies are not checked.
    #[arg(long, value_name = "STAGE", value_delimiter = ',')]
    pub only: Vec<String>,

    /// Pass --confirm to a production deploy (inside a GitHub job bound to `production`, GitHub's approval stands for it).
    #[arg(long)]
    pub confirm: bool,
}

/// `cargo xtask perf`: which scenarios, against what.
#[derive(Args, Debug, Clone)]
pub struct PerfArgs {
    /// Components to measure, by name or folder (default: every one with a perf.toml).
    #[arg(value_name = "COMPONENT")]
    pub components: Vec<String>,

    /// Compare with the merge-base of HEAD and this ref (default: the pull request's base on GitHub, else origin/main, else main).
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,

    /// Only the components whose files changed since that merge-base (and those depending on them).
    #[arg(long)]
    pub affected: bool,

    /// Only these scenarios (by name, e.g. `read`), in every component measured.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub scenario: Vec<String>,

    /// A/A: compare the base with itself, to see how often this machine's noise would fail a scenario.
    #[arg(long)]
    pub aa: bool,

    /// Print the results as JSON on stdout (the table goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// Which cluster: credentials from `KUBECONFIG` (a path, or base64) or `KUBECONFIG_B64`.
#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// A kubeconfig file (default: KUBECONFIG_B64, else KUBECONFIG as a path or base64, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct DeployArgs {
    /// The environment: a folder under deploy/overlays (development, staging, production).
    #[arg(value_name = "ENV")]
    pub env: String,

    /// Print the diff against the cluster and the commands a deploy runs; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// One deadline for the rollout to verify, e.g. 90s, 5m.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub timeout: String,

    /// Skip the smoke checks after the rollout (the rollout alone decides).
    #[arg(long)]
    pub no_smoke: bool,

    /// Confirm a production deploy (inside a GitHub job bound to the `production` environment, GitHub's approval stands for it).
    #[arg(long)]
    pub confirm: bool,

    /// Deploy pins whose images were not built from this commit (recorded in the release; not for a `release`-guarded environment).
    #[arg(long)]
    pub force: bool,

    /// Let prune delete this claim (or object marked `mlops.dev/resource-policy: keep`) that the render no longer has; repeat for each.
    #[arg(long, value_name = "NAME")]
    pub allow_data_loss: Vec<String>,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Args, Debug, Clone)]
pub struct VerifyArgs {
    #[arg(value_name = "ENV")]
    pub env: String,

    /// One deadline for the whole check, e.g. 90s, 5m.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub timeout: String,

    /// Check the rollout alone: run no smoke check.
    #[arg(long)]
    pub no_smoke: bool,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Args, Debug, Clone)]
pub struct LogsArgs {
    /// The environment: a folder under deploy/overlays.
    #[arg(value_name = "ENV")]
    pub env: String,

    /// Only this component's pods (its `app.kubernetes.io/name`).
    #[arg(value_name = "COMPONENT")]
    pub component: Option<String>,

    /// Only lines newer than this, e.g. 10m, 1h.
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,

    /// Keep streaming new lines until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,

    /// One JSON object per line (time, pod, container, and the log's fields or message).
    #[arg(long)]
    pub json: bool,

    /// Only what one trace did: the lines logged with this trace id (32 hex digits, or a whole traceparent), after the pods a deploy in it annotated.
    #[arg(long, value_name = "ID")]
    pub trace: Option<String>,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// The environment (default: every environment, in one table).
    #[arg(value_name = "ENV")]
    pub env: Option<String>,

    /// Print the workloads and the history as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Args, Debug, Clone)]
pub struct CanaryArgs {
    #[arg(value_name = "ENV")]
    pub env: String,

    #[arg(value_enum, value_name = "ACTION")]
    pub action: CanaryAction,

    /// One deadline for a promotion to verify, e.g. 90s, 5m.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub timeout: String,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryAction {
    /// The newest canary: its state, steps, verdicts and the pods running now.
    Status,
    /// The paused canary's release takes over: the stable Deployments take its template, the canary goes.
    Promote,
    /// The paused canary goes; the previous release keeps serving; the release is recorded aborted.
    Abort,
}

#[derive(Args, Debug, Clone)]
pub struct RollbackArgs {
    #[arg(value_name = "ENV")]
    pub env: String,

    /// The revision to put back (default: the newest release before the current one that still stands).
    #[arg(long, value_name = "REVISION")]
    pub to: Option<u64>,

    /// Put back a revision that never verified (failed, pending) or that runs now.
    #[arg(long)]
    pub force: bool,

    /// One deadline for the rollback to verify, e.g. 90s, 5m.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub timeout: String,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `cargo xtask node`.
#[derive(Subcommand, Debug)]
pub enum WorkflowsCommand {
    /// The actions the workflows use: the commit each is pinned to, its tag, and how often it is used.
    Pins {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The events each workflow declares, as GitHub would hand them to `cargo xtask ci`, and the stages its steps name.
    Events {
        /// Print them as JSON (with each event's payload).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// Start the node (or check it runs) and wait until it is Ready.
    Up(NodeArgs),
    /// Stop it and remove what it left on the machine (processes, chains, bridge, mounts, cgroups, sysctls).
    Down(NodeArgs),
    /// What runs of it, and whether its Node is Ready.
    Status(NodeArgs),
}

/// Where the node's binaries are (the rest comes from the environment).
#[derive(Args, Debug, Clone)]
pub struct NodeArgs {
    /// The cluster build's binary folder (default: XTASK_KUBE_BIN, else the newest build with a kubelet).
    #[arg(long, value_name = "DIR")]
    pub bin: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct UndeployArgs {
    #[arg(value_name = "ENV")]
    pub env: String,

    /// Confirm undeploying a `release`-guarded environment such as production.
    #[arg(long)]
    pub confirm: bool,

    /// One deadline for the claims to go and their volumes to be handed back, e.g. 90s, 5m.
    #[arg(long, default_value = "2m", value_name = "DURATION")]
    pub timeout: String,

    /// Delete this object too although it is marked `mlops.dev/resource-policy: keep` (the data claim); repeat for each.
    #[arg(long, value_name = "NAME")]
    pub allow_data_loss: Vec<String>,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Subcommand, Debug)]
pub enum PreviewCommand {
    /// Render development's overlay as pr-N with the pull request's images and deploy it (verify and smoke checks, recorded as a release).
    Up(PreviewUpArgs),
    /// Remove pr-N: its namespace, its data claim and the claim's volume (nothing to do is not an error).
    Down(PreviewArgs),
    /// The previews on the cluster: age, idle time, commit, state.
    List(PreviewArgs),
    /// Remove the previews idle for longer than --older-than.
    Sweep {
        /// e.g. 72h, 30m.
        #[arg(long, default_value = "72h", value_name = "DURATION")]
        older_than: String,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
}

#[derive(Args, Debug, Clone)]
pub struct PreviewArgs {
    /// The pull request's number (default: GitHub's pull request, else the current branch's name hashed to a stable id).
    #[arg(long, value_name = "N")]
    pub pr: Option<u64>,

    /// One deadline for a removal, e.g. 90s, 5m.
    #[arg(long, default_value = "3m", value_name = "DURATION")]
    pub timeout: String,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(Args, Debug, Clone)]
pub struct PreviewUpArgs {
    #[command(flatten)]
    pub preview: PreviewArgs,

    /// Build and push the affected components' images first (`image build --push --affected`).
    #[arg(long)]
    pub build: bool,
}

#[derive(Subcommand, Debug)]
pub enum ServicesCommand {
    /// Bring services up (all when none is named, with what they need), check them, and record them for every checkout (root: /var/lib/xtask/services.json; XTASK_SERVICES_FILE overrides).
    Up {
        /// docker, registry, base-images, buildx, kube, otelcol.
        #[arg(value_name = "NAME")]
        names: Vec<String>,
    },
    /// Stop what the xtask started (all when none is named); the engine only when the xtask started it.
    Down {
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        /// Also delete the services' state: the registry's storage and password, the base images' OCI layouts, buildx's exported layer caches, the cluster's etcd data, keys and volumes (built binaries, images and the Go build cache stay).
        #[arg(long)]
        purge: bool,
        /// With --purge and no NAME: remove everything services up installed or cached too (the base and BuildKit images, the build caches and state folders, the record), each listed with its size first.
        #[arg(long, requires = "purge")]
        caches: bool,
    },
    /// Whether each service runs now and whether the record says so (exit 1 when one is down).
    Status {
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        /// Print the services as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The cache key and folder of a service's build (kube, otelcol, buildx, signing: binaries built with Go), for actions/cache.
    Key {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// The local cluster's volume provisioner as a daemon (`services up kube` starts it; docs/explanation/local-cluster.md).
    #[command(hide = true)]
    Provisioner(ProvisionerArgs),
}

/// What the volume provisioner daemon is told by `services up kube`.
#[derive(Args, Debug, Clone)]
pub struct ProvisionerArgs {
    #[arg(long)]
    pub kubectl: PathBuf,
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// The folder the volumes' folders go in.
    #[arg(long)]
    pub volumes: PathBuf,
    /// The file each pass touches.
    #[arg(long)]
    pub heartbeat: PathBuf,
    /// Its behaviour version (part of its identity only).
    #[arg(long)]
    pub rev: String,
}

#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// Name the inputs that changed since the task's last recorded success, e.g. `cache why test:storage`.
    Why {
        /// A task id as the summary shows it, e.g. test:storage, lint:client, test:xtask:unit.
        task: String,
    },
    /// Remove every recorded success.
    Clean,
}

#[derive(Subcommand, Debug, Clone)]
pub enum DocsCommand {
    /// Write docs/reference/cli.md and a page per command in docs/reference/cli/ from the command line's own definitions: every subcommand, argument, default.
    Cli {
        /// Write nothing: exit 1 when the committed file differs from what would be written.
        #[arg(long)]
        check: bool,
    },
    /// Check the Mermaid diagrams of the README and docs/: they parse (mermaid's own parser, installed on demand from tools/package.json) and name only jobs, commands, services, environments and canary states that exist.
    Diagrams,
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

    #[command(flatten)]
    pub exec: ExecArgs,

    /// Run every task, even those whose inputs match a recorded success (successes are still recorded); `image build` also ignores Docker's layer cache.
    #[arg(long)]
    pub no_cache: bool,

    #[command(flatten)]
    pub affected: AffectedArgs,
}

/// How any plan of tasks runs: shared by every stage that executes one.
#[derive(Args, Debug, Clone, Default)]
pub struct ExecArgs {
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
        #[command(flatten)]
        build: BuildArgs,
    },
    /// Push images built earlier (same tags as `image build` gives them), as they are.
    Push(ImageArgs),
    /// A summary of the signed SBOM attached to a component's pushed image (packages by type, the five largest).
    Sbom {
        /// The component whose image (its last push in the images report) to read.
        component: String,
        /// Read this image instead (`name@sha256:…` or `name:tag`).
        #[arg(long = "ref", value_name = "IMAGE")]
        reference: Option<String>,
    },
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

#[derive(Subcommand, Debug)]
pub enum ManifestsCommand {
    /// Pin each component's image (tag and digest) for ENV in this workspace (target/xtask/overlays/ENV), and list every component's k8s/ in deploy/base.
    Update(UpdateArgs),
    /// Render ENV's objects with kustomize into target/xtask/manifests/ENV.yaml.
    Render {
        /// The environment: a folder under deploy/overlays.
        #[arg(value_name = "ENV")]
        env: String,
    },
    /// Validate environments: strict schemas offline, our rules, and a server-side dry run when a cluster is configured.
    Validate(ValidateArgs),
    /// Check our rules (digests, probes, resources, non-root, labels) on ENV's rendered objects.
    Rules {
        #[arg(value_name = "ENV")]
        env: String,
        /// Read these rendered objects instead of rendering ENV afresh.
        #[arg(long, value_name = "FILE")]
        rendered: Option<PathBuf>,
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug, Clone)]
pub struct UpdateArgs {
    /// The environment: a folder under deploy/overlays.
    #[arg(value_name = "ENV")]
    pub env: String,

    /// The image stage's report to pin from (default: target/xtask/images.json).
    #[arg(long, value_name = "FILE", conflicts_with = "tag")]
    pub images: Option<PathBuf>,

    /// Pin every image to this tag instead (no digest is known then).
    #[arg(long)]
    pub tag: Option<String>,

    /// Leave a component the report does not name as it is, instead of failing.
    #[arg(long)]
    pub partial: bool,

    /// Change nothing: show the diff and exit 1 when the workspace's pins are out of date.
    #[arg(long)]
    pub check: bool,

    /// Also commit the pins into deploy/overlays/ENV, on a branch of their own (xtask/pins/ENV-COMMIT; never pushed).
    #[arg(long, conflicts_with = "check")]
    pub commit: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ValidateArgs {
    /// Environments to validate (default: every folder under deploy/overlays).
    #[arg(value_name = "ENV")]
    pub envs: Vec<String>,

    /// The cluster for the server-side dry run (default: KUBECONFIG; without either, no dry run).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The Kubernetes version whose schemas the objects must match.
    #[arg(long, value_name = "X.Y", default_value = "1.34")]
    pub kubernetes_version: String,

    #[command(flatten)]
    pub exec: ExecArgs,
}

/// What only a build takes (a push sends images built earlier as they are).
#[derive(Args, Debug, Clone, Default)]
pub struct BuildArgs {
    /// Push the images once built.
    #[arg(long)]
    pub push: bool,

    /// Base image for every Dockerfile's BASE_IMAGE (default: XTASK_BASE_IMAGE; a component's `[tool.xtask] base-image` wins).
    #[arg(long, value_name = "IMAGE")]
    pub base_image: Option<String>,
}
