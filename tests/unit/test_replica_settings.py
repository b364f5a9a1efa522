"""FENRUN_REPLICA_DATABASE_URL: optional, checked like the other URLs, never without a primary."""

import pytest
from pydantic import ValidationError

from application.settings import Settings

PRIMARY = "postgresql://fenrun_app@db1:5432/fenrun"
REPLICA = "postgresql://fenrun_app@db2:5432/fenrun"


def test_a_replica_is_optional() -> None:
    assert Settings(database_url=PRIMARY).replica_database_url is None
    assert Settings(database_url=PRIMARY, replica_database_url="").replica_database_url is None
    configured = Settings(database_url=PRIMARY, replica_database_url=REPLICA)
    assert configured.replica_database_url == REPLICA


def test_a_replica_follows_a_server_of_your_own() -> None:
    with pytest.raises(ValidationError, match="never the embedded one"):
        Settings(database_url=None, replica_database_url=REPLICA)
    with pytest.raises(ValidationError, match="not a PostgreSQL URL"):
        Settings(database_url=PRIMARY, replica_database_url="nonsense")
