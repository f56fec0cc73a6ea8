"""minescan.grid."""
