//! Rotation: move an attestor from an old key to a new one without a window where deploys fail
//! (Binary Authorization accepts an attestation when "one of the specified public keys" of the
//! attestor verifies it, so both keys are trusted while images are re-attested:
//! `UserOwnedGrafeasNote.publicKeys`,
//! <https://cloud.google.com/binary-authorization/docs/reference/rest/v1/projects.attestors#userownedgrafeasnote>).
//! Steps, each idempotent:
//! add the new key (creating a KMS version that does not exist yet); with `reattest`, sign
//! every image the old key attested with the new key through the sign pipeline, at most
//! `rate` per second; with `retire_old`, remove the old key only when every image it
//! attested carries a valid attestation by the new key. A rerun after an interruption skips
//! what is done, so nothing is filed twice.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use google_cloud_kms_v1::model::crypto_key_version::CryptoKeyVersionState;
use google_cloud_kms_v1::model::CryptoKeyVersion;
use serde::Serialize;

use super::keys::{kms_entry, Entry, LocalKey};
use super::setup::Change;
use super::sign::{self, KeySource, Platforms, SignRequest};
use super::Context;
use crate::attestation;
use crate::error::{Error, Result};
use crate::gcp::binauthz::{Binauthz, StoredAttestor};
use crate::gcp::grafeas::Grafeas;
use crate::gcp::kms::Kms;
use crate::gcp::Endpoints;
use crate::model::{Attestation, Attestor, TrustedKey};
use crate::names::{AttestorName, KeyVersionName};
use crate::progress::Progress;
use crate::reference::ImageRef;
use crate::report::Status;

/// A key as `--from` / `--to` name it.
pub enum KeyRef {
    /// A KMS key version.
    Kms(KeyVersionName),
    /// An OpenPGP key by its fingerprint (40 hex digits).
    Fingerprint(String),
    /// A PKIX or OpenPGP public key file.
    File(LocalKey),
}

impl KeyRef {
    /// `input` as `flag` gives it: a KMS key version, a PGP fingerprint or a key file
    /// (PKIX with `algorithm` when given).
    pub fn parse(input: &str, flag: &str, algorithm: Option<&str>) -> Result<KeyRef> {
        let input = input.trim();
        if input.starts_with("projects/") || input.starts_with("//") {
            return KeyVersionName::parse(input).map(KeyRef::Kms);
        }
        let hex = input.replace(' ', "");
        if hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(KeyRef::Fingerprint(hex.to_ascii_uppercase()));
        }
        let path = std::path::Path::new(input);
        let text = crate::bounded::read_to_string(path, crate::bounded::KEY_FILE).map_err(|e| {
            Error::Usage(format!(
                "{flag} {input}: not a KMS key version (projects/.../cryptoKeyVersions/N), a PGP fingerprint (40 hex digits) or a readable key file ({})",
                e.kind()
            ))
        })?;
        if text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
            LocalKey::pgp(path).map(KeyRef::File)
        } else {
            LocalKey::pkix(path, algorithm).map(KeyRef::File)
        }
    }

    /// True for the attestor entry that holds this key.
    fn holds(&self, entry: &TrustedKey) -> bool {
        match self {
            KeyRef::Kms(version) => version.is_named_by(&entry.id),
            KeyRef::Fingerprint(f) => entry.id.eq_ignore_ascii_case(f),
            KeyRef::File(local) => (local.entry().holds)(entry),
        }
    }

    /// True when a signature filed under `id` is by this key, even once the key has left the
    /// attestor (the id Binary Authorization gives it).
    fn names(&self, id: &str) -> bool {
        match self {
            KeyRef::Kms(version) => version.is_named_by(id),
            KeyRef::Fingerprint(f) => id.eq_ignore_ascii_case(f),
            KeyRef::File(LocalKey::Pgp { fingerprint, .. }) => id.eq_ignore_ascii_case(fingerprint),
            KeyRef::File(LocalKey::Pkix { pem, .. }) => id == super::keys::ni_id(pem),
        }
    }

    /// The key as messages name it.
    pub fn shown(&self) -> String {
        match self {
            KeyRef::Kms(version) => version.to_string(),
            KeyRef::Fingerprint(f) => format!("OpenPGP key {f}"),
            KeyRef::File(local) => local.entry().shown,
        }
    }
}

