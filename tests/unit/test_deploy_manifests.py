"""Offline checks of deploy/: the Dockerfile, Compose files and Kubernetes manifests.

Every YAML file parses; every ``archcolor`` invocation they contain (container commands, probes,
healthchecks, the entrypoint script, the commands in deploy/README.md) is parsed by the real CLI,
so a manifest naming a command, option or environment variable that archcolor does not have
fails here; masters are mounted read-only everywhere; the GPU variants request one GPU; the
container entrypoint refuses damaged weights. Where ``kubectl``/``kustomize`` or Docker Compose
are installed, the kustomizations are built and ``docker compose config`` validates the Compose
files; otherwise those tests are skipped, saying why. Every object each kustomization renders,
and the example Secret, is validated offline against the Kubernetes 1.30 schema (strict: no
unknown fields) bundled by the ``kubernetes-validate`` package (a dev dependency).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from archive_colorizer.inference.registry import ENV_MODELS_DIR
from tests.cli_parsing import (
    Invocation,
    RejectedByCli,
    cli_root,
    parse_with_cli,
    shell_invocations,
)

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
ENTRYPOINT_SCRIPT = DEPLOY / "docker" / "entrypoint.sh"
COMPOSE_FILES = (DEPLOY / "compose.yaml", DEPLOY / "compose.gpu.yaml")
K8S = DEPLOY / "k8s"
KUSTOMIZATIONS = ("base", "batch", "overlays/gpu", "overlays/gpu-batch")
README = DEPLOY / "README.md"
#: the oldest Kubernetes release the manifests must be valid for (podFailurePolicy is GA in 1.31,
#: beta and on by default in 1.26-1.30)
KUBERNETES_VERSION = "1.30"
MASTERS = "/data/masters"
STORE = "/data/store"
#: the entrypoint's exit status when the baked-in weights fail their sha256 check
WEIGHTS_MISMATCH_EXIT = 78
#: what every pod and container running workers must allow for a worker to stop after SIGTERM:
#: the release of its job (one database write, which may wait CONNECT_TIMEOUT_S for a lost
#: connection), the heartbeat thread's join and engine disposal; measured by the slow test below
MIN_GRACE_S = 30


# --- collecting what the deployment files say ---------------------------------------------------


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml"})


def load_all(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def compose_services() -> Iterator[tuple[Path, str, dict[str, Any]]]:
    """(file, name, service) for every service that runs the archcolor image."""
    for path in COMPOSE_FILES:
        (document,) = load_all(path)
        for name, service in document["services"].items():
            build = service.get("build") or {}
            image = str(service.get("image", ""))
            if "ARCHCOLOR_IMAGE" in image or build.get("dockerfile") == "deploy/docker/Dockerfile":
                yield path, name, service


def k8s_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.rglob("*.yaml")):
        for document in load_all(path):
            if "kind" in document and not document["kind"].startswith("Kustomization"):
                yield path, document


def pod_spec(document: dict[str, Any]) -> dict[str, Any] | None:
    if document["kind"] in {"Deployment", "Job", "StatefulSet", "DaemonSet"}:
        return document.get("spec", {}).get("template", {}).get("spec")
    return None


def k8s_containers() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(label, pod spec, container) for every container of every workload manifest."""
    for path, document in k8s_documents():
        spec = pod_spec(document)
        if spec is None:
            continue
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            label = f"{path.relative_to(REPO)} {document['kind']}/{container['name']}"
            yield label, spec, container


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    instructions = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def json_array(rest: str) -> list[str]:
    value = yaml.safe_load(rest)
    assert isinstance(value, list), f"exec form expected, got {rest!r}"
    return [str(item) for item in value]


def readme_code_lines() -> Iterator[str]:
    """Lines of the shell code blocks (```sh, ```bash or unlabelled) of deploy/README.md."""
    language: str | None = None
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            language = line[3:].strip() if language is None else None
        elif language in {"", "sh", "bash", "console"}:
            yield line


