"""``minescan serve``: the user and admin web dashboards over a results store.

The user side (no login) reads the published view of the store
(:mod:`minescan.store`): a map of mines by period, a page per mine, statistics
per jurisdiction and downloads. The admin side (login, roles ``admin`` and
``analyst``) publishes and unpublishes runs, starts scan and monitor jobs,
triages alerts, imports boundaries and manages users; every change goes
through the store and its hash-chained audit log.

Everything the pages load comes from the package (Leaflet from
``minescan/data/vendor/leaflet``, the rest from ``minescan/serve/static``), so
the dashboards work with no network; only basemap tiles need it.
"""
