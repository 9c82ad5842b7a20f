"""Settings.load: precedence, sandbox defaults, validation and secret hygiene."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from core.config.errors import ConfigError
from core.config.process_roles import ROLE_WEB, ROLE_WORKER, process_problems
from core.config.settings import Settings
from core.config.startup import format_problems, startup_problems
from core.security.crypto import SecretBox

LIVE = {"PW_TIKTOK_APP_ID": "7300000000000000001", "PW_TIKTOK_APP_SECRET": "live-app-secret-123"}


def _secrets(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sandbox_defaults(tmp_path: Path) -> None:
    settings = Settings.load(env={}, root=tmp_path)
    assert settings.sandbox is True
    assert settings.app_id == "7100000000000000000"
    assert settings.app_secret == "sandbox-secret"
    assert settings.api_base_url == "http://127.0.0.1:9100/open_api/v1.3/"
    assert settings.portal_auth_url == "http://127.0.0.1:9100/portal/auth"
    assert settings.redirect_uri == "http://localhost:8501/api/oauth/tiktok/callback"
    assert settings.public_url == "http://localhost:8501"
    assert settings.db_path == tmp_path / "data" / "partnerwatch.duckdb"
    assert settings.data_dir == tmp_path / "data"
    assert (settings.qps, settings.http_timeout_s) == (10.0, 20.0)
    assert (settings.port, settings.sandbox_port, settings.sandbox_seed) == (8501, 9100, 7)


def test_sandbox_generates_key_and_api_token_once(tmp_path: Path) -> None:
    first = Settings.load(env={}, root=tmp_path)
    second = Settings.load(env={}, root=tmp_path)
    assert len(first.encryption_keys) == 1
    assert first.encryption_keys == second.encryption_keys
    assert first.sandbox_key_file == tmp_path / "data" / "sandbox.key"
    assert first.api_token
    assert first.api_token == second.api_token
    assert stat.S_IMODE((tmp_path / "data" / "api.token").stat().st_mode) == 0o600
    box = SecretBox(first.encryption_keys)
    assert box.decrypt(box.encrypt("x")) == "x"


def test_sandbox_ports_move_urls(tmp_path: Path) -> None:
    settings = Settings.load(env={"PW_PORT": "8502", "PW_SANDBOX_PORT": "9200"}, root=tmp_path)
    assert settings.api_base_url == "http://127.0.0.1:9200/open_api/v1.3/"
    assert settings.portal_auth_url == "http://127.0.0.1:9200/portal/auth"
    assert settings.redirect_uri == "http://localhost:8502/api/oauth/tiktok/callback"


def test_live_mode_defaults(tmp_path: Path) -> None:
    settings = Settings.load(env=LIVE, root=tmp_path)
    assert settings.sandbox is False
    assert settings.app_id == "7300000000000000001"
    assert settings.api_base_url == "https://business-api.tiktok.com/open_api/v1.3/"
    assert settings.portal_auth_url == "https://business-api.tiktok.com/portal/auth"
    assert settings.encryption_keys == ()
    assert settings.api_token is None
    assert settings.sandbox_key_file is None
    assert not (tmp_path / "data" / "sandbox.key").exists()


def test_secrets_file_is_read(tmp_path: Path) -> None:
    key = SecretBox.generate_key()
    path = _secrets(
        tmp_path,
        f"""
