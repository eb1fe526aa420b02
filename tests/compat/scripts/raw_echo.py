"""Answer exactly the string run() received (and whether it parses), to compare what each server
hands an undecorated run() for odd bodies."""

import json
from typing import Any


def init() -> None:
    pass


def run(raw_data: str) -> Any:
    try:
        json.loads(raw_data)
    except Exception as error:  # a script that answers str(error) answers 200 in both servers
        return {"raw": raw_data, "error": str(error)}
    return {"raw": raw_data}
