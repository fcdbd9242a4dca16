//! One delivery, from the request to the stored runs: read the body within its limit, check the
//! credential and the content type, read the alert, decide per device and rule, claim each
//! firing once, create its run, and record every decision. The dry run shares the decisions.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use fleetlr_engine::{ControlError, Engine, PlaybookRef, RunRequest, TargetSpec, Trigger};
use fleetlr_store::{AlertKey, Blocked, Claim, DeliveryOutcome, NewDelivery, StoreError};
use serde_json::Value;

use super::{Hook, HookSetup, MAX_HOOK_BODY_BYTES, is_json, verify};
use crate::api::{HookAccepted, HookResult, HookTest, PlannedRun, RuleDecision, TestedAlert};
use crate::error::ApiError;
use fleetlr_hooks::{Alert, AlertDevice, Firing, Rule};

/// How long a delivery may take to create its run before a later delivery of the same alert
/// may take its claim over: well beyond target resolution and library sync.
const CLAIM_LEASE: Duration = Duration::from_secs(300);

/// The delivery's JSON, or the refusal (recorded) to answer with.
pub(super) async fn accept(
    engine: &Engine,
    hook: &Hook,
    delivery: &str,
    request: Request,
) -> Result<Value, ApiError> {
    let (parts, body) = request.into_parts();
    let refused = |status: StatusCode, code: &'static str, reason: String| async move {
        record_whole(
            engine,
            hook,
            delivery,
            None,
            DeliveryOutcome::Refused,
            &reason,
        )
        .await;
        ApiError::new(status, code, reason)
    };
    let Ok(bytes) = axum::body::to_bytes(body, MAX_HOOK_BODY_BYTES).await else {
        return Err(refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the body is over {} KiB (or was cut off)",
                MAX_HOOK_BODY_BYTES / 1024
            ),
        )
        .await);
    };
    let now = chrono::Utc::now().timestamp();
    if let Err(err) = verify::verify(&hook.credential, &parts.headers, &bytes, now) {
        return Err(refused(StatusCode::UNAUTHORIZED, "unauthenticated", err.to_string()).await);
    }
    if !is_json(&parts.headers) {
        return Err(refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the alert as JSON with `Content-Type: application/json`".into(),
        )
        .await);
    }
    match serde_json::from_slice(&bytes) {
        Ok(payload) => Ok(payload),
        Err(err) => Err(refused(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("the body is not JSON: {err}"),
        )
        .await),
    }
}

/// A rule's verdict for one device.
struct Decision<'a> {
    rule: &'a Rule,
    device: &'a AlertDevice,
    verdict: Result<Firing, String>,
}

/// Each rule taking the hook's alerts, for each device of the alert; the device's tags are
/// looked up (once per tenant) only for rules that ask for tags and matched otherwise.
async fn decide<'a>(
    engine: &Engine,
    setup: &'a HookSetup,
    hook: &Hook,
    alert: &'a Alert,
) -> Vec<Decision<'a>> {
    let mut decisions = Vec::new();
    for device in &alert.devices {
        let mut tags: BTreeMap<Option<&str>, Result<Vec<String>, String>> = BTreeMap::new();
        for rule in setup.rules.iter().filter(|r| r.takes(&hook.name)) {
            let mut verdict = rule.matches_alert(alert);
            if verdict.is_ok() && !rule.device_tags.is_empty() {
                let tenant = rule.tenant.as_deref();
                let found = match tags.entry(tenant) {
                    std::collections::btree_map::Entry::Occupied(known) => known.into_mut(),
                    std::collections::btree_map::Entry::Vacant(slot) => slot.insert(
                        engine
                            .device_tags(tenant, &device.id)
                            .await
                            .map_err(|err| format!("looking up the device's tags failed: {err}")),
                    ),
                };
                verdict = match found {
                    Ok(device_tags) => rule.matches_tags(device_tags),
                    Err(err) => Err(err.clone()),
                };
            }
            decisions.push(Decision {
                rule,
                device,
                verdict: verdict.and_then(|()| rule.fire(alert.fields_for(device))),
            });
        }
    }
    decisions
}

