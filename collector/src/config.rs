//! Configuration: the TOML file (see `collector/examples/clicktrail.toml`) and the `--demo` values.
//!
//! The `[server]` table holds server settings (the database included); the `[[tenants]]` are
//! catalog declarations that `serve --config` and `apply-config` apply to the database: created
//! or updated, and what the file declared before and no longer declares is disabled.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use clicktrail_domain::catalog::{secret_hash, KeyScope, Payout, Tenant};
use clicktrail_domain::money;
use clicktrail_store::{KeySpec, TenantSpec};
use serde::Deserialize;

/// Currencies the server-to-server sale API accepts.
pub const API_CURRENCIES: [&str; 3] = ["USD", "EUR", "VND"];

/// The demo values (`serve --demo`). Demo only: never use these keys in production.
pub const DEMO_TENANT: &str = "demo";
pub const DEMO_API_KEY: &str = "demo_secret_key";
pub const DEMO_ADMIN_KEY: &str = "demo_admin_key";
pub const DEMO_WEBHOOK_SECRET: &str = "whsec_demo";
pub const DEMO_REVENUE_ORIGIN: &str = "00000000-0000-0000-0000-000000000001";

/// Server-wide settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// When set, `TENANT.<base_domain>` selects the tenant.
    pub base_domain: Option<String>,
    /// Requests per second per client IP (token bucket); 0 disables the limit.
    pub rate_limit_per_second: u32,
    /// Bucket size (burst) for the rate limit.
    pub rate_limit_burst: u32,
    /// Largest accepted request body in bytes.
    pub body_limit_bytes: usize,
    /// A client must send a request's head within this many seconds; an idle keep-alive
    /// connection is closed after it too.
    pub header_read_timeout_secs: u64,
    /// A whole request (body read included) must be answered within this many seconds.
    pub request_timeout_secs: u64,
    /// On SIGTERM, connections still open after this many seconds are closed.
    pub shutdown_grace_secs: u64,
    /// Open connections at most; 0 = automatic (below the file-descriptor limit).
    pub max_connections: usize,
    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` name the client (CIDRs); from any
    /// other peer those headers are ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Client addresses (CIDRs) that may read `/metrics`; empty = nobody. Default: loopback.
    pub metrics_allow: Vec<ipnet::IpNet>,
    /// The collector's public address (`https://track.example.com`): absolute links it hands
    /// out (portal links) start with it.
    pub public_url: Option<String>,
    /// Further query parameters kept in stored click URLs and referrers (the tracker's own
    /// affiliate parameter names such as `ref`), besides `aff`, PartnerStack's and `utm_*`;
    /// every other parameter is dropped before storage (`clicktrail_domain::privacy`).
    pub keep_url_params: Vec<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            base_domain: None,
            rate_limit_per_second: 100,
            rate_limit_burst: 200,
            body_limit_bytes: 64 * 1024,
            header_read_timeout_secs: 10,
            request_timeout_secs: 30,
            shutdown_grace_secs: 10,
            max_connections: 0,
            trusted_proxies: Vec::new(),
            metrics_allow: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
            public_url: None,
            keep_url_params: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerSettings,
    pub tenants: Vec<TenantSpec>,
    /// `[server] database`: where the database is (a path, `sqlite://PATH` or `postgres://…`).
    pub database: Option<String>,
    /// `[server] database_password_file`: the PostgreSQL password, read from this file and
    /// added to the URL (percent-encoded), so that the URL itself holds no secret.
    pub database_password_file: Option<std::path::PathBuf>,
    /// Compare-only secrets that held a placeholder before they were hashed, as
    /// "tenant `acme`: chargebee_webhook_password" (see [`Config::placeholders`]).
    placeholder_secrets: Vec<String>,
    /// Each tenant's `retention` table (docs/privacy.md), stored at start and by `apply-config`.
    pub retention: Vec<(String, clicktrail_domain::retention::Retention)>,
    /// `[smtp]`: the SMTP server the program's emails go through (none: they wait in the
    /// outbox).
    pub smtp: Option<crate::mail::SmtpConfig>,
    /// `[tenants.program]` of the tenants that declare one (applied at start).
    pub programs: Vec<(String, clicktrail_store::program::ProgramSettings)>,
}

