"""Settings are documented: the README's table lists exactly the variables config reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from facilitation import config

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_documents_every_setting() -> None:
    documented = set(re.findall(r"^\| `(FACILITATION_[A-Z_]+)` \|", README.read_text(), re.M))
    assert documented == set(config.setting_names())


def test_values_are_parsed_and_bad_ones_explained() -> None:
    settings = config.from_environ({
        "FACILITATION_PORT": "9000", "FACILITATION_DEMO": "no",
        "FACILITATION_ALLOWED_ORIGINS": "https://a.example, https://b.example/",
        "FACILITATION_PUBLIC_URL": "https://event.example/",
    })
    assert settings.port == 9000 and settings.demo is False
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.public_url == "https://event.example" and settings.cookie_secure
    with pytest.raises(config.ConfigError, match="FACILITATION_PORT"):
        config.from_environ({"FACILITATION_PORT": "eighty"})
    with pytest.raises(config.ConfigError, match="FACILITATION_DEMO"):
        config.from_environ({"FACILITATION_DEMO": "maybe"})


def test_secrets_are_generated_once_and_kept(tmp_path: Path) -> None:
    settings = config.from_environ({"FACILITATION_DATA_DIR": str(tmp_path)})
    first, generated = config.with_secrets(settings)
    again, generated_again = config.with_secrets(settings)
    assert generated and not generated_again
    assert first.admin_token == again.admin_token and len(first.admin_token) >= 32
    assert (tmp_path / "admin_token").stat().st_mode & 0o077 == 0
