//! `sign`: the flags read into a [`SignRequest`], the core's batch pipeline run within the
//! deadline, what finished printed, and the commit status posted.

use std::sync::Mutex;

use super::{print, read_images_file, Context, Report};
use crate::algorithm::SigningAlgorithm;
use crate::attest::sign::{
    self, post_status, services, worst_failure, KeySource, Platforms, SignRequest,
};
use crate::attestation;
use crate::cli::SignArgs;
use crate::error::{Error, Result};
use crate::names::{self, KeyVersionName};
use crate::progress::Progress;
use crate::reference::{Digest, ImageRef};
use crate::report::Output;

/// The top-level entry point for `sign`: wires the clients, runs the pipeline, prints what was
/// done (also what finished before a failure or the deadline), posts the commit status.
pub async fn run(ctx: &Context, args: &SignArgs) -> Report {
    let finished = Mutex::new(Vec::new());
    let progress = Progress::for_stderr();
    let mut warnings = Vec::new();
    let work = async {
        let request = request(args).await?;
        if request.attestor.is_some() {
            warnings = outside_google_warnings(ctx, &request.images);
        }
        match (&request.attestor, request.cosign) {
            // No attestor: cosign signatures only, and no Binary Authorization call.
            (None, Some(form)) => {
                let services = sign::cosign_services(ctx, &request).await?;
                crate::attest::cosign_sign::sign(
                    &services,
                    &request,
                    form,
                    ctx.concurrency,
                    &finished,
                    &progress,
                )
                .await
            }
            _ => {
                let services = services(ctx, &request).await?;
                sign::sign(&services, &request, ctx.concurrency, &finished, &progress).await
            }
        }
    };
    let result = ctx.within_deadline(work).await;
    progress.end();
    let outcomes = match &result {
        Ok(outcomes) => outcomes.clone(),
        Err(_) => finished.into_inner().unwrap_or_else(|e| e.into_inner()),
    };
    let printed = if result.is_ok() || !outcomes.is_empty() {
        print(args.output, &outcomes, |o| o.line() + "\n")
    } else {
        Ok(())
    };
    let mut result = result.and(printed).and_then(|()| worst_failure(&outcomes));
    if let (Ok(()), Some(target)) = (&result, &ctx.commit_status) {
        result = ctx.within_deadline(post_status(target, &outcomes)).await;
    }
    warnings.extend(outcomes.iter().flat_map(|o| o.warnings.iter().cloned()));
    let mut report = Report::new(Output::Signed(outcomes), result);
    report.warnings = warnings;
    report
}

/// A warning for each image outside Google's registries: Cloud Run and GKE pull from Artifact
/// Registry (an attestation binds repository and digest, so one for a Nexus or Harbor
/// reference admits nothing deployed from Artifact Registry).
fn outside_google_warnings(ctx: &Context, images: &[ImageRef]) -> Vec<String> {
    images
        .iter()
        .filter(|i| !ctx.registry.takes_google_token(i.registry()))
        .map(|i| {
            format!(
                "{i} is not in Artifact Registry or gcr.io: Cloud Run and GKE check the \
                 attestation of the digest in the repository they deploy from, so this one only \
                 admits deploys from {}. Deploying from Artifact Registry? Push there and sign \
                 that reference, with --source {i} to refuse a copy whose digest changed",
                i.registry()
            )
        })
        .collect()
}

fn key_source(args: &SignArgs) -> Result<KeySource> {
    let algorithm = args
        .signature_algorithm
        .as_deref()
        .map(|name| {
            SigningAlgorithm::from_binauthz(&name.to_ascii_uppercase().replace('-', "_"))
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--signature-algorithm {name} is not one Binary Authorization accepts for PKIX keys"
                    ))
                })
        })
        .transpose()?;
    let local_pkix = args.pkix_private_key.is_some() || args.cosign_private_key.is_some();
    if algorithm.is_some() && !local_pkix {
        return Err(Error::Usage(
            "--signature-algorithm goes with --pkix-private-key or --cosign-private-key (a KMS or OpenPGP key names its own)".into(),
        ));
    }
    match (
        &args.kms_key_version,
        &args.pkix_private_key,
        &args.pgp_private_key,
        &args.cosign_private_key,
    ) {
        (Some(version), None, None, None) => Ok(KeySource::Kms(KeyVersionName::parse(version)?)),
        (None, None, Some(path), None) => Ok(KeySource::Pgp(
            path.clone(),
            args.pgp_passphrase_file.clone(),
        )),
        (None, Some(path), None, None) => Ok(KeySource::Pkix(path.clone(), algorithm)),
        (None, None, None, Some(path)) => Ok(KeySource::Cosign(
            path.clone(),
            args.cosign_password_file.clone(),
            algorithm,
        )),
        _ => Err(Error::Usage(
            "pass one key: --kms-key-version, --pkix-private-key, --cosign-private-key or --pgp-private-key".into(),
        )),
    }
}

async fn request(args: &SignArgs) -> Result<SignRequest> {
    let mut images = args.images.clone();
    if let Some(path) = &args.images_file {
        images.extend(read_images_file(path).await?);
        if images.is_empty() {
            return Err(Error::Usage(format!(
                "no images to sign: --images-file {} lists none (only blank lines and # comments); \
                 put one image per line",
                path.display()
            )));
        }
    }
    if images.is_empty() {
        return Err(Error::Usage(
            "no images to sign: pass IMAGE arguments, BINAUTHZ_IMAGES, or --images-file".into(),
        ));
    }
    // `--cosign sig IMAGE` reads `sig` as an image (the form needs `=`): say so, sign nothing.
    if let Some(form) = images
        .iter()
        .find(|i| {
            i.registry() == "docker.io"
                && i.tag().is_none()
                && i.digest().is_none()
                && ["sig", "bundle", "both"].contains(&i.repository())
        })
        .map(ImageRef::repository)
    {
        return Err(Error::Usage(format!(
            "`{form}` was read as an image: write the cosign form with `=`, --cosign={form}"
        )));
    }
    Ok(SignRequest {
        images,
        attestor: args.attestor.name()?,
        key: key_source(args)?,
        project: args
            .project
            .as_deref()
            .map(names::parse_project)
            .transpose()?,
        dry_run: args.dry_run,
        platforms: match (&args.platform, args.all_platforms) {
            (Some(p), false) => Platforms::One(p.clone()),
            (None, true) => Platforms::All,
            (None, false) => Platforms::IndexOnly,
            (Some(_), true) => {
                return Err(Error::Usage(
                    "--platform and --all-platforms exclude each other: pass one".into(),
                ))
            }
        },
        expect_digest: args
            .expect_digest
            .as_deref()
            .map(Digest::parse)
            .transpose()?,
        source: args.source.clone(),
        fail_fast: args.fail_fast,
        pae: args.pae.then(|| {
            args.dsse_type
                .clone()
                .unwrap_or_else(|| attestation::GCLOUD_DSSE_TYPE.to_string())
        }),
        cosign: args.cosign,
        only_by_signing_key: false,
    })
    .and_then(|request| {
        let single = request.images.len() == 1;
        if !single && (request.expect_digest.is_some() || request.source.is_some()) {
            return Err(Error::Usage(
                "--expect-digest and --source describe one image: pass exactly one IMAGE".into(),
            ));
        }
        Ok(request)
    })
}
