"""The few private Optuna attributes weightsearch relies on, in one place.

Optuna's public API has no way to create a trial that is RUNNING from the start with its
parameters set (``study.enqueue_trial`` goes through the WAITING queue, which two SQLite processes
can both pop), and no public trial id, which the storage's own methods take. When an Optuna
release renames one of these, this module is the one to change.
"""

from __future__ import annotations

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage a study reads and writes."""
    return study._storage


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """A trial's id in its storage (unique across studies, unlike its number)."""
    return trial._trial_id


def create_trial(study: optuna.Study, template: FrozenTrial) -> optuna.Trial:
    """Create a trial in ``study`` as ``template`` describes it (state, parameters, attrs)."""
    new_id = study._storage.create_new_trial(study._study_id, template_trial=template)
    return optuna.Trial(study, new_id)
