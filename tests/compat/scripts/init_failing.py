"""A script whose init() fails: neither server may come up healthy."""


def init() -> None:
    raise RuntimeError("model file is corrupt")


def run(raw_data: str) -> str:
    return raw_data
