"""minescan.monitor."""
