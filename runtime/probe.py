"""``python3 -m mlws.runtime.probe [PATH]``: the image's health check, with no curl in the image.

GETs ``http://127.0.0.1:$MLWS_PORT/ready`` (or ``PATH``, e.g. ``/live``) and exits 0 on 200, 1
otherwise, printing one line on failure (Docker keeps it in ``docker inspect``'s health log).
Standard library only, so a probe every few seconds costs little.
"""

import os
import sys
import urllib.error
import urllib.request

PORT_VARIABLE = "MLWS_PORT"
"""The runtime's port setting (``env_var_name("port")``; a test keeps them equal)."""
DEFAULT_PORT = 8890
"""The runtime's default port (``RuntimeSettings.port``; a test keeps them equal)."""
TIMEOUT_SECONDS = 3.0
"""How long one probe waits for an answer."""


def probe(path: str = "/ready", port: int | None = None, timeout: float = TIMEOUT_SECONDS) -> str:
    """``""`` when ``GET path`` answers 200 on the local port, else what went wrong."""
    if port is None:
        port = int(os.environ.get(PORT_VARIABLE) or DEFAULT_PORT)
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:
        return f"{url}: {error}"
    return "" if status == 200 else f"{url}: HTTP {status}"


def main(argv: list[str]) -> int:
    """Probe ``argv[0]`` (default ``/ready``); 0 when healthy."""
    path = argv[0] if argv else "/ready"
    if not path.startswith("/"):
        print(f"probe: the path must start with '/', got {path!r}", file=sys.stderr)
        return 2
    problem = probe(path)
    if problem:
        print(f"unhealthy: {problem}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
