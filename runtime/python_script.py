"""Python entry scripts, as Azure ML writes them.

The contract (the same as azmlinfsrv's, checked by the compatibility suite):

* the module defines ``init()``, run once before the first request, and ``run(raw_data)``, run per
  request with the request body as a ``str``; the return value is JSON-serialised (a ``str`` return
  value becomes a JSON string, as azmlinfsrv does);
* or ``init()`` returns the predict callable and the module has no ``run`` (the seed's contract);
* ``run`` decorated with ``inference_schema``'s ``@input_schema``/``@output_schema`` gets the parsed
  JSON body's members as keyword arguments, converted by the decorators, and its schemas go into
  ``/swagger.json``;
* ``run`` may take a ``request_headers`` argument (a dict of the request headers, minus
  ``Authorization``);
* ``run`` decorated with ``@rawhttp`` (``azureml.contrib.services.aml_request``) gets the whole
  request as an ``AMLRequest``, also for ``OPTIONS``; any ``run`` may return an ``AMLResponse`` (or
  another werkzeug/Flask response), sent with its own status, headers and body
  (:mod:`mlws.runtime.raw_http`);
* ``AZUREML_MODEL_DIR``, ``AML_APP_ROOT`` and ``AZUREML_ENTRY_SCRIPT`` are set in ``os.environ``
  and the source directory is on ``sys.path`` before the module is imported.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

from mlws.runtime import azureml_modules, raw_http
from mlws.runtime.entry_script import (
    EntryScript,
    EntryScriptError,
    ScoreInputError,
    ScoreOutputError,
    ScoreRequest,
    ScoreResult,
)
from mlws.runtime.request_checks import (
    NOT_JSON_CONTENT_TYPE_MESSAGE,
    is_form_content_type,
    is_json_content_type,
    parse_json_object,
)
from mlws.runtime.settings import RuntimeSettings, unset_variable_hint

__all__ = ["PythonEntryScript", "encode_output", "is_json_content_type", "parse_json_object"]

logger = logging.getLogger("mlws.runtime")

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_module_counter = itertools.count()
_ALL_VERSIONS = frozenset({"2.0", "3.0", "3.1"})


def _describe(exc: BaseException, folder: Path) -> str:
    """What went wrong and on which line of the script (a file under ``folder``); an unset
    runtime variable (``os.environ["AZUREML_MODEL_DIR"]`` without a model folder) says what
    sets it."""
    cause = f"{type(exc).__name__}: {exc}"
    name = exc.args[0] if isinstance(exc, KeyError) and exc.args else None
    if isinstance(name, str) and name not in os.environ:
        hint = unset_variable_hint(name)
        if hint is not None:
            cause = f"KeyError: {hint}"
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if Path(frame.filename).resolve().is_relative_to(folder)
    ]
    if not frames:
        return cause
    where = Path(frames[-1].filename).resolve().relative_to(folder)
    return f"{cause} (at {where}:{frames[-1].lineno})"


def _script_traceback(exc: BaseException, folder: Path) -> str:
    """The traceback from the script's first frame on (the runtime's own frames dropped)."""
    tb = exc.__traceback__
    while tb is not None and not Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(
        folder
    ):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))


def _is_schema_decorated(func: Callable[..., Any]) -> bool:
    try:
        from inference_schema.schema_util import is_schema_decorated
    except ImportError:
        return False
    return bool(is_schema_decorated(func))


def werkzeug_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers as azmlinfsrv hands them to ``run()``: werkzeug's spelling (``Content-Type``)."""
    return {name.title(): value for name, value in headers.items()}


def encode_output(value: Any) -> bytes:
    """Serialise what ``run()`` returned as the JSON response body.

    Like azmlinfsrv's ``json.dumps(value)``, plus numpy arrays and scalars (azmlinfsrv rejects
    them).
    """
    return orjson.dumps(value, option=_JSON_OPTIONS)


