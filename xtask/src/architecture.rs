//! `cargo xtask architecture [--check]`: the crate graph in `docs/ARCHITECTURE.md`, generated
//! from `cargo metadata`, and the dependency rules every crate keeps.
//!
//! Without `--check` the graph block of the page is rewritten; with it, a block that differs
//! from what would be written is an error. Both modes then fail on a forbidden dependency (the
//! rules below) and on a workspace path the page names that does not exist, so the page's code
//! map cannot point at a moved file.
//!
//! The graph comes from `cargo metadata --no-deps`: the workspace's own manifests, read without
//! resolving or downloading anything (a full `cargo metadata --offline` wants the crates of every
//! target platform, which a build for this one never fetched). Only normal dependencies count:
//! dev-dependencies (tests, benchmarks) and build-dependencies ship in no library. A dependency
//! reached through another workspace crate counts as well, with the path that reaches it; one
//! reached through a crate from crates.io does not (`tvarr-jobs` uses apalis-sqlite, which uses
//! sqlx, by design).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The crates that hold the domain: they see no web framework, ORM or SQL driver, and none of
/// the crates that compose them. `tvarr-logo` and `tvarr-relay` are held to it once they exist.
const DOMAIN: &[&str] = &[
    "tvarr-core",
    "tvarr-expr",
    "tvarr-ingest",
    "tvarr-pipeline",
    "tvarr-jobs",
    "tvarr-logo",
    "tvarr-relay",
];

/// The dependency rules: each crate of `crates` must not depend, directly or through another
/// workspace crate, on any dependency `banned` matches.
const RULES: &[Rule] = &[
    Rule {
        crates: DOMAIN,
        banned: &[
            Banned::Crate("actix-web"),
            Banned::Crate("sea-orm"),
            Banned::Prefix("sea-orm-"),
            Banned::Crate("sqlx"),
            Banned::Prefix("sqlx-"),
        ],
        reason: "a domain crate never sees a web framework, an ORM or an SQL driver",
    },
    Rule {
        crates: DOMAIN,
        banned: &[
            Banned::Crate("tvarr-storage"),
            Banned::Crate("tvarr-api"),
            Banned::Crate("tvarr-app"),
        ],
        reason: "a domain crate receives storage as tvarr-core traits and is composed by the crates above it, never the reverse",
    },
    Rule {
        crates: &[
            "tvarr-ingest",
            "tvarr-pipeline",
            "tvarr-logo",
            "tvarr-relay",
        ],
        banned: &[
            Banned::Crate("tvarr-jobs"),
            Banned::Crate("apalis"),
            Banned::Prefix("apalis-"),
        ],
        reason: "the crates that own the work implement tvarr-core's JobHandler: the job runtime and its queue compose them, never the reverse",
    },
    Rule {
        crates: &["tvarr-core", "tvarr-expr"],
        banned: &[Banned::Prefix("tvarr-")],
        reason: "tvarr-core and tvarr-expr are at the bottom: they depend on nothing of ours",
    },
    Rule {
        crates: &["tvarr-storage", "tvarr-migration"],
        banned: &[
            Banned::Crate("actix-web"),
            Banned::Crate("tvarr-ingest"),
            Banned::Crate("tvarr-expr"),
            Banned::Crate("tvarr-pipeline"),
            Banned::Crate("tvarr-jobs"),
            Banned::Crate("tvarr-api"),
            Banned::Crate("tvarr-app"),
        ],
        reason: "storage implements tvarr-core's traits: no web framework, no domain crate above core",
    },
    Rule {
        crates: &["tvarr-api"],
        banned: &[
            Banned::Crate("sea-orm"),
            Banned::Prefix("sea-orm-"),
            Banned::Crate("apalis"),
            Banned::Prefix("apalis-"),
            Banned::Crate("tvarr-storage"),
        ],
        reason: "the API works through tvarr-core traits held in AppState",
    },
];

/// What a binary must not link, checked on the binary's own features with `cargo tree -p`: the
/// rules above read the manifests, where an optional dependency looks like any other, and
/// `cargo metadata`'s resolve unifies the features of the whole workspace, so neither sees that
/// `tvarr-worker` builds `tvarr-app` without its `server` feature.
struct BinaryRule {
    binary: &'static str,
    banned: &'static [Banned],
    reason: &'static str,
}

