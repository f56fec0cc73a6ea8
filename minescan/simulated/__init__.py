"""The simulated Sentinel-2 world: the default, offline, deterministic imagery source.

See DESIGN.md section 4. Modules: :mod:`.noise` (hashed lattice noise) and :mod:`.seeds`
(one stream per noise field), :mod:`.spectra` (classes and L2A signatures), the land cover
(:mod:`.decisions` the class rule, :mod:`.plots` fields and clearings, :mod:`.landcover`,
:mod:`.coarse` for coarse grids), the mines (:mod:`.mines`, :mod:`.components`,
:mod:`.catalogue`, :mod:`.mine_layer`), :mod:`.clouds`, :mod:`.periods`,
:mod:`.reflectance`, :mod:`.truth` and :mod:`.world` (the source itself).
"""

from minescan.simulated.spectra import CLASSES, CODE
from minescan.simulated.world import SimulatedSentinel2

__all__ = ["CLASSES", "CODE", "SimulatedSentinel2"]