class PythonEntryScript(EntryScript):
    """A ``.py`` entry script with Azure ML's ``init()``/``run()`` contract."""

    def __init__(self, settings: RuntimeSettings) -> None:
        super().__init__(settings)
        self.path = settings.entry_script_path
        source = settings.source_directory.resolve()
        #: Where the script and its helpers live: failures are located by their lines here.
        self._folder = source if self.path.resolve().is_relative_to(source) else self.path.parent
        self.module: ModuleType | None = None
        self._predict: Callable[..., Any] | None = None
        self._call: Callable[[ScoreRequest], Any] | None = None
        self._params: list[inspect.Parameter] = []
        self.decorated = False
        self.takes_headers = False
        self.raw = False
        self._run_batch: Callable[[list[str]], Any] | None = None

    # -- start-up ------------------------------------------------------------------------------
    def init(self) -> None:
        """Import the script, run its ``init()``, and decide how requests reach its predict."""
        self._prepare_process()
        module = self._import()
        init = getattr(module, "init", None)
        if not callable(init):
            raise EntryScriptError(f"entry script {self.path} does not define an init() function")
        user_run = getattr(module, "run", None)
        driver = getattr(module, "driver_module", None)
        if isinstance(driver, ModuleType) and callable(getattr(driver, "run", None)):
            user_run = driver.run  # azmlinfsrv calls the real score script behind a driver module
        logger.info("running init() of %s", self.path)
        try:
            returned = init()
        except BaseException as exc:
            raise EntryScriptError(
                f"init() of {self.path} failed: {_describe(exc, self._folder)}",
                detail=_script_traceback(exc, self._folder),
            ) from exc
        if not callable(user_run):
            if not callable(returned):
                raise EntryScriptError(
                    f"entry script {self.path} defines no run() function and its init() "
                    "did not return a predict callable"
                )
            user_run = returned
        self._bind(user_run)
        run_batch = getattr(module, "run_batch", None)
        self._run_batch = run_batch if callable(run_batch) else None
        self.module = module
        logger.info("init() of %s finished", self.path)

    def _prepare_process(self) -> None:
        if not self.path.is_file():
            raise EntryScriptError(f"entry script {self.path} does not exist")
        if self.settings.model_dir is not None:
            os.environ["AZUREML_MODEL_DIR"] = str(self.settings.model_dir.resolve())
        # As azmlinfsrv: the app root and the entry script's real path, for scripts that read them.
        os.environ["AML_APP_ROOT"] = str(self.settings.source_directory.resolve())
        os.environ["AZUREML_ENTRY_SCRIPT"] = os.path.realpath(self.path)
        azureml_modules.install()  # AMLRequest, rawhttp, AMLResponse unless really installed
        source = str(self.settings.source_directory.resolve())
        if source not in sys.path:
            sys.path.append(source)
        script_dir = str(self.path.parent)
        if script_dir not in sys.path:
            sys.path.append(script_dir)

    def _import(self) -> ModuleType:
        name = f"mlws_entry_{next(_module_counter)}"
        spec = importlib.util.spec_from_file_location(name, self.path)
        if spec is None or spec.loader is None:
            raise EntryScriptError(f"cannot import entry script {self.path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            sys.modules.pop(name, None)
            raise EntryScriptError(
                f"importing {self.path} failed: {_describe(exc, self._folder)}",
                detail=_script_traceback(exc, self._folder),
            ) from exc
        return module

    def _bind(self, user_run: Callable[..., Any]) -> None:
        try:
            params = list(inspect.signature(user_run).parameters.values())
        except (TypeError, ValueError):  # builtins, some C callables: one positional argument
            params = [inspect.Parameter("data", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        ok_kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        if any(p.kind not in ok_kinds for p in params):
            raise EntryScriptError(
                "run() cannot accept positional-only arguments, *args, or **kwargs."
            )
        self.takes_headers = any(p.name == "request_headers" for p in params)
        params = [p for p in params if p.name != "request_headers"]
        if not params:
            raise EntryScriptError("run() needs to accept an argument for input data.")
        self._predict = user_run
        self._params = params
        self.decorated = _is_schema_decorated(user_run)
        self.raw = raw_http.takes_raw_request(user_run)
        if self.raw and self.decorated:
            raise EntryScriptError("run() cannot be decorated with both @rawhttp and @input_schema")
        if self.raw:
            self._call = self._call_raw_http
        else:
            self._call = self._call_decorated if self.decorated else self._call_raw

    @property
    def expects_json_object(self) -> bool:
        """Decorated scripts take the members of a JSON object as arguments."""
        return self.decorated

    # -- per request -----------------------------------------------------------------------------
    def score(self, request: ScoreRequest) -> ScoreResult:
        """Call the script's predict function and serialise its answer."""
        call = self._call
        if call is None:
            raise RuntimeError("score() called before init() succeeded")
        return _result(call(request), "run()")

    @property
    def takes_raw_requests(self) -> bool:
        """True when ``run`` is decorated with ``@rawhttp``."""
        return self.raw

    @property
    def supports_batch(self) -> bool:
        """True when the module defines ``run_batch(list_of_raw_data) -> list`` (and ``run`` takes
        bodies, not raw requests)."""
        return self._run_batch is not None and not self.raw

    def score_batch(
        self, requests: list[ScoreRequest]
    ) -> Sequence[ScoreResult | BaseException] | None:
        """Call ``run_batch`` with the raw bodies of ``requests``; one outcome per request.

        A body that is not UTF-8 fails alone (400); an item of the returned list that is an
        exception fails its request alone; a list of the wrong length fails the batch.
        """
        run_batch = self._run_batch
        if run_batch is None:
            return None
        outcomes: list[ScoreResult | BaseException | None] = [None] * len(requests)
        raw: list[str] = []
        positions: list[int] = []
        for i, request in enumerate(requests):
            try:
                raw.append(request.body.decode("utf-8"))
                positions.append(i)
            except UnicodeDecodeError as exc:
                outcomes[i] = ScoreInputError(f"Input cannot be decoded as UTF-8: {exc}")
        if raw:
            answers = list(run_batch(raw))
            if len(answers) != len(raw):
                raise ScoreOutputError(
                    f"run_batch() returned {len(answers)} results for {len(raw)} requests"
                )
            for i, answer in zip(positions, answers, strict=True):
                try:
                    outcomes[i] = (
                        answer
                        if isinstance(answer, BaseException)
                        else _result(answer, "run_batch()")
                    )
                except ScoreOutputError as exc:
                    outcomes[i] = exc
        finished: list[ScoreResult | BaseException] = []
        for outcome in outcomes:
            assert outcome is not None  # every position was answered above
            finished.append(outcome)
        return finished

    def _call_raw(self, request: ScoreRequest) -> Any:
        body = b"" if is_form_content_type(request.headers.get("content-type")) else request.body
        try:
            raw = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScoreInputError(f"Input cannot be decoded as UTF-8: {exc}") from None
        assert self._predict is not None
        if self.takes_headers:
            return self._predict(raw, request_headers=werkzeug_headers(request.headers))
        return self._predict(raw)

    def _call_raw_http(self, request: ScoreRequest) -> Any:
        assert self._predict is not None
        kwargs: dict[str, Any] = {self._params[0].name: raw_http.build_request(request)}
        if self.takes_headers:
            kwargs["request_headers"] = werkzeug_headers(request.headers)
        return self._predict(**kwargs)

    def _call_decorated(self, request: ScoreRequest) -> Any:
        if request.method == "POST" and not is_json_content_type(
            request.headers.get("content-type")
        ):
            raise ScoreInputError(NOT_JSON_CONTENT_TYPE_MESSAGE, status=415)
        body = parse_json_object(request.body)
        kwargs: dict[str, Any] = {}
        for param in self._params:
            value = body.get(param.name, param.default)
            if value is inspect.Parameter.empty:
                raise ScoreInputError(f"A value is not provided for the {param.name!r} parameter.")
            kwargs[param.name] = value
        assert self._predict is not None
        if self.takes_headers:
            kwargs["request_headers"] = werkzeug_headers(request.headers)
        return self._predict(**kwargs)

    # -- schemas ---------------------------------------------------------------------------------
    def openapi_schemas(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The ``inference_schema`` input and output schemas of a decorated ``run``."""
        if not self.decorated or self._predict is None:
            return None, None
        from inference_schema.schema_util import get_input_schema, get_output_schema

        return get_input_schema(self._predict), get_output_schema(self._predict)

    def openapi_versions(self) -> frozenset[str]:
        """Versions ``inference_schema`` can express the schemas in (all when undecorated)."""
        if self._predict is None:
            return _ALL_VERSIONS
        try:
            from inference_schema.schema_util import get_supported_versions
        except ImportError:
            return _ALL_VERSIONS
        return frozenset(get_supported_versions(self._predict))


def _result(output: Any, source: str) -> ScoreResult:
    """Turn what the script returned into the response (azmlinfsrv's rules, plus numpy)."""
    if isinstance(output, ScoreResult):
        return output
    if raw_http.is_response(output):  # AMLResponse, Flask's: sent as it is
        return raw_http.response_result(output)
    if output is None:  # azmlinfsrv answers {} for None
        return ScoreResult(body=b"{}")
    try:
        return ScoreResult(body=encode_output(output))
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        try:  # what orjson refuses but json.dumps writes (integers over 64 bits): azmlinfsrv's way
            return ScoreResult(body=json.dumps(output).encode())
        except (TypeError, ValueError):
            raise ScoreOutputError(
                f"{source} returned a value that is not JSON-serialisable: {exc}"
            ) from exc