/// What `rotate` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub(crate) plan: bool,
    attestor: String,
    from: String,
    to: String,
    pub(crate) changes: Vec<Change>,
    /// Images the old key attested.
    images: usize,
    /// Of those, the ones with no valid attestation by the new key at the end.
    pub(crate) pending: Vec<String>,
    /// What re-attesting met beside its results (a duplicate left after a lost answer), for
    /// the CI layer's warnings.
    #[serde(skip)]
    pub(crate) warnings: Vec<String>,
}

/// What to rotate: the command line, parsed and checked.
pub struct RotateRequest {
    /// The attestor.
    pub attestor: AttestorName,
    /// `--from`: the key to move away from.
    pub from: KeyRef,
    /// `--to`: the key to move to.
    pub to: KeyRef,
    /// `--plan`: only read.
    pub plan: bool,
    /// `--reattest`: sign what the old key attested with the new key.
    pub reattest: bool,
    /// `--retire-old`: remove the old key once nothing depends on it alone.
    pub retire_old: bool,
    /// `--rate`: re-attestations a second.
    pub rate: u32,
    /// `--pkix-private-key`: the new PKIX key's private half, for `--reattest`.
    pub pkix_private_key: Option<std::path::PathBuf>,
    /// `--pgp-private-key`: the new OpenPGP key's secret half, for `--reattest`.
    pub pgp_private_key: Option<std::path::PathBuf>,
    /// `--pgp-passphrase-file`.
    pub pgp_passphrase_file: Option<std::path::PathBuf>,
}

/// A rotation's clients, one per API, and what it reports.
struct Rotation<'a> {
    args: &'a RotateRequest,
    kms: Kms,
    binauthz: Binauthz,
    grafeas: Grafeas,
    /// The KMS host key ids name (`//HOST/v1/...`).
    kms_host: String,
    name: AttestorName,
    changes: Vec<Change>,
}

