//! `cr-console`: the web console for compliance officers. Operators sign in with the
//! accounts of `crctl operator add` (argon2id); over HTTPS (rustls) with the configured
//! certificate, or plain HTTP on a loopback address only. Pages are rendered on the server,
//! with no script and no asset from elsewhere.
//!
//! Exit status: 0 stopped by a signal; 2 could not start (configuration, certificate,
//! journal, address in use).
#![forbid(unsafe_code)]

mod app;
mod html;
mod serve;
mod wave;
mod session;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

/// callrec's web console: sign in, search recordings, open a recording's page with its
/// verification. Listens where `[console] listen` says (default 127.0.0.1:8443), over HTTPS
/// with `[console] certificate` and `key` (plain HTTP only on a loopback address).
#[derive(Parser)]
#[command(version, about, long_about, after_long_help = cr_clidoc::REFERENCE)]
struct Args {
    /// The installation's configuration file.
    #[arg(long, default_value = "/etc/callrec/callrec.toml")]
    config: PathBuf,
}

fn main() -> ExitCode {
    if let Some(code) = cr_clidoc::generate_if_asked(<Args as clap::CommandFactory>::command) {
        return code;
    }
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cr-console: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let cfg = cr_config::Config::load(&args.config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let settings = cr_setup::ConsoleSettings::from_config(&cfg).map_err(config_errors)?;
    let tls = match &settings.tls {
        Some((certificate, key)) => Some(tokio_rustls::TlsAcceptor::from(
            cr_pbx::driver::tls_server_config(&cr_pbx::driver::TlsSettings {
                certificate: certificate.clone(),
                key: key.clone(),
                client_ca: None,
                client_fingerprints: Vec::new(),
            })
            .map_err(|e| anyhow::anyhow!("[console]: {e}"))?,
        )),
        None => None,
    };
    let journal = cr_journal::Journal::open_url(&cfg.journal.url, &cfg.installation.data_dir, &cr_journal::OpenOptions::new())?;
    let cert_path = cfg.keystore_path().with_file_name("cert.pem");
    let cert = cr_sign::Certificate::load(&cert_path).map_err(|e| anyhow::anyhow!("{}: {e}", cert_path.display()))?;
    let folders = app::folder_targets(&cfg);
    let listen = settings.listen;
    let policy = cr_policy::PolicyConfig::from_config(&cfg).map_err(config_errors)?;
    let tls_fingerprint = match &settings.tls {
        Some((certificate, _)) => Some(
            cr_sign::Certificate::load(certificate).map_err(|e| anyhow::anyhow!("[console] certificate: {e}"))?.fingerprint_sha256(),
        ),
        None => None,
    };
    let sources = app::StatusSources { spool: Some(cfg.resolve_path("spool")), targets: cfg.names_of("targets"), tls_fingerprint };
    let mut console = app::Console::new(journal, settings, cert, folders).with_policy(policy).with_status(sources);
    // Exports sign their package with the installation's key; without it the console runs,
    // and refuses exports saying so.
    match cr_sign::open_configured(&cfg) {
        Ok(identity) => console = console.with_export(app::Exporter { cfg, identity }),
        Err(e) => tracing::warn!("export is not available: the keystore could not be opened: {e}"),
    }
    let console = Arc::new(console);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| anyhow::anyhow!("[console] listen {listen}: {e}"))?;
        tracing::info!("console listening on {}://{}", if tls.is_some() { "https" } else { "http" }, listener.local_addr()?);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
            let _ = stop_tx.send(true);
        });
        serve::serve(app::router(console), listener, tls, stop_rx).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The configuration's errors, one a line.
fn config_errors(errs: Vec<cr_config::ConfigError>) -> anyhow::Error {
    anyhow::anyhow!("the configuration has errors:\n{}", errs.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))
}
