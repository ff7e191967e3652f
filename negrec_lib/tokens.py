"""Reserved token ids shared by preparation, the model, the losses and the metrics.

Track ids start at `N_RESERVED`, in decreasing order of training frequency. Reserved ids are
never recommended and never sampled as candidates.
"""

PAD_ID = 0  # padding after the last track of a session
MASK_ID = 1  # the cloze [MASK] token of the bidirectional model
OOV_ID = 2  # a track outside the vocabulary (rarer than min_count, or unseen in training)
N_RESERVED = 3