impl Rotation<'_> {
    fn record(&mut self, what: &'static str, resource: &str, done: bool, detail: String) {
        let action = match (done, self.args.plan) {
            (false, _) => "unchanged",
            (true, true) => "would change",
            (true, false) => "changed",
        };
        self.changes.push(Change {
            what,
            resource: resource.to_string(),
            action,
            detail,
        });
    }

    /// The attestor as stored, for read-modify-write with its etag.
    async fn stored(&self) -> Result<StoredAttestor> {
        self.binauthz
            .stored_attestor(&self.name)
            .await?
            .ok_or_else(|| Error::AttestorNotFound {
                attestor: self.name.to_string(),
            })
    }

    /// The entry for the new key: for a KMS version, created first when it does not exist
    /// (KMS numbers versions itself, so only the key's next number can be asked for).
    async fn new_entry(&mut self, to: &KeyRef, stored: &StoredAttestor) -> Result<Option<Entry>> {
        match to {
            KeyRef::File(local) => Ok(Some(local.entry())),
            KeyRef::Fingerprint(f) => {
                match stored.keys().iter().any(|k| to.holds(k)) {
                    true => Ok(None),
                    false => Err(Error::Usage(format!(
                        "--to {f}: attestor {} does not hold this OpenPGP key; give its public key file (gpg --armor --export {f} > key.asc; --to key.asc) so rotate can add it",
                        self.name
                    ))),
                }
            }
            KeyRef::Kms(version) => {
                let found = match self.kms.version(version).await? {
                    Some(found) => found,
                    None => match self.create_version(version).await? {
                        Some(created) => created,
                        None => return Ok(None), // --plan: it would be created
                    },
                };
                self.wait_enabled(version, found).await?;
                // getPublicKey names the version's algorithm; one that cannot sign is refused.
                let public = self.kms.public_key(version).await?;
                Ok(Some(kms_entry(
                    &self.kms_host,
                    version.as_str(),
                    Some(&public.pem),
                    public.algorithm,
                )))
            }
        }
    }

    /// Creates `version` (createCryptoKeyVersion) when it is its key's next number; None with
    /// `--plan`.
    async fn create_version(
        &mut self,
        version: &KeyVersionName,
    ) -> Result<Option<CryptoKeyVersion>> {
        let (key, number) = version.key_and_version();
        let next = next_number(&self.kms.versions(key).await?);
        if number.parse::<u64>().ok() != Some(next) {
            return Err(Error::KeyVersionNotFound {
                key: format!(
                    "{version} (KMS numbers new versions itself: the next one of {key} is {next})"
                ),
            });
        }
        self.record(
            "version",
            version.as_str(),
            true,
            "create (KMS createCryptoKeyVersion)".into(),
        );
        if self.args.plan {
            return Ok(None);
        }
        // https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys.cryptoKeyVersions/create
        let created = self.kms.create_version(key).await?;
        if created.name != version.as_str() {
            let made = match created.name.is_empty() {
                true => "another version",
                false => created.name.as_str(),
            };
            return Err(Error::Rejected {
                action: format!("create {version}"),
                reason: format!(
                    "KMS created {made} instead (another version was created meanwhile)"
                ),
            });
        }
        Ok(Some(created))
    }

    /// Waits while KMS generates the version (PENDING_GENERATION); it must end ENABLED.
    async fn wait_enabled(
        &self,
        version: &KeyVersionName,
        mut found: CryptoKeyVersion,
    ) -> Result<()> {
        while found.state == CryptoKeyVersionState::PendingGeneration {
            tokio::time::sleep(Duration::from_millis(200)).await;
            found = self
                .kms
                .version(version)
                .await?
                .ok_or_else(|| Error::KeyVersionNotFound {
                    key: version.to_string(),
                })?;
        }
        if found.state != CryptoKeyVersionState::Enabled {
            return Err(Error::KeyNotForSigning {
                key: version.to_string(),
                reason: format!(
                    "it is {}, not ENABLED",
                    found.state.name().unwrap_or("in no state")
                ),
            });
        }
        Ok(())
    }

    /// The images (REPO@DIGEST) the old key attested, and those of them with no valid
    /// attestation by the new key (whose entry is `new_id` on `attestor`).
    async fn progress_of(
        &self,
        from: &KeyRef,
        attestor: &Attestor,
        new_id: Option<&str>,
    ) -> Result<(BTreeSet<String>, Vec<String>)> {
        let filed = self.grafeas.all_attestations(&attestor.note).await?;
        let image_of = |a: &Attestation| {
            a.resource_uri
                .strip_prefix("https://")
                .unwrap_or(&a.resource_uri)
                .to_string()
        };
        let attested: BTreeSet<String> = filed
            .iter()
            .filter(|a| a.signatures.iter().any(|(id, _)| from.names(id)))
            .map(image_of)
            .collect();
        let by_new = |image: &String| {
            filed.iter().any(|a| {
                image_of(a) == *image
                    && new_id.is_some_and(|new| {
                        attestation::check(a, attestor, image).is_ok_and(|id| id == new)
                    })
            })
        };
        let pending = attested.iter().filter(|i| !by_new(i)).cloned().collect();
        Ok((attested, pending))
    }

    /// What signs for the new key, when `--reattest` can sign with it.
    fn new_signer(&self, to: &KeyRef) -> Result<KeySource> {
        match (to, &self.args.pkix_private_key, &self.args.pgp_private_key) {
            (KeyRef::Kms(version), _, _) => Ok(KeySource::Kms(version.clone())),
            (KeyRef::File(LocalKey::Pkix { .. }), Some(path), None) => {
                Ok(KeySource::Pkix(path.clone(), None))
            }
            (KeyRef::File(LocalKey::Pgp { .. }) | KeyRef::Fingerprint(_), None, Some(path)) => Ok(
                KeySource::Pgp(path.clone(), self.args.pgp_passphrase_file.clone()),
            ),
            (KeyRef::File(LocalKey::Pkix { .. }), _, _) => Err(Error::Usage(
                "--reattest with a PKIX key file as --to signs with its private half: pass --pkix-private-key FILE".into(),
            )),
            _ => Err(Error::Usage(
                "--reattest with a PGP key as --to signs with its private half: pass --pgp-private-key FILE".into(),
            )),
        }
    }
}

