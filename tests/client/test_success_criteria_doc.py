"""docs/success-criteria.md's CI recipe and local steps stay runnable: the GitHub Actions workflow is valid
YAML with the jobs and steps it describes, and every `foundation metrics ingest` command of the page names a
known kind and only options the command has (the page is what teams copy into their pipelines)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from foundation.client.ingest import KINDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "success-criteria.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def ingest_options() -> set[str]:
    import typer

    from foundation.cli.main import root

    group: Any = typer.main.get_command(root)
    command = group.commands["metrics"].commands["ingest"]
    return {opt for param in command.params for opt in param.opts if opt.startswith("--")}


def ingest_commands(script: str) -> list[list[str]]:
    """Each `foundation metrics ingest …` of a shell script, its continuation lines joined, as argv."""
    text = re.sub(r"\$\{\{[^}]*\}\}", "X", script.replace("\\\n", " "))
    commands = []
    for line in text.splitlines():
        line = line.split(" # ")[0].strip()
        if line.startswith("foundation metrics ingest"):
            commands.append(shlex.split(line, posix=True))
    return commands


def workflow() -> dict[Any, Any]:
    (text,) = blocks("yaml")
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    return document


def test_the_workflow_is_valid_yaml_and_ingests_every_kind() -> None:
    document = workflow()
    assert document["name"] and document[True]  # `on:` is YAML 1.1's true
    scripts = []
    for name, job in document["jobs"].items():
        assert job["runs-on"] and job["steps"], name
        for step in job["steps"]:
            assert set(step) & {"run", "uses"}, (name, step)
            if "run" in step:
                # YAML folds `>` blocks into one line: split them back on the command.
                scripts.append(
                    step["run"].replace(" foundation metrics ingest", "\nfoundation metrics ingest")
                )
    commands = [command for script in scripts for command in ingest_commands(script)]
    assert sorted({command[3] for command in commands}) == sorted(KINDS)


def test_every_ingest_command_of_the_page_uses_a_known_kind_and_existing_options() -> None:
    options = ingest_options()
    steps = [step.get("run", "") for job in workflow()["jobs"].values() for step in job["steps"]]
    scripts = [
        *blocks("bash"),
        *(s.replace(" foundation metrics ingest", "\nfoundation metrics ingest") for s in steps),
    ]
    commands = [command for script in scripts for command in ingest_commands(script)]
    assert len(commands) >= 10
    for command in commands:
        assert command[3] in KINDS, command
        used = {arg.split("=", 1)[0] for arg in command[4:] if arg.startswith("--")}
        assert used <= options, (command, used - options)
        assert "--tenant" in used, command


def test_every_api_url_of_the_page_is_a_route_of_the_api(tmp_path: Path) -> None:
    """The recipe talks to a Foundation API on 127.0.0.1:8000 (the provider it starts, `make run`): each path
    it calls there is one the API serves (no endpoint the API does not have, such as a pact state handler)."""
    from starlette.routing import Match

    from foundation.app import create_app
    from foundation.settings import Settings

    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'doc.db'}"))
    paths = re.findall(r"http://127\.0\.0\.1:8000(/[^\s\"'`)]*)", DOC.read_text(encoding="utf-8"))
    assert "/health" in paths
    for path in paths:
        scope = {"type": "http", "path": path.split("?")[0], "method": "GET"}
        assert any(route.matches(scope)[0] is not Match.NONE for route in app.router.routes), path
