"""A tiny Azure ML style entry script for the CLI tests: it validates the seed's accident records
(``invoke_webservice(service, toJSON(newdata))``) and answers a toy probability per record; any
other JSON is echoed back. No R needed."""

import json
from typing import Any

FIELDS: dict[str, type] = {
    "dvcat": str,
    "seatbelt": str,
    "frontal": str,
    "sex": str,
    "ageOFocc": int,
    "yearVeh": int,
    "airbag": str,
    "occRole": str,
}


def init() -> None:
    print("toy accident model loaded")


def _probability(row: dict[str, Any]) -> float:
    belt = 30 if row["seatbelt"] == "none" else -30
    return round(50.0 + belt + float(row["ageOFocc"]) / 10, 2)


def run(raw_data: str) -> Any:
    data = json.loads(raw_data)
    if isinstance(data, list) and data and isinstance(data[0], dict) and "dvcat" in data[0]:
        for row in data:
            if set(row) != set(FIELDS):
                raise ValueError(f"unexpected columns {sorted(row)}")
            for name, kind in FIELDS.items():
                if not isinstance(row[name], kind) or isinstance(row[name], bool):
                    raise ValueError(f"{name} should be {kind.__name__}, got {row[name]!r}")
        return [_probability(row) for row in data]
    return {"echo": data}