/// Runs the rotation's steps (each skipped when done); returns what changed and what is pending.
pub async fn rotate(ctx: &Context, args: &RotateRequest, progress: &Progress) -> Result<Summary> {
    let (name, from, to) = (&args.attestor, &args.from, &args.to);

    if from.shown() == to.shown() {
        return Err(Error::Usage(format!(
            "--from and --to both name {}: rotate to another key",
            to.shown()
        )));
    }
    let auth = ctx.auth()?;
    let endpoints = Endpoints::from_env();
    auth.warm().await?;
    let mut r = Rotation {
        args,
        kms: Kms::new(&auth, &endpoints).await?,
        binauthz: Binauthz::new(&auth, &endpoints).await?,
        grafeas: Grafeas::new(&auth, &endpoints).await?,
        kms_host: endpoints.kms_host(),
        name: name.clone(),
        changes: Vec::new(),
    };
    if args.reattest {
        r.new_signer(to)?;
    }

    // 1. The new key on the attestor (a KMS version created first when missing).
    let mut stored = r.stored().await?;
    let entry = r.new_entry(to, &stored).await?;
    let keys = stored.keys();
    let held = keys.iter().any(|k| to.holds(k));
    if !keys.iter().any(|k| from.holds(k)) && !held {
        return Err(Error::Usage(format!(
            "attestor {name} holds neither --from {} nor --to {}: check the attestor and the keys",
            from.shown(),
            to.shown()
        )));
    }
    match (&entry, held) {
        (Some(entry), false) => {
            if !args.plan {
                stored.add_key(&entry.key);
                let action = format!("add {} to attestor {name}", entry.shown);
                r.binauthz.update_attestor(&stored, action).await?;
            }
            r.record(
                "attestor",
                &name.to_string(),
                true,
                format!("add key {}", entry.shown),
            );
        }
        (None, false) => r.record(
            "attestor",
            &name.to_string(),
            true,
            format!("add key {}", to.shown()),
        ),
        (_, true) => r.record(
            "attestor",
            &name.to_string(),
            false,
            format!("holds key {}", to.shown()),
        ),
    }

    // The attestor as the checks see it, and the new key's id on it.
    let attestor = r.binauthz.attestor(name).await?;
    let new_id = r
        .stored()
        .await?
        .keys()
        .into_iter()
        .find(|k| to.holds(k))
        .map(|k| k.id);
    let (attested, mut pending) = r.progress_of(from, &attestor, new_id.as_deref()).await?;
    let mut warnings = Vec::new();

    // 2. Re-attest what the new key does not attest yet, N per second.
    if args.reattest && !pending.is_empty() {
        r.record(
            "images",
            &attestor.note.to_string(),
            true,
            format!(
                "re-attest {} of {} image(s) with {}",
                pending.len(),
                attested.len(),
                to.shown()
            ),
        );
        if !args.plan {
            warnings = reattest(ctx, &r, to, name, &pending, progress).await?;
            pending = r.progress_of(from, &attestor, new_id.as_deref()).await?.1;
        }
    } else {
        r.record(
            "images",
            &attestor.note.to_string(),
            false,
            format!(
                "{} of {} image(s) attested by the old key have a valid attestation by the new key",
                attested.len() - pending.len(),
                attested.len()
            ),
        );
    }

    // 3. Retire the old key, only when nothing it attested depends on it alone.
    if args.retire_old {
        let mut stored = r.stored().await?;
        let old_held = stored.keys().iter().any(|k| from.holds(k));
        if old_held && !pending.is_empty() && !(args.plan && args.reattest) {
            return Err(Error::RotateIncomplete {
                attestor: name.to_string(),
                key: from.shown(),
                count: pending.len(),
                images: pending.join(", "),
            });
        }
        if old_held && !args.plan {
            stored.retain_keys(|k| !from.holds(k));
            let action = format!("remove {} from attestor {name}", from.shown());
            r.binauthz.update_attestor(&stored, action).await?;
        }
        r.record(
            "attestor",
            &name.to_string(),
            old_held,
            match old_held {
                true => format!("remove key {}", from.shown()),
                false => format!("no longer holds {}", from.shown()),
            },
        );
    }

    let summary = Summary {
        plan: args.plan,
        attestor: name.to_string(),
        from: from.shown(),
        to: to.shown(),
        changes: r.changes,
        images: attested.len(),
        pending,
        warnings,
    };
    Ok(summary)
}

