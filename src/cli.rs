//! The command line: clap derive, every flag also readable from a `BINAUTHZ_*` variable so CI
//! wrappers can pass settings through the environment.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::reference::ImageRef;

/// Sign container images for Google Binary Authorization.
#[derive(Debug, Parser)]
#[command(name = "binauthz-attest", version, about)]
pub struct Cli {
    /// Registry reached over plain HTTP instead of HTTPS (repeatable, or comma-separated in the
    /// variable). Write it as it appears in the image reference, e.g. 127.0.0.1:5000.
    #[arg(
        long = "insecure-registry",
        value_name = "HOST[:PORT]",
        env = "BINAUTHZ_INSECURE_REGISTRIES",
        value_delimiter = ',',
        global = true
    )]
    pub insecure_registries: Vec<String>,

    /// Registry that takes the Google access token, besides Artifact Registry (*.pkg.dev) and
    /// gcr.io, which always do (repeatable or comma-separated). Other registries never see it.
    #[arg(
        long = "google-registry",
        value_name = "HOST[:PORT]",
        env = "BINAUTHZ_GOOGLE_REGISTRIES",
        value_delimiter = ',',
        global = true
    )]
    pub google_registries: Vec<String>,

    /// Registry credentials file: a containers auth.json, a docker config.json or a mounted
    /// Kubernetes .dockerconfigjson Secret; the only file read when given. Without it:
    /// REGISTRY_AUTH_FILE, then the container tools' files ($XDG_RUNTIME_DIR/containers/auth.json,
    /// ~/.config/containers/auth.json, $DOCKER_CONFIG/config.json or ~/.docker/config.json).
    #[arg(
        long,
        value_name = "FILE",
        env = "BINAUTHZ_REGISTRY_AUTH_FILE",
        global = true
    )]
    pub registry_auth_file: Option<PathBuf>,

    /// File holding a Google OAuth2 access token (gcloud's variable, so one setting serves
    /// both). Without it: GOOGLE_OAUTH_ACCESS_TOKEN, then Application Default Credentials.
    #[arg(
        long,
        value_name = "FILE",
        env = "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
        global = true
    )]
    pub access_token_file: Option<PathBuf>,

    /// The CI running the step (default: detected from its variables; unknown CIs are local).
    #[arg(
        long,
        value_enum,
        value_name = "CI",
        env = "BINAUTHZ_CI",
        global = true
    )]
    pub ci: Option<crate::ci::CiName>,

    /// Also write the outputs as JSON to this file (Jenkins and Cloud Build read it; GitLab:
    /// the dotenv file, default binauthz-attest.env).
    #[arg(
        long,
        value_name = "FILE",
        env = "BINAUTHZ_OUTPUTS_FILE",
        global = true
    )]
    pub outputs_file: Option<PathBuf>,

    /// Images worked on at once, in every command: enough to hide latency, few enough to stay
    /// under API quotas.
    // 128: each image is three round trips, so at 32 a batch of 100 ran in four waves
    // (sequential depth 13; bench/RESULTS.md); 128 puts a batch of 100 in one. Quotas do not
    // set this number: Google's calls pass `pace.rs`, which halves how many are in flight at
    // each 429 (Cloud KMS enforces its hosting-project quotas by the second,
    // https://cloud.google.com/kms/quotas; Container Analysis publishes no number), so a lower
    // project quota slows a batch instead of failing it (tests/faults.rs, the 429 storm).
    #[arg(
        long,
        value_name = "N",
        env = "BINAUTHZ_CONCURRENCY",
        default_value_t = 128,
        value_parser = clap::value_parser!(u16).range(1..=256).map(usize::from),
        global = true
    )]
    pub concurrency: usize,

    /// The whole command's time budget, e.g. 90s, 5m, 1h30m. Past it the command stops with
    /// exit code 6, naming the call it was waiting for, after reporting what it finished.
    #[arg(
        long,
        value_name = "DURATION",
        env = "BINAUTHZ_TIMEOUT",
        default_value = "10m",
        value_parser = parse_duration,
        global = true
    )]
    pub timeout: Duration,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign images and file their Binary Authorization attestations (once: reruns find them).
    // Boxed: sign has by far the most flags (clippy::large_enum_variant).
    Sign(Box<SignArgs>),
    /// List the attestor's attestations for each image's digest and say whether Binary
    /// Authorization would accept them; exits 5 when an image has no valid one.
    Verify(VerifyArgs),
    /// Print each image's manifest digest as REPOSITORY@sha256:..., one per line, in order.
    ///
    /// A tag is resolved with one manifest HEAD; a digest is checked to exist in the registry.
    Digest {
        /// Images, e.g. us-docker.pkg.dev/PROJECT/REPO/IMAGE:TAG.
        #[arg(value_name = "IMAGE", required = true, value_parser = parse_image)]
        images: Vec<ImageRef>,

        /// Compare two images' digests (e.g. the same image in Nexus and in Artifact
        /// Registry): print both, exit 5 when they differ.
        #[arg(long, requires = "images")]
        compare: bool,
    },
    /// Create what is missing of the chain `sign` needs and check what exists: KMS key ring, key
    /// and version, note, attestor, least-privilege IAM for each --signer, optionally the
    /// policy. Idempotent: a rerun changes nothing. Ends with the `sign` line to use.
    Setup(SetupArgs),
    /// Move an attestor from one key to another without a window where deploys fail: add the
    /// new key, optionally re-attest every image the old key attested, then retire the old key
    /// only when all of them carry a valid attestation by the new key. Reruns continue where
    /// an interrupted run stopped.
    Rotate(RotateArgs),
    /// Print a shell completion script: `binauthz-attest completions bash > /etc/bash_completion.d/binauthz-attest`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `binauthz-attest man > binauthz-attest.1`.
    Man,
    /// Write the Binary Authorization signature payload for IMAGE@sha256:... to stdout, byte for
    /// byte what `gcloud container binauthz create-signature-payload` prints.
    Payload {
        /// The image, pinned by digest.
        #[arg(value_name = "IMAGE@DIGEST", value_parser = parse_image)]
        image: ImageRef,
    },
    /// Binary Authorization policies: `policy check` says whether a policy admits images,
    /// Cloud Run services and Kubernetes manifests, before the deploy.
    Policy {
        /// What to do with the policy.
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Rewrite every image in Cloud Run or Kubernetes manifests as REPO@DIGEST (the digest the
    /// registry serves now), the files otherwise byte for byte as they were.
    Pin(PinArgs),
    /// After the deploy: list what Binary Authorization refused, let through in dry run, or let
    /// through by breakglass, from the project's Cloud Audit Logs (Cloud Run and GKE), one row
    /// per event with counts per kind. Exits 0 (a report), or 5 with --fail-on when such
    /// events exist.
    Audit(AuditArgs),

    /// A Kubernetes validating admission webhook enforcing the Binary Authorization policy in
    /// any cluster (`POST /validate`, HTTPS): `policy check`'s decision at admission time, with
    /// attestations and cosign signatures as evidence. `admission certs` makes its certificate.
    // Boxed: the server has many flags (clippy::large_enum_variant).
    Admission(Box<AdmissionArgs>),
}

/// `admission`: serve, or `admission certs`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct AdmissionArgs {
    /// `certs`, or nothing to serve.
    #[command(subcommand)]
    pub command: Option<AdmissionCommand>,

    /// The server's options.
    #[command(flatten)]
    pub serve: AdmissionServeArgs,
}

