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
