from __future__ import annotations

from pathlib import Path

import pytest

from firstline.errors import ConfigError, UnknownInstanceError
from firstline.fleet import check_target, load_fleet

GOOD = """\
defaults:
  checks:
    url: {port: 8080, path: /health, expected_status: "200-299"}
  recovery: {window_seconds: 600}
regions:
  eu-west-1:
    defaults:
      recovery: {window_seconds: 300}
    instances:
      - id: i-0123456789abcdef0
        name: web-1
        checks:
          ssh: {port: 2222}
          route53: {health_check_id: 0f1e2d3c-aaaa-bbbb-cccc-000000000001}
      - i-0abcdef1
  us-east-1:
    instances:
      - id: i-00000000000000001
        recovery: {window_seconds: 60}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return path


class TestLoadFleet:
    def test_merges_defaults_region_defaults_and_instance(self, tmp_path: Path) -> None:
        fleet = load_fleet(write(tmp_path, GOOD))

        web = fleet.find("eu-west-1", "i-0123456789abcdef0")
        assert web is not None
        assert web.name == "web-1"
        assert web.checks.url.port == 8080
        assert 204 in web.checks.url.expected_status
        assert 302 not in web.checks.url.expected_status
        assert web.checks.ssh.port == 2222
        assert web.recovery.window_seconds == 300
        assert (
            fleet.find("us-east-1", "i-00000000000000001").recovery.window_seconds == 60
        )
        assert fleet.regions == ("eu-west-1", "us-east-1")

    def test_accepts_a_bare_instance_id_as_an_entry(self, tmp_path: Path) -> None:
        fleet = load_fleet(write(tmp_path, GOOD))

        assert fleet.find("eu-west-1", "i-0abcdef1") is not None

    def test_error_names_file_line_instance_and_field(self, tmp_path: Path) -> None:
        path = write(tmp_path, GOOD.replace("port: 2222", "port: 70000"))

        with pytest.raises(ConfigError) as caught:
            load_fleet(path)

        message = str(caught.value)
        assert str(path) in message
        assert "line 13" in message
        assert "i-0123456789abcdef0" in message
        assert "checks.ssh.port" in message
        assert "65535" in message

    def test_error_points_at_the_defaults_that_wrote_the_bad_value(
        self, tmp_path: Path
    ) -> None:
        path = write(
            tmp_path, GOOD.replace("window_seconds: 300", "window_seconds: -1")
        )

        with pytest.raises(ConfigError, match=r"line 8\].*recovery.window_seconds"):
            load_fleet(path)

    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            (("eu-west-1:", "eu-nowhere-9:"), r"line 6: unknown region 'eu-nowhere-9'"),
            (("i-0abcdef1", "i-0abc;rm -rf"), r"line 15: instance id 'i-0abc;rm -rf'"),
            (("i-0abcdef1", "i-0123456789abcdef0"), r"listed twice"),
            (("name: web-1", "nmae: web-1"), r"nmae.*Extra inputs are not permitted"),
            (("method", "method"), None),
        ],
    )
    def test_refuses_what_it_does_not_understand(
        self, tmp_path: Path, change: tuple[str, str], expected: str | None
    ) -> None:
        path = write(tmp_path, GOOD.replace(*change))

        if expected is None:
            load_fleet(path)
            return
        with pytest.raises(ConfigError, match=expected):
            load_fleet(path)

    def test_refuses_duplicate_keys_that_yaml_would_silently_merge(
        self, tmp_path: Path
    ) -> None:
        path = write(
            tmp_path, GOOD.replace("name: web-1", "name: web-1\n        name: web-2")
        )

        with pytest.raises(ConfigError, match="duplicate key 'name'"):
            load_fleet(path)

    def test_refuses_an_unknown_top_level_key(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="unknown key.*instances"):
            load_fleet(write(tmp_path, "instances: []\n"))

    def test_missing_file_is_a_clear_error(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="cannot read the fleet file"):
            load_fleet(tmp_path / "absent.yaml")

    def test_a_file_that_is_not_utf8_is_a_clear_error(self, tmp_path: Path) -> None:
        path = tmp_path / "fleet.yaml"
        path.write_bytes(GOOD.encode("utf-8") + b"# caf\xe9\n")

        with pytest.raises(ConfigError, match="cannot read the fleet file"):
            load_fleet(path)


class TestLoadFleetAgain:
    """The same text is parsed once; what the file says now always wins."""

    def test_an_edit_is_seen_by_the_next_load(self, tmp_path: Path) -> None:
        path = write(tmp_path, GOOD)
        before = load_fleet(path)

        write(tmp_path, GOOD.replace("window_seconds: 60}", "window_seconds: 90}"))
        after = load_fleet(path)

        assert (
            before.find("us-east-1", "i-00000000000000001").recovery.window_seconds
            == 60
        )
        assert (
            after.find("us-east-1", "i-00000000000000001").recovery.window_seconds == 90
        )

    def test_an_edit_that_breaks_the_file_fails_rather_than_serve_the_old(
        self, tmp_path: Path
    ) -> None:
        path = write(tmp_path, GOOD)
        load_fleet(path)

        write(tmp_path, GOOD.replace("name: web-1", "name: web-1\n        name: web-2"))

        with pytest.raises(ConfigError, match="duplicate key 'name'"):
            load_fleet(path)

    def test_a_removed_file_fails_rather_than_serve_the_old(
        self, tmp_path: Path
    ) -> None:
        path = write(tmp_path, GOOD)
        load_fleet(path)

        path.unlink()

        with pytest.raises(ConfigError, match="cannot read the fleet file"):
            load_fleet(path)

    def test_the_same_text_at_another_path_names_that_path(
        self, tmp_path: Path
    ) -> None:
        first = write(tmp_path, GOOD)
        second = tmp_path / "copy.yaml"
        second.write_text(GOOD)

        assert load_fleet(first).source == str(first)
        assert load_fleet(second).source == str(second)


class TestSettingsFor:
    def test_overrides_apply_on_top_of_the_file(self, tmp_path: Path) -> None:
        fleet = load_fleet(write(tmp_path, GOOD))

        settings = fleet.settings_for(
            "eu-west-1", "i-0123456789abcdef0", {"recovery": {"window_seconds": 5}}
        )

        assert settings.recovery.window_seconds == 5
        assert settings.checks.ssh.port == 2222

    def test_bad_override_is_a_config_error(self, tmp_path: Path) -> None:
        fleet = load_fleet(write(tmp_path, GOOD))

        with pytest.raises(ConfigError, match="recovery.window_seconds"):
            fleet.settings_for(
                "eu-west-1", "i-0123456789abcdef0", {"recovery": {"window_seconds": 0}}
            )

    def test_an_unlisted_instance_without_the_tag_is_refused(
        self, tmp_path: Path
    ) -> None:
        fleet = load_fleet(write(tmp_path, GOOD))

        with pytest.raises(UnknownInstanceError, match="not in .*firstline:managed"):
            fleet.settings_for("eu-west-1", "i-0fffffffffffffff0")

    def test_an_unlisted_tagged_instance_gets_its_region_defaults(
        self, tmp_path: Path
    ) -> None:
        fleet = load_fleet(write(tmp_path, GOOD))

        settings = fleet.settings_for(
            "eu-west-1", "i-0fffffffffffffff0", opted_in_by_tag=True
        )

        assert settings.recovery.window_seconds == 300
        assert settings.checks.url.port == 8080


class TestCheckTarget:
    @pytest.mark.parametrize(
        ("region", "instance_id"),
        [
            ("eu-west-1", ""),
            ("eu-west-1", "i-*"),
            ("eu-west-1", "i-0123456789ABCDEF0"),
            ("eu-west-1", "../i-01234567"),
            ("", "i-01234567"),
            ("mars-north-1", "i-01234567"),
        ],
    )
    def test_refuses_anything_but_one_instance_in_a_known_region(
        self, region: str, instance_id: str
    ) -> None:
        with pytest.raises(ConfigError):
            check_target(region, instance_id)