def readme_invocations() -> Iterator[Invocation]:
    """Commands in deploy/README.md code blocks: `archcolor …` and Compose's `run … cli …`."""
    text = re.sub(r"\\\n\s*", " ", "\n".join(readme_code_lines()))
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("archcolor "):
            yield from shell_invocations("deploy/README.md", line)
        match = re.search(r"docker compose (?:-f \S+ )*run --rm (cli|worker) (.*)", line)
        if match:
            where = f"deploy/README.md (compose run {match.group(1)})"
            yield Invocation(where, tuple(shlex.split(match.group(2))))


def all_invocations() -> list[Invocation]:
    found: list[Invocation] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "RUN":
            found.extend(shell_invocations("Dockerfile RUN", rest))
    stage = final_stage()
    (cmd,) = (json_array(rest) for keyword, rest in stage if keyword == "CMD")
    found.append(Invocation("Dockerfile CMD", tuple(cmd)))
    script = ENTRYPOINT_SCRIPT.read_text(encoding="utf-8")
    found.extend(shell_invocations("entrypoint.sh", script))
    for path, name, service in compose_services():
        where = f"{path.name} service {name}"
        if "command" in service:
            found.append(Invocation(where, tuple(service["command"])))
        test = service.get("healthcheck", {}).get("test")
        if test:
            assert test[0] == "CMD" and test[1] == "archcolor", f"{where}: {test}"
            found.append(Invocation(f"{where} healthcheck", tuple(test[2:])))
    for label, _, container in k8s_containers():
        command = container.get("command")
        assert command is None, f"{label}: keep the image's entrypoint (weights check), use args"
        if "args" in container:
            found.append(Invocation(label, tuple(container["args"])))
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe in container:
                exec_command = container[probe]["exec"]["command"]
                assert exec_command[0] == "archcolor", f"{label} {probe}: {exec_command}"
                found.append(Invocation(f"{label} {probe}", tuple(exec_command[1:])))
    found.extend(readme_invocations())
    return found


def environment_names() -> list[tuple[str, str]]:
    """(where, name) of every environment variable the deployment files set."""
    names = [
        ("Dockerfile ENV", match)
        for keyword, rest in dockerfile_instructions()
        if keyword == "ENV"
        for match in re.findall(r"([A-Z_][A-Z0-9_]*)=", rest)
    ]
    for path, name, service in compose_services():
        names.extend((f"{path.name} {name}", key) for key in service.get("environment", {}))
    for label, _, container in k8s_containers():
        names.extend((label, item["name"]) for item in container.get("env", []))
    for path, document in k8s_documents():
        if document["kind"] == "Secret":
            for key in {**document.get("stringData", {}), **document.get("data", {})}:
                names.append((str(path.relative_to(REPO)), key))
    return names


def cli_environment_variables() -> set[str]:
    """Every environment variable an archcolor option reads, plus the model registry's."""
    found = {ENV_MODELS_DIR}
    pending = [cli_root()]
    while pending:
        command = pending.pop()
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            if isinstance(envvar, str):
                found.add(envvar)
            elif envvar:
                found.update(envvar)
        pending.extend(getattr(command, "commands", {}).values())
    return found


# --- tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses_into_mappings(path: Path) -> None:
    documents = load_all(path)
    assert documents, f"{path} is empty"
    assert all(isinstance(doc, dict) for doc in documents)


def test_the_invocations_cover_the_deployment() -> None:
    commands = {parse_with_cli(inv.argv) for inv in all_invocations()}
    assert {"db upgrade", "process", "worker health", "models", "status"} <= commands


@pytest.mark.parametrize("invocation", all_invocations(), ids=str)
def test_every_archcolor_invocation_is_accepted_by_the_cli(invocation: Invocation) -> None:
    parse_with_cli(invocation.argv)


@pytest.mark.parametrize(
    "argv",
    [("status", "--no-such-option"), ("no-such-command",), (), ("scans", "--limit", "many")],
    ids=shlex.join,
)
def test_the_cli_check_rejects_what_archcolor_would_refuse(argv: tuple[str, ...]) -> None:
    with pytest.raises(RejectedByCli):
        parse_with_cli(argv)