/// The number KMS gives a key's next version: one past its highest.
fn next_number(versions: &[CryptoKeyVersion]) -> u64 {
    let highest = versions
        .iter()
        .filter_map(|v| v.name.rsplit('/').next()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    highest + 1
}

/// Signs `images` with the new key through `sign`'s pipeline (digest check, local signature
/// check, look before create), in batches of `--rate` a second. An image the new key already
/// attests is found, not filed again.
async fn reattest(
    ctx: &Context,
    r: &Rotation<'_>,
    to: &KeyRef,
    name: &AttestorName,
    images: &[String],
    progress: &Progress,
) -> Result<Vec<String>> {
    let refs = images
        .iter()
        .map(|i| ImageRef::parse(i))
        .collect::<Result<Vec<_>>>()?;
    let mut request = SignRequest {
        images: Vec::new(),
        attestor: Some(name.clone()),
        key: r.new_signer(to)?,
        project: None,
        dry_run: false,
        platforms: Platforms::IndexOnly,
        expect_digest: None,
        source: None,
        fail_fast: false,
        only_by_signing_key: true,
        // The new key re-signs the raw payload; cosign signatures are not rotate's business.
        pae: None,
        cosign: None,
    };
    request.images = refs.clone();
    let services = sign::services(ctx, &request).await?;
    let finished = Mutex::new(Vec::new());
    progress.start_fixed(refs.len());
    let rate = r.args.rate as usize;
    let (mut failed, mut warnings) = (Vec::new(), Vec::new());
    for chunk in refs.chunks(rate) {
        let began = Instant::now();
        request.images = chunk.to_vec();
        let outcomes = sign::sign(
            &services,
            &request,
            ctx.concurrency.min(rate),
            &finished,
            progress,
        )
        .await?;
        warnings.extend(outcomes.iter().flat_map(|o| o.warnings.iter().cloned()));
        failed.extend(outcomes.into_iter().filter(|o| o.status == Status::Failed));
        if let Some(rest) = Duration::from_secs(1).checked_sub(began.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    match failed.first() {
        None => Ok(warnings),
        Some(first) => Err(Error::ImagesFailed {
            failed: failed.len(),
            total: refs.len(),
            worst: first
                .error
                .as_ref()
                .map(|e| e.message.clone())
                .unwrap_or_default(),
            exit_code: failed
                .iter()
                .filter_map(|o| o.error.as_ref().map(|e| e.exit_code))
                .max()
                .unwrap_or(crate::error::exit::OTHER),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_version_is_one_past_the_highest_number() {
        let named = |n: &str| {
            CryptoKeyVersion::new().set_name(format!(
                "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/{n}"
            ))
        };
        assert_eq!(next_number(&[named("2"), named("10"), named("9")]), 11);
        assert_eq!(next_number(&[]), 1);
    }
}
