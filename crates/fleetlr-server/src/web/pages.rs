//! The console's HTML, rendered on the server with `maud` (which escapes every value it is
//! given, so device names, errors and script output cannot inject markup). Semantic elements
//! throughout: landmarks, tables with captions and header cells, labelled controls, states
//! written out in words as well as coloured.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use fleetlr_store::{CommandOutcome, Role, RunState, TargetState};
use maud::{DOCTYPE, Markup, html};

use super::RunDetail;
use super::session::Session;
use crate::api::{FiringView, Progress, RunView, ScheduleView};

const RUN_STATES: [RunState; 6] = [
    RunState::Queued,
    RunState::Running,
    RunState::Paused,
    RunState::Cancelling,
    RunState::Finished,
    RunState::Cancelled,
];

/// Target states in the order a reader scans them: how it ended, then what is still going on.
const TARGET_STATES: [TargetState; 9] = [
    TargetState::Succeeded,
    TargetState::Failed,
    TargetState::TimedOut,
    TargetState::Expired,
    TargetState::Cancelled,
    TargetState::InFlight,
    TargetState::Submitting,
    TargetState::Pending,
    TargetState::WaitingOffline,
];

/// How often pages refresh their live region, in milliseconds (read by `live.js`).
const LIVE_INTERVAL_MS: u32 = 2000;

fn layout(title: &str, session: Option<&Session>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · fleetlr" }
                link rel="stylesheet" href="/ui/assets/style.css";
                script src="/ui/assets/live.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui/runs" { "fleetlr" }
                    @if let Some(session) = session {
                        nav aria-label="Main" {
                            a href="/ui/runs" { "Runs" }
                            a href="/ui/schedules" { "Schedules" }
                        }
                        div.who {
                            span { "Signed in as " strong { (session.caller().name) } " (" (session.caller().role.as_str()) ")" }
                            form method="post" action="/ui/logout" {
                                input type="hidden" name="csrf" value=(session.csrf());
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (content) }
            }
        }
    }
}

pub(crate) fn login(failed: bool) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            @if failed {
                p.notice.error role="alert" { "That token is not valid (unknown or revoked). Check it and try again." }
            }
            form.login method="post" action="/ui/login" {
                label for="token" { "API token" }
                input #token type="password" name="token" required autocomplete="current-password" autofocus;
                p.hint #token-hint {
                    "A token from " code { "fleetlr token create" } " or the " code { "admin.token" }
                    " file in the daemon's data directory. It is kept in a cookie this page's scripts cannot read."
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// A page that says why a request was refused, with the request's status.
pub(crate) fn refused(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Refused");
    let page = layout(
        title,
        None,
        html! {
            h1 { (title) }
            p.notice.error role="alert" { (message) }
            p { a href="/ui/runs" { "Back to the runs" } }
        },
    );
    (status, page).into_response()
}

/// A 500 page; the detail goes to the log only.
pub(crate) fn failed(err: impl std::error::Error) -> Response {
    tracing::error!(error = %err, "console page failed");
    refused(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The daemon could not build this page; its log has the detail.",
    )
}

pub(crate) fn runs(
    session: &Session,
    runs: &[RunView],
    filter: Option<RunState>,
    now: DateTime<Utc>,
) -> Markup {
    let live = page_url("/ui/runs", filter.map(RunState::as_str), 0, true);
    layout(
        "Runs",
        Some(session),
        html! {
            h1 { "Runs" }
            form.filters method="get" action="/ui/runs" {
                label for="run-state" { "State" }
                select #run-state name="state" {
                    option value="" selected[filter.is_none()] { "any" }
                    @for state in RUN_STATES {
                        option value=(state.as_str()) selected[filter == Some(state)] { (words(state.as_str())) }
                    }
                }
                button type="submit" { "Show" }
            }
            div #live data-live-url=(live) data-live-interval=(LIVE_INTERVAL_MS) {
                (runs_region(runs, filter, now))
            }
        },
    )
}

