//! Shared-secret authentication for gRPC and the data protocol.
//!
//! Every node of a cluster is configured with the same secret (`[cluster] secret` in the
//! TOML config, or `STRATA_SECRET`). gRPC requests carry it in the `x-strata-secret`
//! metadata header; data-protocol requests carry it in their header. Comparison is in
//! constant time. An empty configured secret disables the check (single-user development).

use tonic::{Request, Status, metadata::MetadataValue};

/// The gRPC metadata key.
pub const HEADER: &str = "x-strata-secret";

/// Constant-time equality of two secrets.
pub fn secrets_match(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= (*a.get(i).unwrap_or(&0) ^ *b.get(i).unwrap_or(&0)) as usize;
    }
    diff == 0
}

/// Server side: an interceptor refusing requests without the secret.
pub fn check(secret: String) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |req: Request<()>| {
        if secret.is_empty() {
            return Ok(req);
        }
        let given = req
            .metadata()
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if secrets_match(&secret, given) {
            Ok(req)
        } else {
            Err(Status::unauthenticated(
                "missing or wrong cluster secret: set the same [cluster] secret (or STRATA_SECRET) on every node and client",
            ))
        }
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
        let mut open = check(String::new());
        assert!(open(Request::new(())).is_ok());
    }
}

/// Client side, as a nameable type: adds the secret to every request.
#[derive(Clone, Debug)]
pub struct Attach {
    value: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl Attach {
    /// An interceptor presenting `secret` (none if empty).
    pub fn new(secret: &str) -> Result<Self, Status> {
        let value = if secret.is_empty() {
            None
        } else {
            Some(MetadataValue::try_from(secret).map_err(|_| {
                Status::invalid_argument("the cluster secret must be printable ASCII")
            })?)
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
