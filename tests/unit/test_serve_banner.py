"""What ``carnet serve`` prints: the portals' addresses and how to sign in as each demo user."""

from __future__ import annotations

from pathlib import Path

from carnet.auth import devusers
from carnet.cli import _banner
from carnet.settings import Settings


def test_the_banner_gives_both_portals_and_every_demo_user_in_development(tmp_path: Path) -> None:
    settings = Settings(env="development", data_dir=tmp_path, public_url="http://127.0.0.1:8123")
    text = _banner(settings, "http://0.0.0.0:8123")
    assert "Espace patient (Mon espace santé) : http://127.0.0.1:8123/\n" in text
    assert "Accès professionnel               : http://127.0.0.1:8123/pro\n" in text
    for user in devusers.all_users():
        assert user.display_name in text
    for person in (*devusers.PATIENTS, *devusers.REPRESENTATIVES):
        assert f"INS {person.ins}" in text
    assert "Mathis MOREAU" in text


def test_without_the_development_identity_provider_no_demo_user_is_listed(tmp_path: Path) -> None:
    settings = Settings(env="test", data_dir=tmp_path, dev_idp=False)
    text = _banner(settings, "http://127.0.0.1:8000")
    assert "/pro" in text
    assert not any(user.display_name in text for user in devusers.all_users())


def test_serve_on_another_port_is_reached_there_unless_a_public_url_is_configured(tmp_path: Path) -> None:
    from carnet.cli import served_url

    default = Settings(env="development", data_dir=tmp_path, _env_file=None)
    assert served_url(default, None, 8123) == "http://127.0.0.1:8123"
    assert served_url(default, "0.0.0.0", None) == "http://127.0.0.1:8000"
    assert served_url(default, "::1", 9000) == "http://[::1]:9000"
    moved = Settings(env="development", data_dir=tmp_path, public_url=served_url(default, None, 8123), _env_file=None)
    assert moved.effective_audience == "http://127.0.0.1:8123/fhir"
    configured = Settings(env="development", data_dir=tmp_path, public_url="https://carnet.example.fr", _env_file=None)
    assert served_url(configured, None, 8123) is None
