"""The guardrails as pure checks on resource inputs: each returns the violation messages it finds.

No Pulumi here: a check takes a resource's type token, name and inputs (camelCase, as the engine
and ``mlws render`` show them) and returns one message per violation, naming the resource and the
field. :mod:`mlws_guardrails.policies` wraps each check into a ``pulumi_policy`` policy. Defaults
and limits come from the components (one home each), never re-typed here.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlws.components._package import type_token
from mlws.components.aks_cluster_spec import CHECKOV_SKIP_ANNOTATION
from mlws.components.aks_endpoint_manifests import ENDPOINT_LABEL
from mlws.components.deployment_config import (
    GPU_LABEL,
    GPU_TAINT,
    SECRET_SETTINGS,
    AciDeploymentConfig,
    parse_label,
    parse_taint,
)
from mlws.components.k8s_pod import GPU_RESOURCE
from mlws.render.model import SECRET, UNKNOWN
from mlws.runtime.settings import RuntimeSettings, env_var_name

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
K8S_SECRET = "kubernetes:core/v1:Secret"  # noqa: S105 - a type token
CONTAINER_GROUP = "azure-native:containerinstance:ContainerGroup"
HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
#: The mlws provider plugin's ``mlws serve`` process (provider/local_process_resource.py).
LOCAL_PROCESS = type_token("LocalProcessService")
#: Kubernetes workloads whose pod template the hardening baseline checks.
WORKLOADS = (DEPLOYMENT, DAEMON_SET)

#: Stack names treated as production unless configured otherwise (``fnmatch`` patterns).
DEFAULT_PRODUCTION_STACKS: tuple[str, ...] = ("prod*",)
#: The variable whose presence marks a container as an mlws scoring container.
AUTH_MODE_ENV = env_var_name("auth_mode")
#: The auth mode a service runs with when its inputs leave it out.
DEFAULT_AUTH_MODE = RuntimeSettings.model_fields["auth_mode"].get_default()
#: Auth modes that authenticate callers.
AUTHENTICATED_MODES = frozenset({"key", "token"})
#: Environment variables that would carry a key or token secret's value.
SECRET_ENV_NAMES = frozenset(env_var_name(setting) for setting in SECRET_SETTINGS)
#: The checkov checks whose reasoned skips (``checkov.io/skipN: CHECK=reason`` annotations, as
#: the components write them for what a workload must be allowed) exempt a part of a rule.
RUNS_AS_ROOT_CHECK = "CKV_K8S_23"
IMAGE_DIGEST_CHECK = "CKV_K8S_43"
#: Fewest replicas a production AKS endpoint runs.
MIN_PRODUCTION_REPLICAS = 2


@dataclass(frozen=True)
class Resource:
    """One resource as a stack-wide check sees it."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]


def stack_of(urn: str) -> str:
    """The stack name in a URN ``urn:pulumi:<stack>::<project>::<type>::<name>``."""
    return urn.removeprefix("urn:pulumi:").split("::", 1)[0]


def is_production(stack: str, patterns: Collection[str] = DEFAULT_PRODUCTION_STACKS) -> bool:
    """Whether ``stack`` matches one of the production stack-name ``patterns``."""
    return any(fnmatch.fnmatchcase(stack, pattern) for pattern in patterns)


def _known(value: Any) -> bool:
    return value is not None and value != UNKNOWN


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else []


