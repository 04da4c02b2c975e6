//! The `venuebox` binary: parses the command line and hands over to the library.
//! Exit codes: 0 ok, 64 bad configuration or usage (before any port is bound), 1 anything else.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use venuebox::auth::Secrets;
use venuebox::cli::{
    AdminPasswordArgs, CheckArgs, Cli, CliCommand, ExportArgs, ServeArgs, StoreArgs, TokenArgs,
};
use venuebox::config::{config_path, parse_ttl, Config, ConfigError, Overrides};
use venuebox::server::{Prepared, ServerError};
use venuebox::store::maintenance;

const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "venuebox=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli
        .command
        .unwrap_or(CliCommand::Serve(ServeArgs::default()))
    {
        CliCommand::Serve(args) => serve(args),
        CliCommand::Token(args) => token(args),
        CliCommand::Check(args) => check(args),
        CliCommand::Export(args) => export(args),
        CliCommand::AdminPassword(args) => admin_password(args),
        CliCommand::ViewerPin(args) => viewer_pin(args),
        CliCommand::RotateSecret(args) => rotate_secret(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("venuebox: {error:#}");
            let usage = error.downcast_ref::<ConfigError>().is_some()
                || error
                    .downcast_ref::<ServerError>()
                    .is_some_and(ServerError::is_config_error);
            ExitCode::from(if usage { EX_USAGE } else { 1 })
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(
        config_path(args.config.as_deref()).as_deref(),
        &args.overrides(),
    )?;
    let prepared = Prepared::new(config)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(async move {
            let listener = prepared.bind().await?;
            let tls_listener = prepared.bind_tls().await?;
            let addr = listener.local_addr().context("listener has no address")?;
            if let Some(password) = &prepared.new_admin_password {
                println!("First start: admin password is {password}");
                println!("  log in with POST /api/admin/auth {{\"password\": \"{password}\"}}");
                println!("  (`venuebox admin-password` shows it again on this machine)");
                // Only on the first start: the journal is kept, and the PIN is for the room's
                // screens, not for every log line a support request carries along.
                println!(
                    "First start: viewers join with the venue PIN {}",
                    prepared.secrets.viewer_pin()
                );
                println!("  (`venuebox viewer-pin` shows it again on this machine)");
            }
            println!("venuebox listening on http://{addr}");
            show_on_console(addr.port());
            if let Some(tls) = &tls_listener {
                let tls_addr = tls.local_addr().context("TLS listener has no address")?;
                println!("venuebox listening on https://{tls_addr}");
            }
            prepared
                .serve_with_tls(listener, tls_listener, shutdown_signal())
                .await?;
            Ok(())
        })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Under systemd (`RuntimeDirectory=`), writes what a technician at the HDMI console needs to
/// `console.issue`; the SD image links it into `/etc/issue.d/`, so the login prompt shows it.
/// Never the password: that prompt is on the venue's screen whenever mpv is idle or restarting.
fn show_on_console(port: u16) {
    let Some(dir) = std::env::var_os("RUNTIME_DIRECTORY") else {
        return;
    };
    let text = format!(
        "venuebox is running (staff console on port {port}).\n\
         Staff password: log in here or over SSH and run `sudo venuebox admin-password`.\n\n"
    );
    let path = std::path::Path::new(&dir).join("console.issue");
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("venuebox: cannot write {}: {e}", path.display());
    }
}

fn data_dir_of(args: &StoreArgs) -> anyhow::Result<std::path::PathBuf> {
    let overrides = Overrides {
        data_dir: args.data.clone(),
        ..Overrides::default()
    };
    Ok(Config::load(config_path(args.config.as_deref()).as_deref(), &overrides)?.data_dir)
}

/// The data dir of a box that has started there at least once: the commands that read its
/// secrets say where to look instead of failing on a file name.
fn started_data_dir(args: &StoreArgs) -> anyhow::Result<std::path::PathBuf> {
    let data_dir = data_dir_of(args)?;
    if !data_dir.join("box-secret").exists() {
        anyhow::bail!(
            "no box has started with data dir {}: run this where the box runs, or pass \
             --data DIR (on an installed box the packaged config names it)",
            data_dir.display()
        );
    }
    Ok(data_dir)
}

fn viewer_pin(args: StoreArgs) -> anyhow::Result<()> {
    let secrets = Secrets::load(&started_data_dir(&args)?)?;
    println!("venue PIN: {}", secrets.viewer_pin());
    Ok(())
}

fn rotate_secret(args: StoreArgs) -> anyhow::Result<()> {
    Secrets::rotate_secret(&started_data_dir(&args)?)?;
    println!(
        "new box secret written; every token given out before stops working once the box restarts"
    );
    println!("restart the box (sudo systemctl restart venuebox), then pair stations and scanners again (venuebox token)");
    Ok(())
}

fn admin_password(args: AdminPasswordArgs) -> anyhow::Result<()> {
    let data_dir = started_data_dir(&args.store)?;
    if args.new {
        let password = Secrets::new_admin_password(&data_dir)?;
        println!("new admin password: {password}");
        println!("restart the box to use it (sudo systemctl restart venuebox)");
        return Ok(());
    }
    match Secrets::generated_admin_password(&data_dir)? {
        Some(password) => println!("admin password: {password}"),
        None => anyhow::bail!(
            "no generated admin password in {}: the box has not started there yet, or staff \
             set their own; `venuebox admin-password --new` makes a new one",
            data_dir.display()
        ),
    }
    Ok(())
}

fn database_of(args: &StoreArgs) -> anyhow::Result<std::path::PathBuf> {
    let overrides = Overrides {
        data_dir: args.data.clone(),
        ..Overrides::default()
    };
    Ok(Config::load(config_path(args.config.as_deref()).as_deref(), &overrides)?.database_path())
}

fn print_report(report: &maintenance::CheckReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    println!("database:   {}", report.path);
    println!("integrity:  {}", report.integrity);
    if let Some(v) = report.schema_version {
        println!("schema:     {v}");
    }
    println!(
        "records:    {} (sequence {} to {}, {} gaps)",
        report.records,
        report.first_seq.unwrap_or(0),
        report.last_seq.unwrap_or(0),
        report.gaps
    );
    for (kind, count) in &report.kinds {
        println!("  {kind:<20} {count}");
    }
    for (version, count) in &report.record_versions {
        println!("  record version {version}: {count}");
    }
    for problem in &report.undecodable {
        println!("undecodable: {problem}");
    }
    Ok(())
}

fn check(args: CheckArgs) -> anyhow::Result<()> {
    let report = maintenance::check(&database_of(&args.store)?)?;
    print_report(&report, args.json)?;
    if report.healthy() {
        if !args.json {
            println!("verdict:    healthy");
        }
        Ok(())
    } else {
        anyhow::bail!(
            "the database has problems (see above); `venuebox export` saves what can be read"
        )
    }
}

fn export(args: ExportArgs) -> anyhow::Result<()> {
    let path = database_of(&args.store)?;
    let exported = match &args.output {
        Some(file) => {
            let out = std::fs::File::create(file)
                .with_context(|| format!("cannot create {}", file.display()))?;
            maintenance::export(&path, &mut std::io::BufWriter::new(out))
        }
        None => maintenance::export(&path, &mut std::io::stdout().lock()),
    };
    // A file redb cannot open at all yields no record: say so plainly, not "0 exported".
    let report = exported.with_context(|| {
        format!(
            "nothing could be exported from {}: the file cannot be opened as a database",
            path.display()
        )
    })?;
    eprintln!(
        "exported {} records ({} could not be decoded)",
        report.records - report.undecodable.len() as u64,
        report.undecodable.len()
    );
    Ok(())
}

fn token(args: TokenArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        data_dir: args.data.clone(),
        ..Overrides::default()
    };
    let config = Config::load(config_path(args.config.as_deref()).as_deref(), &overrides)?;
    let ttl = parse_ttl(&args.ttl).map_err(|reason| ConfigError::Invalid {
        key: "--ttl".into(),
        reason,
    })?;
    let secrets = Secrets::load(&config.data_dir).with_context(|| {
        format!(
            "no box secret in {}: start the box once on this data dir first",
            config.data_dir.display()
        )
    })?;
    // Minted in the era of the clock the box on this data dir is in.
    venuebox::clock::start_reading(&config.data_dir)?;
    println!("{}", secrets.mint(args.role, &args.sub, ttl)?);
    Ok(())
}
