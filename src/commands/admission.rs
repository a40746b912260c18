//! `admission`: its flags -> the webhook's options -> `admission::run`; `admission certs` ->
//! `admission::certs`. Google credentials are used when the server has them: `--project`, an
//! access token, or `GOOGLE_APPLICATION_CREDENTIALS` (a mounted key or Workload Identity
//! Federation file); without them the webhook works from its files and the registries alone.

use super::{write_stdout, Context, Report};
use crate::admission::{self, certs, config::Sources, evidence::CacheSettings};
use crate::cli::{AdmissionArgs, AdmissionCertsArgs, AdmissionCommand};
use crate::error::{Error, Result};

/// The top-level entry point for `admission`.
pub async fn run(ctx: &Context, args: &AdmissionArgs) -> Report {
    Report::plain(match &args.command {
        Some(AdmissionCommand::Certs(certs)) => make_certs(certs),
        None => serve(ctx, args).await,
    })
}

async fn serve(ctx: &Context, args: &AdmissionArgs) -> Result<()> {
    let a = &args.serve;
    let (Some(cert_file), Some(key_file)) = (&a.tls_cert_file, &a.tls_private_key_file) else {
        return Err(Error::Usage(
            "admission needs --tls-cert-file and --tls-private-key-file (make them with \
             `binauthz-attest admission certs`)"
                .into(),
        ));
    };
    let has_google = a.project.is_some()
        || ctx.access_token.is_some()
        || ctx.access_token_file.is_some()
        || std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").is_some();
    let auth = match has_google {
        true => Some(ctx.auth()?),
        false => None,
    };
    admission::run(admission::Options {
        addr: a.addr.clone(),
        cert_file: cert_file.clone(),
        key_file: key_file.clone(),
        sources: Sources {
            policy_file: a.policy.clone(),
            project: a.project.clone(),
            attestor_files: a.attestor_files.clone(),
            cluster: a.cluster.clone(),
        },
        budget: a.review_timeout,
        cache: CacheSettings {
            capacity: a.cache_size,
            ttl: a.cache_ttl,
            refused_ttl: a.cache_ttl_denied,
        },
        shutdown_delay: a.shutdown_delay,
        registry: ctx.registry.clone(),
        auth,
    })
    .await
}

fn make_certs(args: &AdmissionCertsArgs) -> Result<()> {
    let names = certs::names(&args.service, &args.namespace, &args.hosts);
    let generated = certs::generate(&names, args.days)?;
    let written = generated.write(&args.out_dir, args.force)?;
    for path in &written {
        eprintln!("wrote {}", path.display());
    }
    let dir = args.out_dir.display();
    eprintln!(
        "serving certificate for {}; next:\n  kubectl -n {ns} create secret tls binauthz-attest-tls \
         --cert={dir}/tls.crt --key={dir}/tls.key\n  and set the ValidatingWebhookConfiguration's \
         clientConfig.caBundle to the value printed on stdout",
        names.join(", "),
        ns = args.namespace,
    );
    write_stdout(format!("{}\n", generated.ca_bundle()).as_bytes())
}
