//! The library core: every pipeline and judgement a verb runs, with typed requests and results,
//! and the client wiring they share. `commands/` is thin glue over it (flags in, output out);
//! the core reaches Google (`gcp/`), the registry (`registry.rs`) and the signers (`signer/`),
//! and knows no CI (what the CI layer found comes in through the [`Context`]).
//!
//! go-containerregistry keeps `pkg/crane` as the library and `cmd/crane` as thin glue; this is
//! that split.

/// Cloud Logging and Cloud Run clients for `audit` and `policy check --running`.
pub mod after_deploy;
/// A client built on another task, waited for at its first use.
pub mod building;
/// The wiring a run shares: options, credentials, the deadline.
pub mod context;
/// `sign --cosign` without an attestor: cosign signatures alone, no Binary Authorization call.
pub mod cosign_sign;
/// The cosign judgement: signatures in both storage forms judged against one key.
pub mod cosign_verify;
/// The filing protocol of one attestation: look before filing again, settle a lost create.
mod create;
/// Local key files: the OpenPGP passphrase and the permission warning.
pub mod keyfiles;
/// Attestor key entries for KMS versions and keys the team holds (setup, rotate).
pub mod keys;
/// The policy judgement: what admission would decide for each image or manifest container.
pub mod policy_check;
/// Rotation of an attestor's key, with re-attestation through the sign pipeline.
pub mod rotate;
/// The whole chain set up, idempotently.
pub mod setup;
/// The batch sign pipeline.
pub mod sign;
/// The verify judgement.
pub mod verify;

pub use context::{Context, Mask};