// ---- raw TOML shapes ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    tenants: Vec<RawTenant>,
    smtp: Option<crate::mail::RawSmtp>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    base_domain: Option<String>,
    rate_limit_per_second: Option<u32>,
    rate_limit_burst: Option<u32>,
    body_limit_bytes: Option<usize>,
    header_read_timeout_secs: Option<u64>,
    request_timeout_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    max_connections: Option<usize>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    metrics_allow: Option<Vec<String>>,
    public_url: Option<String>,
    #[serde(default)]
    keep_url_params: Vec<String>,
    database: Option<String>,
    database_password_file: Option<std::path::PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    id: String,
    #[serde(default = "default_cookie_days")]
    cookie_days: i64,
    #[serde(default)]
    allowed_origins: Vec<String>,
    /// Ingest + read key (server-to-server tracking, reports).
    api_key: String,
    /// Optional admin key (catalog, payouts).
    admin_key: Option<String>,
    #[serde(default)]
    stripe_webhook_secret: String,
    #[serde(default = "default_hold_days")]
    hold_days: i64,
    #[serde(default)]
    count_test_payments: bool,
    /// Chargebee webhook HTTP Basic credentials (both or neither).
    #[serde(default)]
    chargebee_webhook_username: String,
    #[serde(default)]
    chargebee_webhook_password: String,
    /// Recurly webhook signing key.
    #[serde(default)]
    recurly_webhook_key: String,
    /// Recurly API v3 private key (required with `recurly_webhook_key`).
    #[serde(default)]
    recurly_api_key: String,
    /// Recurly API base URL (empty: `https://v3.recurly.com`).
    #[serde(default)]
    recurly_api_url: String,
    /// Chargify / Maxio site shared key (webhook signatures).
    #[serde(default)]
    chargify_webhook_key: String,
    /// PartnerStack API v2 keys a merchant's backend sends as HTTP Basic (both or neither;
    /// `http::partnerstack_api`): kept as one ingest key, so only its hash is stored.
    #[serde(default)]
    partnerstack_public_key: String,
    #[serde(default)]
    partnerstack_secret_key: String,
    #[serde(default = "default_currency")]
    currency: String,
    #[serde(default = "default_sale_type")]
    sale_conversion_type: String,
    #[serde(default)]
    affiliates: Vec<String>,
    /// Further codes of an affiliate: `{ "partner-key" = "affiliate-code" }`.
    #[serde(default)]
    affiliate_aliases: BTreeMap<String, String>,
    #[serde(default)]
    conversion_types: BTreeMap<String, RawPayout>,
    #[serde(default)]
    revenue_origins: Vec<String>,
    /// `retention = { event_days = 14, click_url_days = 90, diagnostic_days = 30 }`
    retention: Option<clicktrail_domain::retention::Retention>,
    /// The affiliate program (join page, approval, emails).
    program: Option<RawProgram>,
    /// Commission rules, coupon codes, affiliate emails, the self-referral setting
    /// (domain `rules`; docs/money.md).
    #[serde(default)]
    rules: Option<clicktrail_domain::rules::Rules>,
}

/// `[tenants.program]`: every key optional (the default of `ProgramSettings`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProgram {
    join_enabled: Option<bool>,
    auto_approve: Option<bool>,
    name: Option<String>,
    shop_url: Option<String>,
    operator_email: Option<String>,
    notify_applications: Option<bool>,
    notify_decisions: Option<bool>,
    notify_commissions: Option<bool>,
    notify_payouts: Option<bool>,
}