const BINARY_RULES: &[BinaryRule] = &[BinaryRule {
    binary: "tvarr-worker",
    banned: &[
        Banned::Crate("tvarr-api"),
        Banned::Crate("actix-web"),
        Banned::Crate("utoipa-swagger-ui"),
    ],
    reason: "a worker runs jobs and serves its /metrics on hyper: no web framework, no HTTP API",
}];

/// The packages `cargo tree --prefix none -e normal` lists, by name.
fn tree_packages(tree: &str) -> BTreeSet<&str> {
    tree.lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect()
}

/// The lines of `rule` broken by the `cargo tree` output `tree` of its binary.
fn binary_violations(rule: &BinaryRule, tree: &str) -> Vec<String> {
    tree_packages(tree)
        .into_iter()
        .filter(|name| rule.banned.iter().any(|b| b.matches(name)))
        .map(|name| {
            format!(
                "forbidden dependency: the {} binary links {name}: {}",
                rule.binary, rule.reason
            )
        })
        .collect()
}

/// Every binary rule broken, by `cargo tree` on each binary.
fn check_binaries(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for rule in BINARY_RULES {
        let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(root)
            .args(["tree", "--locked", "-e", "normal", "--prefix", "none", "-p"])
            .arg(rule.binary)
            .output()
            .context("running cargo tree")?;
        if !output.status.success() {
            bail!(
                "cargo tree -p {} failed: {}",
                rule.binary,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        problems.extend(binary_violations(
            rule,
            &String::from_utf8_lossy(&output.stdout),
        ));
    }
    Ok(problems)
}

/// The page the graph is written into, relative to the workspace root.
const PAGE: &str = "docs/ARCHITECTURE.md";
const BEGIN: &str = "<!-- BEGIN GENERATED: crate graph (cargo xtask architecture) -->";
const END: &str = "<!-- END GENERATED: crate graph -->";
/// Where a backquoted span of the page is a workspace path that must exist.
const PATH_ROOTS: &[&str] = &[
    "crates/",
    "bins/",
    "migrations/",
    "benches/",
    "xtask/",
    "docs/",
    "fixtures/",
];

/// Which dependencies a rule forbids, by package name.
#[derive(Clone, Copy)]
enum Banned {
    Crate(&'static str),
    Prefix(&'static str),
}

impl Banned {
    fn matches(self, name: &str) -> bool {
        match self {
            Banned::Crate(banned) => name == banned,
            Banned::Prefix(prefix) => name.starts_with(prefix),
        }
    }
}

struct Rule {
    crates: &'static [&'static str],
    banned: &'static [Banned],
    reason: &'static str,
}

/// The workspace's members and their normal dependencies.
#[derive(Debug)]
struct Workspace {
    root: PathBuf,
    /// Package name to member.
    members: BTreeMap<String, Member>,
}

#[derive(Debug)]
struct Member {
    /// The member's directory relative to the workspace root, with `/` separators.
    dir: String,
    /// Package names of its normal dependencies, workspace members or not.
    deps: BTreeSet<String>,
}

/// A crate that reaches a dependency a rule forbids.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    krate: String,
    banned: String,
    /// From `krate` to `banned`, both included.
    path: Vec<String>,
    reason: &'static str,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "forbidden dependency: {} depends on {} ({}): {}",
            self.krate,
            self.banned,
            self.path.join(" -> "),
            self.reason
        )
    }
}

