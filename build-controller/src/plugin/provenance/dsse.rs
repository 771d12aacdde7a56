//! Signing a statement as a DSSE envelope (Dead Simple Signing Envelope, v1) with an Ed25519 or
//! ECDSA P-256 key read from a PEM PKCS#8 file. The cryptography is RustCrypto's
//! (`ed25519-dalek`, `p256`); this module only lays out the bytes DSSE signs and the JSON it
//! wraps them in.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::pkcs8::der::asn1::ObjectIdentifier;
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey, PrivateKeyInfo, SecretDocument};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `payloadType` of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// A DSSE envelope: the payload, its type, and its signatures over the PAE of both.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The payload, base64 (standard alphabet, padded).
    pub payload: String,
    /// What the payload is: [`IN_TOTO_PAYLOAD_TYPE`].
    pub payload_type: String,
    /// One signature per key.
    pub signatures: Vec<Signature>,
}

/// One signature of an [`Envelope`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// Which key made it: [`SigningKey::keyid`].
    pub keyid: String,
    /// The signature over [`pae`], base64: 64 bytes for Ed25519, ASN.1 DER for ECDSA.
    pub sig: String,
}

/// Why a key file cannot sign. Never holds any of the key's bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// Not PEM at all.
    #[error("not a PEM file (expected \"-----BEGIN PRIVATE KEY-----\", PKCS#8)")]
    NotPem,
    /// PEM, but not an unencrypted PKCS#8 private key.
    #[error("holds a {label:?} PEM block, not an unencrypted PKCS#8 \"PRIVATE KEY\"{hint}")]
    Label {
        /// The PEM label found.
        label: String,
        /// How to convert it, when known.
        hint: &'static str,
    },
    /// A PKCS#8 key of another algorithm.
    #[error(
        "holds a key of algorithm {oid}{parameters}; only Ed25519 and ECDSA P-256 keys can sign"
    )]
    Algorithm {
        /// The key's algorithm OID.
        oid: String,
        /// The curve's OID, for an elliptic-curve key.
        parameters: String,
    },
    /// The PKCS#8 structure is malformed.
    #[error("is not a valid PKCS#8 private key: {0}")]
    Invalid(String),
}

/// A private key that signs DSSE envelopes.
#[derive(Clone)]
pub enum SigningKey {
    /// Ed25519 (RFC 8032).
    Ed25519(Box<ed25519_dalek::SigningKey>),
    /// ECDSA on P-256 with SHA-256, deterministic (RFC 6979).
    P256(Box<p256::ecdsa::SigningKey>),
}

/// Shows the algorithm and key ID, never the key.
impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .field("keyid", &self.keyid())
            .finish()
    }
}

impl SigningKey {
    /// Reads an unencrypted PKCS#8 private key in PEM (`-----BEGIN PRIVATE KEY-----`), as
    /// `openssl genpkey -algorithm ed25519` or `openssl genpkey -algorithm EC -pkeyopt
    /// ec_paramgen_curve:P-256` write it.
    ///
    /// # Errors
    ///
    /// [`KeyError`] for anything else, saying what the file holds.
    pub fn from_pkcs8_pem(pem: &str) -> Result<SigningKey, KeyError> {
        let label =
            p256::pkcs8::der::pem::decode_label(pem.as_bytes()).map_err(|_| KeyError::NotPem)?;
        if label != "PRIVATE KEY" {
            let hint = match label {
                "EC PRIVATE KEY" => {
                    " (convert it with: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pkcs8)"
                }
                "ENCRYPTED PRIVATE KEY" => {
                    " (decrypt it with: openssl pkcs8 -in KEY -out KEY.plain)"
                }
                "OPENSSH PRIVATE KEY" => {
                    " (convert a copy with: ssh-keygen -p -m PKCS8 -N '' -f KEY.copy)"
                }
                _ => "",
            };
            return Err(KeyError::Label {
                label: label.to_owned(),
                hint,
            });
        }
        let (_, document) =
            SecretDocument::from_pem(pem).map_err(|e| KeyError::Invalid(e.to_string()))?;
        let der = document.as_bytes();
        let info = PrivateKeyInfo::try_from(der).map_err(|e| KeyError::Invalid(e.to_string()))?;
        let invalid = |e: p256::pkcs8::Error| KeyError::Invalid(e.to_string());
        match (info.algorithm.oid, info.algorithm.parameters_oid().ok()) {
            (ED25519, _) => Ok(SigningKey::Ed25519(Box::new(
                ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(invalid)?,
            ))),
            (EC_PUBLIC_KEY, Some(P256)) => Ok(SigningKey::P256(Box::new(
                p256::ecdsa::SigningKey::from_pkcs8_der(der).map_err(invalid)?,
            ))),
            (oid, parameters) => Err(KeyError::Algorithm {
                oid: oid.to_string(),
                parameters: parameters
                    .map(|p| format!(" (curve {p})"))
                    .unwrap_or_default(),
            }),
        }
    }

    /// `ed25519` or `ecdsa-p256`.
    pub fn algorithm(&self) -> &'static str {
        match self {
            SigningKey::Ed25519(_) => "ed25519",
            SigningKey::P256(_) => "ecdsa-p256",
        }
    }

    /// The public key as DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> Vec<u8> {
        let der = match self {
            SigningKey::Ed25519(key) => key.verifying_key().to_public_key_der(),
            SigningKey::P256(key) => key.verifying_key().to_public_key_der(),
        };
        // Encoding a valid public key cannot fail.
        der.map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// The key's ID in the envelope: the SHA-256 of the public key's DER SubjectPublicKeyInfo,
    /// in hex, which `openssl pkey -in KEY -pubout -outform DER | sha256sum` also prints.
    pub fn keyid(&self) -> String {
        hex(&Sha256::digest(self.public_key_der()))
    }

    /// The signature of `message`.
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        match self {
            SigningKey::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
            SigningKey::P256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
        }
    }
}

/// DSSE's pre-authentication encoding, what is signed:
/// `"DSSEv1" SP len(type) SP type SP len(body) SP body`, lengths in decimal bytes.
///
/// ```
/// use build_controller::plugin::pae;
/// assert_eq!(pae("t", b"hi"), b"DSSEv1 1 t 2 hi");
/// ```
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// `payload` of type `payload_type` in an envelope signed by `key`.
pub fn sign_envelope(payload_type: &str, payload: &[u8], key: &SigningKey) -> Envelope {
    let signature = key.sign(&pae(payload_type, payload));
    Envelope {
        payload: STANDARD.encode(payload),
        payload_type: payload_type.to_owned(),
        signatures: vec![Signature {
            keyid: key.keyid(),
            sig: STANDARD.encode(signature),
        }],
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_files_say_what_they_hold() {
        assert_eq!(
            SigningKey::from_pkcs8_pem("hello").unwrap_err(),
            KeyError::NotPem
        );
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        let error = SigningKey::from_pkcs8_pem(sec1).unwrap_err();
        assert!(
            error.to_string().starts_with(
                "holds a \"EC PRIVATE KEY\" PEM block, not an unencrypted PKCS#8 \"PRIVATE KEY\" (convert it with: openssl pkcs8"
            ),
            "{error}"
        );
    }
}
