"""Shared by the R tests: is R usable, the seed's example and an R-free model check."""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "r-accident"
DATA = REPO.parent / "shared" / "data" / "nassCDS.csv"

SEED_RECORD: dict[str, object] = {
    "dvcat": "10-24",
    "seatbelt": "none",
    "frontal": "frontal",
    "sex": "f",
    "ageOFocc": 22,
    "yearVeh": 2002,
    "airbag": "none",
    "occRole": "pass",
}
NUMERIC = ("ageOFocc", "yearVeh")
FACTORS: dict[str, tuple[str, ...]] = {
    "dvcat": ("1-9km/h", "10-24", "25-39", "40-54", "55+"),
    "seatbelt": ("belted", "none"),
    "frontal": ("notfrontal", "frontal"),
    "sex": ("f", "m"),
    "airbag": ("airbag", "none"),
    "occRole": ("driver", "pass"),
}
"""The model's factor levels (the CSV's values; frontal relabelled as the recipe says)."""


def r_missing_reason() -> str | None:
    """Why the R tests cannot run here, or None."""
    if shutil.which("Rscript") is None:
        return "Rscript is not installed (scripts/test installs r-base-core from Debian)"
    probe = subprocess.run(
        ["Rscript", "-e", "library(jsonlite)"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return "the R package jsonlite is missing (Debian: r-cran-jsonlite)"
    return None


R_MISSING = r_missing_reason()


def csv_levels() -> dict[str, set[str]]:
    """Each factor's values as the seed's CSV has them."""
    levels: dict[str, set[str]] = {name: set() for name in FACTORS}
    with DATA.open(newline="") as handle:
        for row in csv.DictReader(handle):
            for name in FACTORS:
                value = row[name]
                if name == "frontal":
                    value = {"0": "notfrontal", "1": "frontal"}.get(value, value)
                levels[name].add(value)
    return levels


def exported_coefficients(model_file: Path) -> dict[str, float]:
    """The glm's coefficients, read by a separate Rscript call."""
    run = subprocess.run(
        [
            "Rscript",
            "-e",
            "m <- readRDS(commandArgs(TRUE)[1]);"
            "cat(jsonlite::toJSON(as.list(coef(m)), digits = NA, auto_unbox = TRUE))",
            str(model_file),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    coefficients: dict[str, float] = json.loads(run.stdout)
    return coefficients


def logistic_percent(coefficients: dict[str, float], record: dict[str, object]) -> float:
    """P(dead) * 100 from treatment-coded coefficients, computed without R.

    Every coefficient must be the intercept, a numeric column, or ``<factor><level>`` for a known
    level, so a renamed term cannot silently count as zero.
    """
    eta = 0.0
    for name, beta in coefficients.items():
        if name == "(Intercept)":
            eta += beta
        elif name in NUMERIC:
            value = record[name]
            assert isinstance(value, int | float)
            eta += beta * value
        else:
            (factor,) = [
                f
                for f, levels in FACTORS.items()
                if name.startswith(f) and name[len(f) :] in levels
            ]
            eta += beta * (record[factor] == name[len(factor) :])
    return 100 / (1 + math.exp(-eta))
