//! The web console: server-rendered pages for operators (runs list with progress, run detail
//! with targets, per-command outcomes, artifacts and the event log; cancel, pause, resume and
//! retry; schedules with their next fire times, paused and resumed), behind a sign-in with an
//! API token kept in an HttpOnly, SameSite=Strict cookie.
//! Pages refresh a region of themselves for live updates (`assets/live.js`); there is no
//! front-end build.
//!
//! Every change goes through the same engine calls, role checks and audit log as the REST API;
//! nothing here reads or writes anything the API could not.

mod assets;
mod pages;
mod session;

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, Form, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use fleetlr_engine::Engine;
use fleetlr_store::{CommandOutcome, Page, Role, RunEvent, RunState, Target, TargetState};
use serde::Deserialize;

use crate::error::ApiError;
use crate::runs::{self, control, find_run, view_with_counts};
use crate::schedules;
use session::{CsrfForm, Session};

/// Largest form a page posts (a token, a CSRF field).
const MAX_FORM_BYTES: usize = 8 * 1024;

/// Runs the list shows.
const LISTED_RUNS: u32 = 100;

/// Targets on one page of a run's detail.
const TARGETS_PER_PAGE: u32 = 100;

/// Events the detail shows, newest first.
const SHOWN_EVENTS: u32 = 200;

/// The console's routes (`/` and `/ui/...`), to merge beside the API.
pub(crate) fn routes() -> Router<Engine> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/runs") }))
        .route("/ui", get(|| async { Redirect::to("/ui/runs") }))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/runs", get(runs_page))
        .route("/ui/runs/{id}", get(run_page))
        .route("/ui/runs/{id}/{action}", post(run_control))
        .route("/ui/schedules", get(schedules_page))
        .route("/ui/schedules/{name}/{action}", post(schedule_control))
        .route(
            "/ui/runs/{id}/outcomes/{outcome}/artifact",
            get(artifact_download),
        )
        .route("/ui/assets/{file}", get(assets::serve))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::map_response(assets::page_headers))
}

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    #[serde(default)]
    failed: bool,
}

