"""Every statement the deployed role issues is allowed by the grants Terraform gives it.

The service user runs as the ML role, which inherits LOADER and TRANSFORMER. The statements
are recorded from the real adapter on fakesnow, starting from what Terraform leaves behind:
the database and its four schemas exist, owned by SYSADMIN.
"""

from __future__ import annotations

import re

import pandas as pd

from tests.infra.test_terraform import INFRA, parse

DATABASE = "LIFELINE_DEV"
CREATE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMPORARY\s+|TRANSIENT\s+)?"
    r"(DATABASE|SCHEMA|TABLE|VIEW|STAGE|FILE\s+FORMAT|PROCEDURE)\b(?:\s+IF\s+NOT\s+EXISTS)?"
    r"\s+([\w.\"]+)",
    re.I,
)


def granted() -> tuple[set[str], dict[str, set[str]]]:
    """(database privileges, {schema: privileges}) of the ML role and the roles it inherits."""
    module = parse(INFRA / "modules" / "snowflake" / "main.tf")
    writers = module["locals"][0]["writer_schemas"]
    grants = {
        name: body
        for block in module["resource"]
        for rtype, named in block.items()
        if rtype == "snowflake_grant_privileges_to_account_role"
        for name, body in named.items()
    }
    inherited = {"ML", "LOADER", "TRANSFORMER"}  # pipeline_roles_to_ml grants both to ML
    inherits = next(
        named["pipeline_roles_to_ml"]
        for block in module["resource"]
        for rtype, named in block.items()
        if rtype == "snowflake_grant_account_role" and "pipeline_roles_to_ml" in named
    )
    assert set(re.findall(r'"(\w+)"', inherits["for_each"])) == inherited - {"ML"}
    schema_privileges: dict[str, set[str]] = {}
    for role in inherited:
        for schema in writers.get(role, []):
            schema_privileges.setdefault(schema, set()).update(
                grants["schema_create"]["privileges"]
            )
    return set(grants["database"]["privileges"]), schema_privileges


class RecordingConnection:
    """The fakesnow connection, with every statement its cursors execute recorded."""

    def __init__(self, conn, log: list[str]):
        self._conn, self._log = conn, log

    def cursor(self, *args, **kwargs):
        cur = self._conn.cursor(*args, **kwargs)
        execute = cur.execute

        def recorded(sql, *a, **k):
            self._log.append(sql)
            return execute(sql, *a, **k)

        cur.execute = recorded
        return cur

    def __getattr__(self, name):
        return getattr(self._conn, name)


def required(statement: str, current_schema: str = "PUBLIC") -> tuple[str, str] | None:
    """(object the privilege is on, privilege) a CREATE needs; None for other statements."""
    match = CREATE.match(re.sub(r"^\s*(/\*.*?\*/\s*)+", "", statement, flags=re.S))
    if not match:
        return None
    kind, name = re.sub(r"\s+", " ", match.group(1).upper()), match.group(2).replace('"', "")
    if kind == "DATABASE":
        return "ACCOUNT", "CREATE DATABASE"
    if kind == "SCHEMA":
        return "DATABASE", "CREATE SCHEMA"
    schema = name.split(".")[-2].upper() if "." in name else current_schema
    return schema, f"CREATE {kind}"


def test_the_pipeline_role_needs_no_privilege_terraform_does_not_grant():
    import fakesnow
    import snowflake.connector

    from tasks.warehouse.snowflake import SnowflakeWarehouse

    database_privileges, schema_privileges = granted()
    log: list[str] = []
    with fakesnow.patch("snowflake.connector.pandas_tools.write_pandas"):
        admin = snowflake.connector.connect().cursor()  # what `terraform apply` leaves behind
        admin.execute(f"CREATE DATABASE {DATABASE}")
        for schema in ("RAW", "FEATURES", "ML", "OPS"):
            admin.execute(f"CREATE SCHEMA {DATABASE}.{schema}")
        for _ in range(2):  # the first run creates the tables, the next ones only use them
            # connected as the SnowflakeConnector block does: its database, schema RAW
            conn = snowflake.connector.connect(database=DATABASE, schema="RAW")
            wh = SnowflakeWarehouse(RecordingConnection(conn, log), DATABASE)
            wh.bootstrap()
            frame = pd.DataFrame({"CUSTOMER_ID": ["C1"], "CHURN_PROBABILITY": [0.5]})
            frame["AS_OF_DATE"] = pd.Timestamp("2025-01-01")
            wh.write_frame(frame, "ML.CUSTOMER_SCORES", "merge", ("CUSTOMER_ID", "AS_OF_DATE"))
    assert log, "nothing recorded"
    needs = [(need, sql) for sql in log if (need := required(sql)) is not None]
    assert needs, "no CREATE recorded: the recorder or the pattern is wrong"
    for (on, privilege), sql in needs:
        allowed = {
            "ACCOUNT": set(),  # the role has no account privileges at all
            "DATABASE": database_privileges,
        }.get(on, schema_privileges.get(on, set()))
        assert privilege in allowed, f"{privilege} on {on} is not granted by infra/: {sql[:120]}"


def test_the_check_catches_create_if_not_exists_on_what_terraform_made():
    assert required("CREATE SCHEMA IF NOT EXISTS RAW") == ("DATABASE", "CREATE SCHEMA")
    assert required('CREATE DATABASE IF NOT EXISTS "LIFELINE_DEV"') == (
        "ACCOUNT",
        "CREATE DATABASE",
    )
    assert required("CREATE TEMPORARY STAGE IF NOT EXISTS RAW.LIFELINE_INGEST") == (
        "RAW",
        "CREATE STAGE",
    )
    assert "CREATE SCHEMA" not in granted()[0]
