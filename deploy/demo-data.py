#!/usr/bin/env python3
"""Generate the SQL that creates and fills the demo database `clinical` on one group.

    demo-data.py --target g0|g1|all [--schema NAME] [--counts]

--target g0 / g1: that group's physical schema: the shard tables it owns (<name>_<i>), the
broadcast table hospitals, and (g0, the default group) the unsharded medication_logs.
--target all: the logical, unsharded layout on one server (an oracle for differential tests).
--counts: print "<physical table> <row count>" lines instead of SQL (what the loader verifies).

The rows are deterministic (one seeded generator, only its random() whose sequence Python
guarantees across versions), so every run and every machine loads the same data. Standard
library only; the table definitions come from demo-schema.sql beside this file.
"""

import argparse
import os
import re
import sys
from datetime import date, datetime, timedelta
import random

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_FILE = os.path.join(HERE, "demo-schema.sql")
RULES_FILE = os.path.join(HERE, "..", "shard-rules", "clinical.toml")

# The layout of shard-rules/clinical.toml (checked against it below when tomllib exists).
SHARDS = 4
PLACEMENT = ["g0", "g0", "g1", "g1"]
SHARDED = ["patients", "trial_enrollment", "clinical_data"]
BROADCAST = ["hospitals"]
DEFAULT_GROUP = "g0"
GROUPS = ["g0", "g1"]

N_PATIENTS = 2000
N_ENROLLMENTS = 2000
N_CLINICAL = 4000
N_MEDICATIONS = 1000
BATCH = 500  # rows per INSERT: few round trips, far below max_allowed_packet

HOSPITALS = [
    ("Hôpital Saint-Éloi", "Montpellier"),
    ("Charité – Universitätsmedizin", "Berlin"),
    ("Hôpital de la Pitié-Salpêtrière", "Paris"),
    ("Klinikum rechts der Isar", "München"),
    ("Hospital Clínic de Barcelona", "Barcelona"),
    ("Ospedale San Raffaele", "Milano"),
    ("Karolinska Universitetssjukhuset", "Solna"),
    ("Rigshospitalet", "København"),
    ("Hôpital Necker–Enfants malades", "Paris"),
    ("Universitätsspital Zürich", "Zürich"),
    ("Szpital Uniwersytecki", "Kraków"),
    ("Fakultní nemocnice v Motole", "Praha"),
    ("Hospital Universitario La Paz", "Madrid"),
    ("Centro Hospitalar Universitário de São João", "Porto"),
    ("Allgemeines Krankenhaus", "Wien"),
    ("Semmelweis Egyetem Klinika", "Budapest"),
    ("Hôtel-Dieu de Québec", "Québec"),
    ("Hospital Sírio-Libanês", "São Paulo"),
    ("Universitätsklinikum Düsseldorf", "Düsseldorf"),
    ("St. Olavs hospital", None),  # a NULL city
]
FIRST = ["Élodie", "José", "Zoë", "Jürgen", "Søren", "Łucja", "François", "Ana", "Noël",
         "Björn", "Inês", "Ömer", "Chloé", "Mateo", "Ægir", "Renée", "Dvořák", "Amélie",
         "Ljubica", "Hélène", "John", "Mary", "Ахмед", "Sofía", "Žofie", "Grégoire"]
LAST = ["Dupont", "Müller", "García", "Nørgaard", "Kowalczyk", "Lefèvre", "Rossi", "Öztürk",
        "Šimek", "Fernández", "Björklund", "Ångström", "Martin", "O'Brien", "Nguyễn", "Smith",
        "Durand", "Pérez", "Novák", "Leclerc"]
# Whole names that need more than the Basic Multilingual Plane or are not Latin at all.
SPECIAL_NAMES = ["王芳", "佐藤 健", "Ωmega Θ", "𝒜lice Lidde𝓁l", "Zoë 🌻 Martin"]
# Case, accent and trailing-space variants that tie under utf8mb4_general_ci: merges must cope.
TRIALS = ["ONC-2024-001", "ONC-2024-002", "CARD-07", "card-07", "CARD-07 ", "NEURO-11",
          "DIAB-2023-5", "RESP-19", "Pédiatrie-3", "pediatrie-3"]
