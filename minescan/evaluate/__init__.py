"""``minescan evaluate``: score any model on a user's own labelled real imagery."""