/// `admission`'s verbs besides serving.
#[derive(Debug, Subcommand)]
pub enum AdmissionCommand {
    /// Write a CA and a serving certificate for SERVICE.NAMESPACE.svc (ca.crt, ca.key, tls.crt,
    /// tls.key), and print the caBundle for the ValidatingWebhookConfiguration.
    Certs(AdmissionCertsArgs),
}

/// The webhook server's options.
#[derive(Debug, Args)]
pub struct AdmissionServeArgs {
    /// Where to listen, HOST:PORT (port 0: any free port, printed in the `listening` log line).
    #[arg(
        long,
        value_name = "HOST:PORT",
        env = "BINAUTHZ_ADMISSION_ADDR",
        default_value = "0.0.0.0:8443"
    )]
    pub addr: String,

    /// The serving certificate chain (PEM), reloaded when the file changes.
    #[arg(
        long,
        value_name = "FILE",
        env = "BINAUTHZ_TLS_CERT_FILE",
        required = true
    )]
    pub tls_cert_file: Option<PathBuf>,

    /// Its private key (PEM), reloaded when the file changes.
    #[arg(
        long,
        value_name = "FILE",
        env = "BINAUTHZ_TLS_PRIVATE_KEY_FILE",
        required = true
    )]
    pub tls_private_key_file: Option<PathBuf>,

    /// The policy, as `gcloud container binauthz policy export` writes it; reloaded on change.
    #[arg(
        long,
        value_name = "FILE",
        env = "BINAUTHZ_POLICY_FILE",
        conflicts_with = "project",
        required_unless_present = "project"
    )]
    pub policy: Option<PathBuf>,

    /// Enforce this project's policy, read from Binary Authorization (and read again every
    /// minute); needs Google credentials.
    #[arg(long, value_name = "PROJECT", env = "BINAUTHZ_POLICY_PROJECT")]
    pub project: Option<String>,

    /// An attestor the policy names, as `gcloud container binauthz attestors describe
    /// ATTESTOR --format=json` prints it, or the same JSON listing your own PEM keys (a
    /// cosign.pub) (repeatable, or comma-separated in the variable); reloaded on change.
    /// Attestors not given by file are read from Binary Authorization.
    #[arg(
        long = "attestor-file",
        value_name = "FILE",
        env = "BINAUTHZ_ATTESTOR_FILES",
        value_delimiter = ','
    )]
    pub attestor_files: Vec<PathBuf>,

    /// The cluster, LOCATION.NAME, for the policy's clusterAdmissionRules.
    #[arg(long, value_name = "LOCATION.NAME", env = "BINAUTHZ_CLUSTER")]
    pub cluster: Option<String>,

    /// Each review is answered within this (shortened to the API server's own `?timeout=`):
    /// keep it below the webhook's timeoutSeconds. Evidence not read by then fails closed.
    #[arg(
        long,
        value_name = "DURATION",
        env = "BINAUTHZ_ADMISSION_REVIEW_TIMEOUT",
        default_value = "8s",
        value_parser = parse_duration
    )]
    pub review_timeout: Duration,

    /// How long a verified result is cached.
    #[arg(
        long,
        value_name = "DURATION",
        env = "BINAUTHZ_ADMISSION_CACHE_TTL",
        default_value = "5m",
        value_parser = parse_duration
    )]
    pub cache_ttl: Duration,

    /// How long a refusal is cached (short: a signature pushed after a refusal counts soon).
    #[arg(
        long,
        value_name = "DURATION",
        env = "BINAUTHZ_ADMISSION_CACHE_TTL_DENIED",
        default_value = "30s",
        value_parser = parse_duration
    )]
    pub cache_ttl_denied: Duration,

    /// Results cached at most.
    #[arg(
        long,
        value_name = "N",
        env = "BINAUTHZ_ADMISSION_CACHE_SIZE",
        default_value_t = 10_000
    )]
    pub cache_size: usize,

    /// After SIGTERM, keep answering (not ready) this long before closing, so the Service stops
    /// sending reviews first.
    #[arg(
        long,
        value_name = "DURATION",
        env = "BINAUTHZ_ADMISSION_SHUTDOWN_DELAY",
        default_value = "0s",
        value_parser = parse_delay
    )]
    pub shutdown_delay: Duration,
}

