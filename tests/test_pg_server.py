"""The storage fixtures work: a real PostgreSQL cluster, and a fresh storage per mode."""

from __future__ import annotations

import optuna
import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

STUDY = "fixture-check"


def _open(url: str) -> optuna.storages.BaseStorage:
    """Open a storage URL of the fixture's forms without relying on weightsearch's parser."""
    if url.startswith("journal://"):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(url[len("journal://") :]))
    return optuna.storages.RDBStorage(url)


def _write_and_read_back(url: str) -> None:
    storage = _open(url)
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=2)
    if isinstance(storage, optuna.storages.RDBStorage):
        storage.engine.dispose()
    again = optuna.load_study(study_name=STUDY, storage=_open(url))
    assert [t.state for t in again.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert again.best_value == max(t.value for t in study.trials if t.value is not None)


@pytest.mark.postgres
def test_postgres_url_holds_an_optuna_study(postgres_url: str) -> None:
    url = make_url(postgres_url)
    assert url.drivername == "postgresql"  # the README's plain form
    assert url.host == "127.0.0.1"
    assert url.password  # a password, so that masking it can be tested
    _write_and_read_back(postgres_url)
    storage = optuna.storages.RDBStorage(postgres_url)
    assert storage.engine.dialect.name == "postgresql"
    assert storage.engine.dialect.driver == "psycopg"  # SQLAlchemy 2.1's default: psycopg 3
    optuna.delete_study(study_name=STUDY, storage=storage)


@pytest.mark.postgres
def test_postgres_rejects_a_wrong_password(postgres_url: str) -> None:
    wrong = make_url(postgres_url).set(password="not-the-password")
    engine = sqlalchemy.create_engine(wrong)
    with pytest.raises(sqlalchemy.exc.OperationalError, match="password authentication failed"):
        engine.connect()
    engine.dispose()


def test_storage_url_is_fresh_and_usable(storage_url: str) -> None:
    storage = _open(storage_url)
    assert storage.get_all_studies() == []  # nothing left over from other tests
    if isinstance(storage, optuna.storages.RDBStorage):
        storage.engine.dispose()
    _write_and_read_back(storage_url)


def test_storage_url_forms(storage_url: str, request: pytest.FixtureRequest) -> None:
    mode = request.node.callspec.params["storage_url"]
    prefix = {
        "sqlite": "sqlite:////",
        "journal": "journal:///",
        "postgres": "postgresql://",
    }[mode]
    assert storage_url.startswith(prefix)


def test_project_opens_every_storage_url(storage_url: str) -> None:
    from weightsearch.storage import mask_password, open_storage

    storage = open_storage(storage_url)
    optuna.create_study(study_name=STUDY, storage=storage).optimize(lambda t: 0.0, n_trials=1)
    assert len(optuna.load_study(study_name=STUDY, storage=storage).trials) == 1
    password = make_url(storage_url).password if "://" in storage_url else None
    if password:
        assert password not in mask_password(storage_url)
    if isinstance(storage, optuna.storages.RDBStorage):
        storage.engine.dispose()
