//! Shared-secret authentication, both ways, without ever sending the secret.
//!
//! Every node and client of a cluster is configured with the same secret (`[cluster] secret`
//! in the TOML config, or `STRATA_SECRET`). The secret itself never crosses the network:
//!
//! - **Clients prove themselves** with a *token*, `HMAC-SHA256(secret, "strata/v1/" +
//!   purpose)` in hex: gRPC requests carry the `grpc` token in the `x-strata-token` header,
//!   data-protocol requests the `data` token in their header. A server recomputes it and
//!   compares in constant time. A token reveals nothing about the secret, so a server that
//!   is not what it claims learns nothing it could use elsewhere.
//! - **Servers prove themselves** before a client sends a token: the client sends a fresh
//!   random nonce and the server answers `HMAC-SHA256(secret, "strata/v1/server/" + nonce)`
//!   ([`server_proof`]); the client checks it ([`check_server_proof`]). An impostor that does
//!   not know the secret cannot answer, so a client never writes to, or reads from, a
//!   process that merely listens on the master's address.
//!
//! What this does not protect (see SECURITY.md): traffic is not encrypted, so an attacker
//! who can *read* the network sees data and can replay a captured token to the same
//! cluster. Run clusters on networks you trust, or inside an encrypted overlay.
//!
//! An empty configured secret disables every check (single-user development).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tonic::{Request, Status, metadata::MetadataValue};

/// The gRPC metadata key carrying the client token.
pub const HEADER: &str = "x-strata-token";

/// Token purposes: one per protocol, so a token of one is useless on another.
pub mod purpose {
    /// gRPC control plane (master, cluster manager).
    pub const GRPC: &str = "grpc";
    /// DFS chunk data protocol.
    pub const DATA: &str = "data";
    /// Dataflow driver/executor and shuffle protocols.
    pub const DATAFLOW: &str = "dataflow";
    /// The web UI (its login token).
    pub const UI: &str = "ui";
}

fn mac(secret: &str, msg: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    m.update(msg);
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The token a client presents for `purpose` (empty when the secret is empty).
pub fn token(secret: &str, purpose: &str) -> String {
    if secret.is_empty() {
        return String::new();
    }
    mac(secret, format!("strata/v1/{purpose}").as_bytes())
}

/// Whether `given` is the token for `purpose` under `secret` (always true with no secret).
pub fn token_ok(secret: &str, purpose: &str, given: &str) -> bool {
    secret.is_empty() || secrets_match(&token(secret, purpose), given)
}

/// A fresh random nonce (hex), for [`server_proof`].
pub fn nonce() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// The server's answer to a client's nonce.
pub fn server_proof(secret: &str, nonce: &str) -> String {
    if secret.is_empty() {
        return String::new();
    }
    mac(secret, format!("strata/v1/server/{nonce}").as_bytes())
}

/// Whether `proof` answers `nonce` under `secret`.
pub fn check_server_proof(secret: &str, nonce: &str, proof: &str) -> bool {
    secret.is_empty() || secrets_match(&server_proof(secret, nonce), proof)
}

/// Constant-time equality of two strings.
pub fn secrets_match(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= (*a.get(i).unwrap_or(&0) ^ *b.get(i).unwrap_or(&0)) as usize;
    }
    diff == 0
}

/// Server side: an interceptor refusing requests without the gRPC token.
pub fn check(secret: String) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone {
    let expected = token(&secret, purpose::GRPC);
    move |req: Request<()>| {
        if expected.is_empty() {
            return Ok(req);
        }
        let given = req
            .metadata()
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if secrets_match(&expected, given) {
            Ok(req)
        } else {
            Err(Status::unauthenticated(
                "missing or wrong cluster secret: set the same [cluster] secret (or STRATA_SECRET) on every node and client",
            ))
        }
    }
}

/// Client side, as a nameable type: adds the gRPC token to every request.
#[derive(Clone, Debug)]
pub struct Attach {
    value: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl Attach {
    /// An interceptor presenting the token for `secret` (none if the secret is empty).
    pub fn new(secret: &str) -> Result<Self, Status> {
        let t = token(secret, purpose::GRPC);
        let value = if t.is_empty() {
            None
        } else {
            Some(MetadataValue::try_from(t).map_err(|_| Status::internal("token is hex"))?)
        };
        Ok(Attach { value })
    }
}

impl tonic::service::Interceptor for Attach {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.value {
            req.metadata_mut().insert(HEADER, v.clone());
        }
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_exactly() {
        assert!(secrets_match("abc", "abc"));
        assert!(!secrets_match("abc", "abd"));
        assert!(!secrets_match("abc", "ab"));
        assert!(!secrets_match("abc", ""));
        let mut c = check("s3cret".into());
        assert!(c(Request::new(())).is_err());
        let mut a = Attach::new("s3cret").unwrap();
        assert!(c(tonic::service::Interceptor::call(&mut a, Request::new(())).unwrap()).is_ok());
        let mut wrong = Attach::new("other").unwrap();
        assert!(
            c(tonic::service::Interceptor::call(&mut wrong, Request::new(())).unwrap()).is_err()
        );
        let mut open = check(String::new());
        assert!(open(Request::new(())).is_ok());
    }

    #[test]
    fn tokens_hide_the_secret_and_differ_by_purpose() {
        let t = token("s3cret", purpose::GRPC);
        assert_eq!(t.len(), 64);
        assert!(!t.contains("s3cret"));
        assert_ne!(t, token("s3cret", purpose::DATA));
        assert!(token_ok(
            "s3cret",
            purpose::DATA,
            &token("s3cret", purpose::DATA)
        ));
        assert!(!token_ok("s3cret", purpose::DATA, &t));
    }

    #[test]
    fn non_ascii_secrets_work() {
        let mut c = check("pässwörd-秘密".into());
        let mut a = Attach::new("pässwörd-秘密").unwrap();
        assert!(c(tonic::service::Interceptor::call(&mut a, Request::new(())).unwrap()).is_ok());
    }

    #[test]
    fn only_the_secret_holder_answers_a_challenge() {
        let n = nonce();
        assert_ne!(n, nonce());
        let p = server_proof("s3cret", &n);
        assert!(check_server_proof("s3cret", &n, &p));
        assert!(!check_server_proof("s3cret", &nonce(), &p));
        assert!(!check_server_proof(
            "s3cret",
            &n,
            &server_proof("guess", &n)
        ));
    }
}
