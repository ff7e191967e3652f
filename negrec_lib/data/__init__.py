"""Data: the MSSD reader, preparation, and the in-memory dataset (the simulator is `negrec_lib.sim`)."""
