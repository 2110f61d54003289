//! Ledger reads and payouts on PostgreSQL (the use case `clicktrail_app::payout` over these
//! rows). A payout and its lines are one transaction; payouts of one
//! affiliate are serialized by an advisory transaction lock, and `payout_lines.entry_id` is the
//! primary key: two collectors paying at once can never pay one entry twice (should the
//! key still fire, the payout is recomputed from what the other committed).

use clicktrail_app::payout::{LedgerRow, PayRows};
use clicktrail_app::testmode::counted;
use clicktrail_domain::attribution::{parse_rfc3339, rfc3339};
use clicktrail_domain::ledger::EntryKind;
use clicktrail_domain::payout::{Due, EntryView};
use clicktrail_store::{PayIn, PayoutLine, PayoutOut, StoreError};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::ops::{exec, q, q_opt, Tx};
use crate::refund::is_unique_violation;
use crate::{Fail, PgStore};

const ENTRY_COLUMNS: &str = "l.id, l.affiliate, l.currency, l.kind, l.amount_cents, l.available_at,
    (p.entry_id IS NOT NULL), l.conversion_id, (c.held_payment OR c.held_dispute), l.rule,
    c.livemode, coalesce(t.count_test_payments, false)";

/// Joins an entry's conversion (`c`: its holds, its `livemode`) and its tenant (`t`: whether
/// test-mode sales count, decided by `clicktrail_app::testmode::counted`).
const JOINS: &str = "JOIN conversions c ON c.id = l.conversion_id
    LEFT JOIN tenants t ON t.id = l.tenant";

fn entry(r: &Row) -> Result<LedgerRow, Fail> {
    let kind: String = r.get(3);
    let kind = EntryKind::parse(&kind)
        .ok_or_else(|| StoreError::Internal(format!("ledger kind `{kind}`")))?;
    let entry = EntryView {
        id: r.get(0),
        conversion_id: r.get(7),
        affiliate: r.get(1),
        currency: r.get(2),
        kind,
        amount_cents: r.get(4),
        available_at: r.get(5),
        paid: r.get(6),
        held: r.get(8),
        rule: r.get(9),
    };
    Ok(LedgerRow {
        row: entry,
        livemode: r.get(10),
        count_test_payments: r.get(11),
    })
}

async fn collect(
    tx: &Tx<'_>,
    sql: &str,
    p: &[&(dyn ToSql + Sync)],
) -> Result<Vec<LedgerRow>, Fail> {
    q(tx, sql, p).await?.iter().map(entry).collect()
}

/// Every entry of the tenant that counts, oldest first.
pub(crate) async fn entries(store: &PgStore, tenant: &str) -> Result<Vec<EntryView>, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = collect(
        &tx,
        &format!(
            "SELECT {ENTRY_COLUMNS} FROM ledger l {JOINS} LEFT JOIN payout_lines p ON p.entry_id = l.id
             WHERE l.tenant = $1 ORDER BY l.id"
        ),
        &[&tenant],
    )
    .await?;
    tx.commit().await?;
    Ok(counted(out))
}

/// The entries of the conversions created in `[from, to)` (the report's `ledger` object).
pub(crate) async fn period_entries(
    tx: &Tx<'_>,
    tenant: &str,
    from: i64,
    to: i64,
) -> Result<Vec<LedgerRow>, Fail> {
    collect(
        tx,
        &format!(
            "SELECT {ENTRY_COLUMNS} FROM ledger l {JOINS}
             LEFT JOIN payout_lines p ON p.entry_id = l.id
             WHERE l.tenant = $1 AND c.created_at >= $2 AND c.created_at < $3
             ORDER BY l.id"
        ),
        &[&tenant, &from, &to],
    )
    .await
}

async fn pay_once(store: &PgStore, p: &PayIn) -> Result<PayoutOut, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = clicktrail_app::payout::pay(&mut Rows(&tx), p).await?;
    tx.commit().await?;
    Ok(out)
}

/// A payout's row operations in one transaction.
struct Rows<'t, 'c>(&'t Tx<'c>);