/// The part of the runs list that live updates replace.
pub(crate) fn runs_region(
    runs: &[RunView],
    filter: Option<RunState>,
    now: DateTime<Utc>,
) -> Markup {
    html! {
        @if runs.is_empty() {
            p { @if filter.is_some() { "No run is in that state." } @else { "No runs yet. Start one with " code { "fleetlr run PLAYBOOK --tag TAG" } "." } }
        } @else {
            table.runs {
                caption {
                    (runs.len()) @if runs.len() == 1 { " run" } @else { " runs" }
                    @if let Some(state) = filter { " " (words(state.as_str())) }
                    ", newest first"
                }
                thead { tr {
                    th scope="col" { "Playbook" }
                    th scope="col" { "State" }
                    th scope="col" { "Started by" }
                    th scope="col" { "Progress" }
                    th scope="col" { "Devices" }
                    th scope="col" { "Remaining" }
                    th scope="col" { "Created" }
                } }
                tbody {
                    @for run in runs {
                        tr {
                            th scope="row" {
                                a href={ "/ui/runs/" (run.id) } { (run.playbook) }
                                br; small.id { (short_id(&run.id)) }
                            }
                            td { (state_badge(&run.state)) @if let Some(reason) = &run.pause_reason { br; small { (reason) } } }
                            td { (run.started_by) br; small { "by " (trigger(run)) ", " (run.priority) } }
                            td { (progress(run)) }
                            td { (counts(run)) }
                            td { (eta(run, now)) }
                            td { (timestamp(&run.created_at, now)) }
                        }
                    }
                }
            }
        }
    }
}

pub(crate) fn run(
    session: &Session,
    detail: &RunDetail,
    notice: Option<&str>,
    now: DateTime<Utc>,
) -> Markup {
    let run = &detail.run;
    let path = format!("/ui/runs/{}", run.id);
    let live = page_url(
        &path,
        detail.filter.map(TargetState::as_str),
        detail.page,
        true,
    );
    layout(
        &run.playbook,
        Some(session),
        html! {
            nav.crumbs aria-label="Breadcrumb" { a href="/ui/runs" { "Runs" } " › " span aria-current="page" { (run.playbook) } }
            h1 { (run.playbook) " " small.id { (run.id) } }
            @if let Some(text) = notice {
                p.notice role="status" { (text) }
            }
            div #live data-live-url=(live) data-live-interval=(LIVE_INTERVAL_MS) {
                (run_region(session, detail, now))
            }
        },
    )
}

/// The part of a run's page that live updates replace: state, controls, progress, targets and
/// events.
pub(crate) fn run_region(session: &Session, detail: &RunDetail, now: DateTime<Utc>) -> Markup {
    let run = &detail.run;
    let state = RunState::parse(&run.state).ok();
    let done = state.is_some_and(RunState::is_terminal);
    html! {
        @if done { span data-final hidden {} }
        section.summary aria-labelledby="summary-title" {
            h2 #summary-title { "Summary" }
            p #run-state role="status" {
                (state_badge(&run.state)) " "
                (run.progress.ended) " of " (run.progress.total) " devices ended"
                @if let Some(reason) = &run.pause_reason { " — " (reason) }
            }
            (progress(run))
            (counts(run))
            (controls(session, detail, state))
            dl {
                dt { "Started by" } dd { (run.started_by) " (" (trigger(run)) ")" }
                dt { "Priority" } dd { (run.priority) }
                dt { "Tenant" } dd { (run.tenant) }
                dt { "Created" } dd { (timestamp(&run.created_at, now)) }
                dt { "Remaining" } dd { (eta(run, now)) }
                dt { "Expires" } dd { (timestamp(&run.expires_at, now)) }
                @if let Some(finished) = &run.finished_at { dt { "Ended" } dd { (timestamp(finished, now)) } }
                dt { "Targets" } dd { (target_spec("spec", &run.target_spec)) }
                dt { "Parameters" } dd { (parameters(&run.parameters)) }
                dt { "Playbook SHA-256" } dd { code.hash { (run.playbook_sha256) } }
            }
        }
        (targets(session, detail))
        (events(detail, now))
    }
}

