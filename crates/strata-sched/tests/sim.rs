//! The simulator against textbook answers and its own conservation laws.

use strata_sched::policy::{self, FitsCluster, Placement};
use strata_sched::sim::{Outcome, SimConfig, Summary, jobs_csv, simulate};
use strata_sched::trace::synth::{SynthConfig, generate};
use strata_sched::{Job, Resources, Trace};

fn run(trace: &Trace, config: &SimConfig, policy: &str, placement: &str) -> Outcome {
    let mut p = policy::by_name(policy, 300.0).unwrap();
    let mut pl: Box<dyn Placement> = policy::placement_by_name(placement).unwrap();
    simulate(trace, config, p.as_mut(), pl.as_mut(), &mut FitsCluster)
}

fn gpu_job(id: &str, submit: f64, duration: f64, gpus: f64) -> Job {
    Job::from_totals(id.into(), "t".into(), submit, duration, gpus, 0.0, 0)
}

fn one_gpu() -> SimConfig {
    SimConfig {
        nodes: 1,
        per_node: Resources::new(1.0, 1.0, 0),
    }
}

fn jct_of(o: &Outcome, id: &str) -> f64 {
    o.jobs.iter().find(|j| j.id == id).unwrap().jct()
}

#[test]
fn srtf_matches_the_hand_computed_schedule_on_one_machine() {
    let trace = Trace {
        jobs: vec![
            gpu_job("a", 0.0, 10.0, 1.0),
            gpu_job("b", 1.0, 2.0, 1.0),
            gpu_job("c", 2.0, 1.0, 1.0),
        ],
        ..Trace::default()
    };
    // a runs 0-1, b preempts it (2 < 9) and runs 1-3, c (1 left) waits behind b (1 left,
    // arrived first), runs 3-4, a finishes 4-13.
    let o = run(&trace, &one_gpu(), "srtf", "consolidated");
    assert_eq!(
        (jct_of(&o, "a"), jct_of(&o, "b"), jct_of(&o, "c")),
        (13.0, 2.0, 2.0)
    );
    assert_eq!(o.jobs.iter().map(|j| j.preemptions).sum::<u32>(), 1);
    // FIFO: a 0-10, b 10-12, c 12-13.
    let f = run(&trace, &one_gpu(), "fifo", "consolidated");
    assert_eq!(
        (jct_of(&f, "a"), jct_of(&f, "b"), jct_of(&f, "c")),
        (10.0, 11.0, 11.0)
    );
}

#[test]
fn srtf_has_the_lowest_mean_jct_on_one_machine() {
    // SRPT is optimal for mean completion time on one machine: no other policy beats it.
    for seed in 0..20 {
        let mut trace = generate(&SynthConfig {
            jobs: 60,
            jobs_per_hour: 3.0,
            tenants: 2,
            max_gpus: 1,
            seed,
        });
        for j in &mut trace.jobs {
            j.duration = (j.duration / 10.0).round().max(1.0);
        }
        let srtf = Summary::of(&run(&trace, &one_gpu(), "srtf", "consolidated")).avg_jct;
        for other in policy::POLICIES {
            let s = Summary::of(&run(&trace, &one_gpu(), other, "consolidated"));
            assert_eq!(s.jobs, 60, "{other}");
            assert!(
                srtf <= s.avg_jct * (1.0 + 1e-9),
                "seed {seed}: srtf {srtf} > {other} {}",
                s.avg_jct
            );
        }
    }
}

#[test]
fn drf_reproduces_the_papers_worked_example() {
    // DRF paper §4: 9 CPUs, 18 GB; A's tasks need <1 CPU, 4 GB>, B's <3 CPUs, 1 GB>.
    // DRF gives A three tasks and B two (each a dominant share of 2/3).
    let mut jobs = Vec::new();
    for i in 0..10 {
        let a = Resources::new(0.0, 1.0, 4096);
        let b = Resources::new(0.0, 3.0, 1024);
        for (tenant, per_task) in [("A", a), ("B", b)] {
            jobs.push(Job {
                id: format!("{tenant}{i}"),
                tenant: tenant.into(),
                submit: 0.0,
                duration: 100.0,
                tasks: 1,
                per_task,
            });
        }
    }
    let trace = Trace {
        jobs,
        ..Trace::default()
    };
    let config = SimConfig {
        nodes: 1,
        per_node: Resources::new(0.0, 9.0, 18 * 1024),
    };
    let o = run(&trace, &config, "drf", "consolidated");
    let started_at_zero = |t: &str| {
        o.jobs
            .iter()
            .filter(|j| j.tenant == t && j.start == 0.0)
            .count()
    };
    assert_eq!((started_at_zero("A"), started_at_zero("B")), (3, 2));
    assert_eq!(o.jobs.len(), 20);
}

