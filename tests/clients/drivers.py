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


def pymysql_transaction_checks():
    """autocommit off (pymysql's default): every statement runs in a transaction, so reads
    over several groups must work there, while writes stay on one group."""
    conn = pymysql.connect(host="127.0.0.1", port=PORT, user="app", password="app-pass",
                           database=DB, charset="utf8mb4")
    check(conn.get_autocommit() is False, "pymysql defaults to autocommit off")
    cur = conn.cursor()
    cur.execute("SELECT COUNT(*) FROM patients")
    check(cur.fetchone()[0] == 4, "scatter count in a transaction")
    cur.execute("SELECT id FROM patients ORDER BY id")
    check([r[0] for r in cur.fetchall()] == [401, 402, 403, 404], "merged read in a transaction")
    cur.execute("SELECT id FROM patients WHERE hospital_id IN (5, 6) ORDER BY id")
    check([r[0] for r in cur.fetchall()] == [401, 402], "reads on two groups")
    cur.execute("SELECT name FROM hospitals WHERE id = 2")
    check(cur.fetchone()[0] == "St. Anne", "broadcast read in a transaction")
    # A write on g0, then one on g1: refused, and the transaction goes on.
    cur.execute("INSERT INTO patients (id, hospital_id, name) VALUES (411, 5, 'g0')")
    try:
        cur.execute("INSERT INTO patients (id, hospital_id, name) VALUES (412, 6, 'g1')")
        check(False, "a write to a second group must be refused")
    except pymysql.err.MySQLError as e:
        check(e.args[0] == 1235 and "must stay on one group" in e.args[1], f"second group {e.args}")
    try:
        cur.execute("INSERT INTO hospitals (id, name, city) VALUES (9, 'x', 'y')")
        check(False, "a broadcast write in a transaction must be refused")
    except pymysql.err.MySQLError as e:
        check(e.args[0] == 1235 and "hospitals" in e.args[1], f"broadcast write {e.args}")
    cur.execute("SELECT COUNT(*) FROM patients")
    check(cur.fetchone()[0] == 5, "the transaction sees its own write")
    conn.rollback()
    cur.execute("SELECT COUNT(*) FROM patients WHERE id IN (411, 412)")
    check(cur.fetchone()[0] == 0, "rollback undid the write")
    conn.commit()
    # mysql-connector-python is autocommit off too.
    conn2 = mysql.connector.connect(host="127.0.0.1", port=PORT, user="app", password="app-pass",
                                    database=DB, use_pure=True)
    cur2 = conn2.cursor()
    cur2.execute("SELECT COUNT(*) FROM patients WHERE hospital_id IN (7, 8)")
    check(cur2.fetchone()[0] == 2, "connector: reads on two groups, autocommit off")
    cur2.execute("UPDATE patients SET name = 'kept' WHERE hospital_id = 7 AND id = 403")
    conn2.commit()
    conn2.close()
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


