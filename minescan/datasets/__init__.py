"""minescan.datasets."""
