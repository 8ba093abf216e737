"""Bad input through each adapter gets the library's own errors, with the messages the CLI
prints for the same mistake (``splade-qdrant CMD: error: MESSAGE``).

Slow tier: splade-tiny is loaded several times and the CLI ingests and searches (a few
seconds idle); the fast tests of each adapter check the same errors with the tiny random BERT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain_qdrant")
pytest.importorskip("llama_index.vector_stores.qdrant")
pytest.importorskip("haystack_integrations.document_stores.qdrant")

from haystack import Document as HDocument
from langchain_core.documents import Document as LCDocument
from langchain_qdrant import QdrantVectorStore, RetrievalMode
from qdrant_client import QdrantClient, models

from splade_qdrant import SpladeQdrant
from splade_qdrant.cli import main
from splade_qdrant.errors import ConfigError, InputError, ModelNotFoundError
from splade_qdrant.integrations import haystack as hs
from splade_qdrant.integrations import langchain as lc
from splade_qdrant.integrations import llama_index as li

from .conftest import DOCS, cli_error, write_jsonl

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> dict[str, Any]:
    """What the CLI says for a document without text, a missing model and ``--limit 0``."""
    tmp = tmp_path_factory.mktemp("cli")
    bad = write_jsonl(tmp / "bad.jsonl", [{"_id": "d1", "text": "wing"}, {"_id": "d7", "text": None}])
    good = write_jsonl(tmp / "good.jsonl", [{"_id": i, "text": t} for i, t in DOCS])
    store = str(tmp / "store")
    assert main(["ingest", str(good), "-c", "ok", "--store", store, "--model", str(tiny_model_dir)]) == 0
    return {
        "bad": bad,
        "store": store,
        "missing_model": str(tmp / "no-such-model"),
        "text": cli_error(["ingest", str(bad), "-c", "c", "--store", str(tmp / "s1"), "--model", str(tiny_model_dir)]),
        "model": cli_error(["ingest", str(good), "-c", "c", "--store", str(tmp / "s2"), "--model", str(tmp / "no-such-model")]),
        "limit": cli_error(["search", "wing", "-c", "ok", "--store", store, "--limit", "0"]),
    }


def test_document_without_text(cli: dict[str, Any], tiny_model_dir: Path) -> None:
    client = QdrantClient(":memory:")
    client.create_collection("d", vectors_config={}, sparse_vectors_config={"langchain-sparse": models.SparseVectorParams()})
    vs = QdrantVectorStore(client, "d", retrieval_mode=RetrievalMode.SPARSE, sparse_embedding=lc.SpladeSparseEmbeddings(model=str(tiny_model_dir)))
    doc_fn, _ = li.sparse_encoder_fns(model=str(tiny_model_dir))
    reasons = []
    for call in (
        lambda: lc.add_documents(vs, [LCDocument(page_content="wing", id="d1"),
                                     LCDocument.model_construct(page_content=None, id="d7", metadata={})]),
        lambda: doc_fn(["wing", None]),  # type: ignore[list-item]
        lambda: hs.SpladeDocumentEmbedder(model=str(tiny_model_dir)).run([HDocument(content="wing"), HDocument(content=None, meta={"doc_id": "d7"})]),
    ):
        with pytest.raises(InputError) as err:
            call()
        reasons.append(err.value.reason)
    assert cli["text"] == f"{cli['bad']}:2 (document 'd7'): {reasons[0]}"
    assert reasons == [reasons[0]] * 3


def test_missing_model(cli: dict[str, Any]) -> None:
    for call in (
        lambda: lc.SpladeSparseEmbeddings(model=cli["missing_model"]).embed_query("wing"),
        lambda: li.sparse_encoder_fns(model=cli["missing_model"])[1](["wing"]),
        lambda: hs.SpladeTextEmbedder(model=cli["missing_model"]).run("wing"),
    ):
        with pytest.raises(ModelNotFoundError) as err:
            call()
        assert str(err.value) == cli["model"]


def test_bad_limit(cli: dict[str, Any]) -> None:
    with SpladeQdrant("ok", store=cli["store"]) as sq:
        for call in (
            lambda: lc.SpladeQdrantRetriever(searcher=sq.searcher, k=0).invoke("wing"),
            lambda: li.SpladeQdrantRetriever(sq.searcher, similarity_top_k=0).retrieve("wing"),
            lambda: hs.SpladeQdrantRetriever(sq.searcher).run("wing", top_k=0),
        ):
            with pytest.raises(ConfigError) as err:
                call()
            assert str(err.value) == cli["limit"]
