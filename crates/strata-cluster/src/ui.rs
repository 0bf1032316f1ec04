//! The master's web UI: plain server-rendered HTML (no scripts, no build step), plus
//! `/api/state` as JSON for tools.
//!
//! - `/` — workers and their resources, DFS capacity, applications;
//! - `/dfs?path=/dir` — a DFS directory listing;
//! - `/app/{id}` — an application: executors, locality and recovery counters, each job with
//!   a picture of its stage DAG (inline SVG) and every task attempt (host, locality,
//!   attempt, duration, status).
//!
//! Pages refresh themselves every two seconds while something runs. With a cluster secret,
//! every page needs the login token ([`crate::ui_auth`]).

use crate::master::{AppState, State};
use crate::model::{AppUi, JobUi, now_ms};
use axum::Router;
use axum::extract::{Path, Query};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

/// Where the UI finds the DFS (the master's own gRPC address) and the cluster tables.
#[derive(Clone)]
pub struct UiContext {
    /// The cluster tables.
    pub state: Arc<Mutex<State>>,
    /// The DFS master address (this process).
    pub dfs_master: String,
    /// The cluster secret.
    pub secret: String,
}

/// The UI's routes, to merge into the admin HTTP server.
pub fn router(ctx: UiContext) -> Router {
    let secret = ctx.secret.clone();
    let (c1, c2, c3, c4) = (ctx.clone(), ctx.clone(), ctx.clone(), ctx);
    Router::new()
        .route("/", get(move || overview(c1.clone())))
        .route(
            "/dfs",
            get(move |q: Query<HashMap<String, String>>| dfs_page(c2.clone(), q)),
        )
        .route(
            "/app/{id}",
            get(move |p: Path<String>| app_page(c3.clone(), p)),
        )
        .route("/api/state", get(move || api_state(c4.clone())))
        .layer(axum::middleware::from_fn_with_state(
            crate::ui_auth::ui_token(&secret),
            crate::ui_auth::guard,
        ))
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn bytes(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", U[i])
}

fn page(title: &str, refresh: bool, body: &str) -> Html<String> {
    let meta = if refresh {
        r#"<meta http-equiv="refresh" content="2">"#
    } else {
        ""
    };
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8">{meta}<title>{t} · Strata</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em;color:#222}}
table{{border-collapse:collapse;margin:.5em 0 1.5em}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:14px}}
th{{background:#f0f0f0}} .ok{{color:#080}} .bad{{color:#b00}} .run{{color:#06c}}
nav a{{margin-right:1em}}
</style></head><body><nav><a href="/">Cluster</a><a href="/dfs?path=/">DFS</a><a href="/metrics">Metrics</a></nav>
<h1>{t}</h1>{body}</body></html>"#,
        t = esc(title)
    ))
}

fn status_class(s: &str) -> &'static str {
    match s {
        "succeeded" | "alive" | "finished" | "exited" => "ok",
        "failed" | "lost" => "bad",
        _ => "run",
    }
}

fn app_state_str(s: &AppState) -> (String, String) {
    match s {
        AppState::Running => ("running".into(), String::new()),
        AppState::Finished => ("finished".into(), String::new()),
        AppState::Failed(why) => ("failed".into(), why.clone()),
    }
}

async fn dfs_report(ctx: &UiContext) -> Option<strata_dfs::proto::ClusterReport> {
    let (m, s) = (ctx.dfs_master.clone(), ctx.secret.clone());
    tokio::task::spawn_blocking(move || {
        strata_dfs::DfsClient::connect(&m, &s)
            .ok()
            .and_then(|c| c.report().ok())
    })
    .await
    .ok()
    .flatten()
}