#[test]
fn every_policy_and_placement_conserves_work_and_finishes_every_job() {
    let trace = generate(&SynthConfig {
        jobs: 400,
        jobs_per_hour: 40.0,
        tenants: 4,
        max_gpus: 16,
        seed: 11,
    });
    let config = SimConfig {
        nodes: 8,
        per_node: Resources::new(4.0, 32.0, 0),
    };
    for placement in ["consolidated", "scattered"] {
        for name in policy::POLICIES {
            let o = run(&trace, &config, name, placement);
            assert_eq!(o.jobs.len(), 400, "{name}/{placement}");
            assert!(o.rejected.is_empty());
            let rel = (o.service_served - o.service_demanded).abs() / o.service_demanded;
            assert!(
                rel < 1e-9,
                "{name}/{placement}: served {} of {}",
                o.service_served,
                o.service_demanded
            );
            for j in &o.jobs {
                assert!(j.start >= j.submit && j.finish - j.start >= j.duration * (1.0 - 1e-9));
                assert!(j.queued >= 0.0 && j.jct() >= j.duration * (1.0 - 1e-9));
            }
            let s = Summary::of(&o);
            assert!(
                s.utilization > 0.0 && s.utilization <= 1.0 + 1e-9,
                "{name}: {}",
                s.utilization
            );
        }
    }
}

#[test]
fn a_run_is_deterministic_for_a_seed() {
    let config = SimConfig {
        nodes: 4,
        per_node: Resources::new(8.0, 64.0, 0),
    };
    let trace = |seed| {
        generate(&SynthConfig {
            jobs: 300,
            jobs_per_hour: 30.0,
            tenants: 3,
            max_gpus: 32,
            seed,
        })
    };
    for name in policy::POLICIES {
        let a = jobs_csv(&run(&trace(5), &config, name, "consolidated"));
        let b = jobs_csv(&run(&trace(5), &config, name, "consolidated"));
        assert_eq!(a, b, "{name}");
        assert_ne!(a, jobs_csv(&run(&trace(6), &config, name, "consolidated")));
    }
}

#[test]
fn least_attained_service_beats_fifo_on_a_heavy_tailed_trace() {
    // Tiresias and Blox: without knowing durations, LAS-style policies cut mean JCT on
    // heavy-tailed DL workloads because short jobs no longer queue behind long ones.
    let trace = generate(&SynthConfig {
        jobs: 1500,
        jobs_per_hour: 12.0,
        tenants: 4,
        max_gpus: 16,
        seed: 3,
    });
    let config = SimConfig {
        nodes: 16,
        per_node: Resources::new(4.0, 32.0, 0),
    };
    let fifo = Summary::of(&run(&trace, &config, "fifo", "consolidated")).avg_jct;
    for name in ["las", "tiresias", "srtf"] {
        let s = Summary::of(&run(&trace, &config, name, "consolidated")).avg_jct;
        assert!(s < fifo, "{name} {s} vs fifo {fifo}");
    }
}

#[test]
fn gandiva_fair_shares_gpu_time_between_tenants_equally() {
    // Tenant "small" submits 1-GPU jobs, "big" 4-GPU jobs, both far more than fits; stride
    // scheduling gives each tenant half the GPU-seconds while both are backlogged.
    let mut jobs = Vec::new();
    for i in 0..200 {
        jobs.push(Job::from_totals(
            format!("s{i}"),
            "small".into(),
            0.0,
            3600.0,
            1.0,
            0.0,
            0,
        ));
        jobs.push(Job::from_totals(
            format!("b{i}"),
            "big".into(),
            0.0,
            3600.0,
            4.0,
            0.0,
            0,
        ));
    }
    let trace = Trace {
        jobs,
        ..Trace::default()
    };
    let config = SimConfig {
        nodes: 4,
        per_node: Resources::new(4.0, 32.0, 0),
    };
    let o = run(&trace, &config, "gandiva-fair", "consolidated");
    // Equal shares: while both are backlogged each gets 8 of the 16 GPUs, so "small" (200
    // GPU-hours) is done after 200 / 8 = 25 hours, and "big" (800 GPU-hours) then has the
    // cluster alone: (800 - 200) / 16 + 25 = 62.5 hours. Sharing by job count or by size
    // would end "small" far earlier or later.
    let last = |t: &str| {
        o.jobs
            .iter()
            .filter(|j| j.tenant == t)
            .map(|j| j.finish / 3600.0)
            .fold(0.0, f64::max)
    };
    let (small, big) = (last("small"), last("big"));
    assert!((small - 25.0).abs() < 2.5, "small done at {small} h");
    assert!((big - 62.5).abs() < 2.5, "big done at {big} h");
}