/// `admission certs`' options.
#[derive(Debug, Args)]
pub struct AdmissionCertsArgs {
    /// The webhook's Service name.
    #[arg(
        long,
        value_name = "NAME",
        env = "BINAUTHZ_ADMISSION_SERVICE",
        default_value = "binauthz-attest"
    )]
    pub service: String,

    /// Its namespace.
    #[arg(
        long,
        value_name = "NS",
        env = "BINAUTHZ_ADMISSION_NAMESPACE",
        default_value = "binauthz-attest"
    )]
    pub namespace: String,

    /// Another name for the certificate: a host name or an IP address (repeatable), e.g.
    /// 127.0.0.1 for a webhook registered by `clientConfig.url`.
    #[arg(
        long = "host",
        value_name = "NAME|IP",
        env = "BINAUTHZ_ADMISSION_HOSTS",
        value_delimiter = ','
    )]
    pub hosts: Vec<String>,

    /// Where to write ca.crt, ca.key, tls.crt and tls.key.
    #[arg(
        long,
        value_name = "DIR",
        env = "BINAUTHZ_ADMISSION_CERTS_DIR",
        default_value = "."
    )]
    pub out_dir: PathBuf,

    /// Days the certificates are valid.
    #[arg(long, value_name = "DAYS", env = "BINAUTHZ_ADMISSION_CERT_DAYS", default_value_t = 365,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,

    /// Replace existing files.
    #[arg(long)]
    pub force: bool,
}

/// A delay that may be zero (`0s`), else as [`parse_duration`].
fn parse_delay(s: &str) -> Result<Duration, String> {
    match s.trim() {
        "0" | "0s" => Ok(Duration::ZERO),
        _ => parse_duration(s),
    }
}

/// `audit`'s options.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The project whose audit logs are read.
    #[arg(long, value_name = "PROJECT", env = "BINAUTHZ_AUDIT_PROJECT")]
    pub project: String,

    /// How far back: a duration (90m, 12h, 7d, 2w) or an RFC 3339 time.
    #[arg(
        long,
        value_name = "WHEN",
        default_value = "7d",
        env = "BINAUTHZ_AUDIT_SINCE"
    )]
    pub since: String,

    /// Only this platform's events (default: both).
    #[arg(long, value_enum, env = "BINAUTHZ_AUDIT_PLATFORM")]
    pub platform: Option<crate::policy::Platform>,

    /// Only this Cloud Run service (GKE: workloads whose resource name contains it).
    #[arg(long, value_name = "NAME", env = "BINAUTHZ_AUDIT_SERVICE")]
    pub service: Option<String>,

    /// Exit 5 when events of these kinds exist (repeatable or comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        env = "BINAUTHZ_AUDIT_FAIL_ON"
    )]
    pub fail_on: Vec<crate::audit::Kind>,

    /// Output format (default: json when stdout is not a terminal, else text).
    #[arg(long, value_enum, env = "BINAUTHZ_OUTPUT")]
    pub output: Option<Output>,
}

/// `policy`'s verbs.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Decide, per image, what Binary Authorization would do at deploy: allowed, denied,
    /// would be denied (dry run) or admitted by breakglass, with the deciding rule or pattern
    /// and each attestor's verdict. Exits 5 when an enforced rule denies an image.
    ///
    /// Breakglass (emergencies only): Cloud Run reads
    /// `run.googleapis.com/binary-authorization-breakglass: JUSTIFICATION` on the Service's or
    /// Job's own metadata.annotations; GKE reads `alpha.image-policy.k8s.io/break-glass: "true"`
    /// on the pod's (a workload's spec.template.metadata.annotations). Either skips the policy
    /// and writes the deploy to Cloud Audit Logs; every admission by breakglass is warned about,
    /// and an annotation that is misspelled or in the wrong place gets a hint.
    Check(PolicyCheckArgs),
}

/// `policy check`'s options.
#[derive(Debug, Args)]
pub struct PolicyCheckArgs {
    /// Images by tag or digest, as they would be deployed.
    #[arg(value_name = "IMAGE", env = "BINAUTHZ_IMAGES", value_delimiter = ',', value_parser = parse_image)]
    pub images: Vec<ImageRef>,

