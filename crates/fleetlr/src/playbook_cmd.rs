//! `fleetlr validate`, `fleetlr plan` and `fleetlr playbook schema`: the file-reading edge of
//! `fleetlr-playbook`. Reads playbooks and the scripts beside them, hands text and file facts
//! to the pure crate, and prints what it says.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use fleetlr_playbook::{
    Action, Catalogue, CompiledPlaybook, Limits, Problems, call_duration, format_duration,
};

use crate::config::DaemonConfig;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Playbook files, or directories whose *.yaml files are checked.
    #[arg(required_unless_present = "config")]
    paths: Vec<PathBuf>,
    /// A daemon configuration to check (offline: no tenant is contacted); its playbook
    /// directory is validated too.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Largest library file accepted, in bytes (the API documents 20 MB).
    #[arg(long, default_value_t = Catalogue::DEFAULT_MAX_FILE_BYTES)]
    max_library_file_bytes: u64,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The playbook to plan.
    playbook: PathBuf,
    /// How many devices the run would target.
    #[arg(long, default_value_t = 1)]
    devices: u64,
    /// runliveresponse calls allowed per minute.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    rate_per_minute: u32,
    /// Concurrent Live Response sessions allowed.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..))]
    max_sessions: u32,
    /// Largest library file accepted, in bytes.
    #[arg(long, default_value_t = Catalogue::DEFAULT_MAX_FILE_BYTES)]
    max_library_file_bytes: u64,
}

#[derive(Debug, Subcommand)]
pub enum PlaybookCommand {
    /// Print the JSON Schema of the playbook format, for editors.
    Schema,
}

pub fn schema(command: &PlaybookCommand) -> ExitCode {
    match command {
        PlaybookCommand::Schema => println!("{}", fleetlr_playbook::json_schema()),
    }
    ExitCode::SUCCESS
}

