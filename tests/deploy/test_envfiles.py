"""Env files are read the way Docker Compose reads them (python-dotenv), placeholders refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from context_service.fleet.envfiles import EnvFileError, is_placeholder, is_set, read_env_file


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "x.env"
    path.write_text(text, encoding="utf-8")
    return path


def test_compose_syntax_comments_quotes_and_export(tmp_path: Path) -> None:
    values = read_env_file(
        write(
            tmp_path,
            "# a comment\n"
            "\n"
            "A=plain # trailing comment\n"
            'B="quoted # not a comment"\n'
            "C='single'\n"
            "export D=exported\n"
            "E=\n"
            "F\n"
            "G=with spaces inside\n",
        )
    )
    assert values == {
        "A": "plain",
        "B": "quoted # not a comment",
        "C": "single",
        "D": "exported",
        "E": "",
        "G": "with spaces inside",
    }


def test_a_broken_line_is_named_by_number_never_by_content(tmp_path: Path) -> None:
    path = write(tmp_path, "GOOD=1\nthis is sk-secret-value and no equals sign\n")
    with pytest.raises(EnvFileError) as info:
        read_env_file(path)
    assert str(info.value).endswith(":2: expected KEY=value")
    assert "sk-secret" not in str(info.value)
    assert read_env_file(write(tmp_path, "GOOD=1\n")) == {"GOOD": "1"}  # next good file


@pytest.mark.parametrize(
    "value",
    ["", "  ", "change-me", "CHANGEME", "change_me", "fill me", "fill-in", "<your key>",
     "your-key-here", "xxxx", "placeholder", "TODO", "replace-me"],
)  # fmt: skip
def test_placeholders_count_as_unset(value: str) -> None:
    assert is_placeholder(value)
    assert not is_set({"K": value}, "K")


@pytest.mark.parametrize(
    "value", ["Xf3k9sQ2m1_Lp0vT8wYbZc4RdN6eHjUa", "6123abcd-ef00-4a1b-9c2d-3e4f5a6b7c8d", "false"]
)
def test_real_values_are_set(value: str) -> None:
    assert not is_placeholder(value)
    assert is_set({"K": value}, "K")
    assert not is_set({}, "K")