impl Workspace {
    /// Runs `cargo metadata --no-deps` on this workspace.
    fn load() -> Result<Self> {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = Command::new(cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .arg("--manifest-path")
            .arg(&manifest)
            .output()
            .context("running cargo metadata")?;
        if !output.status.success() {
            bail!(
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let metadata: Value =
            serde_json::from_slice(&output.stdout).context("reading cargo metadata's output")?;
        Self::from_metadata(&metadata)
    }

    /// The members of a `cargo metadata` document and their normal dependencies.
    fn from_metadata(metadata: &Value) -> Result<Self> {
        let root = metadata["workspace_root"]
            .as_str()
            .context("cargo metadata has no workspace_root")?;
        let root = PathBuf::from(root);
        let member_ids: BTreeSet<&str> = metadata["workspace_members"]
            .as_array()
            .context("cargo metadata has no workspace_members")?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut members = BTreeMap::new();
        for package in metadata["packages"]
            .as_array()
            .context("cargo metadata has no packages")?
        {
            let id = package["id"].as_str().unwrap_or_default();
            if !member_ids.contains(id) {
                continue;
            }
            let name = package["name"]
                .as_str()
                .context("a package without a name")?;
            let manifest = package["manifest_path"]
                .as_str()
                .with_context(|| format!("{name} has no manifest_path"))?;
            let dir = Path::new(manifest)
                .parent()
                .and_then(|dir| dir.strip_prefix(&root).ok())
                .with_context(|| format!("{name}'s manifest is outside the workspace"))?;
            let dir = dir
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let deps = package["dependencies"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                // `kind` is null for a normal dependency, "dev" or "build" otherwise.
                .filter(|dep| dep["kind"].is_null())
                .filter_map(|dep| dep["name"].as_str().map(str::to_string))
                .collect();
            members.insert(name.to_string(), Member { dir, deps });
        }
        Ok(Self { root, members })
    }

    /// The crates the graph draws: every member named `tvarr-*`.
    fn drawn(&self) -> impl Iterator<Item = (&String, &Member)> {
        self.members
            .iter()
            .filter(|(name, _)| name.starts_with("tvarr-"))
    }

    /// Every dependency `from` reaches through workspace members, each with its shortest path.
    fn reachable(&self, from: &str) -> BTreeMap<String, Vec<String>> {
        let mut paths: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut queue = VecDeque::from([vec![from.to_string()]]);
        while let Some(path) = queue.pop_front() {
            let Some(last) = path.last() else { continue };
            let Some(member) = self.members.get(last) else {
                continue;
            };
            for dep in &member.deps {
                if paths.contains_key(dep) {
                    continue;
                }
                let mut next = path.clone();
                next.push(dep.clone());
                paths.insert(dep.clone(), next.clone());
                queue.push_back(next);
            }
        }
        paths
    }

    /// Every crate that breaks a rule, in rule order, each (crate, dependency) once.
    fn violations(&self) -> Vec<Violation> {
        let mut found: Vec<Violation> = Vec::new();
        for rule in RULES {
            for krate in rule.crates {
                if !self.members.contains_key(*krate) {
                    continue;
                }
                for (dep, path) in self.reachable(krate) {
                    let banned = rule.banned.iter().any(|b| b.matches(&dep));
                    let known = found.iter().any(|v| v.krate == *krate && v.banned == dep);
                    if banned && !known {
                        found.push(Violation {
                            krate: (*krate).to_string(),
                            banned: dep,
                            path,
                            reason: rule.reason,
                        });
                    }
                }
            }
        }
        found
    }

    /// The generated block, markers included.
    fn graph_block(&self) -> String {
        let id = |name: &str| name.replace('-', "_");
        let mut out = String::new();
        out.push_str(BEGIN);
        out.push_str("\n\n```mermaid\ngraph TD\n");
        for (name, member) in self.drawn() {
            out.push_str(&format!(
                "    {}[\"{name}<br/>{}\"]\n",
                id(name),
                member.dir
            ));
        }
        for (name, member) in self.drawn() {
            for dep in &member.deps {
                if dep.starts_with("tvarr-") && self.members.contains_key(dep) {
                    out.push_str(&format!("    {} --> {}\n", id(name), id(dep)));
                }
            }
        }
        let domain: Vec<String> = self
            .drawn()
            .filter(|(name, _)| DOMAIN.contains(&name.as_str()))
            .map(|(name, _)| id(name))
            .collect();
        if !domain.is_empty() {
            out.push_str("    classDef domain stroke-width:3px\n");
            out.push_str(&format!("    class {} domain\n", domain.join(",")));
        }
        out.push_str("```\n\n");
        out.push_str(
            "Generated by `cargo xtask architecture` from `cargo metadata --no-deps`; \
             `cargo xtask ci` fails when it is stale. Every workspace crate named `tvarr-*`, \
             and an arrow from a crate to each crate of ours it declares as a normal dependency \
             (dev- and build-dependencies left out). The graph is not transitively reduced: \
             an arrow is a line of the crate's `Cargo.toml`. Thick borders mark the domain crates.\n\n",
        );
        out.push_str(END);
        out
    }
}

/// `page` with its generated block replaced by `block`.
fn with_block(page: &str, block: &str) -> Result<String> {
    let (Some(begin), Some(end)) = (page.find(BEGIN), page.find(END)) else {
        bail!("{PAGE} has no generated block: add the lines\n{BEGIN}\n{END}\nwhere the graph goes");
    };
    if end < begin {
        bail!("{PAGE}: `{END}` comes before `{BEGIN}`");
    }
    Ok(format!(
        "{}{block}{}",
        &page[..begin],
        &page[end + END.len()..]
    ))
}

/// The workspace paths the page names in backquotes, outside fenced blocks, that do not exist.
fn missing_paths(root: &Path, page: &str) -> Vec<String> {
    let mut missing = Vec::new();
    let mut fenced = false;
    for line in page.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Odd pieces of a split on backquotes are the code spans.
        for span in line.split('`').skip(1).step_by(2) {
            let is_path = PATH_ROOTS.iter().any(|r| span.starts_with(r))
                && !span.contains(|c: char| c.is_whitespace() || "*{}<>".contains(c));
            if is_path && !root.join(span).exists() && !missing.iter().any(|m| m == span) {
                missing.push(span.to_string());
            }
        }
    }
    missing
}

/// `cargo xtask architecture [--check]`.
pub fn run(args: &[String]) -> Result<()> {
    match args {
        [] => verify(false),
        [flag] if flag == "--check" => verify(true),
        _ => bail!("usage: cargo xtask architecture [--check]"),
    }
}

/// Fails when the page's graph is stale, a rule is broken or the page names a missing path.
pub fn check() -> Result<()> {
    verify(true)
}

/// What `verify` does to a page, and what it finds wrong.
struct Review {
    /// The page to write, when it is stale and this is not a check.
    write: Option<String>,
    problems: Vec<String>,
}

/// Reviews `page` against `workspace`: staleness (an error under `check`, a rewrite otherwise),
/// paths the page names that do not exist, and broken rules.
fn review(workspace: &Workspace, page: &str, check: bool) -> Result<Review> {
    let updated = with_block(page, &workspace.graph_block())?;
    let mut problems = Vec::new();
    if check && updated != page {
        problems.push(format!("{PAGE} is stale: run cargo xtask architecture"));
    }
    problems.extend(
        missing_paths(&workspace.root, &updated)
            .into_iter()
            .map(|path| format!("{PAGE} names `{path}`, which does not exist")),
    );
    problems.extend(workspace.violations().iter().map(Violation::to_string));
    let write = (!check && updated != page).then_some(updated);
    Ok(Review { write, problems })
}

fn verify(check: bool) -> Result<()> {
    let workspace = Workspace::load()?;
    let page_path = workspace.root.join(PAGE);
    let page = std::fs::read_to_string(&page_path).with_context(|| format!("reading {PAGE}"))?;
    let mut review = review(&workspace, &page, check)?;
    review.problems.extend(check_binaries(&workspace.root)?);
    if let Some(updated) = review.write {
        std::fs::write(&page_path, updated).with_context(|| format!("writing {PAGE}"))?;
        println!("==> wrote the crate graph into {PAGE}");
    }
    if review.problems.is_empty() {
        println!(
            "==> architecture: {} crates drawn, {} rules hold, every path in {PAGE} exists",
            workspace.drawn().count(),
            RULES.len() + BINARY_RULES.len()
        );
        return Ok(());
    }
    for problem in &review.problems {
        eprintln!("error: {problem}");
    }
    bail!(
        "cargo xtask architecture: {} problem(s)",
        review.problems.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A package's normal (`None`), `dev` or `build` dependencies: `(name, kind)`.
    type Deps<'a> = &'a [(&'a str, Option<&'a str>)];

    /// A `cargo metadata --no-deps` document: `(name, dir, dependencies)`.
    fn metadata(packages: &[(&str, &str, Deps<'_>)]) -> Value {
        let packages: Vec<Value> = packages
            .iter()
            .map(|(name, dir, deps)| {
                json!({
                    "name": name,
                    "id": format!("path+file:///ws/{dir}#{name}@0.1.0"),
                    "manifest_path": format!("/ws/{dir}/Cargo.toml"),
                    "dependencies": deps
                        .iter()
                        .map(|(dep, kind)| json!({"name": dep, "kind": kind}))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        let ids: Vec<Value> = packages.iter().map(|p| p["id"].clone()).collect();
        json!({"packages": packages, "workspace_members": ids, "workspace_root": "/ws"})
    }

    fn clean() -> Workspace {
        Workspace::from_metadata(&metadata(&[
            ("tvarr-core", "crates/core", &[("serde", None)]),
            ("tvarr-expr", "crates/expr", &[("pest", None)]),
            (
                "tvarr-pipeline",
                "crates/pipeline",
                &[
                    ("tvarr-core", None),
                    ("tvarr-expr", None),
                    // Tests may use anything.
                    ("tvarr-storage", Some("dev")),
                    ("sqlx", Some("dev")),
                ],
            ),
            (
                "tvarr-storage",
                "crates/storage",
                &[("tvarr-core", None), ("sea-orm", None)],
            ),
            (
                "tvarr-api",
                "crates/api",
                &[("tvarr-pipeline", None), ("actix-web", None)],
            ),
            ("xtask", "xtask", &[("anyhow", None)]),
        ]))
        .unwrap()
    }

    #[test]
    fn a_clean_graph_passes() {
        assert_eq!(clean().violations(), Vec::new());
    }

    #[test]
    fn a_binary_that_links_a_banned_crate_is_named_with_it() {
        let rule = &BINARY_RULES[0];
        let clean = "tvarr-worker v0.1.0 (/w/bins/tvarr-worker)\ntvarr-app v0.1.0 (/w/crates/app)\n\
                     hyper v1.12.0\nhyper v1.12.0 (*)\n";
        assert_eq!(binary_violations(rule, clean), Vec::<String>::new());
        let planted = format!("{clean}tvarr-api v0.1.0 (/w/crates/api)\nactix-web v4.18.1\n");
        assert_eq!(
            binary_violations(rule, &planted),
            [
                "forbidden dependency: the tvarr-worker binary links actix-web: a worker runs \
                 jobs and serves its /metrics on hyper: no web framework, no HTTP API",
                "forbidden dependency: the tvarr-worker binary links tvarr-api: a worker runs \
                 jobs and serves its /metrics on hyper: no web framework, no HTTP API",
            ]
        );
    }

    #[test]
    fn a_direct_forbidden_dependency_fails_with_its_crate_and_reason() {
        let workspace = Workspace::from_metadata(&metadata(&[
            ("tvarr-core", "crates/core", &[]),
            (
                "tvarr-jobs",
                "crates/jobs",
                &[("tvarr-core", None), ("sqlx", None)],
            ),
        ]))
        .unwrap();
        let violations = workspace.violations();
        assert_eq!(violations.len(), 1);
        assert_eq!(
            violations[0].to_string(),
            "forbidden dependency: tvarr-jobs depends on sqlx (tvarr-jobs -> sqlx): \
             a domain crate never sees a web framework, an ORM or an SQL driver"
        );
    }

    #[test]
    fn prefixed_drivers_and_upward_crates_are_forbidden() {
        let workspace = Workspace::from_metadata(&metadata(&[
            ("tvarr-storage", "crates/storage", &[]),
            (
                "tvarr-ingest",
                "crates/ingest",
                &[("sqlx-sqlite", None), ("tvarr-storage", None)],
            ),
        ]))
        .unwrap();
        let banned: Vec<String> = workspace
            .violations()
            .into_iter()
            .map(|v| v.banned)
            .collect();
        assert_eq!(banned, ["sqlx-sqlite", "tvarr-storage"]);
    }

    #[test]
    fn a_transitive_forbidden_dependency_is_found_with_its_path() {
        let workspace = Workspace::from_metadata(&metadata(&[
            ("tvarr-expr", "crates/expr", &[]),
            ("tvarr-core", "crates/core", &[("sea-orm-migration", None)]),
            (
                "tvarr-pipeline",
                "crates/pipeline",
                &[("tvarr-expr", None), ("tvarr-core", None)],
            ),
        ]))
        .unwrap();
        let pipeline: Vec<Violation> = workspace
            .violations()
            .into_iter()
            .filter(|v| v.krate == "tvarr-pipeline")
            .collect();
        assert_eq!(pipeline.len(), 1);
        assert_eq!(pipeline[0].banned, "sea-orm-migration");
        assert_eq!(
            pipeline[0].path,
            ["tvarr-pipeline", "tvarr-core", "sea-orm-migration"]
        );
    }

    #[test]
    fn dev_and_build_dependencies_do_not_count() {
        let workspace = Workspace::from_metadata(&metadata(&[(
            "tvarr-ingest",
            "crates/ingest",
            &[("sqlx", Some("dev")), ("actix-web", Some("build"))],
        )]))
        .unwrap();
        assert_eq!(workspace.violations(), Vec::new());
        assert!(workspace.members["tvarr-ingest"].deps.is_empty());
    }

    #[test]
    fn the_graph_draws_normal_edges_between_tvarr_crates_only() {
        let block = clean().graph_block();
        assert!(block.starts_with(BEGIN) && block.ends_with(END));
        assert!(block.contains("    tvarr_pipeline[\"tvarr-pipeline<br/>crates/pipeline\"]\n"));
        assert!(block.contains("    tvarr_pipeline --> tvarr_expr\n"));
        assert!(block.contains("    tvarr_api --> tvarr_pipeline\n"));
        // The dev-dependency, the external crates and the non-tvarr member are not drawn.
        assert!(!block.contains("tvarr_pipeline --> tvarr_storage"));
        assert!(!block.contains("sea-orm") && !block.contains("xtask["));
        assert!(block.contains("    class tvarr_core,tvarr_expr,tvarr_pipeline domain\n"));
    }

    #[test]
    fn the_block_is_replaced_between_its_markers_only() {
        let page = format!("# Title\n\n{BEGIN}\nold graph\n{END}\n\nafter\n");
        let updated = with_block(&page, &format!("{BEGIN}\nnew\n{END}")).unwrap();
        assert_eq!(
            updated,
            format!("# Title\n\n{BEGIN}\nnew\n{END}\n\nafter\n")
        );
        assert!(with_block("# no markers\n", "x").is_err());
    }

    #[test]
    fn paths_the_page_names_must_exist() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let page = "- `xtask/src/architecture.rs`: this module\n\
                    - `crates/nowhere/src/lib.rs`, `cargo xtask ci`, `crates/*/tests/`\n\
                    ```\n`crates/fenced/lib.rs`\n```\n";
        assert_eq!(missing_paths(&root, page), ["crates/nowhere/src/lib.rs"]);
    }

    #[test]
    fn a_check_reports_a_stale_page_and_a_write_rewrites_it() {
        let workspace = clean();
        let stale = format!("# Architecture\n{BEGIN}\nold\n{END}\n");
        let checked = review(&workspace, &stale, true).unwrap();
        assert_eq!(checked.write, None);
        assert_eq!(
            checked.problems,
            ["docs/ARCHITECTURE.md is stale: run cargo xtask architecture"]
        );
        let written = review(&workspace, &stale, false).unwrap();
        assert!(written.problems.is_empty());
        let current = written.write.unwrap();
        assert!(current.contains("tvarr_api --> tvarr_pipeline"));
        let again = review(&workspace, &current, true).unwrap();
        assert!(again.problems.is_empty() && again.write.is_none());
    }

    #[test]
    fn the_bottom_storage_and_api_rules_hold_too() {
        let workspace = Workspace::from_metadata(&metadata(&[
            ("tvarr-expr", "crates/expr", &[("tvarr-core", None)]),
            ("tvarr-core", "crates/core", &[]),
            (
                "tvarr-storage",
                "crates/storage",
                &[("tvarr-ingest", None), ("actix-web", None)],
            ),
            ("tvarr-ingest", "crates/ingest", &[]),
            ("tvarr-api", "crates/api", &[("apalis-sqlite", None)]),
        ]))
        .unwrap();
        let found: Vec<(String, String)> = workspace
            .violations()
            .into_iter()
            .map(|v| (v.krate, v.banned))
            .collect();
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            found,
            [
                pair("tvarr-expr", "tvarr-core"),
                pair("tvarr-storage", "actix-web"),
                pair("tvarr-storage", "tvarr-ingest"),
                pair("tvarr-api", "apalis-sqlite"),
            ]
        );
    }
}
