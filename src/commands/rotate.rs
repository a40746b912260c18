//! `rotate`: the flags read into a [`RotateRequest`] (the keys `--from` and `--to` name), the
//! core's rotation run within the deadline, and its steps printed as `setup` prints its own.

use super::{print, Context, Report};
use crate::attest::rotate::{rotate, KeyRef, RotateRequest, Summary};
use crate::cli::RotateArgs;
use crate::error::Result;
use crate::progress::Progress;

/// The top-level entry point for `rotate`.
pub async fn run(ctx: &Context, args: &RotateArgs) -> Report {
    let progress = Progress::for_stderr();
    let mut warnings = Vec::new();
    let work = async {
        let summary = rotate(ctx, &request(args)?, &progress).await?;
        warnings.clone_from(&summary.warnings);
        show(args, &summary)
    };
    let result = ctx.within_deadline(work).await;
    progress.end();
    let mut report = Report::plain(result);
    report.warnings = warnings;
    report
}

/// The flags, read into the core's request (key files are read here).
fn request(args: &RotateArgs) -> Result<RotateRequest> {
    Ok(RotateRequest {
        attestor: args.attestor.name()?,
        from: KeyRef::parse(&args.from, "--from", None)?,
        to: KeyRef::parse(&args.to, "--to", args.algorithm.as_deref())?,
        plan: args.plan,
        reattest: args.reattest,
        retire_old: args.retire_old,
        rate: args.rate,
        pkix_private_key: args.pkix_private_key.clone(),
        pgp_private_key: args.pgp_private_key.clone(),
        pgp_passphrase_file: args.pgp_passphrase_file.clone(),
    })
}

/// Prints the steps, what is pending, and whether anything was written.
fn show(args: &RotateArgs, summary: &Summary) -> Result<()> {
    print(args.output, std::slice::from_ref(summary), |s| {
        let mut text = String::new();
        for c in &s.changes {
            text += &format!("{:<13} {:<9} {}", c.action, c.what, c.resource);
            if !c.detail.is_empty() {
                text += &format!(" ({})", c.detail);
            }
            text += "\n";
        }
        if !s.pending.is_empty() {
            text += &format!(
                "\n{} image(s) not yet attested by the new key:\n",
                s.pending.len()
            );
            for image in &s.pending {
                text += &format!("  {image}\n");
            }
        }
        if s.plan {
            text += "\n--plan: nothing was written.\n";
        }
        text
    })
}
