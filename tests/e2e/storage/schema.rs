//! The three migration trees must leave the three databases with the same schema: the same
//! tables and columns, each column the same kind (integer or text) and nullability, and the
//! same unique keys (primary keys and unique indexes), since the identity rules rely on them.

use sqlx::Row;
use std::collections::BTreeSet;
use wxgate_tests::{Backend, TestDb};

/// `(table, column, kind, nullable)` and the unique column sets `(table, [columns])`.
#[derive(Debug, PartialEq, Eq)]
struct Schema {
    columns: BTreeSet<(String, String, &'static str, bool)>,
    keys: BTreeSet<(String, Vec<String>)>,
}

fn kind(sql_type: &str) -> &'static str {
    if sql_type.to_ascii_lowercase().contains("int") {
        "integer"
    } else {
        "text"
    }
}

async fn rows(t: &TestDb, q: &str) -> Vec<sqlx::any::AnyRow> {
    sqlx::query(q)
        .fetch_all(t.db.pool())
        .await
        .unwrap_or_else(|e| panic!("{:?}: {q}: {e}", t.backend))
}

fn text(row: &sqlx::any::AnyRow, i: usize) -> String {
    row.try_get::<String, _>(i).unwrap()
}

/// Unique keys from `(table, key name, column)` rows in key-then-position order.
fn group(rows: Vec<(String, String, String)>) -> BTreeSet<(String, Vec<String>)> {
    let mut keys = std::collections::BTreeMap::<(String, String), Vec<String>>::new();
    for (table, key, column) in rows {
        keys.entry((table, key)).or_default().push(column);
    }
    keys.into_iter()
        .map(|((table, _), mut columns)| {
            columns.sort();
            (table, columns)
        })
        .collect()
}

async fn schema(t: &TestDb) -> Schema {
    let (columns, keys) = match t.backend {
        Backend::Sqlite => {
            let cols = rows(
                t,
                "SELECT m.name, p.name, p.type, p.\"notnull\", p.pk FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
            )
            .await;
            let columns = cols
                .iter()
                .map(|r| {
                    let (not_null, pk): (i64, i64) = (r.try_get(3).unwrap(), r.try_get(4).unwrap());
                    (
                        text(r, 0),
                        text(r, 1),
                        kind(&text(r, 2)),
                        not_null == 0 && pk == 0,
                    )
                })
                .collect();
            let mut key_rows: Vec<(String, String, String)> = cols
                .iter()
                .filter(|r| r.try_get::<i64, _>(4).unwrap() > 0)
                .map(|r| (text(r, 0), "pk".to_string(), text(r, 1)))
                .collect();
            let unique = rows(
                t,
                "SELECT m.name, il.name, ii.name FROM sqlite_master m, pragma_index_list(m.name) il, pragma_index_info(il.name) ii \
                 WHERE m.type = 'table' AND il.\"unique\" = 1 AND il.origin <> 'pk' AND m.name <> '_sqlx_migrations' \
                 ORDER BY il.name, ii.seqno",
            )
            .await;
            key_rows.extend(unique.iter().map(|r| (text(r, 0), text(r, 1), text(r, 2))));
            (columns, group(key_rows))
        }
        Backend::Postgres => {
            let cols = rows(
                t,
                "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
            )
            .await;
            let columns = cols
                .iter()
                .map(|r| {
                    (
                        text(r, 0),
                        text(r, 1),
                        kind(&text(r, 2)),
                        text(r, 3) == "YES",
                    )
                })
                .collect();
            let keys = rows(
                t,
                "SELECT c.relname::text, i.relname::text, a.attname::text FROM pg_index x \
                 JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(x.indkey) \
                 WHERE x.indisunique AND n.nspname = 'public' AND c.relname <> '_sqlx_migrations' \
                 ORDER BY i.relname, a.attnum",
            )
            .await;
            let keys = keys
                .iter()
                .map(|r| (text(r, 0), text(r, 1), text(r, 2)))
                .collect();
            (columns, group(keys))
        }
        Backend::Mysql => {
            let cols = rows(
                t,
                "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST(data_type AS CHAR), CAST(is_nullable AS CHAR) \
                 FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name <> '_sqlx_migrations'",
            )
            .await;
            let columns = cols
                .iter()
                .map(|r| {
                    (
                        text(r, 0),
                        text(r, 1),
                        kind(&text(r, 2)),
                        text(r, 3) == "YES",
                    )
                })
                .collect();
            let keys = rows(
                t,
                "SELECT CAST(table_name AS CHAR), CAST(index_name AS CHAR), CAST(column_name AS CHAR) FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND non_unique = 0 AND table_name <> '_sqlx_migrations' \
                 ORDER BY index_name, seq_in_index",
            )
            .await;
            let keys = keys
                .iter()
                .map(|r| (text(r, 0), text(r, 1), text(r, 2)))
                .collect();
            (columns, group(keys))
        }
    };
    Schema { columns, keys }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_databases_end_up_with_the_same_schema() {
    let sqlite = TestDb::new(Backend::Sqlite).await.expect("sqlite");
    let want = schema(&sqlite).await;
    assert!(want.columns.len() > 40, "{want:?}");
    assert!(
        want.keys.contains(&("users".into(), vec!["phone".into()])),
        "a phone belongs to one user: {:?}",
        want.keys
    );
    for backend in [Backend::Postgres, Backend::Mysql] {
        let Some(other) = TestDb::new(backend).await else {
            continue;
        };
        let got = schema(&other).await;
        let missing: Vec<_> = want.columns.difference(&got.columns).collect();
        let extra: Vec<_> = got.columns.difference(&want.columns).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{backend:?} columns differ from SQLite's: missing {missing:?}, extra {extra:?}"
        );
        assert_eq!(
            got.keys, want.keys,
            "{backend:?} unique keys differ from SQLite's"
        );
    }
}
