//! Databases migrated by earlier releases keep opening after a refinery upgrade: refinery
//! refuses a database whose recorded checksum of an applied file differs from the file's, and
//! the checksum depends on refinery's hashing (e.g. its `int8-versions` feature changes it).
//! The figures below are what refinery 0.8.16 (the releases before 0.10) recorded for these
//! files, read from a database the previous release's binary migrated.

use clicktrail_store_postgres::test_cluster::fresh_database;
use clicktrail_store_postgres::PgStore;

/// (version, name, checksum) as refinery 0.8.16 wrote them to `refinery_schema_history`.
const RECORDED_BY_0_8: [(i32, &str, &str); 13] = [
    (1, "initial", "15894025440450306431"),
    (2, "refunds", "8543769962207410396"),
    (3, "stripe_money", "6624293533187180083"),
    (4, "portal_links", "14417667275364843929"),
    (5, "admin", "16558318386242523629"),
    (6, "billing_webhooks", "1057503046980303507"),
    (7, "affiliate_aliases", "1280681110629250878"),
    (8, "config_managed", "6227297833024658478"),
    (9, "privacy", "13667118797337416333"),
    (10, "program", "3095641714357477405"),
    (11, "rules", "3925022286288186002"),
    (12, "billing", "400622498997679823"),
    (13, "webhooks", "3984692085508833461"),
];

#[tokio::test]
async fn history_written_by_earlier_releases_is_accepted() {
    let url = fresh_database().await;
    drop(PgStore::connect(&url).await.expect("connect"));
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("client");
    tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT version, name, checksum FROM refinery_schema_history WHERE version <= 13 ORDER BY version",
            &[],
        )
        .await
        .expect("history");
    let got: Vec<(i32, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let want: Vec<(i32, String, String)> = RECORDED_BY_0_8
        .iter()
        .map(|(v, n, c)| (*v, n.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);
}