    /// Manifests to check instead of (or beside) IMAGE arguments (repeatable; - reads stdin,
    /// e.g. `kubectl get pods -A -o yaml | ... --manifest -`): Cloud Run services and jobs,
    /// Kubernetes Pods, workloads and Lists; multi-document YAML. The platform follows from
    /// each object's kind.
    #[arg(
        long = "manifest",
        value_name = "FILE",
        env = "BINAUTHZ_MANIFESTS",
        value_delimiter = ','
    )]
    pub manifests: Vec<PathBuf>,

    /// The policy, as `gcloud container binauthz policy export` writes it (YAML or JSON).
    #[arg(
        long,
        value_name = "FILE",
        env = "BINAUTHZ_POLICY_FILE",
        conflicts_with = "project",
        required_unless_present = "project"
    )]
    pub policy: Option<PathBuf>,

    /// Read the policy of this project from Binary Authorization (GetPolicy).
    #[arg(long, value_name = "PROJECT", env = "BINAUTHZ_POLICY_PROJECT")]
    pub project: Option<String>,

    /// Check what runs now instead: every Cloud Run service's serving revision in --region,
    /// by the digest it runs, judged as if deployed today (the policy is not retroactive, so
    /// these fail at their next deploy). Needs --project and --region.
    #[arg(long, env = "BINAUTHZ_POLICY_RUNNING", requires_all = ["project", "region"], value_parser = clap::builder::BoolishValueParser::new())]
    pub running: bool,

    /// The Cloud Run region for --running, e.g. us-central1.
    #[arg(
        long,
        value_name = "REGION",
        env = "BINAUTHZ_REGION",
        requires = "running"
    )]
    pub region: Option<String>,

    /// Where IMAGE arguments are deployed (default: gke when --cluster, --namespace or
    /// --service-account is given, else cloudrun).
    #[arg(long, value_enum, env = "BINAUTHZ_POLICY_PLATFORM")]
    pub platform: Option<crate::policy::Platform>,

    /// GKE cluster, LOCATION.NAME, as clusterAdmissionRules keys it.
    #[arg(long, value_name = "LOCATION.NAME", env = "BINAUTHZ_CLUSTER")]
    pub cluster: Option<String>,

    /// Kubernetes namespace of the pods (default for manifests: each object's own, else `default`).
    #[arg(long, value_name = "NS", env = "BINAUTHZ_NAMESPACE")]
    pub namespace: Option<String>,

    /// Kubernetes service account of the pods, NAMESPACE:NAME.
    #[arg(long, value_name = "NS:SA", env = "BINAUTHZ_SERVICE_ACCOUNT")]
    pub service_account: Option<String>,

    /// Output format (default: json when stdout is not a terminal, else text).
    #[arg(long, value_enum, env = "BINAUTHZ_OUTPUT")]
    pub output: Option<Output>,
}

/// `pin`'s options.
#[derive(Debug, Args)]
pub struct PinArgs {
    /// Manifests (YAML, multi-document allowed).
    #[arg(
        value_name = "FILE",
        required = true,
        env = "BINAUTHZ_MANIFESTS",
        value_delimiter = ','
    )]
    pub files: Vec<PathBuf>,

    /// Rewrite the files instead of printing them.
    #[arg(long, env = "BINAUTHZ_IN_PLACE", value_parser = clap::builder::BoolishValueParser::new())]
    pub in_place: bool,
}

