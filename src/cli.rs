//! Command-line interface: `serve` (the default), `token`, `--version`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::auth::Role;
use crate::config::{HardwareKind, Overrides};

#[derive(Debug, Parser)]
#[command(
    name = "venuebox",
    version,
    about = "Offline real-time hub for live venue events"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CliCommand>,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Run the box (what `venuebox` with no command does).
    Serve(ServeArgs),
    /// Print a token signed with this box's secret, for pairing a station or scanner.
    Token(TokenArgs),
    /// Report on the database file's integrity (the box must be stopped; the file is not changed).
    Check(CheckArgs),
    /// Write the event log as JSON lines (the box must be stopped; the file is not changed).
    Export(ExportArgs),
    /// Show the generated admin password, or make a new one with --new (restart the box after).
    AdminPassword(AdminPasswordArgs),
    /// Show the venue PIN viewers type with their name to join (for the room's screens).
    ViewerPin(StoreArgs),
    /// Replace the secret tokens are signed with (restart the box after): every token given out
    /// so far stops working; stations and scanners pair again with new ones.
    RotateSecret(StoreArgs),
}

#[derive(Debug, clap::Args)]
pub struct AdminPasswordArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Replace the admin password with a newly generated one.
    #[arg(long)]
    pub new: bool,
}

/// Which box's data to read.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// Data directory [default: the config's data_dir; ./venuebox-data without a config].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Config file [default: $VENUEBOX_CONFIG, else /etc/venuebox/venuebox.toml if present].
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML config file (see docs/configuration.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 0.0.0.0:3000].
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory [default: ./venuebox-data].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Token file in the venue format [default: the bundled demo set].
    #[arg(long)]
    pub tokens: Option<PathBuf>,
    /// Hardware backend [default: sim].
    #[arg(long, value_enum)]
    pub hardware: Option<HardwareKind>,
}

impl ServeArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            data_dir: self.data.clone(),
            tokens: self.tokens.clone(),
            hardware: self.hardware,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// What the holder may do.
    #[arg(long, value_enum)]
    pub role: Role,
    /// Who holds it: a station id such as GM_STATION_01, or a scanner id.
    #[arg(long)]
    pub sub: String,
    /// Lifetime, such as 30m, 12h, 30d [default: 12h].
    #[arg(long, default_value = "12h")]
    pub ttl: String,
    /// Data directory of the box whose secret signs the token.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Config file, to find the data directory the same way `serve` does.
    #[arg(long)]
    pub config: Option<PathBuf>,
}
