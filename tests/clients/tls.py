"""Drivers over TLS through shardgate (tests/tls.rs starts the proxy with a certificate the
test made). SHARDGATE_PORT, SHARDGATE_CA (the certificate, its own CA), SHARDGATE_REQUIRED
("1" when require_secure_transport is on)."""
import os
import ssl
import sys

import mysql.connector
import pymysql

PORT = int(os.environ["SHARDGATE_PORT"])
CA = os.environ["SHARDGATE_CA"]
REQUIRED = os.environ.get("SHARDGATE_REQUIRED") == "1"


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


def pymysql_checks(user, password):
    conn = pymysql.connect(host="127.0.0.1", port=PORT, user=user, password=password,
                           database="clinical", ssl={"ca": CA, "check_hostname": False})
    check(isinstance(conn._sock, ssl.SSLSocket), f"pymysql {user}: not TLS")
    check(conn._sock.version() in ("TLSv1.2", "TLSv1.3"), conn._sock.version())
    cur = conn.cursor()
    cur.execute("SELECT name FROM hospitals WHERE id = %s", (2,))
    check(cur.fetchall() == (("St. Anne",),), f"pymysql {user} over TLS")
    conn.close()


def pymysql_plain():
    try:
        # pymysql 2.2 prefers TLS when the server offers it: plain must be asked for.
        conn = pymysql.connect(host="127.0.0.1", port=PORT, user="app", password="app-pass",
                               database="clinical", ssl_disabled=True)
    except pymysql.err.OperationalError as e:
        check(REQUIRED and e.args[0] == 3159, f"plain pymysql refused: {e}")
        return
    check(not REQUIRED, "a plain login must be refused when TLS is required")
    check(not isinstance(conn._sock, ssl.SSLSocket), "ssl_disabled is plain")
    cur = conn.cursor()
    cur.execute("SELECT 1")
    check(cur.fetchall() == ((1,),), "plain pymysql")
    conn.close()


def connector_checks(user, password):
    conn = mysql.connector.connect(host="127.0.0.1", port=PORT, user=user, password=password,
                                   database="clinical", ssl_ca=CA, ssl_verify_cert=True,
                                   ssl_verify_identity=False, use_pure=True)
    cur = conn.cursor(prepared=True)
    cur.execute("SELECT name FROM hospitals WHERE id = ?", (2,))
    check(cur.fetchall() == [("St. Anne",)], f"mysql-connector {user} over TLS")
    cur.close()
    conn.close()


pymysql_checks("app", "app-pass")
# caching_sha2_password's full authentication (the proxy has not seen this user yet or
# forgot it): over TLS the password travels in clear inside the encrypted connection.
pymysql_checks("sha2user", "sha2-pass")
connector_checks("app", "app-pass")
connector_checks("sha2user", "sha2-pass")
pymysql_plain()
print("tls ok")
