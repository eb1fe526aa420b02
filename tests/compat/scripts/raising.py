"""A script whose run() raises: a 500 without the traceback in the body."""


def init() -> None:
    pass


def run(raw_data: str) -> str:
    raise ValueError("the secret internals of the model are broken")
