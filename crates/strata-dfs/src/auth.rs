//! Mutual authentication on the master's gRPC port (see `strata_net::auth`).
//!
//! The master serves [`AuthService`] without the token check; every client calls
//! [`verify_server`] on a new channel before it sends a request that carries its token, so
//! a process that merely listens on the master's address (an impostor) never receives one.

use crate::proto::{self, auth_client::AuthClient, auth_server::Auth};
use strata_net::auth::{check_server_proof, nonce, server_proof};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// The server side: answers challenges with the cluster secret.
pub struct AuthService {
    /// The cluster secret.
    pub secret: String,
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn prove(
        &self,
        r: Request<proto::ProveRequest>,
    ) -> Result<Response<proto::ProveResponse>, Status> {
        let n = r.into_inner().nonce;
        if n.len() < 16 || n.len() > 128 {
            return Err(Status::invalid_argument(
                "nonce must be 16 to 128 characters",
            ));
        }
        Ok(Response::new(proto::ProveResponse {
            proof: server_proof(&self.secret, &n),
        }))
    }
}

/// The gRPC service to add (unintercepted) beside the master's.
pub fn server(secret: &str) -> proto::auth_server::AuthServer<AuthService> {
    proto::auth_server::AuthServer::new(AuthService {
        secret: secret.to_string(),
    })
}

/// Checks that the server on `channel` (at `addr`) knows `secret`; with an empty secret
/// there is nothing to check. The error says what to do.
pub async fn verify_server(channel: Channel, addr: &str, secret: &str) -> Result<(), String> {
    if secret.is_empty() {
        return Ok(());
    }
    let n = nonce();
    let reply = AuthClient::new(channel)
        .prove(proto::ProveRequest { nonce: n.clone() })
        .await;
    match reply {
        Ok(r) if check_server_proof(secret, &n, &r.get_ref().proof) => Ok(()),
        Ok(_) => Err(format!(
            "the server at {addr} could not prove it knows the cluster secret: it is not this cluster's master, or its [cluster] secret differs from yours; nothing was sent to it"
        )),
        Err(s) => Err(format!(
            "the server at {addr} did not answer the authentication challenge ({}): is it a Strata master of this version?",
            s.message()
        )),
    }
}
