"""Settings refuse values that would break the product quietly, and say which variable is wrong.

Each case below once ran without complaint: `k=0` retrieved nothing and refused every question, a
threshold of 7 refused everything, an overlap as long as the chunk never advanced the splitter.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bot.core.settings import Settings, SettingsError, get_settings, load_settings


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PLAINSIGHT_K", "0"),
        ("PLAINSIGHT_REFUSAL_THRESHOLD", "7"),
        ("PLAINSIGHT_CHUNK_SIZE", "10"),
        ("PLAINSIGHT_MAX_FILE_MB", "0"),
        ("PLAINSIGHT_CHROMA_PORT", "70000"),
        ("PLAINSIGHT_OCR_LANGUAGES", "eng;rm -rf"),
        ("PLAINSIGHT_RATE_LIMIT_PER_MINUTE", "-1"),
        ("PLAINSIGHT_APP_URL", "javascript:alert(1)"),  # citations' links to the view are http(s)
        ("PLAINSIGHT_APP_URL", "https://app.example/source?x=1"),  # the app's base, not a page of it
    ],
)
def test_an_out_of_bounds_value_is_named(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable) as caught:
        load_settings()
    assert repr(value) in str(caught.value)  # the value as given, so the person finds it


def test_overlap_must_be_smaller_than_the_chunk() -> None:
    with pytest.raises(SettingsError, match="PLAINSIGHT_CHUNK_OVERLAP .* smaller than PLAINSIGHT_CHUNK_SIZE"):
        load_settings(chunk_size=300, chunk_overlap=300)
    assert load_settings(chunk_size=300, chunk_overlap=299).chunk_overlap == 299


def test_the_originals_folder_must_be_a_folder(tmp_path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(SettingsError, match="PLAINSIGHT_ORIGINALS_DIR .* is a file"):
        load_settings(originals_dir=tmp_path / "file")
    assert load_settings(data_dir=tmp_path).originals_root == tmp_path / "originals"
    assert load_settings(originals_dir=tmp_path / "kept").originals_root == tmp_path / "kept"


def test_the_defaults_are_within_bounds() -> None:
    assert Settings().k >= 1


def test_the_cli_stops_at_start_up_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.interfaces.cli import app

    monkeypatch.setenv("PLAINSIGHT_K", "0")
    get_settings.cache_clear()  # read afresh, as a new process would
    try:
        result = CliRunner().invoke(app, ["docs", "list"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "PLAINSIGHT_K" in result.output and "Traceback" not in result.output
