"""The one settings object, read from `PLAINSIGHT_*` environment variables and `.env`.

Every interface (CLI, Streamlit, API, tests) builds its parts from a `Settings`, so a
deployment is changed by configuration alone and never by editing code.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Plainsight configuration. Each field is `PLAINSIGHT_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="PLAINSIGHT_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("./data"), description="Where the embedded Chroma store lives.")
    chroma_host: str | None = Field(None, description="Chroma server host; set to use HttpClient.")
    chroma_port: int = Field(8000, description="Chroma server port.")
    collection: str = Field("plainsight", description="Chroma collection holding the chunks.")
    embedding_model: str = Field(
        "", description="Path or name of a sentence-transformers model; empty = bundled MiniLM."
    )
    embedding_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx",
        description="How the local model runs: ONNX Runtime (exported from the bundled weights on "
        "first use; same vectors as PyTorch, several times faster to start), its int8 variant, or "
        "PyTorch. A store keeps the backend that built it.",
    )
    model_cache: Path = Field(
        Path.home() / ".cache" / "plainsight",
        description="Where the ONNX export of the model is kept (shared by every store).",
    )
    embedding_batch_size: int = Field(16, description="Passages per embedding batch.")
    chunk_size: int = Field(900, description="Target characters per chunk.")
    chunk_overlap: int = Field(150, description="Characters shared by neighbouring chunks.")
    max_file_mb: float = Field(50.0, description="Files larger than this are refused.")
    k: int = Field(8, description="Passages retrieved per question.")
    llm: str = Field("", description="Chat model, e.g. 'ollama:llama3.1'; empty = grounded mode.")
    llm_base_url: str | None = Field(None, description="Base URL of the LLM server.")
    llm_api_key: str | None = Field(None, description="API key for the LLM server, if it needs one.")
    refusal_threshold: float = Field(
        0.415, description="Minimum support score below which the bot says it cannot answer."
    )
    # --- remote embeddings (an OpenAI-compatible /v1/embeddings server instead of the local model)
    embeddings_url: str | None = Field(
        None, description="Base URL of an OpenAI-compatible embeddings server, e.g. http://host:8080/v1."
    )
    embeddings_model: str = Field(
        "sentence-transformers/all-MiniLM-L6-v2", description="Model name sent to the embeddings server."
    )
    embeddings_api_key: SecretStr | None = Field(None, description="Bearer key for the embeddings server.")
    # --- HTTP API
    api_key: SecretStr | None = Field(
        None, description="Bearer key for the staff endpoints; unset = staff endpoints disabled."
    )
    cors_origins: str = Field("", description="Comma-separated origins allowed to call the API (widget).")
    rate_limit_per_minute: int = Field(30, description="Public requests per client IP per minute; 0 = off.")
    max_request_kb: int = Field(64, description="Largest body accepted by /v1/ask and friends.")

    # --- Streamlit staff page
    staff_password: SecretStr | None = Field(
        None, description="Password for the Streamlit staff page; unset = staff page disabled."
    )

    @property
    def uses_server(self) -> bool:
        """True when a Chroma server is configured instead of the embedded store."""
        return bool(self.chroma_host)

    @property
    def cors_origin_list(self) -> list[str]:
        """`cors_origins` split on commas, blanks and trailing slashes removed."""
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
