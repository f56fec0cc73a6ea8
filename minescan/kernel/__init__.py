"""The kernel: the ideas every stage shares, importing no stage.

``chip`` (a georeferenced pixel block), ``mercator`` (web-mercator maths and the
pixel grids on it), ``bands`` (Sentinel-2 band names),
``source`` (the imagery-source protocols), ``errors``, ``io`` (atomic, contained
writes), ``lock`` (one run per output folder), ``raster`` and the process
plumbing (``offline``, ``orphans``). The
stages import from here; nothing here imports a stage.
"""