/// `sign`'s options.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Images by tag or digest, e.g. us-docker.pkg.dev/PROJECT/REPO/IMAGE:TAG. The digest signed
    /// is always the one the image's registry serves.
    #[arg(value_name = "IMAGE", env = "BINAUTHZ_IMAGES", value_delimiter = ',', value_parser = parse_image)]
    pub images: Vec<ImageRef>,

    /// File with more images, one per line (blank lines and #comments skipped; - for stdin).
    #[arg(long, value_name = "FILE", env = "BINAUTHZ_IMAGES_FILE")]
    pub images_file: Option<PathBuf>,

    /// The attestor the attestations are for (none with --cosign: cosign signatures only).
    #[command(flatten)]
    pub attestor: SignAttestorArgs,

    /// The KMS key version that signs:
    /// projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N.
    #[arg(
        long,
        value_name = "KEY_VERSION",
        env = "BINAUTHZ_KMS_KEY_VERSION",
        required_unless_present_any = ["pkix_private_key", "pgp_private_key", "cosign_private_key"],
        conflicts_with_all = ["pkix_private_key", "pgp_private_key", "cosign_private_key"]
    )]
    pub kms_key_version: Option<String>,

    /// Or a PKIX private key file that signs (PEM: PKCS#8, EC or RSA), whose public key the
    /// attestor holds. Its content is never printed.
    #[arg(long, value_name = "FILE", env = "BINAUTHZ_PKIX_PRIVATE_KEY")]
    pub pkix_private_key: Option<PathBuf>,

    /// Or cosign's own encrypted key file (the cosign.key of `cosign generate-key-pair`: PEM
    /// ENCRYPTED SIGSTORE PRIVATE KEY or ENCRYPTED COSIGN PRIVATE KEY); its password comes from
    /// COSIGN_PASSWORD (an empty value is the empty password, as in cosign) or
    /// --cosign-password-file. Neither is ever printed.
    #[arg(
        long,
        value_name = "FILE",
        env = "BINAUTHZ_COSIGN_PRIVATE_KEY",
        conflicts_with_all = ["pkix_private_key", "pgp_private_key"]
    )]
    pub cosign_private_key: Option<PathBuf>,

    /// With --cosign-private-key: a file holding the key's password (instead of
    /// COSIGN_PASSWORD), e.g. the cosign.password of a Secret `cosign generate-key-pair k8s://`
    /// wrote.
    #[arg(
        long,
        value_name = "FILE",
        env = "BINAUTHZ_COSIGN_PASSWORD_FILE",
        requires = "cosign_private_key"
    )]
    pub cosign_password_file: Option<PathBuf>,

    /// With --pkix-private-key or --cosign-private-key: the algorithm, when the attestor's entry
    /// declares none (e.g. ECDSA_P256_SHA256, RSA_PSS_3072_SHA256, RSA_SIGN_PKCS1_4096_SHA512).
    #[arg(long, value_name = "ALGORITHM", env = "BINAUTHZ_SIGNATURE_ALGORITHM")]
    pub signature_algorithm: Option<String>,

    /// Or an ASCII-armored OpenPGP secret key file that signs (gpg --armor
    /// --export-secret-keys), whose public key the attestor holds; its passphrase comes from
    /// BINAUTHZ_PGP_PASSPHRASE or --pgp-passphrase-file. Neither is ever printed.
    #[arg(
        long,
        value_name = "FILE",
        env = "BINAUTHZ_PGP_PRIVATE_KEY",
        conflicts_with = "pkix_private_key"
    )]
    pub pgp_private_key: Option<PathBuf>,

    /// With --pgp-private-key: a file whose first line is the key's passphrase (instead of
    /// BINAUTHZ_PGP_PASSPHRASE).
    #[arg(
        long,
        value_name = "FILE",
        env = "BINAUTHZ_PGP_PASSPHRASE_FILE",
        requires = "pgp_private_key"
    )]
    pub pgp_passphrase_file: Option<PathBuf>,

    /// Project that stores the attestations (default: the attestor's project).
    #[arg(long, value_name = "PROJECT", env = "BINAUTHZ_PROJECT")]
    pub project: Option<String>,

    /// Resolve digests, check the attestor and key, and look for existing attestations; sign
    /// nothing and write nothing.
    #[arg(long, env = "BINAUTHZ_DRY_RUN", value_parser = clap::builder::BoolishValueParser::new())]
    pub dry_run: bool,

    /// Also sign every platform manifest of a multi-arch index (the index itself is always
    /// signed: a deploy by the index's digest is checked against it).
    #[arg(long, env = "BINAUTHZ_ALL_PLATFORMS", value_parser = clap::builder::BoolishValueParser::new())]
    pub all_platforms: bool,

    /// Also sign this platform's manifest of a multi-arch index, e.g. linux/amd64 or
    /// linux/arm/v7.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", env = "BINAUTHZ_PLATFORM", value_parser = parse_platform)]
    pub platform: Option<String>,

    /// The digest the image must have in the registry being signed (one image); another digest
    /// is refused, naming both.
    #[arg(long, value_name = "DIGEST", env = "BINAUTHZ_EXPECT_DIGEST")]
    pub expect_digest: Option<String>,

    /// The image as built or first pushed (e.g. in Nexus); the registry being signed must serve
    /// the same digest (one image), or the copy changed the manifest and nothing is signed.
    #[arg(long, value_name = "IMAGE", env = "BINAUTHZ_SOURCE", value_parser = parse_image)]
    pub source: Option<ImageRef>,

    /// Stop at the first image that fails (default: every image gets its outcome, and the exit
    /// code is the worst one's).
    #[arg(long, env = "BINAUTHZ_FAIL_FAST", value_parser = clap::builder::BoolishValueParser::new())]
    pub fail_fast: bool,

    /// Output format (default: json when stdout is not a terminal, else text).
    #[arg(long, value_enum, env = "BINAUTHZ_OUTPUT")]
    pub output: Option<Output>,

    /// Post a commit status naming the attestation on GITHUB_SHA of GITHUB_REPOSITORY, with
    /// GITHUB_TOKEN (GITHUB_API_URL for GitHub Enterprise).
    #[arg(long, env = "BINAUTHZ_GITHUB_STATUS", value_parser = clap::builder::BoolishValueParser::new())]
    pub github_status: bool,

    /// Sign the DSSE pre-authentication encoding of the payload, as gcloud
    /// `--pae-encode-payload` does (the stored payload stays as it is).
    #[arg(long, env = "BINAUTHZ_PAE", value_parser = clap::builder::BoolishValueParser::new())]
    pub pae: bool,

    /// With --pae: the DSSE payload type (gcloud's default:
    /// application/vnd.dev.cosign.simplesigning.v1+json).
    #[arg(
        long,
        value_name = "TYPE",
        env = "BINAUTHZ_DSSE_TYPE",
        requires = "pae"
    )]
    pub dsse_type: Option<String>,

    /// Also write cosign signatures with the same key, after the attestation (or alone, without
    /// --attestor): `sig` (the sha256-HEX.sig tag cosign 2, skopeo, policy-controller and
    /// Kyverno read), `bundle` (the DSSE sigstore bundle cosign 3 reads, an OCI 1.1 referrer) or
    /// `both` (what --cosign alone means: every verifier accepts the image). Needs a KMS, PKIX
    /// or cosign key: cosign signatures are not OpenPGP.
    #[arg(
        long,
        value_enum,
        value_name = "FORM",
        env = "BINAUTHZ_COSIGN",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "both",
        conflicts_with = "pgp_private_key"
    )]
    pub cosign: Option<CosignForm>,
}

/// Which cosign storage forms `sign --cosign` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CosignForm {
    /// The `sha256-HEX.sig` tag: one layer per signature (cosign 2 and containers/image).
    Sig,
    /// A sigstore bundle v0.3 as an OCI 1.1 referrer (cosign 3's default).
    Bundle,
    /// Both, so verifiers of either generation accept the image.
    Both,
}

/// `sign`'s `--attestor` and `--attestor-project`: optional with `--cosign`, which then writes
/// cosign signatures only.
#[derive(Debug, Args)]
pub struct SignAttestorArgs {
    /// The attestor: projects/PROJECT/attestors/ATTESTOR, or ATTESTOR with --attestor-project.
    #[arg(
        long,
        value_name = "ATTESTOR",
        env = "BINAUTHZ_ATTESTOR",
        required_unless_present = "cosign"
    )]
    pub attestor: Option<String>,

    /// Project of the attestor when --attestor is a bare id.
    #[arg(long, value_name = "PROJECT", env = "BINAUTHZ_ATTESTOR_PROJECT")]
    pub attestor_project: Option<String>,
}

impl SignAttestorArgs {
    /// The attestor's full name, when one is given (checked as [`AttestorArgs::name`] does).
    pub fn name(&self) -> crate::error::Result<Option<crate::names::AttestorName>> {
        self.attestor
            .as_ref()
            .map(|attestor| {
                AttestorArgs {
                    attestor: attestor.clone(),
                    attestor_project: self.attestor_project.clone(),
                }
                .name()
            })
            .transpose()
    }
}

/// `--attestor` and `--attestor-project`, shared by the commands that take an attestor.
#[derive(Debug, Args)]
pub struct AttestorArgs {
    /// The attestor: projects/PROJECT/attestors/ATTESTOR, or ATTESTOR with --attestor-project.
    #[arg(long, value_name = "ATTESTOR", env = "BINAUTHZ_ATTESTOR")]
    pub attestor: String,

