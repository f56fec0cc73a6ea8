"""minescan.detect."""
