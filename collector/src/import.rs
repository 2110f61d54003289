//! `clicktrail-collector import-csv`: transactions from a CSV file, all-or-nothing.
//!
//! Header row (names case-insensitive, any order; unknown columns are an error):
//!
//! | column | required | meaning |
//! |---|---|---|
//! | `transaction_id` | yes | unique per tenant; a reused id (in the file or the database) is a bad row |
//! | `amount` or `amount_cents` | one of them | `amount` a decimal string (`49.00`), `amount_cents` an integer (`4900`) |
//! | `currency` | no | 3 letters, default: the tenant's currency |
//! | `click_id` | no | the CID; must be known |
//! | `customer_key` | no | resolved through lead links; must be known |
//! | `created_at` | no | RFC 3339 (`2026-11-01T10:00:00Z`) or `YYYY-MM-DD`; default: now |
//! | `status` | no | `approved` (default), `pending` or `declined` |
//! | `conversion_type` | no | default: the tenant's sale conversion type |
//! | `is_recurring` | no | `true`/`false`/`1`/`0` |
//! | `subscription_id` | no | |
//! | `type` | no | `sale` (default) or `refund` |
//! | `refund_id` | refund rows | unique per tenant (a refund already imported with the same values is accepted again; other values: a bad row) |
//! | `reason` | no | refund rows: kept with the refund |
//!
//! With neither `click_id` nor `customer_key` a sale is imported unattributed.
//!
//! A refund row names its sale by `transaction_id` (imported before, or earlier in the same
//! file); its amount (`amount` or `amount_cents`) defaults to what is left to refund, and it
//! reverses the commission as `POST /api/v1/track/refund` does. Sale columns (`click_id`,
//! `currency`, `status`...) are ignored on refund rows; `created_at` is the refund's time.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use clicktrail_domain::catalog::Tenant;
use clicktrail_domain::conversion::Status;
use clicktrail_domain::{money, Cid};
use clicktrail_store::{ImportItem, ImportItemRow, RefundIn, SaleIn, Store, Target};

const COLUMNS: [&str; 14] = [
    "transaction_id",
    "amount",
    "amount_cents",
    "currency",
    "click_id",
    "customer_key",
    "created_at",
    "status",
    "conversion_type",
    "is_recurring",
    "subscription_id",
    "type",
    "refund_id",
    "reason",
];

/// Parses the CSV into rows; every problem is reported as `(line, message)`.
pub fn parse_csv(
    tenant: &Tenant,
    input: impl Read,
    now: i64,
) -> Result<Vec<ImportItemRow>, Vec<(u64, String)>> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(input);
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![(1, format!("cannot read the header row: {e}"))]),
    };
    let mut idx: HashMap<String, usize> = HashMap::new();
    let mut errors = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let name = h.to_ascii_lowercase();
        if !COLUMNS.contains(&name.as_str()) {
            errors.push((
                1,
                format!("unknown column `{h}` (known: {})", COLUMNS.join(", ")),
            ));
        } else if idx.insert(name, i).is_some() {
            errors.push((1, format!("column `{h}` appears twice")));
        }
    }
    if !idx.contains_key("transaction_id") {
        errors.push((1, "missing column `transaction_id`".into()));
    }
    if !idx.contains_key("amount") && !idx.contains_key("amount_cents") {
        errors.push((1, "missing column `amount` or `amount_cents`".into()));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    let mut refund_ids = HashSet::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                errors.push((line, format!("unreadable row: {e}")));
                continue;
            }
        };
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let get = |c: &str| {
            idx.get(c)
                .and_then(|i| rec.get(*i))
                .filter(|v| !v.is_empty())
        };
        let kind = get("type").unwrap_or("sale");
        if kind.eq_ignore_ascii_case("refund") {
            match parse_refund(tenant, &get, now) {
                Ok(r) if !refund_ids.insert(r.refund_id.clone()) => errors.push((
                    line,
                    format!("refund_id `{}` appears twice in the file", r.refund_id),
                )),
                Ok(r) => rows.push(ImportItemRow {
                    line,
                    item: ImportItem::Refund(r),
                }),
                Err(m) => errors.push((line, m)),
            }
            continue;
        }
        if !kind.eq_ignore_ascii_case("sale") {
            errors.push((line, format!("type: `{kind}` must be sale or refund")));
            continue;
        }
        match parse_row(tenant, &get, now) {
            Ok(sale) => {
                if !seen.insert(sale.transaction_id.clone()) {
                    errors.push((
                        line,
                        format!(
                            "transaction_id `{}` appears twice in the file",
                            sale.transaction_id
                        ),
                    ));
                } else {
                    rows.push(ImportItemRow {
                        line,
                        item: ImportItem::Sale(sale),
                    });
                }
            }
            Err(m) => errors.push((line, m)),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// `created_at`: RFC 3339 or `YYYY-MM-DD` (midnight UTC); default `now`.
fn parse_time(s: Option<&str>, now: i64) -> Result<i64, String> {
    match s {
        None => Ok(now),
        Some(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(d) => Ok(d.timestamp()),
            Err(_) => match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) => Ok(d
                    .and_hms_opt(0, 0, 0)
                    .unwrap_or_default()
                    .and_utc()
                    .timestamp()),
                Err(_) => Err(format!("created_at: `{s}` is not RFC 3339 or YYYY-MM-DD")),
            },
        },
    }
}