fn convert_program(
    id: &str,
    p: RawProgram,
) -> anyhow::Result<clicktrail_store::program::ProgramSettings> {
    let d = clicktrail_store::program::ProgramSettings::default();
    if let Some(u) = &p.shop_url {
        if !(u.starts_with("https://") || u.starts_with("http://")) || u.contains([' ', '?', '#']) {
            bail!("tenant `{id}`: program.shop_url `{u}` is not an address such as https://shop.example.com");
        }
    }
    if let Some(e) = &p.operator_email {
        if !clicktrail_domain::program::email_ok(e) {
            bail!("tenant `{id}`: program.operator_email `{e}` is not an email address");
        }
    }
    Ok(clicktrail_store::program::ProgramSettings {
        join_enabled: p.join_enabled.unwrap_or(d.join_enabled),
        auto_approve: p.auto_approve.unwrap_or(d.auto_approve),
        program_name: p.name.filter(|n| !n.trim().is_empty()),
        shop_url: p.shop_url.map(|u| u.trim_end_matches('/').to_string()),
        operator_email: p.operator_email,
        notify_applications: p.notify_applications.unwrap_or(d.notify_applications),
        notify_decisions: p.notify_decisions.unwrap_or(d.notify_decisions),
        notify_commissions: p.notify_commissions.unwrap_or(d.notify_commissions),
        notify_payouts: p.notify_payouts.unwrap_or(d.notify_payouts),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPayout {
    fixed: Option<String>,
    revenue_share_percent: Option<String>,
}

fn default_cookie_days() -> i64 {
    60
}
fn default_hold_days() -> i64 {
    30
}
fn default_currency() -> String {
    "USD".into()
}
fn default_sale_type() -> String {
    "sale".into()
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::from_toml(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    pub fn from_toml(text: &str) -> anyhow::Result<Config> {
        let raw: RawConfig = toml::from_str(text)?;
        let mut server = ServerSettings::default();
        server.base_domain = raw
            .server
            .base_domain
            .clone()
            .map(|d| d.trim_start_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty());
        if let Some(r) = raw.server.rate_limit_per_second {
            server.rate_limit_per_second = r;
        }
        if let Some(b) = raw.server.rate_limit_burst {
            server.rate_limit_burst = b;
        }
        if let Some(b) = raw.server.body_limit_bytes {
            server.body_limit_bytes = b;
        }
        let r = &raw.server;
        for (v, name) in [
            (r.header_read_timeout_secs, "header_read_timeout_secs"),
            (r.request_timeout_secs, "request_timeout_secs"),
            (r.shutdown_grace_secs, "shutdown_grace_secs"),
        ] {
            if v == Some(0) {
                bail!("[server] {name} must be at least 1");
            }
        }
        server.header_read_timeout_secs = r
            .header_read_timeout_secs
            .unwrap_or(server.header_read_timeout_secs);
        server.request_timeout_secs = r
            .request_timeout_secs
            .unwrap_or(server.request_timeout_secs);
        server.shutdown_grace_secs = r.shutdown_grace_secs.unwrap_or(server.shutdown_grace_secs);
        server.max_connections = r.max_connections.unwrap_or(server.max_connections);
        for p in &r.trusted_proxies {
            server
                .trusted_proxies
                .push(parse_net("trusted_proxies", p)?);
        }
        if let Some(list) = &r.metrics_allow {
            server.metrics_allow = list
                .iter()
                .map(|p| parse_net("metrics_allow", p))
                .collect::<anyhow::Result<_>>()?;
        }
        if let Some(u) = &r.public_url {
            let u = u.trim().trim_end_matches('/');
            let rest = u
                .strip_prefix("https://")
                .or_else(|| u.strip_prefix("http://"));
            match rest {
                Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ']) => {}
                _ => bail!("[server] public_url: `{u}` is not an http(s) URL such as https://track.example.com"),
            }
            server.public_url = Some(u.to_string());
        }
        for p in &r.keep_url_params {
            if p.is_empty() || p.len() > 128 || p.chars().any(char::is_control) {
                bail!("[server] keep_url_params: `{p}` is not a query parameter name (1-128 characters, no control characters)");
            }
            server.keep_url_params.push(p.clone());
        }
        let database = r.database.clone().filter(|d| !d.trim().is_empty());
        let database_password_file = r.database_password_file.clone();
        let mut tenants = Vec::new();
        let mut placeholder_secrets = Vec::new();
        let mut retention = Vec::new();
        let mut programs = Vec::new();
        for mut t in raw.tenants {
            if is_placeholder(&t.chargebee_webhook_password) {
                let id = t.id.trim();
                placeholder_secrets.push(format!("tenant `{id}`: chargebee_webhook_password"));
            }
            if is_placeholder(&t.partnerstack_secret_key) {
                let id = t.id.trim();
                placeholder_secrets.push(format!("tenant `{id}`: partnerstack_secret_key"));
            }
            if let Some(r) = t.retention {
                r.validate()
                    .map_err(|(f, m)| anyhow::anyhow!("tenant `{}`: retention.{f} {m}", t.id))?;
                retention.push((t.id.clone(), r));
            }
            if let Some(p) = t.program.take() {
                programs.push((t.id.trim().to_string(), convert_program(t.id.trim(), p)?));
            }
            tenants.push(convert_tenant(t)?);
        }
        let smtp = raw
            .smtp
            .map(crate::mail::SmtpConfig::from_raw)
            .transpose()?;
        let cfg = Config {
            server,
            tenants,
            database,
            database_password_file,
            placeholder_secrets,
            retention,
            smtp,
            programs,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn demo() -> Config {
        let mut conversion_types = BTreeMap::new();
        conversion_types.insert("sale".to_string(), Payout::RevenueShare(3000));
        conversion_types.insert("signup".to_string(), Payout::Fixed(500));
        Config {
            server: ServerSettings::default(),
            tenants: vec![TenantSpec {
                tenant: Tenant {
                    id: DEMO_TENANT.into(),
                    cookie_days: 60,
                    allowed_origins: vec!["*".into()],
                    stripe_webhook_secret: DEMO_WEBHOOK_SECRET.into(),
                    currency: "USD".into(),
                    sale_conversion_type: "sale".into(),
                    affiliates: vec!["alice".into(), "bob".into()],
                    aliases: BTreeMap::new(),
                    conversion_types,
                    revenue_origins: vec![DEMO_REVENUE_ORIGIN.into()],
                    // the demo shows the whole lifecycle at once, test payments included
                    hold_days: 0,
                    count_test_payments: true,
                    chargebee_webhook_username: String::new(),
                    chargebee_webhook_password: String::new(),
                    recurly_webhook_key: String::new(),
                    recurly_api_key: String::new(),
                    recurly_api_url: String::new(),
                    chargify_webhook_key: String::new(),
                    rules: Default::default(),
                },
                keys: vec![
                    KeySpec {
                        key: DEMO_API_KEY.into(),
                        scopes: vec![KeyScope::Ingest, KeyScope::Read],
                    },
                    KeySpec {
                        key: DEMO_ADMIN_KEY.into(),
                        scopes: vec![KeyScope::Admin],
                    },
                ],
            }],
            database: None,
            database_password_file: None,
            placeholder_secrets: Vec::new(),
            retention: Vec::new(),
            smtp: None,
            programs: Vec::new(),
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.tenants.is_empty() {
            bail!("no [[tenants]] declared");
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.tenants {
            if !seen.insert(t.tenant.id.as_str()) {
                bail!("tenant `{}` is declared twice", t.tenant.id);
            }
        }
        let mut keys = std::collections::HashSet::new();
        for k in self.tenants.iter().flat_map(|t| &t.keys) {
            if !keys.insert(k.key.as_str()) {
                bail!("two keys are the same (each api_key / admin_key must be unique)");
            }
        }
        Ok(())
    }

    /// Keys and secrets still holding the example file's placeholders (`change_me`…), as
    /// "tenant `acme`: api_key": `serve --config` refuses to start with any.
    pub fn placeholders(&self) -> Vec<String> {
        let mut out = self.placeholder_secrets.clone();
        for spec in &self.tenants {
            let t = &spec.tenant;
            for k in &spec.keys {
                if is_placeholder(&k.key) {
                    let name = if k.scopes.contains(&KeyScope::Admin) {
                        "admin_key"
                    } else {
                        "api_key"
                    };
                    out.push(format!("tenant `{}`: {name}", t.id));
                }
            }
            for (name, v) in [
                ("stripe_webhook_secret", &t.stripe_webhook_secret),
                ("recurly_webhook_key", &t.recurly_webhook_key),
                ("recurly_api_key", &t.recurly_api_key),
                ("chargify_webhook_key", &t.chargify_webhook_key),
            ] {
                if is_placeholder(v) {
                    out.push(format!("tenant `{}`: {name}", t.id));
                }
            }
        }
        out
    }

    pub fn tenant(&self, id: &str) -> Option<&TenantSpec> {
        self.tenants.iter().find(|t| t.tenant.id == id)
    }
}

/// A CIDR, or a bare address as a /32 (or /128).
/// Whether a key or secret still holds the example file's placeholder.
fn is_placeholder(v: &str) -> bool {
    let v = v.to_ascii_lowercase().replace(['-', '_'], "");
    ["changeme", "replaceme", "yourkey", "xxxxxxxx"]
        .iter()
        .any(|p| v.contains(p))
}

/// The API key (`http::partnerstack_api`'s Basic pair) a tenant's `partnerstack_public_key` / `partnerstack_secret_key` pair becomes
/// (`None` when neither is set; both or neither).
pub fn partnerstack_key(public: &str, secret: &str) -> Result<Option<String>, String> {
    match (public.trim(), secret.trim()) {
        ("", "") => Ok(None),
        ("", _) | (_, "") => Err(
            "partnerstack_public_key and partnerstack_secret_key go together (both or neither)"
                .into(),
        ),
        (p, _) if p.contains(':') => Err("partnerstack_public_key must not contain `:`".into()),
        (_, s) if s.len() < 16 => {
            Err("partnerstack_secret_key must be at least 16 characters".into())
        }
        (p, s) => Ok(Some(format!("partnerstack:{p}:{s}"))),
    }
}

fn parse_net(key: &str, p: &str) -> anyhow::Result<ipnet::IpNet> {
    p.parse::<ipnet::IpNet>()
        .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| anyhow::anyhow!("[server] {key}: `{p}` is not a CIDR such as 10.0.0.0/8"))
}

fn convert_tenant(t: RawTenant) -> anyhow::Result<TenantSpec> {
    let id = t.id.trim().to_string();
    if id.is_empty()
        || id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("tenant id `{id}` must be 1-128 characters of letters, digits, '-' or '_'");
    }
    if t.cookie_days < 1 || t.cookie_days > 3650 {
        bail!("tenant `{id}`: cookie_days must be between 1 and 3650");
    }
    if t.api_key.len() < 8 {
        bail!("tenant `{id}`: api_key must be at least 8 characters");
    }
    if t.admin_key.as_ref().is_some_and(|k| k.len() < 8) {
        bail!("tenant `{id}`: admin_key must be at least 8 characters");
    }
    if !(0..=3650).contains(&t.hold_days) {
        bail!("tenant `{id}`: hold_days must be between 0 and 3650");
    }
    let currency = t.currency.to_ascii_uppercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        bail!("tenant `{id}`: currency must be a 3-letter code such as USD");
    }
    let mut conversion_types = BTreeMap::new();
    for (code, p) in t.conversion_types {
        let payout = match (p.fixed, p.revenue_share_percent) {
            (Some(f), None) => Payout::Fixed(
                money::parse_amount(&f)
                    .map_err(|e| anyhow::anyhow!("tenant `{id}`, conversion type `{code}`: fixed: {e}"))?,
            ),
            (None, Some(p)) => {
                let bp = money::parse_percent_bp(&p).map_err(|e| {
                    anyhow::anyhow!("tenant `{id}`, conversion type `{code}`: revenue_share_percent: {e}")
                })?;
                Payout::RevenueShare(bp)
            }
            _ => bail!(
                "tenant `{id}`, conversion type `{code}`: set exactly one of `fixed` or `revenue_share_percent`"
            ),
        };
        conversion_types.insert(code, payout);
    }
    for a in t.affiliates.iter().chain(t.affiliate_aliases.keys()) {
        if a.is_empty() || a.chars().count() > 128 || a.chars().any(|c| c.is_control()) {
            bail!("tenant `{id}`: affiliate code `{a}` must be 1-128 characters without control characters");
        }
    }
    for (alias, code) in &t.affiliate_aliases {
        if t.affiliates.contains(alias) {
            bail!("tenant `{id}`: affiliate alias `{alias}` is already an affiliate code");
        }
        if !t.affiliates.contains(code) {
            bail!("tenant `{id}`: affiliate alias `{alias}` names `{code}`, which is not in `affiliates`");
        }
    }
    crate::recurly_api::check_settings(
        &t.recurly_webhook_key,
        &t.recurly_api_key,
        &t.recurly_api_url,
    )
    .map_err(|e| anyhow::anyhow!("tenant `{id}`: {e}"))?;
    for r in &t.revenue_origins {
        if uuid::Uuid::parse_str(r).is_err() {
            bail!("tenant `{id}`: revenue origin `{r}` is not a UUID");
        }
    }
    let rules = t.rules.unwrap_or_default();
    let unknown = rules.unknown_affiliates(&t.affiliates);
    if !unknown.is_empty() {
        bail!(
            "tenant `{id}`: rules name affiliates that are not in `affiliates`: {}",
            unknown.join(", ")
        );
    }
    let mut keys = vec![KeySpec {
        key: t.api_key,
        scopes: vec![KeyScope::Ingest, KeyScope::Read],
    }];
    if let Some(key) = partnerstack_key(&t.partnerstack_public_key, &t.partnerstack_secret_key)
        .map_err(|e| anyhow::anyhow!("tenant `{id}`: {e}"))?
    {
        keys.push(KeySpec {
            key,
            scopes: vec![KeyScope::Ingest],
        });
    }
    if let Some(k) = t.admin_key {
        keys.push(KeySpec {
            key: k,
            scopes: vec![KeyScope::Admin],
        });
    }
    Ok(TenantSpec {
        tenant: Tenant {
            id,
            cookie_days: t.cookie_days,
            allowed_origins: t.allowed_origins,
            stripe_webhook_secret: t.stripe_webhook_secret,
            currency,
            sale_conversion_type: t.sale_conversion_type,
            affiliates: t.affiliates,
            aliases: t.affiliate_aliases,
            conversion_types,
            revenue_origins: t
                .revenue_origins
                .iter()
                .map(|r| r.to_ascii_lowercase())
                .collect(),
            hold_days: t.hold_days,
            count_test_payments: t.count_test_payments,
            chargebee_webhook_username: t.chargebee_webhook_username,
            // only ever compared: stored as its hash (a `sha256:…` value is taken as given)
            chargebee_webhook_password: secret_hash(&t.chargebee_webhook_password),
            recurly_webhook_key: t.recurly_webhook_key,
            recurly_api_key: t.recurly_api_key,
            recurly_api_url: t.recurly_api_url.trim().trim_end_matches('/').to_string(),
            chargify_webhook_key: t.chargify_webhook_key,
            rules: std::sync::Arc::new(rules),
        },
        keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let text = include_str!("../examples/clicktrail.toml");
        let cfg = Config::from_toml(text).expect("example config");
        assert_eq!(cfg.tenants.len(), 2);
        let t = &cfg.tenant("acme").expect("acme").tenant;
        assert_eq!(t.conversion_types["sale"], Payout::RevenueShare(3000));
        assert_eq!(t.conversion_types["signup"], Payout::Fixed(500));
        assert_eq!(t.rules.coupon_affiliate(&["alice20"]), Some("alice"));
        assert_eq!(
            t.rules.affiliate_rates[&("alice".to_string(), "sale".to_string())],
            Payout::RevenueShare(4000)
        );
        // rules naming an affiliate the tenant does not have are refused
        let bad = text.replace("ALICE20 = \"alice\"", "ALICE20 = \"mallory\"");
        let err = Config::from_toml(&bad).expect_err("unknown affiliate");
        assert!(format!("{err:#}").contains("mallory"), "{err:#}");
        assert_eq!(
            cfg.database.as_deref(),
            Some("/var/lib/clicktrail/clicktrail.db")
        );
        // its keys are placeholders: serve refuses them
        let found = cfg.placeholders();
        assert!(
            found.contains(&"tenant `acme`: api_key".to_string()),
            "{found:?}"
        );
        assert!(found.contains(&"tenant `globex`: stripe_webhook_secret".to_string()));
        assert!(Config::demo().placeholders().is_empty());
    }

    #[test]
    fn bad_payout_rejected() {
        let text = r#"
[[tenants]]
id = "x"
api_key = "12345678"
[tenants.conversion_types.sale]
fixed = "1.2.3"
"#;
        assert!(Config::from_toml(text).is_err());
    }

    #[test]
    fn keep_url_params() {
        let tenant = "\n[[tenants]]\nid = \"x\"\napi_key = \"12345678\"\n";
        let cfg = Config::from_toml(tenant).expect("config");
        assert!(cfg.server.keep_url_params.is_empty());
        let text = format!("[server]\nkeep_url_params = [\"ref\", \"via\"]\n{tenant}");
        let cfg = Config::from_toml(&text).expect("config");
        assert_eq!(cfg.server.keep_url_params, ["ref", "via"]);
        let long = format!("\"{}\"", "x".repeat(129));
        for bad in ["\"\"", "\"a\\u0001\"", long.as_str()] {
            let text = format!("[server]\nkeep_url_params = [{bad}]\n{tenant}");
            let e = Config::from_toml(&text).expect_err(bad);
            assert!(e.to_string().contains("keep_url_params"), "{e}");
        }
    }

    #[test]
    fn chargebee_password_is_kept_as_its_hash() {
        let tenant = |pw: &str| {
            format!("[[tenants]]\nid = \"x\"\napi_key = \"12345678\"\nchargebee_webhook_username = \"cb\"\nchargebee_webhook_password = \"{pw}\"\n")
        };
        let cfg = Config::from_toml(&tenant("Kq9-long-random")).expect("config");
        let stored = &cfg.tenants[0].tenant.chargebee_webhook_password;
        assert_eq!(stored, &secret_hash("Kq9-long-random"));
        assert!(!stored.contains("Kq9"));
        assert!(cfg.placeholders().is_empty());
        // a hash may be given instead of the password: the file need not hold it either
        let cfg = Config::from_toml(&tenant(stored)).expect("config");
        assert_eq!(&cfg.tenants[0].tenant.chargebee_webhook_password, stored);
        let cfg = Config::from_toml(&tenant("cb_change_me_0123")).expect("config");
        assert_eq!(
            cfg.placeholders(),
            ["tenant `x`: chargebee_webhook_password"]
        );
    }
}
