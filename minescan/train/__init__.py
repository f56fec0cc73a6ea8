"""minescan.train."""