def test_every_archcolor_environment_variable_exists() -> None:
    known = cli_environment_variables()
    used = [(where, name) for where, name in environment_names() if name.startswith("ARCHCOLOR_")]
    assert {name for _, name in used} >= {"ARCHCOLOR_DATABASE_URL", "ARCHCOLOR_STORE"}
    unknown = [f"{where}: {name}" for where, name in used if name not in known]
    assert not unknown, f"not read by archcolor: {unknown}"


def test_the_image_runs_archcolor_as_a_non_root_user_behind_the_weights_check() -> None:
    stage = final_stage()
    (user,) = (rest for keyword, rest in stage if keyword == "USER")
    assert user.split(":")[0] not in {"root", "0"}
    (entrypoint,) = (json_array(rest) for keyword, rest in stage if keyword == "ENTRYPOINT")
    copies = [rest for keyword, rest in dockerfile_instructions() if keyword == "COPY"]
    assert entrypoint[:2] == ["/usr/bin/tini", "--"]  # signals reach archcolor, children reaped
    assert any("deploy/docker/entrypoint.sh" in c and c.endswith(entrypoint[2]) for c in copies)
    script = ENTRYPOINT_SCRIPT.read_text(encoding="utf-8")
    assert script.rstrip().endswith('exec archcolor "$@"')
    assert os.access(ENTRYPOINT_SCRIPT, os.X_OK)


def test_the_image_has_a_cpu_and_a_cuda_variant() -> None:
    stages = {
        rest.split(" AS ")[-1].strip()
        for keyword, rest in dockerfile_instructions()
        if keyword == "FROM" and " AS " in rest
    }
    assert {"torch-cpu", "torch-cuda", "runtime-cpu", "runtime-cuda"} <= stages
    froms = [rest for keyword, rest in dockerfile_instructions() if keyword == "FROM"]
    assert "torch-${VARIANT} AS builder" in froms and froms[-1] == "runtime-${VARIANT}"
    assert "://" not in DOCKERFILE.read_text(encoding="utf-8"), "no index URLs in the Dockerfile"