MEASURES = ["heart_rate", "systolic_bp", "diastolic_bp", "temperature_c", "glucose_mmol_l",
            "weight_kg", "spo2_pct", "cholesterol_mmol_l"]
NOTES = ["Patient stable.", "Fièvre légère, à surveiller.", "Blutdruck erhöht — Kontrolle.",
         "Sin cambios respecto a la última visita.", "Douleur thoracique ? ECG demandé.",
         "Dosis angepasst; nächste Messung in 2 h.", "Très bonne récupération 😀",
         "Patient says: \"it's fine\"", "back\\slash and 'quotes'", "",
         "Naïve café-au-lait spots — dermatologist consulted."]
DRUGS = ["Paracétamol", "Ibuprofène", "Amoxicilline", "Metformin", "Atorvastatin",
         "Lévothyroxine", "Oméprazole", "Héparine", "Insulin glargine", "Salbutamol"]


def check_rules():
    """Fail loudly if shard-rules/clinical.toml no longer has the layout generated here."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11: nothing to check with
        return
    with open(RULES_FILE, "rb") as f:
        rules = tomllib.load(f)
    tables = {t["name"]: t for t in rules.get("tables", [])}
    problems = []
    if rules.get("database", {}).get("default_group") != DEFAULT_GROUP:
        problems.append("default_group")
    if sorted(rules.get("groups", {})) != GROUPS:
        problems.append("groups")
    for name in SHARDED:
        t = tables.get(name, {})
        base = tables.get(t.get("bind_to"), t)
        if (t.get("shard_key") != "hospital_id" or base.get("algorithm", "mod") != "mod"
                or base.get("shards") != SHARDS or base.get("placement") != PLACEMENT):
            problems.append(name)
    for name in BROADCAST:
        if not tables.get(name, {}).get("broadcast"):
            problems.append(name)
    if problems:
        sys.exit(f"demo-data.py: {RULES_FILE} changed ({', '.join(problems)}): update the layout")


def logical_tables():
    """name -> CREATE TABLE statement (without ';'), in file order."""
    with open(SCHEMA_FILE, encoding="utf-8") as f:
        text = "\n".join(l for l in f.read().splitlines() if not l.lstrip().startswith("--"))
    out = {}
    for stmt in re.split(r";\s*$", text, flags=re.M):
        m = re.search(r"CREATE TABLE\s+`?(\w+)`?", stmt)
        if m:
            out[m.group(1)] = stmt.strip()
    return out


def physical_tables(target):
    """[(logical name, physical name, shard index or None)] that live on `target`."""
    out = []
    for name in logical_tables():
        if name in SHARDED:
            if target == "all":
                out.append((name, name, None))
            else:
                out += [(name, f"{name}_{i}", i) for i in range(SHARDS) if PLACEMENT[i] == target]
        elif name in BROADCAST or target in ("all", DEFAULT_GROUP):
            out.append((name, name, None))
    return out


def sql_value(v):
    if v is None:
        return "NULL"
    if isinstance(v, bytes):
        return "X'" + v.hex() + "'" if v else "''"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "''") + "'"
    return "'" + str(v) + "'"  # dates, datetimes, decimals as text


def generate():
    """logical table name -> (column names, list of rows)."""
    rnd = random.Random(20261125)
    pick = lambda seq: seq[int(rnd.random() * len(seq))]
    chance = lambda p: rnd.random() < p
    t0 = datetime(2021, 1, 1)
    at = lambda span_days, ms=False: (
        (t0 + timedelta(milliseconds=int(rnd.random() * span_days * 86400000)))
        .isoformat(sep=" ", timespec="milliseconds" if ms else "seconds"))

    data = {}
    data["hospitals"] = (["id", "name", "city"],
                         [(i + 1, n, c) for i, (n, c) in enumerate(HOSPITALS)])

    patients = []
    for pid in range(1, N_PATIENTS + 1):
        hid = 1 + int(rnd.random() * len(HOSPITALS))
        name = pick(SPECIAL_NAMES) if chance(0.01) else f"{pick(FIRST)} {pick(LAST)}"
        birth = None if chance(0.05) else date(1930, 1, 1) + timedelta(days=int(rnd.random() * 32000))
        patients.append((pid, hid, name, birth, at(1400)))
    data["patients"] = (["id", "hospital_id", "name", "birth_date", "created_at"], patients)
    hospital_of = {p[0]: p[1] for p in patients}

    def patient():
        pid = 1 + int(rnd.random() * N_PATIENTS)
        return pid, hospital_of[pid]

    rows = []
    for i in range(1, N_ENROLLMENTS + 1):
        pid, hid = patient()
        rows.append((i, hid, pid, pick(TRIALS), None if chance(0.02) else at(1400)))
    data["trial_enrollment"] = (["id", "hospital_id", "patient_id", "trial_code", "enrolled_at"],
                                rows)

    rows = []
    for i in range(1, N_CLINICAL + 1):
        pid, hid = patient()
        value = None if chance(0.05) else f"{rnd.random() * 200:.3f}"
        note = pick(NOTES) if chance(0.3) else None
        # A few small binary attachments, with the bytes that break naive escaping.
        blob = bytes([0, 0xFF, 0x27, 0x5C, 0x22, 0x0A]) + i.to_bytes(4, "big") if chance(0.01) else None
        rows.append((i, hid, pid, pick(MEASURES), value, at(1400, ms=True), note, blob))
    data["clinical_data"] = (["id", "hospital_id", "patient_id", "measure", "value",
                              "recorded_at", "note", "attachment"], rows)

    rows = []
    for i in range(1, N_MEDICATIONS + 1):
        pid, hid = patient()
        dose = None if chance(0.03) else f"{5 + int(rnd.random() * 200) * 2.5:.2f}"
        rows.append((i, pid, hid, pick(DRUGS), dose, at(1400)))
    data["medication_logs"] = (["id", "patient_id", "hospital_id", "drug", "dose_mg", "given_at"],
                               rows)
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True, choices=GROUPS + ["all"])
    ap.add_argument("--schema", default="clinical")
    ap.add_argument("--counts", action="store_true")
    args = ap.parse_args()
    if not re.fullmatch(r"\w+", args.schema):
        sys.exit("demo-data.py: --schema must be a plain identifier")
    check_rules()
    ddl = logical_tables()
    data = generate()
    # UTF-8 whatever the locale (CI may run with none), and the full output even if piped.
    sys.stdout.reconfigure(encoding="utf-8")
    out = sys.stdout
    if not args.counts:
        out.write("SET NAMES utf8mb4;\n"
                  f"DROP DATABASE IF EXISTS `{args.schema}`;\n"
                  f"CREATE DATABASE `{args.schema}` DEFAULT CHARACTER SET utf8mb4;\n"
                  f"USE `{args.schema}`;\n")
    for name, phys, shard in physical_tables(args.target):
        cols, rows = data[name]
        if shard is not None:  # the `mod` algorithm on hospital_id
            key = cols.index("hospital_id")
            rows = [r for r in rows if r[key] % SHARDS == shard]
        if args.counts:
            out.write(f"{phys} {len(rows)}\n")
            continue
        out.write(re.sub(r"CREATE TABLE\s+`?\w+`?", f"CREATE TABLE `{phys}`", ddl[name], count=1)
                  + ";\n")
        for i in range(0, len(rows), BATCH):
            values = ",\n".join("(" + ",".join(sql_value(v) for v in r) + ")"
                                for r in rows[i:i + BATCH])
            out.write(f"INSERT INTO `{phys}` ({','.join(cols)}) VALUES\n{values};\n")


if __name__ == "__main__":
    main()
