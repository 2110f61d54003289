//! Refunds, operator status changes and the ledger rows they share. The sale's (or the
//! conversion's) row is locked first, so two refunds of one sale from two collectors run one
//! after the other; the refund id is unique per tenant, which decides a race between two.

use clicktrail_app::ledger::{LedgerRows, ReversalRow};
use clicktrail_app::refund::{RefundRow, RefundRows, SaleRow};
use clicktrail_app::status::{ConversionRow, StatusRows};
use clicktrail_domain::conversion::Status;
use clicktrail_domain::ledger::EntryKind;
use clicktrail_domain::money::Overflow;
use clicktrail_store::{RefundIn, RefundOut, StoredRefund};

use crate::{Db, Sql};

impl<D: Db> LedgerRows for Sql<D> {
    type Error = D::Error;

    async fn ledger(&mut self, conversion_id: i64) -> Result<Vec<(EntryKind, i64, i64)>, D::Error> {
        let rows = self
            .0
            .query(
                "SELECT kind, amount_cents, available_at FROM ledger WHERE conversion_id = $1",
                &[&conversion_id],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            if let Some(kind) = EntryKind::parse(&r.get::<String>(0)?) {
                out.push((kind, r.get(1)?, r.get(2)?));
            }
        }
        Ok(out)
    }

    async fn append_reversal(&mut self, e: &ReversalRow<'_>) -> Result<i64, D::Error> {
        let row = self
            .0
            .query_one(
                "INSERT INTO ledger (tenant, affiliate, conversion_id, kind, amount_cents, currency, available_at, reason, created_at)
                 VALUES ($1, $2, $3, 'reversal', $4, $5, $6, $7, $8) RETURNING id",
                &[&e.tenant, &e.affiliate, &e.conversion_id, &-e.cents, &e.currency, &e.available_at, &e.reason, &e.now],
            )
            .await?;
        Ok(row.get(0)?)
    }
}

impl<D: Db> StatusRows for Sql<D> {
    async fn lock_conversion(
        &mut self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<ConversionRow>, D::Error> {
        // a sale's numeric `sale_id`, or a conversion's public id
        let row = match id.parse::<i64>() {
            Ok(n) => {
                self.0
                    .query_opt(
                        "SELECT id, public_id, affiliate, currency, status FROM conversions
                         WHERE tenant = $1 AND id = $2 FOR UPDATE",
                        &[&tenant, &n],
                    )
                    .await?
            }
            Err(_) => {
                self.0
                    .query_opt(
                        "SELECT id, public_id, affiliate, currency, status FROM conversions
                         WHERE tenant = $1 AND public_id = $2 FOR UPDATE",
                        &[&tenant, &id],
                    )
                    .await?
            }
        };
        let Some(r) = row else { return Ok(None) };
        Ok(Some(ConversionRow {
            id: r.get(0)?,
            public_id: r.get(1)?,
            affiliate: r.get(2)?,
            currency: r.get(3)?,
            status: r.get(4)?,
        }))
    }

    async fn set_status(&mut self, conversion_id: i64, to: Status) -> Result<(), D::Error> {
        self.0
            .execute(
                "UPDATE conversions SET status = $2 WHERE id = $1",
                &[&conversion_id, &to.as_str()],
            )
            .await?;
        Ok(())
    }
}

impl<D: Db> RefundRows for Sql<D> {
    async fn lock_sale(
        &mut self,
        tenant: &str,
        transaction_id: &str,
    ) -> Result<Option<SaleRow>, D::Error> {
        let row = self
            .0
            .query_opt(
                "SELECT id, affiliate, amount_cents, currency FROM conversions
                 WHERE tenant = $1 AND transaction_id = $2 FOR UPDATE",
                &[&tenant, &transaction_id],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(SaleRow {
            id: r.get(0)?,
            affiliate: r.get(1)?,
            amount_cents: r.get(2)?,
            currency: r.get(3)?,
        }))
    }

    async fn prior_refund(&mut self, r: &RefundIn) -> Result<Option<StoredRefund>, D::Error> {
        let row = self
            .0
            .query_opt(
                "SELECT transaction_id, requested_cents, reason, amount_cents, commission_reversed_cents
                 FROM refunds WHERE tenant = $1 AND refund_id = $2",
                &[&r.tenant, &r.refund_id],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredRefund {
            transaction_id: row.get(0)?,
            requested_cents: row.get(1)?,
            reason: row.get(2)?,
            out: RefundOut {
                refund_id: r.refund_id.clone(),
                transaction_id: row.get(0)?,
                amount_cents: row.get(3)?,
                commission_reversed_cents: row.get(4)?,
            },
        }))
    }

    /// Summed here, checked: a sale has few refunds, and neither database's `sum` is both
    /// exact and portable past i64.
    async fn refunded_cents(&mut self, sale_id: i64) -> Result<i64, D::Error> {
        let rows = self
            .0
            .query(
                "SELECT amount_cents FROM refunds WHERE conversion_id = $1",
                &[&sale_id],
            )
            .await?;
        let mut total = 0i64;
        for r in rows {
            total = total.checked_add(r.get(0)?).ok_or(Overflow)?;
        }
        Ok(total)
    }

    async fn insert_refund(&mut self, row: &RefundRow<'_>) -> Result<bool, D::Error> {
        let r = row.refund;
        let inserted = self
            .0
            .query_opt(
                "INSERT INTO refunds (tenant, refund_id, conversion_id, transaction_id, requested_cents, amount_cents,
                    reason, commission_reversed_cents, ledger_entry_id, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (tenant, refund_id) DO NOTHING RETURNING 1",
                &[
                    &r.tenant,
                    &r.refund_id,
                    &row.sale_id,
                    &r.transaction_id,
                    &r.amount_cents,
                    &row.amount_cents,
                    &r.reason,
                    &row.commission_reversed_cents,
                    &row.ledger_entry_id,
                    &r.now,
                ],
            )
            .await?;
        Ok(inserted.is_some())
    }
}
