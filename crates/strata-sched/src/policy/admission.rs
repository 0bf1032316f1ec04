//! Admission control: whether a job may join the queue at all.

use crate::job::Job;
use crate::nodes::Nodes;
use crate::resources::Resources;
use std::collections::HashMap;

/// Decides at submission whether a job is accepted; a refusal says why and what to change.
pub trait Admission: Send {
    /// `held` is what the tenant's accepted, unfinished jobs ask for together.
    fn admit(&mut self, job: &Job, held: &Resources, nodes: &Nodes) -> Result<(), String>;
}

/// Accepts every job the cluster could ever run: no task larger than the largest node, no
/// gang larger than the whole cluster.
pub struct FitsCluster;

impl Admission for FitsCluster {
    fn admit(&mut self, job: &Job, _: &Resources, nodes: &Nodes) -> Result<(), String> {
        if !job.per_task.fits_in(&nodes.largest_node()) {
            return Err(format!(
                "job {}: a task needs {} but the largest node has {}",
                job.id,
                job.per_task,
                nodes.largest_node()
            ));
        }
        if !job.demand().fits_in(&nodes.capacity()) {
            return Err(format!(
                "job {}: its gang of {} tasks needs {} but the cluster has {}",
                job.id,
                job.tasks,
                job.demand(),
                nodes.capacity()
            ));
        }
        Ok(())
    }
}

/// Borg-style quotas: a tenant's accepted jobs together may not ask for more than its quota.
/// With `require`, a tenant without a quota is refused (production cells admit nothing
/// unbudgeted); without it, such tenants are unlimited. Also refuses what [`FitsCluster`]
/// refuses.
#[derive(Default)]
pub struct TenantQuota {
    /// Quota per tenant.
    pub quotas: HashMap<String, Resources>,
    /// Refuse tenants that have no quota.
    pub require: bool,
}

impl Admission for TenantQuota {
    fn admit(&mut self, job: &Job, held: &Resources, nodes: &Nodes) -> Result<(), String> {
        FitsCluster.admit(job, held, nodes)?;
        self.check(job, held)
    }
}

impl TenantQuota {
    /// The quota check alone: `held` plus the job's demand must fit the tenant's quota.
    pub fn check(&self, job: &Job, held: &Resources) -> Result<(), String> {
        let Some(quota) = self.quotas.get(&job.tenant) else {
            if !self.require {
                return Ok(());
            }
            return Err(format!(
                "tenant {} has no quota: set one with `strata quota set {} cpu=N mem=SIZE gpu=N`",
                job.tenant, job.tenant
            ));
        };
        let after = held.plus(&job.demand());
        if !after.fits_in(quota) {
            return Err(format!(
                "job {} would bring tenant {} to {after}, over its quota {quota}: \
                 wait for its jobs to finish or raise the quota",
                job.id, job.tenant
            ));
        }
        Ok(())
    }
}
