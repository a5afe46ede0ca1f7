"""The one settings object, read from `PLAINSIGHT_*` environment variables and `.env`.

Every interface (CLI, Streamlit, API, tests) builds its parts from a `Settings`, so a
deployment is changed by configuration alone and never by editing code.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Plainsight configuration. Each field is `PLAINSIGHT_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="PLAINSIGHT_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("./data"), description="Where the embedded Chroma store lives.")
    originals_dir: Path | None = Field(
        None,
        description="Where the exact files documents were read from are kept (by SHA-256); unset = "
        "<data_dir>/originals. With a Chroma server, every process must see the same folder.",
    )
    chroma_host: str | None = Field(None, description="Chroma server host; set to use HttpClient.")
    chroma_port: int = Field(8000, ge=1, le=65535, description="Chroma server port.")
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
    embedding_batch_size: int = Field(16, ge=1, le=4096, description="Passages per embedding batch.")
    chunk_size: int = Field(900, ge=100, le=20_000, description="Target characters per chunk.")
    chunk_overlap: int = Field(150, ge=0, description="Characters shared by neighbouring chunks.")
    max_file_mb: float = Field(50.0, gt=0, description="Files larger than this are refused.")
    # --- bounded reading (ingest/limits.py): a file over any bound is refused with its reason
    read_timeout_s: float = Field(
        600.0, gt=0, description="Longest one file may take to read (OCR included); then it is refused."
    )
    read_memory_mb: int = Field(
        3072, ge=256, description="Most memory the reading process may use for one file."
    )
    read_isolated: bool = Field(
        True, description="Read each file in a separate process, so its time and memory limits hold."
    )
    max_decompressed_mb: float = Field(
        200.0, gt=0, description="Largest total size of a Word (ZIP) file's parts once decompressed."
    )
    max_xml_mb: float = Field(
        40.0, gt=0, description="Largest decompressed XML part of a Word file (document.xml and friends)."
    )
    max_zip_entries: int = Field(10_000, ge=1, description="Most parts a Word (ZIP) file may hold.")
    max_elements: int = Field(
        2_000_000, ge=1, description="Most XML/HTML elements one file may hold (paragraphs, cells, tags)."
    )
    max_html_mb: float = Field(20.0, gt=0, description="Largest HTML page, in MB of text.")
    max_html_depth: int = Field(
        255, ge=1, le=255, description="Deepest HTML element nesting accepted (libxml2 stops at 256)."
    )
    max_pdf_pages: int = Field(5000, ge=1, description="Most pages a PDF may have.")
    max_pdf_objects: int = Field(
        2_000_000, ge=1, description="Most objects a PDF's cross-reference table may list."
    )
    max_text_mb: float = Field(
        40.0, gt=0, description="Most text one file may produce (a bound on its chunks and embedding time)."
    )
    # --- OCR (ingest/ocr.py): scanned PDF pages and PNG/JPEG/TIFF images, with Tesseract
    ocr: bool = Field(True, description="Recognise the text of scanned pages and images with Tesseract.")
    ocr_languages: str = Field(
        "eng",
        pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$",
        description="Tesseract languages, e.g. 'eng' or 'eng+spa'.",
    )
    ocr_max_pages: int = Field(
        200, ge=1, description="Most pages of one file that are OCR'd; more is refused."
    )
    ocr_timeout_s: float = Field(
        480.0, gt=0, description="Longest OCR of one file may take; then it is refused."
    )
    ocr_dpi: int = Field(300, ge=72, le=1200, description="Resolution scanned pages are rendered at for OCR.")
    k: int = Field(
        16, ge=1, le=200, description="Passages retrieved per question (the answer quotes from them)."
    )
    llm: str = Field("", description="Chat model, e.g. 'ollama:llama3.1'; empty = grounded mode.")
    llm_base_url: str | None = Field(None, description="Base URL of the LLM server.")
    llm_api_key: str | None = Field(None, description="API key for the LLM server, if it needs one.")
    refusal_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Probability (from the fitted answerability model) below which the bot says the "
        "documents don't answer; unset = the calibrated cut-off in bot/answerability.json.",
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
    rate_limit_per_minute: int = Field(
        30, ge=0, description="Public requests per client IP per minute; 0 = off."
    )
    max_request_kb: int = Field(64, ge=1, description="Largest body accepted by /v1/ask and friends.")
    app_url: str = Field(
        "http://localhost:8501",
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        max_length=500,
        description="Public address of the Streamlit app: the API's citations link to its document view.",
    )
    # --- writers and web fetches
    write_lock_timeout: float = Field(
        30.0,
        ge=0,
        description="Seconds a writer waits for another process writing to the embedded store before "
        "giving up with a message naming it.",
    )
    writer_lease_seconds: float = Field(
        120.0,
        gt=0,
        description="Chroma server: a writer's chunks not yet registered are left alone by other "
        "writers' repair until its heartbeat is this old.",
    )
    fetch_allow_hosts: str = Field(
        "",
        description="Comma-separated host names or IP addresses that URL ingest may fetch even though "
        "they are not public internet addresses (an intranet server; tests' loopback servers).",
    )
    fetch_timeout: float = Field(
        60.0, gt=0, description="Seconds for a whole URL download, redirects included."
    )

    # --- Streamlit staff page
    staff_password: SecretStr | None = Field(
        None, description="Password for the Streamlit staff page; unset = staff page disabled."
    )

    @model_validator(mode="after")
    def _overlap_below_chunk(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"PLAINSIGHT_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than "
                f"PLAINSIGHT_CHUNK_SIZE ({self.chunk_size})"
            )
        return self

    @model_validator(mode="after")
    def _originals_dir_is_a_folder(self) -> Settings:
        if self.originals_dir is not None and self.originals_dir.exists() and not self.originals_dir.is_dir():
            raise ValueError(f"PLAINSIGHT_ORIGINALS_DIR ({self.originals_dir}) is a file, not a folder")
        return self

    @property
    def originals_root(self) -> Path:
        """Where the original files are kept: `originals_dir`, else beside the embedded store."""
        return self.originals_dir or self.data_dir / "originals"

    @property
    def uses_server(self) -> bool:
        """True when a Chroma server is configured instead of the embedded store."""
        return bool(self.chroma_host)

    @property
    def fetch_allow_host_list(self) -> list[str]:
        """`fetch_allow_hosts` split on commas, lower-cased, without brackets or a trailing dot."""
        hosts = (h.strip().lower().strip("[]").rstrip(".") for h in self.fetch_allow_hosts.split(","))
        return [h for h in hosts if h]

    @property
    def cors_origin_list(self) -> list[str]:
        """`cors_origins` split on commas, blanks and trailing slashes removed."""
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]


class SettingsError(ValueError):
    """A bad configuration value, worded with the variable the person set."""


def load_settings(**values: object) -> Settings:
    """`Settings(**values)`, with a bad value reported as one line per variable, not a traceback
    of pydantic internals, so a deployment with `PLAINSIGHT_K=0` stops at start-up saying so."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            field = "_".join(str(part) for part in error["loc"])
            if not field:  # a rule across fields (the validator names them itself)
                problems.append(error["msg"].removeprefix("Value error, "))
                continue
            problems.append(f"PLAINSIGHT_{field.upper()} (got {error['input']!r}): {error['msg']}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()
