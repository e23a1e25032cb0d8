"""Helpers of the browser app's tests."""

import shutil
import socket
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def wait_for(predicate, timeout_s=60.0, interval_s=0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def copy_picasso(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    shutil.copyfile(source.with_suffix(".yaml"), target.with_suffix(".yaml"))
    return target
