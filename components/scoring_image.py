"""``ScoringImage``: build the scoring image of an entry script and its models, and push it.

The build context is assembled at preview and update time in ``build_dir`` (see
:mod:`mlws.components.build_context`); its content digest is the image tag, so unchanged inputs
give the same image name and Pulumi shows no diff, and any change (model bytes or version, script,
dependencies, runtime) gives a new tag and a new image. Pushed images are referenced by digest
(``repo@sha256:...``), so every workload that runs :attr:`ScoringImage.image_ref` changes with it
and only with it.
"""

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import pulumi
import pulumi_docker as docker
from pydantic import Field, model_validator

from mlws.components._package import type_token
from mlws.components.build_context import (
    BuildContext,
    ca_certificate_name,
    foreign_folder,
    plan_context,
    write_context,
)
from mlws.components.dockerfile import DIGEST_PATTERN
from mlws.components.errors import ConfigError, Problem, Problems, parse_config
from mlws.components.inference_config import (
    InferenceConfig,
    InferenceConfigArgs,
    Model,
    ModelArgs,
    models_problems,
)

_REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")


class ScoringImageArgs(InferenceConfigArgs, total=False):
    """Inputs of :class:`ScoringImage`: the inference config's fields, the models and where to
    push."""

    models: list[ModelArgs]
    """Models baked into the image under ``AZUREML_MODEL_DIR`` (none: the script needs no model)."""
    repository: str
    """Image repository, e.g. ``accidents`` (default: the component name, lowercased)."""
    registry_server: pulumi.Input[str]
    """Registry host to push to, e.g. ``myacr.azurecr.io`` (none: a local image, not pushed)."""
    registry_username: pulumi.Input[str]
    """Registry user name (none: the Docker engine's stored login)."""
    registry_password: pulumi.Input[str]
    """Registry password or token (kept secret)."""
    push: bool
    """Push the image (default: whether ``registry_server`` is set)."""
    platform: str
    """Target platform (default: ``linux/amd64`` when pushed, as ACI/AKS run; else the host's)."""
    build_dir: str
    """Folder the build context is assembled in (default ``.mlws/build/<name>``)."""
    ca_certificates: list[str]
    """Extra CA certificates (PEM files) the image trusts from its first build step on, e.g. a
    TLS-inspecting proxy's; pip, requests and OpenSSL are pointed at the system bundle."""
    base_image_digest: str
    """Pin the base image to this digest, ``sha256:...`` (``FROM image@sha256:...``)."""


#: Args that are resource references rather than settings.
REFERENCES = frozenset({"registry_server", "registry_username", "registry_password"})


def default_repository(name: str) -> str:
    """A valid repository name derived from a component name (``My_Model`` -> ``my-model``)."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return cleaned or "scoring-image"


def image_name(server: str | None, repository: str, tag: str) -> str:
    """The tagged image name: ``[server/]repository:tag``."""
    return f"{server}/{repository}:{tag}" if server else f"{repository}:{tag}"


def digest_of(repo_digest: str) -> str:
    """``sha256:...`` out of a pushed image's ``repo@sha256:...`` reference."""
    return repo_digest.rpartition("@")[2]


def default_build_dir(name: str) -> str:
    """``.mlws/build/<name>``, with a component name made safe as one folder name."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", name).lstrip(".")
    if safe != name or not safe:
        safe = f"{safe or 'image'}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return str(Path(".mlws") / "build" / safe)


class ScoringImageSpec(InferenceConfig):
    """Validated :class:`ScoringImageArgs` (settings only; registry references stay Inputs)."""

    models: tuple[Model, ...] = Field(default=(), description="Models in the image.")
    repository: str = Field(description="Image repository.")
    push: bool = Field(default=False, description="Push to the registry.")
    platform: str | None = Field(default=None, description="Target platform.")
    build_dir: Path = Field(description="Build context folder.")
    ca_certificates: tuple[Path, ...] = Field(default=(), description="Extra CA certificates.")
    base_image_digest: str | None = Field(
        default=None, pattern=DIGEST_PATTERN, description="Base image digest (sha256:...)."
    )

    @classmethod
    def contradictions(cls, raw: Mapping[str, Any]) -> list[Problem]:
        """The inference config's problems plus the image's own."""
        problems = InferenceConfig.contradictions(raw)
        repository = raw.get("repository")
        if isinstance(repository, str) and (
            not _REPOSITORY.fullmatch(repository) or len(repository) > 255
        ):
            problems.append(
                Problem("repository", "use lowercase letters, digits, '.', '_', '-' and '/'")
            )
        platform = raw.get("platform")
        if isinstance(platform, str) and not _PLATFORM.fullmatch(platform):
            problems.append(Problem("platform", "must look like 'linux/amd64'"))
        problems += ca_certificate_problems(raw.get("ca_certificates"))
        base = raw.get("base_image")
        if raw.get("base_image_digest") is not None and isinstance(base, str) and "@" in base:
            problems.append(
                Problem("base_image_digest", "base_image already names a digest: give it once")
            )
        build_dir = raw.get("build_dir")
        if isinstance(build_dir, str | Path):
            build = Path(build_dir).resolve()
            source = raw.get("source_directory", ".")
            if isinstance(source, str | Path) and Path(source).resolve().is_relative_to(build):
                problems.append(
                    Problem("build_dir", "must not contain source_directory (it is rewritten)")
                )
            elif foreign_folder(build):
                problems.append(
                    Problem("build_dir", f"{str(build_dir)!r} is not empty and not mlws's folder")
                )
        return problems

    @model_validator(mode="after")
    def _models_unique(self) -> Self:
        problems = Problems()
        for problem in models_problems(list(self.models)):
            problems.add(problem.field, problem.message)
        problems.raise_if_any()
        return self

    @property
    def target_platform(self) -> str | None:
        """The build platform: explicit, ``linux/amd64`` for pushed images, else the host's."""
        return self.platform or ("linux/amd64" if self.push else None)

    @property
    def inference_config(self) -> InferenceConfig:
        """The inference-config part alone."""
        return InferenceConfig(**{k: getattr(self, k) for k in InferenceConfig.model_fields})

    def plan(self) -> BuildContext:
        """The build context (pure apart from reading the inputs)."""
        return plan_context(
            self.inference_config,
            self.models,
            exclude=self.build_dir.resolve(),
            ca_certificates=self.ca_certificates,
            base_image_digest=self.base_image_digest,
        )