async fn overview(ctx: UiContext) -> Html<String> {
    let report = dfs_report(&ctx).await;
    let mut b = String::new();
    let running;
    {
        let s = ctx.state.lock();
        running = s.apps.values().any(|a| a.state == AppState::Running);
        let live = s.workers.values().filter(|w| w.alive).count();
        let _ = write!(
            b,
            "<h2>Workers</h2><p id=\"workers-summary\">{live} live of {} workers</p>\
             <table id=\"workers\"><tr><th>id</th><th>host</th><th>cores</th><th>memory</th><th>state</th><th>executors</th></tr>",
            s.workers.len()
        );
        for (id, w) in &s.workers {
            let st = if w.alive { "alive" } else { "lost" };
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{st}</td><td>{}</td></tr>",
                esc(id),
                esc(&w.info.host),
                w.info.cores,
                bytes(w.info.memory),
                status_class(st),
                esc(&w.executors.join(", "))
            );
        }
        b.push_str("</table>");
        b.push_str("<h2>Applications</h2><table id=\"apps\"><tr><th>id</th><th>name</th><th>state</th><th>executors</th><th>jobs</th><th>duration</th></tr>");
        for a in s.apps.values().rev() {
            let (st, why) = app_state_str(&a.state);
            let end = if a.ended_ms == 0 {
                now_ms()
            } else {
                a.ended_ms
            };
            let live = a.executors.iter().filter(|e| e.alive).count();
            let _ = write!(
                b,
                "<tr><td><a href=\"/app/{id}\">{id}</a></td><td>{}</td><td class=\"{}\" title=\"{}\">{st}{}</td><td>{live}/{}</td><td>{}</td><td>{:.1} s</td></tr>",
                esc(&a.name),
                status_class(&st),
                esc(&why),
                if why.is_empty() {
                    String::new()
                } else {
                    format!(": {}", esc(&why))
                },
                a.requested,
                a.ui.jobs.len(),
                end.saturating_sub(a.started_ms) as f64 / 1000.0,
                id = esc(&a.id),
            );
        }
        b.push_str("</table>");
        jobs_table(&s.jobs.status(None).unwrap_or_default(), &mut b);
    }
    b.push_str("<h2>DFS</h2>");
    match report {
        Some(r) => {
            let cap: u64 = r.nodes.iter().filter(|n| n.alive).map(|n| n.capacity).sum();
            let used: u64 = r.nodes.iter().filter(|n| n.alive).map(|n| n.used).sum();
            let _ = write!(
                b,
                "<p id=\"dfs-summary\">capacity {} · used {} · {} files · {} chunks · {} under-replicated</p>\
                 <table id=\"chunkservers\"><tr><th>chunkserver</th><th>address</th><th>state</th><th>used</th><th>capacity</th><th>chunks</th></tr>",
                bytes(cap),
                bytes(used),
                r.files,
                r.chunks,
                r.under_replicated
            );
            for n in &r.nodes {
                let st = if n.alive { "alive" } else { "lost" };
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td class=\"{}\">{st}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&n.id),
                    esc(&n.address),
                    status_class(st),
                    bytes(n.used),
                    bytes(n.capacity),
                    n.chunks
                );
            }
            b.push_str("</table><p><a href=\"/dfs?path=/\">Browse files</a></p>");
        }
        None => b.push_str("<p>DFS report unavailable.</p>"),
    }
    page("Strata cluster", running, &b)
}

