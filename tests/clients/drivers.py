"""Real client drivers through shardgate: pymysql and mysql-connector-python.

Run by tests/clients.rs with SHARDGATE_PORT set; exits non-zero with a message on the first
mismatch. Each check asserts on actual values, codes and types.
"""
import os
import sys

import mysql.connector
import pymysql

PORT = int(os.environ["SHARDGATE_PORT"])
DB = os.environ.get("SHARDGATE_DB", "clinical")


def check(cond, what):
    if not cond:
        print("FAILED:", what, file=sys.stderr)
        sys.exit(1)


def pymysql_checks():
    conn = pymysql.connect(host="127.0.0.1", port=PORT, user="app", password="app-pass",
                           database=DB, charset="utf8mb4", autocommit=False)
    cur = conn.cursor()
    cur.execute("SELECT @@version_comment LIMIT 1")
    check(cur.fetchone() is not None, "version_comment")
    cur.execute("SELECT DATABASE()")
    check(cur.fetchone()[0] == DB, "DATABASE()")
    # BLOB comes back as bytes, DECIMAL keeps its scale, accents survive.
    cur.execute("INSERT INTO clinical_data (id, hospital_id, patient_id, measure, value, note, attachment) "
                "VALUES (1, 3, 1, 'température', 1.500, 'Fièvre', x'00ff')")
    conn.commit()
    cur.execute("SELECT measure, value, note, attachment FROM clinical_data WHERE hospital_id = 3")
    measure, value, note, attachment = cur.fetchone()
    check(measure == "température", f"measure {measure!r}")
    check(str(value) == "1.500", f"decimal {value!r}")
    check(note == "Fièvre", f"note {note!r}")
    check(attachment == b"\x00\xff", f"blob {attachment!r}")
    # autocommit off: a rollback undoes the insert (on a group first used inside the transaction).
    cur.execute("INSERT INTO patients (id, hospital_id, name) VALUES (77, 2, 'rolled back')")
    conn.rollback()
    cur.execute("SELECT COUNT(*) FROM patients WHERE hospital_id = 2")
    check(cur.fetchone()[0] == 0, "rollback undid the insert")
    # pymysql does not negotiate multi-statements: a batch is refused, not run.
    try:
        cur.execute("SELECT 1; SELECT 2")
        check(False, "multi-statement without negotiation must fail")
    except pymysql.err.ProgrammingError as e:
        check(e.args[0] == 1064, f"multi-statement error code {e.args}")
    # A query that is not UTF-8 gets an error, and the connection stays usable.
    try:
        cur.execute(b"SELECT '\xff\xfe'")
        check(False, "invalid utf8 must fail")
    except pymysql.err.MySQLError as e:
        check(e.args[0] == 1300, f"invalid utf8 error {e.args}")
    cur.execute("SELECT 1")
    check(cur.fetchone()[0] == 1, "connection usable after bad input")
    # Warnings count reaches the client.
    cur.execute("SELECT CAST('12abc' AS SIGNED)")
    cur.fetchall()
    check(conn.warning_count >= 1 if hasattr(conn, "warning_count") else cur._result.warning_count >= 1,
          "warning count")
    conn.ping()
    conn.close()


def connector_checks():
    conn = mysql.connector.connect(host="127.0.0.1", port=PORT, user="app", password="app-pass",
                                   database=DB, use_pure=True)
    cur = conn.cursor()
    cur.execute("SELECT @@version")
    check(cur.fetchone() is not None, "connector @@version")
    cur.execute("SELECT id, measure FROM clinical_data WHERE hospital_id = 3")
    rows = cur.fetchall()
    check(rows == [(1, "température")], f"connector rows {rows!r}")
    cur.execute("SHOW TABLES")
    tables = [r[0] for r in cur.fetchall()]
    check("clinical_data" in tables and "clinical_data_0" not in tables, f"connector tables {tables}")
    conn.close()


pymysql_checks()
connector_checks()
print("drivers ok")