fn controls(session: &Session, detail: &RunDetail, state: Option<RunState>) -> Markup {
    let can_act = session.caller().require(Role::Operator).is_ok();
    let open = state.is_some_and(|s| !s.is_terminal() && s != RunState::Cancelling);
    let offered: Vec<(&str, &str, bool)> = vec![
        (
            "pause",
            "Pause",
            matches!(state, Some(RunState::Queued | RunState::Running)),
        ),
        ("resume", "Resume", state == Some(RunState::Paused)),
        (
            "retry",
            "Retry failed devices",
            detail.retryable && !matches!(state, Some(RunState::Cancelled | RunState::Cancelling)),
        ),
        ("cancel", "Cancel run", open),
    ];
    html! {
        div.controls role="group" aria-label="Actions" {
            @if !can_act {
                p { "Your role (" (session.caller().role.as_str()) ") can read runs but not change them." }
            } @else if offered.iter().all(|(_, _, shown)| !shown) {
                p { "Nothing to do: the run has ended." }
            } @else {
                div.buttons {
                    @for (action, label, shown) in &offered {
                        @if *shown {
                            form method="post" action={ "/ui/runs/" (detail.run.id) "/" (action) } {
                                input type="hidden" name="csrf" value=(session.csrf());
                                button #{ "action-" (action) } type="submit" class={ "action " (action) } { (label) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn targets(session: &Session, detail: &RunDetail) -> Markup {
    let run_path = format!("/ui/runs/{}", detail.run.id);
    let downloads = session.caller().require(Role::Operator).is_ok();
    let filter = detail.filter.map(TargetState::as_str);
    html! {
        section.targets aria-labelledby="targets-title" {
            h2 #targets-title { "Devices" }
            form.filters method="get" action=(run_path) {
                label for="target-state" { "State" }
                select #target-state name="state" {
                    option value="" selected[filter.is_none()] { "any" }
                    @for state in TARGET_STATES {
                        option value=(state.as_str()) selected[filter == Some(state.as_str())] { (words(state.as_str())) }
                    }
                }
                button type="submit" { "Show" }
            }
            @if detail.targets.is_empty() {
                p { "No device of this run is in that state." }
            } @else {
                table.devices {
                    caption {
                        (detail.matching_targets) " devices"
                        @if let Some(state) = filter { ", " (words(state)) }
                        @if detail.pages > 1 { " — page " (detail.page + 1) " of " (detail.pages) }
                    }
                    thead { tr {
                        th scope="col" { "Device" }
                        th scope="col" { "State" }
                        th scope="col" { "Attempts" }
                        th scope="col" { "Last error" }
                        th scope="col" { "Commands" }
                    } }
                    tbody {
                        @for (target, outcomes) in &detail.targets {
                            tr #{ "target-" (target.id) } {
                                th scope="row" {
                                    (target.device_name.as_deref().unwrap_or(&target.device_id))
                                    br; small.id { (target.device_id) }
                                }
                                td { (state_badge(target.state.as_str()))
                                    @if target.offline_count > 0 { br; small { "offline " (target.offline_count) "×" } } }
                                td { (target.attempts) }
                                td { @if let Some(error) = &target.last_error { (error) } }
                                td { (commands(&run_path, target.id, outcomes, downloads)) }
                            }
                        }
                    }
                }
                @if detail.pages > 1 {
                    nav.pages aria-label="Device pages" {
                        @if detail.page > 0 {
                            a href=(page_url(&run_path, filter, detail.page - 1, false)) rel="prev" { "‹ Previous" }
                        }
                        @if detail.page + 1 < detail.pages {
                            a href=(page_url(&run_path, filter, detail.page + 1, false)) rel="next" { "Next ›" }
                        }
                    }
                }
            }
        }
    }
}

fn commands(run_path: &str, target: i64, outcomes: &[CommandOutcome], downloads: bool) -> Markup {
    if outcomes.is_empty() {
        return html! { span.muted { "none yet" } };
    }
    let mut summary: Vec<(String, usize)> = Vec::new();
    for o in outcomes {
        let name = o.outcome.outcome.as_str();
        match summary.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => *count += 1,
            None => summary.push((name.to_owned(), 1)),
        }
    }
    let summary = summary
        .iter()
        .map(|(name, n)| format!("{n} {}", words(name)))
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        details #{ "commands-" (target) } {
            summary #{ "commands-" (target) "-summary" } { (summary) }
            table.commands {
                caption.visually-hidden { "Commands and their outcomes" }
                thead { tr {
                    th scope="col" { "Step" }
                    th scope="col" { "Outcome" }
                    th scope="col" { "Exit" }
                    th scope="col" { "Detail" }
                } }
                tbody {
                    @for o in outcomes {
                        tr {
                            th scope="row" {
                                (o.outcome.step_id) br;
                                small { (o.outcome.command_type.as_str())
                                    @if let Some(attempt) = o.attempt { ", attempt " (attempt) } }
                            }
                            td { (state_badge(o.outcome.outcome.as_str())) }
                            td { @if let Some(code) = o.outcome.exit_code { (code) } }
                            td {
                                @for error in &o.outcome.errors { p.error { (error) } }
                                @if let Some(output) = &o.outcome.output_preview {
                                    @if !output.is_empty() { pre { (output) } }
                                }
                                @if let Some(path) = &o.outcome.artifact_path {
                                    p.artifact {
                                        @if downloads {
                                            a href={ (run_path) "/outcomes/" (o.id) "/artifact" } download { (file_name(path)) }
                                        } @else {
                                            (file_name(path))
                                        }
                                        @if let Some(bytes) = o.outcome.artifact_bytes { " (" (size(bytes)) ")" }
                                        @if let Some(sha) = &o.outcome.artifact_sha256 {
                                            br; small { "SHA-256 " code.hash { (sha) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn events(detail: &RunDetail, now: DateTime<Utc>) -> Markup {
    html! {
        section.events aria-labelledby="events-title" {
            h2 #events-title { "Event log" }
            details #events {
                summary #events-summary { "Newest " (detail.events.len()) " events" }
                table {
                    caption.visually-hidden { "Run events, newest first" }
                    thead { tr {
                        th scope="col" { "When" }
                        th scope="col" { "Event" }
                        th scope="col" { "Device" }
                        th scope="col" { "Detail" }
                    } }
                    tbody {
                        @for event in &detail.events {
                            tr {
                                td { (timestamp(&event.at, now)) }
                                td { (words(&event.kind)) }
                                td { @if let Some(target) = event.target_id { a href={ "#target-" (target) } { "#" (target) } } }
                                td { code { (event.detail.to_string()) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What started a run; a schedule links to its row on the schedules page.
fn trigger(run: &RunView) -> Markup {
    match (run.trigger.as_str(), &run.trigger_ref) {
        ("schedule", Some(name)) => html! {
            a.schedule href={ "/ui/schedules#schedule-" (name) } { "schedule " (name) }
        },
        _ => html! { (run.trigger) },
    }
}

pub(crate) fn schedules(
    session: &Session,
    schedules: &[ScheduleView],
    notice: Option<&str>,
    now: DateTime<Utc>,
) -> Markup {
    let can_act = session.caller().require(Role::Operator).is_ok();
    layout(
        "Schedules",
        Some(session),
        html! {
            h1 { "Schedules" }
            @if let Some(text) = notice {
                p.notice role="status" { (text) }
            }
            @if !can_act {
                p.hint { "Your role (" (session.caller().role.as_str()) ") can read schedules but not pause or resume them." }
            }
            @if schedules.is_empty() {
                p { "No schedules yet. Add one under " code { "schedules:" } " in the configuration, or with " code { "fleetlr schedules add" } "." }
            } @else {
                table.schedules {
                    caption {
                        (schedules.len()) @if schedules.len() == 1 { " schedule" } @else { " schedules" }
                        "; fire times in UTC and on the clocks of each schedule's time zone"
                    }
                    thead { tr {
                        th scope="col" { "Schedule" }
                        th scope="col" { "When" }
                        th scope="col" { "Playbook" }
                        th scope="col" { "Targets" }
                        th scope="col" { "Policies" }
                        th scope="col" { "Next fire time" }
                        th scope="col" { "Last fire time" }
                        @if can_act { th scope="col" { "Actions" } }
                    } }
                    tbody {
                        @for schedule in schedules {
                            tr #{ "schedule-" (schedule.name) } {
                                th scope="row" {
                                    (schedule.name) br;
                                    small { "from " @if schedule.source == "config" { "the configuration" } @else { "the API" } }
                                }
                                td { code { (schedule.cron) } br; small { (schedule.timezone) } }
                                td {
                                    (schedule.playbook) br;
                                    small {
                                        (schedule.priority.as_deref().unwrap_or("the playbook's priority"))
                                        @if let Some(tenant) = &schedule.tenant { ", tenant " (tenant) }
                                    }
                                }
                                td { (target_spec(&format!("spec-{}", schedule.name), &schedule.targets)) }
                                td {
                                    "missed: " (words(&schedule.missed)) br;
                                    "overlap: " (schedule.overlap)
                                    @if let Some(queued) = &schedule.queued_fire_time {
                                        br; small { "waiting: " (timestamp(queued, now)) }
                                    }
                                }
                                td.next { (next_fire(schedule, now)) }
                                td.last { (last_firing(schedule.last_firing.as_ref(), now)) }
                                @if can_act { td { (schedule_control(session, schedule)) } }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// When a schedule fires next: the instant in UTC, and the same on its zone's clocks.
fn next_fire(schedule: &ScheduleView, now: DateTime<Utc>) -> Markup {
    let local = schedule
        .next_fire_local
        .as_deref()
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok());
    html! {
        @if schedule.paused {
            (state_badge("paused")) br; small { "no fire time fires until it is resumed" }
        } @else if let Some(next) = &schedule.next_fire_at {
            (timestamp(next, now)) br;
            @if let Some(local) = local {
                small.local { (local.format("%Y-%m-%d %H:%M %:z")) " " (schedule.timezone) }
            }
        } @else {
            span.muted { "none: the expression has no later fire time" }
        }
    }
}

/// What became of a schedule's latest fire time: its run, why it was skipped, or the error.
fn last_firing(firing: Option<&FiringView>, now: DateTime<Utc>) -> Markup {
    let Some(firing) = firing else {
        return html! { span.muted { "none yet" } };
    };
    let detail = |key: &str| firing.detail[key].as_str().map(str::to_owned);
    html! {
        (timestamp(&firing.fire_time, now)) br;
        (state_badge(&firing.outcome))
        @if let Some(run) = &firing.run_id {
            " " a href={ "/ui/runs/" (run) } { "run " (short_id(run)) }
        }
        @if let Some(count) = firing.detail["fire_times"].as_u64().filter(|n| *n > 1) {
            " (" (count) " fire times)"
        }
        @if let Some(reason) = detail("reason") { br; small { (reason) } }
        @if let Some(error) = detail("error") { p.error { (error) } }
    }
}

fn schedule_control(session: &Session, schedule: &ScheduleView) -> Markup {
    let (action, label) = if schedule.paused {
        ("resume", "Resume")
    } else {
        ("pause", "Pause")
    };
    html! {
        form method="post" action={ "/ui/schedules/" (schedule.name) "/" (action) } {
            input type="hidden" name="csrf" value=(session.csrf());
            button #{ (action) "-" (schedule.name) } type="submit" class={ "action " (action) } { (label) }
        }
    }
}

/// What a run or schedule targets, as asked: named devices (listed on demand when many), tags,
/// groups, an OData filter. `id` names the element that lists many devices.
fn target_spec(id: &str, spec: &serde_json::Value) -> Markup {
    let list = |key: &str| -> Vec<String> {
        spec[key]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (devices, tags, groups) = (list("devices"), list("tags"), list("rbac_group_ids"));
    html! {
        ul.plain {
            @if devices.len() > 5 {
                li { details #(format!("{id}-devices")) { summary #(format!("{id}-devices-summary")) { (devices.len()) " named devices" } code { (devices.join(", ")) } } }
            } @else if !devices.is_empty() {
                li { "devices " code { (devices.join(", ")) } }
            }
            @if !tags.is_empty() { li { "tags " code { (tags.join(", ")) } } }
            @if !groups.is_empty() { li { "RBAC groups " code { (groups.join(", ")) } } }
            @if let Some(filter) = spec["filter"].as_str() { li { "filter " code { (filter) } } }
        }
    }
}

fn parameters(values: &serde_json::Value) -> Markup {
    match values.as_object() {
        Some(map) if !map.is_empty() => html! {
            ul.plain {
                @for (name, value) in map {
                    li { code { (name) " = " (value.as_str().map_or_else(|| value.to_string(), str::to_owned)) } }
                }
            }
        },
        _ => html! { span.muted { "none" } },
    }
}

fn state_badge(state: &str) -> Markup {
    html! { span class={ "state s-" (state) } { (words(state)) } }
}

fn progress(run: &RunView) -> Markup {
    let Progress { ended, total } = run.progress;
    html! {
        div.progress {
            progress max=(total.max(1)) value=(ended) aria-label={ (ended) " of " (total) " devices ended" } {}
            span { (ended) " / " (total) }
        }
    }
}

fn counts(run: &RunView) -> Markup {
    html! {
        ul.counts aria-label="Devices per state" {
            @for state in TARGET_STATES {
                @if let Some(n) = run.targets.get(state.as_str()) {
                    li { (state_badge_count(state.as_str(), *n)) }
                }
            }
        }
    }
}

fn state_badge_count(state: &str, n: u64) -> Markup {
    html! { span class={ "state s-" (state) } { (n) " " (words(state)) } }
}

/// Time left, extrapolated from how fast devices have ended since the run was created.
fn eta(run: &RunView, now: DateTime<Utc>) -> Markup {
    let Progress { ended, total } = run.progress;
    let open = RunState::parse(&run.state).is_ok_and(|s| !s.is_terminal());
    let created = fleetlr_store::parse_stamp(&run.created_at);
    match (open, created) {
        (false, _) => html! { span.muted { "—" } },
        (true, _) if ended == 0 => html! { span.muted { "estimating…" } },
        (true, Some(created)) if ended < total => {
            let elapsed = (now - created).num_seconds().max(0) as u64;
            let left = elapsed.saturating_mul(total - ended) / ended;
            html! { "about " (span_of(left)) }
        }
        _ => html! { span.muted { "finishing" } },
    }
}

/// `45 s`, `12 min`, `3 h 10 min`, `2 d 4 h`.
fn span_of(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        3600..86_400 => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{} d {} h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}

fn timestamp(stamp: &str, now: DateTime<Utc>) -> Markup {
    match fleetlr_store::parse_stamp(stamp) {
        Some(at) => {
            let delta = (now - at).num_seconds();
            let relative = if delta >= 0 {
                format!("{} ago", span_of(delta as u64))
            } else {
                format!("in {}", span_of(delta.unsigned_abs()))
            };
            html! { time datetime=(stamp) title=(relative) { (at.format("%Y-%m-%d %H:%M:%S UTC")) } }
        }
        None => html! { (stamp) },
    }
}

fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for next in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `timed_out` → `timed out`.
fn words(name: &str) -> String {
    name.replace('_', " ")
}

fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// A page's URL keeping its state filter and page; with `live`, the URL its live region is
/// refreshed from.
fn page_url(path: &str, state: Option<&str>, page: u64, live: bool) -> String {
    let mut query = Vec::new();
    if live {
        query.push("part=live".to_owned());
    }
    if let Some(state) = state {
        query.push(format!("state={state}"));
    }
    if page > 0 {
        query.push(format!("page={page}"));
    }
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_sizes_read_naturally() {
        assert_eq!(span_of(45), "45 s");
        assert_eq!(span_of(720), "12 min");
        assert_eq!(span_of(3 * 3600 + 600), "3 h 10 min");
        assert_eq!(span_of(2 * 86_400 + 4 * 3600), "2 d 4 h");
        assert_eq!(size(512), "512 B");
        assert_eq!(size(16 * 1024), "16.0 KiB");
        assert_eq!(size(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
    }

    #[test]
    fn values_from_devices_are_escaped() {
        let page = state_badge("<script>alert(1)</script>").into_string();
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;"), "{page}");
    }
}
