"""WEB_HOST / WEB_PORT, the `orders web` command, and the health check without a database."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from config.settings import Settings, SettingsError, load_settings
from tests.servers import free_port
from tests.web.conftest import web_settings
from web.app import create_app


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setitem(Settings.model_config, "env_file", None)


@pytest.mark.usefixtures("clean_environment")
def test_web_defaults_to_loopback_port_8000() -> None:
    settings = load_settings()
    assert (settings.web_host, settings.web_port) == ("127.0.0.1", 8000)
    assert settings.web_url == "http://127.0.0.1:8000"


@pytest.mark.usefixtures("clean_environment")
def test_web_host_and_port_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_HOST", "0.0.0.0")
    monkeypatch.setenv("WEB_PORT", "8080")
    settings = load_settings()
    assert (settings.web_host, settings.web_port) == ("0.0.0.0", 8080)


@pytest.mark.usefixtures("clean_environment")
def test_empty_web_port_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_PORT", "")
    assert load_settings().web_port == 8000


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize("value", ["abc", "0", "70000", "-1"])
def test_malformed_web_port_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("WEB_PORT", value)
    with pytest.raises(SettingsError, match="WEB_PORT"):
        load_settings()


def test_cli_has_the_web_command_and_up_can_leave_it_off() -> None:
    runner = CliRunner()
    web = runner.invoke(cli, ["web", "--help"])
    assert web.exit_code == 0 and "WEB_PORT" in web.output
    up = runner.invoke(cli, ["up", "--help"])
    assert up.exit_code == 0 and "--no-web" in up.output


async def test_healthz_is_503_when_the_database_does_not_answer() -> None:
    dead = f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/nothing"
    app = create_app(web_settings(dead))
    async with app.router.lifespan_context(app):  # starting does not touch the database
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://web.test") as http:
            response = await http.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["error"] == "database_unavailable"
