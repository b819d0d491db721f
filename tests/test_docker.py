"""What can be checked of ``docker/`` without a Docker engine (none runs on the CI machines):
the Compose file and the Dockerfile parse, every file they name exists, every command an image
runs is one this package (or JupyterLab, JupyterHub, Redis) installs, every ``--Class.setting``
and ``c.Class.setting`` names a real setting, Redis has a password and an append-only file, and
nothing in the JupyterLab image runs as root. ``docker/README.md`` says what this leaves out."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import pytest
import yaml

from jln_broker.cli import _parser

CHECKOUT = Path(__file__).resolve().parent.parent
DOCKER = CHECKOUT / "docker"
COMPOSE = DOCKER / "docker-compose.yml"


@dataclass
class Stage:
    """One ``FROM`` of a Dockerfile and the instructions under it, continuations joined."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, keyword: str) -> str | None:
        found = [arg for kw, arg in self.instructions if kw == keyword]
        return found[-1] if found else None


def stages(dockerfile: Path) -> dict[str, Stage]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    result: dict[str, Stage] = {}
    current: Stage | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, argument = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = argument.split()
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else str(len(result))
            current = result[name] = Stage(name, words[0])
        elif current is not None:
            current.instructions.append((keyword, argument.strip()))
    return result


def exec_form(argument: str) -> list[str]:
    """A ``CMD``/``ENTRYPOINT`` argument: the JSON form, or the shell form split as sh would."""
    if argument.startswith("["):
        return list(yaml.safe_load(argument))
    return shlex.split(argument)


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def dockerfiles() -> Iterator[tuple[str, Path, dict[str, Any]]]:
    """Each service built here: its name, its Dockerfile and its build section."""
    for name, service in compose()["services"].items():
        build = service.get("build")
        if build:
            yield name, (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve(), build


def image_stage(service: str) -> tuple[dict[str, Stage], Stage]:
    """The stages of a service's Dockerfile and the one it is built to."""
    for name, dockerfile, build in dockerfiles():
        if name == service:
            found = stages(dockerfile)
            return found, found[build.get("target") or list(found)[-1]]
    raise AssertionError(f"no service {service!r} is built in {COMPOSE.name}")


def lineage(found: dict[str, Stage], stage: Stage) -> list[Stage]:
    """The stage and those it is built ``FROM``, base last."""
    chain = [stage]
    while chain[-1].base in found:
        chain.append(found[chain[-1].base])
    return chain


def commands() -> Iterator[tuple[str, list[str]]]:
    """Every command something here runs: each service's ``command``, each stage's ``CMD``."""
    for name, service in compose()["services"].items():
        if "command" in service:
            command = service["command"]
            yield name, command if isinstance(command, list) else shlex.split(command)
    for name, dockerfile, _ in dockerfiles():
        for stage in stages(dockerfile).values():
            for keyword in ("CMD", "ENTRYPOINT"):
                argument = stage.last(keyword)
                if argument:
                    yield f"{name}:{stage.name}", exec_form(argument)


def test_compose_parses_and_names_only_files_that_exist() -> None:
    spec = compose()
    assert spec["services"], "no services"
    declared_volumes = set(spec.get("volumes") or {})
    for name, service in spec["services"].items():
        assert "image" in service or "build" in service, f"{name}: neither image nor build"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (COMPOSE.parent / source).exists(), f"{name}: mounts missing {source}"
            else:
                assert source in declared_volumes, f"{name}: volume {source} not declared"
        for dependency in service.get("depends_on", {}):
            assert dependency in spec["services"], f"{name}: depends on unknown {dependency}"
    for name, dockerfile, build in dockerfiles():
        assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
        assert (COMPOSE.parent / build["context"]).resolve() == CHECKOUT
        if "target" in build:
            assert build["target"] in stages(dockerfile), f"{name}: no stage {build['target']}"


def test_every_file_the_dockerfile_copies_exists() -> None:
    for _, dockerfile, _ in dockerfiles():
        for stage in stages(dockerfile).values():
            for keyword, argument in stage.instructions:
                if keyword not in ("COPY", "ADD") or "--from=" in argument:
                    continue
                *sources, _target = [w for w in argument.split() if not w.startswith("--")]
                for source in sources:
                    assert (CHECKOUT / source).exists() or list(CHECKOUT.glob(source)), (
                        f"{stage.name}: COPY {source}: not in the build context")
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    assert ignore.is_file(), "the build context would carry .git and node_modules"


def console_scripts() -> set[str]:
    """The commands installing this package gives, as installed."""
    return {e.name for e in distribution("jln").entry_points if e.group == "console_scripts"}


def test_each_image_command_is_one_the_images_install() -> None:
    ours = console_scripts()
    known = {"jupyter", "jupyterhub", "redis-server", "redis-cli", "sh", "python", *ours}
    for where, words in commands():
        program = words[0]
        assert program in known, f"{where}: runs {program!r}, which no image installs"
        if program == "jupyter":
            assert words[1] in ("lab", "server", "jln"), f"{where}: jupyter {words[1]}?"
        if program == "python" and words[1] == "-m":
            __import__(words[2])
        for command in [words] if program != "sh" else shell_commands(words[-1]):
            assert command[0] in known | SHELL, f"{where}: runs {command[0]!r}"
            if command[0] == "jln":
                _parser().parse_args(command[1:])  # exits on an option it does not know


SHELL = {"while", "do", "done", ":", "sleep", "exec"}


def shell_commands(script: str) -> Iterator[list[str]]:
    """The simple commands of a ``sh -c`` script, words split as sh would (Compose's ``$$``
    read as the ``$`` the shell sees; ``exec`` dropped)."""
    for part in re.split(r";|&&|\|\||\bdo\b", script.replace("$$", "$")):
        words = shlex.split(part)
        if words and words[0] == "exec":
            words = words[1:]
        if words:
            yield words


def hub_config() -> Any:
    """``jupyterhub_config.py`` as JupyterHub loads it, with the variables Compose passes."""
    from traitlets.config import PyFileConfigLoader

    environment = {"JLN_URL": "redis://:pw@redis:6379/0", "HUB_PASSWORD": "p" * 8,
                   "HUB_ADMIN_PASSWORD": "a" * 32}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        return PyFileConfigLoader("jupyterhub_config.py", str(DOCKER)).load_config()


def test_the_hubs_services_run_commands_this_package_installs() -> None:
    services = hub_config().JupyterHub.services
    assert services, "the hub runs no announcement service"
    for service in services:
        assert service["command"][0] in console_scripts(), service["name"]


def settings_named() -> Iterator[tuple[str, str, str]]:
    """Each ``--Class.setting`` of a command and ``c.Class.setting`` of a config file here."""
    for where, words in commands():
        for word in words:
            for match in re.finditer(r"--(\w+)\.(\w+)", word):
                yield where, match[1], match[2]
    for config in DOCKER.glob("*_config.py"):
        for match in re.finditer(r"\bc\.(\w+)\.(\w+)\s*=", config.read_text()):
            yield config.name, match[1], match[2]


def configurable(class_name: str) -> Any:
    from jupyter_server.serverapp import ServerApp

    from jln_server.app import JLN

    classes = {"JLN": JLN, "ServerApp": ServerApp}
    if class_name not in classes:  # a hub setting
        from jupyterhub.app import JupyterHub

        classes.update({c.__name__: c for c in JupyterHub()._classes_with_config_traits()})
    assert class_name in classes, f"no configurable class {class_name}"
    return classes[class_name]


def test_every_setting_named_exists() -> None:
    named = list(settings_named())
    assert named, "no settings found: the patterns no longer match the files"
    for where, class_name, setting in named:
        traits = configurable(class_name).class_traits(config=True)
        assert setting in traits, f"{where}: {class_name}.{setting} is no setting"


def test_redis_keeps_an_append_only_file_and_asks_a_password() -> None:
    redis = compose()["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert '--requirepass "$$REDIS_PASSWORD"' in command
    assert redis["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?"), (
        "compose must refuse to start Redis without a password")
    assert redis["environment"]["REDISCLI_AUTH"] == "${REDIS_PASSWORD}", (
        "the health check's redis-cli must authenticate")
    assert "ports" not in redis
    for name, service in compose()["services"].items():
        url = (service.get("environment") or {}).get("JLN_URL")
        if url:
            assert url.startswith("redis://:${REDIS_PASSWORD}@redis:6379/"), f"{name}: {url}"


def test_the_hub_gets_every_variable_its_config_reads() -> None:
    config = (DOCKER / "jupyterhub_config.py").read_text()
    read = set(re.findall(r"os\.environ(?:\.get\(|\[)\"(\w+)\"", config))
    assert {"JLN_URL", "HUB_PASSWORD"} <= read
    hub = compose()["services"]["hub"]
    assert read <= set(hub["environment"]), read - set(hub["environment"])
    assert "hub" in hub["profiles"]
    _, stage = image_stage("hub")
    assert exec_form(stage.last("CMD") or "")[:3] == [
        "jupyterhub", "-f", "/srv/jupyterhub/jupyterhub_config.py"]
    assert ("COPY", "docker/jupyterhub_config.py /srv/jupyterhub/jupyterhub_config.py"
            ) in stage.instructions


def test_the_jln_url_in_the_environment_is_the_servers_broker(monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """The image passes the broker only through ``JLN_URL``: the server must take it."""
    from jln_server.app import JLN

    monkeypatch.setenv("JLN_URL", "redis://:pw@redis:6379/0")
    assert JLN().redis_url == "redis://:pw@redis:6379/0"


@pytest.mark.parametrize("service", ["jupyterlab", "hub", "publisher"])
def test_nothing_in_the_images_runs_as_root(service: str) -> None:
    found, stage = image_stage(service)
    users = [s.last("USER") for s in lineage(found, stage) if s.last("USER")]
    assert users, "the image never leaves root"
    assert users[0] not in ("root", "0", "0:0"), f"the image runs as {users[0]}"
    for where, words in commands():
        assert "--allow-root" not in words, f"{where}: --allow-root"
    for name, service in compose()["services"].items():
        assert str(service.get("user", "")).split(":")[0] not in ("root", "0"), name
