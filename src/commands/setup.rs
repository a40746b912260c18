//! `setup`: the flags read and checked into a [`SetupRequest`], the core's idempotent set-up of
//! the whole Binary Authorization chain run within the deadline, and what it did printed with
//! the `sign` line to use.

use super::{print, Context, Report};
use crate::algorithm::SigningAlgorithm;
use crate::attest::{self, keys::LocalKey, setup::KeyArg, setup::SetupRequest};
use crate::cli::SetupArgs;
use crate::error::{Error, Result};
use crate::names::{CryptoKeyName, NoteName};
use crate::report::Output;

/// The top-level entry point for `setup`.
pub async fn run(ctx: &Context, args: &SetupArgs) -> Report {
    match ctx.within_deadline(setup(ctx, args)).await {
        Ok(names) => Report::new(Output::Named(names), Ok(())),
        Err(e) => Report::plain(Err(e)),
    }
}

/// Sets the chain up and prints what it did; returns the names a CI hands on (attestor,
/// key-version or key-id, note).
async fn setup(ctx: &Context, args: &SetupArgs) -> Result<Vec<(String, String)>> {
    let attestor = args.attestor.name()?;
    let key = match (&args.kms_key, &args.pkix_public_key, &args.pgp_public_key) {
        (Some(kms), None, None) => Some(KeyArg::Kms(
            CryptoKeyName::parse(kms)?,
            algorithm(args.algorithm.as_deref().unwrap_or("ec-sign-p256-sha256"))?,
        )),
        (None, Some(pem), None) => Some(KeyArg::Local(LocalKey::pkix(
            pem,
            args.algorithm.as_deref(),
        )?)),
        (None, None, Some(armored)) => Some(KeyArg::Local(LocalKey::pgp(armored)?)),
        // No key: an existing attestor keeps the keys it holds; setup then makes the grants
        // and the policy only (`--policy enforce` on a PKIX/PGP attestor).
        (None, None, None) => None,
        _ => {
            return Err(Error::Usage(
                "pass one key: --kms-key, --pkix-public-key or --pgp-public-key".into(),
            ))
        }
    };
    let note = args.note.as_deref().map(NoteName::parse).transpose()?;
    for signer in &args.signers {
        check_member(signer)?;
    }
    let request = SetupRequest {
        attestor,
        key,
        note,
        signers: args.signers.clone(),
        policy: args.policy,
        plan: args.plan,
    };
    let (summary, names) = attest::setup::setup(ctx, request).await?;
    print(args.output, &[summary], |s| {
        let mut text = String::new();
        for c in &s.changes {
            text += &format!("{:<13} {:<9} {}", c.action, c.what, c.resource);
            if !c.detail.is_empty() {
                text += &format!(" ({})", c.detail);
            }
            text += "\n";
        }
        if s.plan {
            text += "\n--plan: nothing was written.\n";
        }
        text += &format!(
            "\nSign with:\n  {}\n\nCI inputs (GitHub Actions `with:`, Tekton params, GitLab/Jenkins BINAUTHZ_* variables):\n{}",
            s.sign,
            s.ci_inputs
                .lines()
                .map(|l| format!("  {l}\n"))
                .collect::<String>()
        );
        text
    })?;
    Ok(names)
}

/// `ec-sign-p256-sha256` or `EC_SIGN_P256_SHA256`, a KMS signing algorithm Binary
/// Authorization accepts.
fn algorithm(input: &str) -> Result<SigningAlgorithm> {
    let name = input.trim().to_ascii_uppercase().replace('-', "_");
    SigningAlgorithm::from_kms(&name).ok_or_else(|| {
        Error::Usage(format!(
            "--algorithm {input} is not a KMS signing algorithm Binary Authorization accepts: use e.g. ec-sign-p256-sha256, ec-sign-p384-sha384, rsa-sign-pkcs1-4096-sha512, rsa-sign-pss-2048-sha256"
        ))
    })
}

/// An IAM member as Google writes them (`serviceAccount:`, `user:`, `group:`, `principal://`,
/// `principalSet://`).
fn check_member(member: &str) -> Result<()> {
    let ok = ["user:", "serviceAccount:", "group:", "domain:"]
        .iter()
        .any(|p| member.strip_prefix(p).is_some_and(|r| !r.is_empty()))
        || member.starts_with("principal://")
        || member.starts_with("principalSet://");
    ok.then_some(()).ok_or_else(|| {
        Error::Usage(format!(
            "--signer {member} is not an IAM member: write serviceAccount:EMAIL, user:EMAIL, group:EMAIL, principal://... or principalSet://... (a Workload Identity Federation principal)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_read_as_gcloud_or_kms_writes_them() {
        assert_eq!(
            algorithm("ec-sign-p256-sha256").unwrap().kms_name,
            "EC_SIGN_P256_SHA256"
        );
        assert_eq!(
            algorithm("RSA_SIGN_PSS_2048_SHA256").unwrap().binauthz_name,
            "RSA_PSS_2048_SHA256"
        );
        assert!(algorithm("google-symmetric-encryption").is_err());
    }

    #[test]
    fn signers_must_be_iam_members() {
        for ok in [
            "serviceAccount:ci@p.iam.gserviceaccount.com",
            "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ci/*",
        ] {
            assert!(check_member(ok).is_ok(), "{ok}");
        }
        for bad in ["ci@p.iam.gserviceaccount.com", "serviceAccount:", ""] {
            assert!(check_member(bad).is_err(), "{bad}");
        }
    }
}