async fn dfs_page(ctx: UiContext, Query(q): Query<HashMap<String, String>>) -> Html<String> {
    let path = q.get("path").cloned().unwrap_or_else(|| "/".into());
    let (m, s, p) = (ctx.dfs_master.clone(), ctx.secret.clone(), path.clone());
    let listing = tokio::task::spawn_blocking(move || {
        strata_dfs::DfsClient::connect(&m, &s)
            .map_err(|e| e.to_string())
            .and_then(|c| c.list(&p, false).map_err(|e| e.to_string()))
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    let mut b = String::new();
    match listing {
        Ok(entries) => {
            b.push_str("<table id=\"files\"><tr><th>path</th><th>size</th><th>replication</th><th>chunks</th></tr>");
            for e in entries {
                let name = if e.is_dir {
                    format!(
                        "<a href=\"/dfs?path={}\">{}/</a>",
                        esc(&e.path),
                        esc(&e.path)
                    )
                } else {
                    esc(&e.path)
                };
                let _ = write!(
                    b,
                    "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    if e.is_dir {
                        "-".into()
                    } else {
                        bytes(e.length)
                    },
                    e.replication,
                    e.chunks
                );
            }
            b.push_str("</table>");
        }
        Err(e) => {
            let _ = write!(b, "<p class=\"bad\">{}</p>", esc(&e));
        }
    }
    page(&format!("DFS {path}"), false, &b)
}

/// An SVG picture of a job's stage DAG: stages in columns by depth, edges parent → child.
pub fn dag_svg(job: &JobUi) -> String {
    let mut depth: HashMap<u64, usize> = HashMap::new();
    for s in &job.stages {
        let d = s
            .parents
            .iter()
            .filter_map(|p| depth.get(p))
            .max()
            .map_or(0, |d| d + 1);
        depth.insert(s.id, d);
    }
    let mut rows: HashMap<usize, usize> = HashMap::new();
    let mut pos: HashMap<u64, (usize, usize)> = HashMap::new();
    for s in &job.stages {
        let d = depth[&s.id];
        let r = rows.entry(d).or_default();
        pos.insert(s.id, (d, *r));
        *r += 1;
    }
    let (w, h) = (190, 54);
    let cols = depth.values().max().map_or(1, |d| d + 1);
    let nrows = rows.values().max().copied().unwrap_or(1);
    let mut svg = format!(
        r#"<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}">"#,
        cols * (w + 40) + 10,
        nrows * (h + 20) + 10
    );
    let xy = |id: u64| {
        let (c, r) = pos[&id];
        (10 + c * (w + 40), 10 + r * (h + 20))
    };
    for s in &job.stages {
        for p in &s.parents {
            if pos.contains_key(p) {
                let (x1, y1) = xy(*p);
                let (x2, y2) = xy(s.id);
                let _ = write!(
                    svg,
                    r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#888" stroke-width="2"/>"##,
                    x1 + w,
                    y1 + h / 2,
                    x2,
                    y2 + h / 2
                );
            }
        }
    }
    for s in &job.stages {
        let (x, y) = xy(s.id);
        let fill = match s.status.as_str() {
            "succeeded" => "#dfd",
            "failed" => "#fdd",
            _ => "#def",
        };
        let done = s.tasks.iter().filter(|t| t.status == "succeeded").count();
        let mut name = s.name.clone();
        if name.len() > 28 {
            name.truncate(name.char_indices().nth(27).map_or(name.len(), |(i, _)| i));
            name.push('…');
        }
        let _ = write!(
            svg,
            r##"<g class="stage" id="stage-{id}"><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="#555"/><text x="{tx}" y="{ty1}" font-size="12">stage {id}: {name}</text><text x="{tx}" y="{ty2}" font-size="12">{done}/{n} tasks · {st}</text></g>"##,
            id = s.id,
            tx = x + 6,
            ty1 = y + 20,
            ty2 = y + 40,
            name = esc(&name),
            n = s.num_tasks,
            st = esc(&s.status),
        );
    }
    svg.push_str("</svg>");
    svg
}

fn app_body(ui: &AppUi, b: &mut String) {
    let share = if ui.tasks_with_preference == 0 {
        "-".to_string()
    } else {
        format!(
            "{:.0}%",
            100.0 * ui.local_tasks as f64 / ui.tasks_with_preference as f64
        )
    };
    let _ = write!(
        b,
        "<p id=\"counters\">node-local tasks: {} of {} with a preference ({share}) · speculative copies: {} · map outputs lost: {} · map tasks re-run: {}</p>",
        ui.local_tasks,
        ui.tasks_with_preference,
        ui.speculative_tasks,
        ui.map_outputs_lost,
        ui.map_tasks_rerun
    );
    b.push_str("<h2>Executors</h2><table id=\"executors\"><tr><th>executor</th><th>host</th><th>cores</th><th>state</th><th>tasks done</th></tr>");
    for e in &ui.executors {
        let st = e.state.as_str();
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{st}</td><td>{}</td></tr>",
            e.id,
            esc(&e.host),
            e.cores,
            status_class(st),
            e.tasks_done
        );
    }
    b.push_str("</table><h2>Jobs</h2>");
    for j in ui.jobs.iter().rev() {
        let _ = write!(
            b,
            "<div class=\"job\" id=\"job-{id}\"><h3>Job {id}: {} — <span class=\"{}\">{}</span> ({:.2} s)</h3>",
            esc(&j.name),
            status_class(&j.status),
            esc(&j.status),
            j.duration_ms as f64 / 1000.0,
            id = j.id
        );
        if let Some(e) = &j.error {
            let _ = write!(b, "<p class=\"bad\">{}</p>", esc(e));
        }
        b.push_str(&dag_svg(j));
        for s in &j.stages {
            let _ = write!(
                b,
                "<h4>Stage {}: {} — {}</h4><table class=\"tasks\"><tr><th>task</th><th>attempt</th><th>executor</th><th>host</th><th>locality</th><th>duration</th><th>status</th></tr>",
                s.id,
                esc(&s.name),
                esc(&s.status)
            );
            for t in &s.tasks {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ms</td><td class=\"{}\" title=\"{}\">{}</td></tr>",
                    t.partition,
                    t.attempt,
                    if t.speculative { " (speculative)" } else { "" },
                    t.executor,
                    esc(&t.host),
                    esc(&t.locality),
                    t.duration_ms,
                    status_class(&t.status),
                    esc(t.error.as_deref().unwrap_or("")),
                    esc(&t.status)
                );
            }
            b.push_str("</table>");
        }
        b.push_str("</div>");
    }
}