    /// Project of the attestor when --attestor is a bare id.
    #[arg(long, value_name = "PROJECT", env = "BINAUTHZ_ATTESTOR_PROJECT")]
    pub attestor_project: Option<String>,
}

impl AttestorArgs {
    /// The attestor's full name. A full `--attestor` carries its project, so an
    /// `--attestor-project` naming another one is a contradiction to refuse, never a flag to
    /// ignore silently.
    pub fn name(&self) -> crate::error::Result<crate::names::AttestorName> {
        let name =
            crate::names::AttestorName::parse(&self.attestor, self.attestor_project.as_deref())?;
        match &self.attestor_project {
            Some(project) if *project != name.project => Err(crate::error::Error::Usage(format!(
                "--attestor {} is in project {}, not --attestor-project {project}: give the \
                     attestor's id with --attestor-project, or its full name alone",
                self.attestor, name.project
            ))),
            _ => Ok(name),
        }
    }
}

/// `verify`'s options.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Images by tag or digest; checked at the digest their registry serves.
    #[arg(value_name = "IMAGE", env = "BINAUTHZ_IMAGES", value_delimiter = ',', value_parser = parse_image)]
    pub images: Vec<ImageRef>,

    /// File with more images, one per line (blank lines and #comments skipped; - for stdin).
    #[arg(long, value_name = "FILE", env = "BINAUTHZ_IMAGES_FILE")]
    pub images_file: Option<PathBuf>,

    /// An attestor every image must satisfy (repeatable or comma-separated):
    /// projects/PROJECT/attestors/ATTESTOR, or ATTESTOR with --attestor-project.
    #[arg(
        long = "attestor",
        value_name = "ATTESTOR",
        env = "BINAUTHZ_ATTESTOR",
        value_delimiter = ',',
        required_unless_present = "cosign_key"
    )]
    pub attestors: Vec<String>,

    /// Project of the attestors given as bare ids.
    #[arg(long, value_name = "PROJECT", env = "BINAUTHZ_ATTESTOR_PROJECT")]
    pub attestor_project: Option<String>,

    /// Output format (default: json when stdout is not a terminal, else text).
    #[arg(long, value_enum, env = "BINAUTHZ_OUTPUT")]
    pub output: Option<Output>,

    /// Also verify each image's cosign signatures (the .sig tag and sigstore bundle referrers,
    /// DSSE or message signature) offline against this key: a public key PEM file (cosign.pub
    /// too) or a KMS key version
    /// (projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N).
    #[arg(long, value_name = "PEM_FILE|KEY_VERSION", env = "BINAUTHZ_COSIGN_KEY")]
    pub cosign_key: Option<String>,

    /// Also accept signatures over the DSSE encoding with this payload type (gcloud
    /// `--dsse-type`, `sign --dsse-type`); gcloud's default type is always accepted.
    #[arg(long, value_name = "TYPE", env = "BINAUTHZ_DSSE_TYPE")]
    pub dsse_type: Option<String>,
}

/// `setup`'s options.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The attestor to create or check.
    #[command(flatten)]
    pub attestor: AttestorArgs,

    /// The attestor's note, projects/P/notes/N (default: an existing attestor's own note, else
    /// the attestor's id in its project).
    #[arg(long, value_name = "NOTE", env = "BINAUTHZ_NOTE")]
    pub note: Option<String>,

    /// The KMS key that signs: projects/P/locations/L/keyRings/R/cryptoKeys/K. Created when
    /// missing; an existing key of another purpose or algorithm is refused, never altered.
    /// Without any key (this, --pkix-public-key or --pgp-public-key), setup works on an
    /// existing attestor as it stands: grants and --policy only.
    #[arg(
        long,
        value_name = "KEY",
        env = "BINAUTHZ_KMS_KEY",
        conflicts_with_all = ["pkix_public_key", "pgp_public_key"]
    )]
    pub kms_key: Option<String>,

    /// The key's algorithm, as gcloud writes it (default ec-sign-p256-sha256 for a KMS key;
    /// for --pkix-public-key, the curve's for EC keys and required for RSA keys, e.g.
    /// rsa-pss-3072-sha256 or rsa-sign-pkcs1-4096-sha512).
    #[arg(
        long,
        value_name = "ALGORITHM",
        env = "BINAUTHZ_ALGORITHM",
        conflicts_with = "pgp_public_key"
    )]
    pub algorithm: Option<String>,

    /// Or the public half of a PKIX key the team holds (PEM `PUBLIC KEY`, e.g. from `openssl
    /// pkey -pubout`): added to the attestor (Binary Authorization assigns its
    /// `ni:///sha-256;...` id); sign with --pkix-private-key.
    #[arg(
        long,
        value_name = "FILE",
        env = "BINAUTHZ_PKIX_PUBLIC_KEY",
        conflicts_with = "pgp_public_key"
    )]
    pub pkix_public_key: Option<PathBuf>,

    /// Or an ASCII-armored OpenPGP public key (gpg --armor --export FINGERPRINT): added to the
    /// attestor under its fingerprint; sign with --pgp-private-key.
    #[arg(long, value_name = "FILE", env = "BINAUTHZ_PGP_PUBLIC_KEY")]
    pub pgp_public_key: Option<PathBuf>,

    /// Who signs in CI (repeatable): serviceAccount:EMAIL, or a Workload Identity Federation
    /// principal:// or principalSet://. Gets exactly the roles `sign` needs, on exactly the
    /// resources it touches.
    #[arg(
        long = "signer",
        value_name = "MEMBER",
        env = "BINAUTHZ_SIGNERS",
        value_delimiter = ','
    )]
    pub signers: Vec<String>,

    /// Make the project policy's default rule require this attestor (dryrun or enforce);
    /// none leaves the policy alone.
    #[arg(long, value_enum, env = "BINAUTHZ_POLICY", default_value = "none")]
    pub policy: PolicyMode,

    /// Print what would change and write nothing.
    #[arg(long, env = "BINAUTHZ_PLAN", value_parser = clap::builder::BoolishValueParser::new())]
    pub plan: bool,

    /// Output format (default: json when stdout is not a terminal, else text).
    #[arg(long, value_enum, env = "BINAUTHZ_OUTPUT")]
    pub output: Option<Output>,
}

