"""Request and response shapes. The records the API returns (`Citation`, `Side`, `DocRecord`,
`FileResult`, `PassageView`) are modelled from their dataclasses, so a field added there is served
and documented."""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import BaseModel, BeforeValidator, Field, create_model

from bot.answer import Citation, Side
from bot.core.store import DocRecord
from bot.passages import ExplainerSource, Passage, PassageView
from ingest.pipeline import FileResult

LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads pairs real ones, so any left is alone


def mend(text: Any) -> Any:
    """`text` with lone surrogates (valid JSON, invalid Unicode) replaced by U+FFFD."""
    if not isinstance(text, str):
        return text
    return LONE_SURROGATE.sub("\ufffd", text)


def model_of(cls: type, name: str, /, **narrow: Any) -> type[BaseModel]:
    """A response model with the dataclass `cls`'s fields in its order, every one required (a reply
    carries the whole record, `asdict`); `narrow` gives a field a tighter type for the schema."""
    hints = get_type_hints(cls)
    return create_model(name, **{f.name: (narrow.get(f.name, hints[f.name]), ...) for f in fields(cls)})


Text = Annotated[str, BeforeValidator(mend)]


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: Text = Field(max_length=4000)


class FiltersIn(BaseModel):
    jurisdictions: list[Text] = Field(default_factory=list, max_length=50)
    doc_types: list[Text] = Field(default_factory=list, max_length=20)


class AskIn(BaseModel):
    question: Text = Field(min_length=1, max_length=1000)
    history: list[Turn] = Field(
        default_factory=list, max_length=20, description="Earlier turns, oldest first."
    )
    filters: FiltersIn = Field(default_factory=FiltersIn)
    town: Text | None = Field(
        None, max_length=100, description="Prefer this town's documents, its state's and national ones."
    )
    explain: bool = Field(False, description="Include the retrieval trace.")


CitationOut = model_of(Citation, "CitationOut")
CitedOut = create_model(
    "CitedOut",
    __base__=CitationOut,
    view_url=(str, Field(description="The passage's document view in the app (PLAINSIGHT_APP_URL).")),
)
SideOut = model_of(Side, "SideOut")
DocumentOut = model_of(DocRecord, "DocumentOut")
FileResultOut = model_of(
    FileResult, "FileResultOut", status=Literal["added", "updated", "unchanged", "failed"]
)
PassageOut = model_of(Passage, "PassageOut")
ExplainerSourceOut = model_of(ExplainerSource, "ExplainerSourceOut")
PassageViewOut = create_model(
    "PassageViewOut",
    __base__=model_of(
        PassageView,
        "PassageViewFields",
        document=DocumentOut,
        passage=PassageOut,
        before=PassageOut | None,
        after=PassageOut | None,
        sources=list[ExplainerSourceOut],
    ),
    page_image_url=(
        str | None,
        Field(description="The passage's PDF page as a PNG, the quote marked (when `page_image`)."),
    ),
)


class AnswerOut(BaseModel):  # `Answer.to_dict()`: with `status_text`; `trace` only when asked for
    question: str
    text: str
    refused: bool
    status: str = Field(
        description="answered, partial, refused_no_evidence, refused_unknown_place or refused_off_topic"
    )
    status_text: str = Field(description="The status in words, for a reader")
    citations: list[CitedOut]
    sides: list[SideOut] = Field(
        default_factory=list,
        description="When sources of different kinds disagree: each side and its citations",
    )
    unanswered: str = Field("", description="For a partial answer: the part the documents do not answer")
    mode: str
    trace: list[dict[str, Any]] | None = None


class SearchResult(BaseModel):
    rank: int
    score: float
    similarity: float
    chunk_id: str
    doc_id: str
    title: str
    source_url: str
    page: int | None
    section: str
    text: str


class SearchOut(BaseModel):
    query: str
    results: list[SearchResult]


class DocumentsOut(BaseModel):
    documents: list[DocumentOut]


class EmbeddingsIn(BaseModel):
    input: str | list[str] = Field(description="A text or a list of texts (token arrays are not accepted).")
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None
