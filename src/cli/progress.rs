//! Progress bars for stages and tasks, drawn on stderr when it is a terminal.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;
use strata::JobListener;

/// Bars by stage id.
#[derive(Default)]
struct Bars(Mutex<HashMap<u64, ProgressBar>>);

/// A [`JobListener`] that shows one bar per running stage.
pub struct Progress {
    multi: MultiProgress,
    bars: Bars,
    style: ProgressStyle,
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Bars::default(),
            style: ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} tasks  {msg}",
            )
            .expect("valid template"),
        }
    }
}

impl JobListener for Progress {
    fn on_stage_start(&self, _job: u64, stage: u64, description: &str, tasks: usize) {
        let bar = self.multi.add(ProgressBar::new(tasks as u64));
        bar.set_style(self.style.clone());
        bar.set_message(format!("stage {stage}: {description}"));
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        self.bars.0.lock().expect("bars").insert(stage, bar);
    }
    fn on_task_end(&self, stage: u64, _partition: usize, _attempt: u32, ok: bool) {
        if ok && let Some(b) = self.bars.0.lock().expect("bars").get(&stage) {
            b.inc(1);
        }
    }
    fn on_stage_end(&self, stage: u64, _ok: bool) {
        if let Some(b) = self.bars.0.lock().expect("bars").remove(&stage) {
            b.finish_and_clear();
            self.multi.remove(&b);
        }
    }
}