def _label(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def pod_spec(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod spec of a Deployment or DaemonSet's inputs."""
    return _map(_map(_map(props.get("spec")).get("template")).get("spec"))


def k8s_containers(props: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(field path, container)`` for every container and init container of a workload."""
    spec = pod_spec(props)
    for field in ("initContainers", "containers"):
        for index, container in enumerate(_list(spec.get(field))):
            yield f"spec.template.spec.{field}[{index}]", _map(container)


def aci_containers(props: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(field path, container)`` for every container of an ACI container group."""
    for index, container in enumerate(_list(props.get("containers"))):
        yield f"containers[{index}]", _map(container)


def _env(container: Mapping[str, Any], resource_type: str) -> list[Mapping[str, Any]]:
    field = "environmentVariables" if resource_type == CONTAINER_GROUP else "env"
    return [_map(entry) for entry in _list(container.get(field))]


def _containers(resource_type: str, props: Mapping[str, Any]) -> list[tuple[str, Any]]:
    if resource_type == CONTAINER_GROUP:
        return list(aci_containers(props))
    if resource_type in WORKLOADS:
        return list(k8s_containers(props))
    return []


def skipped_checks(props: Mapping[str, Any]) -> dict[str, str]:
    """``{check: reason}`` of the checkov skip annotations on a resource (reason required)."""
    annotations = _map(_map(props.get("metadata")).get("annotations"))
    skips: dict[str, str] = {}
    for key, value in annotations.items():
        if str(key).startswith(CHECKOV_SKIP_ANNOTATION) and isinstance(value, str):
            check, _, reason = value.partition("=")
            if reason.strip():
                skips[check.strip()] = reason.strip()
    return skips


def _scoring_auth_mode(container: Mapping[str, Any], resource_type: str) -> Any:
    for entry in _env(container, resource_type):
        if entry.get("name") == AUTH_MODE_ENV:
            return entry.get("value", entry.get("secureValue"))
    return None


def is_mlws_workload(resource_type: str, props: Mapping[str, Any]) -> bool:
    """Whether a workload or container group runs an mlws scoring container (it has the auth
    mode variable every mlws web service sets)."""
    return any(
        _scoring_auth_mode(container, resource_type) is not None
        for _, container in _containers(resource_type, props)
    )


def check_auth(resource_type: str, name: str, props: Mapping[str, Any]) -> list[str]:
    """Every mlws scoring container, and the mlws plugin's LocalProcessService, authenticates
    callers (key or token auth)."""
    if resource_type == LOCAL_PROCESS:
        mode = props.get("authMode", DEFAULT_AUTH_MODE)
        if _known(mode) and mode not in AUTHENTICATED_MODES:
            return [
                f"LocalProcessService {name!r}: authMode is {mode!r}; a production service "
                "needs key or token auth (authMode 'key' with primaryKey, or 'token' with "
                "tokenSecret)"
            ]
        return []
    problems = []
    for path, container in _containers(resource_type, props):
        mode = _scoring_auth_mode(container, resource_type)
        if _known(mode) and mode not in AUTHENTICATED_MODES:
            problems.append(
                f"{_label(resource_type)} {name!r}: {path} runs with {AUTH_MODE_ENV}={mode!r}; "
                "a production service needs key or token auth (auth_enabled or "
                "token_auth_enabled)"
            )
    return problems


def check_image_digest(resource_type: str, name: str, props: Mapping[str, Any]) -> list[str]:
    """Every container image is pinned by digest (``@sha256:``), never a mutable tag (unless a
    reasoned skip of checkov's digest check says why not)."""
    if IMAGE_DIGEST_CHECK in skipped_checks(props):
        return []
    problems = []
    for path, container in _containers(resource_type, props):
        image = container.get("image")
        if isinstance(image, str) and image != UNKNOWN and "@sha256:" not in image:
            problems.append(
                f"{_label(resource_type)} {name!r}: {path}.image {image!r} is a mutable tag; "
                "production runs images by digest (name@sha256:...)"
            )
    return problems


def _requests_gpu(container: Mapping[str, Any]) -> bool:
    resources = _map(container.get("resources"))
    return any(GPU_RESOURCE in _map(resources.get(kind)) for kind in ("limits", "requests"))


def check_gpu_placement(
    resource_type: str,
    name: str,
    props: Mapping[str, Any],
    *,
    taint: str = GPU_TAINT,
    label: str = GPU_LABEL,
) -> list[str]:
    """Pods asking for GPUs tolerate the GPU pool's ``taint`` and select its node ``label``."""
    if resource_type not in WORKLOADS:
        return []
    if not any(_requests_gpu(container) for _, container in k8s_containers(props)):
        return []
    spec = pod_spec(props)
    key, value, effect = parse_taint(taint)
    problems = []
    tolerated = any(
        _map(t).get("key") == key
        and _map(t).get("effect") in (effect, None, "")
        and (
            _map(t).get("operator") == "Exists"
            or (_map(t).get("value") == value and _map(t).get("operator") in ("Equal", None))
        )
        for t in _list(spec.get("tolerations"))
    )
    if not tolerated:
        problems.append(
            f"{_label(resource_type)} {name!r}: spec.template.spec.tolerations lacks the GPU "
            f"pool's taint {taint!r}; its GPU pods would never schedule there"
        )
    label_key, label_value = parse_label(label)
    if _map(spec.get("nodeSelector")).get(label_key) != label_value:
        problems.append(
            f"{_label(resource_type)} {name!r}: spec.template.spec.nodeSelector does not select "
            f"the GPU pool's label {label!r}"
        )
    return problems


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def check_aci_limits(resource_type: str, name: str, props: Mapping[str, Any]) -> list[str]:
    """An ACI container group's containers ask, together, for less than 48 GB and at most the
    cores one group gets (the limits of :class:`AciDeploymentConfig`)."""
    if resource_type != CONTAINER_GROUP:
        return []
    memory = cpu = 0.0
    for _, container in aci_containers(props):
        requests = _map(_map(container.get("resources")).get("requests"))
        memory += _number(requests.get("memoryInGB"))
        cpu += _number(requests.get("cpu"))
    problems = []
    if memory >= AciDeploymentConfig.MAX_MEMORY_GB:
        problems.append(
            f"ContainerGroup {name!r}: containers[*].resources.requests.memoryInGB total "
            f"{memory:g} GB; Azure Container Instances needs less than "
            f"{AciDeploymentConfig.MAX_MEMORY_GB:g} GB"
        )
    if cpu > AciDeploymentConfig.MAX_CPU_CORES + 1e-9:
        problems.append(
            f"ContainerGroup {name!r}: containers[*].resources.requests.cpu total {cpu:g} cores; "
            f"Azure Container Instances allows at most {AciDeploymentConfig.MAX_CPU_CORES:g}"
        )
    return problems


def _plaintext(value: Any) -> bool:
    """Whether a value the inputs show is visibly not a secret (render marks secrets)."""
    return _known(value) and value != SECRET


def check_secrets(
    resource_type: str,
    name: str,
    props: Mapping[str, Any],
    *,
    secret_outputs: Collection[str] = (),
    inputs_show_secrets: bool = False,
) -> list[str]:
    """Keys, token secrets and registry passwords travel only as secrets.

    Always: no key or token secret as a literal environment value (Kubernetes ``env[].value``,
    ACI ``environmentVariables[].value``; ACI's ``secureValue`` is fine), and a Kubernetes Secret
    marks ``data``/``stringData`` as secret outputs (``secret_outputs``). With
    ``inputs_show_secrets`` (inputs where secrets are visible as ``[secret]``, as ``mlws render``
    shows them): registry passwords, ACI secret volume files and Secret data must be secrets.
    """
    label = _label(resource_type)
    problems = []
    for path, container in _containers(resource_type, props):
        for index, entry in enumerate(_env(container, resource_type)):
            if entry.get("name") in SECRET_ENV_NAMES and entry.get("value") is not None:
                field = "environmentVariables" if resource_type == CONTAINER_GROUP else "env"
                problems.append(
                    f"{label} {name!r}: {path}.{field}[{index}] puts {entry.get('name')} in "
                    "plain text; mount the key as a secret file instead"
                )
    if resource_type == K8S_SECRET:
        fields = [field for field in ("data", "stringData") if field in props]
        for field in fields:
            shown_plain = inputs_show_secrets and _plaintext(props.get(field))
            if shown_plain or (not inputs_show_secrets and field not in secret_outputs):
                problems.append(
                    f"Secret {name!r}: {field} is not a Pulumi secret (use pulumi.Output.secret "
                    "or additional_secret_outputs)"
                )
    if resource_type == CONTAINER_GROUP and inputs_show_secrets:
        for index, credential in enumerate(_list(props.get("imageRegistryCredentials"))):
            if _plaintext(_map(credential).get("password")):
                problems.append(
                    f"ContainerGroup {name!r}: imageRegistryCredentials[{index}].password is not "
                    "a Pulumi secret"
                )
        for index, volume in enumerate(_list(props.get("volumes"))):
            files = _map(volume).get("secret")
            if files is not None and _plaintext(files):
                plain = [key for key, v in _map(files).items() if _plaintext(v)]
                if plain or not isinstance(files, Mapping):
                    problems.append(
                        f"ContainerGroup {name!r}: volumes[{index}].secret "
                        f"{', '.join(plain) or 'files'} not a Pulumi secret"
                    )
    return problems


def _secure(context: Mapping[str, Any], pod: Mapping[str, Any], key: str) -> Any:
    return context.get(key, pod.get(key))


def check_hardening(resource_type: str, name: str, props: Mapping[str, Any]) -> list[str]:
    """Every container of a Deployment or DaemonSet runs as non-root with a read-only root
    filesystem, no privilege escalation and every capability dropped (issue 15's baseline).

    ``runAsNonRoot`` is waived only by a reasoned skip of checkov's root check on the object.
    """
    if resource_type not in WORKLOADS:
        return []
    root_allowed = RUNS_AS_ROOT_CHECK in skipped_checks(props)
    pod = _map(pod_spec(props).get("securityContext"))
    problems = []
    for path, container in k8s_containers(props):
        context = _map(container.get("securityContext"))
        missing = []
        if not root_allowed and _secure(context, pod, "runAsNonRoot") is not True:
            missing.append("runAsNonRoot: true")
        if context.get("readOnlyRootFilesystem") is not True:
            missing.append("readOnlyRootFilesystem: true")
        if context.get("allowPrivilegeEscalation") is not False:
            missing.append("allowPrivilegeEscalation: false")
        drop = _list(_map(context.get("capabilities")).get("drop"))
        if "ALL" not in drop:
            missing.append("capabilities.drop: [ALL]")
        if missing:
            problems.append(
                f"{_label(resource_type)} {name!r}: {path}.securityContext needs "
                + ", ".join(missing)
            )
    return problems


def _namespace(props: Mapping[str, Any]) -> Any:
    return _map(props.get("metadata")).get("namespace", "default")


def _name_in_cluster(resource: Resource) -> Any:
    return _map(resource.props.get("metadata")).get("name", resource.name)


def check_availability(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """Each mlws Deployment runs at least two replicas (fixed, or the HPA's minimum) and has a
    PodDisruptionBudget selecting its pods. Returns ``(urn, message)`` pairs."""
    hpas = [r for r in resources if r.type == HPA]
    pdbs = [r for r in resources if r.type == PDB]
    problems: list[tuple[str, str]] = []
    for deployment in resources:
        if deployment.type != DEPLOYMENT or not is_mlws_workload(DEPLOYMENT, deployment.props):
            continue
        namespace = _namespace(deployment.props)
        spec = _map(deployment.props.get("spec"))
        scalers = [
            hpa
            for hpa in hpas
            if _namespace(hpa.props) == namespace
            and _map(_map(hpa.props.get("spec")).get("scaleTargetRef")).get("name")
            == _name_in_cluster(deployment)
        ]
        if "replicas" in spec or not scalers:
            replicas, field = spec.get("replicas", 1), "spec.replicas"
        else:
            replicas = _map(scalers[0].props.get("spec")).get("minReplicas", 1)
            field = f"the HorizontalPodAutoscaler {scalers[0].name!r}'s spec.minReplicas"
        if _known(replicas) and _number(replicas) < MIN_PRODUCTION_REPLICAS:
            problems.append(
                (
                    deployment.urn,
                    f"Deployment {deployment.name!r}: {field} is {replicas}; a production "
                    f"endpoint runs at least {MIN_PRODUCTION_REPLICAS} replicas",
                )
            )
        pod_labels = _map(_map(_map(spec.get("template")).get("metadata")).get("labels"))
        covered = any(
            _namespace(pdb.props) == namespace
            and (
                selector := _map(_map(_map(pdb.props.get("spec")).get("selector"))).get(
                    "matchLabels"
                )
            )
            and all(pod_labels.get(k) == v for k, v in _map(selector).items())
            for pdb in pdbs
        )
        if not covered:
            problems.append(
                (
                    deployment.urn,
                    f"Deployment {deployment.name!r}: no PodDisruptionBudget selects its pods "
                    "(spec.template.metadata.labels); a production endpoint needs one",
                )
            )
    return problems


def _is_mlws_route(resource_type: str, props: Mapping[str, Any]) -> bool:
    labels = _map(_map(props.get("metadata")).get("labels"))
    return resource_type == HTTP_ROUTE and ENDPOINT_LABEL in labels


def check_traffic(resource_type: str, name: str, props: Mapping[str, Any]) -> list[str]:
    """An mlws endpoint's HTTPRoute (``AksEndpoint``): every rule splitting traffic between
    several backends gives them weights summing to 100 (percent, as ``traffic`` is written), and
    a ``RequestMirror`` filter mirrors 1 to 100 percent to a backend with 0 live traffic."""
    if not _is_mlws_route(resource_type, props):
        return []
    problems: list[str] = []
    for index, rule in enumerate(_list(_map(props.get("spec")).get("rules"))):
        path = f"spec.rules[{index}]"
        backends = [_map(ref) for ref in _list(_map(rule).get("backendRefs"))]
        weights = [ref.get("weight", 1) for ref in backends]
        if len(backends) > 1 and all(_known(w) for w in weights):
            total = sum(_number(w) for w in weights)
            if total != 100:
                shown = ", ".join(
                    f"{ref.get('name')}: {w}" for ref, w in zip(backends, weights, strict=True)
                )
                problems.append(
                    f"HTTPRoute {name!r}: {path}.backendRefs weights sum to {total:g}, not 100 "
                    f"({shown}); traffic is split in percent"
                )
        live = {ref.get("name"): ref.get("weight", 1) for ref in backends}
        for number, item in enumerate(_list(_map(rule).get("filters"))):
            mirror = _map(_map(item).get("requestMirror"))
            if _map(item).get("type") != "RequestMirror" or not mirror:
                continue
            where = f"{path}.filters[{number}].requestMirror"
            target = _map(mirror.get("backendRef")).get("name")
            weight = live.get(target, 0)
            if _known(weight) and _number(weight) > 0:
                problems.append(
                    f"HTTPRoute {name!r}: {where} mirrors to {target!r}, which takes live "
                    f"traffic (weight {weight}); mirror only to a deployment with 0 live traffic"
                )
            percent = mirror.get("percent", 100)
            if _known(percent) and not 1 <= _number(percent) <= 100:
                problems.append(
                    f"HTTPRoute {name!r}: {where}.percent is {percent}; mirror 1 to 100 percent"
                )
    return problems
