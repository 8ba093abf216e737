"""Adapters for LangChain, LlamaIndex and Haystack.

Nothing is imported here: each framework's adapter lives in its own module, which imports
the framework (and raises :class:`~splade_qdrant.errors.MissingDependencyError`, naming the
extra to install, when it is missing)::

    splade_qdrant.integrations.langchain     pip install 'splade-qdrant[langchain]'
    splade_qdrant.integrations.llama_index   pip install 'splade-qdrant[llama-index]'
    splade_qdrant.integrations.haystack      pip install 'splade-qdrant[haystack]'

The adapters are thin: they translate the framework's types and call the library's own
encoders (:class:`~splade_qdrant.pair.EncoderPair`) and searcher
(:class:`~splade_qdrant.search.Searcher`). Documents added through a framework get the
library's deterministic point ids (:func:`~splade_qdrant.ingest.point_id`) and content
hashes wherever the framework accepts ids, so adding the same documents again replaces
them instead of duplicating them.
"""

__all__: list[str] = []
