//! The driver's side of the master: ask for executors, report progress, say goodbye.
//!
//! Blocking (the dataflow driver is plain threads); each client owns a small tokio runtime.

use crate::model::AppUi;
use crate::proto::{
    AppFinish, AppGrant, AppHeartbeatRequest, AppRequest, JobQuery, JobStatus, JobSubmit, Quota,
    cluster_master_client::ClusterMasterClient,
};
use std::time::Duration;
use strata_net::auth::Attach;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Why talking to the master failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The master cannot be reached.
    #[error("cannot reach the cluster master at {0}: {1}; is `strata master` running there?")]
    Unreachable(String, String),
    /// The master refused the request.
    #[error("the cluster master refused: {0}")]
    Refused(String),
}

/// A connection to the master for one application.
pub struct AppClient {
    rt: tokio::runtime::Runtime,
    client: ClusterMasterClient<InterceptedService<Channel, Attach>>,
    master: String,
}

impl AppClient {
    /// Connects to the master at `host:port`.
    pub fn connect(master: &str, secret: &str) -> Result<AppClient, ClientError> {
        let unreachable = |e: String| ClientError::Unreachable(master.to_string(), e);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| unreachable(e.to_string()))?;
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{master}"))
            .map_err(|e| unreachable(e.to_string()))?
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10));
        let channel = rt
            .block_on(endpoint.connect())
            .map_err(|e| unreachable(e.to_string()))?;
        rt.block_on(strata_dfs::auth::verify_server(
            channel.clone(),
            master,
            secret,
        ))
        .map_err(ClientError::Refused)?;
        let attach = Attach::new(secret).map_err(|s| ClientError::Refused(s.message().into()))?;
        Ok(AppClient {
            rt,
            client: ClusterMasterClient::with_interceptor(channel, attach)
                .max_encoding_message_size(64 << 20),
            master: master.to_string(),
        })
    }

    fn status(&self, s: tonic::Status) -> ClientError {
        match s.code() {
            tonic::Code::Unavailable if s.message().contains("no live workers") => {
                ClientError::Refused(s.message().into())
            }
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => {
                ClientError::Unreachable(self.master.clone(), s.message().into())
            }
            _ => ClientError::Refused(s.message().into()),
        }
    }

    /// Registers an application and has its executors launched.
    pub fn submit(&mut self, req: AppRequest) -> Result<AppGrant, ClientError> {
        let mut c = self.client.clone();
        self.rt
            .block_on(c.submit_app(req))
            .map(|r| r.into_inner())
            .map_err(|s| self.status(s))
    }

    /// Keeps the application alive and publishes its progress. `Ok(false)` when the master
    /// no longer knows it as running.
    pub fn heartbeat(&mut self, app: &str, ui: &AppUi) -> Result<bool, ClientError> {
        let mut c = self.client.clone();
        let req = AppHeartbeatRequest {
            app_id: app.to_string(),
            ui: bincode::serialize(ui).unwrap_or_default(),
        };
        self.rt
            .block_on(c.app_heartbeat(req))
            .map(|r| !r.into_inner().unknown)
            .map_err(|s| self.status(s))
    }

    /// Reports the end of the application.
    pub fn finish(&mut self, app: &str, error: Option<String>, ui: &AppUi) {
        let mut c = self.client.clone();
        let req = AppFinish {
            app_id: app.to_string(),
            ok: error.is_none(),
            error: error.unwrap_or_default(),
            ui: bincode::serialize(ui).unwrap_or_default(),
        };
        if let Err(e) = self.rt.block_on(c.finish_app(req)) {
            tracing::warn!(error = %e.message(), "cannot report the application's end");
        }
    }

    /// Submits a declarative job (its TOML text); returns its name.
    pub fn submit_job(&mut self, toml: &str) -> Result<String, ClientError> {
        let mut c = self.client.clone();
        let req = JobSubmit { toml: toml.into() };
        self.rt
            .block_on(c.submit_job(req))
            .map(|r| r.into_inner().name)
            .map_err(|s| self.status(s))
    }

    /// Replaces a running job's spec; returns its name.
    pub fn update_job(&mut self, toml: &str) -> Result<String, ClientError> {
        let mut c = self.client.clone();
        let req = JobSubmit { toml: toml.into() };
        self.rt
            .block_on(c.update_job(req))
            .map(|r| r.into_inner().name)
            .map_err(|s| self.status(s))
    }

    /// Every job's status, or one job's (with its tasks).
    pub fn jobs(&mut self, name: Option<&str>) -> Result<Vec<JobStatus>, ClientError> {
        let mut c = self.client.clone();
        let req = JobQuery {
            name: name.unwrap_or_default().into(),
        };
        self.rt
            .block_on(c.jobs(req))
            .map(|r| r.into_inner().jobs)
            .map_err(|s| self.status(s))
    }

    /// Kills a job.
    pub fn kill_job(&mut self, name: &str) -> Result<(), ClientError> {
        let mut c = self.client.clone();
        let req = JobQuery { name: name.into() };
        self.rt
            .block_on(c.kill_job(req))
            .map(|_| ())
            .map_err(|s| self.status(s))
    }

    /// Sets a tenant's quota.
    pub fn set_quota(&mut self, quota: Quota) -> Result<(), ClientError> {
        let mut c = self.client.clone();
        self.rt
            .block_on(c.set_quota(quota))
            .map(|_| ())
            .map_err(|s| self.status(s))
    }
}
