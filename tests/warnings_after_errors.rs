//! SHOW WARNINGS and its counts after a statement that failed, and after one that had no
//! warnings, on a multiplexed session whose connections went back after the statement: the
//! server lists the error (and counts it as an error and a warning), and 0 after a clean
//! statement. Before, the proxy answered an empty list after a failure, and SHOW COUNT(*)
//! WARNINGS had no row at all when no connection was held.

mod common;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

async fn proxy(schema: &TestSchema, wire: bool) -> Proxy {
    Proxy::start_tuned(
        &[("clinical.toml", schema.clinical_rules("clinical"))],
        |c| {
            c.backend.multiplex = true;
            c.backend.wire_reads = wire;
        },
    )
    .await
}

async fn strings(c: &mut Conn, sql: &str) -> Vec<Vec<String>> {
    let rows: Vec<Row> = c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .map(|r| {
            r.unwrap()
                .into_iter()
                .map(|v| match v {
                    mysql_async::Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
                    mysql_async::Value::Int(i) => i.to_string(),
                    mysql_async::Value::UInt(u) => u.to_string(),
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .collect()
}

/// (Level, Code) of each warning, and the two counts.
async fn diagnostics(c: &mut Conn) -> (Vec<(String, String)>, String, String) {
    let list = strings(c, "SHOW WARNINGS")
        .await
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let warnings = strings(c, "SHOW COUNT(*) WARNINGS").await[0][0].clone();
    let errors = strings(c, "SHOW COUNT(*) ERRORS").await[0][0].clone();
    (list, warnings, errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_of_the_statement_before_is_listed_and_counted() {
    let schema = TestSchema::create("warnings_after_errors").await;
    schema.create_clinical_tables().await;
    let error = |code: &str| {
        (
            vec![("Error".to_string(), code.to_string())],
            "1".into(),
            "1".into(),
        )
    };
    for wire in [false, true] {
        let p = proxy(&schema, wire).await;
        let mut c = p.connect(Some("clinical")).await;
        // A server's error, on a sharded read and on an unsharded one.
        for sql in [
            "SELECT nocol FROM patients WHERE hospital_id = 1",
            "SELECT nocol FROM hospitals",
        ] {
            assert!(c.query_drop(sql).await.is_err());
            assert_eq!(
                diagnostics(&mut c).await,
                error("1054"),
                "wire {wire}: {sql}"
            );
        }
        // A refusal of the proxy's own (a statement it does not support).
        let refused = c.query_drop("SELECT LAST_INSERT_ID(5) FROM patients").await;
        if let Err(mysql_async::Error::Server(e)) = refused {
            assert_eq!(
                diagnostics(&mut c).await,
                error(&e.code.to_string()),
                "wire {wire}: refused"
            );
        }
        // Then a clean statement: nothing, counted 0.
        strings(&mut c, "SELECT id FROM patients WHERE hospital_id = 1").await;
        assert_eq!(
            diagnostics(&mut c).await,
            (Vec::new(), "0".into(), "0".into()),
            "wire {wire}: after a clean read"
        );
        // SHOW WARNINGS does not clear what it shows.
        assert!(c.query_drop("SELECT nocol FROM patients").await.is_err());
        diagnostics(&mut c).await;
        assert_eq!(
            diagnostics(&mut c).await,
            error("1054"),
            "wire {wire}: asked twice"
        );
        drop(c);
        drop(p);
    }
    schema.drop().await;
}

/// The diagnostics statements as the server reads them, past comments and with the spaces
/// it allows: `SHOW /* c */ COUNT(*) ERRORS` was answered as a list (three columns),
/// `SHOW COUNT(*) ERRORS /* c */` counted warnings, `SHOW /* c */ COUNT(*) WARNINGS` went to
/// a backend connection that had not run the statement before. Each is compared with the
/// server's own answer after the same failing statement; `SHOW COUNT (*) WARNINGS` is the
/// server's syntax error, which the proxy passes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_statements_with_comments_and_spaces_answer_as_the_server_does() {
    let schema = TestSchema::create("warnings_spelled").await;
    schema.create_clinical_tables().await;
    let shows = [
        "SHOW /* c */ COUNT(*) ERRORS",
        "SHOW COUNT(*) ERRORS /* c */",
        "SHOW /* c */ COUNT(*) WARNINGS",
        "SHOW COUNT( * )WARNINGS",
        "/* c */ SHOW ERRORS",
    ];
    async fn columns_and_rows(c: &mut Conn, sql: &str) -> (Vec<String>, Vec<Vec<String>>) {
        let mut result = c
            .query_iter(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let columns = result
            .columns_ref()
            .iter()
            .map(|col| col.name_str().into_owned())
            .collect();
        let rows: Vec<Row> = result.collect().await.unwrap();
        let rows = rows
            .into_iter()
            .map(|r| r.unwrap().into_iter().map(|v| format!("{v:?}")).collect())
            .collect();
        (columns, rows)
    }
    let mut server = direct(master_port(0), Some(&schema.name)).await;
    for wire in [false, true] {
        let p = proxy(&schema, wire).await;
        let mut c = p.connect(Some("clinical")).await;
        for show in shows {
            assert!(c
                .query_drop("SELECT nocol FROM patients WHERE hospital_id = 1")
                .await
                .is_err());
            assert!(server
                .query_drop("SELECT nocol FROM patients_1")
                .await
                .is_err());
            assert_eq!(
                columns_and_rows(&mut c, show).await,
                columns_and_rows(&mut server, show).await,
                "wire {wire}: {show}"
            );
        }
        let refused = c.query_drop("SHOW COUNT (*) WARNINGS").await;
        match refused {
            Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1064, "wire {wire}"),
            other => panic!("wire {wire}: SHOW COUNT (*) WARNINGS answered {other:?}"),
        }
        drop(c);
        drop(p);
    }
    server.disconnect().await.unwrap();
    schema.drop().await;
}

/// A prepared `SHOW WARNINGS LIMIT ?`, which the server takes: answered with the
/// statement before's warnings cut by the bound LIMIT, as the server does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_show_warnings_with_a_bound_limit_answers_as_the_server_does() {
    let schema = common::small_pools::clinical("warnings_limit_param").await;
    let mut server = direct(master_port(0), Some(&schema.name)).await;
    for wire in [false, true] {
        let p = proxy(&schema, wire).await;
        let mut c = p.connect(Some("clinical")).await;
        for (limit, rows) in [(1u64, 1usize), (0, 0)] {
            let warned = "SELECT CAST(name AS SIGNED) FROM patients WHERE hospital_id = 1";
            let _: Vec<Row> = c.query(warned).await.unwrap();
            let _: Vec<Row> = server
                .query("SELECT CAST(name AS SIGNED) FROM patients_1 WHERE hospital_id = 1")
                .await
                .unwrap();
            let got: Vec<(String, u16, String)> =
                c.exec("SHOW WARNINGS LIMIT ?", (limit,)).await.unwrap();
            let want: Vec<(String, u16, String)> = server
                .exec("SHOW WARNINGS LIMIT ?", (limit,))
                .await
                .unwrap();
            assert_eq!(want.len(), rows, "the server, LIMIT {limit}");
            assert_eq!(
                got.iter().map(|w| w.1).collect::<Vec<_>>(),
                want.iter().map(|w| w.1).collect::<Vec<_>>(),
                "wire {wire}: LIMIT {limit}"
            );
        }
        drop(c);
        drop(p);
    }
    server.disconnect().await.unwrap();
    schema.drop().await;
}
