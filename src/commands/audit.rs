//! `audit`: the Binary Authorization events of a project's Cloud Audit Logs (`audit.rs` reads
//! them), as a table, JSON, CI outputs and a step summary; `--fail-on` makes it a gate.

use super::{print, Context, Report};
use crate::attest::after_deploy;
use crate::audit::{self, Event, Kind};
use crate::cli::AuditArgs;
use crate::error::{Error, Result};
use crate::policy::Platform;

/// The top-level entry point for `audit`.
pub async fn run(ctx: &Context, args: &AuditArgs) -> Report {
    let events = match ctx.within_deadline(read(ctx, args)).await {
        Ok(events) => events,
        Err(e) => return Report::plain(Err(e)),
    };
    let counts = audit::counts(&events);
    let printed = print(args.output, &events, line);
    // Counts go to stderr in text mode's spirit: stdout stays the rows (or the JSON array).
    eprintln!(
        "{}",
        counts
            .iter()
            .map(|(k, n)| format!("{}: {n}", k.text()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let found: Vec<String> = counts
        .iter()
        .filter(|(k, n)| *n > 0 && args.fail_on.contains(k))
        .map(|(k, n)| format!("{n} {}", plural(*k, *n)))
        .collect();
    let fail_on: Vec<&str> = args
        .fail_on
        .iter()
        .map(|k| match k {
            Kind::Denied => "denied",
            Kind::DryRun => "dryrun",
            Kind::Breakglass => "breakglass",
        })
        .collect();
    let mut outputs = vec![(
        "json".to_string(),
        serde_json::to_string(&events).unwrap_or_default(),
    )];
    for (k, n) in counts {
        let name = match k {
            Kind::Denied => "denied",
            Kind::DryRun => "dry-run",
            Kind::Breakglass => "breakglass",
        };
        outputs.push((name.to_string(), n.to_string()));
    }
    let warnings = events
        .iter()
        .filter(|e| e.kind == Kind::Breakglass)
        .map(|e| {
            format!(
                "breakglass deploy of {} by {} at {}: {}",
                e.service, e.principal, e.time, e.justification
            )
        })
        .collect();
    Report {
        output: crate::report::Output::Named(outputs),
        result: printed.and(match found.is_empty() {
            true => Ok(()),
            false => Err(Error::AuditEvents {
                project: args.project.clone(),
                found: found.join(" and "),
                fail_on: fail_on.join(","),
            }),
        }),
        summary: Some(summary(&args.project, &events)),
        warnings,
    }
}

fn plural(k: Kind, n: usize) -> String {
    match n {
        1 => format!("{} event", k.text()),
        _ => format!("{} events", k.text()),
    }
}

/// Both platforms' events (or the one asked for), oldest first.
async fn read(ctx: &Context, args: &AuditArgs) -> Result<Vec<Event>> {
    let since = audit::since(&args.since, std::time::SystemTime::now())
        .map_err(|why| Error::Usage(format!("--since {why}")))?;
    let logging = after_deploy::logging(ctx).await?;
    let platforms = match args.platform {
        Some(p) => vec![p],
        None => vec![Platform::Cloudrun, Platform::Gke],
    };
    let mut events = Vec::new();
    for platform in platforms {
        let filter = audit::filter(platform, &since, args.service.as_deref());
        let entries = logging.list(&args.project, &filter).await?;
        events.extend(entries.iter().filter_map(|e| audit::classify(platform, e)));
    }
    events.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(events)
}

/// One row for people.
fn line(e: &Event) -> String {
    let why = match e.kind {
        Kind::Breakglass => format!("justification: {}", e.justification),
        _ => e.reason.clone(),
    };
    format!(
        "{}  {:<10} {:<18} {}  {}  by {}: {}\n",
        e.time,
        e.service,
        e.kind.text(),
        e.images.join(", "),
        e.revision,
        e.principal,
        why
    )
}

/// The step-summary table.
fn summary(project: &str, events: &[Event]) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace(['\n', '\r'], " ");
    let mut out = format!(
        "### Binary Authorization audit of {project}\n\n{}\n\n| Time | Platform | Service | Image | Kind | Reason | Justification | Principal |\n|---|---|---|---|---|---|---|---|\n",
        audit::counts(events)
            .iter()
            .map(|(k, n)| format!("{}: {n}", k.text()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for e in events {
        out += &format!(
            "| {} | {} | {} | `{}` | {} | {} | {} | {} |\n",
            e.time,
            format!("{:?}", e.platform).to_lowercase(),
            cell(&e.service),
            cell(&e.images.join(", ")),
            e.kind.text(),
            cell(&e.reason),
            cell(&e.justification),
            cell(&e.principal)
        );
    }
    out
}