async fn login_page(Query(query): Query<LoginQuery>) -> Response {
    let status = if query.failed {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    (status, pages::login(query.failed)).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(
    State(engine): State<Engine>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    if !session::same_origin(&headers) {
        return pages::refused(
            StatusCode::FORBIDDEN,
            "This form must be sent from this site.",
        );
    }
    let Ok(Form(form)) = form else {
        return Redirect::to("/ui/login?failed=true").into_response();
    };
    match session::sign_in(&engine, &headers, form.token.trim()).await {
        Ok(Some(cookie)) => {
            let mut response = Redirect::to("/ui/runs").into_response();
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Ok(None) => Redirect::to("/ui/login?failed=true").into_response(),
        Err(err) => pages::failed(err),
    }
}

async fn logout(session: Session, form: CsrfForm) -> Response {
    if let Err(forged) = session.check(&form) {
        return forged.into_response();
    }
    let mut response = Redirect::to("/ui/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::cleared_cookie());
    response
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    state: Option<String>,
    /// `live`: only the region that live updates replace.
    part: Option<String>,
}

async fn runs_page(
    State(engine): State<Engine>,
    session: Session,
    Query(query): Query<RunsQuery>,
) -> Response {
    let state = match query.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => match RunState::parse(text) {
            Ok(state) => Some(state),
            Err(_) => {
                return pages::refused(StatusCode::BAD_REQUEST, "There is no such run state.");
            }
        },
    };
    // With a state filter the newest runs are searched for that state, as the API does.
    let summaries = match engine.store().list_runs(LISTED_RUNS * 10).await {
        Ok(summaries) => summaries,
        Err(err) => return pages::failed(err),
    };
    let runs: Vec<_> = summaries
        .into_iter()
        .filter(|s| state.is_none_or(|state| s.run.state == state))
        .take(LISTED_RUNS as usize)
        .map(|s| view_with_counts(s.run, &s.targets_by_state))
        .collect();
    let now = chrono::Utc::now();
    if query.part.as_deref() == Some("live") {
        return pages::runs_region(&runs, state, now).into_response();
    }
    pages::runs(&session, &runs, state, now).into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunQuery {
    state: Option<String>,
    #[serde(default)]
    page: u64,
    part: Option<String>,
    /// Set by the redirect after a control went through.
    done: Option<String>,
}

async fn run_page(
    State(engine): State<Engine>,
    session: Session,
    UrlPath(id): UrlPath<String>,
    Query(query): Query<RunQuery>,
) -> Response {
    let notice = query
        .done
        .as_deref()
        .and_then(run_control_action)
        .map(|(_, text)| (StatusCode::OK, text.to_owned()));
    run_detail(&engine, &session, &id, &query, notice).await
}

/// The detail page, or its live region; `notice` is an answer to a control the operator sent.
async fn run_detail(
    engine: &Engine,
    session: &Session,
    id: &str,
    query: &RunQuery,
    notice: Option<(StatusCode, String)>,
) -> Response {
    let filter = match query.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => match TargetState::parse(text) {
            Ok(state) => Some(state),
            Err(_) => {
                return pages::refused(StatusCode::BAD_REQUEST, "There is no such target state.");
            }
        },
    };
    let detail = match load_detail(engine, id, filter, query.page).await {
        Ok(detail) => detail,
        Err(err) if err.status == StatusCode::NOT_FOUND => {
            return pages::refused(StatusCode::NOT_FOUND, "There is no such run.");
        }
        Err(err) => return err.into_response(),
    };
    if query.part.as_deref() == Some("live") {
        return pages::run_region(session, &detail, chrono::Utc::now()).into_response();
    }
    let status = notice
        .as_ref()
        .map_or(StatusCode::OK, |(status, _)| *status);
    let page = pages::run(
        session,
        &detail,
        notice.as_ref().map(|(_, text)| text.as_str()),
        chrono::Utc::now(),
    );
    (status, page).into_response()
}

/// What the run detail shows: the run, one page of its targets with their outcomes, and its
/// newest events.
pub(crate) struct RunDetail {
    pub run: crate::api::RunView,
    pub filter: Option<TargetState>,
    pub page: u64,
    pub pages: u64,
    /// Targets shown, each with its command outcomes (oldest first).
    pub targets: Vec<(Target, Vec<CommandOutcome>)>,
    pub matching_targets: u64,
    pub retryable: bool,
    pub events: Vec<RunEvent>,
}

async fn load_detail(
    engine: &Engine,
    id: &str,
    filter: Option<TargetState>,
    page: u64,
) -> Result<RunDetail, ApiError> {
    let store = engine.store();
    let run = find_run(engine, id).await?;
    // Counts, one page of targets, their outcomes and the newest events: what the page shows,
    // and nothing more, however many devices the run has (it is read again every refresh).
    let counts = store.target_counts(id).await?;
    let count_of = |wanted: &dyn Fn(TargetState) -> bool| -> u64 {
        counts
            .iter()
            .filter(|(state, _)| wanted(*state))
            .map(|(_, n)| n)
            .sum()
    };
    let retryable = count_of(&|state| {
        matches!(
            state,
            TargetState::Failed | TargetState::TimedOut | TargetState::Expired
        )
    }) > 0;
    let matching_targets = count_of(&|state| filter.is_none_or(|f| state == f));
    let pages = matching_targets
        .div_ceil(u64::from(TARGETS_PER_PAGE))
        .max(1);
    let page = page.min(pages - 1);
    let shown = store
        .targets_page(id, filter, Page::numbered(page, TARGETS_PER_PAGE))
        .await?;
    let ids: Vec<i64> = shown.iter().map(|t| t.id).collect();
    let mut by_target: BTreeMap<i64, Vec<CommandOutcome>> = BTreeMap::new();
    for outcome in store.outcomes_of_targets(id, &ids).await? {
        by_target
            .entry(outcome.target_id)
            .or_default()
            .push(outcome);
    }
    let targets = shown
        .into_iter()
        .map(|target| {
            let mine = by_target.remove(&target.id).unwrap_or_default();
            (target, mine)
        })
        .collect();
    let events = store.newest_events(id, SHOWN_EVENTS).await?;
    let run = view_with_counts(run, &counts);
    Ok(RunDetail {
        run,
        filter,
        page,
        pages,
        targets,
        matching_targets,
        retryable,
        events,
    })
}

async fn run_control(
    State(engine): State<Engine>,
    session: Session,
    UrlPath((id, action)): UrlPath<(String, String)>,
    form: CsrfForm,
) -> Response {
    if let Err(forged) = session.check(&form) {
        return forged.into_response();
    }
    let Some((audited_as, _)) = run_control_action(&action) else {
        return pages::refused(StatusCode::NOT_FOUND, "There is no such action.");
    };
    match control(&engine, session.caller(), audited_as, &id).await {
        // After a change, a fresh GET: reloading the page does not send the form again.
        Ok(_) => Redirect::to(&format!("/ui/runs/{id}?done={action}")).into_response(),
        Err(err) => {
            let notice = Some((err.status, err.message().to_owned()));
            run_detail(&engine, &session, &id, &RunQuery::default(), notice).await
        }
    }
}

/// A run control the pages offer: what the audit log calls it, and what the page says once
/// it went through (`?done=ACTION`).
fn run_control_action(action: &str) -> Option<(&'static str, &'static str)> {
    Some(match action {
        "cancel" => (
            "run.cancel",
            "Cancellation requested: queued devices end now, actions in flight are cancelled through the API.",
        ),
        "pause" => (
            "run.pause",
            "Paused: nothing new is submitted; actions in flight finish and are recorded.",
        ),
        "resume" => ("run.resume", "Resumed."),
        "retry" => (
            "run.retry",
            "The failed, timed-out and expired devices are queued again.",
        ),
        _ => return None,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchedulesQuery {
    /// Set by the redirect after a pause or resume went through.
    done: Option<String>,
}

async fn schedules_page(
    State(engine): State<Engine>,
    session: Session,
    Query(query): Query<SchedulesQuery>,
) -> Response {
    let notice = query
        .done
        .as_deref()
        .and_then(schedule_control_action)
        .map(|(_, text)| (StatusCode::OK, text.to_owned()));
    schedules_list(&engine, &session, notice).await
}

/// The schedules page; `notice` is an answer to a control the operator sent.
async fn schedules_list(
    engine: &Engine,
    session: &Session,
    notice: Option<(StatusCode, String)>,
) -> Response {
    let listed = match schedules::listed(engine).await {
        Ok(listed) => listed,
        Err(err) => return err.into_response(),
    };
    let status = notice
        .as_ref()
        .map_or(StatusCode::OK, |(status, _)| *status);
    let page = pages::schedules(
        session,
        &listed,
        notice.as_ref().map(|(_, text)| text.as_str()),
        chrono::Utc::now(),
    );
    (status, page).into_response()
}

async fn schedule_control(
    State(engine): State<Engine>,
    session: Session,
    UrlPath((name, action)): UrlPath<(String, String)>,
    form: CsrfForm,
) -> Response {
    if let Err(forged) = session.check(&form) {
        return forged.into_response();
    }
    let Some((paused, _)) = schedule_control_action(&action) else {
        return pages::refused(StatusCode::NOT_FOUND, "There is no such action.");
    };
    match schedules::set_paused(&engine, session.caller(), &name, paused).await {
        Ok(_) => Redirect::to(&format!("/ui/schedules?done={action}")).into_response(),
        Err(err) => {
            let notice = Some((err.status, err.message().to_owned()));
            schedules_list(&engine, &session, notice).await
        }
    }
}

/// A schedule control the page offers: whether it pauses, and what the page says once it went
/// through (`?done=ACTION`).
fn schedule_control_action(action: &str) -> Option<(bool, &'static str)> {
    Some(match action {
        "pause" => (
            true,
            "Schedule paused: none of its fire times fires until it is resumed.",
        ),
        "resume" => (
            false,
            "Schedule resumed: it fires from its next fire time on; those passed while it was paused do not fire.",
        ),
        _ => return None,
    })
}

async fn artifact_download(
    State(engine): State<Engine>,
    session: Session,
    UrlPath((id, outcome)): UrlPath<(String, i64)>,
) -> Response {
    if session.caller().require(Role::Operator).is_err() {
        return pages::refused(
            StatusCode::FORBIDDEN,
            "Collected files can be downloaded by operators only.",
        );
    }
    match runs::artifact(
        State(engine),
        session.caller().clone(),
        UrlPath((id, outcome)),
    )
    .await
    {
        Ok(response) => response,
        Err(err) => pages::refused(err.status, err.message()),
    }
}
