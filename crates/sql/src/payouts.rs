//! Ledger reads and payouts (`clicktrail_app::payout`). Payouts of one affiliate are
//! serialized, and `payout_lines.entry_id` is the primary key: an entry is never paid twice
//! (should the key still fire on PostgreSQL, its entry point recomputes the payout from what
//! the other collector committed).

use clicktrail_app::payout::{LedgerRow, PayRows};
use clicktrail_app::testmode::counted;
use clicktrail_domain::attribution::{parse_rfc3339, rfc3339};
use clicktrail_domain::ledger::EntryKind;
use clicktrail_domain::payout::{Due, EntryView};
use clicktrail_store::{PayIn, PayoutLine, PayoutOut, StoreError};

use crate::{Args, Db, Dialect, Row, Sql};

const ENTRY_COLUMNS: &str = "l.id, l.affiliate, l.currency, l.kind, l.amount_cents, l.available_at,
    (p.entry_id IS NOT NULL), l.conversion_id, (c.held_payment OR c.held_dispute), l.rule,
    c.livemode, coalesce(t.count_test_payments, FALSE)";

/// Joins an entry's conversion (`c`: its holds, its `livemode`), its tenant (`t`: whether
/// test-mode sales count, decided by `clicktrail_app::testmode::counted`) and its payout
/// line (`p`: whether it is paid).
const JOINS: &str = "JOIN conversions c ON c.id = l.conversion_id
    LEFT JOIN tenants t ON t.id = l.tenant
    LEFT JOIN payout_lines p ON p.entry_id = l.id";

fn entry(r: &Row) -> Result<LedgerRow, StoreError> {
    let kind: String = r.get(3)?;
    let kind = EntryKind::parse(&kind)
        .ok_or_else(|| StoreError::Internal(format!("ledger kind `{kind}`")))?;
    Ok(LedgerRow {
        row: EntryView {
            id: r.get(0)?,
            conversion_id: r.get(7)?,
            affiliate: r.get(1)?,
            currency: r.get(2)?,
            kind,
            amount_cents: r.get(4)?,
            available_at: r.get(5)?,
            paid: r.get(6)?,
            held: r.get(8)?,
            rule: r.get(9)?,
        },
        livemode: r.get(10)?,
        count_test_payments: r.get(11)?,
    })
}

/// The ledger entries `filter` selects (`l`, `c` named as in [`JOINS`]), oldest first.
async fn collect<D: Db>(db: &D, filter: &str, args: Args<'_>) -> Result<Vec<LedgerRow>, D::Error> {
    let rows = db
        .query(
            &format!("SELECT {ENTRY_COLUMNS} FROM ledger l {JOINS} WHERE {filter} ORDER BY l.id"),
            args,
        )
        .await?;
    Ok(rows.iter().map(entry).collect::<Result<_, _>>()?)
}

/// Every entry of the tenant that counts, oldest first.
pub async fn entries<D: Db>(db: &D, tenant: &str) -> Result<Vec<EntryView>, D::Error> {
    Ok(counted(collect(db, "l.tenant = $1", &[&tenant]).await?))
}

/// The entries of the conversions created in `[from, to)` (the report's `ledger` object).
pub async fn period_entries<D: Db>(
    db: &D,
    tenant: &str,
    from: i64,
    to: i64,
) -> Result<Vec<LedgerRow>, D::Error> {
    collect(
        db,
        "l.tenant = $1 AND c.created_at >= $2 AND c.created_at < $3",
        &[&tenant, &from, &to],
    )
    .await
}

impl<D: Db> PayRows for Sql<D> {
    type Error = D::Error;

    async fn lock_affiliate(&mut self, tenant: &str, affiliate: &str) -> Result<(), D::Error> {
        // one payout of this affiliate at a time, across collectors
        self.0
            .serialize(&format!("payout:{tenant}:{affiliate}"))
            .await
    }

    async fn unpaid_entries(
        &mut self,
        tenant: &str,
        affiliate: &str,
    ) -> Result<Vec<LedgerRow>, D::Error> {
        collect(
            &self.0,
            "l.tenant = $1 AND l.affiliate = $2 AND p.entry_id IS NULL",
            &[&tenant, &affiliate],
        )
        .await
    }

    async fn insert_payout(&mut self, p: &PayIn, d: &Due) -> Result<i64, D::Error> {
        let through = rfc3339(p.through);
        let row = self
            .0
            .query_one(
                "INSERT INTO payouts (tenant, affiliate, amount_cents, currency, through, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[&p.tenant, &p.affiliate, &d.amount_cents, &d.currency, &through, &p.now],
            )
            .await?;
        let payout_id: i64 = row.get(0)?;
        match D::DIALECT {
            // one statement for every line
            Dialect::Postgres => {
                self.0
                    .execute(
                        "INSERT INTO payout_lines (entry_id, payout_id) SELECT unnest($1::bigint[]), $2",
                        &[&d.entries, &payout_id],
                    )
                    .await?;
            }
            Dialect::Sqlite => {
                for id in &d.entries {
                    self.0
                        .execute(
                            "INSERT INTO payout_lines (entry_id, payout_id) VALUES ($1, $2)",
                            &[id, &payout_id],
                        )
                        .await?;
                }
            }
        }
        Ok(payout_id)
    }

    async fn read_payout(&mut self, tenant: &str, id: i64) -> Result<PayoutOut, D::Error> {
        payout(&self.0, tenant, id).await
    }
}

/// The tenant's payout `id` with its lines.
pub async fn payout<D: Db>(db: &D, tenant: &str, id: i64) -> Result<PayoutOut, D::Error> {
    let Some(head) = db
        .query_opt(
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
    let rows = db
        .query(
            "SELECT l.id, c.public_id, c.transaction_id, l.kind, l.amount_cents, l.created_at
             FROM payout_lines p JOIN ledger l ON l.id = p.entry_id
             JOIN conversions c ON c.id = l.conversion_id
             WHERE p.payout_id = $1 ORDER BY l.id",
            &[&id],
        )
        .await?;
    let mut lines = Vec::with_capacity(rows.len());
    for r in rows {
        lines.push(PayoutLine {
            entry_id: r.get(0)?,
            conversion_id: r.get(1)?,
            transaction_id: r.get(2)?,
            kind: r.get(3)?,
            amount_cents: r.get(4)?,
            created_at: r.get(5)?,
        });
    }
    let through: String = head.get(3)?;
    Ok(PayoutOut {
        payout_id: id,
        affiliate: head.get(0)?,
        amount_cents: head.get(1)?,
        currency: head.get(2)?,
        through: parse_through(&through)?,
        created_at: head.get(4)?,
        lines,
    })
}

/// The stored `through` (RFC 3339) as unix seconds.
fn parse_through(s: &str) -> Result<i64, StoreError> {
    parse_rfc3339(s).ok_or_else(|| StoreError::Internal(format!("stored payout through `{s}`")))
}
