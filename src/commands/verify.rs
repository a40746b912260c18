//! `verify`: the flags read into a [`VerifyRequest`], the core's verify and cosign judgements
//! run within the deadline, a verdict printed per image and attestor, and exit 5 unless every
//! image passes every attestor.

use super::{print, read_images_file, Context, Report};
use crate::attest::verify::{verify_all, VerifyRequest};
use crate::cli::{AttestorArgs, VerifyArgs};
use crate::error::{Error, Result};
use crate::report::{Judge, Output, Verdict};

/// The top-level entry point for `verify`: prints a verdict per image and attestor, hands the
/// CI `verified` and the verdicts, and exits 5 unless every image passes every attestor.
pub async fn run(ctx: &Context, args: &VerifyArgs) -> Report {
    let work = async { verify_all(ctx, &request(args).await?).await };
    let verdicts = ctx.within_deadline(work).await;
    let verdicts = match verdicts {
        Ok(verdicts) => verdicts,
        Err(e) => return Report::plain(Err(e)),
    };
    let printed = print(args.output, &verdicts, Verdict::line);
    let cosign = |v: &Verdict| matches!(v.judge, Judge::CosignKey(_));
    let failing: Vec<String> = verdicts
        .iter()
        .filter(|v| !v.verified && !cosign(v))
        .map(|v| format!("{} by {}", v.image_ref_or_image(), v.judge))
        .collect();
    let unsigned: Vec<String> = verdicts
        .iter()
        .filter(|v| !v.verified && cosign(v))
        .map(|v| v.image_ref_or_image().to_string())
        .collect();
    let result = printed.and(match (failing.is_empty(), unsigned.is_empty()) {
        (true, true) => Ok(()),
        (false, _) => Err(Error::NotAttested {
            missing: failing.join(", "),
        }),
        (true, false) => Err(Error::NotCosignSigned {
            key: args.cosign_key.clone().unwrap_or_default(),
            missing: unsigned.join(", "),
        }),
    });
    Report::new(Output::Verified(verdicts), result)
}

/// The flags, read and checked into the core's request.
async fn request(args: &VerifyArgs) -> Result<VerifyRequest> {
    let mut images = args.images.clone();
    if let Some(path) = &args.images_file {
        images.extend(read_images_file(path).await?);
        if images.is_empty() {
            return Err(Error::Usage(format!(
                "no images to verify: --images-file {} lists none (only blank lines and # comments); \
                 put one image per line",
                path.display()
            )));
        }
    }
    if images.is_empty() {
        return Err(Error::Usage(
            "no images to verify: pass IMAGE arguments or --images-file".into(),
        ));
    }
    let attestors = args
        .attestors
        .iter()
        // Each checked as the other verbs check theirs: a full name in another project than
        // --attestor-project is a contradiction, refused.
        .map(|a| {
            AttestorArgs {
                attestor: a.clone(),
                attestor_project: args.attestor_project.clone(),
            }
            .name()
        })
        .collect::<Result<Vec<_>>>()?;
    if attestors.is_empty() && args.cosign_key.is_none() {
        return Err(Error::Usage(
            "no attestor to verify against: pass --attestor (repeatable) or --cosign-key".into(),
        ));
    }
    Ok(VerifyRequest {
        images,
        attestors,
        dsse_type: args.dsse_type.clone(),
        cosign_key: args.cosign_key.clone(),
    })
}
