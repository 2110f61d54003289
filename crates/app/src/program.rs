//! The affiliate program's use cases: an application arrives (and is approved at once when the
//! tenant says so), an operator approves or rejects one. Each runs inside one transaction of
//! the backend, and the emails they announce are queued in that same transaction (the outbox),
//! under dedupe keys: a retry never queues a second copy.

use std::future::Future;

use clicktrail_domain::program::{self, code_candidates, ApplicationStatus, Email};
use clicktrail_store::program::{
    ApplicationRow, DecideIn, Decision, NewPortalLink, Notice, OutboxIn, ProgramSettings, SubmitIn,
    Submitted,
};
use clicktrail_store::{CatalogChange, ChangeIn, StoreError};

use crate::testmode::Counted;

/// Codes tried for one approval before giving up (`name`, `name-2`, ...).
const MAX_CODE_TRIES: usize = 1000;

/// What the program's use cases read and write, inside one transaction of the backend.
pub trait ProgramRows {
    type Error: From<StoreError>;

    /// The application with an address that is pending or approved in the tenant.
    fn active_application(
        &mut self,
        tenant: &str,
        email: &str,
    ) -> impl Future<Output = Result<Option<ApplicationRow>, Self::Error>>;

    /// Stores a pending application; its row.
    fn insert_application(
        &mut self,
        s: &SubmitIn,
    ) -> impl Future<Output = Result<ApplicationRow, Self::Error>>;

    /// The application, locked until the transaction ends.
    fn lock_application(
        &mut self,
        tenant: &str,
        id: i64,
    ) -> impl Future<Output = Result<Option<ApplicationRow>, Self::Error>>;

    /// `code` is an affiliate code or an alias in the tenant.
    fn code_taken(
        &mut self,
        tenant: &str,
        code: &str,
    ) -> impl Future<Output = Result<bool, Self::Error>>;

    /// The backend's catalog change (affiliate row, audit line, catalog version bump).
    fn change_catalog(&mut self, c: &ChangeIn) -> impl Future<Output = Result<(), Self::Error>>;

    /// Makes `token_hash` the affiliate's portal link.
    fn portal_link(
        &mut self,
        tenant: &str,
        affiliate: &str,
        token_hash: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Records the decision on the application.
    fn set_decision(
        &mut self,
        tenant: &str,
        id: i64,
        status: ApplicationStatus,
        affiliate: Option<&str>,
        reason: Option<&str>,
        now: i64,
    ) -> impl Future<Output = Result<(), Self::Error>>;

    /// Queues a message unless its dedupe key is queued already.
    fn enqueue(&mut self, m: &OutboxIn) -> impl Future<Output = Result<bool, Self::Error>>;
}

fn email(tenant: &str, key: String, e: Email, now: i64) -> OutboxIn {
    OutboxIn {
        channel: "email".into(),
        dedupe_key: key,
        tenant: tenant.to_string(),
        recipient: e.to,
        subject: e.subject,
        body: e.body,
        now,
    }
}

/// An application from the join page. A known address (pending or approved) stores nothing
/// and sends nothing ([`Submitted::Known`]); the caller answers the same either way.
pub async fn submit<R: ProgramRows>(rows: &mut R, s: &SubmitIn) -> Result<Submitted, R::Error> {
    if rows
        .active_application(&s.tenant, &s.application.email)
        .await?
        .is_some()
    {
        return Ok(Submitted::Known);
    }
    let row = rows.insert_application(s).await?;
    let n = &s.notices;
    if let (true, Some(op)) = (
        n.settings.notify_applications,
        n.settings.operator_email.as_deref(),
    ) {
        let e =
            program::application_received(op, &n.program_name, &s.application, &n.dashboard_url);
        let key = format!("{}:application:{}:received", s.tenant, row.id);
        rows.enqueue(&email(&s.tenant, key, e, s.now)).await?;
    }
    if !n.settings.auto_approve {
        return Ok(Submitted::New(Box::new(row)));
    }
    let d = DecideIn {
        tenant: s.tenant.clone(),
        id: row.id,
        decision: Decision::Approve(s.link.clone()),
        actor: "auto-approve".into(),
        notices: s.notices.clone(),
        now: s.now,
    };
    decide(rows, &d).await.map(|r| Submitted::New(Box::new(r)))
}

/// 404 for an application of another tenant or none.
fn unknown(id: i64) -> StoreError {
    StoreError::NotFound("unknown_application", format!("no application has id {id}"))
}

/// Approves (creates the affiliate with the first free code of
/// `domain::program::code_candidates`, and its portal link) or rejects a pending application,
/// and queues the applicant's email. A decided application is a 409 `application_decided`.
pub async fn decide<R: ProgramRows>(
    rows: &mut R,
    d: &DecideIn,
) -> Result<ApplicationRow, R::Error> {
    let row = rows
        .lock_application(&d.tenant, d.id)
        .await?
        .ok_or_else(|| unknown(d.id))?;
    if row.status != ApplicationStatus::Pending.as_str() {
        return Err(StoreError::Conflict(
            "application_decided",
            format!("application {} is already {}", d.id, row.status),
        )
        .into());
    }
    let a = row.application();
    let n = &d.notices;
    let (status, code, reason, mail) = match &d.decision {
        Decision::Approve(NewPortalLink { token_hash, url }) => {
            let mut free = None;
            for c in code_candidates(&a).take(MAX_CODE_TRIES) {
                if !rows.code_taken(&d.tenant, &c).await? {
                    free = Some(c);
                    break;
                }
            }
            let code = free.ok_or_else(|| {
                StoreError::Conflict("no_free_code", "no free affiliate code was found".into())
            })?;
            rows.change_catalog(&ChangeIn {
                tenant: d.tenant.clone(),
                actor: d.actor.clone(),
                action: format!("POST /api/v1/applications/{}/approve", d.id),
                summary: format!("approved application {}: created affiliate `{code}`", d.id),
                change: CatalogChange::CreateAffiliate {
                    code: code.clone(),
                    name: Some(a.name.clone()),
                },
                now: d.now,
            })
            .await?;
            rows.portal_link(&d.tenant, &code, token_hash, d.now)
                .await?;
            let mail = program::approved(&a, &n.program_name, &code, url);
            (ApplicationStatus::Approved, Some(code), None, mail)
        }
        Decision::Reject { reason } => {
            let mail = program::rejected(&a, &n.program_name, reason);
            (
                ApplicationStatus::Rejected,
                None,
                Some(reason.as_str()),
                mail,
            )
        }
    };
    rows.set_decision(&d.tenant, d.id, status, code.as_deref(), reason, d.now)
        .await?;
    if n.settings.notify_decisions {
        let key = format!("{}:application:{}:{}", d.tenant, d.id, status.as_str());
        rows.enqueue(&email(&d.tenant, key, mail, d.now)).await?;
    }
    Ok(ApplicationRow {
        status: status.as_str().into(),
        affiliate: code,
        reason: reason.map(str::to_string),
        decided_at: Some(d.now),
        ..row
    })
}

/// What telling affiliates about their commissions and payouts reads and writes, in one
/// transaction of the backend.
pub trait NotifyRows {
    type Error: From<StoreError>;