[tiktok]
app_id = 7300000000000000009
app_secret = "from-file-secret"
redirect_uri = "https://pw.example.com/api/oauth/tiktok/callback"
[partnerwatch]
db_path = "/srv/pw/pw.duckdb"
encryption_keys = ["{key}"]
qps = 2.5
http_timeout_s = 5
api_token = "file-api-token-0123456789"
""",
    )
    settings = Settings.load(env={}, secrets_file=path, root=tmp_path)
    assert settings.sandbox is False
    assert settings.app_id == "7300000000000000009"
    assert settings.app_secret == "from-file-secret"
    assert settings.redirect_uri == "https://pw.example.com/api/oauth/tiktok/callback"
    assert settings.db_path == Path("/srv/pw/pw.duckdb")
    assert settings.encryption_keys == (key,)
    assert (settings.qps, settings.http_timeout_s) == (2.5, 5.0)
    assert settings.api_token == "file-api-token-0123456789"


def test_default_secrets_file_under_root(tmp_path: Path) -> None:
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text("[partnerwatch]\nqps = 3\n", encoding="utf-8")
    assert Settings.load(env={}, root=tmp_path).qps == 3.0


def test_environment_wins_over_file(tmp_path: Path) -> None:
    new, old = SecretBox.generate_key(), SecretBox.generate_key()
    path = _secrets(tmp_path, '[partnerwatch]\nqps = 3\ndb_path = "file.duckdb"\n')
    env = {"PW_QPS": "7", "PW_DB_PATH": "other/x.duckdb", "PW_ENCRYPTION_KEYS": f"{new}, {old}"}
    settings = Settings.load(env=env, secrets_file=path, root=tmp_path)
    assert settings.qps == 7.0
    assert settings.db_path == tmp_path / "other" / "x.duckdb"
    assert settings.encryption_keys == (new, old)
    assert settings.sandbox_key_file is None


def test_memory_db_path_kept(tmp_path: Path) -> None:
    assert str(Settings.load(env={"PW_DB_PATH": ":memory:"}, root=tmp_path).db_path) == ":memory:"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PW_QPS": "abc"}, "PW_QPS"),
        ({"PW_QPS": "0"}, "PW_QPS"),
        ({"PW_HTTP_TIMEOUT": "soon"}, "PW_HTTP_TIMEOUT"),
        ({"PW_PORT": "80.5"}, "PW_PORT"),
        ({"PW_PORT": "70000"}, "PW_PORT"),
        ({"PW_SANDBOX_SEED": "x"}, "PW_SANDBOX_SEED"),
        ({"PW_ENCRYPTION_KEYS": "not-a-key"}, "PW_ENCRYPTION_KEYS"),
        ({"PW_TIKTOK_API_BASE": "ftp://x"}, "PW_TIKTOK_API_BASE"),
        ({"PW_TIKTOK_APP_ID": "123"}, "PW_TIKTOK_APP_SECRET"),
        ({"PW_API_TOKEN": "short"}, "PW_API_TOKEN"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.load(env=env, root=tmp_path)


def test_bad_file_value_names_the_key(tmp_path: Path) -> None:
    path = _secrets(tmp_path, '[partnerwatch]\nqps = "fast"\n')
    with pytest.raises(ConfigError, match=r"partnerwatch\.qps"):
        Settings.load(env={}, secrets_file=path, root=tmp_path)


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    path = _secrets(tmp_path, "[tiktok\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.load(env={}, secrets_file=path, root=tmp_path)


def test_bad_key_error_does_not_echo_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(env={"PW_ENCRYPTION_KEYS": "my-precious-but-broken-key"}, root=tmp_path)
    assert "my-precious" not in str(caught.value)


def test_repr_hides_secrets(tmp_path: Path) -> None:
    key = SecretBox.generate_key()
    env = {**LIVE, "PW_ENCRYPTION_KEYS": key, "PW_API_TOKEN": "cli-api-token-abcdef123"}
    settings = Settings.load(env=env, root=tmp_path)
    text = repr(settings) + str(settings)
    for secret in ("live-app-secret-123", key, "cli-api-token-abcdef123"):
        assert secret not in text
    assert "7300000000000000001" in text


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = Settings.load(env={}, root=tmp_path)
    with pytest.raises(AttributeError):
        settings.qps = 1.0  # type: ignore[misc]


def test_data_dir_moves_the_database_too(tmp_path: Path) -> None:
    settings = Settings.load(env={"PW_DATA_DIR": "elsewhere"}, root=tmp_path)
    assert settings.data_dir == tmp_path / "elsewhere"
    assert settings.db_path == tmp_path / "elsewhere" / "partnerwatch.duckdb"
    explicit = Settings.load(env={"PW_DATA_DIR": "elsewhere", "PW_DB_PATH": "db/x.duckdb"}, root=tmp_path)
    assert explicit.db_path == tmp_path / "db" / "x.duckdb"  # PW_DB_PATH still wins


def test_every_bad_value_is_listed_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(env={"PW_QPS": "fast", "PW_PORT": "0", "PW_PUBLIC_URL": "partnerwatch.example"}, root=tmp_path)
    assert [p.split(" ")[0] for p in caught.value.problems] == ["PW_PORT", "PW_PUBLIC_URL", "PW_QPS"]


# -- start-up check -----------------------------------------------------------------------------------

PUBLIC = "https://pw.example.com"
AUTH = {
    "redirect_uri": f"{PUBLIC}/oauth2callback",
    "cookie_secret": "c" * 40,
    "client_id": "pw-client",
    "client_secret": "idp-client-secret",
    "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
}


def _live_env(**extra: str) -> dict[str, str]:
    return {**LIVE, "PW_PUBLIC_URL": PUBLIC, "PW_ENCRYPTION_KEYS": SecretBox.generate_key(), **extra}


def test_sandbox_and_a_complete_live_configuration_start(tmp_path: Path) -> None:
    assert startup_problems(None, env={}, root=tmp_path) == []
    assert startup_problems(AUTH, env=_live_env(), root=tmp_path) == []


def test_live_without_auth_lists_every_problem(tmp_path: Path) -> None:
    problems = startup_problems(None, env=LIVE, root=tmp_path)
    assert len(problems) == 3
    assert problems[0].startswith("PW_PUBLIC_URL")
    assert problems[1].startswith("PW_ENCRYPTION_KEYS")
    assert problems[2].startswith("[auth] is missing")
    assert "cookie_secret" in problems[2]
    message = format_problems(problems)
    assert message.count("\n  - ") == 3
    assert "3 configuration problem(s)" in message


@pytest.mark.parametrize(
    ("auth", "env", "expected"),
    [
        ({k: v for k, v in AUTH.items() if k != "client_id"}, {}, "auth.client_id is not set"),
        ({**AUTH, "cookie_secret": "short"}, {}, "auth.cookie_secret must be at least 32"),
        ({**AUTH, "cookie_secret": "replace-with-a-long-random-string-xxxxxxxxxx"}, {}, "auth.cookie_secret"),
        ({**AUTH, "redirect_uri": "https://other.example/oauth2callback"}, {}, "auth.redirect_uri is"),
        ({**AUTH, "server_metadata_url": "idp.example"}, {}, "auth.server_metadata_url must be"),
        (AUTH, {"PW_REDIRECT_URI": "https://other.example/api/oauth/tiktok/callback"}, "PW_REDIRECT_URI"),
        (AUTH, {"PW_TIKTOK_APP_SECRET": "replace-with-your-app-secret"}, "still the example value"),
        (AUTH, {"PW_QPS": "lots"}, "PW_QPS must be a number"),
    ],
)
def test_inconsistent_live_settings_are_named(tmp_path: Path, auth: dict, env: dict, expected: str) -> None:
    problems = startup_problems(auth, env=_live_env(**env), root=tmp_path)
    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_problems_never_echo_a_secret(tmp_path: Path) -> None:
    auth = {**AUTH, "cookie_secret": "tiny-secret"}
    env = _live_env(PW_ENCRYPTION_KEYS="my-precious-but-broken-key")
    text = "\n".join(startup_problems(auth, env=env, root=tmp_path))
    for secret in ("tiny-secret", "my-precious", "idp-client-secret"):
        assert secret not in text


def test_the_process_role_is_all_by_default_and_one_of_three(tmp_path: Path) -> None:
    settings = Settings.load(env={}, root=tmp_path)
    assert (settings.process_role, settings.runs_jobs, settings.shared_database) == ("all", True, False)
    assert settings.task_lease_s == 60.0
    web = Settings.load(env={"PW_PROCESS_ROLE": "Web", "PW_TASK_LEASE_S": "15"}, root=tmp_path)
    assert (web.process_role, web.runs_jobs, web.task_lease_s) == ("web", False, 15.0)
    with pytest.raises(ConfigError, match="PW_PROCESS_ROLE must be one of all, web, worker, got 'both'"):
        Settings.load(env={"PW_PROCESS_ROLE": "both"}, root=tmp_path)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("web", ["PW_PROCESS_ROLE=web needs PW_DATABASE_URL"]),
        (
            "worker",
            ["PW_PROCESS_ROLE is worker: such a process runs `python -m core.cli worker`", "needs PW_DATABASE_URL"],
        ),
    ],
)
def test_the_web_app_refuses_a_split_role_on_the_duckdb_file_in_sandbox_and_live_mode(
    tmp_path: Path, role: str, expected: list[str]
) -> None:
    for auth, env in ((None, {}), (AUTH, _live_env())):
        problems = startup_problems(auth, env={**env, "PW_PROCESS_ROLE": role}, root=tmp_path)
        assert len(problems) == len(expected), problems
        for problem, text in zip(problems, expected, strict=True):
            assert text in problem
        assert "opened by one process only" in problems[-1]


def test_a_shared_database_lets_the_roles_split(tmp_path: Path) -> None:
    worker = Settings.load(env={"PW_PROCESS_ROLE": "worker"}, root=tmp_path)
    object.__setattr__(worker, "database_url", "postgresql://pw@db.example/pw")  # PW_DATABASE_URL (PostgreSQL store)
    assert worker.shared_database
    assert process_problems(worker, ROLE_WORKER) == []
    assert process_problems(worker, ROLE_WEB) == [
        "PW_PROCESS_ROLE is worker: such a process runs `python -m core.cli worker`, not the web app "
        "(set PW_PROCESS_ROLE=web for a replica that serves the UI)"
    ]
