//! `cr-recorder`: the recording daemon (docs/reference.md §4, §5). It composes the crates:
//! PBX adapters (SIPREC, the decision/ingest API) → cr-policy → cr-audio leg writers →
//! finalize → cr-sign seal with the journal's chain link → cr-storage spool → cr-journal.
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

mod api;
mod core;
mod ingest_times;
mod leg_files;
mod quality;
mod siprec;

/// The callrec recorder: records the calls its configurations select, seals each
/// recording set and hands it to the spool for cr-uploader.
///
/// It runs the SIPREC recording server (`[pbx.siprec]`) and the HTTP decision/ingest API
/// (`[pbx.api]`: POST /v1/decide, POST /v1/recordings, POST
/// /v1/groups/{group}/members/{user}/logout|login, GET /v1/health, GET /metrics). At start
/// it logs the verification certificate and seals, flagged `recovered`, every call a crash
/// left behind. Every call not recorded and every call that failed to record goes into the
/// decision log, sealed into the chain every `[decision_log] seal_interval` (at most 1h)
/// and at shutdown. SIGTERM or Ctrl-C seals the calls in progress and stops.
///
/// Exit status: 0 stopped normally, 2 could not start (configuration, keystore, journal,
/// listen address).
#[derive(Parser)]
#[command(version, about, long_about, after_long_help = cr_clidoc::REFERENCE)]
struct Args {
    /// The configuration file (docs/reference.md §1).
    #[arg(long, short = 'c', default_value = "callrec.toml")]
    config: PathBuf,
    /// Log level filter (e.g. `info`, `debug`); `RUST_LOG` overrides it.
    #[arg(long, default_value = "info")]
    log: String,
}

fn main() -> ExitCode {
    if let Some(code) = cr_clidoc::generate_if_asked(<Args as clap::CommandFactory>::command) {
        return code;
    }
    cr_storage::private_umask();
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&args.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("cannot run: {e:#}");
            eprintln!("cr-recorder: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = cr_config::Config::load(&args.config).map_err(anyhow::Error::new)?;
    // The recorder's part of the file is validated before anything starts, as
    // `crctl config check` validates it (policy, [pbx.siprec], [pbx.api]).
    let setup = cr_setup::RecorderSetup::from_config(&cfg).map_err(|errs| anyhow::anyhow!(cr_setup::join(&errs)))?;
    for note in &setup.notes {
        tracing::warn!("{note}");
    }
    let (api_settings, siprec_settings) = (setup.api, setup.siprec);
    let recorder = Arc::new(core::Recorder::start(cfg, setup.policy, setup.retention.default, setup.decision_log, setup.quality)?);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let shutdown = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        if let Some(api_settings) = api_settings {
            let listener = tokio::net::TcpListener::bind(api_settings.listen)
                .await
                .map_err(|e| anyhow::anyhow!("[pbx.api] listen {}: {e}", api_settings.listen))?;
            tracing::info!(addr = %listener.local_addr()?, tokens = api_settings.tokens.len(), "decision and ingest API listening");
            tasks.push(tokio::spawn(api::serve(recorder.clone(), api_settings, listener, shutdown.1.clone())));
        }
        if let Some(sip) = siprec_settings {
            let handle = siprec::start(&sip).await?;
            tasks.push(tokio::spawn(siprec::run(recorder.clone(), handle, sip.decline, shutdown.1.clone())));
        }
        tasks.push(tokio::spawn(core::housekeeping(recorder.clone(), shutdown.1.clone())));
        tasks.push(tokio::spawn(core::decision_log_sealer(recorder.clone(), shutdown.1.clone())));
        wait_for_signal().await;
        tracing::info!("stopping: sealing the calls in progress");
        let _ = shutdown.0.send(true);
        for t in tasks {
            match t.await {
                Ok(Err(e)) => tracing::error!("{e:#}"),
                Err(e) => tracing::error!("task failed: {e}"),
                Ok(Ok(())) => {}
            }
        }
        // Last: the entries of calls declined or failed until now, the shutdown's included.
        let r = recorder.clone();
        match tokio::task::spawn_blocking(move || r.seal_decision_log(chrono::Utc::now())).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!("decision log not sealed at shutdown (the next start seals it): {e:#}"),
            Err(e) => tracing::error!("decision log pass failed: {e}"),
        }
        tracing::info!("stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