def test_everything_the_image_copies_exists_and_passes_the_dockerignore() -> None:
    ignore = (DEPLOY / "docker" / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    allowed = {line[1:].rstrip("/") for line in ignore.splitlines() if line.startswith("!")}
    for keyword, rest in dockerfile_instructions():
        if keyword != "COPY" or "--from=" in rest:
            continue
        *sources, _target = [word for word in rest.split() if not word.startswith("--")]
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository"
            assert source.rstrip("/") in allowed, f"COPY {source}: excluded by the dockerignore"
    assert (REPO / "migrations" / "env.py").is_file() and (REPO / "alembic.ini").is_file()


def test_masters_are_mounted_read_only_and_the_store_read_write() -> None:
    for path, name, service in compose_services():
        if "volumes" not in service:
            continue
        mounts = {volume["target"]: volume for volume in service["volumes"]}
        assert mounts[MASTERS].get("read_only") is True, f"{path.name} {name}"
        assert not mounts[STORE].get("read_only"), f"{path.name} {name}"
    claims = {
        document["metadata"]["name"]: document["spec"]["accessModes"]
        for _, document in k8s_documents()
        if document["kind"] == "PersistentVolumeClaim"
    }
    assert claims == {"archcolor-masters": ["ReadOnlyMany"], "archcolor-store": ["ReadWriteMany"]}
    workers = 0
    for label, spec, container in k8s_containers():
        mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
        if MASTERS not in mounts:
            continue
        workers += 1
        assert mounts[MASTERS].get("readOnly") is True, label
        assert not mounts[STORE].get("readOnly"), label
        volumes = {v["name"]: v for v in spec["volumes"]}
        claim = volumes[mounts[MASTERS]["name"]]["persistentVolumeClaim"]
        assert claim["claimName"] == "archcolor-masters" and claim.get("readOnly") is True, label
    assert workers >= 2  # the Deployment and the Indexed Job


def test_workers_get_time_to_release_their_job_and_are_probed_by_worker_health() -> None:
    workers = [
        (label, spec, container)
        for label, spec, container in k8s_containers()
        if container.get("args", [])[:1] == ["process"]
    ]
    assert len(workers) >= 2
    for label, spec, container in workers:
        assert spec.get("terminationGracePeriodSeconds", 30) >= MIN_GRACE_S, label
        requests = container["resources"]["requests"]
        assert "cpu" in requests and "memory" in requests, label
        assert "memory" in container["resources"]["limits"], label
    (deployment,) = [c for label, _, c in workers if "base/worker-deployment" in label]
    for probe in ("livenessProbe", "readinessProbe"):
        assert deployment[probe]["exec"]["command"][1:3] == ["worker", "health"]
        assert deployment[probe]["timeoutSeconds"] >= 10  # python + torch import + model load
    (batch,) = [
        document
        for _, document in k8s_documents()
        if document["kind"] == "Job" and document["spec"].get("completionMode") == "Indexed"
    ]
    assert batch["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    for path, name, service in compose_services():
        if name == "worker" and path.name == "compose.yaml":
            assert re.fullmatch(r"\d+s", service["stop_grace_period"])
            assert int(service["stop_grace_period"][:-1]) >= MIN_GRACE_S
            assert service["healthcheck"]["test"][1:4] == ["archcolor", "worker", "health"]


def test_the_gpu_variants_request_one_gpu_each() -> None:
    (gpu_compose,) = load_all(DEPLOY / "compose.gpu.yaml")
    worker = gpu_compose["services"]["worker"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["count"] == 1 and "gpu" in device["capabilities"]
    for service in gpu_compose["services"].values():
        assert service["build"]["args"]["VARIANT"] == "cuda"
    for overlay in ("gpu", "gpu-batch"):
        folder = K8S / "overlays" / overlay
        for path in folder.glob("*.yaml"):
            if path.name == "kustomization.yaml":
                (kustomization,) = load_all(path)
                assert [i["newTag"] for i in kustomization["images"]] == ["cuda"]
                continue
            (patch,) = load_all(path)
            (container,) = patch["spec"]["template"]["spec"]["containers"]
            assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
            assert container["args"][-2:] == ["--device", "cuda"]


# --- external validators, where installed -------------------------------------------------------


def kustomize_command() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


@pytest.mark.parametrize("folder", KUSTOMIZATIONS)
def test_kustomize_builds_each_kustomization(folder: str) -> None:
    command = kustomize_command()
    if command is None:
        pytest.skip("neither kustomize nor kubectl (with kustomize built in) is installed")
    built = subprocess.run(
        [*command, str(K8S / folder)], capture_output=True, text=True, timeout=60, check=False
    )
    assert built.returncode == 0, built.stderr
    documents = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    kinds = sorted(doc["kind"] for doc in documents)
    images = {
        c["image"]
        for doc in documents
        if pod_spec(doc)
        for c in pod_spec(doc)["containers"]  # type: ignore[index]
    }
    gpu = "gpu" in folder
    assert images == {"archcolor:cuda" if gpu else "archcolor:cpu"}
    if folder.endswith("batch"):
        assert kinds == ["Job"]
    else:
        assert kinds == ["Deployment", "Job", "PersistentVolumeClaim", "PersistentVolumeClaim"]
    for doc in documents:
        if doc["kind"] in {"Deployment", "Job"} and doc["metadata"]["name"] != "archcolor-migrate":
            (container,) = pod_spec(doc)["containers"]  # type: ignore[index]
            limits = container["resources"]["limits"]
            assert limits.get("nvidia.com/gpu") == (1 if gpu else None)


def kustomize_build(folder: str) -> list[dict[str, Any]]:
    command = kustomize_command()
    if command is None:
        pytest.skip("neither kustomize nor kubectl (with kustomize built in) is installed")
    built = subprocess.run(
        [*command, str(K8S / folder)], capture_output=True, text=True, timeout=60, check=False
    )
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def schema_errors(document: dict[str, Any]) -> str | None:
    """Why ``document`` fails the Kubernetes schema (strict), or None when it passes."""
    import kubernetes_validate  # dev dependency: pip install -e ".[dev]"

    try:
        version = kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return f"{document['kind']}/{document['metadata']['name']}: {error.message}"
    # validate() falls back to an older schema when the wanted one is not bundled
    assert version == KUBERNETES_VERSION, f"kubernetes-validate has no {KUBERNETES_VERSION} schema"
    return None


@pytest.mark.parametrize("folder", KUSTOMIZATIONS)
def test_every_rendered_object_passes_the_kubernetes_schema(folder: str) -> None:
    documents = kustomize_build(folder)
    assert documents
    errors = [error for error in map(schema_errors, documents) if error]
    assert not errors, "\n".join(errors)


def test_the_example_secret_passes_the_kubernetes_schema() -> None:
    (secret,) = load_all(K8S / "base" / "database-secret.example.yaml")
    assert schema_errors(secret) is None


def test_the_schema_check_rejects_what_kubernetes_would_refuse() -> None:
    (job,) = [doc for doc in kustomize_build("batch") if doc["kind"] == "Job"]
    assert schema_errors(job) is None
    rules = job["spec"]["podFailurePolicy"]["rules"]
    for rule in rules:
        for condition in rule.get("onPodConditions", []):
            del condition["status"]  # required by the API, though it defaults to True
    assert "'status' is a required property" in str(schema_errors(job))
    job["spec"]["template"]["spec"]["containers"][0]["resource"] = {}  # a typo: strict mode
    del job["spec"]["podFailurePolicy"]
    assert "resource" in str(schema_errors(job))


def compose_command() -> list[str] | None:
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run(
            [*command, "version"], capture_output=True, text=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return command
    return None


@pytest.mark.parametrize("files", [COMPOSE_FILES[:1], COMPOSE_FILES], ids=["cpu", "gpu"])
def test_docker_compose_config_accepts_the_compose_files(
    files: tuple[Path, ...], tmp_path: Path
) -> None:
    command = compose_command()
    if command is None:
        pytest.skip(
            "Docker Compose is not installed (neither the `docker compose` plugin nor "
            "`docker-compose`; Debian's package docker-compose provides the latter)"
        )
    arguments = [item for path in files for item in ("-f", str(path))]
    environment = {**os.environ, "ARCHCOLOR_MASTERS": str(tmp_path)}
    checked = subprocess.run(
        [*command, *arguments, "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
        cwd=DEPLOY,
    )
    assert checked.returncode == 0, checked.stderr


def test_kubeconform_validates_the_built_manifests() -> None:
    schemas = os.environ.get("KUBECONFORM_SCHEMA_LOCATION")
    if shutil.which("kubeconform") is None or not schemas:
        pytest.skip(
            "kubeconform is not installable from PyPI, Debian or npm, and needs the Kubernetes "
            "JSON schemas on disk offline (set KUBECONFORM_SCHEMA_LOCATION to them to run this)"
        )
    command = kustomize_command()
    assert command is not None, "kubeconform needs kustomize or kubectl to build the overlays"
    for folder in KUSTOMIZATIONS:
        built = subprocess.run(
            [*command, str(K8S / folder)], capture_output=True, text=True, timeout=60, check=True
        )
        checked = subprocess.run(
            ["kubeconform", "-strict", "-summary", "-schema-location", schemas, "-"],
            input=built.stdout,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def grace_periods() -> list[tuple[str, int]]:
    """(where, seconds) of every grace period given to worker containers."""
    found = [
        (label, int(spec.get("terminationGracePeriodSeconds", 30)))
        for label, spec, container in k8s_containers()
        if container.get("args", [])[:1] == ["process"] and "terminationGracePeriodSeconds" in spec
    ]
    for path, name, service in compose_services():
        if "stop_grace_period" in service:
            found.append((f"{path.name} {name}", int(service["stop_grace_period"].rstrip("s"))))
    return found


def test_every_worker_grace_period_covers_the_release_of_a_job() -> None:
    periods = grace_periods()
    assert {where.split()[0] for where, _ in periods} >= {
        "compose.yaml",
        "deploy/k8s/base/worker-deployment.yaml",
        "deploy/k8s/batch/batch-job.yaml",
    }
    for where, seconds in periods:
        assert seconds >= MIN_GRACE_S, where