def connector_prepared_checks():
    """mysql-connector-python's binary protocol (cursor(prepared=True)): COM_STMT_PREPARE,
    EXECUTE with typed parameters, SEND_LONG_DATA for a file-like value, CLOSE."""
    import datetime
    import decimal
    import io
    conn = mysql.connector.connect(host="127.0.0.1", port=PORT, user="app", password="app-pass",
                                   database=DB, use_pure=True, autocommit=True)
    cur = conn.cursor(prepared=True)
    when = datetime.datetime(2024, 2, 29, 13, 14, 15, 123000)
    cur.execute("INSERT INTO clinical_data (id, hospital_id, patient_id, measure, value, recorded_at, note, attachment) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (50, 2, 7, "fréquence", decimal.Decimal("-12.345"), when, None, bytes(range(256))))
    check(cur.rowcount == 1, f"prepared insert rowcount {cur.rowcount}")
    cur.execute("SELECT id, measure, value, recorded_at, note, attachment FROM clinical_data "
                "WHERE hospital_id = ? AND id = ?", (2, 50))
    row = cur.fetchone()
    check(row is not None, "prepared select found the row")
    rid, measure, value, recorded_at, note, attachment = row
    check(rid == 50, f"prepared id {rid!r}")
    measure = measure.decode() if isinstance(measure, (bytes, bytearray)) else measure
    check(measure == "fréquence", f"prepared measure {measure!r}")
    check(value == decimal.Decimal("-12.345"), f"prepared decimal {value!r}")
    check(recorded_at == when, f"prepared datetime {recorded_at!r}")
    check(note is None, f"prepared NULL {note!r}")
    check(bytes(attachment) == bytes(range(256)), "prepared blob bytes")
    check(cur.fetchone() is None, "one row only")
    # The shard key placeholder routes: hospital 3 (same shard group) does not see the row.
    cur.execute("SELECT COUNT(*) FROM clinical_data WHERE hospital_id = ?", (2,))
    check(cur.fetchone()[0] == 1, "hospital 2 holds its row")
    # A file-like parameter is sent with COM_STMT_SEND_LONG_DATA.
    blob = b"long\x00data" * 1000
    cur.execute("UPDATE clinical_data SET attachment = ? WHERE hospital_id = ? AND id = ?",
                (io.BytesIO(blob), 2, 50))
    cur.execute("SELECT attachment FROM clinical_data WHERE hospital_id = ? AND id = ?", (2, 50))
    got = bytes(cur.fetchone()[0])
    check(got == blob, f"long data {len(got)} bytes")
    # A query without the shard key is answered from every shard, merged, in binary rows.
    cur.execute("SELECT hospital_id, id, measure FROM clinical_data WHERE measure = ? "
                "ORDER BY id DESC", ("fréquence",))
    rows = [(h, i, m.decode() if isinstance(m, (bytes, bytearray)) else m) for h, i, m in cur.fetchall()]
    check(rows == [(2, 50, "fréquence")], f"prepared scatter rows {rows!r}")
    # Errors keep their codes: a duplicate key from the backend, a refused scatter query.
    try:
        cur.execute("INSERT INTO clinical_data (id, hospital_id, patient_id, measure) VALUES (?, ?, ?, ?)",
                    (50, 2, 7, "dup"))
        check(False, "duplicate must fail")
    except mysql.connector.Error as e:
        check(e.errno == 1062, f"duplicate errno {e.errno}")
    try:
        cur.execute("SELECT id INTO @v FROM clinical_data WHERE measure = ? ORDER BY id LIMIT 1",
                    ("x",))
        cur.fetchall()
        check(False, "SELECT ... INTO over shards must be refused")
    except mysql.connector.Error as e:
        check(e.errno == 1235, f"scatter errno {e.errno}")
    # A window function over shards is answered over copies (materialized).
    cur.execute("SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM clinical_data WHERE measure = ?",
                ("fréquence",))
    window = cur.fetchall()
    check(window == [(50, 1)], f"a window function over shards {window!r}")
    cur.execute("SELECT ? + 1, ?", (41, None))
    check(cur.fetchone() == (42, None), "parameters in the select list")
    cur.close()
    conn.close()


def connector_change_user_checks():
    """COM_CHANGE_USER as mysql-connector-python sends it (cmd_change_user): the same
    connection, session state reset, the new database selected."""
    conn = mysql.connector.connect(host="127.0.0.1", port=PORT, user="app", password="app-pass",
                                   database="clinical", autocommit=True)
    cur = conn.cursor()
    cur.execute("SELECT CONNECTION_ID()")
    (before,) = cur.fetchone()
    cur.execute("SET @carried = 1")
    cur.close()
    conn.cmd_change_user(username="app", password="app-pass", database="clinical")
    cur = conn.cursor()
    cur.execute("SELECT CONNECTION_ID(), @carried, DATABASE()")
    row = cur.fetchone()
    check(row == (before, None, "clinical"), f"after cmd_change_user: {row}")
    cur.execute("SELECT name FROM hospitals WHERE id = 2")
    check(cur.fetchall() == [("St. Anne",)], "reads after cmd_change_user")
    cur.close()
    try:
        conn.cmd_change_user(username="app", password="wrong", database="clinical")
        check(False, "a wrong password must be refused")
    except mysql.connector.Error as e:
        check(e.errno == 1045, f"wrong password errno {e.errno}")
    conn.close()


pymysql_checks()
pymysql_transaction_checks()
connector_change_user_checks()
connector_checks()
connector_prepared_checks()
print("drivers ok")