impl PayRows for Rows<'_, '_> {
    type Error = Fail;

    async fn lock_affiliate(&mut self, tenant: &str, affiliate: &str) -> Result<(), Fail> {
        // one payout of this affiliate at a time, across collectors
        exec(
            self.0,
            "SELECT pg_advisory_xact_lock(hashtext($1), hashtext('payout:' || $2))",
            &[&tenant, &affiliate],
        )
        .await?;
        Ok(())
    }

    async fn unpaid_entries(
        &mut self,
        tenant: &str,
        affiliate: &str,
    ) -> Result<Vec<LedgerRow>, Fail> {
        collect(
            self.0,
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM ledger l {JOINS} LEFT JOIN payout_lines p ON p.entry_id = l.id
                 WHERE l.tenant = $1 AND l.affiliate = $2 AND p.entry_id IS NULL
                 ORDER BY l.id"
            ),
            &[&tenant, &affiliate],
        )
        .await
    }

    async fn insert_payout(&mut self, p: &PayIn, d: &Due) -> Result<i64, Fail> {
        let through = rfc3339(p.through);
        let row = q_opt(
            self.0,
            "INSERT INTO payouts (tenant, affiliate, amount_cents, currency, through, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &p.tenant,
                &p.affiliate,
                &d.amount_cents,
                &d.currency,
                &through,
                &p.now,
            ],
        )
        .await?
        .ok_or_else(|| StoreError::Internal("payout insert returned nothing".into()))?;
        let payout_id: i64 = row.get(0);
        exec(
            self.0,
            "INSERT INTO payout_lines (entry_id, payout_id) SELECT unnest($1::bigint[]), $2",
            &[&d.entries, &payout_id],
        )
        .await?;
        Ok(payout_id)
    }

    async fn read_payout(&mut self, tenant: &str, id: i64) -> Result<PayoutOut, Fail> {
        read_payout(self.0, tenant, id).await
    }
}

pub(crate) async fn pay(store: &PgStore, p: &PayIn) -> Result<PayoutOut, Fail> {
    let mut attempt = 0;
    loop {
        match pay_once(store, p).await {
            Err(e) if is_unique_violation(&e) && attempt < 3 => attempt += 1,
            other => return other,
        }
    }
}

async fn read_payout(tx: &Tx<'_>, tenant: &str, id: i64) -> Result<PayoutOut, Fail> {
    let Some(head) = q_opt(
        tx,
        "SELECT affiliate, amount_cents, currency, through, created_at FROM payouts
         WHERE tenant = $1 AND id = $2",
        &[&tenant, &id],
    )
    .await?
    else {
        return Err(
            StoreError::NotFound("unknown_payout", format!("no payout has id {id}")).into(),
        );
    };
    let lines = q(
        tx,
        "SELECT l.id, c.public_id, c.transaction_id, l.kind, l.amount_cents, l.created_at
         FROM payout_lines p JOIN ledger l ON l.id = p.entry_id
         JOIN conversions c ON c.id = l.conversion_id
         WHERE p.payout_id = $1 ORDER BY l.id",
        &[&id],
    )
    .await?
    .iter()
    .map(|r| PayoutLine {
        entry_id: r.get(0),
        conversion_id: r.get(1),
        transaction_id: r.get(2),
        kind: r.get(3),
        amount_cents: r.get(4),
        created_at: r.get(5),
    })
    .collect();
    let through: String = head.get(3);
    let through = parse_rfc3339(&through)
        .ok_or_else(|| StoreError::Internal(format!("stored payout through `{through}`")))?;
    Ok(PayoutOut {
        payout_id: id,
        affiliate: head.get(0),
        amount_cents: head.get(1),
        currency: head.get(2),
        through,
        created_at: head.get(4),
        lines,
    })
}

pub(crate) async fn payout(store: &PgStore, tenant: &str, id: i64) -> Result<PayoutOut, Fail> {
    let mut client = store.pool().get().await?;
    let tx = client.transaction().await?;
    let out = read_payout(&tx, tenant, id).await?;
    tx.commit().await?;
    Ok(out)
}
