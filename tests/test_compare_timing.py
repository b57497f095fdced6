"""compare's s/run: each contender's own run time, not what the worker pays once at start-up."""

from __future__ import annotations

from pathlib import Path

TASK = Path(__file__).parent / "tasks" / "compare" / "first_step.py"
SLEEP_S = 0.1


def test_the_first_contender_is_not_charged_what_torch_loads_at_first_use(cli, sqlite_url):
    # Through a worker process (the default): a fresh process, as a user's command has.
    args = ("--methods", "equal,uncertainty", "--seeds", "2", "--storage", sqlite_url)
    result = cli("compare", TASK, *args, "--json", "--quiet")
    assert result.code == 0, result.err
    report = result.json()
    trials = sorted(report["trials"], key=lambda t: t["number"])
    assert trials[0]["method"] == "equal"
    assert all(t["values"]["warm"] == 1.0 for t in trials), trials
    seconds = {m["name"]: m["seconds"] for m in report["methods"]}
    for name, mean in seconds.items():
        assert SLEEP_S <= mean < SLEEP_S + 0.4, (name, seconds)