/// What `setup --policy` does to the project's Binary Authorization policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyMode {
    /// Leave the policy alone.
    None,
    /// Require the attestor, audit only (DRYRUN_AUDIT_LOG_ONLY).
    Dryrun,
    /// Require the attestor and block (ENFORCED_BLOCK_AND_AUDIT_LOG).
    Enforce,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Pretty-printed JSON, for scripts.
    Json,
    /// Lines for people.
    Text,
}

/// One setting a CI step can give the verb being run: the name a wrapper's input carries, the
/// flag it stands for and the variable clap reads it from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerbInput {
    /// The input's name: an option's long name (`attestor`), or for a positional argument
    /// its variable without `BINAUTHZ_` (`BINAUTHZ_IMAGES` -> `images`).
    pub input: String,
    /// How the command line writes it: `--attestor` or `IMAGE`.
    pub flag: String,
    /// The variable clap reads it from: `BINAUTHZ_ATTESTOR`.
    pub env: String,
}

/// The settings of the verb `args` runs (`sign`, `policy check`, ...) and the global ones,
/// each with its variable, read from the clap definition so no list has to be kept in step
/// with it. Empty when `args` names no verb.
pub fn verb_inputs(args: &[std::ffi::OsString]) -> Vec<VerbInput> {
    use clap::CommandFactory;
    let root = Cli::command();
    let mut leaf = &root;
    for arg in args.iter().skip(1).filter_map(|a| a.to_str()) {
        if let Some(sub) = leaf.find_subcommand(arg) {
            leaf = sub;
        }
    }
    if std::ptr::eq(leaf, &root) {
        return Vec::new();
    }
    let globals = root.get_arguments().filter(|a| a.is_global_set());
    leaf.get_arguments()
        .chain(globals)
        .filter_map(|arg| {
            let env = arg.get_env()?.to_str()?.to_string();
            let (input, flag) = match arg.get_long() {
                Some(long) => (long.to_string(), format!("--{long}")),
                None => {
                    let name = env.strip_prefix("BINAUTHZ_").unwrap_or(&env);
                    let value = arg
                        .get_value_names()
                        .and_then(|v| v.first().map(|n| n.to_string()))
                        .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
                    (name.to_ascii_lowercase().replace('_', "-"), value)
                }
            };
            Some(VerbInput { input, flag, env })
        })
        .collect()
}

/// A duration as people write it: `90s`, `5m`, `2h`, `1m30s` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("`{s}` is not a duration: write e.g. 90s, 5m or 1h30m");
    let text = s.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let (mut total, mut number) = (0u64, String::new());
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(invalid()),
        };
        let n: u64 = number.parse().map_err(|_| invalid())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(invalid)?;
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err(invalid());
    }
    Ok(Duration::from_secs(total))
}

