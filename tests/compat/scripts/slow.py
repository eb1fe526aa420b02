"""A script that takes as long as it is told to: for the scoring timeout."""

import json
import time


def init() -> None:
    pass


def run(raw_data: str) -> dict[str, float]:
    seconds = float(json.loads(raw_data)["sleep"])
    time.sleep(seconds)
    return {"slept": seconds}
