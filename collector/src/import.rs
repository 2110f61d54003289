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
//! **PartnerStack's transactions layout** is accepted as it is, recognised by its
//! own columns (`key`, `customer_external_key`, `customer_email`, `category_key`,
//! `product_key`): `key` is the transaction id, `amount` is in **cents** (as PartnerStack's
//! API and importer take it), the customer is the first non-empty of `customer_key`,
//! `customer_external_key`, `customer_email` (used as the customer key, as PartnerStack does
//! when a program has no customer ids), `category_key` names the conversion type, `currency`
//! and `created_at` as above, `product_key` is accepted and not used. A file mixing both
//! layouts is refused.
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

/// The columns of PartnerStack's transactions import and the clicktrail column each one
/// feeds (`None`: accepted, not used). Customer columns in priority order.
const PARTNERSTACK_COLUMNS: [(&str, Option<&str>); 9] = [
    ("key", Some("transaction_id")),
    ("amount", Some("amount_cents")),
    ("currency", Some("currency")),
    ("created_at", Some("created_at")),
    ("customer_key", Some("customer_key")),
    ("customer_external_key", Some("customer_key")),
    ("customer_email", Some("customer_key")),
    ("category_key", Some("conversion_type")),
    ("product_key", None),
];

/// Columns only PartnerStack's layout has: one of them marks a file as PartnerStack's.
const PARTNERSTACK_ONLY: [&str; 5] = [
    "key",
    "customer_external_key",
    "customer_email",
    "category_key",
    "product_key",
];

const COLUMNS: [&str; 16] = [
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
    "coupon_code",
    "product_id",
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
    let partnerstack = headers
        .iter()
        .any(|h| PARTNERSTACK_ONLY.contains(&h.to_ascii_lowercase().as_str()));
    let (idx, mut errors) = if partnerstack {
        partnerstack_columns(&headers)
    } else {
        own_columns(&headers)
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    // messages name the file's own columns
    let say = |m: String| {
        if partnerstack {
            m.replacen("amount_cents:", "amount (cents):", 1)
                .replacen(" (or amount_cents)", " (in cents)", 1)
                .replacen("transaction_id", "key", 1)
                .replacen("conversion_type:", "category_key:", 1)
        } else {
            m
        }
    };
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
            idx.get(c)?
                .iter()
                .filter_map(|i| rec.get(*i))
                .find(|v| !v.is_empty())
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
                Err(m) => errors.push((line, say(m))),
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
            Err(m) => errors.push((line, say(m))),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// Column name -> the header positions that feed it (first non-empty wins), and every
/// header problem as `(1, message)`.
type Columns = (HashMap<&'static str, Vec<usize>>, Vec<(u64, String)>);

/// clicktrail's own layout: each known column once.
fn own_columns(headers: &csv::StringRecord) -> Columns {
    let mut idx: HashMap<&'static str, Vec<usize>> = HashMap::new();
    let mut errors = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let name = h.to_ascii_lowercase();
        match COLUMNS.iter().find(|c| **c == name) {
            None => errors.push((
                1,
                format!("unknown column `{h}` (known: {})", COLUMNS.join(", ")),
            )),
            Some(c) if idx.contains_key(c) => {
                errors.push((1, format!("column `{h}` appears twice")))
            }
            Some(c) => {
                idx.insert(c, vec![i]);
            }
        }
    }
    if !idx.contains_key("transaction_id") {
        errors.push((1, "missing column `transaction_id`".into()));
    }
    if !idx.contains_key("amount") && !idx.contains_key("amount_cents") {
        errors.push((1, "missing column `amount` or `amount_cents`".into()));
    }
    (idx, errors)
}

/// PartnerStack's transactions layout, mapped onto clicktrail's columns.
fn partnerstack_columns(headers: &csv::StringRecord) -> Columns {
    let names: Vec<&str> = PARTNERSTACK_COLUMNS.iter().map(|(n, _)| *n).collect();
    let mut idx: HashMap<&'static str, Vec<usize>> = HashMap::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    let lower: Vec<String> = headers.iter().map(|h| h.to_ascii_lowercase()).collect();
    for (h, name) in headers.iter().zip(&lower) {
        if !names.contains(&name.as_str()) {
            errors.push((
                1,
                format!(
                    "unknown column `{h}`: this file has PartnerStack's transaction columns (known: {})",
                    names.join(", ")
                ),
            ));
        } else if !seen.insert(name.as_str()) {
            errors.push((1, format!("column `{h}` appears twice")));
        }
    }
    // in PARTNERSTACK_COLUMNS order, so the customer columns keep their priority
    for (name, target) in PARTNERSTACK_COLUMNS {
        if let (Some(i), Some(t)) = (lower.iter().position(|h| h == name), target) {
            idx.entry(t).or_default().push(i);
        }
    }
    if !idx.contains_key("transaction_id") {
        errors.push((
            1,
            "missing column `key` (the transaction key: clicktrail refuses a transaction imported twice by it)".into(),
        ));
    }
    if !idx.contains_key("amount_cents") {
        errors.push((1, "missing column `amount` (in cents)".into()));
    }
    if !idx.contains_key("customer_key") {
        errors.push((
            1,
            "missing column `customer_key` (or `customer_external_key`, `customer_email`)".into(),
        ));
    }
    (idx, errors)
}

/// `created_at`: RFC 3339, `YYYY-MM-DD` (midnight UTC), or Unix time as digits (seconds, or
/// milliseconds from 10^11 on, as PartnerStack's API writes it); default `now`.
fn parse_time(s: Option<&str>, now: i64) -> Result<i64, String> {
    match s {
        None => Ok(now),
        Some(s) if !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_digit()) => {
            let n: i64 = s
                .parse()
                .map_err(|_| format!("created_at: `{s}` is too large"))?;
            Ok(if n >= 100_000_000_000 { n / 1000 } else { n })
        }
        Some(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(d) => Ok(d.timestamp()),
            Err(_) => match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) => Ok(d
                    .and_hms_opt(0, 0, 0)
                    .unwrap_or_default()
                    .and_utc()
                    .timestamp()),
                Err(_) => Err(format!(
                    "created_at: `{s}` is not RFC 3339, YYYY-MM-DD or Unix time"
                )),
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
    let created = parse_time(get("created_at"), now)?;
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
    let allow_unresolved = matches!(target, Target::None);
    Ok(SaleIn {
        allow_unresolved,
        conversion_type,
        payout,
        customer_key,
        is_recurring,
        subscription_id: get("subscription_id").map(str::to_string),
        status,
        coupon_codes: get("coupon_code").map(str::to_string).into_iter().collect(),
        products: get("product_id").map(str::to_string).into_iter().collect(),
        ..SaleIn::for_tenant(
            tenant,
            transaction_id,
            amount,
            currency,
            target,
            "csv",
            created,
        )
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
