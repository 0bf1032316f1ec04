//! Keyed state: larger than the LSM backend's memory budget, and checkpointed
//! incrementally (files shared between checkpoints, unreferenced ones deleted).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strata_stream::{
    CheckpointConfig, Collected, KeyedProcessFunction, ProcessContext, Record, StateBackend,
    StreamConfig, StreamEnv, VecSource, WatermarkStrategy,
};

/// Per key: a count and a 2 KiB payload (so the state is large), emitting the count at
/// the end of the input.
struct Fat;

#[derive(Default, Serialize, Deserialize)]
struct FatState {
    n: u64,
    payload: Vec<u8>,
}

impl KeyedProcessFunction<u64, (u64, i64), (u64, u64)> for Fat {
    type State = FatState;
    fn process(
        &self,
        _: &u64,
        st: &mut FatState,
        _: Record<(u64, i64)>,
        ctx: &mut ProcessContext<(u64, u64)>,
    ) {
        if st.n == 0 {
            st.payload = vec![7; 2048];
            ctx.register_timer(i64::MAX);
        }
        st.n += 1;
    }
    fn on_timer(&self, k: &u64, st: &mut FatState, ts: i64, ctx: &mut ProcessContext<(u64, u64)>) {
        assert_eq!(st.payload.len(), 2048);
        ctx.emit(ts, (*k, st.n));
    }
}

fn input(keys: u64, per_part: u64, parts: u64) -> Vec<Vec<(u64, i64)>> {
    (0..parts)
        .map(|p| {
            (0..per_part)
                .map(|i| ((i * 7919 + p) % keys, i as i64))
                .collect()
        })
        .collect()
}

fn run(parts: Vec<Vec<(u64, i64)>>, config: StreamConfig) -> BTreeMap<u64, u64> {
    let env = StreamEnv::new(config);
    let out: Collected<(u64, u64)> = Arc::new(Mutex::new(Vec::new()));
    env.source(
        VecSource::new(parts),
        WatermarkStrategy::bounded(Duration::ZERO, |e: &(u64, i64)| e.1),
    )
    .key_by(|e: &(u64, i64)| e.0)
    .process(Fat)
    .collect_into(out.clone());
    env.execute().unwrap();
    out.lock().unwrap().iter().map(|r| r.value).collect()
}

#[test]
fn state_larger_than_the_memory_budget_lives_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    // 30,000 keys x 2 KiB = ~60 MB of state with a 4 MiB budget per task.
    let parts = input(30_000, 60_000, 2);
    let mut want: BTreeMap<u64, u64> = BTreeMap::new();
    for (k, _) in parts.iter().flatten() {
        *want.entry(*k).or_default() += 1;
    }
    let got = run(
        parts,
        StreamConfig {
            parallelism: 2,
            state_backend: StateBackend::lsm(dir.path(), 4 << 20),
            ..Default::default()
        },
    );
    assert_eq!(got, want);
    // Task databases are removed when their tasks end.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[derive(Deserialize)]
struct Meta {
    id: u64,
    shared: Vec<String>,
}

#[test]
fn incremental_checkpoints_share_files_and_drop_unreferenced_ones() {
    for backend in ["heap", "lsm"] {
        let dir = tempfile::tempdir().unwrap();
        let chk = dir.path().join("chk");
        let state_backend = match backend {
            "heap" => StateBackend::Heap,
            _ => StateBackend::lsm(dir.path(), 8 << 20),
        };
        run(
            input(2_000, 150_000, 2),
            StreamConfig {
                parallelism: 2,
                state_backend,
                batch_size: 64,
                checkpoint: Some(CheckpointConfig {
                    dir: chk.to_string_lossy().to_string(),
                    interval: Duration::from_millis(2),
                    retain: 3,
                }),
                ..Default::default()
            },
        );
        let mut metas = Vec::new();
        for e in std::fs::read_dir(&chk).unwrap() {
            let p = e.unwrap().path().join("metadata.json");
            if p.exists() {
                let m: Meta = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
                metas.push(m);
            }
        }
        metas.sort_by_key(|m| m.id);
        assert_eq!(metas.len(), 3, "{backend}: retained checkpoints");
        assert!(
            metas[2].id >= 4,
            "{backend}: only {} checkpoints ran",
            metas[2].id
        );
        let files: BTreeSet<String> = std::fs::read_dir(chk.join("shared"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        let referenced: BTreeSet<String> = metas
            .iter()
            .flat_map(|m| m.shared.iter().cloned())
            .collect();
        // Reference counting: exactly the files a retained checkpoint needs are kept.
        assert_eq!(files, referenced, "{backend}");
        // Sharing: retained checkpoints reuse files earlier checkpoints wrote (a chain is
        // restarted by a full snapshot every few checkpoints, so not necessarily the newest).
        let sharing = metas
            .iter()
            .filter(|m| {
                m.shared
                    .iter()
                    .any(|f| !f.ends_with(&format!("-{:06}.state", m.id)))
            })
            .count();
        assert!(
            sharing >= 1,
            "{backend}: no retained checkpoint shares a file"
        );
    }
    // The job's metrics went to the process-wide registry (`/metrics`).
    let text = strata_common::metrics::render();
    let value = |name: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(value("strata_stream_checkpoints_total") >= 8.0, "{text}");
    assert!(value("strata_stream_records_total") >= 600_000.0, "{text}");
    assert!(value("strata_stream_checkpoint_bytes") > 0.0, "{text}");
    assert!(text.contains("strata_stream_watermark_ms{stage="), "{text}");
}
