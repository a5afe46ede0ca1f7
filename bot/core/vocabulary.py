"""The words a document's metadata may use for what it is, shared by ingest (which checks them)
and answering (which weighs and shows them)."""

DOC_TYPES = frozenset({
    "policy", "ordinance", "statute", "report", "news", "explainer", "faq", "records-response",
    "dataset", "other",
})  # fmt: skip
SOURCE_KINDS = (  # who is speaking, in the order staff are offered them
    "official", "audit", "vendor", "news", "advocacy", "analysis", "dataset", "explainer", "other",
)  # fmt: skip
