"""The model: the lossless document, the net and its per-phase graphs, the graph operations,
and the text they are written back as."""