/// `os/arch` or `os/arch/variant`, the form OCI image indexes describe platforms in
/// (<https://github.com/opencontainers/image-spec/blob/main/image-index.md>).
pub fn parse_platform(s: &str) -> Result<String, String> {
    let parts: Vec<&str> = s.split('/').collect();
    let well_formed = (2..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    match well_formed {
        true => Ok(s.to_string()),
        false => Err(format!(
            "`{s}` is not a platform: write OS/ARCH or OS/ARCH/VARIANT, e.g. linux/amd64 or linux/arm/v7"
        )),
    }
}

/// Lets clap report a bad reference with our message (which names the input and the fix).
pub fn parse_image(s: &str) -> Result<ImageRef, String> {
    ImageRef::parse(s.trim()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_read_as_people_write_them() {
        let secs = |s| parse_duration(s).map(|d| d.as_secs());
        assert_eq!(secs("90s"), Ok(90));
        assert_eq!(secs("5m"), Ok(300));
        assert_eq!(secs("1h30m"), Ok(5400));
        assert_eq!(secs("45"), Ok(45));
        for bad in ["", "0s", "5x", "m", "1.5m", "10m3"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn insecure_registries_repeat_and_split_on_commas() {
        let cli = Cli::try_parse_from([
            "b",
            "--insecure-registry",
            "a:5000,b:5000",
            "--insecure-registry",
            "c",
            "digest",
            "gcr.io/p/i:1",
        ])
        .unwrap();
        assert_eq!(cli.insecure_registries, ["a:5000", "b:5000", "c"]);
        let after = Cli::try_parse_from(["b", "digest", "--insecure-registry", "d", "gcr.io/p/i"]);
        assert_eq!(after.unwrap().insecure_registries, ["d"]);
    }

    #[test]
    fn platforms_are_os_arch_and_an_optional_variant() {
        for good in ["linux/amd64", "linux/arm/v7", "windows/amd64"] {
            assert_eq!(parse_platform(good).as_deref(), Ok(good));
        }
        for bad in ["linux", "linux/", "/amd64", "linux/arm/v7/x", "linux amd64"] {
            assert!(parse_platform(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_full_attestor_name_and_another_attestor_project_contradict() {
        let args = |attestor: &str, project: Option<&str>| AttestorArgs {
            attestor: attestor.into(),
            attestor_project: project.map(Into::into),
        };
        let full = "projects/p/attestors/a";
        assert_eq!(args("a", Some("p")).name().unwrap().to_string(), full);
        assert_eq!(args(full, Some("p")).name().unwrap().to_string(), full);
        let e = args(full, Some("q")).name().unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("not --attestor-project q"), "{e}");
    }

    #[test]
    fn each_verb_names_its_own_inputs_and_the_global_ones() {
        let of = |args: &[&str]| {
            let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
            verb_inputs(&args)
                .into_iter()
                .map(|i| (i.input, i.flag, i.env))
                .collect::<Vec<_>>()
        };
        let sign = of(&["b", "--ci", "github", "sign"]);
        for (input, flag, env) in [
            ("images", "IMAGE", "BINAUTHZ_IMAGES"),
            ("attestor", "--attestor", "BINAUTHZ_ATTESTOR"),
            ("project", "--project", "BINAUTHZ_PROJECT"),
            (
                "google-registry",
                "--google-registry",
                "BINAUTHZ_GOOGLE_REGISTRIES",
            ),
        ] {
            assert!(
                sign.contains(&(input.into(), flag.into(), env.into())),
                "{input}: {sign:?}"
            );
        }
        // policy check's --project is another variable than sign's.
        let check = of(&["b", "policy", "check", "--ci", "github"]);
        assert!(check.contains(&(
            "project".into(),
            "--project".into(),
            "BINAUTHZ_POLICY_PROJECT".into()
        )));
        assert!(check
            .iter()
            .any(|(i, _, e)| i == "manifest" && e == "BINAUTHZ_MANIFESTS"));
        assert!(of(&["b"]).is_empty());
    }

    #[test]
    fn help_shows_every_environment_variable() {
        let mut cmd = Cli::command();
        let help = cmd.render_long_help().to_string();
        let sign = cmd
            .find_subcommand_mut("sign")
            .unwrap()
            .render_long_help()
            .to_string();
        for var in [
            "BINAUTHZ_INSECURE_REGISTRIES",
            "BINAUTHZ_GOOGLE_REGISTRIES",
            "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
        ] {
            assert!(help.contains(var), "{var} missing from --help");
        }
        for var in [
            "BINAUTHZ_IMAGES",
            "BINAUTHZ_IMAGES_FILE",
            "BINAUTHZ_ATTESTOR",
            "BINAUTHZ_ATTESTOR_PROJECT",
            "BINAUTHZ_KMS_KEY_VERSION",
            "BINAUTHZ_PROJECT",
            "BINAUTHZ_DRY_RUN",
            "BINAUTHZ_OUTPUT",
            "BINAUTHZ_GITHUB_STATUS",
            "BINAUTHZ_CI",
            "BINAUTHZ_OUTPUTS_FILE",
            "BINAUTHZ_TIMEOUT",
            "BINAUTHZ_CONCURRENCY",
        ] {
            assert!(sign.contains(var), "{var} missing from sign --help");
        }
    }
}

/// `rotate`'s options.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The attestor whose key rotates.
    #[command(flatten)]
    pub attestor: AttestorArgs,

    /// The key to move away from: a KMS key version
    /// (projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N), a PKIX public key
    /// file, an ASCII-armored OpenPGP public key file or a PGP fingerprint.
    #[arg(long, value_name = "KEY", env = "BINAUTHZ_ROTATE_FROM")]
    pub from: String,

    /// The key to move to, in the same forms. A KMS version that does not exist yet is created
    /// (it must be the key's next version number); a fingerprint must already be on the
    /// attestor (give the public key file to add it).
    #[arg(long, value_name = "KEY", env = "BINAUTHZ_ROTATE_TO")]
    pub to: String,

    /// Re-sign every image the old key attested with the new key (skipping images the new key
    /// already attests). A new key held as a file needs its private half:
    /// --pkix-private-key or --pgp-private-key.
    #[arg(long, env = "BINAUTHZ_REATTEST", value_parser = clap::builder::BoolishValueParser::new())]
    pub reattest: bool,

    /// At most this many images re-attested per second.
    #[arg(long, value_name = "N", env = "BINAUTHZ_RATE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: u32,

    /// Remove the old key from the attestor, only when every image it attested has a valid
    /// attestation by the new key; otherwise refuse (exit 5) and list the images left.
    #[arg(long, env = "BINAUTHZ_RETIRE_OLD", value_parser = clap::builder::BoolishValueParser::new())]
    pub retire_old: bool,

    /// Print the steps and write nothing.
    #[arg(long, env = "BINAUTHZ_PLAN", value_parser = clap::builder::BoolishValueParser::new())]
    pub plan: bool,

    /// For a --to PKIX public key file: its signature algorithm (default: the curve's for EC
    /// keys; required for RSA keys).
    #[arg(long, value_name = "ALGORITHM", env = "BINAUTHZ_ALGORITHM")]
    pub algorithm: Option<String>,

    /// With --reattest and a --to PKIX key file: the new key's private half.
    #[arg(long, value_name = "FILE", env = "BINAUTHZ_PKIX_PRIVATE_KEY")]
    pub pkix_private_key: Option<PathBuf>,

    /// With --reattest and a --to PGP key: the new key's ASCII-armored secret key (passphrase
    /// from BINAUTHZ_PGP_PASSPHRASE or --pgp-passphrase-file).
    #[arg(long, value_name = "FILE", env = "BINAUTHZ_PGP_PRIVATE_KEY")]
    pub pgp_private_key: Option<PathBuf>,

    /// A file whose first line is the --pgp-private-key's passphrase.
    #[arg(long, value_name = "FILE", env = "BINAUTHZ_PGP_PASSPHRASE_FILE")]
    pub pgp_passphrase_file: Option<PathBuf>,

    /// Output format (default: json when stdout is not a terminal, else text).
    #[arg(long, value_enum, env = "BINAUTHZ_OUTPUT")]
    pub output: Option<Output>,
}
