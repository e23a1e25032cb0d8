"""Stage timers: off by default, nested stages excluded from the stage around them."""

import json
import time

from napari_picasso.core import timings


def test_nothing_is_recorded_without_the_variable(monkeypatch):
    monkeypatch.setattr(timings, "ENABLED", False)
    monkeypatch.setattr(timings, "_totals", {})
    with timings.stage("reading"):
        pass
    assert timings.totals() == {}


def test_nested_stages_add_up_to_the_outer_time(monkeypatch):
    monkeypatch.setattr(timings, "ENABLED", True)
    monkeypatch.setattr(timings, "_totals", {})
    started = time.perf_counter()
    with timings.stage("database"):
        time.sleep(0.02)
        with timings.stage("quality figures"):
            time.sleep(0.05)
    elapsed = time.perf_counter() - started
    totals = timings.totals()
    assert totals["quality figures"] >= 0.05 and 0.02 <= totals["database"] < 0.05
    assert abs(totals["database"] + totals["quality figures"] - elapsed) < 0.01
    report = json.loads(timings.report_line().split(" ", 2)[2])
    assert set(report["stages"]) == set(report["cpu_stages"]) == {"database", "quality figures"}