_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def ca_certificate_problems(paths: object) -> list[Problem]:
    """CA certificate paths that are not PEM certificate files, or that would share a name."""
    if not isinstance(paths, list | tuple):
        return []
    problems = []
    names: dict[str, int] = {}
    for index, path in enumerate(paths):
        if not isinstance(path, str | Path):
            continue
        where = f"ca_certificates[{index}]"
        file = Path(path)
        try:
            pem = _PEM_CERTIFICATE in file.read_bytes()
        except OSError as error:
            problems.append(Problem(where, f"cannot read {str(path)!r}: {error.strerror}"))
            continue
        if not pem:
            problems.append(Problem(where, f"{str(path)!r} holds no PEM certificate"))
        name = ca_certificate_name(file)
        if name in names:
            problems.append(
                Problem(where, f"same file name {name!r} as ca_certificates[{names[name]}]")
            )
        names.setdefault(name, index)
    return problems


def reference_problems(args: ScoringImageArgs) -> list[Problem]:
    """Registry references that do not fit together (presence only: values may be unknown)."""
    problems = []
    has = {k: args.get(k) is not None for k in REFERENCES}
    if has["registry_username"] != has["registry_password"]:
        problems.append(
            Problem("registry_password", "registry_username and registry_password go together")
        )
    if (has["registry_username"] or args.get("push")) and not has["registry_server"]:
        problems.append(Problem("registry_server", "required to push or log in"))
    return problems


def parse_scoring_image(name: str, args: ScoringImageArgs) -> ScoringImageSpec:
    """Validate ``args``; all problems at once as :class:`~mlws.components.errors.ConfigError`."""
    return parse_config(
        ScoringImageSpec,
        args,
        subject=f"ScoringImage {name!r}",
        references=REFERENCES,
        defaults={
            "repository": default_repository(name),
            "push": args.get("registry_server") is not None,
            "build_dir": default_build_dir(name),
        },
        problems=reference_problems(args),
    )


class ScoringImage(pulumi.ComponentResource):
    """A scoring image: entry script, models and the mlws runtime, tagged by content, pushed."""

    SECRET_PROPERTIES = frozenset({"registry_password"})
    """Inputs and outputs the plugin's schema marks secret (declared, not guessed from names)."""

    image_ref: pulumi.Output[str]
    """What to run: ``repo@sha256:...`` when pushed, else the content-tagged ``repo:tag``."""
    image_name: pulumi.Output[str]
    """The tagged name, ``[registry/]repository:tag``."""
    tag: pulumi.Output[str]
    """The tag: a hash of everything that goes into the image."""
    digest: pulumi.Output[str]
    """``sha256:...`` of the pushed image (the tag when not pushed)."""

    def __init__(
        self, name: str, args: ScoringImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        spec = parse_scoring_image(name, args)
        context = spec.plan()
        try:
            write_context(context, spec.build_dir)
        except OSError as error:
            raise ConfigError(
                f"ScoringImage {name!r}",
                [Problem("build_dir", f"cannot write {str(spec.build_dir)!r}: {error.strerror}")],
            ) from None
        super().__init__(type_token("ScoringImage"), name, None, opts)

        server = args.get("registry_server")
        name_input: pulumi.Input[str] = image_name(None, spec.repository, context.tag)
        if server is not None:
            name_input = pulumi.Output.from_input(server).apply(
                lambda host: image_name(host, spec.repository, context.tag)
            )
        registry = None
        if server is not None:
            registry = docker.RegistryArgs(
                server=server,
                username=args.get("registry_username"),
                password=(
                    pulumi.Output.secret(args["registry_password"])
                    if args.get("registry_password") is not None
                    else None
                ),
            )
        image = docker.Image(
            f"{name}-image",
            image_name=name_input,
            build=docker.DockerBuildArgs(
                context=str(spec.build_dir), platform=spec.target_platform
            ),
            registry=registry,
            skip_push=not spec.push,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.image_name = image.image_name
        self.tag = pulumi.Output.from_input(context.tag)
        if spec.push:
            self.image_ref = image.repo_digest
            self.digest = image.repo_digest.apply(digest_of)
        else:
            self.image_ref = image.image_name
            self.digest = self.tag
        self.register_outputs(
            {
                "image_ref": self.image_ref,
                "image_name": self.image_name,
                "tag": self.tag,
                "digest": self.digest,
            }
        )

    @property
    def ref(self) -> pulumi.Output[str]:
        """Alias of :attr:`image_ref`."""
        return self.image_ref
