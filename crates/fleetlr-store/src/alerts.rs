//! Alert webhooks: the dedup claims that make one alert start one run per device and rule, the
//! cooldown that suppresses repeats on a device, and the log of every delivery.
//!
//! A delivery claims its key (`hook`, alert, device, rule) before the engine creates the run;
//! the run is stored together with the claim's move to `started` (`Store::create_run`), so
//! the claim and the run can never disagree. A claim not completed within its lease (a crash,
//! a failed creation) can be taken over by a later delivery.

use std::time::Duration;

use sqlx::Row;

use crate::runs::text_enum;
use crate::{Result, Store, StoreError, now, stamp};

/// What one delivery is about: the dedup key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertKey<'a> {
    pub hook: &'a str,
    pub alert_id: &'a str,
    pub device_id: &'a str,
    pub rule: &'a str,
}

/// Proof that this delivery holds a claim; only the holder of the latest attempt can turn it
/// into a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimToken {
    pub id: i64,
    pub attempt: u32,
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This delivery holds the key and must create the run with the token.
    Won(ClaimToken),
    Blocked(Blocked),
}

/// Why a key cannot be claimed: an earlier claim covers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// The alert already started its run here, or another delivery is starting it; the run
    /// is known once that delivery stored it.
    Duplicate {
        claim_id: i64,
        run_id: Option<String>,
    },
    /// The rule started a run on this device within its cooldown: that claim covers this one.
    Suppressed {
        claim_id: i64,
        run_id: Option<String>,
    },
}

text_enum!(
    /// What fleetlr did with a delivery (for one device and rule, when it got that far).
    DeliveryOutcome, "alert_deliveries.outcome" {
        Started = "started", Duplicate = "duplicate", Suppressed = "suppressed",
        Ignored = "ignored", Refused = "refused", Failed = "failed",
    }
);

/// A delivery decision to record.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    /// Groups the rows of one HTTP request.
    pub delivery: &'a str,
    pub hook: &'a str,
    pub alert_id: Option<&'a str>,
    pub device_id: Option<&'a str>,
    pub rule: Option<&'a str>,
    pub outcome: DeliveryOutcome,
    pub reason: &'a str,
    pub claim_id: Option<i64>,
}

/// A recorded delivery decision, with the run of its claim when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertDelivery {
    pub id: i64,
    pub delivery: String,
    pub received_at: String,
    pub hook: String,
    pub alert_id: Option<String>,
    pub device_id: Option<String>,
    pub rule: Option<String>,
    pub outcome: DeliveryOutcome,
    pub reason: String,
    pub run_id: Option<String>,
}

impl Store {
    /// Claims `key` for a new run unless it is a duplicate or, with `cooldown`, suppressed by a
    /// recent run of the same rule on the same device. A won claim expires after `lease`.
    pub async fn claim_alert(
        &self,
        key: &AlertKey<'_>,
        cooldown: Option<Duration>,
        lease: Duration,
    ) -> Result<Claim> {
        let at = chrono::Utc::now();
        let now_text = stamp(at);
        let lease_until = stamp(
            at.checked_add_signed(to_delta(lease))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
        );
        let mut tx = self.write().await?;
        let (own_id, found) = blocking_claim(&mut tx, key, cooldown, at).await?;
        if let Some(blocked) = found {
            return Ok(Claim::Blocked(blocked));
        }
        let (id, attempt): (i64, i64) = match own_id {
            // An expired or released claim: no run was stored for it, so it is taken over.
            Some(id) => sqlx::query_as(
                "UPDATE alert_claims SET state = 'claimed', attempt = attempt + 1, claimed_at = ?,
                     lease_until = ?
                 WHERE id = ? RETURNING id, attempt",
            )
            .bind(&now_text)
            .bind(&lease_until)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?,
            None => sqlx::query_as(
                "INSERT INTO alert_claims (hook, alert_id, device_id, rule, state, claimed_at, lease_until)
                 VALUES (?, ?, ?, ?, 'claimed', ?, ?) RETURNING id, attempt",
            )
            .bind(key.hook)
            .bind(key.alert_id)
            .bind(key.device_id)
            .bind(key.rule)
            .bind(&now_text)
            .bind(&lease_until)
            .fetch_one(&mut *tx)
            .await?,
        };
        tx.commit().await?;
        Ok(Claim::Won(ClaimToken {
            id,
            attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
        }))
    }

    /// What would keep `key` from being claimed now: `None` when the claim would be won. Reads
    /// only.
    pub async fn peek_alert_claim(
        &self,
        key: &AlertKey<'_>,
        cooldown: Option<Duration>,
    ) -> Result<Option<Blocked>> {
        let mut conn = self.pool.acquire().await?;
        let (_, found) = blocking_claim(&mut conn, key, cooldown, chrono::Utc::now()).await?;
        Ok(found)
    }

