//! `kubectl build provenance BUILD`: the provenance of a succeeded Build, as an in-toto
//! Statement v1 with a SLSA Provenance v1 predicate (made by [`statement`] from the Build
//! alone), or, with `--key`, that statement signed in a DSSE envelope ([`sign_envelope`]).

pub(super) mod dsse;
mod statement;

use std::path::PathBuf;

use clap::Args;

pub use dsse::{
    Envelope, IN_TOTO_PAYLOAD_TYPE, KeyError, Signature, SigningKey, pae, sign_envelope,
};
pub use statement::{
    BUILD_TYPE, BuildDefinition, BuildMetadata, Builder, DEFAULT_BUILDER_ID, PREDICATE_TYPE,
    Provenance, ProvenanceError, ResourceDescriptor, RunDetails, STATEMENT_TYPE, Statement,
    StatementInputs, statement,
};

use super::error::PluginError;
use super::exit::PluginExit;
use super::io::Io;
use super::session::Session;

/// `kubectl build provenance`.
#[derive(Args, Clone, Debug)]
pub struct ProvenanceArgs {
    /// The Build's name.
    pub build: String,
    /// Sign the statement with this private key (PEM PKCS#8, "-----BEGIN PRIVATE KEY-----";
    /// Ed25519 or ECDSA P-256) and print a DSSE envelope instead of the statement.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The builder.id to write: a URI naming the build platform a policy trusts (this
    /// controller on your cluster).
    #[arg(long, value_name = "URI", default_value = DEFAULT_BUILDER_ID)]
    pub builder_id: String,
}

/// Prints the statement (or the envelope) as JSON. Exit code 1 when the Build has not
/// succeeded or its image results are missing or malformed; 2 when the key cannot be used or
/// the Build cannot be read.
pub(crate) async fn provenance(
    session: &Session,
    args: &ProvenanceArgs,
    io: &mut Io<'_>,
) -> Result<PluginExit, PluginError> {
    // The key first: a file that cannot sign fails before any request.
    let key = args.key.as_ref().map(read_key).transpose()?;
    let build = session.build(&args.build).await?;
    let inputs = StatementInputs {
        build: &build,
        builder_id: &args.builder_id,
    };
    let statement = match statement(&inputs) {
        Ok(statement) => statement,
        Err(error) => {
            writeln!(io.err, "error: {error}")?;
            return Ok(PluginExit::Failed);
        }
    };
    let json = match &key {
        None => serde_json::to_string_pretty(&statement),
        Some(key) => {
            let payload = serde_json::to_vec(&statement).map_err(std::io::Error::from)?;
            let envelope = sign_envelope(IN_TOTO_PAYLOAD_TYPE, &payload, key);
            serde_json::to_string_pretty(&envelope)
        }
    }
    .map_err(std::io::Error::from)?;
    writeln!(io.out, "{json}")?;
    Ok(PluginExit::Succeeded)
}

/// The signing key in `path`.
fn read_key(path: &PathBuf) -> Result<SigningKey, PluginError> {
    let pem = std::fs::read_to_string(path).map_err(|source| PluginError::ReadFile {
        path: path.clone(),
        source,
    })?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|source| PluginError::Key {
        path: path.clone(),
        source,
    })
}
