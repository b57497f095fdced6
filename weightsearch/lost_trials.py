"""Lost trials: RUNNING trials whose command is gone, failed so that their points run again.

A trial's claim names its owner (host, pid and the process's identity). On the owner's host a
trial is lost when that process is gone; on another host when the owner has not refreshed the
trial's heartbeat for a grace period.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from weightsearch import records
from weightsearch.optuna_internals import storage_of, trial_id

# A trial of another machine whose heartbeat is older than this is taken as lost.
GRACE_S = 120.0


def fail_trial(study: optuna.Study, trial_id: int, reason: str) -> bool:
    """Fail a RUNNING trial that was lost (crash, Ctrl-C): its point runs again later.

    Returns:
        False when the trial had already finished (another process got there first).
    """
    storage = storage_of(study)
    try:
        storage.set_trial_user_attr(trial_id, records.ERROR, reason)
        storage.set_trial_user_attr(trial_id, records.LOST, True)
        return storage.set_trial_state_values(trial_id, TrialState.FAIL)
    except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
        return False


def process_owner() -> dict[str, Any]:
    """Who runs a trial: host, process id and the process's identity (boot + start time)."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "process": _process_identity(os.getpid()),
    }


def reap_lost_trials(study: optuna.Study, grace: float = GRACE_S) -> list[int]:
    """Fail RUNNING trials whose coordinator is gone, so that their points run again.

    On this host a coordinator is gone when its process is (killed, crashed, rebooted); on
    another host when it has not refreshed the trial's heartbeat for ``grace`` seconds. A trial
    that no command claimed (its creator died at once) is lost after ``grace`` seconds too.

    Returns:
        The numbers of the trials failed.
    """
    host = socket.gethostname()
    now = time.time()
    reaped = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = records.owner(trial)
        start = trial.datetime_start.timestamp() if trial.datetime_start else now
        last = float(trial.user_attrs.get(records.HEARTBEAT, start))
        if owner is not None and owner.get("host") == host:
            if _process_identity(int(owner.get("pid", -1))) == owner.get("process"):
                continue
            reason = f"its process (pid {owner.get('pid')} on {host}) ended before it finished"
        elif now - last < grace:
            continue
        elif owner is None:
            # A process died between creating the trial and claiming it; nobody will finish it.
            reason = f"it was never claimed by a running command ({now - last:.0f} s old)"
        else:
            reason = f"its machine ({owner.get('host')}) sent no heartbeat for {now - last:.0f} s"
        if fail_trial(study, trial_id(trial), reason):
            reaped.append(trial.number)
    return reaped


def _process_identity(pid: int) -> str | None:
    """Boot id plus the process's start time: a pid reused by another process differs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        if pid <= 0:
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return f"pid:{pid}"
    # Field 22 (starttime) counts from the end of the command name, which may hold spaces.
    fields = stat.rsplit(")", 1)[1].split()
    return f"{boot}:{fields[19]}"
