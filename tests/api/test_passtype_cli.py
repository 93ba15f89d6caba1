"""`passwire passtypes push|pull`: a folder kept in git goes up as a version and comes back
as the same files; an invalid one is refused with each file and field on stderr."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest

from config.settings import Settings
from shared.cli import main as cli
from shared.passtypes.archive import read_folder
from tests.conftest import DEMO_KEY
from tests.support.passtypes import redesigned


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSWIRE_API_KEY", DEMO_KEY)


@pytest.mark.usefixtures("operator")
def test_push_then_pull_round_trips_a_folder(
    api_url: str, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"git-{secrets.token_hex(3)}"
    folder = tmp_path / "repo" / name
    shutil.copytree(settings.tenants_dir / "demo" / "passtypes" / "loyalty", folder)
    common = ["--tenant", "demo", "--name", name, "--url", api_url]

    assert cli(["passtypes", "push", *common, str(folder)]) == 0
    assert f"{name}: version 1 stored" in capsys.readouterr().out

    # A redesign committed to git, pushed and activated in one go.
    for path, data in redesigned(read_folder(folder)).items():
        (folder / path).write_bytes(data)
    assert cli(["passtypes", "push", *common, "--activate", str(folder)]) == 0
    assert f"{name}: version 2 active" in capsys.readouterr().out

    # Pulling version 1 over a working copy restores its files, and only the layout's.
    checkout = tmp_path / "checkout"
    shutil.copytree(folder, checkout)
    (checkout / "apple" / "thumbnail.png").write_bytes(b"not in any version")
    (checkout / "README.md").write_text("notes kept beside the folder")
    assert cli(["passtypes", "pull", *common, "--version", "1", str(checkout)]) == 0
    assert f"{name}: version 1 written" in capsys.readouterr().out
    pulled = read_folder(checkout)
    assert pulled.pop("README.md") == b"notes kept beside the folder"
    assert pulled == read_folder(settings.tenants_dir / "demo" / "passtypes" / "loyalty")
    assert cli(["passtypes", "pull", *common, str(tmp_path / "active")]) == 0
    assert read_folder(tmp_path / "active") == read_folder(folder)


@pytest.mark.usefixtures("operator")
def test_an_invalid_folder_is_refused_naming_file_and_field(
    api_url: str, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(settings.tenants_dir / "demo" / "passtypes" / "loyalty", folder)
    (folder / "apple" / "icon.png").unlink()
    name = f"git-{secrets.token_hex(3)}"
    code = cli(
        ["passtypes", "push", "--tenant", "demo", "--name", name, "--url", api_url, str(folder)]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "422" in err
    assert "apple/icon.png: is required" in err
