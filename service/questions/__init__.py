"""The questions planners and residents ask: zones at a location, nearby zones and Natura 2000 distance
(``zones``), urban heat (``heat``, ``zonetable``), the quickscan of a plan and its one rule set shared by the
single check and the batch (``check``, ``batch``), plan files, and the report as HTML and PDF. Reads the
store through ``service.store.current`` only; imports ``core``, ``store``, ``spatial`` and ``formats``,
never ``loading`` or ``ogc``."""
