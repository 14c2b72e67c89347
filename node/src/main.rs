//! `ordo`: the command-line entry point of an ordo node.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ordo_node::keyfile;
use ordo_types::BlsSecretKey;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ordo",
    version,
    about = "ordo: a decentralized shared sequencer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Manage validator keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Generate a BLS key and write it to a file readable by its owner only.
    Generate {
        /// Where to write the key file.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print the public key and proof of possession of a key file, as JSON.
    Show {
        /// The key file.
        path: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Keys(KeysCommand::Generate { out, force }) => {
            let sk = BlsSecretKey::generate().context("generating a key")?;
            keyfile::write_bls_key(&out, &sk, force)?;
            print_public(&sk);
        }
        Command::Keys(KeysCommand::Show { path }) => {
            let sk = keyfile::read_bls_key(&path)?;
            print_public(&sk);
        }
    }
    Ok(())
}

fn print_public(sk: &BlsSecretKey) {
    let out = serde_json::json!({
        "public_key": sk.public_key().to_string(),
        "proof_of_possession": sk.proof_of_possession().to_string(),
    });
    println!("{out}");
}