fn no_rule(hook: &Hook) -> String {
    format!("no rule takes alerts from hook `{}`", hook.name)
}

/// What starts a run, as recorded: the hook and the alert.
fn started_by(hook: &Hook, alert: &Alert) -> String {
    format!("hook:{} alert:{}", hook.name, alert.id)
}

fn trigger_ref(hook: &Hook, alert: &Alert, rule: &Rule) -> String {
    format!("hook:{} alert:{} rule:{}", hook.name, alert.id, rule.name)
}

/// The run a firing rule asks the engine for.
fn run_request(hook: &Hook, alert: &Alert, decision: &Decision<'_>, firing: &Firing) -> RunRequest {
    let rule = decision.rule;
    RunRequest {
        tenant: rule.tenant.clone(),
        playbook: PlaybookRef::Named(rule.playbook.clone()),
        targets: TargetSpec {
            devices: vec![decision.device.id.clone()],
            ..TargetSpec::default()
        },
        parameters: firing.parameters.clone(),
        priority: Some(fleetlr_engine::run_priority(rule.priority)),
        started_by: started_by(hook, alert),
        trigger: Trigger::Webhook,
        alert: Some(firing.alert_fields.clone()),
        trigger_ref: Some(trigger_ref(hook, alert, rule)),
        ..RunRequest::default()
    }
}

/// Handles a delivery whose payload passed the checks: every decision is recorded; the runs
/// are stored before this returns. A run that could not be created for a passing reason (the
/// Defender API, the database) makes the answer 503 so the sender delivers again; the runs
/// already started are then duplicates.
pub(super) async fn deliver(
    engine: &Engine,
    setup: &HookSetup,
    hook: &Hook,
    delivery: &str,
    payload: &Value,
) -> Result<HookAccepted, ApiError> {
    let alert = match hook.mapping.map(payload) {
        Ok(alert) => alert,
        Err(reason) => {
            record_whole(
                engine,
                hook,
                delivery,
                None,
                DeliveryOutcome::Ignored,
                &reason,
            )
            .await;
            return Ok(HookAccepted {
                delivery: delivery.to_owned(),
                alert_id: None,
                runs: Vec::new(),
                results: vec![result(None, None, DeliveryOutcome::Ignored, reason, None)],
            });
        }
    };
    let decisions = decide(engine, setup, hook, &alert).await;
    let mut results = Vec::new();
    if decisions.is_empty() {
        let reason = no_rule(hook);
        let alert_id = Some(alert.id.as_str());
        record_whole(
            engine,
            hook,
            delivery,
            alert_id,
            DeliveryOutcome::Ignored,
            &reason,
        )
        .await;
        results.push(result(None, None, DeliveryOutcome::Ignored, reason, None));
    }
    let mut retry = None;
    for decision in &decisions {
        let device = decision.device.id.as_str();
        let rule = decision.rule.name.as_str();
        let (outcome, reason, claim_id, run_id) = match &decision.verdict {
            Err(reason) => (DeliveryOutcome::Ignored, reason.clone(), None, None),
            Ok(firing) => start(engine, hook, &alert, decision, firing).await,
        };
        if outcome == DeliveryOutcome::Failed {
            retry = Some(reason.clone());
        }
        let row = NewDelivery {
            delivery,
            hook: &hook.name,
            alert_id: Some(&alert.id),
            device_id: Some(device),
            rule: Some(rule),
            outcome,
            reason: &reason,
            claim_id,
        };
        record(engine, &row).await;
        results.push(result(Some(device), Some(rule), outcome, reason, run_id));
    }
    if let Some(reason) = retry {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "retry_later",
            format!("a run could not be created for now ({reason}); deliver the alert again"),
        ));
    }
    Ok(HookAccepted {
        delivery: delivery.to_owned(),
        alert_id: Some(alert.id.clone()),
        runs: results
            .iter()
            .filter(|r| r.outcome == DeliveryOutcome::Started.as_str())
            .filter_map(|r| r.run_id.clone())
            .collect(),
        results,
    })
}

