//! `src/db/schema.rs` is written by hand in `diesel print-schema` form (no diesel CLI in the
//! build): this test keeps it true. It migrates a fresh database of each backend and checks that
//! every table, column, type and nullability declared there is what the migrations created, and
//! that the migrations created nothing schema.rs does not declare.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl};
use rally::config::DatabaseUrl;
use rally::db::{AnyConnection, Db};
use std::collections::BTreeMap;

/// table → column → (diesel type without `Nullable`, nullable).
type Columns = BTreeMap<String, BTreeMap<String, (String, bool)>>;

/// The tables and columns schema.rs declares.
fn declared() -> Columns {
    let text = include_str!("../src/db/schema.rs");
    let mut out = Columns::new();
    let mut table: Option<String> = None;
    for line in text.lines() {
        let t = line.trim();
        if line.starts_with("    ") && !line.starts_with("        ") && t.ends_with('{') {
            let name = t.split(['(', ' ']).next().unwrap_or_default();
            table = Some(name.to_owned());
            out.entry(name.to_owned()).or_default();
        } else if t == "}" {
            if line.starts_with("    }") {
                table = None;
            }
        } else if let (Some(tb), Some((col, ty))) = (&table, t.split_once("->")) {
            let ty = ty.trim().trim_end_matches(',');
            let (ty, nullable) = match ty.strip_prefix("Nullable<") {
                Some(inner) => (inner.trim_end_matches('>'), true),
                None => (ty, false),
            };
            out.get_mut(tb)
                .expect("table")
                .insert(col.trim().to_owned(), (ty.to_owned(), nullable));
        }
    }
    assert!(out.len() >= 5, "parsed schema.rs: {out:?}");
    out
}

/// The SQL type a diesel type is declared as in each backend's migrations.
fn sql_type(diesel_type: &str, postgres: bool) -> &'static str {
    match (diesel_type, postgres) {
        ("Text", false) => "TEXT",
        ("Text", true) => "text",
        ("BigInt", false) => "BIGINT",
        ("BigInt", true) => "bigint",
        ("Bool", false) => "BOOLEAN",
        ("Bool", true) => "boolean",
        ("Double", false) => "DOUBLE",
        ("Double", true) => "double precision",
        (other, _) => panic!("schema.rs uses {other}: teach this test its SQL spelling"),
    }
}

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

#[derive(QueryableByName)]
struct SqliteTable {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    #[diesel(column_name = type_)]
    type_: String,
    #[diesel(sql_type = BigInt)]
    notnull: i64,
    #[diesel(sql_type = BigInt)]
    pk: i64,
}

/// What the migrations created, in schema.rs terms where possible.
fn actual(conn: &mut AnyConnection) -> BTreeMap<String, BTreeMap<String, (String, bool)>> {
    let mut out: BTreeMap<String, BTreeMap<String, (String, bool)>> = BTreeMap::new();
    match conn {
        AnyConnection::Postgresql(c) => {
            let rows: Vec<PgColumn> = diesel::sql_query(
                "SELECT table_name::text AS table_name, column_name::text AS column_name, \
                 data_type::text AS data_type, is_nullable::text AS is_nullable \
                 FROM information_schema.columns WHERE table_schema = 'public' \
                 AND table_name <> '__diesel_schema_migrations'",
            )
            .load(c)
            .expect("information_schema");
            for r in rows {
                out.entry(r.table_name)
                    .or_default()
                    .insert(r.column_name, (r.data_type, r.is_nullable == "YES"));
            }
        }
        AnyConnection::Sqlite(c) => {
            let tables: Vec<SqliteTable> = diesel::sql_query(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations'",
            )
            .load(c)
            .expect("sqlite_master");
            for t in tables {
                let cols: Vec<SqliteColumn> = diesel::sql_query(format!(
                    "SELECT name, type AS type_, \"notnull\", pk FROM pragma_table_info('{}')",
                    t.name
                ))
                .load(c)
                .expect("pragma_table_info");
                let entry = out.entry(t.name).or_default();
                for col in cols {
                    // SQLite lets a non-INTEGER primary key hold NULL unless declared NOT NULL;
                    // rally never writes one, and diesel maps it as NOT NULL.
                    let nullable = col.notnull == 0 && col.pk == 0;
                    entry.insert(col.name, (col.type_, nullable));
                }
            }
        }
    }
    out
}

fn check(url: &str, postgres: bool) {
    let db = Db::open(&DatabaseUrl::parse(url).expect("url"), 1).expect("open");
    db.migrate().expect("migrate");
    let actual = db
        .run_sync(|c| Ok(actual(c)))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let declared = declared();
    let names = |m: &Columns| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&declared), names(&actual), "tables");
    for (table, cols) in &declared {
        let got = &actual[table];
        let want: BTreeMap<String, (String, bool)> = cols
            .iter()
            .map(|(c, (ty, null))| (c.clone(), (sql_type(ty, postgres).to_owned(), *null)))
            .collect();
        assert_eq!(&want, got, "columns of {table} (postgres: {postgres})");
    }
}

#[test]
fn schema_rs_matches_the_sqlite_migrations() {
    let dir = tempfile::tempdir().expect("tempdir");
    check(
        &format!("sqlite://{}", dir.path().join("schema.db").display()),
        false,
    );
}

#[test]
fn schema_rs_matches_the_postgres_migrations() {
    let Some(admin) = common::postgres_admin_url() else {
        return;
    };
    let pg = common::PgDatabase::create(&admin);
    check(&pg.url, true);
}
