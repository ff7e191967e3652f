"""Data: the MSSD reader, the session simulator, preparation, and the in-memory dataset."""