/// Claims the firing and creates its run: (outcome, reason, claim, run).
async fn start(
    engine: &Engine,
    hook: &Hook,
    alert: &Alert,
    decision: &Decision<'_>,
    firing: &Firing,
) -> (DeliveryOutcome, String, Option<i64>, Option<String>) {
    let rule = decision.rule;
    let key = AlertKey {
        hook: &hook.name,
        alert_id: &alert.id,
        device_id: &decision.device.id,
        rule: &rule.name,
    };
    let claim = match engine
        .store()
        .claim_alert(&key, rule.cooldown, CLAIM_LEASE)
        .await
    {
        Ok(claim) => claim,
        Err(err) => {
            tracing::error!(error = %err, hook = %hook.name, "claiming an alert failed");
            return (
                DeliveryOutcome::Failed,
                "the daemon's database failed".into(),
                None,
                None,
            );
        }
    };
    let token = match claim {
        Claim::Won(token) => token,
        Claim::Blocked(blocked) => return blocked_by(rule, blocked),
    };
    let mut request = run_request(hook, alert, decision, firing);
    request.alert_claim = Some(token);
    match engine.create_run(request).await {
        Ok(run) => (
            DeliveryOutcome::Started,
            format!("started playbook `{}`", rule.playbook),
            Some(token.id),
            Some(run),
        ),
        // A later delivery took the claim over while this one was slow; it owns the run.
        Err(ControlError::Store(StoreError::Conflict(_))) => (
            DeliveryOutcome::Duplicate,
            "a later delivery of this alert took over its run".into(),
            Some(token.id),
            None,
        ),
        Err(err) => {
            if let Err(release) = engine.store().release_claim(token).await {
                tracing::error!(error = %release, "releasing an alert claim failed; it expires with its lease");
            }
            let transient = matches!(
                err,
                ControlError::Resolve(_) | ControlError::Library(_) | ControlError::Store(_)
            );
            if transient {
                tracing::warn!(error = %err, hook = %hook.name, alert = %alert.id, "an alert's run could not be created; the sender is asked to deliver again");
                (
                    DeliveryOutcome::Failed,
                    err.to_string(),
                    Some(token.id),
                    None,
                )
            } else {
                (
                    DeliveryOutcome::Ignored,
                    err.to_string(),
                    Some(token.id),
                    None,
                )
            }
        }
    }
}

/// The outcome of a firing whose claim is a duplicate or suppressed: (outcome, reason, the
/// claim that blocks it, its run).
fn blocked_by(
    rule: &Rule,
    blocked: Blocked,
) -> (DeliveryOutcome, String, Option<i64>, Option<String>) {
    match blocked {
        Blocked::Duplicate { claim_id, run_id } => {
            let reason = match &run_id {
                Some(run) => format!("this alert already started run {run} on the device"),
                None => "another delivery of this alert is starting its run".to_owned(),
            };
            (DeliveryOutcome::Duplicate, reason, Some(claim_id), run_id)
        }
        Blocked::Suppressed { claim_id, run_id } => {
            let period = rule
                .cooldown
                .map(fleetlr_playbook::format_duration)
                .unwrap_or_default();
            let reason = format!(
                "rule `{}` already ran on this device within its cooldown of {period} (run {})",
                rule.name,
                run_id.as_deref().unwrap_or("being created")
            );
            (DeliveryOutcome::Suppressed, reason, Some(claim_id), run_id)
        }
    }
}