    /// The position of cursor `name` (0 at first), locked until the transaction ends.
    fn cursor(&mut self, name: &str) -> impl Future<Output = Result<i64, Self::Error>>;

    fn set_cursor(&mut self, name: &str, at: i64) -> impl Future<Output = Result<(), Self::Error>>;

    /// Ledger accruals with an id above `after`, created before `before`, oldest first, with
    /// their sale's `livemode` and the tenant's `count_test_payments`.
    fn accruals_after(
        &mut self,
        after: i64,
        before: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Counted<Notice>>, Self::Error>>;

    /// Payouts with an id above `after`, created before `before`, oldest first.
    fn payouts_after(
        &mut self,
        after: i64,
        before: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Notice>, Self::Error>>;

    fn settings(
        &mut self,
        tenant: &str,
    ) -> impl Future<Output = Result<ProgramSettings, Self::Error>>;

    fn enqueue(&mut self, m: &OutboxIn) -> impl Future<Output = Result<bool, Self::Error>>;
}

/// The cursors of [`notify`].
pub const COMMISSION_CURSOR: &str = "email:commissions";
pub const PAYOUT_CURSOR: &str = "email:payouts";

fn amount(n: &Notice) -> String {
    format!(
        "{} {}",
        clicktrail_domain::money::format_cents(n.amount_cents),
        n.currency
    )
}

/// Queues "new commission" and "payout sent" emails for what was recorded since the cursors,
/// to affiliates with an address (those who came through the join page) in tenants whose
/// switch is on, then moves the cursors past what it read. Keys are per entry / payout, so a
/// second run over the same rows queues nothing.
pub async fn notify<R: NotifyRows>(
    rows: &mut R,
    settled_before: i64,
    now: i64,
    limit: i64,
) -> Result<usize, R::Error> {
    let mut queued = 0;
    for (cursor, payouts) in [(COMMISSION_CURSOR, false), (PAYOUT_CURSOR, true)] {
        let after = rows.cursor(cursor).await?;
        let list = if payouts {
            let list = rows.payouts_after(after, settled_before, limit).await?;
            list.into_iter().map(Counted::live).collect()
        } else {
            rows.accruals_after(after, settled_before, limit).await?
        };
        let Some(last) = list.last().map(|n| n.row.id) else {
            continue;
        };
        // a test-mode sale's commission is told only when the tenant counts it
        for n in list.iter().filter(|n| n.counts()).map(|n| &n.row) {
            let Some(to) = n.email.as_deref() else {
                continue;
            };
            let s = rows.settings(&n.tenant).await?;
            let name = s.program_name.clone().unwrap_or_else(|| n.tenant.clone());
            let (on, mail, key) = if payouts {
                (
                    s.notify_payouts,
                    program::payout_sent(to, &name, &amount(n), n.payout_to.as_deref()),
                    format!("{}:payout:{}", n.tenant, n.id),
                )
            } else {
                (
                    s.notify_commissions,
                    program::new_commission(to, &name, &amount(n)),
                    format!("{}:commission:{}", n.tenant, n.id),
                )
            };
            if on && rows.enqueue(&email(&n.tenant, key, mail, now)).await? {
                queued += 1;
            }
        }
        rows.set_cursor(cursor, last).await?;
    }
    Ok(queued)
}