async fn app_page(ctx: UiContext, Path(id): Path<String>) -> impl IntoResponse {
    let s = ctx.state.lock();
    let Some(a) = s.apps.get(&id) else {
        return page(
            "Unknown application",
            false,
            &format!("<p>No application {}.</p>", esc(&id)),
        );
    };
    let (st, why) = app_state_str(&a.state);
    let mut b = format!(
        "<p id=\"app-state\">state: <span class=\"{}\">{st}</span> {} · driver {}</p>",
        status_class(&st),
        esc(&why),
        esc(&a.driver)
    );
    app_body(&a.ui, &mut b);
    page(
        &format!("{} ({})", a.name, a.id),
        a.state == AppState::Running,
        &b,
    )
}

/// The declarative jobs, from the same typed status `strata job ls` prints.
fn jobs_table(jobs: &[crate::proto::JobStatus], b: &mut String) {
    if jobs.is_empty() {
        return;
    }
    b.push_str(
        "<h2>Jobs</h2><table id=\"jobs\"><tr><th>name</th><th>tenant</th><th>priority</th>\
         <th>kind</th><th>state</th><th>running</th><th>restarts</th><th>preemptions</th><th>message</th></tr>",
    );
    for j in jobs {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&j.name),
            esc(&j.tenant),
            esc(&j.priority),
            esc(&j.kind),
            status_class(&j.state),
            esc(&j.state),
            j.running,
            j.tasks,
            j.restarts,
            j.preemptions,
            esc(&j.message)
        );
    }
    b.push_str("</table>");
}

async fn api_state(ctx: UiContext) -> impl IntoResponse {
    let s = ctx.state.lock();
    let workers: Vec<serde_json::Value> = s
        .workers
        .iter()
        .map(|(id, w)| {
            serde_json::json!({
                "id": id, "host": w.info.host, "cores": w.info.cores, "memory": w.info.memory,
                "alive": w.alive, "executors": w.executors, "registered_ms": w.registered_ms,
            })
        })
        .collect();
    let apps: Vec<serde_json::Value> = s
        .apps
        .values()
        .map(|a| {
            let (st, why) = app_state_str(&a.state);
            serde_json::json!({
                "id": a.id, "name": a.name, "state": st, "error": why, "requested": a.requested,
                "executors": a.executors.iter().map(|e| serde_json::json!({
                    "id": e.id, "worker": e.worker, "host": e.host, "alive": e.alive,
                })).collect::<Vec<_>>(),
                "ui": a.ui,
            })
        })
        .collect();
    let jobs: Vec<serde_json::Value> = s
        .jobs
        .status(None)
        .unwrap_or_default()
        .iter()
        .map(|j| {
            serde_json::json!({
                "name": j.name, "tenant": j.tenant, "priority": j.priority, "kind": j.kind,
                "state": j.state, "tasks": j.tasks, "running": j.running,
                "restarts": j.restarts, "preemptions": j.preemptions, "message": j.message,
            })
        })
        .collect();
    (
        [("content-type", "application/json")],
        serde_json::json!({ "workers": workers, "apps": apps, "jobs": jobs }).to_string(),
    )
}