/// What a delivery of `payload` would do, without claiming or creating anything.
pub(super) async fn dry_run(
    engine: &Engine,
    setup: &HookSetup,
    hook: &Hook,
    payload: &Value,
) -> HookTest {
    let alert = match hook.mapping.map(payload) {
        Ok(alert) => alert,
        Err(reason) => {
            return HookTest {
                hook: hook.name.clone(),
                alert: None,
                ignored: Some(reason),
                decisions: Vec::new(),
            };
        }
    };
    let decisions = decide(engine, setup, hook, &alert).await;
    let ignored = decisions.is_empty().then(|| no_rule(hook));
    let mut rule_decisions = Vec::new();
    for decision in &decisions {
        let (fires, reason, run, history) = match &decision.verdict {
            Err(reason) => (false, reason.clone(), None, None),
            Ok(firing) => {
                let request = run_request(hook, &alert, decision, firing);
                let key = AlertKey {
                    hook: &hook.name,
                    alert_id: &alert.id,
                    device_id: &decision.device.id,
                    rule: &decision.rule.name,
                };
                let history = match engine
                    .store()
                    .peek_alert_claim(&key, decision.rule.cooldown)
                    .await
                {
                    Ok(None) => None,
                    Ok(Some(blocked)) => {
                        let (outcome, reason, _, _) = blocked_by(decision.rule, blocked);
                        Some(format!("{}: {reason}", outcome.as_str()))
                    }
                    Err(err) => Some(format!("the delivery history could not be read: {err}")),
                };
                (
                    true,
                    String::new(),
                    Some(planned(&request, decision)),
                    history,
                )
            }
        };
        rule_decisions.push(RuleDecision {
            rule: decision.rule.name.clone(),
            device: decision.device.id.clone(),
            fires,
            reason,
            run,
            history,
        });
    }
    HookTest {
        hook: hook.name.clone(),
        alert: Some(TestedAlert {
            id: alert.id.clone(),
            fields: alert.fields.clone(),
            devices: alert.devices.iter().map(|d| d.id.clone()).collect(),
        }),
        ignored,
        decisions: rule_decisions,
    }
}

fn planned(request: &RunRequest, decision: &Decision<'_>) -> PlannedRun {
    PlannedRun {
        playbook: decision.rule.playbook.clone(),
        tenant: request.tenant.clone(),
        priority: decision.rule.priority.to_string(),
        device: decision.device.id.clone(),
        parameters: request.parameters.clone(),
        alert: request.alert.clone().unwrap_or_default(),
        started_by: request.started_by.clone(),
        trigger_ref: request.trigger_ref.clone().unwrap_or_default(),
        cooldown: decision
            .rule
            .cooldown
            .map(fleetlr_playbook::format_duration),
    }
}

fn result(
    device: Option<&str>,
    rule: Option<&str>,
    outcome: DeliveryOutcome,
    reason: String,
    run_id: Option<String>,
) -> HookResult {
    HookResult {
        device: device.map(str::to_owned),
        rule: rule.map(str::to_owned),
        outcome: outcome.as_str().to_owned(),
        reason,
        run_id,
    }
}

/// Records a decision about a whole delivery (a refusal, a payload or alert nothing applies to).
async fn record_whole(
    engine: &Engine,
    hook: &Hook,
    delivery: &str,
    alert_id: Option<&str>,
    outcome: DeliveryOutcome,
    reason: &str,
) {
    let row = NewDelivery {
        delivery,
        hook: &hook.name,
        alert_id,
        device_id: None,
        rule: None,
        outcome,
        reason,
        claim_id: None,
    };
    record(engine, &row).await;
}

/// Appends a decision to the delivery log and counts it. The log is the record, not the
/// guarantee (the claim and the run are), so a failure to write it is logged, not answered.
async fn record(engine: &Engine, delivery: &NewDelivery<'_>) {
    fleetlr_engine::metrics::alert_delivery(delivery.hook, delivery.outcome.as_str());
    if let Err(err) = engine.store().record_delivery(delivery).await {
        tracing::error!(error = %err, hook = %delivery.hook, "recording an alert delivery failed");
    }
}
