from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli import COMMANDS, main
from ivr.settings import SettingsError, load


def test_defaults(tmp_path: Path) -> None:
    s = load(environ={}, config_file=None)
    assert s.ari_url == "http://127.0.0.1:8088"
    assert s.ari_app == "hotline"
    assert s.languages == ("my", "km", "lo", "th", "ne", "vi", "en")
    assert s.db_path == Path("./var") / "ivr.db"


def test_precedence_defaults_toml_env_flags(tmp_path: Path) -> None:
    toml = tmp_path / "ivr.toml"
    toml.write_text(
        'ari_app = "from-toml"\nari_user = "from-toml"\nlanguages = ["th", "en"]\n'
        'timezone = "Asia/Yangon"\n'
    )
    env = {"IVR_ARI_USER": "from-env", "IVR_TIMEZONE": "Asia/Phnom_Penh"}
    s = load(environ=env, config_file=toml, flags={"timezone": "Asia/Vientiane"})
    assert s.ari_app == "from-toml"  # toml beats the default
    assert s.languages == ("th", "en")
    assert s.ari_user == "from-env"  # env beats toml
    assert s.timezone == "Asia/Vientiane"  # flags beat env


def test_ivr_config_env_names_the_file(tmp_path: Path) -> None:
    toml = tmp_path / "elsewhere.toml"
    toml.write_text('brand_k = 9\n')
    assert load(environ={"IVR_CONFIG": str(toml)}).brand_k == 9


def test_db_follows_data_dir_unless_set(tmp_path: Path) -> None:
    s = load(environ={"IVR_DATA_DIR": str(tmp_path)})
    assert s.db_path == tmp_path / "ivr.db"
    s = load(environ={"IVR_DATA_DIR": str(tmp_path), "IVR_DB": str(tmp_path / "x.db")})
    assert s.db_path == tmp_path / "x.db"


def test_secret_from_file(tmp_path: Path) -> None:
    f = tmp_path / "secret"
    f.write_text("a-long-secret-from-a-file\n")
    s = load(environ={"IVR_SECRET_KEY_FILE": str(f), "IVR_DATA_DIR": str(tmp_path)}, mode="engine")
    assert s.secret_key == "a-long-secret-from-a-file"
    assert s.key("a") != s.key("b")


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"IVR_ARI_URL": "not a url"}, "IVR_ARI_URL"),
        ({"IVR_ARI_URL": "ftp://asterisk:8088"}, "IVR_ARI_URL"),
        ({"IVR_ARI_URL": "http://user:pw@asterisk:8088"}, "IVR_ARI_URL"),
        ({"IVR_ARI_URL": "http://asterisk:port"}, "IVR_ARI_URL"),
        ({"IVR_LANGUAGES": "my,xx"}, "IVR_LANGUAGES"),
        ({"IVR_LANGUAGES": "my,my"}, "IVR_LANGUAGES"),
        ({"IVR_TIMEZONE": "Mars/Olympus"}, "IVR_TIMEZONE"),
        ({"IVR_ADMIN_BIND": "localhost"}, "IVR_ADMIN_BIND"),
        ({"IVR_BRAND_K": "five"}, "IVR_BRAND_K"),
        ({"IVR_BRAND_K": "0"}, "IVR_BRAND_K"),
        ({"IVR_ASTERISK_LOCAL": "maybe"}, "IVR_ASTERISK_LOCAL"),
        ({"IVR_SECRET_KEY_FILE": "/nonexistent/secret"}, "IVR_SECRET_KEY_FILE"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError) as info:
        load(environ=env)
    message = str(info.value)
    assert message.startswith(names + ":")
    assert "\n" not in message


def test_mode_that_needs_a_secret(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^IVR_SECRET_KEY: `ivr engine` needs a secret"):
        load(environ={"IVR_DATA_DIR": str(tmp_path)}, mode="engine")
    # `ivr config` and `ivr check` do not handle caller data and run without it
    load(environ={"IVR_DATA_DIR": str(tmp_path)}, mode=None)


def test_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SettingsError, match=r"^IVR_DATA_DIR: .* cannot be written"):
        load(environ={"IVR_DATA_DIR": str(blocker / "sub")}, mode="migrate")


def test_unknown_toml_key(tmp_path: Path) -> None:
    toml = tmp_path / "ivr.toml"
    toml.write_text("ari_ulr = 'x'\n")
    with pytest.raises(SettingsError, match="unknown setting 'ari_ulr'"):
        load(environ={}, config_file=toml)


def test_cli_config_masks_secrets_and_reports_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"IVR_ARI_PASSWORD": "hunter2-very-secret", "IVR_SECRET_KEY": "another-secret-value",
           "IVR_DATA_DIR": str(tmp_path)}
    result = runner.invoke(main, ["config"], env=env)
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output and "another-secret" not in result.output
    assert "ari_password = ********" in result.output

    result = runner.invoke(main, ["--ari-url", "nope", "config"], env=env)
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        "Error: IVR_ARI_URL: 'nope' is not an http:// or https:// URL with a host"
    ]


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ["engine", "admin", "transcribe", "serve", "sim", "demo", "check", "db",
                 "user", "prompts", "models"]:
        assert name in COMMANDS
        assert f"  {name} " in result.output


@pytest.mark.parametrize("k", ["1", "2"])
def test_brand_k_below_three_needs_an_explicit_flag(k: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load(environ={"IVR_BRAND_K": k})
    message = str(refused.value)
    assert message.startswith(f"IVR_BRAND_K: {k} is below 3") and "IVR_BRAND_K_ALLOW_UNSAFE=true" in message
    assert "\n" not in message
    assert load(environ={"IVR_BRAND_K": k, "IVR_BRAND_K_ALLOW_UNSAFE": "true"}).brand_k == int(k)
    assert load(environ={"IVR_BRAND_K": "3"}).brand_k == 3


def test_trusted_proxies_and_audit_public_key_are_checked() -> None:
    assert load(environ={"IVR_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"}).trusted_proxies == ("127.0.0.1",
                                                                                             "10.0.0.0/8")
    with pytest.raises(SettingsError, match=r"IVR_TRUSTED_PROXIES: 'proxy\.local' is not an IP address"):
        load(environ={"IVR_TRUSTED_PROXIES": "proxy.local"})
    with pytest.raises(SettingsError, match="IVR_AUDIT_PUBLIC_KEY: expected 64 hex digits"):
        load(environ={"IVR_AUDIT_PUBLIC_KEY": "xyz"})