    /// Gives up a won claim whose run could not be created, so the next delivery of the alert
    /// (the sender's retry) can claim it at once. A claim taken over since is left alone.
    pub async fn release_claim(&self, token: ClaimToken) -> Result<()> {
        sqlx::query(
            "UPDATE alert_claims SET state = 'released'
             WHERE id = ? AND attempt = ? AND state = 'claimed'",
        )
        .bind(token.id)
        .bind(i64::from(token.attempt))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends the lease of every claim still being started: called when the daemon starts, when
    /// no delivery of an earlier process can still be creating its run.
    pub async fn expire_claim_leases(&self) -> Result<u64> {
        let at = now();
        let done = sqlx::query(
            "UPDATE alert_claims SET lease_until = ? WHERE state = 'claimed' AND lease_until > ?",
        )
        .bind(&at)
        .bind(&at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Appends a delivery decision to the log.
    pub async fn record_delivery(&self, delivery: &NewDelivery<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO alert_deliveries (delivery, received_at, hook, alert_id, device_id, rule,
                 outcome, reason, claim_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(delivery.delivery)
        .bind(now())
        .bind(delivery.hook)
        .bind(delivery.alert_id)
        .bind(delivery.device_id)
        .bind(delivery.rule)
        .bind(delivery.outcome.as_str())
        .bind(delivery.reason)
        .bind(delivery.claim_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest delivery decisions first, each with the run of its claim.
    pub async fn deliveries(&self, limit: u32) -> Result<Vec<AlertDelivery>> {
        sqlx::query(
            "SELECT d.*, c.run_id FROM alert_deliveries d
             LEFT JOIN alert_claims c ON c.id = d.claim_id
             ORDER BY d.id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(AlertDelivery {
                id: row.get("id"),
                delivery: row.get("delivery"),
                received_at: row.get("received_at"),
                hook: row.get("hook"),
                alert_id: row.get("alert_id"),
                device_id: row.get("device_id"),
                rule: row.get("rule"),
                outcome: DeliveryOutcome::parse(row.get("outcome"))?,
                reason: row.get("reason"),
                run_id: row.get("run_id"),
            })
        })
        .collect()
    }
}

/// The claim that keeps `key` from being won at `at` (a duplicate, or a suppression by the
/// cooldown), and the id of `key`'s own claim row when it has one.
async fn blocking_claim(
    conn: &mut sqlx::SqliteConnection,
    key: &AlertKey<'_>,
    cooldown: Option<Duration>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(Option<i64>, Option<Blocked>)> {
    let now_text = stamp(at);
    let existing = sqlx::query(
        "SELECT id, state, run_id, lease_until FROM alert_claims
         WHERE hook = ? AND alert_id = ? AND device_id = ? AND rule = ?",
    )
    .bind(key.hook)
    .bind(key.alert_id)
    .bind(key.device_id)
    .bind(key.rule)
    .fetch_optional(&mut *conn)
    .await?;
    let own_id: Option<i64> = existing.as_ref().map(|row| row.get("id"));
    if let Some(row) = &existing {
        let state: String = row.get("state");
        let lease: String = row.get("lease_until");
        if state == "started" || (state == "claimed" && lease > now_text) {
            let claim = Blocked::Duplicate {
                claim_id: row.get("id"),
                run_id: row.get("run_id"),
            };
            return Ok((own_id, Some(claim)));
        }
    }
    let Some(cooldown) = cooldown else {
        return Ok((own_id, None));
    };
    let since = stamp(
        at.checked_sub_signed(to_delta(cooldown))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
    );
    let covering = sqlx::query(
        "SELECT id, run_id FROM alert_claims
         WHERE rule = ? AND device_id = ? AND id IS NOT ? AND claimed_at >= ?
           AND (state = 'started' OR (state = 'claimed' AND lease_until > ?))
         ORDER BY claimed_at DESC LIMIT 1",
    )
    .bind(key.rule)
    .bind(key.device_id)
    .bind(own_id)
    .bind(&since)
    .bind(&now_text)
    .fetch_optional(&mut *conn)
    .await?;
    let claim = covering.map(|row| Blocked::Suppressed {
        claim_id: row.get("id"),
        run_id: row.get("run_id"),
    });
    Ok((own_id, claim))
}

/// Marks the claim `token` started by `run_id`, inside the transaction that stores the run, so
/// that either both are stored or neither. Fails when the claim was taken over meanwhile.
pub(crate) async fn complete_claim(
    conn: &mut sqlx::SqliteConnection,
    token: ClaimToken,
    run_id: &str,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE alert_claims SET state = 'started', run_id = ?
         WHERE id = ? AND attempt = ? AND state = 'claimed'",
    )
    .bind(run_id)
    .bind(token.id)
    .bind(i64::from(token.attempt))
    .execute(conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "alert claim {} (attempt {}) was taken over by a later delivery; its run is not stored",
            token.id, token.attempt
        )));
    }
    Ok(())
}

fn to_delta(duration: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(duration).unwrap_or(chrono::TimeDelta::MAX)
}