fn parse_refund<'a>(
    tenant: &Tenant,
    get: &dyn Fn(&str) -> Option<&'a str>,
    now: i64,
) -> Result<RefundIn, String> {
    let id = |c: &str| -> Result<String, String> {
        let v = get(c).ok_or_else(|| format!("{c}: is required on a refund row"))?;
        if v.chars().count() > 128 {
            return Err(format!("{c}: must be at most 128 characters"));
        }
        Ok(v.to_string())
    };
    let transaction_id = id("transaction_id")?;
    let refund_id = id("refund_id")?;
    let amount = match (get("amount"), get("amount_cents")) {
        (Some(_), Some(_)) => return Err("give either amount or amount_cents, not both".into()),
        (Some(a), None) => Some(money::parse_amount(a).map_err(|e| format!("amount: {e}"))?),
        (None, Some(c)) => match c.parse::<i64>() {
            Ok(v) if (1..=money::MAX_CENTS).contains(&v) => Some(v),
            _ => return Err(format!("amount_cents: `{c}` is not a positive integer")),
        },
        (None, None) => None,
    };
    if amount == Some(0) {
        return Err("amount: a refund must be positive".into());
    }
    Ok(RefundIn {
        tenant: tenant.id.clone(),
        transaction_id,
        refund_id,
        amount_cents: amount,
        reason: get("reason").map(|r| r.chars().take(2048).collect()),
        now: parse_time(get("created_at"), now)?,
    })
}

fn parse_row<'a>(
    tenant: &Tenant,
    get: &dyn Fn(&str) -> Option<&'a str>,
    now: i64,
) -> Result<SaleIn, String> {
    let transaction_id = get("transaction_id")
        .ok_or("transaction_id: is required")?
        .to_string();
    if transaction_id.chars().count() > 128 {
        return Err("transaction_id: must be at most 128 characters".into());
    }
    let amount = match (get("amount"), get("amount_cents")) {
        (Some(_), Some(_)) => return Err("give either amount or amount_cents, not both".into()),
        (Some(a), None) => money::parse_amount(a).map_err(|e| format!("amount: {e}"))?,
        (None, Some(c)) => match c.parse::<i64>() {
            Ok(v) if (0..=money::MAX_CENTS).contains(&v) => v,
            _ => return Err(format!("amount_cents: `{c}` is not a non-negative integer")),
        },
        (None, None) => return Err("amount: is required (or amount_cents)".into()),
    };
    let currency = match get("currency") {
        None => tenant.currency.clone(),
        Some(c) if c.len() == 3 && c.chars().all(|x| x.is_ascii_alphabetic()) => {
            c.to_ascii_uppercase()
        }
        Some(c) => return Err(format!("currency: `{c}` is not a 3-letter currency code")),
    };
    let created = match get("created_at") {
        None => now,
        Some(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(d) => d.timestamp(),
            Err(_) => match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) => d
                    .and_hms_opt(0, 0, 0)
                    .unwrap_or_default()
                    .and_utc()
                    .timestamp(),
                Err(_) => return Err(format!("created_at: `{s}` is not RFC 3339 or YYYY-MM-DD")),
            },
        },
    };
    let status = match get("status") {
        None => Status::Approved,
        Some(s) => Status::parse(s)
            .ok_or_else(|| format!("status: `{s}` must be approved, pending or declined"))?,
    };
    let conversion_type = get("conversion_type")
        .unwrap_or(&tenant.sale_conversion_type)
        .to_string();
    let payout = match tenant.conversion_types.get(&conversion_type) {
        Some(p) => Some(*p),
        None if get("conversion_type").is_some() => {
            return Err(format!(
                "conversion_type: unknown conversion type `{conversion_type}`"
            ))
        }
        None => None,
    };
    let is_recurring = match get("is_recurring") {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(s) => return Err(format!("is_recurring: `{s}` must be true or false")),
    };
    let customer_key = get("customer_key").map(str::to_string);
    let target = match (get("click_id"), &customer_key) {
        (Some(c), _) => {
            Target::Cid(Cid::parse(c).ok_or_else(|| format!("unknown_cid: unknown cid `{c}`"))?)
        }
        (None, Some(k)) => Target::CustomerKey(k.clone()),
        (None, None) => Target::None,
    };
    Ok(SaleIn {
        tenant: tenant.id.clone(),
        transaction_id,
        amount_cents: amount,
        currency,
        allow_unresolved: matches!(target, Target::None),
        target,
        conversion_type,
        payout,
        customer_key,
        is_recurring,
        subscription_id: get("subscription_id").map(str::to_string),
        source: "csv",
        details: None,
        status,
        hold_days: tenant.hold_days,
        now: created,
    })
}

/// Parses and imports; returns the number of rows or every bad row (nothing imported then).
pub async fn import_file(
    store: &dyn Store,
    tenant: &Tenant,
    input: impl Read,
    now: i64,
) -> anyhow::Result<Result<usize, Vec<(u64, String)>>> {
    let rows = match parse_csv(tenant, input, now) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    store
        .import_items(rows)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}
