"""Data: the MSSD reader, preparation, the in-memory dataset (the simulator: `negrec_lib.sim`)."""
