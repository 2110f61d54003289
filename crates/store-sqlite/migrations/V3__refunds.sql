
    CREATE TABLE refunds (
        id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, refund_id TEXT NOT NULL,
        conversion_id INTEGER NOT NULL, transaction_id TEXT NOT NULL,
        requested_cents INTEGER, amount_cents INTEGER NOT NULL, reason TEXT,
        commission_reversed_cents INTEGER NOT NULL, ledger_entry_id INTEGER,
        created_at INTEGER NOT NULL, UNIQUE (tenant, refund_id));
    CREATE INDEX refunds_conversion ON refunds (conversion_id);
    CREATE INDEX payout_lines_payout ON payout_lines (payout_id);
    