pub fn validate(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut paths = args.paths.clone();
    let mut config_problems = 0;
    if let Some(path) = &args.config {
        let config = crate::config::load(path)?;
        let problems = config.check();
        if problems.is_empty() {
            let tenants: Vec<&str> = config.tenants.iter().map(|t| t.name.as_str()).collect();
            println!("ok  {}: tenants {}", path.display(), tenants.join(", "));
        } else {
            config_problems = problems.len();
            for problem in &problems {
                println!("{}: {problem}", path.display());
            }
        }
        paths.push(config.playbooks_dir.clone());
    }
    let files = playbook_files(&paths)?;
    let mut catalogues: BTreeMap<PathBuf, Catalogue> = BTreeMap::new();
    let mut invalid = 0;
    for file in &files {
        let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        if !catalogues.contains_key(&dir) {
            catalogues.insert(dir.clone(), catalogue(&dir, args.max_library_file_bytes)?);
        }
        let catalogue = &catalogues[&dir];
        match load(file, catalogue)? {
            Ok(compiled) => println!("ok  {}: {}", file.display(), summary(&compiled)),
            Err(problems) => {
                invalid += 1;
                println!("{problems}");
            }
        }
    }
    println!("{} playbooks checked, {invalid} with problems", files.len());
    Ok(if invalid == 0 && config_problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn plan(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let dir = args.playbook.parent().unwrap_or(Path::new("."));
    let catalogue = catalogue(dir, args.max_library_file_bytes)?;
    let compiled = match load(&args.playbook, &catalogue)? {
        Ok(compiled) => compiled,
        Err(problems) => {
            println!("{problems}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let limits = Limits {
        calls_per_minute: args.rate_per_minute,
        max_sessions: args.max_sessions,
        ..Limits::default()
    };
    print!("{}", describe_plan(&compiled, args.devices, &limits));
    Ok(ExitCode::SUCCESS)
}

/// The files to check: each path given, or the playbooks directly inside a directory.
fn playbook_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let entries =
            std::fs::read_dir(path).with_context(|| format!("listing {}", path.display()))?;
        let mut found = Vec::new();
        for entry in entries {
            let file = entry
                .with_context(|| format!("listing {}", path.display()))?
                .path();
            if file.is_file() && file.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                found.push(file);
            }
        }
        if found.is_empty() {
            bail!("no playbooks (*.yaml) in {}", path.display());
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// The library files beside playbooks in `dir`: `dir/scripts/*` with sizes and hashes. A
/// missing folder is an empty catalogue (playbooks using no scripts need none).
fn catalogue(dir: &Path, max_file_bytes: u64) -> anyhow::Result<Catalogue> {
    fleetlr_engine::playbooks::catalogue(dir, max_file_bytes).with_context(|| {
        format!(
            "reading library files in {}",
            dir.join(fleetlr_engine::playbooks::SCRIPTS_DIR).display()
        )
    })
}

/// Reads and compiles one playbook; `Err` is for files that cannot be read at all.
fn load(path: &Path, catalogue: &Catalogue) -> anyhow::Result<Result<CompiledPlaybook, Problems>> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).with_context(|| format!("reading {origin}"))?;
    Ok(fleetlr_playbook::decode_text(&origin, &bytes)
        .and_then(|text| fleetlr_playbook::load(&origin, text, catalogue)))
}

fn summary(compiled: &CompiledPlaybook) -> String {
    let playbook = &compiled.playbook;
    let policy = &playbook.policy;
    let mut line = format!(
        "{} ({} steps in {} {}, {}, expires after {}",
        playbook.name,
        playbook.steps.len(),
        compiled.calls.len(),
        plural(compiled.calls.len(), "call"),
        policy.priority,
        format_duration(policy.expires_after),
    );
    if !playbook.parameters.is_empty() {
        let names: Vec<&str> = playbook
            .parameters
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        let _ = write!(line, ", parameters: {}", names.join(", "));
    }
    if compiled.needs_alert() {
        line.push_str(", alert-started");
    }
    line.push(')');
    line
}

fn describe_plan(compiled: &CompiledPlaybook, devices: u64, limits: &Limits) -> String {
    let playbook = &compiled.playbook;
    let policy = &playbook.policy;
    let mut out = String::new();
    let _ = writeln!(out, "{}: {}", playbook.name, playbook.description);
    let canary = match policy.canary {
        0 => "no canary".to_owned(),
        n => format!("canary of {n} {}", plural(n as usize, "device")),
    };
    let breaker = policy.max_failure_percent.map_or_else(
        || "no failure limit".to_owned(),
        |p| format!("stops above {p}% failed devices"),
    );
    let _ = writeln!(
        out,
        "policy: {} priority, expires after {}, {canary}, {breaker}",
        policy.priority,
        format_duration(policy.expires_after),
    );
    for parameter in &playbook.parameters {
        let default = parameter
            .default
            .as_ref()
            .map_or_else(|| "required".to_owned(), |d| format!("default {d}"));
        let _ = writeln!(
            out,
            "parameter {} ({default}){}",
            parameter.name,
            describe(parameter.description.as_deref())
        );
    }
    for field in &playbook.alert_fields {
        let _ = writeln!(out, "alert field {}: {}", field.name, field.description);
    }
    for (i, call) in compiled.calls.iter().enumerate() {
        let _ = writeln!(
            out,
            "\ncall {} (holds a session about {}):",
            i + 1,
            format_duration(call_duration(call, limits))
        );
        for step in &call.commands {
            let detail = match &step.action {
                Action::PutFile { file } => format!("PutFile   {}", file.name),
                Action::RunScript {
                    script,
                    args: Some(args),
                } => format!("RunScript {} {}", script.name, args.source),
                Action::RunScript { script, args: None } => format!("RunScript {}", script.name),
                Action::GetFile { path } => format!("GetFile   {}", path.source),
            };
            let cont = match step.on_failure {
                fleetlr_playbook::OnFailure::Continue => ", on failure continue",
                fleetlr_playbook::OnFailure::Stop => "",
            };
            let _ = writeln!(
                out,
                "  [{}] {detail}  (~{}{cont})",
                step.id,
                format_duration(step.expected_duration())
            );
        }
    }
    let e = fleetlr_playbook::estimate(compiled, devices, limits);
    let per_call = Duration::from_secs(60 / u64::from(limits.calls_per_minute.max(1)));
    let _ = writeln!(
        out,
        "\nrate budget: {} {} per device, {} in all at {}/min (one call every {})",
        e.calls_per_device,
        plural(e.calls_per_device as usize, "call"),
        e.total_calls,
        limits.calls_per_minute,
        format_duration(per_call),
    );
    let _ = writeln!(
        out,
        "estimate for {devices} {}:",
        plural(devices as usize, "device")
    );
    let _ = writeln!(
        out,
        "  one device, calls back to back  {}",
        format_duration(e.device_chain)
    );
    let _ = writeln!(
        out,
        "  call rate bound                 {}",
        format_duration(e.rate_bound)
    );
    let _ = writeln!(
        out,
        "  session bound ({} sessions)     {}",
        limits.max_sessions,
        format_duration(e.session_bound)
    );
    let _ = writeln!(
        out,
        "  wall time                       about {} (limited by {})",
        format_duration(e.wall_time),
        e.bottleneck()
    );
    out
}

fn describe(text: Option<&str>) -> String {
    text.map(|t| format!(": {t}")).unwrap_or_default()
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}
