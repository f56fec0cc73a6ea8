"""The simulated Sentinel-2 world: the default, offline, deterministic imagery source.

See DESIGN.md section 4. Modules: :mod:`.noise` (hashed lattice noise), :mod:`.spectra`
(classes and L2A signatures), :mod:`.landcover`, :mod:`.mines`, :mod:`.clouds`,
:mod:`.periods` and :mod:`.world` (the source itself).
"""

from minescan.simulated.spectra import CLASSES, CODE
from minescan.simulated.world import SimulatedSentinel2

__all__ = ["CLASSES", "CODE", "SimulatedSentinel2"]
